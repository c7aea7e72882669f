"""`make demo`: the lectures' worked examples run through the C++ graph, printed the way the
slides show them, then a gradient check of every built-in gate; with ``--grading``, a section
for instructors: the autograder on assignment A1's sample submissions.

Run it as ``gatelab demo [--grading]`` (or ``python -m gatelab.demo [--grading]``).
"""

from __future__ import annotations

import numpy as np

import gatelab as gl
from gatelab.catalog import CATALOG, gate_classes
from gatelab.gradcheck import jacobians

# A correct backward agrees with float64 central differences to ~1e-10 (the finite-difference
# error at eps = 1e-6); a wrong one is off by ~1e-1 or more. 1e-7 sits safely between.
GRADCHECK_THRESHOLD = 1e-7

COLUMNS = """\
Each table has one row per node, in the order forward computes them:
  node    the node's name (v1, v2, ... for gates the example did not name)
  op      its gate, or input / parameter for a leaf
  inputs  the nodes the gate reads (a number there is a constant, as the slides write "+1")
  value   the node's value after the forward pass
  grad    the node's gradient after one backward pass from the output f: grad = ∂f/∂node
          (∂L/∂node, ∂y/∂node when the output is called L or y; the output's own grad is 1)"""


def _title(text: str) -> None:
    print()
    print(text)
    print("-" * len(text))


def circuit() -> gl.Graph:
    """f = (x + y) z at x = -2, y = 5, z = -4 (CS231n backprop lecture)."""
    g = gl.Graph()
    x, y, z = g.input("x", -2.0), g.input("y", 5.0), g.input("z", -4.0)
    q = (x + y).named("q")
    (q * z).named("f")
    g.forward()
    g.backward()
    return g


def neuron(use_sigmoid_gate: bool) -> gl.Graph:
    """The 2-D logistic neuron f = sigma(w0 x0 + w1 x1 + w2) at w = (2, -3, -3), x = (-1, -2)."""
    g = gl.Graph()
    w0, x0 = g.input("w0", 2.0), g.input("x0", -1.0)
    w1, x1 = g.input("w1", -3.0), g.input("x1", -2.0)
    w2 = g.input("w2", -3.0)
    s = (w0 * x0 + w1 * x1 + w2).named("s")
    if use_sigmoid_gate:
        gl.sigmoid(s).named("f")
    else:
        gl.reciprocal(1.0 + gl.exp(-s)).named("f")
    g.forward()
    g.backward()
    return g


def logistic_loss() -> gl.Graph:
    """L = -log sigma(theta0 + theta1 x1 + theta2 x2) for label y = 1, where z = 6."""
    g = gl.Graph()
    t0, t1, t2 = g.param("theta0", 1.0), g.param("theta1", 1.0), g.param("theta2", 2.0)
    x1, x2 = g.input("x1", 1.0), g.input("x2", 2.0)
    z = (t0 + t1 * x1 + t2 * x2).named("z")
    f6 = gl.exp(-z).named("f6")
    f8 = gl.reciprocal(1.0 + f6).named("f8")
    (-1.0 * gl.log(f8)).named("L")
    g.forward()
    g.backward()
    return g


def trace_example() -> gl.Graph:
    """y = ln x1 + x1 x2 - sin x2 at (2, 5) (UvA DL1 AutoDiff lecture)."""
    g = gl.Graph()
    x1, x2 = g.input("x1", 2.0), g.input("x2", 5.0)
    v1 = gl.log(x1).named("v1")
    v2 = (x1 * x2).named("v2")
    v3 = gl.sin(x2).named("v3")
    v4 = (v1 + v2).named("v4")
    (v4 - v3).named("y")
    g.forward()
    return g


def _table(g: gl.Graph, digits: int) -> None:
    """The graph's summary, headed by what its grad column is (the output's name varies)."""
    print(f"grad = \u2202{g.output.name}/\u2202node")
    print(g.summary(digits=digits))


def gradcheck_table(seed: int = 0) -> list:
    """(gate, max relative error) for every built-in gate on random float64 inputs."""
    rng = np.random.default_rng(seed)
    rows = []
    for name in gate_classes():
        entry = CATALOG.get(name)
        if entry is None:
            rows.append((name, None))
            continue
        pairs, _, _ = jacobians(entry.make(), entry.inputs(rng))
        errors = [gl.rel_error(a, n) for pair in pairs if pair is not None for a, n in [pair]]
        rows.append((name, max(errors)))
    return rows


def main() -> None:
    info = gl.build_info()
    print(f"gatelab {info['version']}  ({info['compiler']}, {info['build_type']}, OpenMP {info['openmp']} "
          f"x{info['threads']}, {info['blas']} {info['blas_threading']})")
    print()
    print(COLUMNS)

    _title("1. f = (x + y) z at x = -2, y = 5, z = -4: add distributes, multiply swaps")
    g = circuit()
    _table(g, 2)

    _title("2. The logistic neuron f = 1 / (1 + e^-(w0 x0 + w1 x1 + w2)), from primitive gates")
    _table(neuron(use_sigmoid_gate=False), 2)
    _title("   ... and again with one sigmoid gate: local gradient (1 - 0.73) 0.73 = 0.20")
    _table(neuron(use_sigmoid_gate=True), 2)

    _title("3. Logistic loss L = -log sigma(theta0 + theta1 x1 + theta2 x2) at z = 6")
    _table(logistic_loss(), 5)

    _title("4. y = ln x1 + x1 x2 - sin x2 at (2, 5): forward mode and reverse mode")
    g = trace_example()
    y, x1, x2 = g["y"], g["x1"], g["x2"]
    print(g.trace())
    print()
    print(f"forward mode, seed x1' = 1:  dy/dx1 = {g.jvp(y, {x1: 1.0}):.3f}")
    print(f"forward mode, seed x2' = 1:  dy/dx2 = {g.jvp(y, {x2: 1.0}):.3f}")
    g.backward(y)
    print(f"reverse mode, one pass:      dy/dx1 = {x1.grad:.3f}, dy/dx2 = {x2.grad:.3f}")
    print()
    _table(g, 3)

    _title("5. Why backward never forms a Jacobian: a conv layer on a 64x3x32x32 batch")
    print(gl.conv2d_jacobian_memory((64, 3, 32, 32), (16, 3, 3, 3), padding=1))

    _title("6. Gradient check of every built-in gate (float64, central differences, eps = 1e-6)")
    threshold = f"{GRADCHECK_THRESHOLD:.0e}".replace("e-0", "e-")
    print("Each gate's backward against finite differences on random inputs. The relative error of\n"
          "one entry is |analytic - numerical| / max(1e-8, |analytic| + |numerical|) (gl.rel_error);\n"
          f"the table shows the largest over every input and entry: ok below {threshold}, CHECK above it.\n")
    rows = gradcheck_table()
    width = max(len(name) for name, _ in rows)
    for name, err in rows:
        verdict = "no catalog entry" if err is None else ("ok" if err < GRADCHECK_THRESHOLD else "CHECK")
        shown = "-" if err is None else f"{err:.1e}"
        print(f"  {name.ljust(width)}  max relative error {shown:>8}  {verdict}")


def grading_hint() -> None:
    print()
    print("Instructors: `gatelab demo --grading` (what `make demo` runs) adds the autograder on "
          "assignment A1's sample submissions.")


def grading_section() -> None:
    """Assignment A1's sample submissions through the autograder, against their expected scores."""
    from gatelab.grading import demo_a1

    _title("7. FOR INSTRUCTORS: the autograder on assignment A1's sample submissions")
    print("Each sample is a submission with a known flaw (or none); every test runs in its own sandbox.\n"
          "'expected' is the score the flaw should cost; 'ok' means exactly the expected tests failed.\n")
    rows = demo_a1()
    wrong = [r["name"] for r in rows if not r["ok"]]
    print("every sample scored what it should" if not wrong else f"unexpected scores: {wrong}")


if __name__ == "__main__":
    import sys

    main()
    grading_section() if "--grading" in sys.argv[1:] else grading_hint()
