"""The C++ numerical-gradient engine: parallel finite differences on per-thread graph clones."""

import numpy as np
import pytest

import gatelab as gl
from gatelab import _core


def _graph(rng):
    g = gl.Graph()
    x = g.input("x", rng.normal(size=(4, 5)))
    w = g.param("w", rng.normal(size=(5,)))
    y = gl.tanh(x * w) + gl.sigmoid(x) * x  # x is used three times
    return g, x, w, y


def test_jacobians_agree_with_a_python_finite_difference_loop(rng):
    g, x, w, y = _graph(rng)
    g.forward()
    (ja, jn), (wa, wn) = _core.check_jacobians(g._g, y.id, [x.id, w.id], 1e-6)
    assert ja.shape == (20, 20) and wa.shape == (20, 5)
    assert gl.rel_error(ja, jn) < 1e-8 and gl.rel_error(wa, wn) < 1e-8
    # The numeric columns equal a plain Python loop over the same graph.
    loop = np.zeros((20, 5))
    base = w.value.copy()
    for j in range(5):
        outputs = []
        for sign in (1, -1):
            w_shift = base.copy()
            w_shift[j] += sign * 1e-6
            outputs.append(np.asarray(g.forward({"w": w_shift})).ravel())
        loop[:, j] = (outputs[0] - outputs[1]) / 2e-6
    np.testing.assert_array_equal(wn, loop)  # the same arithmetic, so the same bits


def test_vjp_mode_is_the_course_check(rng):
    g, x, w, y = _graph(rng)
    g.forward()
    dout = rng.normal(size=(4, 5))
    (xa, xn), = _core.check_vjp(g._g, y.id, [x.id], dout, 1e-5)
    g.backward(y, grad=dout)
    np.testing.assert_array_equal(xa, x.grad)
    course = gl.numerical_gradient_array(lambda: g.forward(), x, dout)
    np.testing.assert_allclose(xn, course, rtol=1e-12, atol=1e-13)


def test_results_are_identical_at_1_and_2_threads(threads, rng):
    g, x, w, y = _graph(rng)
    g.forward()
    runs = []
    for n in (1, 2):
        gl.set_num_threads(n)
        runs.append(_core.check_jacobians(g._g, y.id, [x.id, w.id], 1e-6))
    for (a1, n1), (a2, n2) in zip(*runs):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(n1, n2)


def test_graphs_with_python_gates_are_checked_on_one_thread(rng):
    class Cube(gl.Gate):
        def forward(self, x):
            self.x = x
            return x ** 3

        def backward(self, dout):
            return (3 * self.x ** 2 * dout,)

    g = gl.Graph()
    x = g.input("x", rng.normal(size=6))
    y = gl.sin(g.apply(Cube(), x))
    g.forward()
    ((a, n),) = _core.check_jacobians(g._g, y.id, [x.id], 1e-6)
    assert gl.rel_error(a, n) < 1e-8


def test_engine_errors_are_clear(rng):
    g, x, w, y = _graph(rng)
    g.forward()
    with pytest.raises(ValueError, match="eps must be positive"):
        _core.check_jacobians(g._g, y.id, [x.id], 0.0)
    with pytest.raises(ValueError, match="is computed by a gate, not a leaf"):
        _core.check_jacobians(g._g, y.id, [y.id], 1e-6)
    with pytest.raises(ValueError, match=r"dout must be float64\(4, 5\)"):
        _core.check_vjp(g._g, y.id, [x.id], np.ones(3), 1e-6)


def test_exception_inside_a_worker_reaches_python(rng):
    class FailsWhenPerturbed(gl.Gate):
        calls = 0

        def forward(self, x):
            FailsWhenPerturbed.calls += 1
            if FailsWhenPerturbed.calls > 2:
                raise ArithmeticError("perturbed")
            return x * 1.0

        def backward(self, dout):
            return (dout,)

    g = gl.Graph()
    x = g.input("x", np.ones(3))
    y = g.apply(FailsWhenPerturbed(), x)
    g.forward()
    with pytest.raises(ArithmeticError, match="perturbed"):
        _core.check_jacobians(g._g, y.id, [x.id], 1e-6)
