"""A3 oracle: gatelab's C++ convolution and pooling gates and graph compute, in the grader's
process, what each student function should return. No answers are stored; none of this reaches
the worker."""

import numpy as np

import gatelab as gl
from gatelab.grading import WrongAnswer, check_close, check_gradient, check_scalar
from gatelab.grading.models import accuracy, train


def conv_reference(x, w, b, stride, pad, dout=None):
    """out, and (dx, dw, db) for ``dout``, of gatelab's Conv2d gate."""
    gate = gl.gates.Conv2d(stride, pad)
    out = np.array(gate.forward(x, w, b))
    return out, (gate.backward(dout) if dout is not None else None)


def pool_reference(x, ph, pw, stride, dout=None):
    """out, and dx for ``dout``, of gatelab's MaxPool2d gate."""
    gate = gl.gates.MaxPool2d((ph, pw), stride)
    out = np.array(gate.forward(x))
    return out, (gate.backward(dout)[0] if dout is not None else None)


def check_conv(student, rng, x_shape, w_shape, stride, pad, backward=True):
    x, w, b = rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[0])
    conv_param = {"stride": stride, "pad": pad}
    where = f"(stride {stride}, pad {pad})"
    out = student.run("forward", "conv_forward_naive", x, w, b, conv_param, what="conv_forward_naive")
    want_out, _ = conv_reference(x, w, b, stride, pad)
    check_close(f"conv_forward_naive's out {where}", out, want_out)
    if backward:
        dout = rng.normal(size=want_out.shape)
        _, want = conv_reference(x, w, b, stride, pad, dout)
        got = student.run("conv_backward", dout, x, w, b, conv_param, what="conv_backward_naive")
        for name, g, wnt, var in zip(("dx", "dw", "db"), got, want, (x, w, b)):
            check_gradient(f"conv_backward_naive's {name} {where}", g, wnt, x=var)


def check_pool(student, rng, x_shape, ph, pw, stride, backward=True):
    x = rng.normal(size=x_shape)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    where = f"({ph}x{pw} windows, stride {stride})"
    out = student.run("forward", "max_pool_forward_naive", x, pool_param, what="max_pool_forward_naive")
    want_out, _ = pool_reference(x, ph, pw, stride)
    check_close(f"max_pool_forward_naive's out {where}", out, want_out)
    if backward:
        dout = rng.normal(size=want_out.shape)
        _, want_dx = pool_reference(x, ph, pw, stride, dout)
        dx = student.run("max_pool_backward", dout, x, pool_param, what="max_pool_backward_naive")
        check_gradient(f"max_pool_backward_naive's dx {where}", dx, want_dx, x=x)


def net_reference(params, X, y, reg):
    """The ConvNet as a gatelab graph: scores, or (loss, grads)."""
    g = gl.Graph()
    x = g.input("X", X)
    p = {k: g.param(k, v) for k, v in params.items()}
    h = gl.max_pool2d(gl.relu(gl.conv2d(x, p["W1"], p["b1"], stride=1, padding=1)), 2, 2)
    scores = gl.affine(gl.relu(gl.affine(h, p["W2"], p["b2"])), p["W3"], p["b3"])
    if y is None:
        return g.forward(output=scores)
    penalty = gl.sum(p["W1"] * p["W1"]) + gl.sum(p["W2"] * p["W2"]) + gl.sum(p["W3"] * p["W3"])
    loss = gl.softmax_cross_entropy(scores, y) + 0.5 * reg * penalty
    g.forward()
    g.backward(loss)
    return float(loss.value), {k: np.array(n.grad) for k, n in p.items()}


def net_params(rng, C, side, F, H, classes, scale=0.3):
    return {"W1": scale * rng.normal(size=(F, C, 3, 3)), "b1": 0.1 * rng.normal(size=F),
            "W2": scale * rng.normal(size=(F * (side // 2) ** 2, H)), "b2": 0.1 * rng.normal(size=H),
            "W3": scale * rng.normal(size=(H, classes)), "b3": 0.1 * rng.normal(size=classes)}


def check_net(student, rng, reg):
    params = net_params(rng, C=2, side=6, F=3, H=5, classes=4)
    X, y = rng.normal(size=(3, 2, 6, 6)), rng.integers(0, 4, size=3)
    loss, grads = student.run("net_loss", params, X, y, reg, what="ConvNet.loss")
    want_loss, want_grads = net_reference(params, X, y, reg)
    check_scalar("ConvNet.loss's loss", loss, want_loss)
    for k in params:
        check_gradient(f"ConvNet.loss's grads['{k}']", grads.get(k) if isinstance(grads, dict) else None,
                       want_grads[k], x=params[k])


def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images[:, None] / 16.0, data.target.astype(np.int64)


def init_params(rng, C, side, F=8, H=32, classes=10):
    """The starting point of a training run (the notebook's ConvNet initializes the same way)."""
    return {"W1": 0.1 * rng.standard_normal((F, C, 3, 3)), "b1": np.zeros(F),
            "W2": 0.1 * rng.standard_normal((F * (side // 2) ** 2, H)), "b2": np.zeros(H),
            "W3": 0.1 * rng.standard_normal((H, classes)), "b3": np.zeros(classes)}


def training_accuracies(student, X, y, X_val, y_val, reg, learning_rate, batches):
    """(the student's, the reference's) validation accuracy after the same gradient descent from the
    same start: the grader runs the loop, the worker gives each step's loss and gradients from the
    student's ConvNet, and the grader measures accuracy with its own network on held-out digits the
    worker never sees."""
    init = init_params(np.random.default_rng(0), X.shape[1], X.shape[2])
    step = lambda p, xb, yb: student.run("net_loss", p, xb, yb, reg, what="ConvNet.loss during training")
    ours = accuracy(net_reference(train(lambda p, xb, yb: net_reference(p, xb, yb, reg), init, X, y, batches,
                                        learning_rate), X_val, None, reg), y_val)
    try:
        theirs = train(step, init, X, y, batches, learning_rate, what="ConvNet.loss's grads")
    except WrongAnswer as e:          # training with them diverged (NaN), or they stopped making sense
        raise WrongAnswer(f"Training with your gradients failed: {e}. The same training with gatelab's layers "
                          f"reaches {ours:.0%} on held-out points.") from None
    return accuracy(net_reference(theirs, X_val, None, reg), y_val), ours
