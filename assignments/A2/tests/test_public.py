"""A2 public tests: students run these themselves (``gatelab grade A2 A2.ipynb``). Expected values
are computed by gatelab's C++ gates and graph on random inputs, in the grader; nothing is stored."""

import numpy as np
import pytest

from gatelab.grading import check_close, check_gradient
from oracle import (affine_reference, away_from_zero, check_affine_backward, check_loss, check_net, net_params,
                    net_reference, relu_reference)


@pytest.mark.grades("affine_forward")
@pytest.mark.points(1)
def test_affine_forward(student, rng):
    """affine_forward on a batch of 3-D examples"""
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(12, 5)), rng.normal(size=5)
    out = student.run("forward", "affine_forward", x, w, b, what="affine_forward")
    check_close("affine_forward's out", out, affine_reference(np.zeros((2, 5)), x, w, b)[0])


@pytest.mark.grades("affine_backward")
@pytest.mark.points(2)
def test_affine_backward(student, rng):
    """affine_backward: dx, dw and db"""
    check_affine_backward(student, rng, (4, 3, 2), 5)


@pytest.mark.grades("relu_forward")
@pytest.mark.points(1)
def test_relu_forward(student, rng):
    """relu_forward"""
    x = away_from_zero(rng, (3, 7))
    out = student.run("forward", "relu_forward", x, what="relu_forward")
    check_close("relu_forward's out", out, relu_reference(np.zeros_like(x), x)[0])


@pytest.mark.grades("relu_backward")
@pytest.mark.points(1)
def test_relu_backward(student, rng):
    """relu_backward"""
    x, dout = away_from_zero(rng, (3, 7)), rng.normal(size=(3, 7))
    dx = student.run("relu_backward", dout, x, what="relu_backward")
    check_gradient("relu_backward's dx", dx, relu_reference(dout, x)[1], x=x)


@pytest.mark.grades("softmax_loss")
@pytest.mark.points(2)
def test_softmax_loss(student, rng):
    """softmax_loss: the loss and dx"""
    check_loss(student, "softmax_loss", rng.normal(size=(6, 4)), rng.integers(0, 4, size=6))


@pytest.mark.grades("svm_loss")
@pytest.mark.points(2)
def test_svm_loss(student, rng):
    """svm_loss: the loss and dx"""
    check_loss(student, "svm_loss", rng.normal(size=(6, 4)), rng.integers(0, 4, size=6))


@pytest.mark.grades("TwoLayerNet")
@pytest.mark.points(1)
def test_two_layer_net_scores(student, rng):
    """TwoLayerNet.loss(X): the scores"""
    params = net_params(rng, 4, 6, 3)
    X = rng.normal(size=(5, 4))
    scores = student.run("net_loss", params, X, None, 0.0, what="TwoLayerNet.loss")
    check_close("TwoLayerNet's scores", scores, net_reference(params, X, None, 0.0))


@pytest.mark.grades("TwoLayerNet")
@pytest.mark.points(2)
def test_two_layer_net_loss(student, rng):
    """TwoLayerNet.loss(X, y): the loss and its gradients, without regularization"""
    check_net(student, rng, N=5, D=4, H=6, C=3, reg=0.0)
