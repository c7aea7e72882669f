"""The benchmarks' own parts: the core's GEMM yardstick (gatelab._core.gemm_peak_times) and the
course-style NumPy reference in benchmarks/reference.py, which the table times against (so it
must compute the same thing as gatelab and PyTorch). Speed itself is not tested here."""

import os
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gatelab import _core

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import reference as ref  # noqa: E402


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_peak_times_returns_one_positive_time_per_repeat(dtype):
    times = _core.gemm_peak_times(dtype, 64, 1, 3)
    assert len(times) == 3 and all(t > 0 for t in times)


def test_gemm_peak_times_refuses_bad_arguments():
    with pytest.raises(TypeError, match="dtype must be 'float64' or 'float32'"):
        _core.gemm_peak_times("int64", 64, 1, 1)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        _core.gemm_peak_times("float64", 64, 0, 1)
    with pytest.raises(ValueError, match="n must be in 1..16384"):
        _core.gemm_peak_times("float64", 0, 1, 1)


@pytest.mark.parametrize("stride,pad,groups", [(1, 1, 1), (2, 1, 1), (1, 0, 2), (1, 1, 4)])
def test_reference_conv_matches_torch(stride, pad, groups):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 7, 7)), rng.standard_normal((4, 4 // groups, 3, 3)), rng.standard_normal(4)
    param = {"stride": stride, "pad": pad, "groups": groups}
    out, cache = ref.conv_forward_strides(x, w, b, param)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F.conv2d(tx, tw, tb, stride=stride, padding=pad, groups=groups)
    np.testing.assert_allclose(out, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for ours, theirs in zip(ref.conv_backward_strides(dout, cache), torch.autograd.grad(ty, (tx, tw, tb), torch.tensor(dout))):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)
    if groups == 1:
        np.testing.assert_allclose(ref.conv_forward_naive(x, w, b, param)[0], out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,stride,shape", [(2, 2, (2, 3, 8, 8)), (3, 2, (2, 3, 9, 8))])
def test_reference_max_pool_matches_torch(k, stride, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    out, cache = ref.max_pool_forward_fast(x, {"pool_height": k, "pool_width": k, "stride": stride})
    tx = torch.tensor(x, requires_grad=True)
    ty = F.max_pool2d(tx, k, stride)
    np.testing.assert_array_equal(out, ty.detach().numpy())
    dout = rng.standard_normal(out.shape)
    (tdx,) = torch.autograd.grad(ty, tx, torch.tensor(dout))
    # overlapping windows add their gradients in another order than torch: equal to rounding
    np.testing.assert_allclose(ref.max_pool_backward_fast(dout, cache), tdx.numpy(), rtol=1e-15, atol=0)


def test_reference_softmax_loss_and_numerical_gradient():
    rng = np.random.default_rng(2)
    s, y = rng.standard_normal((5, 4)), np.array([0, 3, 1, 2, 2])
    loss, ds = ref.softmax_loss(s, y)
    ts = torch.tensor(s, requires_grad=True)
    tl = F.cross_entropy(ts, torch.tensor(y))
    np.testing.assert_allclose(loss, tl.item(), rtol=1e-12)
    np.testing.assert_allclose(ds, torch.autograd.grad(tl, ts)[0].numpy(), rtol=1e-12, atol=1e-14)
    num = ref.eval_numerical_gradient_array(lambda v: np.array(ref.softmax_loss(v, y)[0]), s.copy(), np.array(1.0))
    np.testing.assert_allclose(num, ds, rtol=1e-6, atol=1e-9)
