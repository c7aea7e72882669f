"""Helpers for assignments in which students write a model in the course's convention: a
``params`` dict and ``loss(X, y=None)`` returning the scores, or ``(loss, grads)`` with ``grads``
keyed like ``params``.

``with_params`` and ``model_loss`` run in the worker (the driver calls the student's model);
``train`` and ``accuracy`` run in the grader: the training loop is the grader's, it asks the
worker only for each step's loss and gradients, checks them, and measures accuracy itself, with
its own network, on data the worker never sees.
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
          batches: Sequence[np.ndarray], learning_rate: float, what: str = "the gradients") -> Params:
    """Plain gradient descent, one step per batch of indices: params - learning_rate * grads.
    Each step's gradients must be finite and shaped like their parameters (WrongAnswer if not)."""
    from gatelab.grading.checks import as_array
    from gatelab.grading.failures import WrongAnswer

    for step, batch in enumerate(batches):
        result = loss_and_grads(params, X[batch], y[batch])
        grads = result[1] if isinstance(result, tuple) and len(result) == 2 else None
        if not isinstance(grads, dict) or set(grads) != set(params):
            raise WrongAnswer(f"{what} at step {step}: loss should return (loss, grads) with grads keyed like params "
                              f"({sorted(params)})")
        params = {k: params[k] - learning_rate * as_array(grads[k], f"{what}['{k}'] at step {step}", params[k].shape)
                  for k in params}
    return params


def accuracy(scores, y) -> float:
    return float(np.mean(np.asarray(scores).argmax(axis=1) == np.asarray(y)))
