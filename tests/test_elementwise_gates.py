"""Every element-wise and reduction gate against PyTorch (float64 and float32) and against
finite differences, in a graph and standalone.

Tolerances: float64 values and gradients agree with PyTorch to rtol 1e-12 (libm vs SLEEF
rounding); float32 to rtol 1e-5; finite-difference checks use gl.gradcheck's torch-compatible
defaults (eps 1e-6, atol 1e-5, rtol 1e-3) and CS231n's relative error < 1e-7 away from kinks.
"""

import numpy as np
import pytest
import torch

import gatelab as gl

F = torch.nn.functional


def away_from(x, points, margin=0.05):
    """Pushes samples away from kinks and poles so finite differences stay on one side."""
    for p in points:
        near = np.abs(x - p) < margin
        x = np.where(near, p + np.sign(x - p + 1e-12) * margin * 2, x)
    return x


# name: (gatelab function, torch function, sampler(rng, shape))
UNARY = {
    "negate": (gl.negate, torch.neg, lambda r, s: r.normal(size=s)),
    "exp": (gl.exp, torch.exp, lambda r, s: r.normal(size=s)),
    "log": (gl.log, torch.log, lambda r, s: r.uniform(0.2, 3.0, size=s)),
    "reciprocal": (gl.reciprocal, torch.reciprocal, lambda r, s: away_from(r.normal(size=s), [0.0], 0.2)),
    "sin": (gl.sin, torch.sin, lambda r, s: r.normal(size=s) * 3),
    "cos": (gl.cos, torch.cos, lambda r, s: r.normal(size=s) * 3),
    "sigmoid": (gl.sigmoid, torch.sigmoid, lambda r, s: r.normal(size=s) * 4),
    "tanh": (gl.tanh, torch.tanh, lambda r, s: r.normal(size=s) * 2),
    "relu": (gl.relu, torch.relu, lambda r, s: away_from(r.normal(size=s), [0.0])),
    "leaky_relu": (lambda x: gl.leaky_relu(x, 0.1), lambda x: F.leaky_relu(x, 0.1),
                   lambda r, s: away_from(r.normal(size=s), [0.0])),
    "elu": (lambda x: gl.elu(x, 0.7), lambda x: F.elu(x, 0.7), lambda r, s: away_from(r.normal(size=s), [0.0])),
    "softplus": (gl.softplus, F.softplus, lambda r, s: r.normal(size=s) * 5),
    "softplus_beta2": (lambda x: gl.softplus(x, beta=2.0, threshold=5.0), lambda x: F.softplus(x, 2.0, 5.0),
                       lambda r, s: away_from(r.normal(size=s) * 4, [2.5])),
    "power_2": (lambda x: x ** 2 if isinstance(x, gl.Node) else gl.power(x, 2), lambda x: x ** 2,
                lambda r, s: r.normal(size=s)),
    "power_3": (lambda x: gl.power(x, 3), lambda x: x ** 3, lambda r, s: r.normal(size=s)),
    "power_half": (lambda x: gl.power(x, 0.5), lambda x: x ** 0.5, lambda r, s: r.uniform(0.3, 3, size=s)),
    "power_neg": (lambda x: gl.power(x, -1.5), lambda x: x ** -1.5, lambda r, s: r.uniform(0.3, 3, size=s)),
    "power_zero": (lambda x: gl.power(x, 0), lambda x: x ** 0, lambda r, s: r.normal(size=s)),
}

BINARY = {
    "add": (lambda a, b: a + b, torch.add, None),
    "subtract": (lambda a, b: a - b, torch.sub, None),
    "multiply": (lambda a, b: a * b, torch.mul, None),
    "divide": (lambda a, b: a / b, torch.div, "b_away_from_zero"),
    "maximum": (gl.maximum, torch.maximum, "no_ties"),
}

SHAPES = [(), (7,), (3, 4), (2, 3, 5)]
BROADCASTS = [((3, 4), ()), ((), (3, 4)), ((3, 4), (4,)), ((2, 1, 5), (3, 1)), ((4, 1), (1, 6))]


def torch_unary(fn, x, dout):
    t = torch.tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(torch.tensor(dout))
    return y.detach().numpy(), t.grad.numpy()


def graph_unary(fn, x, dout):
    g = gl.Graph()
    xn = g.input("x", x)
    y = fn(xn)
    g.forward()
    g.backward(y, grad=dout)
    return np.asarray(y.value), np.asarray(xn.grad)


def tol(dtype):
    return dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gate_matches_torch(name, shape, dtype, rng):
    fn, tfn, sample = UNARY[name]
    x = np.asarray(sample(rng, shape), dtype=dtype)
    dout = np.asarray(rng.normal(size=shape), dtype=dtype)
    value, grad = graph_unary(fn, x, dout)
    t_value, t_grad = torch_unary(tfn, x, dout)
    assert value.dtype == dtype and grad.dtype == dtype  # float32 stays float32
    np.testing.assert_allclose(value, t_value, **tol(dtype))
    np.testing.assert_allclose(grad, t_grad, **tol(dtype))


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gate_gradchecks(name, rng):
    fn, _, sample = UNARY[name]
    x = np.asarray(sample(rng, (3, 4)), dtype=np.float64)
    assert gl.gradcheck(lambda n: fn(n), [x])
    # CS231n's criterion on the upstream-weighted gradient.
    dout = rng.normal(size=x.shape)
    _, grad = graph_unary(fn, x, dout)
    numeric = gl.numerical_gradient_array(lambda: np.asarray(fn(x)), x, dout)
    assert gl.rel_error(grad, numeric) < 1e-7


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shapes", BROADCASTS + [((3, 4), (3, 4)), ((), ())])
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gate_matches_torch_with_broadcasting(name, shapes, dtype, rng):
    fn, tfn, care = BINARY[name]
    a = rng.normal(size=shapes[0]).astype(dtype)
    b = rng.normal(size=shapes[1]).astype(dtype)
    if care == "b_away_from_zero":
        b = away_from(b, [0.0], 0.3).astype(dtype)
    g = gl.Graph()
    an, bn = g.input("a", a), g.input("b", b)
    y = fn(an, bn)
    g.forward()
    dout = rng.normal(size=np.shape(y.value)).astype(dtype)
    g.backward(y, grad=dout)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = tfn(ta, tb)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(y.value, ty.detach().numpy(), **tol(dtype))
    np.testing.assert_allclose(an.grad, ta.grad.numpy(), **tol(dtype))
    np.testing.assert_allclose(bn.grad, tb.grad.numpy(), **tol(dtype))
    assert np.shape(an.grad) == a.shape and np.shape(bn.grad) == b.shape  # a gradient has its variable's shape


@pytest.mark.parametrize("shapes", BROADCASTS)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gate_gradchecks(name, shapes, rng):
    fn, _, care = BINARY[name]
    a = rng.normal(size=shapes[0])
    b = rng.normal(size=shapes[1])
    if care == "b_away_from_zero":
        b = away_from(b, [0.0], 0.3)
    if care == "no_ties":
        b = b + 0.5  # maximum's kink is at a == b; random floats never tie, h never crosses
    assert gl.gradcheck(fn, [a, b])


def test_maximum_tie_splits_gradient_like_torch():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 5.0, 0.0])
    m = gl.gates.Maximum()
    m.forward(a, b)
    da, db = m.backward(np.ones(3))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.maximum(ta, tb).sum().backward()
    np.testing.assert_array_equal(da, ta.grad.numpy())
    np.testing.assert_array_equal(db, tb.grad.numpy())
    assert (da[0], db[0]) == (0.5, 0.5)


@pytest.mark.parametrize("kink", ["relu", "leaky_relu"])
def test_kinks_follow_torch_at_zero(kink):
    fn, tfn, _ = UNARY[kink]
    x = np.array([-1.0, 0.0, 1.0])
    _, grad = graph_unary(fn, x, np.ones(3))
    _, t_grad = torch_unary(tfn, x, np.ones(3))
    np.testing.assert_array_equal(grad, t_grad)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False),
                                           ((0, 1, 2), True), (2, True)])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reductions_match_torch(reduce, axis, keepdims, dtype, rng):
    x = rng.normal(size=(3, 4, 5)).astype(dtype)
    gfn = getattr(gl, reduce)
    g = gl.Graph()
    xn = g.input("x", x)
    y = gfn(xn, axis=axis, keepdims=keepdims)
    g.forward()
    dout = rng.normal(size=np.shape(y.value)).astype(dtype)
    g.backward(y, grad=dout)
    t = torch.tensor(x, requires_grad=True)
    dim = tuple(range(3)) if axis is None else axis
    ty = getattr(torch, reduce)(t, dim=dim, keepdim=keepdims)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(y.value, ty.detach().numpy(), **tol(dtype))
    np.testing.assert_allclose(xn.grad, t.grad.numpy(), **tol(dtype))
    assert gl.gradcheck(lambda n: gfn(n, axis=axis, keepdims=keepdims), [x.astype(np.float64)])


def test_reduction_bad_axis_is_clear():
    g = gl.Graph()
    x = g.input("x", np.ones((2, 3)))
    with pytest.raises(ValueError, match="sum: axis 2 is out of range for an input of rank 2"):
        gl.sum(x, axis=2)
    with pytest.raises(ValueError, match="listed twice"):
        gl.mean(x, axis=(1, -1))
    with pytest.raises(ValueError, match="mean of an empty array"):
        gl.mean(np.ones((0, 3)))


def test_large_sum_is_deterministic_and_accurate(threads, rng):
    # Above the parallel grain the sum runs in fixed blocks: the same bits at 1 and 2 threads.
    x = rng.normal(size=300_001)
    gl.set_num_threads(1)
    one = gl.sum(x)
    gl.set_num_threads(2)
    two = gl.sum(x)
    assert one == two
    assert one == pytest.approx(np.sum(x), rel=1e-12)


def test_elementwise_results_identical_at_1_and_2_threads(threads, rng):
    x = rng.normal(size=(300, 400))
    results = []
    for n in (1, 2):
        gl.set_num_threads(n)
        g = gl.Graph()
        xn = g.input("x", x)
        y = gl.sum(gl.sigmoid(xn) * gl.tanh(xn) + gl.exp(-xn * xn))
        g.forward()
        g.backward(y)
        results.append((y.value, np.array(xn.grad)))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("name", list(UNARY))
def test_standalone_flat_style_matches_graph(name, rng):
    fn, _, sample = UNARY[name]
    x = sample(rng, (4, 3)).astype(np.float64)
    dout = rng.normal(size=x.shape)
    g_value, g_grad = graph_unary(fn, x, dout)
    gate = gl.Graph().input("probe", x)  # find the gate class through a throwaway graph
    node = fn(gate)
    standalone = type(node.gate)
    params = {k: getattr(node.gate, k) for k in ("p", "slope", "alpha", "beta", "threshold") if hasattr(node.gate, k)}
    if "beta" in params:
        params = {"beta": params["beta"], "threshold": params["threshold"]}
    flat = standalone(**params)
    out = flat.forward(x)
    (dx,) = flat.backward(dout)
    np.testing.assert_array_equal(out, g_value)
    np.testing.assert_array_equal(dx, g_grad)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_jvp_matches_finite_differences(name, rng):
    fn, _, sample = UNARY[name]
    x = sample(rng, (5,)).astype(np.float64)
    v = rng.normal(size=x.shape)
    g = gl.Graph()
    xn = g.input("x", x)
    y = fn(xn)
    g.forward()
    tangent = g.jvp(y, {xn: v})
    h = 1e-6
    numeric = (np.asarray(fn(x + h * v)) - np.asarray(fn(x - h * v))) / (2 * h)
    np.testing.assert_allclose(tangent, numeric, rtol=1e-6, atol=1e-8)


def test_gate_parameters_are_validated():
    with pytest.raises(ValueError, match="softplus: beta must be positive"):
        gl.gates.Softplus(beta=0.0)
    assert gl.gates.Power(3.0).describe() == "power(p=3)"
    assert gl.gates.LeakyReLU(0.2).slope == 0.2
