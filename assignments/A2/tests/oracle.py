"""A2 oracle: gatelab's C++ gates and graph compute, in the grader's process, what each student
function should return. No answers are stored; none of this reaches the worker."""

import numpy as np

import gatelab as gl
from gatelab.grading import WrongAnswer, check_gradient, check_scalar
from gatelab.grading.models import accuracy, train

LOSS_GATES = {"softmax_loss": lambda: gl.gates.SoftmaxCrossEntropy(), "svm_loss": lambda: gl.gates.SVMLoss(1.0)}


def affine_reference(dout, x, w, b):
    """(out, (dx, dw, db)) of gatelab's Affine gate."""
    gate = gl.gates.Affine()
    out = gate.forward(x, w, b)
    return out, gate.backward(dout)


def relu_reference(dout, x):
    gate = gl.gates.ReLU()
    out = gate.forward(x)
    return out, gate.backward(dout)[0]


def loss_reference(name, x, y):
    gate = LOSS_GATES[name]()
    loss = float(gate.forward(x, y))
    return loss, gate.backward(1.0)[0]


def net_reference(params, X, y, reg):
    """The two-layer net as a gatelab graph: scores, or (loss, grads)."""
    g = gl.Graph()
    x = g.input("X", X)
    p = {k: g.param(k, v) for k, v in params.items()}
    scores = gl.affine(gl.relu(gl.affine(x, p["W1"], p["b1"])), p["W2"], p["b2"])
    if y is None:
        return g.forward(output=scores)
    loss = gl.softmax_cross_entropy(scores, y) + 0.5 * reg * (gl.sum(p["W1"] * p["W1"]) + gl.sum(p["W2"] * p["W2"]))
    g.forward()
    g.backward(loss)
    return float(loss.value), {k: np.array(n.grad) for k, n in p.items()}


def away_from_zero(rng, shape, margin=0.1):
    """Normal values with |x| >= margin: ReLU's kink at 0 stays out of the way."""
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, x)


def net_params(rng, D, H, C, scale=0.5):
    return {"W1": scale * rng.normal(size=(D, H)), "b1": 0.1 * rng.normal(size=H),
            "W2": scale * rng.normal(size=(H, C)), "b2": 0.1 * rng.normal(size=C)}


def check_affine_backward(student, rng, x_shape, M):
    D = int(np.prod(x_shape[1:]))
    x, w, b = rng.normal(size=x_shape), rng.normal(size=(D, M)), rng.normal(size=M)
    dout = rng.normal(size=(x_shape[0], M))
    got = student.run("affine_backward", dout, x, w, b, what="affine_backward")
    _, want = affine_reference(dout, x, w, b)
    for name, g, wnt, var in zip(("dx", "dw", "db"), got, want, (x, w, b)):
        check_gradient(f"affine_backward's {name}", g, wnt, x=var)


def check_loss(student, name, x, y):
    loss, dx = student.run("loss", name, x, y, what=name)
    want_loss, want_dx = loss_reference(name, x, y)
    check_scalar(f"{name}'s loss", loss, want_loss)
    check_gradient(f"{name}'s dx", dx, want_dx, x=x)


def check_net(student, rng, N, D, H, C, reg):
    params = net_params(rng, D, H, C)
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, size=N)
    loss, grads = student.run("net_loss", params, X, y, reg, what="TwoLayerNet.loss")
    want_loss, want_grads = net_reference(params, X, y, reg)
    check_scalar("TwoLayerNet.loss's loss", loss, want_loss)
    for k in ("W1", "b1", "W2", "b2"):
        check_gradient(f"TwoLayerNet.loss's grads['{k}']", grads.get(k) if isinstance(grads, dict) else None,
                       want_grads[k], x=params[k])


def init_params(rng, D, H, C):
    """The starting point of a training run (the notebook's TwoLayerNet initializes the same way)."""
    return {"W1": 0.1 * rng.standard_normal((D, H)), "b1": np.zeros(H),
            "W2": 0.1 * rng.standard_normal((H, C)), "b2": np.zeros(C)}


def training_accuracies(student, X, y, X_val, y_val, hidden_dim, reg, learning_rate, batches):
    """(the student's, the reference's) validation accuracy after the same gradient descent from the
    same start: the grader runs the loop, the worker gives each step's loss and gradients from the
    student's TwoLayerNet, and the grader measures accuracy with its own network on held-out data
    the worker never sees."""
    init = init_params(np.random.default_rng(0), X.shape[1], hidden_dim, int(y.max()) + 1)
    step = lambda p, xb, yb: student.run("net_loss", p, xb, yb, reg, what="TwoLayerNet.loss during training")
    ours = accuracy(net_reference(train(lambda p, xb, yb: net_reference(p, xb, yb, reg), init, X, y, batches,
                                        learning_rate), X_val, None, reg), y_val)
    try:
        theirs = train(step, init, X, y, batches, learning_rate, what="TwoLayerNet.loss's grads")
    except WrongAnswer as e:          # training with them diverged (NaN), or they stopped making sense
        raise WrongAnswer(f"Training with your gradients failed: {e}. The same training with gatelab's layers "
                          f"reaches {ours:.0%} on held-out points.") from None
    return accuracy(net_reference(theirs, X_val, None, reg), y_val), ours
