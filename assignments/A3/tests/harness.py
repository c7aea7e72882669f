"""A3 harness: runs inside the student's sandboxed process. Backward passes get caches built as
the notebook's forward passes build them, so each layer is tested on its own."""

import numpy as np


def forward(ns, name, *args):
    """out of a layer's forward pass (the cache stays here)."""
    result = ns.get(name)(*args)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"{name} should return (out, cache)")
    return result[0]


def conv_backward(ns, dout, x, w, b, conv_param):
    return ns.get("conv_backward_naive")(dout, (x, w, b, conv_param))


def max_pool_backward(ns, dout, x, pool_param):
    return ns.get("max_pool_backward_naive")(dout, (x, pool_param))


def make_net(ns, params, reg):
    W1, W3 = params["W1"], params["W3"]
    F, C = W1.shape[:2]
    side = int(round((params["W2"].shape[0] // F) ** 0.5)) * 2
    net = ns.get("ConvNet")(input_dim=(C, side, side), num_filters=F, hidden_dim=W3.shape[0],
                            num_classes=W3.shape[1], reg=reg)
    net.params.update({k: np.array(v) for k, v in params.items()})
    return net


def net_loss(ns, params, X, y, reg):
    """scores (y None) or (loss, grads) of the student's ConvNet with the given parameters."""
    result = make_net(ns, params, reg).loss(X, y)
    if y is None:
        return result
    loss_value, grads = result
    return float(np.asarray(loss_value)), {k: grads[k] for k in params}


def train_net(ns, X, y, X_val, y_val, reg, learning_rate, batches):
    """Validation accuracy of the student's ConvNet after minibatch gradient descent over
    ``batches`` (lists of indices into X)."""
    net = ns.get("ConvNet")(input_dim=X.shape[1:], reg=reg, seed=0)
    for batch in batches:
        _, grads = net.loss(X[batch], y[batch])
        for k in net.params:
            net.params[k] = net.params[k] - learning_rate * np.asarray(grads[k])
    return float(np.mean(np.asarray(net.loss(X_val)).argmax(axis=1) == y_val))
