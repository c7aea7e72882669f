"""The lectures' worked examples (../shared/seeds), reproduced through the C++ graph.

Numbers are the slides' own. The slides print rounded or truncated digits, so a value matches
when it is within one unit of the last printed digit (slide(-0.00247) accepts -0.0024788).
"""

import math

import numpy as np
import pytest

import gatelab as gl


def slide(printed: str):
    """A number as a slide prints it: matches values within one unit of its last digit."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return pytest.approx(float(printed), abs=10.0 ** -decimals)


def test_add_multiply_circuit():
    # f = (x + y) z at x = -2, y = 5, z = -4 (CS231n): q = 3, f = -12; df/dx = df/dy = z, df/dz = q.
    g = gl.Graph()
    x, y, z = g.input("x", -2.0), g.input("y", 5.0), g.input("z", -4.0)
    q = (x + y).named("q")
    f = (q * z).named("f")
    assert g.forward() == -12.0
    g.backward(f)
    assert q.value == 3.0
    assert (x.grad, y.grad, z.grad, q.grad, f.grad) == (-4.0, -4.0, 3.0, -4.0, 1.0)


def _neuron_inputs(g):
    return [g.input(n, v) for n, v in (("w0", 2.0), ("x0", -1.0), ("w1", -3.0), ("x1", -2.0), ("w2", -3.0))]


# The slide's values: f = 0.73, grads w0 -0.20, x0 0.39, w1 -0.39, x1 -0.59, w2 0.20.
NEURON_GRADS = {"w0": "-0.20", "x0": "0.39", "w1": "-0.39", "x1": "-0.59", "w2": "0.20"}


def test_logistic_neuron_from_primitive_gates():
    g = gl.Graph()
    w0, x0, w1, x1, w2 = _neuron_inputs(g)
    s = w0 * x0 + w1 * x1 + w2
    neg = -s
    e = gl.exp(neg)
    d = 1.0 + e
    f = gl.reciprocal(d)
    assert g.forward() == slide("0.73")
    g.backward(f)
    for node in (w0, x0, w1, x1, w2):
        assert node.grad == slide(NEURON_GRADS[node.name])
    # The slide's forward values and gradients along the chain, back to front.
    assert (s.value, neg.value, e.value, d.value) == (1.0, -1.0, slide("0.37"), slide("1.37"))
    assert (f.grad, d.grad, e.grad, neg.grad, s.grad) == (1.0, slide("-0.53"), slide("-0.53"),
                                                           slide("-0.20"), slide("0.20"))


def test_logistic_neuron_with_sigmoid_gate_matches_primitives():
    g = gl.Graph()
    w0, x0, w1, x1, w2 = _neuron_inputs(g)
    f = gl.sigmoid(w0 * x0 + w1 * x1 + w2)
    g.forward()
    g.backward(f)
    # The sigmoid gate's local gradient is (1 - sigma) sigma = (1 - 0.73) 0.73 = 0.2.
    assert f.value == slide("0.73")
    assert (1 - f.value) * f.value == slide("0.2")
    for node in (w0, x0, w1, x1, w2):
        assert node.grad == slide(NEURON_GRADS[node.name])
    expected = {"w0": -1.0, "x0": 2.0, "w1": -2.0, "x1": -3.0, "w2": 1.0}  # d s / d node
    sig = 1.0 / (1.0 + math.exp(-1.0))
    for node in (w0, x0, w1, x1, w2):
        assert node.grad == pytest.approx(expected[node.name] * sig * (1 - sig), rel=1e-15)


def test_logistic_loss_chain_at_z_6():
    # L = -log sigma(theta0 + theta1 x1 + theta2 x2) with y = 1, evaluated where z = 6 (the slide):
    # e^-6 = 0.0025, 1 + e^-6 = 1.0025, 1/1.0025 = 0.9975, local gradients 1.00247 and -0.9951,
    # and dL/dtheta0 = -0.00247.
    g = gl.Graph()
    t0, t1, t2 = g.param("theta0", 1.0), g.param("theta1", 1.0), g.param("theta2", 2.0)
    x1, x2 = g.input("x1", 1.0), g.input("x2", 2.0)
    f3 = t1 * x1 + t2 * x2
    f4 = t0 + f3
    f5 = -f4
    f6 = gl.exp(f5)
    f7 = 1.0 + f6
    f8 = gl.reciprocal(f7)
    f9 = gl.log(f8)
    loss = -1.0 * f9
    g.forward()
    g.backward(loss)
    assert f4.value == 6.0
    assert f6.value == slide("0.0025")
    assert f7.value == slide("1.0025")
    assert f8.value == slide("0.9975")
    assert 1.0 / f8.value == slide("1.00247")          # local gradient of log
    assert -1.0 / f7.value ** 2 == slide("-0.9951")     # local gradient of 1/x
    assert f8.grad == slide("-1.00247")
    assert f7.grad == slide("0.9975")
    assert f5.grad == slide("0.00247")
    assert t0.grad == slide("-0.00247")
    assert t1.grad == pytest.approx(t0.grad * 1.0) and t2.grad == pytest.approx(t0.grad * 2.0)
    # The same through the fused sigmoid gate.
    g2 = gl.Graph()
    z = g2.param("theta0", 1.0) + g2.param("theta1", 1.0) * g2.input("x1", 1.0) + \
        g2.param("theta2", 2.0) * g2.input("x2", 2.0)
    loss2 = -gl.log(gl.sigmoid(z))
    g2.forward()
    g2.backward(loss2)
    assert g2["theta0"].grad == pytest.approx(t0.grad, rel=1e-12)


def test_forward_and_reverse_mode_trace_example():
    # y = ln x1 + x1 x2 - sin x2 at (2, 5): y = 11.652, dy/dx1 = 5.5, dy/dx2 = 1.716 (UvA DL1).
    g = gl.Graph()
    x1, x2 = g.input("x1", 2.0), g.input("x2", 5.0)
    v1 = gl.log(x1)
    v2 = x1 * x2
    v3 = gl.sin(x2)
    v4 = v1 + v2
    y = v4 - v3
    assert g.forward() == slide("11.652")
    assert (v1.value, v2.value, v3.value, v4.value) == (slide("0.693"), 10.0, slide("-0.959"), slide("10.693"))
    # Forward mode, seeded with x1' = 1: v1' = 1/2, v2' = 5, v3' = 0, y' = 5.5.
    assert g.jvp(y, {x1: 1.0}) == 5.5
    assert (v1.tangent, v2.tangent, v3.tangent) == (0.5, 5.0, 0.0)
    # Reverse mode: one pass gives both partials.
    g.backward(y)
    assert x1.grad == 5.5
    assert x2.grad == slide("1.716")
    assert x2.grad == pytest.approx(2.0 - math.cos(5.0), rel=1e-15)


def test_lecture_examples_through_arrays():
    # The same circuit, vectorised: every element behaves like the scalar example.
    g = gl.Graph()
    x = g.input("x", np.array([-2.0, 1.0]))
    y = g.input("y", np.array([5.0, 2.0]))
    z = g.input("z", np.array([-4.0, 3.0]))
    f = gl.sum((x + y) * z)
    g.forward()
    g.backward(f)
    np.testing.assert_array_equal(x.grad, [-4.0, 3.0])
    np.testing.assert_array_equal(z.grad, [3.0, 3.0])
