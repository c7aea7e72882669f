"""Explicit Jacobians for small graphs, and why backpropagation never forms them.

    J = g.jacobian(y, x)                    # shape (y.size, x.size): row k = backward with e_k
    J = g.jacobian(y, x, mode="forward")    # the same, column j = forward mode with e_j
    check = g.check_vjp(y, x)               # J^T · upstream equals what backward computes
    print(gl.jacobian_memory((64, 16, 32, 32), (64, 3, 32, 32)))       # bytes of a full J vs the VJP
    print(gl.conv2d_jacobian_memory((64, 3, 32, 32), (16, 3, 3, 3), padding=1))

A Jacobian of output y with respect to x has y.size × x.size entries. Reverse mode gets it one
ROW per backward pass (upstream e_k), forward mode one COLUMN per forward pass (tangent e_j):
the lecture's "n reverse passes or m forward passes". Backward itself never builds it: it
computes the vector-Jacobian product J^T · upstream directly, in memory the size of x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from gatelab.graph import Graph, Node

__all__ = ["jacobian", "check_vjp", "VJPCheck", "jacobian_memory", "conv2d_jacobian_memory", "JacobianMemory",
           "LayerJacobianMemory"]


def _fresh(graph: Graph) -> None:
    if not graph._g.fresh:
        graph.forward()


def _one_hot(shape, dtype, k: int) -> np.ndarray:
    e = np.zeros(shape, dtype=dtype)
    e.flat[k] = 1
    return e


def jacobian(graph: Graph, output: Node, wrt: Union[Node, Sequence[Node]], *, mode: str = "reverse"):
    """d output / d wrt as a float64 array of shape (output.size, wrt.size), or a list of such
    arrays when ``wrt`` is a list. ``mode="reverse"``: one backward pass per output element (wrt
    may be any node); ``"forward"``: one jvp per element of wrt (wrt must be inputs or parameters).
    Leaves the graph's grads (reverse) or tangents (forward) at those of the last pass."""
    out = graph._check(output)
    targets = [graph._check(w) for w in (wrt if isinstance(wrt, (list, tuple)) else [wrt])]
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")
    _fresh(graph)
    out_shape, out_dtype = np.shape(out.value), out.dtype
    m = int(np.prod(out_shape))
    result = []
    if mode == "reverse":
        mats = [np.zeros((m, int(np.prod(np.shape(t.value))))) for t in targets]
        for k in range(m):
            graph.backward(out, _one_hot(out_shape, out_dtype, k))
            for mat, t in zip(mats, targets):
                if t.grad is not None:
                    mat[k] = np.ravel(t.grad)
        result = mats
    else:
        for t in targets:
            if t.kind == "op":
                raise ValueError(f"jacobian: forward mode seeds leaves; '{t.name}' is computed by a gate "
                                 "(use mode='reverse' for an intermediate node)")
            n = int(np.prod(np.shape(t.value)))
            mat = np.zeros((m, n))
            for j in range(n):
                mat[:, j] = np.ravel(graph.jvp(out, {t: _one_hot(np.shape(t.value), t.dtype, j)}))
            result.append(mat)
    return result if isinstance(wrt, (list, tuple)) else result[0]


@dataclass
class VJPCheck:
    """J^T · upstream computed from the explicit Jacobian, next to what backward computes."""

    jacobian: np.ndarray            # (output size, wrt size)
    upstream: np.ndarray            # shaped like the output
    jt_upstream: np.ndarray         # J^T · upstream, shaped like wrt
    backward: np.ndarray            # wrt.grad after g.backward(output, grad=upstream)
    output_name: str
    wrt_name: str

    @property
    def max_abs_difference(self) -> float:
        return float(np.max(np.abs(self.jt_upstream - self.backward), initial=0.0))

    @property
    def match(self) -> bool:
        return bool(np.allclose(self.jt_upstream, self.backward, rtol=1e-10, atol=1e-12))

    def __str__(self) -> str:
        m, n = self.jacobian.shape
        return (f"J = d {self.output_name} / d {self.wrt_name} has {m} x {n} = {m * n} entries.\n"
                f"J^T · upstream      = {np.array2string(np.ravel(self.jt_upstream), precision=5, threshold=8)}\n"
                f"backward (no J)     = {np.array2string(np.ravel(self.backward), precision=5, threshold=8)}\n"
                f"max |difference| = {self.max_abs_difference:.2g}: "
                + ("backward computes J^T · upstream without forming J." if self.match else "they DIFFER."))


def check_vjp(graph: Graph, output: Node, wrt: Node, upstream=None, *, seed: int = 0) -> VJPCheck:
    """Shows that backward computes J^T · upstream: builds J explicitly (one backward per output
    element), multiplies, and compares with one backward pass seeded with ``upstream``
    (default: a random upstream gradient from ``seed``)."""
    out, w = graph._check(output), graph._check(wrt)
    J = jacobian(graph, out, w)
    shape = np.shape(out.value)
    if upstream is None:
        upstream = np.random.default_rng(seed).standard_normal(shape).astype(out.dtype)
    upstream = np.asarray(upstream, dtype=out.dtype)
    if upstream.shape != shape:
        raise ValueError(f"check_vjp: upstream has shape {upstream.shape}, the output '{out.name}' has {shape}")
    jt_u = (J.T @ upstream.ravel().astype(np.float64)).reshape(np.shape(w.value))
    graph.backward(out, upstream)
    return VJPCheck(J, upstream, jt_u, np.array(w.grad, dtype=np.float64), out.name, w.name)


# ---- the memory a full Jacobian would take ------------------------------------------------------

def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1000 or unit == "EB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"


@dataclass
class JacobianMemory:
    """What d output / d wrt costs as a full matrix, and what the VJP needs instead."""

    output_shape: Tuple[int, ...]
    wrt_shape: Tuple[int, ...]
    itemsize: int
    name: str = "d out / d in"

    @property
    def entries(self) -> int:
        return int(np.prod(self.output_shape, dtype=object)) * int(np.prod(self.wrt_shape, dtype=object))

    @property
    def jacobian_bytes(self) -> int:
        return self.entries * self.itemsize

    @property
    def vjp_bytes(self) -> int:
        """Backward holds the upstream gradient (output-sized) and writes one wrt-sized gradient."""
        sizes = int(np.prod(self.output_shape, dtype=object)) + int(np.prod(self.wrt_shape, dtype=object))
        return sizes * self.itemsize

    @property
    def ratio(self) -> float:
        return self.jacobian_bytes / self.vjp_bytes

    def __str__(self) -> str:
        shape = lambda s: "×".join(str(d) for d in s) or "1"  # noqa: E731
        return (f"{self.name}: Jacobian ({shape(self.output_shape)}) x ({shape(self.wrt_shape)}) = "
                f"{self.entries:,} entries = {_bytes(self.jacobian_bytes)}; "
                f"the VJP needs {_bytes(self.vjp_bytes)} ({self.ratio:,.0f}x less)")


def _shape_of(x) -> Tuple[int, ...]:
    if isinstance(x, Node):
        return tuple(np.shape(x.value))
    return tuple(int(d) for d in x)


def jacobian_memory(output, wrt, *, dtype="float64", name: Optional[str] = None) -> JacobianMemory:
    """Memory of the full Jacobian d output / d wrt versus the VJP that backward computes.
    ``output`` and ``wrt``: shapes (tuples) or graph nodes; same order as g.jacobian(output, wrt)."""
    return JacobianMemory(_shape_of(output), _shape_of(wrt), np.dtype(dtype).itemsize,
                          name or "d out / d in")


@dataclass
class LayerJacobianMemory:
    """jacobian_memory for each input of one layer."""

    layer: str
    output_shape: Tuple[int, ...]
    parts: Dict[str, JacobianMemory]

    def __getitem__(self, key: str) -> JacobianMemory:
        return self.parts[key]

    def __str__(self) -> str:
        return "\n".join([f"{self.layer} -> output {self.output_shape}"] + [f"  {p}" for p in self.parts.values()])


def conv2d_jacobian_memory(x_shape, w_shape, *, stride: int = 1, padding: int = 0, dilation: int = 1,
                           groups: int = 1, bias: bool = True, dtype="float64") -> LayerJacobianMemory:
    """jacobian_memory for a conv2d layer, x (N,C,H,W), w (K,C/groups,FH,FW): Jacobians of the
    output with respect to x, w (and b), as (N,K,H',W') x (input shape)."""
    n, c, h, w = (int(d) for d in x_shape)
    k, cg, fh, fw = (int(d) for d in w_shape)
    if cg * groups != c:
        raise ValueError(f"conv2d_jacobian_memory: w has {cg} input channels per group, x has {c} channels "
                         f"and groups={groups}; need C/groups = {c // max(groups, 1)}")
    ho = (h + 2 * padding - dilation * (fh - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (fw - 1) - 1) // stride + 1
    if ho <= 0 or wo <= 0:
        raise ValueError(f"conv2d_jacobian_memory: the output would be {ho}x{wo}; the kernel does not fit the input")
    out = (n, k, ho, wo)
    parts = {"x": jacobian_memory(out, (n, c, h, w), dtype=dtype, name="d out / d x"),
             "w": jacobian_memory(out, (k, cg, fh, fw), dtype=dtype, name="d out / d w")}
    if bias:
        parts["b"] = jacobian_memory(out, (k,), dtype=dtype, name="d out / d b")
    return LayerJacobianMemory(f"conv2d x{tuple(x_shape)} w{tuple(w_shape)} stride={stride} padding={padding}",
                               out, parts)
