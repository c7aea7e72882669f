"""Helpers for assignments in which students write a model in the course's convention: a
``params`` dict and ``loss(X, y=None)`` returning the scores, or ``(loss, grads)`` with ``grads``
keyed like ``params``. Harness functions (in the student's process) and oracles (in the grader,
with a gatelab graph as the model) share them, so both sides train exactly the same way.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence

import numpy as np

__all__ = ["with_params", "model_loss", "train", "accuracy"]

Params = Dict[str, np.ndarray]


def with_params(model, params: Params):
    """``model`` with its parameters replaced by (copies of) ``params``."""
    model.params.update({k: np.array(v, dtype=np.float64) for k, v in params.items()})
    return model


def model_loss(model, X, y=None):
    """The scores (y None), or (loss as a float, grads restricted to the model's parameters)."""
    result = model.loss(X, y)
    if y is None:
        return result
    loss, grads = result
    return float(np.asarray(loss)), {k: grads[k] for k in model.params}


def train(loss_and_grads: Callable[[Params, np.ndarray, np.ndarray], tuple], params: Params, X, y,
          batches: Sequence[np.ndarray], learning_rate: float) -> Params:
    """Plain gradient descent, one step per batch of indices: params - learning_rate * grads."""
    for batch in batches:
        _, grads = loss_and_grads(params, X[batch], y[batch])
        params = {k: params[k] - learning_rate * np.asarray(grads[k]) for k in params}
    return params


def accuracy(scores, y) -> float:
    return float(np.mean(np.asarray(scores).argmax(axis=1) == np.asarray(y)))
