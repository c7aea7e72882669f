"""Softmax and the losses: ``gl.softmax``, ``gl.log_softmax``, ``gl.softmax_cross_entropy``,
``gl.svm_loss``, ``gl.mse_loss``, ``gl.bce_with_logits``.

Each loss returns one number, the mean over the batch (classification losses) or over all
elements (mse, bce). Classification labels are class indices 0..C-1, one per row of scores:
either a graph node holding an int64 array (``g.input("y", y)`` — a training loop can then feed
new batches with ``g.forward({"y": y_batch})``) or an integer array, which becomes a constant.
Float labels are refused with a TypeError (convert with ``y.astype(np.int64)``); a label out of
range is a ValueError naming its row.
"""

from __future__ import annotations

import numpy as np

from gatelab import _core
from gatelab.functional import apply
from gatelab.graph import Node, graph_of

gates = _core.gates

__all__ = ["softmax", "log_softmax", "softmax_cross_entropy", "svm_loss", "mse_loss", "bce_with_logits"]


def softmax(x, axis: int = -1):
    """exp(x - max) / sum exp(x - max) along ``axis`` (default the last, the classes of (N, C))."""
    return apply(gates.Softmax(int(axis)), x)


def log_softmax(x, axis: int = -1):
    """x - max - log sum exp(x - max) along ``axis`` (default the last); stable for large |x|."""
    return apply(gates.LogSoftmax(int(axis)), x)


def _labels(who: str, scores, labels):
    """Labels as the gate takes them: a node stays a node; an array of integers becomes int64
    (a constant node when scores is a node). Integer dtypes widen to int64 losslessly; floats,
    bools and anything else are refused."""
    if isinstance(labels, Node):
        return labels
    arr = np.asarray(labels)
    if arr.dtype.kind == "f":
        raise TypeError(f"{who}: labels are {arr.dtype}; labels are class indices 0..C-1, pass them as integers: "
                        "y.astype(np.int64)")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{who}: labels must be integer class indices (int64), got an array of dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    graph = graph_of(scores)
    return graph.constant(arr, dtype=np.int64) if graph is not None else arr


def softmax_cross_entropy(scores, labels):
    """Softmax followed by cross-entropy, fused: scores (N, C), labels (N,) int64 ->
    mean_i -log softmax(scores_i)[labels_i], a scalar. Backward: (probs - onehot) / N."""
    who = "softmax_cross_entropy"
    return apply(gates.SoftmaxCrossEntropy(), scores, _labels(who, scores, labels))


def svm_loss(scores, labels, margin: float = 1.0):
    """Multiclass hinge (SVM) loss: scores (N, C), labels (N,) int64 ->
    mean_i sum_{j != y_i} max(0, s_ij - s_iy_i + margin), a scalar. At a margin of exactly 0 the
    gradient is 0 (CS231n and PyTorch's convention)."""
    return apply(gates.SVMLoss(float(margin)), scores, _labels("svm_loss", scores, labels))


def mse_loss(prediction, target):
    """mean((prediction - target) ** 2) over all elements; both of one shape."""
    return apply(gates.MSELoss(), prediction, target)


def bce_with_logits(logits, targets):
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1] (same shape), mean over
    all elements, computed without overflow as max(x, 0) - x t + log(1 + exp(-|x|))."""
    return apply(gates.BCEWithLogits(), logits, targets)
