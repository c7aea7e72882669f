"""A3 driver: runs in the worker beside the student's code and returns plain data; it decides
nothing (the tests judge in the grader's process). Backward passes get caches built as the
notebook's forward passes build them, so each layer is tested on its own."""

from gatelab.grading.models import model_loss, with_params


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
    return with_params(net, params)


def net_loss(ns, params, X, y, reg):
    """scores (y None) or (loss, grads) of the student's ConvNet with the given parameters."""
    return model_loss(make_net(ns, params, reg), X, y)
