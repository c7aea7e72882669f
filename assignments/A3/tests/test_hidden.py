"""A3 hidden tests: only in the autograder bundle. Strides, rectangular inputs and filters,
overlapping pooling windows, regularization, and training on the digits."""

import numpy as np
import pytest

from gatelab.grading import WrongAnswer
from oracle import check_conv, check_net, check_pool, digits, training_accuracies


@pytest.mark.grades("conv_forward_naive", "conv_backward_naive")
@pytest.mark.points(3)
@pytest.mark.concept("window (i, j) starts at (i S, j S) of the padded input; overlapping windows add up")
def test_conv_strided(student, rng):
    """conv_forward_naive and conv_backward_naive with strides, rectangular images and filters"""
    check_conv(student, rng, (2, 3, 7, 5), (2, 3, 3, 3), stride=2, pad=0)
    check_conv(student, rng, (1, 2, 5, 6), (3, 2, 3, 2), stride=2, pad=1)
    check_conv(student, rng, (3, 1, 4, 4), (2, 1, 4, 4), stride=1, pad=0)


@pytest.mark.grades("max_pool_forward_naive", "max_pool_backward_naive")
@pytest.mark.points(2)
@pytest.mark.concept("where windows overlap an input collects the gradients of every window it is the maximum of (+=)")
def test_max_pool_overlapping(student, rng):
    """max pooling with overlapping windows (stride smaller than the window)"""
    check_pool(student, rng, (2, 2, 5, 5), 3, 3, 1)
    check_pool(student, rng, (1, 3, 4, 6), 2, 2, 1)
    check_pool(student, rng, (2, 1, 6, 7), 2, 3, 2)


@pytest.mark.grades("max_pool_forward_naive", "max_pool_backward_naive")
@pytest.mark.points(1)
def test_max_pool_larger(student, rng):
    """max pooling on a larger batch, 2x2 windows with stride 2"""
    check_pool(student, rng, (4, 5, 8, 6), 2, 2, 2)


@pytest.mark.grades("ConvNet")
@pytest.mark.points(1)
def test_convnet_regularized(student, rng):
    """ConvNet.loss with regularization"""
    check_net(student, rng, reg=0.2)


@pytest.mark.points(2)
@pytest.mark.grades("ConvNet")
def test_convnet_trains_on_digits(student, rng):
    """ConvNet learns the 8x8 digits"""
    X, y = digits()
    order = rng.permutation(len(y))
    train, val = order[:1000], order[1000:1400]
    batches = [b for _ in range(3) for b in np.array_split(rng.permutation(1000), 40)]
    theirs, reference = training_accuracies(student, X[train], y[train], X[val], y[val], 1e-4, 0.3, batches)
    if theirs < reference - 0.1:
        raise WrongAnswer(f"After three epochs with your ConvNet's gradients, the network classifies {theirs:.0%} of "
                          f"held-out digits correctly; the same training with gatelab's layers reaches "
                          f"{reference:.0%}.")
