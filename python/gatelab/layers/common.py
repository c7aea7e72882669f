"""What every layer family of the course's functional API shares: the cache and the outputs."""

from __future__ import annotations

import numpy as np

__all__ = ["LayerCache", "owned"]


class LayerCache(tuple):
    """The course's cache tuple, plus ``gate``: the gate whose forward pass filled it."""

    def __new__(cls, items, gate):
        cache = super().__new__(cls, items)
        cache.gate = gate
        return cache


def owned(a) -> np.ndarray:
    """A writable array the caller owns (gate outputs are read-only views of C++ memory)."""
    return np.array(a, copy=True)
