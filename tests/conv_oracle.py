"""Shared oracles for the convolution and pooling tests: PyTorch as the independent reference,
finite differences for forward mode, and thread-count control.

Tolerances: float64 results are compared with rtol 1e-10 / atol 1e-12 (both sides sum the
same products, in different orders: errors are a few ulps times the number of terms).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import gatelab as gl

F64 = dict(rtol=1e-10, atol=1e-12)


def torch_reference(fn, arrays, dy):
    """fn's value and the gradient of sum(dy * fn(...)) w.r.t. each array (None stays None)."""
    tensors = [None if a is None else torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in arrays]
    y = fn(*tensors)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), [None if t is None else t.grad.numpy() for t in tensors]


def assert_matches_torch(gate, torch_fn, arrays, rng, tol=F64):
    """gate.forward / gate.backward agree with PyTorch in value and in every gradient."""
    y = np.array(gate.forward(*arrays))
    dy = rng.standard_normal(y.shape).astype(y.dtype)
    ty, tgrads = torch_reference(torch_fn, arrays, dy)
    assert y.shape == ty.shape, f"output shape {y.shape}, PyTorch {ty.shape}"
    assert y.dtype == ty.dtype
    np.testing.assert_allclose(y, ty, err_msg="forward value", **tol)
    grads = gate.backward(dy)
    assert len(grads) == len(arrays)
    for i, (g, t) in enumerate(zip(grads, tgrads)):
        assert g.shape == arrays[i].shape and g.dtype == arrays[i].dtype
        np.testing.assert_allclose(g, t, err_msg=f"gradient of input {i}", **tol)
    return y, grads


def finite_difference_jvp(f, arrays, tangents, h=1e-6):
    """(f(a + h v) - f(a - h v)) / 2h: the directional derivative J·v, for float64 arrays."""
    plus = f(*[a if v is None else a + h * v for a, v in zip(arrays, tangents)])
    minus = f(*[a if v is None else a - h * v for a, v in zip(arrays, tangents)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * h)


@contextlib.contextmanager
def threads(n):
    """Runs the block with gatelab (OpenMP and BLAS) at n threads, then restores the count."""
    before = gl.get_num_threads()
    gl.set_num_threads(n)
    try:
        yield
    finally:
        gl.set_num_threads(before)


def at_one_and_two_threads(run):
    """run() at 1 and at 2 threads; asserts every returned array is bitwise identical."""
    with threads(1):
        one = [np.array(a, copy=True) for a in run()]
    with threads(2):
        two = [np.array(a, copy=True) for a in run()]
    for i, (a, b) in enumerate(zip(one, two)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), f"result {i} differs between 1 and 2 threads (max |diff| " \
                                           f"{np.max(np.abs(a - b)):.3g})"


def raises(error, *fragments):
    """pytest.raises(error) whose message must contain every fragment."""
    return _Raises(error, fragments)


class _Raises:
    def __init__(self, error, fragments):
        self.ctx = pytest.raises(error)
        self.fragments = fragments

    def __enter__(self):
        self.info = self.ctx.__enter__()
        return self.info

    def __exit__(self, *exc):
        handled = self.ctx.__exit__(*exc)
        message = str(self.info.value)
        for fragment in self.fragments:
            assert fragment in message, f"{fragment!r} not in message: {message}"
        return handled
