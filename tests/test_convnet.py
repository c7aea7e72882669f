"""A three-layer ConvNet built as a gl.Graph, CS231n's ThreeLayerConvNet:

    conv 3x3 (pad 1) - relu - max pool 2x2 - affine - relu - affine - softmax cross-entropy

Its backward pass agrees with finite differences for every parameter (float64, relative error
< 1e-6, the course's criterion), and with tiny weights its loss at initialisation is about
log(C), the loss of uniform class probabilities.
"""

import numpy as np

import gatelab as gl

N, C, H, W = 2, 3, 8, 8          # a tiny batch of 8x8 RGB images
FILTERS, HIDDEN, CLASSES = 4, 10, 5


def three_layer_convnet(rng, weight_scale, bias_scale):
    """The graph, its parameters (g.param) and the loss node; data and labels are inputs."""
    g = gl.Graph()
    x = g.input("x", rng.standard_normal((N, C, H, W)))
    y = g.input("y", rng.integers(0, CLASSES, N).astype(np.int64))
    params = {
        "w1": g.param("w1", weight_scale[0] * rng.standard_normal((FILTERS, C, 3, 3))),
        "b1": g.param("b1", bias_scale * rng.standard_normal(FILTERS)),
        "w2": g.param("w2", weight_scale[1] * rng.standard_normal((FILTERS * (H // 2) * (W // 2), HIDDEN))),
        "b2": g.param("b2", bias_scale * rng.standard_normal(HIDDEN)),
        "w3": g.param("w3", weight_scale[2] * rng.standard_normal((HIDDEN, CLASSES))),
        "b3": g.param("b3", bias_scale * rng.standard_normal(CLASSES)),
    }
    conv = gl.relu(gl.conv2d(x, params["w1"], params["b1"], stride=1, padding=1))  # (N, 4, 8, 8)
    pooled = gl.max_pool2d(conv, kernel_size=2, stride=2)                              # (N, 4, 4, 4)
    hidden = gl.relu(gl.affine(pooled, params["w2"], params["b2"]))                     # (N, 10)
    scores = gl.affine(hidden, params["w3"], params["b3"])                              # (N, 5)
    loss = gl.softmax_cross_entropy(scores, y)
    return g, params, loss


def test_three_layer_convnet_gradcheck(rng):
    # Weights about 1/sqrt(fan-in): gradients are not tiny, so relative errors measure the rule.
    g, params, loss = three_layer_convnet(rng, weight_scale=(1 / np.sqrt(27), 1 / np.sqrt(64), 1 / np.sqrt(10)),
                                          bias_scale=0.1)
    g.forward()
    g.backward(loss)
    analytic = {name: np.array(p.grad, copy=True) for name, p in params.items()}
    for name, p in params.items():
        numeric = gl.numerical_gradient(lambda: g.forward(output=loss), p, h=1e-6)
        error = gl.rel_error(analytic[name], numeric)
        assert error < 1e-6, f"{name}: relative error {error:.2e}"
        assert np.abs(analytic[name]).max() > 1e-3  # a real gradient, not a zero that trivially agrees


def test_three_layer_convnet_loss_at_initialisation_is_log_c(rng):
    # The course's initialisation: small random weights, zero biases -> scores near 0, so every
    # class has probability about 1/C.
    g, _, loss = three_layer_convnet(rng, weight_scale=(1e-3, 1e-3, 1e-3), bias_scale=0.0)
    g.forward()
    assert abs(loss.value - np.log(CLASSES)) < 1e-3
