"""The tensor rows of the table: conv2d, max_pool2d, softmax_cross_entropy, affine.

Each row builds three contenders on the same data (one ``rng`` seed), each a zero-argument
function doing one call of the row's work:

- gatelab: the built-in gate used standalone, ``gate.forward(...)`` then ``gate.backward(dout)``
  (the arrays go in zero-copy; every call allocates its outputs, as PyTorch's do);
- torch: ``torch.nn.functional`` on tensors sharing the NumPy arrays (``torch.from_numpy``);
  forward rows run under ``torch.no_grad()``, forward+backward rows call
  ``torch.autograd.grad(y, inputs, dout)`` (no ``.grad`` accumulation);
- numpy: the course-style reference in reference.py.

Before timing, the row checks that gatelab's outputs and gradients agree with PyTorch's
(so a fast but wrong kernel cannot win a row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import gatelab as gl
from benchmarks import reference as ref

DTYPES = ("float64", "float32")


@dataclass
class Row:
    """One line of the table: what is measured, how to build its contenders, and its target."""

    section: str
    label: str
    dtype: str
    build: Callable[[], Dict[str, Callable[[], object]]]
    flops: Optional[float] = None           # per call, for GFLOP/s (GEMM-like rows only)
    target: Optional[Tuple[str, float]] = None  # ("torch_ratio_le", 1.0), ("peak_ge", 0.7), ("speedup_ge", 100)
    reference: str = "numpy"                # the contender in the "reference" column
    notes: str = ""
    parallel: bool = True                   # expected to speed up from 1 to 2 threads
    rounds: int = 9
    extra: List[str] = field(default_factory=list)  # further contenders shown as their own columns


def _torch():
    import torch
    return torch


def _agree(name: str, ours, theirs, dtype: str) -> None:
    tol = 1e-9 if dtype == "float64" else 2e-4
    for i, (a, b) in enumerate(zip(ours, theirs)):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        err = np.max(np.abs(a - b)) / max(1e-12, np.max(np.abs(b)))
        if not err <= tol:
            raise AssertionError(f"{name}: output {i} differs from torch by {err:.2e} (relative, max)")


# ---- conv2d ---------------------------------------------------------------------------------------

CONV_CONFIGS = [
    # label, x shape, w shape, stride, pad, groups
    ("x(64,3,32,32) w(32,3,3,3) p1", (64, 3, 32, 32), (32, 3, 3, 3), 1, 1, 1),
    ("x(100,3,31,31) w(25,3,3,3) s2 p1", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1, 1),
    ("x(32,32,16,16) w(64,32,3,3) p1", (32, 32, 16, 16), (64, 32, 3, 3), 1, 1, 1),
    ("depthwise x(32,64,16,16) w(64,1,3,3) p1 g64", (32, 64, 16, 16), (64, 1, 3, 3), 1, 1, 64),
]


def conv_flops(xs, ws, stride, pad) -> float:
    N, C, H, W = xs
    K, Cg, FH, FW = ws
    OH, OW = (H + 2 * pad - FH) // stride + 1, (W + 2 * pad - FW) // stride + 1
    return 2.0 * N * K * Cg * FH * FW * OH * OW


def conv_row(label, xs, ws, stride, pad, groups, dtype, backward: bool) -> Row:
    def build():
        torch = _torch()
        F = torch.nn.functional
        rng = np.random.default_rng(0)
        x = rng.standard_normal(xs).astype(dtype)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
        b = rng.standard_normal(ws[0]).astype(dtype)
        gate = gl.gates.Conv2d(stride=stride, padding=pad, groups=groups)
        y = gate.forward(x, w, b)
        dout = rng.standard_normal(y.shape).astype(dtype)
        xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
        param = {"stride": stride, "pad": pad, "groups": groups}
        if not backward:
            with torch.no_grad():
                _agree(label, [y], [F.conv2d(xt, wt, bt, stride=stride, padding=pad, groups=groups).numpy()], dtype)

            def torch_fn():
                with torch.no_grad():
                    return F.conv2d(xt, wt, bt, stride=stride, padding=pad, groups=groups)
            return {"gatelab": lambda: gate.forward(x, w, b), "torch": torch_fn,
                    "numpy": lambda: ref.conv_forward_strides(x, w, b, param)}
        xg, wg, bg = (t.clone().requires_grad_(True) for t in (xt, wt, bt))
        dt = torch.from_numpy(dout)

        def torch_fb():
            out = F.conv2d(xg, wg, bg, stride=stride, padding=pad, groups=groups)
            return torch.autograd.grad(out, (xg, wg, bg), dt)

        def gatelab_fb():
            gate.forward(x, w, b)
            return gate.backward(dout)

        def numpy_fb():
            _, cache = ref.conv_forward_strides(x, w, b, param)
            return ref.conv_backward_strides(dout, cache)
        _agree(label, gatelab_fb(), [g.numpy() for g in torch_fb()], dtype)
        return {"gatelab": gatelab_fb, "torch": torch_fb, "numpy": numpy_fb}

    flops = conv_flops(xs, ws, stride, pad) * (3 if backward else 1)
    target = None
    if backward:
        target = ("torch_ratio_le", 1.0 if dtype == "float64" else 1.5)
    return Row("conv2d " + ("forward+backward" if backward else "forward"), label, dtype, build, flops, target)


# ---- max_pool2d -------------------------------------------------------------------------------------

POOL_CONFIGS = [
    ("2x2/2 on (100,3,32,32)", (100, 3, 32, 32), 2, 2),
    ("3x3/2 on (64,32,16,16)", (64, 32, 16, 16), 3, 2),
]


def pool_row(label, xs, k, s, dtype) -> Row:
    def build():
        torch = _torch()
        F = torch.nn.functional
        rng = np.random.default_rng(1)
        x = rng.standard_normal(xs).astype(dtype)
        gate = gl.gates.MaxPool2d(k, stride=s)
        y = gate.forward(x)
        dout = rng.standard_normal(y.shape).astype(dtype)
        xg = torch.from_numpy(x).clone().requires_grad_(True)
        dt = torch.from_numpy(dout)
        param = {"pool_height": k, "pool_width": k, "stride": s}

        def torch_fb():
            out = F.max_pool2d(xg, k, s)
            return torch.autograd.grad(out, (xg,), dt)

        def gatelab_fb():
            gate.forward(x)
            return gate.backward(dout)

        def numpy_fb():
            _, cache = ref.max_pool_forward_fast(x, param)
            return ref.max_pool_backward_fast(dout, cache)
        _agree(label, gatelab_fb(), [g.numpy() for g in torch_fb()], dtype)
        _agree(label + " (numpy reference)", [numpy_fb()], [g.numpy() for g in torch_fb()], dtype)
        return {"gatelab": gatelab_fb, "torch": torch_fb, "numpy": numpy_fb}

    return Row("max_pool2d forward+backward", label, dtype, build, target=("torch_ratio_le", 1.0))


# ---- softmax cross-entropy ------------------------------------------------------------------------

def softmax_row(n, c, dtype) -> Row:
    def build():
        torch = _torch()
        F = torch.nn.functional
        rng = np.random.default_rng(2)
        s = (3 * rng.standard_normal((n, c))).astype(dtype)
        y = rng.integers(0, c, n).astype(np.int64)
        gate = gl.gates.SoftmaxCrossEntropy()
        one = np.array(1.0, dtype=dtype)
        sg = torch.from_numpy(s).clone().requires_grad_(True)
        yt = torch.from_numpy(y)

        def torch_fb():
            loss = F.cross_entropy(sg, yt)
            return loss, torch.autograd.grad(loss, (sg,))

        def gatelab_fb():
            loss = gate.forward(s, y)
            return loss, gate.backward(one)

        loss, grads = gatelab_fb()
        tl, tg = torch_fb()
        _agree(f"softmax_cross_entropy ({n},{c})", [loss, grads[0]], [tl.detach().numpy(), tg[0].numpy()], dtype)
        return {"gatelab": gatelab_fb, "torch": torch_fb, "numpy": lambda: ref.softmax_loss(s, y)}

    return Row("softmax_cross_entropy forward+backward", f"scores ({n},{c})", dtype, build,
               target=("torch_ratio_le", 1.0))


# ---- affine -------------------------------------------------------------------------------------------

def affine_row(dtype, backward: bool) -> Row:
    n, d, m = 128, 3072, 100

    def build():
        torch = _torch()
        rng = np.random.default_rng(3)
        x = rng.standard_normal((n, d)).astype(dtype)
        w = (rng.standard_normal((d, m)) / np.sqrt(d)).astype(dtype)
        b = rng.standard_normal(m).astype(dtype)
        dout = rng.standard_normal((n, m)).astype(dtype)
        gate = gl.gates.Affine()
        xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
        if not backward:
            with torch.no_grad():
                _agree("affine", [gate.forward(x, w, b)], [torch.addmm(bt, xt, wt).numpy()], dtype)

            def torch_fn():
                with torch.no_grad():
                    return torch.addmm(bt, xt, wt)
            return {"gatelab": lambda: gate.forward(x, w, b), "torch": torch_fn,
                    "numpy": lambda: ref.affine_forward(x, w, b)}
        xg, wg, bg = (t.clone().requires_grad_(True) for t in (xt, wt, bt))
        dt = torch.from_numpy(dout)

        def torch_fb():
            return torch.autograd.grad(torch.addmm(bg, xg, wg), (xg, wg, bg), dt)

        def gatelab_fb():
            gate.forward(x, w, b)
            return gate.backward(dout)

        def numpy_fb():
            _, cache = ref.affine_forward(x, w, b)
            return ref.affine_backward(dout, cache)
        _agree("affine", gatelab_fb(), [g.numpy() for g in torch_fb()], dtype)
        return {"gatelab": gatelab_fb, "torch": torch_fb, "numpy": numpy_fb}

    flops = 2.0 * n * d * m * (3 if backward else 1)
    target = ("peak_ge", 0.7) if (not backward and dtype == "float64") else None
    return Row("affine " + ("forward+backward" if backward else "forward"), "(128,3072) x (3072,100)", dtype, build,
               flops, target)


def tensor_rows() -> List[Row]:
    rows: List[Row] = []
    for backward in (False, True):
        for dtype in DTYPES:
            rows += [conv_row(*cfg, dtype=dtype, backward=backward) for cfg in CONV_CONFIGS]
    for dtype in DTYPES:
        rows += [pool_row(*cfg, dtype=dtype) for cfg in POOL_CONFIGS]
    for dtype in DTYPES:
        rows += [softmax_row(4096, 10, dtype), softmax_row(512, 1000, dtype)]
    for backward in (False, True):
        rows += [affine_row(dtype, backward) for dtype in DTYPES]
    return rows
