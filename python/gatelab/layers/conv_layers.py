"""Convolution and max-pooling layers in the course's functional convention (CS231n).

Each forward returns ``(out, cache)`` and each backward takes ``(dout, cache)``, so an existing
assignment switches to gatelab's C++ gates by changing one import::

    from gatelab.layers import conv_forward_fast, conv_backward_fast   # was cs231n.fast_layers

* ``conv_forward(x, w, b, conv_param)``: x (N, C, H, W), w (F, C, HH, WW), b (F,),
  conv_param = {'stride': S, 'pad': P}; out (N, F, H', W') with H' = 1 + (H + 2P - HH) / S.
  As the course's im2col layer asserts, (H + 2P - HH) must be divisible by S (likewise W); the
  error says which padding or stride would work.
* ``conv_backward(dout, cache) -> (dx, dw, db)``.
* ``max_pool_forward(x, pool_param)``: pool_param = {'pool_height', 'pool_width', 'stride'};
  out (N, C, H', W') with H' = 1 + (H - pool_height) // stride (as the naive layer).
* ``max_pool_backward(dout, cache) -> dx``: each output's gradient goes to one maximum of its
  window (the first, on ties) and adds up where windows overlap.

The cache is the course's tuple, ``(x, w, b, conv_param)`` or ``(x, pool_param)``, so code that
unpacks it keeps working; it also carries the gate that ran forward (``cache.gate``). Returned
arrays are ordinary writable NumPy arrays.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

from gatelab import _core
from gatelab.layers.common import LayerCache
from gatelab.layers.common import owned as _owned

__all__ = [
    "conv_forward", "conv_backward", "max_pool_forward", "max_pool_backward",
    # the names the course's notebooks import (cs231n.layers / cs231n.fast_layers)
    "conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
    "conv_forward_fast", "conv_backward_fast", "conv_forward_im2col", "conv_backward_im2col",
    "conv_forward_strides", "conv_backward_strides", "max_pool_forward_fast", "max_pool_backward_fast",
    "max_pool_forward_reshape", "max_pool_backward_reshape", "max_pool_forward_im2col", "max_pool_backward_im2col",
]


def _pair(value, key: str, who: str) -> Tuple[int, int]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    raise TypeError(f"{who}: {key} must be an int or an (h, w) pair, got {value!r}")


def _gate_of(cache, kind, who: str):
    gate = getattr(cache, "gate", None)
    if not isinstance(gate, kind):
        raise TypeError(f"{who}: cache must be the one returned by the matching forward function "
                        f"(got a {type(cache).__name__})")
    return gate


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: Dict[str, Any]):
    """out, cache for x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride', 'pad'}."""
    who = "conv_forward"
    stride = _pair(conv_param.get("stride", 1), "conv_param['stride']", who)
    pad = _pair(conv_param.get("pad", 0), "conv_param['pad']", who)
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim == 4 and w.ndim == 4:  # the gate explains other ranks
        for axis, n, f, s, p in (("H", x.shape[2], w.shape[2], stride[0], pad[0]),
                                 ("W", x.shape[3], w.shape[3], stride[1], pad[1])):
            _core.conv_output_size(n, f, s, p, 1, True, who=who, axis=axis)
    gate = _core.gates.Conv2d(stride, pad)
    out = gate.forward(x, w) if b is None else gate.forward(x, w, b)
    return _owned(out), LayerCache((x, w, b, conv_param), gate)


def conv_backward(dout: np.ndarray, cache):
    """dx, dw, db (each shaped like its input; db is None if forward had no bias)."""
    gate = _gate_of(cache, _core.gates.Conv2d, "conv_backward")
    grads = gate.backward(dout)
    dx, dw = _owned(grads[0]), _owned(grads[1])
    return dx, dw, _owned(grads[2]) if len(grads) == 3 else None


def max_pool_forward(x: np.ndarray, pool_param: Dict[str, Any]):
    """out, cache for x (N, C, H, W), pool_param {'pool_height', 'pool_width', 'stride'}."""
    try:
        kernel = (int(pool_param["pool_height"]), int(pool_param["pool_width"]))
        stride = pool_param["stride"]
    except KeyError as missing:
        raise KeyError(f"max_pool_forward: pool_param needs 'pool_height', 'pool_width' and 'stride'; "
                       f"{missing} is missing") from None
    gate = _core.gates.MaxPool2d(kernel, _pair(stride, "pool_param['stride']", "max_pool_forward"))
    return _owned(gate.forward(x)), LayerCache((x, pool_param), gate)


def max_pool_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx, shaped like x."""
    gate = _gate_of(cache, _core.gates.MaxPool2d, "max_pool_backward")
    return _owned(gate.backward(dout)[0])


# The course's names: its naive loops, its Cython im2col, its as_strided trick and its reshape
# pooling all compute the same functions; here they are one C++ implementation.
conv_forward_naive = conv_forward_fast = conv_forward_im2col = conv_forward_strides = conv_forward
conv_backward_naive = conv_backward_fast = conv_backward_im2col = conv_backward_strides = conv_backward
max_pool_forward_naive = max_pool_forward_fast = max_pool_forward_reshape = max_pool_forward_im2col = max_pool_forward
max_pool_backward_naive = max_pool_backward_fast = max_pool_backward_reshape = max_pool_backward_im2col = \
    max_pool_backward
