"""Convolutions: ``gl.conv2d(x, w, b)`` on (N, C, H, W) images, ``gl.conv1d`` on (N, C, L) signals.

Like ``functional.py``: given graph nodes they add a gate node, given arrays they run the C++
gate once and return the result. As in every deep-learning library these are
cross-correlations (the kernel is not flipped), and the output size per axis is

    out = floor((n + 2*padding - dilation*(f - 1) - 1) / stride) + 1

(``gl.conv_output_size`` computes it, or explains why it doesn't fit).
"""

from __future__ import annotations

from typing import Tuple, Union

from gatelab import _core
from gatelab.functional import apply

IntOrPair = Union[int, Tuple[int, int]]

__all__ = ["conv1d", "conv2d", "conv_output_size"]

conv_output_size = _core.conv_output_size


def conv2d(x, w, b=None, stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1, groups: int = 1):
    """2-D convolution (cross-correlation) with zero padding.

    x: (N, C, H, W); w: (K, C/groups, FH, FW); b: (K,) or None.
    Returns (N, K, OH, OW) with OH = floor((H + 2P - D(FH - 1) - 1)/S) + 1, likewise OW.
    stride, padding and dilation are an int or an (h, w) pair; groups splits the C channels
    (and the K filters) into independent groups, groups = C being a depthwise convolution.
    """
    gate = _core.gates.Conv2d(stride, padding, dilation, groups)
    return apply(gate, x, w) if b is None else apply(gate, x, w, b)


def conv1d(x, w, b=None, stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1):
    """1-D convolution (cross-correlation) with zero padding.

    x: (N, C, L); w: (K, C/groups, F); b: (K,) or None.
    Returns (N, K, OL) with OL = floor((L + 2P - D(F - 1) - 1)/S) + 1.
    """
    gate = _core.gates.Conv1d(stride, padding, dilation, groups)
    return apply(gate, x, w) if b is None else apply(gate, x, w, b)
