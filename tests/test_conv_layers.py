"""gatelab.layers: the course's conv / max-pool layer API (CS231n convention), checked the way the
course's notebook checks it (its fixtures, numerical gradients, rel_error) and against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gatelab as gl
from gatelab import layers
from conv_oracle import raises, torch_reference


def test_conv_forward_reproduces_the_course_notebook():
    # CS231n assignment 2, ConvolutionalNetworks.ipynb, "Convolution: Naive forward pass";
    # the notebook expects a difference around 1e-8 (its numbers carry 8 decimals).
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = layers.conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    correct_out = np.array([[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                             [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                             [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
                            [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                             [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                             [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])
    assert gl.rel_error(out, correct_out) < 1e-7


def test_max_pool_forward_reproduces_the_course_notebook():
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    out, _ = layers.max_pool_forward_naive(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
    correct_out = np.array([[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                             [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                             [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
                            [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                             [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                             [[0.32631579, 0.34105263], [0.38526316, 0.4]]]])
    assert gl.rel_error(out, correct_out) < 1e-7


def test_conv_backward_against_numerical_gradients_like_the_notebook():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5, 5))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    dout = rng.standard_normal((4, 2, 5, 5))
    conv_param = {"stride": 1, "pad": 1}
    dx_num = gl.numerical_gradient_array(lambda x: layers.conv_forward(x, w, b, conv_param)[0], x, dout)
    dw_num = gl.numerical_gradient_array(lambda w: layers.conv_forward(x, w, b, conv_param)[0], w, dout)
    db_num = gl.numerical_gradient_array(lambda b: layers.conv_forward(x, w, b, conv_param)[0], b, dout)
    out, cache = layers.conv_forward(x, w, b, conv_param)
    dx, dw, db = layers.conv_backward(dout, cache)
    assert gl.rel_error(dx, dx_num) < 1e-8
    assert gl.rel_error(dw, dw_num) < 1e-8
    assert gl.rel_error(db, db_num) < 1e-8


def test_max_pool_backward_against_numerical_gradients_like_the_notebook():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 8, 8))
    dout = rng.standard_normal((3, 2, 4, 4))
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dx_num = gl.numerical_gradient_array(lambda x: layers.max_pool_forward(x, pool_param)[0], x, dout)
    _, cache = layers.max_pool_forward(x, pool_param)
    assert gl.rel_error(layers.max_pool_backward(dout, cache), dx_num) < 1e-8


def test_layers_match_torch_on_strided_and_overlapping_configurations():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    out, cache = layers.conv_forward(x, w, b, {"stride": 2, "pad": 1})       # (9 + 2 - 3) and (7 + 2 - 3) even
    dout = rng.standard_normal(out.shape)
    ty, tgrads = torch_reference(lambda a, c, d: F.conv2d(a, c, d, 2, 1), [x, w, b], dout)
    np.testing.assert_allclose(out, ty, rtol=1e-10, atol=1e-12)
    for got, want in zip(layers.conv_backward(dout, cache), tgrads):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # Overlapping 3x3 pools at stride 1 and 2; the floor drops the rows that don't fit, as the
    # course's naive layer does (H' = 1 + (H - pool_height) // stride).
    for stride in (1, 2):
        pool_param = {"pool_height": 3, "pool_width": 2, "stride": stride}
        out, cache = layers.max_pool_forward(x, pool_param)
        assert out.shape == (2, 3, 1 + (9 - 3) // stride, 1 + (7 - 2) // stride)
        dout = rng.standard_normal(out.shape)
        ty, (tdx,) = torch_reference(lambda a: F.max_pool2d(a, (3, 2), stride), [x], dout)
        np.testing.assert_allclose(out, ty, rtol=0, atol=0)
        np.testing.assert_allclose(layers.max_pool_backward(dout, cache), tdx, rtol=1e-12, atol=1e-12)


def test_course_names_are_the_same_layers():
    assert layers.conv_forward_fast is layers.conv_forward_naive is layers.conv_forward
    assert layers.conv_backward_fast is layers.conv_backward_im2col is layers.conv_backward
    assert layers.conv_forward_strides is layers.conv_forward and layers.conv_backward_strides is layers.conv_backward
    assert layers.max_pool_forward_fast is layers.max_pool_forward_reshape is layers.max_pool_forward
    assert layers.max_pool_backward_naive is layers.max_pool_backward_im2col is layers.max_pool_backward
    for name in layers.conv_layers.__all__:
        assert getattr(gl.layers, name) is getattr(layers.conv_layers, name)


def test_cache_unpacks_like_the_course_tuple_and_arrays_are_the_callers():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = layers.conv_forward(x, w, b, conv_param)
    cx, cw, cb, cparam = cache
    assert cx is x and cw is w and cb is b and cparam is conv_param
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.conv_backward(dout, cache)
    out[...] = 0.0  # writable, and owned by the caller: backward doesn't depend on it
    dx[...] = 0.0
    dx2, dw2, db2 = layers.conv_backward(dout, cache)
    np.testing.assert_array_equal(dw, dw2)
    assert np.any(dx2 != 0)
    pooled, pcache = layers.max_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    px, pparam = pcache
    assert px is x and pparam["stride"] == 2
    pooled[...] = 1.0
    assert layers.max_pool_backward(np.ones_like(pooled), pcache).flags.writeable


def test_conv_forward_requires_exact_tiling_and_says_how_to_get_it():
    x, w, b = np.zeros((1, 1, 7, 7)), np.zeros((1, 1, 3, 3)), np.zeros(1)
    with raises(ValueError, "conv_forward: (H + 2P - F)/S + 1 = (7 + 0 - 3)/3 + 1 is not an integer; try padding=1"):
        layers.conv_forward(x, w, b, {"stride": 3, "pad": 0})
    out, _ = layers.conv_forward(x, w, b, {"stride": 3, "pad": 1})  # the suggestion works
    assert out.shape == (1, 1, 3, 3)
    with raises(ValueError, "conv_forward: (W + 2P - F)/S + 1 = (6 + 2 - 3)/2 + 1 is not an integer"):
        layers.conv_forward(np.zeros((1, 1, 7, 6)), w, b, {"stride": 2, "pad": 1})
    assert np.asarray(gl.conv2d(x, w, b, stride=3)).shape == (1, 1, 2, 2)  # gl.conv2d floors, as PyTorch


def test_layer_bad_inputs():
    x, w, b = np.zeros((1, 3, 6, 6)), np.zeros((2, 3, 3, 3)), np.zeros(2)
    with raises(ValueError, "x has C=3 channels but w (2, 2, 3, 3)"):
        layers.conv_forward(x, np.zeros((2, 2, 3, 3)), b, {"stride": 1, "pad": 1})
    with raises(ValueError, "kernel of size 7 is larger than the padded input of size 6"):
        layers.conv_forward(x, np.zeros((2, 3, 7, 7)), b, {"stride": 1, "pad": 0})
    with raises(TypeError, "conv_param['stride'] must be an int or an (h, w) pair"):
        layers.conv_forward(x, w, b, {"stride": "1", "pad": 1})
    with raises(KeyError, "pool_param needs 'pool_height', 'pool_width' and 'stride'"):
        layers.max_pool_forward(x, {"pool_height": 2, "stride": 2})
    _, pool_cache = layers.max_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    with raises(TypeError, "conv_backward: cache must be the one returned by the matching forward"):
        layers.conv_backward(np.zeros((1, 3, 3, 3)), pool_cache)
    with raises(TypeError, "max_pool_backward: cache must be"):
        layers.max_pool_backward(np.zeros((1, 3, 3, 3)), (x, {}))
    _, cache = layers.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    with raises(ValueError, "dout has shape (1, 2, 5, 5) but the output has shape (1, 2, 6, 6)"):
        layers.conv_backward(np.zeros((1, 2, 5, 5)), cache)


def test_float32_layers_keep_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    out, cache = layers.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    assert out.dtype == np.float32
    ty = F.conv2d(*map(torch.tensor, (x, w, b)), stride=1, padding=1).numpy()
    np.testing.assert_allclose(out, ty, rtol=1e-5, atol=1e-5)
    assert all(g.dtype == np.float32 for g in layers.conv_backward(np.ones_like(out), cache))
    with pytest.raises(TypeError):
        layers.conv_forward(x, w.astype(np.float64), b, {"stride": 1, "pad": 1})
