"""max_pool2d and avg_pool2d: values, gradients and argmax against PyTorch, overlapping windows,
ties, NaN, finite differences, threads, and every bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import gatelab as gl
from conv_oracle import assert_matches_torch, at_one_and_two_threads, finite_difference_jvp, raises


def max_pool(kernel, stride=None, padding=0):
    gate = gl.gates.MaxPool2d(kernel, stride, padding)
    return gate, lambda t: F.max_pool2d(t, kernel, stride, padding)


def avg_pool(kernel, stride=None, padding=0, count_include_pad=True):
    gate = gl.gates.AvgPool2d(kernel, stride, padding, count_include_pad)
    return gate, lambda t: F.avg_pool2d(t, kernel, stride, padding, count_include_pad=count_include_pad)


# (x shape, kernel, stride, padding): every edge case named.
CONFIGS = {
    "2x2-stride-2": ((2, 3, 8, 8), 2, 2, 0),
    "3x3-stride-1-overlapping": ((2, 2, 7, 7), 3, 1, 0),
    "3x3-stride-2-overlapping": ((2, 2, 9, 9), 3, 2, 0),
    "3x3-stride-2-padded": ((2, 3, 8, 7), 3, 2, 1),
    "stride-doesnt-divide": ((2, 2, 8, 8), 3, 3, 0),         # (8 - 3) mod 3 = 2
    "window-as-large-as-padded-input": ((2, 2, 3, 3), 5, 1, 2),
    "window-as-large-as-input": ((1, 3, 4, 5), (4, 5), 1, 0),
    "batch-of-one": ((1, 1, 6, 6), 2, None, 0),
    "non-square-kernel-and-stride": ((2, 2, 9, 10), (3, 2), (2, 1), (1, 0)),
    "1x1": ((2, 2, 4, 4), 1, 2, 0),
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("kind", ["max", "avg", "avg-exclude-pad"])
def test_pool_matches_torch(kind, config):
    shape, kernel, stride, padding = config
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape)
    gate, fn = (max_pool(kernel, stride, padding) if kind == "max" else
                avg_pool(kernel, stride, padding, count_include_pad=kind == "avg"))
    assert_matches_torch(gate, fn, [x], rng)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_max_pool_ties_route_the_gradient_like_torch(config):
    # Integer-valued inputs tie constantly: every gradient must go to the same single element
    # PyTorch picks (the first maximum in row-major window order), and argmax must equal its indices.
    shape, kernel, stride, padding = config
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    gate, fn = max_pool(kernel, stride, padding)
    assert_matches_torch(gate, fn, [x], rng, tol=dict(rtol=0, atol=0))
    _, indices = F.max_pool2d(torch.tensor(x), kernel, stride, padding, return_indices=True)
    argmax = gate.saved["argmax"]
    assert argmax.dtype == np.int64
    np.testing.assert_array_equal(argmax, indices.numpy())


def test_overlapping_windows_add_their_gradients():
    # 3x3 input, 2x2 windows at stride 1: four windows, all containing the centre, which is the
    # maximum of each. Its gradient is the SUM of the four upstream gradients. A backward that
    # assigns (dx[argmax] = dy) keeps only one of them: 4.0 here instead of 1 + 2 + 3 + 4 = 10.
    x = np.array([[[[0.0, 1.0, 0.0],
                    [1.0, 9.0, 1.0],
                    [0.0, 1.0, 0.0]]]])
    gate = gl.gates.MaxPool2d(2, stride=1)
    y = gate.forward(x)
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 9.0))
    np.testing.assert_array_equal(gate.saved["argmax"], np.full((1, 1, 2, 2), 4))  # flat index of the centre
    dx, = gate.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)
    # avg: each corner is in one window, each edge in two, the centre in all four (dy/4 each).
    avg = gl.gates.AvgPool2d(2, stride=1)
    avg.forward(x)
    dx, = avg.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx[0, 0], np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)


def test_gradcheck_max_and_avg():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 7, 6))  # distinct values: no ties, max is differentiable here
    assert gl.gradcheck(gl.gates.MaxPool2d(3, 2, 1), [x])
    assert gl.gradcheck(gl.gates.AvgPool2d((3, 2), (2, 1), (1, 0), count_include_pad=False), [x])
    assert gl.gradcheck(lambda x: gl.avg_pool2d(gl.max_pool2d(x, 3, stride=1), 2), [x])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_pool_property_random_shapes_and_hyperparameters(data):
    draw = lambda s: data.draw(s)  # noqa: E731
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    H = max(1, kernel[0] - 2 * padding[0]) + draw(st.integers(0, 6))
    W = max(1, kernel[1] - 2 * padding[1]) + draw(st.integers(0, 6))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ties = draw(st.booleans())
    x = rng.integers(-2, 3, size=shape).astype(np.float64) if ties else rng.standard_normal(shape)
    kind = draw(st.sampled_from(["max", "avg", "avg-exclude-pad"]))
    gate, fn = (max_pool(kernel, stride, padding) if kind == "max" else
                avg_pool(kernel, stride, padding, count_include_pad=kind == "avg"))
    y, _ = assert_matches_torch(gate, fn, [x], rng)
    s = kernel if stride is None else stride
    assert y.shape[2:] == tuple((n + 2 * p - k) // st_ + 1 for n, p, k, st_ in zip((H, W), padding, kernel, s))


def test_float32_matches_torch_float32():
    # Max pooling only selects: exact. Averages of <= 9 float32 values: within 1e-6.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    y, _ = assert_matches_torch(*max_pool(3, 2, 1), [x], rng, tol=dict(rtol=0, atol=0))
    assert y.dtype == np.float32
    assert_matches_torch(*avg_pool(3, 2, 1), [x], rng, tol=dict(rtol=1e-6, atol=1e-6))


def test_results_bitwise_equal_at_one_and_two_threads():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 8, 32, 32))  # 32 planes of 30x30 3x3 windows: the OpenMP path
    ties = rng.integers(0, 3, size=(4, 8, 32, 32)).astype(np.float64)
    for make in (lambda: gl.gates.MaxPool2d(3, 1), lambda: gl.gates.AvgPool2d(3, 1, 1)):
        for inp in (x, ties):
            dy = rng.standard_normal(make().forward(inp).shape)

            def run():
                gate = make()
                return [gate.forward(inp), *gate.backward(dy), gate.jvp(inp)]

            at_one_and_two_threads(run)


def test_nan_propagates_like_torch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 6, 6))
    x[0, 0, 2, 3] = np.nan
    x[0, 1, 0, 0] = x[0, 1, 0, 1] = np.nan  # two NaN in one window: PyTorch keeps the last
    for gate, fn in (max_pool(3, 1, 1), avg_pool(2, 2)):
        y = np.array(gate.forward(x))
        ty = fn(torch.tensor(x)).numpy()
        assert np.isnan(y).any() and not np.isnan(y).all()
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ty))
        np.testing.assert_array_equal(y[~np.isnan(y)], ty[~np.isnan(ty)])
    gate = gl.gates.MaxPool2d(3, 1, 1)
    gate.forward(x)
    _, indices = F.max_pool2d(torch.tensor(x), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(gate.saved["argmax"], indices.numpy())


def test_all_minus_infinity_window_picks_its_first_element_like_torch():
    x = np.full((1, 1, 4, 4), -np.inf)
    x[0, 0, 3, 3] = 1.0
    gate = gl.gates.MaxPool2d(2, 1, 1)
    y = gate.forward(x)
    ty, indices = F.max_pool2d(torch.tensor(x), 2, 1, 1, return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(gate.saved["argmax"], indices.numpy())


def test_jvp_equals_finite_difference_directional_derivative():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 7, 6))
    v = rng.standard_normal(x.shape)
    for make in (lambda: gl.gates.MaxPool2d(3, 2, 1), lambda: gl.gates.AvgPool2d((2, 3), 1, (1, 1), False)):
        gate = make()
        gate.forward(x)
        fd = finite_difference_jvp(lambda a: make().forward(a), [x], [v])
        np.testing.assert_allclose(gate.jvp(v), fd, rtol=1e-6, atol=1e-8)
    # Through the graph: max routes the tangent through argmax.
    g = gl.Graph()
    xn = g.input("x", x)
    y = gl.max_pool2d(xn, 2)
    g.forward()
    np.testing.assert_allclose(g.jvp(y, {xn: v}), finite_difference_jvp(lambda a: gl.max_pool2d(a, 2), [x], [v]),
                               rtol=1e-6, atol=1e-8)


def test_non_contiguous_input_and_default_stride():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 10, 12)).transpose(1, 0, 3, 2)[:, :, ::2, 1:]  # (4, 3, 6, 9)
    assert not x.flags.c_contiguous
    gate = gl.gates.MaxPool2d((2, 3))
    assert gate.stride == (2, 3) and gate.kernel_size == (2, 3) and gate.padding == (0, 0)
    assert_matches_torch(gate, lambda t: F.max_pool2d(t, (2, 3)), [x], rng)
    assert_matches_torch(*avg_pool(3, 2, 1), [x], rng)
    assert gl.gates.AvgPool2d(2, count_include_pad=False).count_include_pad is False


# ---- bad input: one clear exception each ------------------------------------------------------------

X = np.zeros((2, 3, 5, 5))


def test_padding_more_than_half_the_kernel():
    with raises(ValueError, "max_pool2d: padding=2 is more than half of kernel_size=3", "use padding=1 or less"):
        gl.max_pool2d(X, 3, padding=2)
    with raises(ValueError, "avg_pool2d: padding=1 is more than half of kernel_size=(2, 1)", "use padding=(1, 0)"):
        gl.avg_pool2d(X, (2, 1), padding=1)


def test_negative_padding_zero_stride_zero_kernel():
    with raises(ValueError, "max_pool2d: padding must be >= 0, got -1"):
        gl.max_pool2d(X, 3, padding=-1)
    with raises(ValueError, "avg_pool2d: stride must be >= 1, got 0"):
        gl.avg_pool2d(X, 2, stride=(1, 0))
    with raises(ValueError, "max_pool2d: kernel_size must be >= 1, got 0"):
        gl.max_pool2d(X, 0)


def test_window_larger_than_padded_input():
    with raises(ValueError, "max_pool2d: output height (H + 2P - F)/S + 1 = (5 + 0 - 7)/7 + 1 = 0 < 1",
                "7x7 pool window is larger than the padded 5x5 input", "use padding=1"):
        gl.max_pool2d(X, 7)
    with raises(ValueError, "output width (W + 2P - F)/S + 1 = (2 + 2 - 9)/9 + 1 = 0 < 1", "use padding=4"):
        gl.avg_pool2d(np.zeros((1, 1, 9, 2)), (1, 9), padding=(0, 1))
    with raises(ValueError, "larger than the padded 3x0 input", "use a smaller kernel_size"):
        gl.avg_pool2d(np.zeros((1, 1, 3, 0)), (1, 3))


def test_wrong_ndim_empty_batch_and_dtypes():
    with raises(ValueError, "max_pool2d: x has shape (3, 5, 5) (3-D)", "x[None]"):
        gl.max_pool2d(X[0], 2)
    with raises(ValueError, "avg_pool2d: x has shape (0, 3, 5, 5): the batch is empty"):
        gl.avg_pool2d(np.zeros((0, 3, 5, 5)), 2)
    with raises(ValueError, "no channels (C = 0)"):
        gl.max_pool2d(np.zeros((1, 0, 5, 5)), 2)
    with raises(TypeError, "int64"):
        gl.max_pool2d(X.astype(np.int64), 2)
    with raises(TypeError, "kernel_size must be an int or a tuple of 2 ints"):
        gl.gates.MaxPool2d("3")
