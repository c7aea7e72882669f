"""Fully-connected layers and classification losses in the course's (CS231n ``layers.py``)
convention, computed by gatelab's C++ gates.

    out, cache = affine_forward(x, w, b)     # x (N, d1, ..., dk), w (D, M), b (M,) -> out (N, M)
    dx, dw, db = affine_backward(dout, cache)
    out, cache = relu_forward(x)             # any shape
    dx = relu_backward(dout, cache)
    loss, dx = softmax_loss(x, y)            # x (N, C) scores, y (N,) integer labels
    loss, dx = svm_loss(x, y)

Caches are what the course's are (``(x, w, b)`` for affine, ``x`` for relu); the affine cache also
carries the gate that ran forward, so backward reuses it. Arrays come back as ordinary
writable NumPy arrays, losses as Python floats. Inputs are never cast: mixing float32 and
float64 raises TypeError.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from gatelab import _core
from gatelab.layers.common import LayerCache, owned
from gatelab.losses import _labels

gates = _core.gates

__all__ = ["affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss", "svm_loss"]


def affine_forward(x, w, b) -> Tuple[np.ndarray, tuple]:
    """out = x.reshape(N, D) @ w + b for x (N, d1, ..., dk), w (D, M), b (M,); out is (N, M).
    Returns (out, cache) with cache = (x, w, b)."""
    gate = gates.Affine()
    out = gate.forward(x, w, b)
    return owned(out), LayerCache((x, w, b), gate)


def affine_backward(dout, cache) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Given dout (N, M) and the cache (x, w, b): dx (shaped like x) = dout @ w.T,
    dw (D, M) = x.reshape(N, D).T @ dout, db (M,) = dout summed over the batch."""
    x, w, b = cache
    gate = getattr(cache, "gate", None)
    if gate is None:  # a cache built by hand: run forward once to give backward its inputs
        gate = gates.Affine()
        gate.forward(x, w, b)
    dx, dw, db = gate.backward(dout)
    return owned(dx), owned(dw), owned(db)


def relu_forward(x) -> Tuple[np.ndarray, np.ndarray]:
    """out = max(x, 0) element-wise; cache = x."""
    return owned(gates.ReLU().forward(x)), x


def relu_backward(dout, cache) -> np.ndarray:
    """dx = dout where x > 0, else 0 (0 at x == 0, as the course and PyTorch)."""
    gate = gates.ReLU()
    gate.forward(cache)
    (dx,) = gate.backward(dout)
    return owned(dx)


def _classification_loss(gate, who: str, x, y) -> Tuple[float, np.ndarray]:
    loss = gate.forward(x, _labels(who, x, y))
    dx, _ = gate.backward(1.0)
    return float(loss), owned(dx)


def softmax_loss(x, y) -> Tuple[float, np.ndarray]:
    """Softmax cross-entropy: x (N, C) scores, y (N,) labels with 0 <= y[i] < C.
    loss = mean_i -log softmax(x_i)[y_i]; dx = (probs - onehot(y)) / N."""
    return _classification_loss(gates.SoftmaxCrossEntropy(), "softmax_loss", x, y)


def svm_loss(x, y) -> Tuple[float, np.ndarray]:
    """Multiclass SVM (hinge) loss with margin 1: x (N, C) scores, y (N,) labels.
    loss = mean_i sum_{j != y_i} max(0, x_ij - x_iy_i + 1); dx counts the positive margins."""
    return _classification_loss(gates.SVMLoss(1.0), "svm_loss", x, y)
