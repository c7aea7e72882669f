"""step_size_sweep: the truncation / round-off V for one- and two-sided differences."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import gatelab as gl


def f_np(x):
    return float(np.sin(x[0]) ** 2 * np.exp(x[0]))


def exact(x0):
    return 2 * np.sin(x0) * np.cos(x0) * np.exp(x0) + np.sin(x0) ** 2 * np.exp(x0)


def test_v_shape_and_orders_float64():
    x = np.array([0.7])
    s = gl.step_size_sweep(f_np, x)
    assert s.exact == pytest.approx(exact(0.7), rel=1e-11)       # Ridders' reference
    assert x[0] == 0.7                                             # x restored
    best = s.best_h
    assert 1e-10 <= best["forward"] <= 1e-6                        # ~ sqrt(eps)
    assert 1e-7 <= best["central"] <= 1e-3                         # ~ eps^(1/3)
    assert s.min_error["central"] < 1e-9 < s.min_error["forward"] * 100
    # right arm: truncation, slope 1 one-sided and 2 two-sided (one decade = 2 grid steps)
    hs = list(s.hs)
    i1, i2 = hs.index(1e-1), hs.index(1e-2)
    assert s.forward_error[i1] / s.forward_error[i2] == pytest.approx(10, rel=0.2)
    assert s.central_error[i1] / s.central_error[i2] == pytest.approx(100, rel=0.2)
    # left arm: round-off grows as h shrinks
    assert s.central_error[0] > 1e3 * s.min_error["central"]
    assert s.forward_error[0] > 1e3 * s.min_error["forward"]


def test_given_exact_gradient_from_backward_on_a_graph_leaf():
    g = gl.Graph()
    x = g.input("x", np.array([0.3, -1.2]))
    y = gl.sum(gl.tanh(x) * x)
    g.forward()
    g.backward(y)
    dx = np.array(x.grad)
    s = gl.step_size_sweep(lambda: g.forward(output=y), x, index=1, grad=dx[1], hs=[1e-2, 1e-5, 1e-12])
    assert s.exact_source == "given" and s.index == (1,)
    assert s.central_error[1] < 1e-9
    assert np.allclose(x.value, [0.3, -1.2])


def test_float32_v_moves_to_larger_h():
    x = np.array([0.7], dtype=np.float32)
    with pytest.warns(UserWarning, match="float32"):
        s = gl.step_size_sweep(lambda: float(np.sin(x[0])), x, grad=float(np.cos(np.float32(0.7))))
    assert s.best_h["central"] >= 1e-4
    assert s.min_error["central"] > 1e-8                           # float32 cannot do better


def test_as_dict_str_and_plot():
    s = gl.step_size_sweep(f_np, np.array([0.2]), hs=np.logspace(-12, -1, 12))
    d = s.as_dict()
    assert set(d) == {"h", "forward", "backward", "central"} and len(d["h"]) == 12
    text = str(s)
    assert "best one-sided" in text and "best two-sided" in text
    ax = s.plot(show_backward=True)
    labels = [line.get_label() for line in ax.get_lines()]
    assert any("two-sided" in label for label in labels) and any("eps/h" in label for label in labels)
    assert ax.get_xscale() == "log"
    import matplotlib.pyplot as plt
    plt.close("all")


def test_bad_arguments():
    x = np.array([0.5, 1.0])
    with pytest.raises(ValueError, match="index"):
        gl.step_size_sweep(f_np, x, index=5)
    with pytest.raises(ValueError, match="positive"):
        gl.step_size_sweep(f_np, x, hs=[1e-3, 0.0])
    with pytest.raises(TypeError, match="float"):
        gl.step_size_sweep(f_np, np.array([1, 2]))
