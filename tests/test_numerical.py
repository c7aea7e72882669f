"""Finite differences, rel_error and gradcheck: the tools students check gradients with."""

import numpy as np
import pytest

import gatelab as gl


def test_numerical_gradient_central_is_second_order(rng):
    x = rng.normal(size=(3, 4))
    f = lambda: float(np.sum(np.sin(x) * x))  # noqa: E731 - f sees x perturbed in place
    exact = np.cos(x) * x + np.sin(x)
    central = gl.numerical_gradient(f, x, h=1e-5)
    assert gl.rel_error(central, exact) < 1e-8
    # One-sided differences are first order: at h = 1e-4 they are far worse than central ones.
    for method in ("forward", "backward"):
        one_sided = gl.numerical_gradient(f, x, h=1e-4, method=method)
        assert 1e-7 < np.max(np.abs(one_sided - exact)) < 1e-3


def test_x_is_restored_even_when_f_fails(rng):
    x = rng.normal(size=3)
    before = x.copy()
    calls = []

    def f():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return float(np.sum(x))

    with pytest.raises(RuntimeError):
        gl.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)


def test_course_style_f_taking_x(rng):
    # CS231n notebooks pass f = lambda W: loss(W); the array being perturbed is the argument.
    w = rng.normal(size=5)
    grad = gl.numerical_gradient(lambda W: float(np.sum(W ** 2)), w)
    np.testing.assert_allclose(grad, 2 * w, rtol=1e-8)


def test_numerical_gradient_array_matches_backward(rng):
    x = rng.normal(size=(2, 3))
    dout = rng.normal(size=(2, 3))
    numeric = gl.numerical_gradient_array(lambda: gl.sigmoid(x), x, dout)
    sig = gl.gates.Sigmoid()
    sig.forward(x)
    (analytic,) = sig.backward(dout)
    assert gl.rel_error(numeric, analytic) < 1e-9


def test_numerical_gradient_on_a_graph_leaf_marks_graph_stale():
    g = gl.Graph()
    x = g.input("x", np.array([1.0, 2.0]))
    y = gl.sum(x * x * x)
    g.forward()
    numeric = gl.numerical_gradient(lambda: g.forward(), x)
    np.testing.assert_allclose(numeric, [3.0, 12.0], rtol=1e-8)
    np.testing.assert_array_equal(x.value, [1.0, 2.0])  # restored
    with pytest.raises(ValueError, match="run forward first"):
        g.backward(y)  # the graph's values are from the last perturbed run
    g.forward()
    g.backward(y)
    np.testing.assert_allclose(x.grad, numeric, rtol=1e-8)


def test_numerical_gradient_input_checks():
    with pytest.raises(TypeError, match="float array"):
        gl.numerical_gradient(lambda: 0.0, np.arange(3))
    with pytest.raises(ValueError, match="read-only"):
        ro = np.ones(3)
        ro.flags.writeable = False
        gl.numerical_gradient(lambda: 0.0, ro)
    with pytest.raises(ValueError, match="contains NaN"):
        gl.numerical_gradient(lambda: 0.0, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="single number"):
        gl.numerical_gradient(lambda: np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="method must be one of"):
        gl.numerical_gradient(lambda: 0.0, np.ones(2), method="sideways")
    with pytest.warns(UserWarning, match="float32"):
        gl.numerical_gradient(lambda x: float(np.sum(x)), np.ones(2, np.float32), h=1e-2)


def test_rel_error_is_the_course_definition():
    assert gl.rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert gl.rel_error(np.array([1.0]), np.array([-1.0])) == 1.0
    assert gl.rel_error(np.array([0.0]), np.array([1e-9])) == pytest.approx(0.1)  # the 1e-8 floor
    with pytest.raises(ValueError, match="shapes"):
        gl.rel_error(np.ones(2), np.ones(3))


class WrongSign(gl.Gate):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dout):
        return (-2 * self.x * dout,)


def test_gradcheck_failure_names_input_and_index(rng):
    x = rng.normal(size=(2, 3))
    with pytest.raises(gl.GradcheckError, match=r"input 0 \('input0', shape \(2, 3\)\) at index \(\d, \d\)") as err:
        gl.gradcheck(WrongSign(), [x])
    report = err.value.report
    assert not report.passed and report.inputs[0].rel_error == pytest.approx(1.0)
    assert gl.gradcheck(WrongSign(), [x], raise_exception=False) is False


def test_gradcheck_uses_torch_tolerance_semantics():
    # |analytic - numeric| <= atol + rtol * |numeric|: an error of 1e-4 on a gradient of 1 fails at
    # rtol=1e-5 and passes at the default rtol=1e-3.
    class SlightlyOff(gl.Gate):
        def forward(self, x):
            return x * 1.0

        def backward(self, dout):
            return (dout * (1 + 1e-4),)

    x = np.ones(2)
    assert gl.gradcheck(SlightlyOff(), [x])
    with pytest.raises(gl.GradcheckError):
        gl.gradcheck(SlightlyOff(), [x], atol=0.0, rtol=1e-5)


def test_gradcheck_rejects_bad_arguments():
    with pytest.raises(ValueError, match="contains NaN"):
        gl.gradcheck(gl.gates.Sigmoid(), [np.array([np.nan])])
    with pytest.raises(TypeError, match="must return a graph node"):
        gl.gradcheck(lambda x: 3.0, [np.ones(2)])
