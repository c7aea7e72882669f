"""The autograder's parts: notebook formats, reading submissions, authoring (student notebook,
bundles, Gradescope zip), the wire to the worker, the own-code check, reports, the CLI, and the
grader's robustness to broken submissions and broken assignments. The sample submissions are
graded in test_grading_samples.py, attacks on the grader in test_grading_attacks.py.
"""

import ast
import json
import os
import pickle
import re
import shutil
import socket
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gatelab.cli import build_parser, main
from gatelab.grading import find_assignment, grade
from gatelab.grading.authoring import AuthoringError, assign, solution_cells, student_cells
from gatelab.grading import wire
from gatelab.grading.notebook import Cell, parse_percent, read_ipynb, write_ipynb, write_percent
from gatelab.grading.report import format_report
from gatelab.grading.runner import GradeResult, TestResult
from gatelab.grading.submission import SubmissionError, find_submission_file, load_submission

A1 = find_assignment("A1")


# ---- notebooks ------------------------------------------------------------------------------------

CELLS = [Cell("markdown", "# Title\n\nSome *text*."), Cell("code", "import numpy as np\nx = 1", ["setup"]),
         Cell("code", "def f(x):\n\n    return x + 1"), Cell("raw", "raw text")]


def test_percent_round_trip():
    back = parse_percent(write_percent(CELLS))
    assert [(c.kind, c.source, c.tags) for c in back] == [(c.kind, c.source, c.tags) for c in CELLS]


def test_percent_records_where_cells_start():
    text = "# %%\nimport os\n\n# %% [markdown]\n# hi\n\n# %%\n\ndef g():\n    pass\n"
    cells = parse_percent(text)
    assert [c.line for c in cells] == [2, 5, 9]


def test_ipynb_round_trip_and_format():
    text = write_ipynb(CELLS)
    nb = json.loads(text)
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] == 5
    assert len({c["id"] for c in nb["cells"]}) == len(CELLS)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    back = read_ipynb(text)
    assert [(c.kind, c.source, c.tags) for c in back] == [(c.kind, c.source, c.tags) for c in CELLS]
    assert write_ipynb(CELLS) == text     # reproducible


def test_ipynb_that_is_not_a_notebook():
    with pytest.raises(ValueError, match="JSON does not parse"):
        read_ipynb("{not json")
    with pytest.raises(ValueError, match="no list of cells"):
        read_ipynb('{"cells": 3}')


# ---- submissions -------------------------------------------------------------------------------------

def test_submission_runs_only_definitions(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text("# %%\nimport numpy as np\nprint('hello')\nH = 1e-5\nW = np.zeros(3)\n"
                    "try:\n    import scipy\nexcept ImportError:\n    scipy = None\n"
                    "# %%\ndef f(x):\n    return x\nf(3)\nfor i in range(10):\n    pass\nclass C:\n    pass\n"
                    "g = lambda x: np.sin(x)\n")
    sub = load_submission(path)
    assert [u.names for u in sub.units] == [["H", "np", "scipy"], ["C", "f", "g"]]
    assert [u.skipped for u in sub.units] == [2, 2]         # print, W = call; f(3), for
    assert sub.units[1].line_offset == 10 and sub.units[1].label == "the cell at line 11"
    assert any("4 top-level statement(s)" in n for n in sub.notes)


def test_syntax_error_costs_only_its_definition(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text("# %%\ndef good(x):\n    return x\n\ndef bad(x:\n    return x\n\ndef also_good():\n    pass\n")
    sub = load_submission(path)
    ok = sorted(n for u in sub.units if u.error is None for n in u.names)
    broken = [u for u in sub.units if u.error]
    assert ok == ["also_good", "good"]
    assert len(broken) == 1 and broken[0].names == ["bad"] and "SyntaxError at line 5" in broken[0].error
    assert any("it defines bad" in n for n in sub.notes)


def test_notebook_magics_and_cell_magics(tmp_path):
    cells = [Cell("code", "%matplotlib inline\nimport numpy as np\n!pip install foo"),
             Cell("code", "%%time\ndef slow():\n    pass"), Cell("code", "def f():\n    return 1")]
    path = tmp_path / "nb.ipynb"
    path.write_text(write_ipynb(cells))
    sub = load_submission(path)
    assert [u.names for u in sub.units] == [["np"], ["f"]]
    assert sub.units[1].label == "cell 3" and sub.units[1].filename == "nb.ipynb, cell 3"
    assert any("%%time" in n for n in sub.notes)


def test_find_submission_in_a_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mine.ipynb").write_text(write_ipynb(CELLS))
    (tmp_path / "a" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "a" / ".ipynb_checkpoints" / "mine-checkpoint.ipynb").write_text("{}")
    assert find_submission_file(tmp_path / "a").name == "mine.ipynb"
    (tmp_path / "a" / "A1.ipynb").write_text(write_ipynb(CELLS))
    assert find_submission_file(tmp_path / "a", prefer="A1").name == "A1.ipynb"
    with pytest.raises(SubmissionError, match="several .ipynb"):
        find_submission_file(tmp_path / "a", prefer="A2")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubmissionError, match="no notebook"):
        find_submission_file(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(SubmissionError, match=r"\.ipynb\) or a Python file"):
        find_submission_file(tmp_path / "x.txt")


# ---- authoring --------------------------------------------------------------------------------------

SOURCE = """# %% [markdown]
# ## Part 1
# %%
class G:
    def backward(self, dout):
        # BEGIN SOLUTION
        return 2 * dout
        # END SOLUTION

def helper(x):
    y = x
    # BEGIN SOLUTION
    y = y + 1
    # END SOLUTION
    return y
"""


def test_student_version_replaces_each_answer_with_a_stub():
    cells = student_cells(parse_percent(SOURCE))
    code = cells[1].source
    assert "2 * dout" not in code and "y + 1" not in code and "SOLUTION" not in code
    assert 'raise NotImplementedError("G.backward is not written yet")' in code
    assert 'raise NotImplementedError("helper is not written yet")' in code
    assert "# TODO: your code here (see 'Part 1')." in code
    ast.parse(code)
    solution = solution_cells(parse_percent(SOURCE))[1].source
    assert "SOLUTION" not in solution and "2 * dout" in solution


@pytest.mark.parametrize("bad, message", [
    ("def f():\n    # BEGIN SOLUTION\n    pass\n", "never closed"),
    ("def f():\n    # END SOLUTION\n    pass\n", "without BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", "inside another"),
])
def test_malformed_markers(bad, message):
    with pytest.raises(AuthoringError, match=message):
        student_cells(parse_percent(bad))


def _fake_wheelhouse(folder: Path, tags=("cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64",
                                         "cp311-cp311-manylinux_2_34_x86_64")) -> Path:
    """Files named like make wheel's output (the zip only copies them; tests/test_gradescope.py
    installs real ones)."""
    from gatelab import __version__

    folder.mkdir(parents=True, exist_ok=True)
    for tag in tags:
        (folder / f"gatelab-{__version__}-{tag}.whl").write_bytes(b"wheel " + tag.encode())
    (folder / f"gatelab-{__version__}.tar.gz").write_bytes(b"sdist")
    return folder


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    return _fake_wheelhouse(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="module")
def dists(tmp_path_factory, wheelhouse):
    """gatelab assign's output for each assignment."""
    out = {}
    for name in ("A1", "A2", "A3"):
        out[name] = tmp_path_factory.mktemp("dist") / name
        assign(find_assignment(name), out[name], wheels=wheelhouse)
    return out


@pytest.fixture(scope="module")
def dist(dists):
    return dists["A1"]


def _solution_lines(a):
    """Every line of code inside a solution block of an assignment's source."""
    lines, inside = [], False
    for line in a.source.read_text().splitlines():
        if line.strip() == "# BEGIN SOLUTION":
            inside = True
        elif line.strip() == "# END SOLUTION":
            inside = False
        elif inside and line.strip() and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("name", ["A1", "A2", "A3"])
def test_student_bundle_has_no_hidden_tests_and_no_answers(dists, name):
    a, student = find_assignment(name), dists[name] / "student"
    files = sorted(str(p.relative_to(student)) for p in student.rglob("*") if p.is_file())
    assert files == [f"{name}.ipynb", "assignment.toml", "tests/driver.py", "tests/oracle.py", "tests/test_public.py"]
    nb = json.loads((student / f"{name}.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "SOLUTION" not in code
    solution_lines = [line for line in _solution_lines(a) if len(line) > 12]
    assert len(solution_lines) >= 10
    assert not [line for line in solution_lines if line in code]
    tests = "".join((student / "tests" / f).read_text() for f in os.listdir(student / "tests"))
    assert not [line for line in solution_lines if "=" in line and line in tests]
    assert code.count("raise NotImplementedError(") == a.source.read_text().count("# BEGIN SOLUTION")


def _float_literals(path):
    return [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, float)]


@pytest.mark.parametrize("name", ["A1", "A2", "A3"])
def test_bundles_hold_no_expected_values(dists, name):
    """The oracle is gatelab itself: no data files, and every number in the tests is an input
    setting (at most 3 significant digits), never a stored result."""
    for bundle in (dists[name] / "student", dists[name] / "autograder"):
        suffixes = {p.suffix for p in bundle.rglob("*") if p.is_file()}
        assert suffixes <= {".py", ".ipynb", ".toml"}, suffixes
        for test_file in (bundle / "tests").glob("*.py"):
            for value in _float_literals(test_file):
                digits = f"{abs(value):.15e}".split("e")[0].replace(".", "").rstrip("0")
                assert len(digits) <= 3, (test_file.name, value)


def test_autograder_bundle_and_zip(dist):
    bundle = dist / "autograder"
    assert sorted(p.name for p in (bundle / "tests").iterdir()) == [
        "driver.py", "oracle.py", "test_hidden.py", "test_public.py"]
    code = "".join(p.read_text() for p in bundle.rglob("*.py"))
    assert not [line for line in _solution_lines(A1) if len(line) > 12 and "=" in line and line in code]
    with zipfile.ZipFile(dist / "autograder.zip") as z:
        names = z.namelist()
        assert {"setup.sh", "run_autograder", "assignment/assignment.toml", "assignment/tests/test_hidden.py"} <= set(names)
        for script in ("setup.sh", "run_autograder"):
            assert (z.getinfo(script).external_attr >> 16) & 0o111
        assert "gatelab grade" in z.read("run_autograder").decode()
        assert '"${PIP[@]}" install' in z.read("setup.sh").decode()
    solution = json.loads((dist / "solution" / "A1.ipynb").read_text())
    assert "SOLUTION" not in json.dumps(solution)


def _setup_sh(dist):
    with zipfile.ZipFile(dist / "autograder.zip") as z:
        return z.read("setup.sh").decode()


def test_zip_installs_what_the_assignment_needs(dists):
    requirements = {name: re.search(r"^REQUIREMENTS=\((.*)\)$", _setup_sh(dists[name]), re.M).group(1)
                    for name in dists}
    assert "'numpy>=1.24'" in requirements["A1"] and "'pytest>=8'" in requirements["A1"]
    assert "'scikit-learn>=1.3'" in requirements["A3"]   # the grading extra's, A3's own merged into it


def test_zip_carries_gatelab_and_never_installs_it_from_an_index(dists):
    """gatelab is not on PyPI: the zip carries the wheel for Gradescope's Python and the sdist,
    and every pip command that installs gatelab has --no-index."""
    from gatelab import __version__
    from gatelab.grading.authoring import GRADESCOPE_PYTHON, packages_in_zip

    cp = "cp" + GRADESCOPE_PYTHON.replace(".", "")
    carried = packages_in_zip(dists["A1"] / "autograder.zip")
    assert len(carried) == 2 and carried[0].startswith(f"gatelab-{__version__}-{cp}-")
    assert carried[1] == f"gatelab-{__version__}.tar.gz"
    setup = _setup_sh(dists["A1"])
    installs = [line for line in setup.splitlines() if '"${PIP[@]}" install' in line]
    gatelab_installs = [line for line in installs if "$wheel" in line or "$SDIST" in line]
    assert len(gatelab_installs) == 2 and all("--no-index" in line for line in gatelab_installs)
    assert not [line for line in installs if "gatelab" in line and "--no-index" not in line]
    assert f'PYTHON="${{GATELAB_PYTHON:-python{GRADESCOPE_PYTHON}}}"' in setup
    assert "apt_install bubblewrap" in setup
    for name in ("setup.sh", "run_autograder"):                  # both parse as bash
        with zipfile.ZipFile(dists["A1"] / "autograder.zip") as z:
            script = z.read(name).decode()
        assert subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True).returncode == 0, name


def test_assign_python_choice_and_missing_wheel(tmp_path, wheelhouse):
    from gatelab.grading.authoring import WheelsMissing, packages_in_zip

    out = assign(A1, tmp_path / "py311", wheels=wheelhouse, python="3.11", samples=False)
    assert "-cp311-" in packages_in_zip(out / "autograder.zip")[0]
    assert 'GATELAB_PYTHON:-python3.11' in _setup_sh(out)
    with pytest.raises(WheelsMissing, match=r"no gatelab .* wheel for CPython 3\.12 .*make wheel"):
        assign(A1, tmp_path / "py312", wheels=wheelhouse, python="3.12")
    assert not (tmp_path / "py312").exists()            # nothing half-written
    # A wheel for a newer glibc than Gradescope's Ubuntu 22.04 (2.35) would not install there.
    newer = _fake_wheelhouse(tmp_path / "newer", tags=("cp310-cp310-manylinux_2_36_x86_64",))
    with pytest.raises(WheelsMissing, match="needs glibc 2.36"):
        assign(A1, tmp_path / "newer-out", wheels=newer)
    # The sdist alone, only when asked for.
    out = assign(A1, tmp_path / "sdist", wheels=newer, sdist_only=True, samples=False)
    from gatelab import __version__

    assert packages_in_zip(out / "autograder.zip") == [f"gatelab-{__version__}.tar.gz"]


def test_assign_cli_names_make_wheel(tmp_path, capsys):
    from gatelab.cli import main

    assert main(["assign", "A1", str(tmp_path / "out"), "--wheels", str(tmp_path / "empty"), "--python", "3.13"]) == 2
    err = capsys.readouterr().err
    assert "wheel for CPython 3.13" in err and "make wheel" in err and "--sdist-only" in err
    with pytest.raises(SystemExit):
        main(["assign", "--help"])
    helptext = capsys.readouterr().out
    assert "--wheels DIR" in helptext and "--python 3.X" in helptext and "make wheel" in helptext


def test_run_autograder_writes_results_json(dist, tmp_path):
    """Gradescope's entry point, run as Gradescope would (its folders under AUTOGRADER_ROOT)."""
    with zipfile.ZipFile(dist / "autograder.zip") as z:
        z.extractall(tmp_path / "source")
    (tmp_path / "submission").mkdir()
    shutil.copy(dist / "samples" / "solution.ipynb", tmp_path / "submission" / "A1.ipynb")
    script = tmp_path / "source" / "run_autograder"
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, AUTOGRADER_ROOT=str(tmp_path), GATELAB=str(Path(sys.executable).parent / "gatelab"))
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, timeout=300)
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == data["max_score"] == sum(t["max_score"] for t in data["tests"]) > 0
    hidden = [t for t in data["tests"] if t["visibility"] != "visible"]
    assert hidden and all(t["visibility"] == "after_published" for t in hidden)


@pytest.mark.parametrize("grader", ["missing", "import_fails", "writes_garbage"])
def test_run_autograder_leaves_valid_results_json_when_the_grader_breaks(dist, tmp_path, grader):
    with zipfile.ZipFile(dist / "autograder.zip") as z:
        z.extractall(tmp_path / "source")
    (tmp_path / "submission").mkdir()
    fake = tmp_path / "gatelab"
    if grader == "missing":
        fake = tmp_path / "venv" / "bin" / "gatelab"
    elif grader == "import_fails":
        fake.write_text(f"#!{sys.executable}\nimport gatelab_is_not_here\n")
    else:
        fake.write_text('#!/bin/sh\nprintf "{\\"score\\": " > "$5"\nexit 1\n')   # half a JSON file
    if fake.exists():
        fake.chmod(0o755)
    env = dict(os.environ, AUTOGRADER_ROOT=str(tmp_path), GATELAB=str(fake))
    done = subprocess.run(["bash", str(tmp_path / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == 0 and data["tests"] == [] and "course staff" in data["output"]
    assert "left no valid results.json" in done.stderr


def test_grading_with_the_student_bundle_runs_public_tests_only(dist):
    r = grade(dist / "student", dist / "samples" / "solution.ipynb", seed=1)
    assert r.tests and not any(t.hidden for t in r.tests)
    assert r.score == r.max_score


# ---- robustness -------------------------------------------------------------------------------------

def test_unreadable_submission_still_gets_a_results_json(tmp_path):
    bad = tmp_path / "A1.ipynb"
    bad.write_text("{ this is not a notebook")
    out = tmp_path / "results.json"
    r = grade(A1, bad, json_path=out)
    data = json.loads(out.read_text())
    assert data["score"] == 0 and len(data["tests"]) == len(r.tests) > 0
    assert "JSON does not parse" in data["output"]
    assert all("could not be read" in t["output"] for t in data["tests"])
    assert not r.errors


def test_missing_submission_and_missing_assignment(tmp_path):
    r = grade(A1, tmp_path / "nowhere.ipynb", json_path=tmp_path / "a.json")
    assert r.score == 0 and any("no such file" in n for n in r.notes)
    r = grade(tmp_path / "no-assignment", tmp_path / "nowhere.ipynb", json_path=tmp_path / "b.json")
    assert r.errors and json.loads((tmp_path / "b.json").read_text())["score"] == 0


def test_broken_test_file_is_a_grader_problem(tmp_path):
    root = _assignment(tmp_path / "Z", "import no_such_module\n\ndef test_x():\n    pass\n")
    sub = tmp_path / "sub.py"
    sub.write_text("def f():\n    return 1\n")
    r = grade(root, sub, json_path=tmp_path / "r.json")
    assert r.errors and "failed to load" in r.errors[0]
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["score"] == 0 and "course staff" in data["output"]


def _assignment(root, tests, toml=""):
    (root / "tests").mkdir(parents=True)
    (root / "assignment.toml").write_text(f'[assignment]\nname = "{root.name}"\n{toml}')
    (root / "tests" / "test_public.py").write_text(tests)
    return root


def test_a_grading_session_that_dies_costs_only_unreported_tests(tmp_path):
    root = _assignment(tmp_path / "Z", "import os\n\ndef test_a():\n    pass\n\n"
                                        "def test_b():\n    os._exit(3)\n\ndef test_c():\n    pass\n")
    sub = tmp_path / "sub.py"
    sub.write_text("x = 1\n")
    r = grade(root, sub, json_path=tmp_path / "r.json")
    assert [t.status for t in r.tests] == ["passed", "failed", "failed"]
    assert "ended before this test" in r.tests[1].output
    assert r.errors and "ended before reporting every test" in r.errors[0]
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 1


def test_a_grade_stops_at_the_assignments_budget(tmp_path):
    root = _assignment(tmp_path / "Z", "import time\n\ndef test_a():\n    pass\n\n"
                                        "def test_b():\n    time.sleep(600)\n\ndef test_c():\n    pass\n",
                       "[grading]\ntime_limit = 1\nload_limit = 1\nbudget = 8\n")
    sub = tmp_path / "sub.py"
    sub.write_text("x = 1\n")
    r = grade(root, sub)
    assert [t.status for t in r.tests] == ["passed", "failed", "failed"] and r.execution_time < 15
    assert "time budget of 8 s" in r.errors[0]
    assert "ran out of time" in r.tests[1].output and "ran out of time" in r.tests[2].output


def test_grade_removes_its_temporary_folders(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sub = tmp_path / "sub.py"
    sub.write_text("def f():\n    return 1\n")
    grade(A1, sub)
    assert sorted(os.listdir(tmp_path)) == ["sub.py"]


def test_writing_the_graders_results_json_changes_nothing(dist, tmp_path):
    """The sample finds the --json path on its grader's command line and writes a perfect score
    there; the grader writes its own results.json last, from its own bookkeeping."""
    out = tmp_path / "results.json"
    proc = subprocess.run([str(Path(sys.executable).parent / "gatelab"), "grade", "A1",
                           str(dist / "samples" / "writes_results.py"), "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["score"] == 0 and len(data["tests"]) > 10
    assert '"score": 1000' in data["tests"][0]["output"]       # it did print its fake (a visible test)


# ---- the wire and the own-code check ----------------------------------------------------------------

def test_the_wire_carries_plain_data_only():
    a, b = socket.socketpair()
    with a, b:
        value = {"x": np.arange(6.0).reshape(2, 3).T, "s": np.array(2.5), "ref": wire.Ref(1, "Gate"),
                 "t": (1, 2.5, "s", None, float("nan")), "i": np.int64(3)}
        wire.send(a, value)
        got = wire.recv(b)
        assert np.array_equal(got["x"], value["x"]) and got["s"].shape == () and got["ref"] == wire.Ref(1, "Gate")
        assert got["t"][:4] == (1, 2.5, "s", None) and np.isnan(got["t"][4]) and got["i"] == 3
        with pytest.raises(TypeError, match="object"):
            wire.send(a, np.array([object()]))
        with pytest.raises(TypeError, match="function"):
            wire.send(a, {"f": os.system})


@pytest.mark.parametrize("text, arrays, message", [
    (b'{"$array": 0, "dtype": "|O", "shape": [1]}', [b"12345678"], "numeric dtypes only"),
    (b'{"$array": 0, "dtype": "<f8", "shape": [2]}', [b"12345678"], "do not match"),
    (b'{"$array": 1, "dtype": "<f8", "shape": [1]}', [b"12345678"], "out of range"),
    (b'{"$pickle": "gASV"}', [], "unknown tagged value"),
    (b'{"a": 1}', [b"spare"], "does not refer to"),
    (b"\x80\x04\x95 not json", [], "not JSON"),
    (b"[" * 40 + b"]" * 40, [], "nested"),
])
def test_the_wire_refuses_what_is_not_plain_data(text, arrays, message):
    with pytest.raises(wire.WireError, match=message):
        wire.decode(text, arrays)


def test_a_frame_larger_than_the_wire_allows_is_refused():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(wire._HEADER.pack(wire.MAX_FRAME + 1, 0))
        with pytest.raises(wire.WireError, match="announcing"):
            wire.recv(b)


def test_own_code_check():
    import gatelab as gl
    from gatelab.grading.worker import Namespace, NotOwnCode

    module = type(sys)("submission")
    module.gl = gl
    exec(compile("def mine(x):\n    return x\nclass G(gl.Gate):\n    pass\nclass H(gl.gates.Multiply):\n    pass\n",
                 "student.py", "exec"), vars(module))
    module.ng, module.s = gl.numerical_gradient, np.sum
    ns = Namespace(module, {"student.py"}, {})
    assert ns.get("mine")(3) == 3 and ns.get("G")
    for name, words in (("H", "inherits gatelab's built-in gate Multiply"),
                        ("ng", "gatelab.numerical.numerical_gradient"), ("s", "not a function written")):
        with pytest.raises(NotOwnCode, match=words):
            ns.get(name)


# ---- reports and the command line --------------------------------------------------------------------

def _result():
    r = GradeResult("A1", "alice.ipynb", seed=3)
    r.tests = [TestResult("t::a", "a", "first test", "1", 2.0, False, status="passed"),
               TestResult("t::b", "b", "second test", "2", 1.0, True, status="failed", kind="wrong",
                          output="Wrong values in dx."),
               TestResult("t::c", "c", "third test", "3", 1.0, False, status="failed", kind="crash",
                          output="While running f, your code crashed.")]
    r.notes = ["cell 3 was not run"]
    return r


def test_report_and_results_json_agree():
    r = _result()
    text = format_report(r, "Gates")
    assert "A1 — Gates: alice.ipynb" in text and "Score: 2 / 4" in text and "[hidden] second test" in text
    assert "Wrong values in dx." in text and "cell 3 was not run" in text
    public = format_report(r, show_hidden=False)
    assert "second test" not in public and "Score: 2 / 3 (public tests only)" in public
    data = r.to_gradescope()
    assert data["score"] == 2 and data["max_score"] == 4
    assert [t["visibility"] for t in data["tests"]] == ["visible", "after_published", "visible"]
    assert data["tests"][2]["tags"] == ["public", "crash"]


def test_cli_has_assign_and_grade():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) >= {"assign", "grade"}
    args = parser.parse_args(["grade", "A1", "--all", "subs", "-j", "3"])
    assert args.all == "subs" and args.jobs == 3


def test_cli_errors_are_messages(capsys):
    assert main(["grade", "A1"]) == 2
    assert "give a SUBMISSION" in capsys.readouterr().err
    assert main(["grade", "no-such-assignment", "x.ipynb"]) == 2
    assert "no assignment 'no-such-assignment'" in capsys.readouterr().err


def test_workers_are_isolated_and_the_report_says_how(tmp_path):
    """Student code runs as uid 65534 in the sandbox (root here), sees neither the tests nor the
    grader's folders nor a network, and results.json says which isolation was in force."""
    root = _assignment(tmp_path / "Z", "import os\n\ndef test_uid(student):\n"
                                        "    assert student.my_uid() == 65534\n\n"
                                        "def test_tests_unseen(student):\n"
                                        "    assert student.can_read(__file__) is False\n"
                                        f"    assert student.can_read({str(tmp_path / 'sub.py')!r}) is False\n")
    sub = tmp_path / "sub.py"
    sub.write_text("import os\n\ndef my_uid():\n    return os.getuid()\n\n"
                   "def can_read(path):\n    try:\n        open(path).read()\n        return True\n"
                   "    except OSError:\n        return False\n")
    r = grade(root, sub, json_path=tmp_path / "r.json")
    assert not r.errors and [t.status for t in r.tests] == ["passed", "passed"], [t.output for t in r.tests]
    iso = json.loads((tmp_path / "r.json").read_text())["extra_data"]["isolation"]
    assert iso["mode"] == "bubblewrap" and iso["isolated"] and "network" in iso["namespaces"]
