"""`make demo` prints the lecture numbers, and its gradient-check table covers every gate."""

import re

import gatelab as gl
from gatelab import demo
from gatelab.catalog import CATALOG, gate_classes


def test_every_builtin_gate_has_a_catalog_entry():
    missing = [name for name in gate_classes() if name not in CATALOG]
    assert not missing, f"add these gates to gatelab/catalog.py: {missing}"


def test_gradcheck_table_passes_for_every_gate():
    rows = demo.gradcheck_table()
    assert {name for name, _ in rows} == set(gate_classes())
    bad = [(name, err) for name, err in rows if err is None or err >= demo.GRADCHECK_THRESHOLD]
    assert not bad


def _rows(text):
    """Table rows as tuples of cells (cells are separated by two or more spaces)."""
    return {tuple(re.split(r"\s{2,}", line.strip())) for line in text.splitlines()}


def test_demo_prints_the_lecture_numbers(capsys):
    demo.main()
    out = capsys.readouterr().out
    rows = _rows(out)
    # (x + y) z: grads -4, -4, 3
    assert {("x", "input", "-2.00", "-4.00"), ("y", "input", "5.00", "-4.00"), ("z", "input", "-4.00", "3.00"),
            ("f", "multiply", "q, z", "-12.00", "1.00")} <= rows
    # the neuron: 0.73 and the five input gradients, both ways
    assert {("w0", "input", "2.00", "-0.20"), ("x0", "input", "-1.00", "0.39"), ("w1", "input", "-3.00", "-0.39"),
            ("x1", "input", "-2.00", "-0.59"), ("w2", "input", "-3.00", "0.20"),
            ("f", "reciprocal", "v7", "0.73", "1.00"), ("f", "sigmoid", "s", "0.73", "1.00")} <= rows
    # logistic loss at z = 6 and the trace example
    assert ("theta0", "parameter", "1.00000", "-0.00247") in rows
    assert ("y", "subtract", "v4, v3", "11.652", "1.000") in rows
    assert "dy/dx1 = 5.500" in out and "dy/dx2 = 1.716" in out
    assert not re.search(r"(CHECK|no catalog entry)$", out, re.M)


def test_circuit_helper_matches_slides():
    g = demo.circuit()
    assert (g["x"].grad, g["y"].grad, g["z"].grad) == (-4.0, -4.0, 3.0)
    assert isinstance(g, gl.Graph)


def test_demo_says_what_its_columns_mean_and_the_check_threshold(capsys):
    demo.main()
    out = capsys.readouterr().out
    legend = out[:out.index("1. f = (x + y) z")]
    for column in ("node", "op", "inputs", "value", "grad"):
        assert re.search(rf"^  {column} +\S", legend, re.M), f"the legend does not explain '{column}'"
    assert "grad = ∂f/∂node" in legend
    # each table says what its grad column is, as its output is named f, L or y
    lines = out.splitlines()
    assert lines.count("grad = ∂f/∂node") == 3 and "grad = ∂L/∂node" in lines and "grad = ∂y/∂node" in lines
    assert demo.GRADCHECK_THRESHOLD == 1e-7
    assert "ok below 1e-7, CHECK above it" in out and "gl.rel_error" in out


def test_the_instructor_section_comes_only_with_grading(capsys, monkeypatch):
    import gatelab.grading
    from gatelab.cli import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "dy/dx1 = 5.500" in out
    assert "INSTRUCTORS" not in out and "sample submissions graded" not in out
    assert "Instructors: `gatelab demo --grading`" in out.splitlines()[-1]

    graded = []
    monkeypatch.setattr(gatelab.grading, "demo_a1", lambda: graded.append(1) or [{"name": "solution", "ok": True}])
    assert main(["demo", "--grading"]) == 0
    out = capsys.readouterr().out
    assert graded == [1]
    heading = next(line for line in out.splitlines() if line.startswith("7. "))
    assert heading.startswith("7. FOR INSTRUCTORS: the autograder")
    assert out.rstrip().endswith("every sample scored what it should")
    assert "Instructors: `gatelab demo --grading`" not in out
