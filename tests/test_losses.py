"""softmax, log_softmax and the losses against PyTorch (float64 values, every gradient and the
jvp), finite differences (gl.gradcheck), hypothesis against NumPy references, float32, threads,
the lecture's softmax example, and each bad input.

Tolerances: float64 vs torch rtol 1e-10 / atol 1e-12; float32 vs torch float32 rtol 1e-5 /
atol 1e-6 (gatelab sums these in double, torch in float: the float32 rounding of the result
dominates).

svm_loss is compared with C · torch's multi_margin_loss, which divides by the class count C.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import gatelab as gl
from conv_oracle import at_one_and_two_threads
from graph_oracle import assert_backward_accumulates, check_against_torch, run_graph

# torch.func imports torch.jit, which warns about its own deprecation.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-6)



def _labels(rng, n, c):
    return rng.integers(0, c, size=n).astype(np.int64)


def _torch_svm(margin=1.0):
    return lambda s, y: s.shape[1] * F.multi_margin_loss(s, y, margin=margin)


# ---- the lecture's example -----------------------------------------------------------------

def test_lecture_softmax_example():
    # Seed 004: scores c1 = -2.85, c2 = 0.86, c3 = 0.28 for an example of class 3;
    # exp -> 0.058, 2.36, 1.32; normalize -> 0.016, 0.631, 0.353; L = -log(0.353) = 1.04.
    scores = np.array([-2.85, 0.86, 0.28])
    exps = np.exp(scores)
    assert np.round(exps[0], 3) == 0.058
    np.testing.assert_array_equal(np.round(exps[1:], 2), [2.36, 1.32])
    probs = gl.softmax(scores)
    np.testing.assert_array_equal(np.round(probs[1:], 3), [0.631, 0.353])
    # The slide normalizes the already rounded exponentials: that is where its 0.016 comes from
    # (the unrounded probability is 0.0154).
    slide = np.array([0.058, 2.36, 1.32])
    np.testing.assert_array_equal(np.round(slide / slide.sum(), 3), [0.016, 0.631, 0.353])
    assert np.round(probs[0], 4) == 0.0154
    loss = gl.softmax_cross_entropy(scores[None, :], np.array([2]))
    assert round(loss, 2) == 1.04 and round(-np.log(0.353), 2) == 1.04
    np.testing.assert_allclose(loss, -np.log(probs[2]), rtol=1e-14)
    gate = gl.gates.SoftmaxCrossEntropy()
    gate.forward(scores[None, :], np.array([2]))
    ds, dy = gate.backward(1.0)
    assert dy is None  # labels get no gradient
    np.testing.assert_allclose(ds[0], probs - [0, 0, 1], rtol=1e-14)


# ---- softmax and log_softmax ---------------------------------------------------------------

SOFTMAX_CASES = [((4, 10), -1), ((1, 5), 1), ((3, 4, 5), 0), ((3, 4, 5), 1), ((3, 4, 5), -1), ((6,), 0), ((2, 3), 0),
                 ((2, 1), 1)]


@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_torch(shape, axis, log, rng):
    ours_fn, ref_fn = (gl.log_softmax, torch.log_softmax) if log else (gl.softmax, torch.softmax)
    x = 3 * rng.standard_normal(shape)
    check_against_torch(lambda t: ours_fn(t, axis), lambda t: ref_fn(t, dim=axis), [x], rng, **F64)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_float32(log, rng):
    ours_fn, ref_fn = (gl.log_softmax, torch.log_softmax) if log else (gl.softmax, torch.softmax)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    ours = check_against_torch(ours_fn, lambda t: ref_fn(t, dim=-1), [x], rng, **F32)
    assert ours.value.dtype == np.float32


@pytest.mark.parametrize("fn", [gl.softmax, gl.log_softmax])
def test_softmax_gradcheck(fn, rng):
    assert gl.gradcheck(lambda t: fn(t, 1), [rng.standard_normal((2, 3, 2))])


def test_softmax_is_stable_for_large_scores():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, 0.0], [710.0, -710.0, 0.0]])
    for ours, ref in [(gl.softmax, torch.softmax), (gl.log_softmax, torch.log_softmax)]:
        y = ours(x)
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y, ref(torch.tensor(x), dim=-1).numpy(), **F64)


def test_softmax_nan_row_as_in_torch(rng):
    x = rng.standard_normal((3, 4))
    x[1, 2] = np.nan
    for ours, ref in [(gl.softmax, torch.softmax), (gl.log_softmax, torch.log_softmax)]:
        y, r = ours(x), ref(torch.tensor(x), dim=-1).numpy()
        np.testing.assert_array_equal(np.isnan(y), np.isnan(r))
        assert np.isnan(y[1]).all()
        np.testing.assert_allclose(y[[0, 2]], r[[0, 2]], **F64)


def test_softmax_noncontiguous_input(rng):
    x = rng.standard_normal((6, 5)).T
    np.testing.assert_allclose(gl.softmax(x, 0), torch.softmax(torch.tensor(x), dim=0).numpy(), **F64)


def test_softmax_bad_axis():
    with pytest.raises(ValueError, match=r"axis 2 is out of range for x of shape \(2, 3\)"):
        gl.softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="scalar"):
        gl.log_softmax(np.array(1.0))


def test_softmax_bitwise_equal_at_1_and_2_threads(rng):
    for shape, axis in [((4096, 40), -1), ((300, 200), 0)]:
        x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
        for fn in (gl.softmax, gl.log_softmax):
            def compute():
                out = run_graph(lambda t: fn(t, axis), [x], dout=dy, tangents=[dy])
                return [out.value, *out.grads, out.tangent]

            at_one_and_two_threads(compute)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_softmax_property_random_shapes_and_axes(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    x = 5 * rng.standard_normal(shape)
    ours = check_against_torch(lambda t: gl.softmax(t, axis), lambda t: torch.softmax(t, dim=axis), [x], rng, **F64)
    np.testing.assert_allclose(ours.value.sum(axis=axis), 1.0, rtol=1e-12)


# ---- softmax cross-entropy -----------------------------------------------------------------

@pytest.mark.parametrize("n,c", [(1, 1), (1, 5), (4, 3), (7, 10)])
def test_softmax_cross_entropy_matches_torch(n, c, rng):
    s, y = 2 * rng.standard_normal((n, c)), _labels(rng, n, c)
    ours = check_against_torch(gl.softmax_cross_entropy, F.cross_entropy, [s, y], rng, **F64)
    assert ours.grads[1] is None  # labels are not differentiable


def test_softmax_cross_entropy_saves_probs(rng):
    s, y = rng.standard_normal((4, 6)), _labels(rng, 4, 6)
    gate = gl.gates.SoftmaxCrossEntropy()
    gate.forward(s, y)
    probs = gate.saved["probs"]
    np.testing.assert_allclose(probs, torch.softmax(torch.tensor(s), dim=1).numpy(), **F64)
    ds, _ = gate.backward(2.0)
    onehot = np.eye(6)[y]
    np.testing.assert_allclose(ds, 2.0 * (probs - onehot) / 4, **F64)


def test_softmax_cross_entropy_gradcheck(rng):
    assert gl.gradcheck(gl.softmax_cross_entropy, [rng.standard_normal((3, 4)), _labels(rng, 3, 4)])


def test_softmax_cross_entropy_float32(rng):
    s, y = rng.standard_normal((6, 5)).astype(np.float32), _labels(rng, 6, 5)
    ours = check_against_torch(gl.softmax_cross_entropy, F.cross_entropy, [s, y], rng, **F32)
    assert ours.value.dtype == np.float32


def test_softmax_cross_entropy_is_stable_for_large_scores():
    s, y = np.array([[1000.0, 0.0, -1000.0], [0.0, 800.0, 0.0]]), np.array([2, 1])
    loss = gl.softmax_cross_entropy(s, y)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, F.cross_entropy(torch.tensor(s), torch.tensor(y)).item(), **F64)
    np.testing.assert_allclose(loss, 1000.0, rtol=1e-12)  # row 0: -log e^-2000 / 2 rows


def test_labels_as_a_graph_input_fed_new_batches(rng):
    w, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    g = gl.Graph()
    x = g.input("x", rng.standard_normal((5, 3)), shape=(None, 3))
    y = g.input("y", _labels(rng, 5, 4), shape=(None,))
    loss = gl.softmax_cross_entropy(gl.affine(x, g.param("w", w), g.param("b", b)), y)
    for n in (5, 2, 8):
        xb, yb = rng.standard_normal((n, 3)), _labels(rng, n, 4)
        value = g.forward({"x": xb, "y": yb}, output=loss)
        ref = F.cross_entropy(torch.tensor(xb @ w + b), torch.tensor(yb)).item()
        np.testing.assert_allclose(value, ref, **F64)
        g.backward(loss)
        assert y.grad is None and g["w"].grad.shape == (3, 4)


def test_integer_labels_of_other_widths_are_accepted(rng):
    s, y = rng.standard_normal((4, 3)), _labels(rng, 4, 3)
    expected = gl.softmax_cross_entropy(s, y)
    assert gl.softmax_cross_entropy(s, y.astype(np.int32)) == expected
    assert gl.softmax_cross_entropy(s, list(y)) == expected
    g = gl.Graph()
    assert g.forward(output=gl.softmax_cross_entropy(g.input("s", s), y.astype(np.uint8))) == expected


def test_label_out_of_range_names_the_row(rng):
    s = rng.standard_normal((5, 10))
    for fn in (gl.softmax_cross_entropy, gl.svm_loss):
        with pytest.raises(ValueError, match=r"label 12 in row 3 is out of range for 10 classes"):
            fn(s, np.array([0, 1, 2, 12, 4]))
        with pytest.raises(ValueError, match=r"label -1 in row 0 is out of range"):
            fn(s, np.array([-1, 1, 2, 3, 4]))
    g = gl.Graph()  # in a graph the values are only known at forward time
    loss = gl.softmax_cross_entropy(g.input("s", s), g.input("y", np.array([0, 1, 2, 3, 4])))
    g.forward()
    with pytest.raises(ValueError, match=r"label 10 in row 1 is out of range for 10 classes"):
        g.forward({"y": np.array([0, 10, 2, 3, 4])}, output=loss)


def test_float_labels_are_a_type_error_with_the_fix(rng):
    s = rng.standard_normal((3, 4))
    for fn in (gl.softmax_cross_entropy, gl.svm_loss):
        with pytest.raises(TypeError, match=r"labels are float64.*y\.astype\(np\.int64\)"):
            fn(s, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match=r"labels are float64.*y\.astype\(np\.int64\)"):  # the C++ check
        gl.gates.SoftmaxCrossEntropy().forward(s, np.array([0.0, 1.0, 2.0]))
    g = gl.Graph()
    with pytest.raises(TypeError, match=r"labels are float64.*y\.astype\(np\.int64\)"):
        gl.softmax_cross_entropy(g.input("s", s), g.input("y", np.array([0.0, 1.0, 2.0])))
    with pytest.raises(TypeError, match="integer class indices"):
        gl.softmax_cross_entropy(s, np.array([True, False, True]))


def test_classification_losses_reject_wrong_shapes(rng):
    for fn in (gl.softmax_cross_entropy, gl.svm_loss):
        with pytest.raises(ValueError, match=r"scores must be \(N, C\).*got shape \(4,\).*scores\[None, :\]"):
            fn(rng.standard_normal(4), np.array([1]))
        with pytest.raises(ValueError, match=r"labels have shape \(3,\) but scores \(4, 5\) have 4 rows"):
            fn(rng.standard_normal((4, 5)), np.array([1, 2, 3]))
        with pytest.raises(ValueError, match=r"labels have shape \(4, 1\)"):
            fn(rng.standard_normal((4, 5)), np.zeros((4, 1), dtype=np.int64))
        with pytest.raises(TypeError, match="scores are int64"):
            fn(np.ones((2, 3), dtype=np.int64), np.array([0, 1]))


def test_classification_losses_reject_an_empty_batch():
    for fn in (gl.softmax_cross_entropy, gl.svm_loss):
        with pytest.raises(ValueError, match=r"the batch is empty \(scores \(0, 10\)\)"):
            fn(np.zeros((0, 10)), np.zeros(0, dtype=np.int64))
        with pytest.raises(ValueError, match="0 classes"):
            fn(np.zeros((2, 0)), np.zeros(2, dtype=np.int64))


def test_classification_losses_noncontiguous_scores(rng):
    s = rng.standard_normal((6, 4)).T   # (4, 6), Fortran order
    y = _labels(rng, 4, 6)
    ts, ty = torch.tensor(s), torch.tensor(y)
    np.testing.assert_allclose(gl.softmax_cross_entropy(s, y), F.cross_entropy(ts, ty).item(), **F64)
    np.testing.assert_allclose(gl.svm_loss(s[:, ::2], y % 3), _torch_svm()(ts[:, ::2], ty % 3).item(), **F64)


def test_softmax_cross_entropy_nan_as_in_torch(rng):
    s, y = rng.standard_normal((3, 4)), np.array([0, 1, 2])
    s[1, 3] = np.nan
    ours = run_graph(gl.softmax_cross_entropy, [s, y])
    ts = torch.tensor(s, requires_grad=True)
    ref = F.cross_entropy(ts, torch.tensor(y))
    ref.backward()
    assert np.isnan(ours.value) and np.isnan(ref.item())
    np.testing.assert_array_equal(np.isnan(ours.grads[0]), np.isnan(ts.grad.numpy()))


@pytest.mark.parametrize("fn", [gl.softmax_cross_entropy, gl.svm_loss])
def test_classification_losses_bitwise_equal_at_1_and_2_threads(fn, rng):
    s, y = rng.standard_normal((4096, 20)), _labels(rng, 4096, 20)

    def compute():
        out = run_graph(fn, [s, y], tangents=[s, None])
        return [out.value, out.grads[0], out.tangent]

    at_one_and_two_threads(compute)


def _numpy_softmax_loss(s, y):
    """Reference: log-sum-exp written out in NumPy."""
    shifted = s - s.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = s.shape[0]
    grad = np.exp(log_probs)
    grad[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].mean(), grad / n


def _numpy_svm_loss(s, y, margin):
    """Reference: CS231n's vectorized multiclass SVM loss."""
    n = s.shape[0]
    margins = np.maximum(0, s - s[np.arange(n), y][:, None] + margin)
    margins[np.arange(n), y] = 0
    grad = (margins > 0).astype(float)
    grad[np.arange(n), y] -= grad.sum(axis=1)
    return margins.sum() / n, grad / n


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 6), margin=st.sampled_from([0.5, 1.0, 2.0]), seed=st.integers(0, 2**31))
def test_classification_losses_property_against_numpy(n, c, margin, seed):
    rng = np.random.default_rng(seed)
    s, y = 3 * rng.standard_normal((n, c)), _labels(rng, n, c)
    for fn, ref in [(gl.softmax_cross_entropy, _numpy_softmax_loss),
                    (lambda a, b: gl.svm_loss(a, b, margin), lambda a, b: _numpy_svm_loss(a, b, margin))]:
        out = run_graph(fn, [s, y])
        loss, grad = ref(s, y)
        np.testing.assert_allclose(out.value, loss, **F64)
        np.testing.assert_allclose(out.grads[0], grad, **F64)


# ---- svm loss ------------------------------------------------------------------------------

@pytest.mark.parametrize("n,c,margin", [(1, 3, 1.0), (4, 5, 1.0), (7, 10, 0.5), (3, 2, 2.0)])
def test_svm_loss_matches_torch(n, c, margin, rng):
    s, y = rng.standard_normal((n, c)), _labels(rng, n, c)
    check_against_torch(lambda a, b: gl.svm_loss(a, b, margin), _torch_svm(margin), [s, y], rng, **F64)


def test_svm_loss_gradient_at_the_kink_is_zero():
    # Row 0: class 1's margin is 0 - 1 + 1 = 0 exactly (the kink), class 2's is 2: only class 2
    # counts, in CS231n's svm_loss (margins > 0) and in torch's multi_margin_loss alike.
    s, y = np.array([[1.0, 0.0, 2.0]]), np.array([0])
    out = run_graph(gl.svm_loss, [s, y])
    ts = torch.tensor(s, requires_grad=True)
    (3 * F.multi_margin_loss(ts, torch.tensor(y))).backward()
    assert out.value == 2.0
    np.testing.assert_array_equal(out.grads[0], [[-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(ts.grad.numpy(), out.grads[0])


def test_svm_loss_gradcheck(rng):
    assert gl.gradcheck(lambda a, b: gl.svm_loss(a, b, 0.7), [rng.standard_normal((3, 4)), _labels(rng, 3, 4)])


def test_svm_loss_float32(rng):
    s, y = rng.standard_normal((6, 5)).astype(np.float32), _labels(rng, 6, 5)
    check_against_torch(gl.svm_loss, _torch_svm(), [s, y], rng, **F32)


def test_svm_loss_nan_as_in_torch(rng):
    # torch's multi_margin_loss adds a margin only when it is > 0, so a NaN margin is skipped;
    # gatelab does the same (a NaN true-class score makes every margin NaN: loss 0).
    s = rng.standard_normal((3, 4))
    s[0, 2], s[2, 1] = np.nan, np.nan
    y = np.array([0, 1, 1])
    ts = torch.tensor(s, requires_grad=True)
    ref = _torch_svm()(ts, torch.tensor(y))
    ref.backward()
    out = run_graph(gl.svm_loss, [s, y])
    np.testing.assert_allclose(out.value, ref.item(), **F64)
    np.testing.assert_allclose(out.grads[0], ts.grad.numpy(), **F64)


# ---- mse and binary cross-entropy ----------------------------------------------------------

@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 3, 4)])
def test_mse_loss_matches_torch(shape, rng):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    check_against_torch(gl.mse_loss, F.mse_loss, [a, b], rng, **F64)


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 3, 4)])
def test_bce_with_logits_matches_torch(shape, rng):
    x, t = 3 * rng.standard_normal(shape), rng.uniform(0, 1, shape)
    check_against_torch(gl.bce_with_logits, F.binary_cross_entropy_with_logits, [x, t], rng, **F64)


def test_mean_losses_gradcheck_and_float32(rng):
    a, b = rng.standard_normal((2, 3)), rng.uniform(0, 1, (2, 3))
    assert gl.gradcheck(gl.mse_loss, [a, b])
    assert gl.gradcheck(gl.bce_with_logits, [a, b])
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    check_against_torch(gl.mse_loss, F.mse_loss, [a32, b32], rng, **F32)
    check_against_torch(gl.bce_with_logits, F.binary_cross_entropy_with_logits, [a32, b32], rng, **F32)


def test_bce_with_logits_is_stable_for_large_logits():
    x, t = np.array([1000.0, -1000.0, 50.0, -50.0]), np.array([0.0, 1.0, 1.0, 0.0])
    out = run_graph(gl.bce_with_logits, [x, t])
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    ref = F.binary_cross_entropy_with_logits(tx, tt)
    ref.backward()
    assert np.isfinite(out.value) and np.isfinite(out.grads[0]).all()
    np.testing.assert_allclose(out.value, ref.item(), **F64)
    np.testing.assert_allclose(out.grads[0], tx.grad.numpy(), **F64)
    np.testing.assert_allclose(out.grads[1], tt.grad.numpy(), **F64)


def test_mean_losses_nan_propagates_as_in_torch(rng):
    a, b = rng.standard_normal(4), rng.uniform(0, 1, 4)
    a[2] = np.nan
    for ours, ref in [(gl.mse_loss, F.mse_loss), (gl.bce_with_logits, F.binary_cross_entropy_with_logits)]:
        out = run_graph(ours, [a, b])
        ta = torch.tensor(a, requires_grad=True)
        r = ref(ta, torch.tensor(b))
        r.backward()
        assert np.isnan(out.value) and np.isnan(r.item())
        np.testing.assert_array_equal(np.isnan(out.grads[0]), np.isnan(ta.grad.numpy()))


def test_mean_losses_bad_inputs(rng):
    for fn in (gl.mse_loss, gl.bce_with_logits):
        with pytest.raises(ValueError, match=r"input \(3, 4\) and target \(3, 5\) must have the same shape"):
            fn(rng.standard_normal((3, 4)), rng.standard_normal((3, 5)))
        with pytest.raises(ValueError, match=r"empty \(0, 3\); the mean over 0 elements is undefined"):
            fn(np.zeros((0, 3)), np.zeros((0, 3)))
        with pytest.raises(TypeError, match="never casts"):
            fn(np.zeros(3), np.zeros(3, dtype=np.float32))


def test_mean_losses_noncontiguous_inputs(rng):
    a, b = rng.standard_normal((4, 6))[:, ::2], rng.standard_normal((3, 4)).T
    np.testing.assert_allclose(gl.mse_loss(a, b), np.mean((a - b) ** 2), **F64)


def test_mean_losses_bitwise_equal_at_1_and_2_threads(rng):
    a, b = rng.standard_normal((300, 400)), rng.uniform(0, 1, (300, 400))
    for fn in (gl.mse_loss, gl.bce_with_logits):
        def compute():
            out = run_graph(fn, [a, b], tangents=[b, a])
            return [out.value, *out.grads, out.tangent]

        at_one_and_two_threads(compute)


# ---- every gate accumulates into its input gradients -----------------------------------------

@pytest.mark.parametrize("fn,labels", [(gl.softmax, False), (lambda t: gl.log_softmax(t, 0), False),
                                       (gl.softmax_cross_entropy, True), (gl.svm_loss, True),
                                       (gl.mse_loss, False), (gl.bce_with_logits, False)])
def test_backward_accumulates_into_shared_inputs(fn, labels, rng):
    s = rng.standard_normal((4, 5))
    second = _labels(rng, 4, 5) if labels else rng.uniform(0, 1, (4, 5))
    arrays = [s, second] if labels or fn in (gl.mse_loss, gl.bce_with_logits) else [s]
    assert_backward_accumulates(fn, arrays, rng)
