"""A2 driver: runs in the worker beside the student's code. Each function takes the
submission's namespace ``ns`` and returns plain arrays and numbers; it decides nothing (the
tests judge in the grader's process). Backward passes get caches built as the notebook's
forward passes build them, so each function is tested on its own."""

import numpy as np

from gatelab.grading.models import model_loss, with_params


def forward(ns, name, *args):
    """out of a layer's forward pass (the cache stays here)."""
    result = ns.get(name)(*args)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"{name} should return (out, cache)")
    return result[0]


def affine_backward(ns, dout, x, w, b):
    return ns.get("affine_backward")(dout, (x, w, b))


def relu_backward(ns, dout, x):
    return ns.get("relu_backward")(dout, x)


def loss(ns, name, x, y):
    """(loss, dx) of softmax_loss or svm_loss."""
    result = ns.get(name)(x, y)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"{name} should return (loss, dx)")
    return float(np.asarray(result[0])), result[1]


def make_net(ns, params, reg):
    W1, W2 = params["W1"], params["W2"]
    net = ns.get("TwoLayerNet")(input_dim=W1.shape[0], hidden_dim=W1.shape[1], num_classes=W2.shape[1], reg=reg)
    return with_params(net, params)


def net_loss(ns, params, X, y, reg):
    """scores (y None) or (loss, grads) of the student's TwoLayerNet with the given parameters."""
    return model_loss(make_net(ns, params, reg), X, y)
