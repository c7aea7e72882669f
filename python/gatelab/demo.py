"""`make demo`: the lectures' worked examples run through the C++ graph, printed the way the
slides show them, then a gradient check of every built-in gate.

Run it as ``python -m gatelab.demo`` (or ``gatelab demo``).
"""

from __future__ import annotations

import numpy as np

import gatelab as gl
from gatelab.catalog import CATALOG, gate_classes
from gatelab.gradcheck import jacobians


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

    _title("1. f = (x + y) z at x = -2, y = 5, z = -4: add distributes, multiply swaps")
    g = circuit()
    print(g.summary(digits=2))

    _title("2. The logistic neuron f = 1 / (1 + e^-(w0 x0 + w1 x1 + w2)), from primitive gates")
    print(neuron(use_sigmoid_gate=False).summary(digits=2))
    _title("   ... and again with one sigmoid gate: local gradient (1 - 0.73) 0.73 = 0.20")
    print(neuron(use_sigmoid_gate=True).summary(digits=2))

    _title("3. Logistic loss L = -log sigma(theta0 + theta1 x1 + theta2 x2) at z = 6")
    print(logistic_loss().summary(digits=5))

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
    print(g.summary(digits=3))

    _title("5. Why backward never forms a Jacobian: a conv layer on a 64x3x32x32 batch")
    print(gl.conv2d_jacobian_memory((64, 3, 32, 32), (16, 3, 3, 3), padding=1))

    _title("6. Gradient check of every built-in gate (float64, central differences, eps = 1e-6)")
    rows = gradcheck_table()
    width = max(len(name) for name, _ in rows)
    for name, err in rows:
        verdict = "no catalog entry" if err is None else ("ok" if err < 1e-7 else "CHECK")
        shown = "-" if err is None else f"{err:.1e}"
        print(f"  {name.ljust(width)}  max relative error {shown:>8}  {verdict}")


def grading_section() -> None:
    """Assignment A1's sample submissions through the autograder, against their expected scores."""
    from gatelab.grading import demo_a1

    _title("7. The autograder on assignment A1's sample submissions (per-test sandboxes)")
    rows = demo_a1()
    wrong = [r["name"] for r in rows if not r["ok"]]
    print("every sample scored what it should" if not wrong else f"unexpected scores: {wrong}")


if __name__ == "__main__":
    main()
    grading_section()
