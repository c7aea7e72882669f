"""conv2d and conv1d: values and all gradients against PyTorch (float64 and float32), finite
differences (gradcheck, jvp), threads, the lecture's 1-D example, and every bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import gatelab as gl
from gatelab.gradcheck import jacobians
from conv_oracle import (assert_matches_torch, at_one_and_two_threads, finite_difference_jvp, raises,
                         torch_reference)


def conv_inputs(rng, N, C, H, W, K, FH, FW, groups=1, bias=True, dtype=np.float64):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, FH, FW)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    return x, w, b


def check_conv2d(rng, x, w, b, stride=1, padding=0, dilation=1, groups=1, **tol):
    gate = gl.gates.Conv2d(stride, padding, dilation, groups)
    arrays = [x, w] if b is None else [x, w, b]
    torch_fn = lambda tx, tw, tb=None: F.conv2d(tx, tw, tb, stride, padding, dilation, groups)  # noqa: E731
    return assert_matches_torch(gate, torch_fn, arrays, rng, **tol)


# (N, C, H, W, K, FH, FW, stride, padding, dilation, groups, bias): every edge case named.
CONFIGS = {
    "3x3-pad1": (2, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1, True),
    "stride-doesnt-divide-7-3-3": (2, 2, 7, 7, 3, 3, 3, 3, 0, 1, 1, True),        # (7 - 3) mod 3 = 1
    "stride-doesnt-divide-8-3-2": (2, 3, 8, 9, 2, 3, 3, 2, 0, 1, 1, True),        # (8 - 3) mod 2 = 1
    "stride-doesnt-divide-padded": (1, 2, 6, 6, 2, 3, 3, 3, 1, 1, 1, True),       # (6 + 2 - 3) mod 3 = 2
    "kernel-as-large-as-padded-input": (2, 2, 5, 5, 3, 7, 7, 1, 1, 1, 1, True),   # 5 + 2 - 7 = 0
    "kernel-as-large-as-input": (2, 3, 4, 5, 2, 4, 5, 1, 0, 1, 1, True),
    "batch-of-one": (1, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1, True),
    "groups-2": (2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 2, True),
    "depthwise": (2, 3, 6, 6, 3, 3, 3, 1, 1, 1, 3, True),
    "depthwise-multiplier-2": (2, 3, 5, 5, 6, 3, 3, 2, 1, 1, 3, True),
    "dilation-2": (2, 2, 9, 9, 3, 3, 3, 1, 2, 2, 1, True),
    "dilation-(2,1)-stride-2": (2, 2, 9, 8, 3, 3, 2, 2, 1, (2, 1), 1, True),
    "1x1": (3, 4, 5, 5, 2, 1, 1, 1, 0, 1, 1, True),                                # no unfold
    "1x1-groups-2": (2, 4, 5, 3, 6, 1, 1, 1, 0, 1, 2, True),
    "1x1-stride-2": (2, 3, 5, 5, 2, 1, 1, 2, 0, 1, 1, True),
    "1x1-padded": (2, 3, 4, 4, 2, 1, 1, 1, 1, 1, 1, True),
    "non-square": (2, 3, 5, 9, 4, 2, 4, (1, 2), (0, 1), 1, 1, True),
    "non-square-stride-padding": (2, 2, 8, 6, 3, 3, 1, (3, 2), (1, 0), 1, 1, True),
    "no-bias": (2, 3, 6, 6, 4, 3, 3, 2, 1, 1, 1, False),
    "no-bias-groups-dilation": (2, 4, 8, 8, 4, 2, 2, 1, 1, 2, 2, False),
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_conv2d_matches_torch(config):
    N, C, H, W, K, FH, FW, stride, padding, dilation, groups, bias = config
    rng = np.random.default_rng(abs(hash(config)) % 2**32)
    check_conv2d(rng, *conv_inputs(rng, N, C, H, W, K, FH, FW, groups, bias), stride, padding, dilation, groups)


def test_stride_that_doesnt_divide_leaves_unread_rows_with_zero_gradient():
    # 7 rows, 3x3 kernel, stride 3: windows start at rows 0 and 3, so row 6 is never read.
    rng = np.random.default_rng(0)
    x, w, b = conv_inputs(rng, 1, 1, 7, 7, 1, 3, 3)
    gate = gl.gates.Conv2d(stride=3)
    assert gate.forward(x, w, b).shape == (1, 1, 2, 2)
    dx, dw, db = gate.backward(np.ones((1, 1, 2, 2)))
    assert np.all(dx[..., 6, :] == 0) and np.all(dx[..., :, 6] == 0)
    assert np.all(dx[..., :6, :6] != 0)


def test_conv1d_matches_torch():
    rng = np.random.default_rng(1)
    for (N, C, L, K, Fk, stride, padding, dilation, groups, bias) in [
        (2, 3, 10, 4, 3, 1, 1, 1, 1, True), (1, 2, 9, 2, 3, 2, 0, 1, 1, True),    # (9 - 3) mod 2 = 0
        (2, 2, 8, 3, 3, 3, 0, 1, 1, True),                                          # (8 - 3) mod 3 != 0
        (2, 4, 11, 4, 3, 1, 2, 2, 2, False), (3, 4, 5, 4, 1, 1, 0, 1, 4, True),   # depthwise 1x1
        (2, 2, 4, 2, 6, 1, 1, 1, 1, True),                                          # kernel = padded input
    ]:
        x = rng.standard_normal((N, C, L))
        w = rng.standard_normal((K, C // groups, Fk))
        b = rng.standard_normal(K) if bias else None
        gate = gl.gates.Conv1d(stride, padding, dilation, groups)
        fn = lambda tx, tw, tb=None: F.conv1d(tx, tw, tb, stride, padding, dilation, groups)  # noqa: E731
        assert_matches_torch(gate, fn, [x, w] if b is None else [x, w, b], rng)


def test_lecture_1d_convolution_backprop():
    # seeds/001 "1D Convolution - Backprop": input x1..x4, kernel w1 w2, outputs
    # y1 = w1 x1 + w2 x2, y2 = w1 x2 + w2 x3, y3 = w1 x3 + w2 x4.
    x1, x2, x3, x4 = 1.0, -2.0, 3.0, 0.5
    w1, w2 = 0.25, -1.5
    dy1, dy2, dy3 = 0.3, -0.7, 2.0  # dL/dy, the upstream gradients
    gate = gl.gates.Conv1d()
    y = gate.forward(np.array([[[x1, x2, x3, x4]]]), np.array([[[w1, w2]]]))
    np.testing.assert_allclose(y[0, 0], [w1 * x1 + w2 * x2, w1 * x2 + w2 * x3, w1 * x3 + w2 * x4], rtol=1e-15)
    dx, dw = gate.backward(np.array([[[dy1, dy2, dy3]]]))
    # dL/dw_j = sum_i dL/dy_i * dy_i/dw_j: the lecture's "dL/dw = X * dL/dy".
    np.testing.assert_allclose(dw[0, 0], [dy1 * x1 + dy2 * x2 + dy3 * x3, dy1 * x2 + dy2 * x3 + dy3 * x4], rtol=1e-15)
    np.testing.assert_allclose(dw[0, 0], np.correlate([x1, x2, x3, x4], [dy1, dy2, dy3], "valid"), rtol=1e-15)
    # dL/dx1 = dy1 w1, dL/dx2 = dy1 w2 + dy2 w1, dL/dx3 = dy2 w2 + dy3 w1, dL/dx4 = dy3 w2 ...
    np.testing.assert_allclose(dx[0, 0], [dy1 * w1, dy1 * w2 + dy2 * w1, dy2 * w2 + dy3 * w1, dy3 * w2], rtol=1e-15)
    # ... "the flipped kernel 'full' convolves the upstream gradients".
    full = np.correlate(np.pad([dy1, dy2, dy3], 1), [w2, w1], "valid")
    np.testing.assert_allclose(dx[0, 0], full, rtol=1e-15)


def test_gradcheck_gate_and_graph():
    rng = np.random.default_rng(2)
    x, w, b = conv_inputs(rng, 2, 4, 5, 4, 4, 3, 2, groups=2)
    assert gl.gradcheck(gl.gates.Conv2d(stride=(2, 1), padding=(1, 0), groups=2), [x, w, b])
    x, w, b = conv_inputs(rng, 1, 2, 7, 7, 2, 3, 3)
    assert gl.gradcheck(lambda x, w, b: gl.conv2d(x, w, b, stride=3, dilation=(1, 2), padding=1), [x, w, b])
    x1 = rng.standard_normal((2, 3, 7))
    w1 = rng.standard_normal((3, 1, 3))
    assert gl.gradcheck(lambda x, w: gl.conv1d(x, w, stride=2, padding=2, dilation=2, groups=3), [x1, w1])


def test_conv_relu_pool_network_gradchecks_through_the_graph():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 8, 8))
    w1, b1 = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    w2 = rng.standard_normal((2, 3, 3, 3))

    def net(x, w1, b1, w2):
        h = gl.max_pool2d(gl.relu(gl.conv2d(x, w1, b1, padding=1)), 3, stride=2, padding=1)
        return gl.sum(gl.avg_pool2d(gl.conv2d(h, w2, padding=1, groups=1), 2) * 0.5)

    pairs, _, _ = jacobians(net, [x, w1, b1, w2])
    for analytic, numeric in pairs:
        assert gl.rel_error(analytic, numeric) < 1e-6


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_conv2d_property_random_shapes_and_hyperparameters(data):
    draw = lambda s: data.draw(s)  # noqa: E731
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C, K = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    FH, FW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    # Inputs from "the kernel just fits the padded input" upwards.
    H = max(1, dilation[0] * (FH - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 5))
    W = max(1, dilation[1] * (FW - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 5))
    N, bias = draw(st.integers(1, 3)), draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y, _ = check_conv2d(rng, *conv_inputs(rng, N, C, H, W, K, FH, FW, groups, bias), stride, padding, dilation,
                        groups)
    expected = [(n + 2 * p - d * (f - 1) - 1) // s + 1
                for n, p, d, f, s in zip((H, W), padding, dilation, (FH, FW), stride)]
    assert y.shape == (N, K, *expected)
    assert [gl.conv_output_size(n, f, s, p, d) for n, f, s, p, d in
            zip((H, W), (FH, FW), stride, padding, dilation)] == expected


def test_float32_matches_torch_float32():
    # float32 keeps float32 (never cast). Tolerance: sums of up to ~N·OH·OW = 128 products of
    # N(0,1) values, rounded at 2^-24 relative, land within 1e-4 of PyTorch's own float32 sums.
    rng = np.random.default_rng(4)
    for config in (CONFIGS["3x3-pad1"], CONFIGS["groups-2"], CONFIGS["dilation-(2,1)-stride-2"], CONFIGS["1x1"]):
        N, C, H, W, K, FH, FW, stride, padding, dilation, groups, bias = config
        x, w, b = conv_inputs(rng, N, C, H, W, K, FH, FW, groups, bias, dtype=np.float32)
        check_conv2d(rng, x, w, b, stride, padding, dilation, groups, tol=dict(rtol=1e-4, atol=1e-4))


def test_results_bitwise_equal_at_one_and_two_threads():
    rng = np.random.default_rng(5)
    cases = [  # large enough for the OpenMP path, plus the serial one; N = 13 > 8 weight blocks
        (conv_inputs(rng, 13, 8, 16, 16, 8, 3, 3), dict(padding=1)),
        (conv_inputs(rng, 9, 6, 12, 10, 6, 3, 3, groups=3), dict(stride=2, dilation=(2, 1), groups=3)),
        (conv_inputs(rng, 16, 8, 16, 16, 8, 1, 1, groups=2), dict(groups=2)),  # 1x1: no unfold
        (conv_inputs(rng, 2, 2, 5, 5, 2, 3, 3), dict()),                     # serial
    ]
    for (x, w, b), kw in cases:
        dy = rng.standard_normal(F.conv2d(torch.tensor(x), torch.tensor(w), None, **kw).shape)

        def run():
            gate = gl.gates.Conv2d(**kw)
            y = gate.forward(x, w, b)
            return [y, *gate.backward(dy), gate.jvp(x, w, b)]

        at_one_and_two_threads(run)


def test_jvp_equals_finite_difference_directional_derivative():
    rng = np.random.default_rng(6)
    x, w, b = conv_inputs(rng, 2, 4, 6, 5, 4, 3, 2, groups=2)
    vx, vw, vb = (rng.standard_normal(a.shape) for a in (x, w, b))

    def f(x, w, b):
        return gl.gates.Conv2d(stride=(2, 1), padding=1, groups=2).forward(x, w, b)

    for tangents in ([vx, vw, vb], [vx, None, None], [None, vw, None], [None, None, vb]):
        gate = gl.gates.Conv2d(stride=(2, 1), padding=1, groups=2)
        gate.forward(x, w, b)
        got = gate.jvp(*tangents)
        np.testing.assert_allclose(got, finite_difference_jvp(f, [x, w, b], tangents), rtol=1e-6, atol=1e-7)
    # Through the graph's forward mode, conv1d included.
    g = gl.Graph()
    xn, wn = g.input("x", x[:, :, 0, :]), g.param("w", w[:, :, 0, :])
    y = gl.conv1d(xn, wn, padding=1, groups=2)
    g.forward()
    tangent = g.jvp(y, {xn: vx[:, :, 0, :], wn: vw[:, :, 0, :]})
    fd = finite_difference_jvp(lambda x, w: gl.conv1d(x, w, padding=1, groups=2), [x[:, :, 0, :], w[:, :, 0, :]],
                               [vx[:, :, 0, :], vw[:, :, 0, :]])
    np.testing.assert_allclose(tangent, fd, rtol=1e-6, atol=1e-7)


def test_non_contiguous_inputs_give_right_values():
    rng = np.random.default_rng(7)
    x_big = rng.standard_normal((2, 6, 10, 12))
    x = x_big[:, ::2, 1::2, ::-1]                       # strided, reversed
    w = rng.standard_normal((3, 3, 2, 3)).transpose(0, 1, 3, 2)[..., :2]  # transposed view
    b = rng.standard_normal(6)[::2]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous and not b.flags.c_contiguous
    check_conv2d(rng, x, w, b, stride=1, padding=1)
    y = gl.conv2d(x, w, b, padding=1)
    np.testing.assert_allclose(y, gl.conv2d(*map(np.ascontiguousarray, (x, w, b)), padding=1), rtol=0, atol=0)


def test_nan_propagates_like_torch():
    rng = np.random.default_rng(8)
    x, w, b = conv_inputs(rng, 2, 2, 7, 7, 3, 3, 3)
    x[0, 1, 3, 3] = np.nan
    y = gl.conv2d(x, w, b, stride=2, padding=1)
    ty = F.conv2d(*map(torch.tensor, (x, w, b)), stride=2, padding=1).numpy()
    assert np.isnan(y).any() and not np.isnan(y).all()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty))
    np.testing.assert_allclose(y[~np.isnan(y)], ty[~np.isnan(ty)], rtol=1e-10, atol=1e-12)
    w[1, 0, 0, 0] = np.nan  # a NaN weight meets padding zeros too: 0 * NaN = NaN, as in PyTorch
    y = gl.conv2d(x, w, b, padding=1)
    ty = F.conv2d(*map(torch.tensor, (x, w, b)), padding=1).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty))


def test_graph_use_float32_graph_and_hyperparameter_properties():
    rng = np.random.default_rng(9)
    x, w, b = conv_inputs(rng, 2, 4, 6, 6, 4, 3, 3, groups=2, dtype=np.float32)
    g = gl.Graph()
    xn = g.input("x", x)
    y = gl.conv2d(xn, w, b, stride=(2, 1), padding=(1, 0), dilation=1, groups=2)  # arrays become constants
    assert y.shape == (2, 4, 3, 4) and y.op == "conv2d(stride=(2, 1), padding=(1, 0), groups=2)"
    loss = gl.sum(y)
    g.forward()
    g.backward(loss)
    assert xn.grad.dtype == np.float32
    _, (tdx, _, _) = torch_reference(lambda a, c, d: F.conv2d(a, c, d, (2, 1), (1, 0), 1, 2), [x, w, b],
                                     np.ones((2, 4, 3, 4), np.float32))
    np.testing.assert_allclose(xn.grad, tdx, rtol=1e-5, atol=1e-5)
    gate = gl.gates.Conv2d(stride=(2, 1), padding=3, dilation=(1, 2), groups=2)
    assert (gate.stride, gate.padding, gate.dilation, gate.groups) == ((2, 1), (3, 3), (1, 2), 2)
    with pytest.raises(AttributeError):
        gate.stride = 1
    c1 = gl.gates.Conv1d(stride=2, padding=(1,))
    assert (c1.stride, c1.padding, c1.dilation, c1.groups) == ((2,), (1,), (1,), 1)
    assert np.asarray(gl.conv1d(rng.standard_normal((1, 1, 5)), np.ones((1, 1, 2)))).shape == (1, 1, 4)


# ---- bad input: one clear exception each ------------------------------------------------------------

X = np.zeros((2, 3, 5, 5))
W3 = np.zeros((4, 3, 3, 3))


def test_kernel_larger_than_padded_input():
    with raises(ValueError, "conv2d: output height (H + 2P - F)/S + 1 = (5 + 0 - 7)/1 + 1 = -1 < 1",
                "7x7 kernel is larger than the padded 5x5 input", "padding >= 1"):
        gl.conv2d(X, np.zeros((4, 3, 7, 7)))
    with raises(ValueError, "(H + 2P - D(F-1) - 1)/S + 1 = (5 + 0 - 6 - 1)/1 + 1 = -1 < 1", "dilation=3"):
        gl.conv2d(X, W3, dilation=3)
    with raises(ValueError, "conv1d: output length (L + 2P - F)/S + 1", "padding >= 2"):
        gl.conv1d(np.zeros((1, 1, 3)), np.zeros((1, 1, 7)))


def test_channel_mismatch():
    with raises(ValueError, "x has C=3 channels", "w.shape[1] * groups = 2 * 1 = 2", "(4, 3, 3, 3)"):
        gl.conv2d(X, np.zeros((4, 2, 3, 3)))


def test_groups_must_divide_channels_and_filters():
    with raises(ValueError, "groups=2 must divide the input channels C=3"):
        gl.conv2d(X, np.zeros((4, 1, 3, 3)), groups=2)
    with raises(ValueError, "groups=2 must divide the number of filters K=3"):
        gl.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2)
    with raises(ValueError, "groups must be >= 1, got 0"):
        gl.gates.Conv2d(groups=0)


def test_negative_padding():
    with raises(ValueError, "conv2d: padding must be >= 0, got -1"):
        gl.conv2d(X, W3, padding=(0, -1))


def test_zero_or_negative_stride():
    with raises(ValueError, "conv2d: stride must be >= 1, got 0"):
        gl.conv2d(X, W3, stride=0)
    with raises(ValueError, "conv1d: stride must be >= 1, got -2"):
        gl.gates.Conv1d(stride=-2)


def test_zero_dilation():
    with raises(ValueError, "conv2d: dilation must be >= 1, got 0"):
        gl.conv2d(X, W3, dilation=0)


def test_wrong_ndim():
    with raises(ValueError, "x has shape (3, 5, 5) (3-D)", "(N, C, H, W), 4-D", "x[None]"):
        gl.conv2d(X[0], W3)
    with raises(ValueError, "w has shape (4, 3, 3) (3-D)", "(K, C/groups, FH, FW)"):
        gl.conv2d(X, W3[..., 0])
    with raises(ValueError, "conv1d: x has shape (2, 3, 5, 5) (4-D)", "(N, C, L), 3-D"):
        gl.conv1d(X, W3)


def test_bias_shape():
    with raises(ValueError, "b has shape (3,)", "b must be (4,)"):
        gl.conv2d(X, W3, np.zeros(3))
    with raises(ValueError, "b has shape (4, 1)"):
        gl.conv2d(X, W3, np.zeros((4, 1)))


def test_empty_batch_and_empty_dimensions():
    with raises(ValueError, "the batch is empty (N = 0)"):
        gl.conv2d(np.zeros((0, 3, 5, 5)), W3)
    with raises(ValueError, "no filters (K = 0)"):
        gl.conv2d(X, np.zeros((0, 3, 3, 3)))


def test_dtype_mismatch_and_integer_input():
    with raises(TypeError, "inputs mix float64 and float32"):
        gl.conv2d(X, W3.astype(np.float32))
    with raises(TypeError, "int64"):
        gl.conv2d(X.astype(np.int64), W3.astype(np.int64))
    with raises(TypeError, "int32"):
        gl.conv2d(X.astype(np.int32), W3)


def test_wrong_number_of_inputs_and_bad_hyperparameter_types():
    with raises(TypeError, "takes x and w, or x, w and b"):
        gl.gates.Conv2d().forward(X)
    with raises(ValueError, "stride (1, 2, 3) has 3 entries"):
        gl.gates.Conv2d(stride=(1, 2, 3))
    with raises(TypeError, "padding must be an int or a tuple of 2 ints, got 1.5"):
        gl.gates.Conv2d(padding=1.5)


def test_graph_reports_bad_shapes_when_the_node_is_built():
    g = gl.Graph()
    x = g.input("x", shape=(None, 3, 5, 5))  # batch size free: checked at forward
    w = g.param("w", np.zeros((4, 2, 3, 3)))
    y = gl.conv2d(x, w)
    with raises(ValueError, "x has C=3 channels"):
        g.forward({"x": np.zeros((2, 3, 5, 5))})
    g2 = gl.Graph()
    with raises(ValueError, "7x7 kernel is larger than the padded 5x5 input"):
        gl.conv2d(g2.input("x", X), np.zeros((1, 3, 7, 7)))
    del y


def test_conv_output_size_explains_itself():
    assert gl.conv_output_size(7, 3, stride=2) == 3
    assert gl.conv_output_size(7, 3, stride=3) == 2  # floor: the last row is dropped
    assert gl.conv_output_size(32, 5, padding=2) == 32
    assert gl.conv_output_size(9, 3, dilation=2, stride=2, padding=1) == 4
    with raises(ValueError, "conv2d: (H + 2P - F)/S + 1 = (7 + 0 - 3)/3 + 1 is not an integer; try padding=1"):
        gl.conv_output_size(7, 3, stride=3, exact=True)
    suggested = gl.conv_output_size(7, 3, stride=3, padding=1, exact=True)  # the suggestion works
    assert suggested == 3
    with raises(ValueError, "(W + 2P - F)/S + 1 = (8 + 0 - 3)/2 + 1 is not an integer; try stride=1"):
        gl.conv_output_size(8, 3, stride=2, exact=True, axis="W")  # parity: no padding can fix it
    with raises(ValueError, "= 0 < 1", "larger than the padded input of size 2"):
        gl.conv_output_size(2, 3)


def test_openblas_runs_inside_the_openmp_team_without_warnings():
    # The OpenMP build of OpenBLAS sees omp_in_parallel() and runs each GEMM on the calling
    # thread: no second layer of threads inside the batch loop (a pthreads OpenBLAS would start
    # its own, or print "OpenBLAS Warning : Detect OpenMP Loop and this application may hang").
    info = gl.build_info()
    assert "USE_OPENMP" in info["blas_config"] and info["blas_threading"] == "openmp"
    script = ("import numpy as np, gatelab as gl\n"
              "gl.set_num_threads(2)\n"
              "x = np.random.default_rng(0).standard_normal((16, 8, 24, 24)); w = np.ones((8, 8, 3, 3))\n"
              "g = gl.gates.Conv2d(padding=1); y = g.forward(x, w); g.backward(np.ones(y.shape))\n"
              "print('ok')\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    assert "OpenBLAS" not in run.stderr and "Warning" not in run.stderr, run.stderr
