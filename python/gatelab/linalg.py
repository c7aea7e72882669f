"""Linear-algebra and shape functions: ``gl.matmul``, ``gl.affine``, ``gl.transpose``,
``gl.reshape``, ``gl.flatten``.

As with every gate function, graph nodes in give a graph node out, and NumPy arrays in run the
same C++ gate once and give an array out. ``a @ b``, ``x.T`` and ``x.reshape(...)`` on nodes
call these.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

from gatelab import _core
from gatelab.functional import apply

gates = _core.gates

__all__ = ["matmul", "affine", "transpose", "reshape", "flatten"]


def matmul(a, b):
    """``a @ b`` with NumPy's matmul rules.

    a (..., m, k) @ b (..., k, n) -> (..., m, n). A 1-D ``a`` of shape (k,) acts as (1, k) and a
    1-D ``b`` as (k, 1); that added dimension is removed from the result, so (k,) @ (k,) is a
    scalar. Leading (batch) dimensions broadcast as in element-wise NumPy arithmetic. Scalars
    are refused (use ``*``).
    """
    return apply(gates.MatMul(), a, b)


def affine(x, w, b):
    """The course's affine (fully-connected) layer: x (N, d1, ..., dk) is reshaped to (N, D),
    D = d1·...·dk, and ``x @ w + b`` is returned, shape (N, M), for w (D, M) and b (M,)."""
    return apply(gates.Affine(), x, w, b)


def transpose(x, axes: Optional[Sequence[int]] = None):
    """``x.transpose(axes)``: output dimension d is input dimension ``axes[d]``; ``axes=None``
    reverses all dimensions (``x.T``)."""
    return apply(gates.Transpose(None if axes is None else [int(a) for a in axes]), x)


def reshape(x, shape: Union[int, Sequence[int]]):
    """``x.reshape(shape)`` with NumPy's rules: the sizes must multiply to x's size, and one of
    them may be -1 (inferred). The result shares x's memory."""
    if isinstance(shape, int):
        shape = (shape,)
    return apply(gates.Reshape([int(d) for d in shape]), x)


def flatten(x):
    """x (N, d1, ..., dk) -> (N, d1·...·dk), the course's ``x.reshape(N, -1)``."""
    return apply(gates.Flatten(), x)
