"""matmul, affine, transpose, reshape and flatten against PyTorch (float64 values, every gradient
and the jvp), finite differences (gl.gradcheck), hypothesis over random shapes, float32, threads,
and each bad input.

Tolerances: float64 vs torch rtol 1e-10 / atol 1e-12 (BLAS sums in another order: ~1e-15
relative); float32 vs torch float32 rtol 1e-4 / atol 1e-5 (sums of up to 64 products of O(1)
numbers, float32 epsilon 6e-8).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gatelab as gl
from conv_oracle import at_one_and_two_threads
from graph_oracle import assert_backward_accumulates, check_against_torch, run_graph

# torch.func imports torch.jit, which warns about its own deprecation.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-4, atol=1e-5)



# ---- matmul -------------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3, 4), (4, 5)),             # non-square matrices
    ((1, 4), (4, 1)),             # a single row times a single column
    ((4,), (4, 3)),               # 1-D A: promoted to (1, 4), the 1 removed again
    ((3, 4), (4,)),               # 1-D B: promoted to (4, 1)
    ((4,), (4,)),                 # vector dot vector: a scalar
    ((4,), (2, 4, 3)),            # 1-D A against a batch
    ((2, 3, 4), (4,)),            # a batch against 1-D B
    ((1, 3, 4), (4, 2)),          # batch of one
    ((5, 3, 4), (4, 2)),          # a batch of A against one B (stacked into one GEMM)
    ((5, 3, 4), (1, 4, 2)),       # ... with B's batch dimension of size 1
    ((3, 4), (5, 4, 2)),          # one A stretched over B's batch: dA sums 5 products
    ((2, 1, 3, 4), (5, 4, 6)),    # both stretched: batch (2, 5)
    ((2, 5, 3, 4), (2, 5, 4, 6)),  # same batch
    ((1, 5, 3, 4), (2, 1, 4, 6)),  # stretched in different dimensions
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_matches_torch_float64(sa, sb, rng):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    ours = check_against_torch(lambda x, y: x @ y, torch.matmul, [a, b], rng, **F64)
    assert ours.value.shape == np.matmul(a, b).shape


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES[::3])
def test_matmul_float32_matches_torch_float32(sa, sb, rng):
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    ours = check_against_torch(gl.matmul, torch.matmul, [a, b], rng, **F32)
    assert ours.value.dtype == np.float32


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 2)), ((3,), (3, 2)), ((2, 1, 2, 3), (2, 3, 2)), ((2, 3), (2, 3, 1))])
def test_matmul_gradcheck(sa, sb, rng):
    assert gl.gradcheck(gl.matmul, [rng.standard_normal(sa), rng.standard_normal(sb)])


def _batch_shapes(draw, batch):
    """A's or B's batch dimensions: a suffix of `batch` with some sizes replaced by 1."""
    start = draw(st.integers(0, len(batch)))
    return tuple(1 if draw(st.booleans()) else d for d in batch[start:])


@st.composite
def matmul_shapes(draw):
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sa = (k,) if draw(st.integers(0, 4)) == 0 else _batch_shapes(draw, batch) + (m, k)
    sb = (k,) if draw(st.integers(0, 4)) == 0 else _batch_shapes(draw, batch) + (k, n)
    return sa, sb


@settings(max_examples=60, deadline=None)
@given(shapes=matmul_shapes(), seed=st.integers(0, 2**31))
def test_matmul_property_random_broadcast_shapes(shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    ours = check_against_torch(gl.matmul, torch.matmul, [a, b], rng, **F64)
    np.testing.assert_allclose(ours.value, np.matmul(a, b), **F64)


def test_matmul_operator_with_numpy_constants(rng):
    g = gl.Graph()
    x = g.input("x", rng.standard_normal((3, 4)))
    w, v = rng.standard_normal((4, 2)), rng.standard_normal((5, 3))
    right, left = x @ w, v @ x
    total = gl.sum(right)
    g.forward()
    np.testing.assert_allclose(right.value, x.value @ w, **F64)
    np.testing.assert_allclose(left.value, v @ x.value, **F64)
    assert [n.kind for n in left.inputs] == ["constant", "input"]
    g.backward(total)
    np.testing.assert_allclose(x.grad, np.ones((3, 2)) @ w.T, **F64)


def test_matmul_standalone_gate(rng):
    a, b, dy = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((2, 3, 5))
    gate = gl.gates.MatMul()
    np.testing.assert_allclose(gate.forward(a, b), a @ b, **F64)
    da, db = gate.backward(dy)
    np.testing.assert_allclose(da, dy @ b.T, **F64)
    np.testing.assert_allclose(db, np.einsum("bmk,bmn->kn", a, dy), **F64)


def test_matmul_empty_dimensions(rng):
    # No rows: an empty result. Inner dimension 0: a sum of nothing, i.e. zeros (as NumPy).
    for sa, sb in [((0, 3), (3, 4)), ((2, 0), (0, 3)), ((0, 2, 3), (3, 4)), ((2, 3), (3, 0))]:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        out = run_graph(gl.matmul, [a, b], dout=np.ones(np.matmul(a, b).shape))
        np.testing.assert_array_equal(out.value, np.matmul(a, b))
        assert out.grads[0].shape == sa and out.grads[1].shape == sb
        np.testing.assert_array_equal(out.grads[0], np.ones(np.matmul(a, b).shape) @ np.swapaxes(b, -1, -2))


def test_matmul_noncontiguous_inputs(rng):
    a = rng.standard_normal((3, 8))[:, ::2]   # strided view
    b = rng.standard_normal((5, 4)).T          # Fortran-ordered view
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    np.testing.assert_allclose(gl.matmul(a, b), a @ b, **F64)
    out = run_graph(gl.matmul, [a, b], dout=np.ones((3, 5)))
    np.testing.assert_allclose(out.grads[1], a.T @ np.ones((3, 5)), **F64)


def test_matmul_nan_propagates_as_in_torch(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    a[1, 2] = np.nan
    ours = gl.matmul(a, b)
    ref = torch.matmul(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert np.isnan(ours[1]).all() and not np.isnan(ours[[0, 2]]).any()


def test_matmul_bad_inputs_raise_clear_errors(rng):
    with pytest.raises(ValueError, match=r"A \(2, 3\) @ B \(4, 5\).*last dimension \(3\).*second-to-last dimension \(4\)"):
        gl.matmul(rng.standard_normal((2, 3)), rng.standard_normal((4, 5)))
    with pytest.raises(ValueError, match=r"B's only dimension \(4\)"):
        gl.matmul(rng.standard_normal((2, 3)), rng.standard_normal(4))
    with pytest.raises(ValueError, match=r"scalar.*use \*"):
        gl.matmul(np.array(2.0), rng.standard_normal((2, 2)))
    with pytest.raises(ValueError, match=r"batch dimensions \(2,\) of A \(2, 3, 4\) and \(3,\) of B \(3, 4, 5\) do not broadcast"):
        gl.matmul(rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4, 5)))
    with pytest.raises(TypeError, match="never casts"):
        gl.matmul(rng.standard_normal((2, 3)), rng.standard_normal((3, 2)).astype(np.float32))
    with pytest.raises(TypeError, match="float64 or float32"):
        gl.matmul(np.ones((2, 3), dtype=np.int64), np.ones((3, 2), dtype=np.int64))
    g = gl.Graph()  # the error comes when the node is built, before any forward pass
    with pytest.raises(ValueError, match="matmul"):
        g.input("a", rng.standard_normal((2, 3))) @ g.input("b", rng.standard_normal((2, 3)))


def test_matmul_bitwise_equal_at_1_and_2_threads(rng):
    cases = [
        (rng.standard_normal((192, 160)), rng.standard_normal((160, 224))),        # one GEMM, cut into tiles
        (rng.standard_normal((96, 300)), rng.standard_normal((300, 80))),          # K between OpenBLAS's Q and 2Q
        (rng.standard_normal((48, 32, 32)), rng.standard_normal((48, 32, 32))),    # OpenMP over the batch
        (rng.standard_normal((32, 48)), rng.standard_normal((40, 48, 32))),        # dA summed over 40 batches
    ]
    for a, b in cases:
        dy = rng.standard_normal(np.matmul(a, b).shape)

        def compute():
            out = run_graph(gl.matmul, [a, b], dout=dy, tangents=[b.sum() * np.ones_like(a), np.ones_like(b)])
            return [out.value, *out.grads, out.tangent]

        at_one_and_two_threads(compute)


# ---- affine -------------------------------------------------------------------------------

def _torch_affine(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


AFFINE_SHAPES = [(1, (5,), 3), (4, (6,), 3), (3, (2, 3), 4), (2, (2, 3, 4), 5), (5, (1, 1, 3), 1)]


@pytest.mark.parametrize("n,dims,m", AFFINE_SHAPES)
def test_affine_matches_torch_float64(n, dims, m, rng):
    d = int(np.prod(dims))
    x, w, b = rng.standard_normal((n, *dims)), rng.standard_normal((d, m)), rng.standard_normal(m)
    ours = check_against_torch(gl.affine, _torch_affine, [x, w, b], rng, **F64)
    assert ours.value.shape == (n, m) and ours.grads[0].shape == x.shape


@pytest.mark.parametrize("n,dims,m", AFFINE_SHAPES[1:4])
def test_affine_float32_matches_torch_float32(n, dims, m, rng):
    d = int(np.prod(dims))
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(n, *dims), (d, m), (m,)]]
    check_against_torch(gl.affine, _torch_affine, arrays, rng, **F32)


def test_affine_gradcheck(rng):
    assert gl.gradcheck(gl.affine, [rng.standard_normal((2, 2, 3)), rng.standard_normal((6, 3)), rng.standard_normal(3)])


def test_affine_rerun_does_not_accumulate_the_bias(rng):
    # forward prefills the output with b and lets the GEMM add onto it: a re-run must start over.
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    g = gl.Graph()
    y = gl.affine(g.input("x", x), g.param("w", w), g.param("b", b))
    first = np.array(g.forward(), copy=True)
    second = g.forward()
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(second, x @ w + b, **F64)
    gate = gl.gates.Affine()
    np.testing.assert_array_equal(gate.forward(x, w, b), gate.forward(x, w, b))


def test_affine_empty_batch(rng):
    x, w, b = np.zeros((0, 2, 3)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    out = run_graph(gl.affine, [x, w, b], dout=np.zeros((0, 4)))
    assert out.value.shape == (0, 4)
    np.testing.assert_array_equal(out.grads[1], np.zeros((6, 4)))
    np.testing.assert_array_equal(out.grads[2], np.zeros(4))


def test_affine_noncontiguous_inputs(rng):
    x = rng.standard_normal((4, 3, 6))[:, :, ::2]
    w = rng.standard_normal((2, 9)).T
    b = rng.standard_normal(4)[::2]
    np.testing.assert_allclose(gl.affine(x, w, b), x.reshape(4, -1) @ w + b, **F64)


def test_affine_nan_propagates_as_in_torch(rng):
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    x[2, 1] = np.nan
    ours = gl.affine(x, w, b)
    ref = _torch_affine(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert np.isnan(ours[2]).all() and not np.isnan(ours[:2]).any()


def test_affine_bad_inputs_raise_clear_errors(rng):
    x = rng.standard_normal((2, 3, 4))
    with pytest.raises(ValueError, match=r"x \(2, 3, 4\) reshapes to \(2, 12\) but w is \(10, 5\); w needs 12 rows"):
        gl.affine(x, rng.standard_normal((10, 5)), rng.standard_normal(5))
    with pytest.raises(ValueError, match=r"b has shape \(4,\) but w \(12, 5\) has 5 columns"):
        gl.affine(x, rng.standard_normal((12, 5)), rng.standard_normal(4))
    with pytest.raises(ValueError, match=r"batch dimension first.*x\[None, :\]"):
        gl.affine(rng.standard_normal(12), rng.standard_normal((12, 5)), rng.standard_normal(5))
    with pytest.raises(ValueError, match=r"w must be 2-D"):
        gl.affine(x, rng.standard_normal(12), rng.standard_normal(5))


def test_affine_bitwise_equal_at_1_and_2_threads(rng):
    x, w, b = rng.standard_normal((128, 3, 100)), rng.standard_normal((300, 100)), rng.standard_normal(100)
    dy = rng.standard_normal((128, 100))

    def compute():
        out = run_graph(gl.affine, [x, w, b], dout=dy, tangents=[x, w, b])
        return [out.value, *out.grads, out.tangent]

    at_one_and_two_threads(compute)


# ---- transpose ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape,axes", [((), None), ((5,), None), ((3, 4), None), ((3, 4), (1, 0)), ((2, 3, 4), None),
                                        ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (-1, 0, 1)), ((2, 1, 3, 4), (3, 1, 0, 2))])
def test_transpose_matches_numpy_and_torch(shape, axes, rng):
    x = rng.standard_normal(shape)
    perm = tuple(range(x.ndim))[::-1] if axes is None else tuple(a % x.ndim for a in axes)
    ours = check_against_torch(lambda t: gl.transpose(t, axes), lambda t: t.permute(perm), [x], rng, **F64)
    np.testing.assert_array_equal(ours.value, np.transpose(x, axes))


def test_node_T_is_numpy_T(rng):
    g = gl.Graph()
    x = g.input("x", rng.standard_normal((2, 3, 4)))
    y = x.T
    g.forward()
    np.testing.assert_array_equal(y.value, x.value.T)
    assert y.op == "transpose"


def test_transpose_gradcheck(rng):
    assert gl.gradcheck(lambda t: gl.transpose(t, (2, 0, 1)), [rng.standard_normal((2, 3, 2))])


def test_transpose_bad_axes(rng):
    x = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="gives 3 axes for an input of rank 2"):
        gl.transpose(x, (0, 1, 2))
    with pytest.raises(ValueError, match="axis 0 is repeated"):
        gl.transpose(x, (0, 0))
    with pytest.raises(ValueError, match="axis 5 is out of range"):
        gl.transpose(x, (5, 0))


def test_transpose_bitwise_equal_at_1_and_2_threads(rng):
    x, dy = rng.standard_normal((64, 48, 16)), rng.standard_normal((16, 64, 48))

    def compute():
        out = run_graph(lambda t: gl.transpose(t, (2, 0, 1)), [x], dout=dy)
        return [out.value, *out.grads]

    at_one_and_two_threads(compute)


# ---- reshape and flatten ------------------------------------------------------------------

@pytest.mark.parametrize("shape,target", [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1, 2)),
                                          ((6,), (1, 6, 1)), ((), (1,)), ((1,), ())])
def test_reshape_matches_torch(shape, target, rng):
    x = rng.standard_normal(shape)
    ours = check_against_torch(lambda t: gl.reshape(t, target), lambda t: t.reshape(target), [x], rng, **F64)
    np.testing.assert_array_equal(ours.value, x.reshape(target))


def test_reshape_shares_memory_and_node_forms(rng):
    g = gl.Graph()
    x = g.input("x", rng.standard_normal((2, 3, 4)))
    a, b = x.reshape(2, -1), x.reshape((4, 6))
    g.forward()
    assert a.shape == (2, 12) and b.shape == (4, 6)
    assert np.shares_memory(a.value, x.value) and np.shares_memory(b.value, x.value)
    np.testing.assert_array_equal(b.value, x.value.reshape(4, 6))


def test_reshape_gradient_accumulates_with_fan_out(rng):
    g = gl.Graph()
    x = g.input("x", rng.standard_normal((2, 3)))
    f = gl.sum(x.reshape(-1) * 3.0) + gl.sum(gl.flatten(x))
    g.forward()
    g.backward(f)
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 4.0))


def test_reshape_noncontiguous_input(rng):
    x = rng.standard_normal((3, 4)).T
    np.testing.assert_array_equal(gl.reshape(x, (2, 6)), x.reshape(2, 6))


def test_reshape_bad_shapes(rng):
    x = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match=r"cannot reshape \(2, 3\) \(6 elements\) into \(4, 2\) \(8 elements\)"):
        gl.reshape(x, (4, 2))
    with pytest.raises(ValueError, match=r"cannot reshape \(2, 3\) \(6 elements\) into \(4, -1\).*does not divide 6"):
        gl.reshape(x, (4, -1))
    with pytest.raises(ValueError, match="more than one -1"):
        gl.reshape(x, (-1, -1))
    with pytest.raises(ValueError, match="negative size -2"):
        gl.reshape(x, (-2, 3))
    with pytest.raises(ValueError, match="undetermined"):
        gl.reshape(np.zeros((0, 3)), (0, -1))


@pytest.mark.parametrize("fn", [lambda t: gl.reshape(t, (4, -1)), gl.flatten, lambda t: gl.reshape(t, -1) * 2.0])
def test_reshape_and_flatten_gradcheck(fn, rng):
    # The output shares the input's memory: finite differences must still see the perturbation.
    assert gl.gradcheck(fn, [rng.standard_normal((2, 3, 2))])
    assert gl.gradcheck(gl.gates.Flatten(), [rng.standard_normal((2, 3, 2))])


def test_flatten(rng):
    for shape, expected in [((4, 2, 3), (4, 6)), ((1, 5), (1, 5)), ((3,), (3, 1)), ((0, 2, 2), (0, 4))]:
        x = rng.standard_normal(shape)
        out = run_graph(gl.flatten, [x], dout=np.ones(expected), tangents=[np.ones(shape)])
        assert out.value.shape == expected
        np.testing.assert_array_equal(out.value, x.reshape(expected))
        np.testing.assert_array_equal(out.grads[0], np.ones(shape))
        np.testing.assert_array_equal(out.tangent, np.ones(expected))
    with pytest.raises(ValueError, match=r"flatten: x is a scalar"):
        gl.flatten(np.array(1.0))


def test_shape_gates_keep_float32_exactly(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for ours, ref in [(gl.transpose(x, (2, 0, 1)), np.transpose(x, (2, 0, 1))), (gl.reshape(x, (4, -1)), x.reshape(4, -1)),
                      (gl.flatten(x), x.reshape(2, -1))]:
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, ref)


def test_reshape_standalone_gate(rng):
    x = rng.standard_normal((2, 6))
    gate = gl.gates.Reshape((3, -1))
    assert gate.describe() == "reshape((3, -1))" and gate.shape == (3, -1)
    np.testing.assert_array_equal(gate.forward(x), x.reshape(3, 4))
    (dx,) = gate.backward(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(dx, np.arange(12.0).reshape(2, 6))


# ---- every gate accumulates into its input gradients -----------------------------------------

@pytest.mark.parametrize("fn,shapes", [
    (gl.matmul, [(3, 4), (4, 2)]),
    (gl.matmul, [(3, 4), (5, 4, 2)]),        # dA summed over a stretched batch
    (gl.matmul, [(5, 3, 4), (4, 2)]),        # the stacked single GEMM
    (gl.affine, [(3, 2, 2), (4, 5), (5,)]),
    (lambda t: gl.transpose(t, (1, 2, 0)), [(2, 3, 4)]),
    (lambda t: gl.reshape(t, (4, -1)), [(2, 3, 4)]),
    (gl.flatten, [(2, 3, 4)]),
])
def test_backward_accumulates_into_shared_inputs(fn, shapes, rng):
    assert_backward_accumulates(fn, [rng.standard_normal(s) for s in shapes], rng)
