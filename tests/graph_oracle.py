"""Run one computation through a gatelab Graph and through PyTorch, and compare.

    ours = run_graph(lambda a, b: a @ b, [a, b], dout)      # value, grads, tangent (jvp)
    ref = run_torch(lambda a, b: a @ b, [a, b], dout)       # the same from torch autograd / func.jvp
    assert_match(ours, ref, rtol=1e-10)

Integer arrays (labels) enter as graph inputs / torch tensors that get no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

import gatelab as gl


@dataclass
class Result:
    value: np.ndarray
    grads: List[Optional[np.ndarray]]
    tangent: Optional[np.ndarray] = None


def _float(a: np.ndarray) -> bool:
    return a.dtype.kind == "f"


def run_graph(fn: Callable, arrays: Sequence[np.ndarray], dout=None, tangents=None) -> Result:
    """fn applied to graph inputs holding `arrays`; backward with upstream `dout` (None for a
    scalar output: seed 1); forward mode with `tangents` (one per float input) if given."""
    g = gl.Graph()
    nodes = [g.input(f"in{i}", a) for i, a in enumerate(arrays)]
    out = fn(*nodes)
    value = np.array(g.forward(output=out), copy=True)
    g.backward(out, grad=dout)
    grads = [None if n.grad is None else np.array(n.grad, copy=True) for n in nodes]
    tangent = None
    if tangents is not None:
        pairs = {n: t for n, a, t in zip(nodes, arrays, tangents) if _float(a) and t is not None}
        tangent = np.array(g.jvp(out, pairs), copy=True)
    return Result(value, grads, tangent)


def run_torch(fn: Callable, arrays: Sequence[np.ndarray], dout=None, tangents=None) -> Result:
    """The same computation in PyTorch (dtype kept): autograd for grads, torch.func.jvp for the tangent."""
    ts = [torch.tensor(a, requires_grad=_float(a)) for a in arrays]
    out = fn(*ts)
    seed = torch.ones_like(out) if dout is None else torch.as_tensor(np.asarray(dout)).to(out.dtype)
    diff = [t for t in ts if t.requires_grad]
    got = torch.autograd.grad(out, diff, seed, allow_unused=True)
    by_id = {id(t): g for t, g in zip(diff, got)}
    grads = []
    for t in ts:
        g = by_id.get(id(t))
        if t.requires_grad and g is None:
            g = torch.zeros_like(t)
        grads.append(None if g is None else g.numpy().copy())
    tangent = None
    if tangents is not None:
        # torch.func.jvp over the float inputs; integer inputs (labels) are held fixed.
        primals = [torch.tensor(a) for a in arrays]
        float_idx = [i for i, a in enumerate(arrays) if _float(a)]

        def of_floats(*float_args):
            args = list(primals)
            for i, v in zip(float_idx, float_args):
                args[i] = v
            return fn(*args)

        tans = tuple(torch.tensor(tangents[i]) if tangents[i] is not None else torch.zeros_like(primals[i])
                     for i in float_idx)
        try:
            _, t_out = torch.func.jvp(of_floats, tuple(primals[i] for i in float_idx), tans)
            tangent = t_out.numpy().copy()
        except NotImplementedError:
            # No forward-mode rule in torch (multi_margin_loss): for a scalar output the jvp is
            # <gradient, tangent>, from the reverse-mode gradients above (seeded with 1).
            assert out.dim() == 0 and dout is None, "torch lacks forward mode here; only scalar outputs fall back"
            tangent = np.array(sum(float(np.sum(grads[i] * tangents[i])) for i in float_idx))
    return Result(out.detach().numpy().copy(), grads, tangent)


def assert_match(ours: Result, ref: Result, rtol: float, atol: float = 0.0) -> None:
    """Values, every gradient and the tangent agree within |a - b| <= atol + rtol * |b|
    (NaNs must sit in the same places)."""
    np.testing.assert_equal(np.shape(ours.value), np.shape(ref.value))
    np.testing.assert_allclose(ours.value, ref.value, rtol=rtol, atol=atol, err_msg="value")
    for i, (a, b) in enumerate(zip(ours.grads, ref.grads)):
        if b is None:
            assert a is None, f"input {i} should get no gradient"
            continue
        assert a is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
    if ref.tangent is not None:
        np.testing.assert_allclose(ours.tangent, ref.tangent, rtol=rtol, atol=atol, err_msg="jvp tangent")


def check_against_torch(fn_gl: Callable, fn_torch: Callable, arrays: Sequence[np.ndarray], rng, rtol: float,
                        atol: float = 0.0, with_jvp: bool = True) -> Result:
    """Value, all gradients (random upstream gradient for array outputs) and a random jvp."""
    out = fn_torch(*[torch.tensor(a) for a in arrays])
    dtype = next(a.dtype for a in arrays if _float(a))
    dout = None if out.dim() == 0 else rng.standard_normal(tuple(out.shape)).astype(dtype)
    tangents = [rng.standard_normal(a.shape).astype(a.dtype) if _float(a) else None for a in arrays] if with_jvp else None
    ours = run_graph(fn_gl, arrays, dout, tangents)
    ref = run_torch(fn_torch, arrays, dout, tangents)
    assert_match(ours, ref, rtol=rtol, atol=atol)
    return ours


def assert_backward_accumulates(fn: Callable, arrays: Sequence[np.ndarray], rng) -> None:
    """Inputs used by two gates receive the sum of both gradients: fn(...) + fn(...) must give
    exactly twice the gradients of fn(...) alone (a backward that assigns instead of adding
    gives once)."""
    probe = np.asarray(fn(*arrays))  # the gate run standalone, for the output's shape
    dout = None if probe.ndim == 0 else rng.standard_normal(probe.shape).astype(probe.dtype)
    once = run_graph(fn, arrays, dout)
    twice = run_graph(lambda *n: fn(*n) + fn(*n), arrays, dout)
    for i, (a, b) in enumerate(zip(once.grads, twice.grads)):
        if a is not None:
            np.testing.assert_allclose(b, 2 * a, rtol=1e-12, atol=1e-14, err_msg=f"gradient of input {i}")
