"""A2 hidden tests: only in the autograder bundle. Square weights (a transposed dw has the right
shape), 4-D inputs, large scores, other batch sizes, regularization, and training."""

import numpy as np
import pytest

from gatelab.grading import WrongAnswer, check_gradient
from oracle import away_from_zero, check_affine_backward, check_loss, check_net, relu_reference, training_accuracies


@pytest.mark.grades("affine_backward")
@pytest.mark.points(2)
@pytest.mark.concept("dw = x^T dout has w's shape and layout")
def test_affine_backward_square(student, rng):
    """affine_backward with a square weight matrix and 4-D examples"""
    check_affine_backward(student, rng, (3, 2, 2, 2), 8)
    check_affine_backward(student, rng, (1, 5), 5)


@pytest.mark.grades("relu_backward")
@pytest.mark.points(1)
def test_relu_backward_large(student, rng):
    """relu_backward on a 4-D array"""
    x, dout = away_from_zero(rng, (2, 3, 4, 5)), rng.normal(size=(2, 3, 4, 5))
    dx = student.run("relu_backward", dout, x, what="relu_backward")
    check_gradient("relu_backward's dx", dx, relu_reference(dout, x)[1], x=x)


@pytest.mark.grades("softmax_loss")
@pytest.mark.points(1)
@pytest.mark.concept("subtract each row's maximum before exponentiating")
def test_softmax_loss_large_scores(student, rng):
    """softmax_loss with scores in the thousands"""
    check_loss(student, "softmax_loss", 1000.0 * rng.normal(size=(5, 6)), rng.integers(0, 6, size=5))


@pytest.mark.grades("softmax_loss")
@pytest.mark.points(1)
@pytest.mark.concept("the loss is a mean over the batch, so every gradient carries 1/N")
def test_softmax_loss_batch_sizes(student, rng):
    """softmax_loss for one example and for many"""
    for n in (1, 32):
        check_loss(student, "softmax_loss", rng.normal(size=(n, 10)), rng.integers(0, 10, size=n))


@pytest.mark.grades("svm_loss")
@pytest.mark.points(2)
def test_svm_loss_batch_sizes(student, rng):
    """svm_loss for one example and for many"""
    for n in (1, 40):
        check_loss(student, "svm_loss", 3.0 * rng.normal(size=(n, 7)), rng.integers(0, 7, size=n))


@pytest.mark.grades("TwoLayerNet")
@pytest.mark.points(2)
@pytest.mark.concept("L2 regularization adds 0.5 reg sum W^2 to the loss and reg W to dW")
def test_two_layer_net_regularized(student, rng):
    """TwoLayerNet.loss with regularization"""
    check_net(student, rng, N=7, D=5, H=4, C=4, reg=0.3)


def blobs(rng, n_per_class, classes=3):
    centers = 2.5 * rng.normal(size=(classes, 2))
    X = np.concatenate([c + rng.normal(size=(n_per_class, 2)) for c in centers])
    return X, np.repeat(np.arange(classes), n_per_class)


@pytest.mark.points(2)
@pytest.mark.grades("TwoLayerNet")
def test_two_layer_net_trains(student, rng):
    """TwoLayerNet learns to separate three clusters"""
    X, y = blobs(rng, 60)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    train, val = slice(0, 120), slice(120, None)
    batches = [np.arange(120)] * 200                     # full-batch gradient descent, 200 steps
    theirs, reference = training_accuracies(student, X[train], y[train], X[val], y[val], 20, 1e-3, 0.5, batches)
    if theirs < reference - 0.1:
        raise WrongAnswer(f"After 200 steps of gradient descent with your TwoLayerNet's gradients, the network "
                          f"classifies {theirs:.0%} of held-out points correctly; the same training with "
                          f"gatelab's layers reaches {reference:.0%}.")
