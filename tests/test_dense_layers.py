"""The course's dense layer functions (gl.layers) against a NumPy reference written here from
CS231n's formulas, and against finite differences the way the course's notebooks check them
(numerical_gradient_array / rel_error).

Tolerances: reference vs gatelab rtol 1e-12 / atol 1e-13 (float64; only summation order
differs); finite differences: rel_error < 1e-7 (central differences, h = 1e-5).
"""

import numpy as np
import pytest

import gatelab as gl
from gatelab import layers

REF = dict(rtol=1e-12, atol=1e-13)



# ---- NumPy reference: the CS231n formulas ------------------------------------------------------

def ref_affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


def ref_affine_backward(dout, x, w):
    n = x.shape[0]
    return (dout @ w.T).reshape(x.shape), x.reshape(n, -1).T @ dout, dout.sum(axis=0)


def ref_relu_forward(x):
    return np.maximum(0, x)


def ref_relu_backward(dout, x):
    return dout * (x > 0)


def ref_softmax_loss(x, y):
    n = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].mean(), dx / n


def ref_svm_loss(x, y):
    n = x.shape[0]
    correct = x[np.arange(n), y]
    margins = np.maximum(0, x - correct[:, None] + 1.0)
    margins[np.arange(n), y] = 0
    num_pos = (margins > 0).sum(axis=1)
    dx = (margins > 0).astype(x.dtype)
    dx[np.arange(n), y] -= num_pos
    return margins.sum() / n, dx / n


# ---- affine ------------------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,m", [((2, 4, 5, 6), 3), ((1, 7), 4), ((10, 3), 1), ((3, 2, 2), 5)])
def test_affine_forward_and_backward_match_reference(x_shape, m, rng):
    d = int(np.prod(x_shape[1:]))
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((d, m)), rng.standard_normal(m)
    out, cache = layers.affine_forward(x, w, b)
    np.testing.assert_allclose(out, ref_affine_forward(x, w, b), **REF)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.affine_backward(dout, cache)
    for ours, ref in zip((dx, dw, db), ref_affine_backward(dout, x, w)):
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, **REF)


def test_affine_against_numerical_gradients(rng):
    # The course's check: numerical_gradient_array of the forward pass vs affine_backward.
    x, w, b = rng.standard_normal((10, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    _, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache)
    dx_num = gl.numerical_gradient_array(lambda _: layers.affine_forward(x, w, b)[0], x, dout)
    dw_num = gl.numerical_gradient_array(lambda _: layers.affine_forward(x, w, b)[0], w, dout)
    db_num = gl.numerical_gradient_array(lambda _: layers.affine_forward(x, w, b)[0], b, dout)
    assert gl.rel_error(dx, dx_num) < 1e-7
    assert gl.rel_error(dw, dw_num) < 1e-7
    assert gl.rel_error(db, db_num) < 1e-7


def test_affine_cache_is_the_course_tuple(rng):
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    out, cache = layers.affine_forward(x, w, b)
    cx, cw, cb = cache
    assert cx is x and cw is w and cb is b
    # A cache built by hand (as some assignments do) works too.
    dout = rng.standard_normal((2, 4))
    for ours, ref in zip(layers.affine_backward(dout, (x, w, b)), layers.affine_backward(dout, cache)):
        np.testing.assert_array_equal(ours, ref)


def test_layer_outputs_are_ordinary_writable_arrays(rng):
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    out, cache = layers.affine_forward(x, w, b)
    out[0, 0] = 1.0  # student code edits results in place
    dx, dw, db = layers.affine_backward(np.ones((2, 4)), cache)
    dx += 1.0
    relu_out, _ = layers.relu_forward(x)
    relu_out *= 2
    loss, dscores = layers.softmax_loss(x, np.array([0, 2]))
    dscores[:] = 0
    assert isinstance(loss, float)


def test_affine_noncontiguous_and_dtype_errors(rng):
    x = rng.standard_normal((4, 6))[:, ::2]
    w, b = rng.standard_normal((3, 2)), rng.standard_normal(2)
    out, _ = layers.affine_forward(x, w, b)
    np.testing.assert_allclose(out, ref_affine_forward(x, w, b), **REF)
    with pytest.raises(TypeError, match="never casts"):
        layers.affine_forward(x.astype(np.float32), w, b)
    with pytest.raises(ValueError, match="w needs 3 rows"):
        layers.affine_forward(x, rng.standard_normal((4, 2)), b)


# ---- relu --------------------------------------------------------------------------------------

def test_relu_forward_and_backward_match_reference(rng):
    x = rng.standard_normal((3, 4, 5))
    x[0, 0, :2] = 0.0  # the kink: gradient 0 there, as in the course
    out, cache = layers.relu_forward(x)
    assert cache is x
    np.testing.assert_array_equal(out, ref_relu_forward(x))
    dout = rng.standard_normal(x.shape)
    dx = layers.relu_backward(dout, cache)
    np.testing.assert_array_equal(dx, ref_relu_backward(dout, x))


def test_relu_against_numerical_gradients(rng):
    x = rng.standard_normal((10, 10))
    dout = rng.standard_normal((10, 10))
    dx = layers.relu_backward(dout, layers.relu_forward(x)[1])
    dx_num = gl.numerical_gradient_array(lambda _: layers.relu_forward(x)[0], x, dout)
    assert gl.rel_error(dx, dx_num) < 1e-7


# ---- softmax and svm losses ------------------------------------------------------------------

@pytest.mark.parametrize("n,c", [(1, 3), (50, 10), (7, 2)])
def test_losses_match_reference(n, c, rng):
    x, y = 0.5 * rng.standard_normal((n, c)), rng.integers(0, c, n)
    for ours, ref in [(layers.softmax_loss, ref_softmax_loss), (layers.svm_loss, ref_svm_loss)]:
        loss, dx = ours(x, y)
        ref_loss, ref_dx = ref(x, y)
        np.testing.assert_allclose(loss, ref_loss, **REF)
        np.testing.assert_allclose(dx, ref_dx, **REF)


def test_losses_against_numerical_gradients(rng):
    # The course's sanity checks: softmax loss of tiny scores is about log(C); the gradients
    # agree with finite differences.
    n, c = 50, 10
    x, y = 0.001 * rng.standard_normal((n, c)), rng.integers(0, c, n)
    loss, dx = layers.softmax_loss(x, y)
    assert abs(loss - np.log(c)) < 1e-3
    dx_num = gl.numerical_gradient(lambda _: layers.softmax_loss(x, y)[0], x)
    assert gl.rel_error(dx, dx_num) < 1e-7
    loss, dx = layers.svm_loss(x, y)
    assert abs(loss - (c - 1)) < 0.05  # every margin is about 1
    dx_num = gl.numerical_gradient(lambda _: layers.svm_loss(x, y)[0], x)
    assert gl.rel_error(dx, dx_num) < 1e-7


def test_losses_accept_integer_labels_of_any_width_and_report_bad_ones(rng):
    x = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    expected = layers.softmax_loss(x, y)[0]
    assert layers.softmax_loss(x, y.astype(np.int32))[0] == expected
    assert layers.softmax_loss(x, [0, 2, 1, 2])[0] == expected
    with pytest.raises(ValueError, match="label 3 in row 1 is out of range for 3 classes"):
        layers.svm_loss(x, [0, 3, 1, 2])
    with pytest.raises(TypeError, match=r"y\.astype\(np\.int64\)"):
        layers.softmax_loss(x, y.astype(float))


def test_two_layer_net_built_from_layer_functions(rng):
    # affine - relu - affine - softmax, the course's TwoLayerNet, against the reference formulas.
    n, d, h, c = 5, 6, 7, 3
    x, y = rng.standard_normal((n, d)), rng.integers(0, c, n)
    w1, b1 = rng.standard_normal((d, h)), rng.standard_normal(h)
    w2, b2 = rng.standard_normal((h, c)), rng.standard_normal(c)
    a1, cache1 = layers.affine_forward(x, w1, b1)
    r1, cache_r = layers.relu_forward(a1)
    scores, cache2 = layers.affine_forward(r1, w2, b2)
    loss, dscores = layers.softmax_loss(scores, y)
    dr1, dw2, db2 = layers.affine_backward(dscores, cache2)
    dx, dw1, db1 = layers.affine_backward(layers.relu_backward(dr1, cache_r), cache1)

    ref_a1 = ref_affine_forward(x, w1, b1)
    ref_r1 = ref_relu_forward(ref_a1)
    ref_loss, ref_dscores = ref_softmax_loss(ref_affine_forward(ref_r1, w2, b2), y)
    ref_dr1, ref_dw2, ref_db2 = ref_affine_backward(ref_dscores, ref_r1, w2)
    ref_dx, ref_dw1, ref_db1 = ref_affine_backward(ref_relu_backward(ref_dr1, ref_a1), x, w1)
    np.testing.assert_allclose(loss, ref_loss, **REF)
    for ours, ref in zip((dx, dw1, db1, dw2, db2), (ref_dx, ref_dw1, ref_db1, ref_dw2, ref_db2)):
        np.testing.assert_allclose(ours, ref, **REF)
