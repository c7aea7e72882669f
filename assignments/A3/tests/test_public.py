"""A3 public tests: students run these themselves (``gatelab grade A3 A3.ipynb``). Expected values
are computed by gatelab's C++ gates and graph on random inputs, in the grader; nothing is stored."""

import pytest

from oracle import check_conv, check_net, check_pool


@pytest.mark.grades("conv_forward_naive")
@pytest.mark.points(2)
def test_conv_forward(student, rng):
    """conv_forward_naive, stride 1 and padding 1"""
    check_conv(student, rng, (2, 3, 5, 5), (4, 3, 3, 3), stride=1, pad=1, backward=False)


@pytest.mark.grades("conv_forward_naive", "conv_backward_naive")
@pytest.mark.points(3)
def test_conv_backward(student, rng):
    """conv_backward_naive, stride 1 and padding 1"""
    check_conv(student, rng, (2, 3, 5, 5), (4, 3, 3, 3), stride=1, pad=1)


@pytest.mark.grades("max_pool_forward_naive")
@pytest.mark.points(1)
def test_max_pool_forward(student, rng):
    """max_pool_forward_naive, 2x2 windows with stride 2"""
    check_pool(student, rng, (2, 3, 4, 4), 2, 2, 2, backward=False)


@pytest.mark.grades("max_pool_forward_naive", "max_pool_backward_naive")
@pytest.mark.points(2)
def test_max_pool_backward(student, rng):
    """max_pool_backward_naive, 2x2 windows with stride 2"""
    check_pool(student, rng, (2, 3, 4, 4), 2, 2, 2)


@pytest.mark.grades("ConvNet")
@pytest.mark.points(2)
def test_convnet_loss(student, rng):
    """ConvNet.loss: the loss and its gradients, without regularization"""
    check_net(student, rng, reg=0.0)
