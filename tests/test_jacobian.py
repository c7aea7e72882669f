"""Explicit Jacobians (reverse and forward mode), J^T · upstream = backward, and their memory.

Agreement between modes is checked on random graphs in test_forward_mode.py; here: the API,
array outputs, lists of inputs, intermediate nodes, the VJP demonstration and the memory report.
"""

import numpy as np
import pytest

import gatelab as gl
from random_graphs import finite_difference_jacobian


def elementwise_layer():
    """y = tanh(x * w + b) summed over nothing: a small array -> array map, J is diagonal."""
    g = gl.Graph()
    x = g.input("x", np.array([0.3, -1.2, 0.8]))
    w = g.param("w", np.array([1.5, 0.4, -2.0]))
    b = g.param("b", np.array([0.1, 0.0, -0.3]))
    y = gl.tanh(x * w + b)
    g.forward()
    return g, x, w, b, y


def test_array_output_jacobian_shapes_and_values():
    g, x, w, b, y = elementwise_layer()
    Jx, Jw = g.jacobian(y, [x, w])
    assert Jx.shape == (3, 3) and Jw.shape == (3, 3)
    d = 1 - np.tanh(x.value * w.value + b.value) ** 2
    np.testing.assert_allclose(Jx, np.diag(d * w.value), rtol=1e-14)
    np.testing.assert_allclose(Jw, np.diag(d * x.value), rtol=1e-14)
    np.testing.assert_allclose(g.jacobian(y, w, mode="forward"), Jw, rtol=1e-14)
    np.testing.assert_allclose(Jx, finite_difference_jacobian(g, y, x), rtol=1e-7)


def test_broadcast_and_reduction_jacobian():
    g = gl.Graph()
    x = g.input("x", np.arange(6.0).reshape(2, 3) / 5)
    s = g.param("s", 0.7)                          # a scalar broadcast over x
    y = gl.mean(gl.sin(x * s), axis=1)             # (2,)
    g.forward()
    Jx, Js = g.jacobian(y, [x, s])
    assert Jx.shape == (2, 6) and Js.shape == (2, 1)
    np.testing.assert_allclose(Js, g.jacobian(y, s, mode="forward"), rtol=1e-13)
    np.testing.assert_allclose(Jx, finite_difference_jacobian(g, y, x), rtol=1e-7, atol=1e-10)
    # row 0 depends only on x's first row
    assert np.all(Jx[0, 3:] == 0) and np.all(Jx[1, :3] == 0)


def test_jacobian_with_respect_to_an_intermediate_node():
    g, y = gl.lecture_example()
    v4 = g["v4"]
    assert g.jacobian(y, v4)[0, 0] == pytest.approx(1.0)
    assert g.jacobian(y, g["v3"])[0, 0] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="forward mode seeds leaves"):
        g.jacobian(y, v4, mode="forward")
    with pytest.raises(ValueError, match="mode"):
        g.jacobian(y, v4, mode="sideways")


def test_lecture_jacobian_is_the_gradient_row():
    g, y = gl.lecture_example()
    J = np.hstack(g.jacobian(y, [g["x1"], g["x2"]]))
    np.testing.assert_allclose(J, [[5.5, 2 - np.cos(5.0)]], rtol=1e-14)
    np.testing.assert_allclose(np.hstack(g.jacobian(y, [g["x1"], g["x2"]], mode="forward")), J, rtol=1e-14)


def test_check_vjp_shows_jt_upstream_equals_backward():
    g, x, w, b, y = elementwise_layer()
    check = g.check_vjp(y, w)
    assert check.match and check.max_abs_difference < 1e-14
    np.testing.assert_allclose(check.jt_upstream, check.jacobian.T @ check.upstream, rtol=1e-14)
    text = str(check)
    assert "3 x 3 = 9 entries" in text and "without forming J" in text
    given = g.check_vjp(y, x, upstream=np.array([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(given.backward, given.jacobian.T @ np.array([1.0, -2.0, 0.5]), rtol=1e-14)
    with pytest.raises(ValueError, match="upstream"):
        g.check_vjp(y, x, upstream=np.ones(4))


def test_jacobian_memory_for_a_conv_layer_on_a_cifar_batch():
    report = gl.conv2d_jacobian_memory((64, 3, 32, 32), (16, 3, 3, 3), padding=1)
    assert report.output_shape == (64, 16, 32, 32)
    jx = report["x"]
    out_size, in_size = 64 * 16 * 32 * 32, 64 * 3 * 32 * 32
    assert jx.entries == out_size * in_size
    assert jx.jacobian_bytes == 8 * out_size * in_size            # ~1.65 TB in float64
    assert jx.vjp_bytes == 8 * (out_size + in_size)
    assert jx.ratio > 1e5
    assert report["w"].entries == out_size * 16 * 3 * 3 * 3
    text = str(report)
    assert "1.65 TB" in text and "d out / d w" in text and "d out / d b" in text
    f32 = gl.conv2d_jacobian_memory((64, 3, 32, 32), (16, 3, 3, 3), padding=1, dtype=np.float32)
    assert f32["x"].jacobian_bytes * 2 == jx.jacobian_bytes
    strided = gl.conv2d_jacobian_memory((1, 4, 7, 7), (2, 2, 3, 3), stride=2, groups=2, bias=False)
    assert strided.output_shape == (1, 2, 3, 3) and set(strided.parts) == {"x", "w"}
    with pytest.raises(ValueError, match="groups"):
        gl.conv2d_jacobian_memory((1, 3, 8, 8), (2, 2, 3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        gl.conv2d_jacobian_memory((1, 3, 2, 2), (2, 3, 5, 5))


def test_jacobian_memory_from_shapes_or_nodes():
    g, x, w, b, y = elementwise_layer()
    m = gl.jacobian_memory(y, x)
    assert (m.output_shape, m.wrt_shape, m.entries) == ((3,), (3,), 9)
    assert gl.jacobian_memory((1000,), (784, 1000)).jacobian_bytes == 1000 * 784 * 1000 * 8
