"""A2 harness: runs inside the student's sandboxed process. Each function takes the
submission's namespace ``ns`` and returns plain arrays and numbers. Backward passes get caches
built as the notebook's forward passes build them, so each function is tested on its own."""

import numpy as np


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
    net.params.update({k: np.array(v) for k, v in params.items()})
    return net


def net_loss(ns, params, X, y, reg):
    """scores (y None) or (loss, grads) of the student's TwoLayerNet with the given parameters."""
    result = make_net(ns, params, reg).loss(X, y)
    if y is None:
        return result
    loss_value, grads = result
    return float(np.asarray(loss_value)), {k: grads[k] for k in params}


def train_net(ns, X, y, X_val, y_val, hidden_dim, reg, learning_rate, steps):
    """Validation accuracy after full-batch gradient descent on the student's network."""
    net = ns.get("TwoLayerNet")(input_dim=X.shape[1], hidden_dim=hidden_dim, num_classes=int(y.max()) + 1,
                                reg=reg, seed=0)
    for _ in range(steps):
        _, grads = net.loss(X, y)
        for k in net.params:
            net.params[k] = net.params[k] - learning_rate * np.asarray(grads[k])
    return float(np.mean(np.asarray(net.loss(X_val)).argmax(axis=1) == y_val))
