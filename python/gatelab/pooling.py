"""Pooling: ``gl.max_pool2d`` and ``gl.avg_pool2d`` on (N, C, H, W).

Like ``functional.py``: given a graph node they add a gate node, given an array they run the
C++ gate once. Output size per axis: floor((n + 2*padding - kernel_size) / stride) + 1, with
stride defaulting to kernel_size (non-overlapping windows) and padding at most kernel_size/2.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

from gatelab import _core
from gatelab.functional import apply

IntOrPair = Union[int, Tuple[int, int]]

__all__ = ["max_pool2d", "avg_pool2d"]


def max_pool2d(x, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None, padding: IntOrPair = 0):
    """Max over each window: x (N, C, H, W) -> (N, C, OH, OW).

    The gradient of each output goes to one element of its window: the first maximum in
    row-major order (ties are deterministic, as in PyTorch); NaN propagates. Where windows
    overlap (stride < kernel_size) an element collects the gradients of every window it won.
    """
    return apply(_core.gates.MaxPool2d(kernel_size, stride, padding), x)


def avg_pool2d(x, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None, padding: IntOrPair = 0,
               count_include_pad: bool = True):
    """Mean over each window: x (N, C, H, W) -> (N, C, OH, OW).

    Padding adds zeros, which count in the divisor when ``count_include_pad`` (PyTorch's default).
    """
    return apply(_core.gates.AvgPool2d(kernel_size, stride, padding, count_include_pad), x)
