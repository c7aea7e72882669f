# %% [markdown]
# # Assignment 3 — Convolution, pooling and a small ConvNet
#
# You write the convolution and max-pooling layers with plain loops (the "naive" versions: slow,
# but every index is in front of you), then assemble a small convolutional network and train it
# on scikit-learn's 8×8 digits.
#
# Conventions (the course's): images are (N, C, H, W); filters w are (F, C, HH, WW);
# `conv_param = {"stride": S, "pad": P}` with zero padding; the output is (N, F, H', W') with
# H' = 1 + (H + 2P − HH) / S. `pool_param = {"pool_height": PH, "pool_width": PW, "stride": S}`,
# no padding, H' = 1 + (H − PH) / S. Convolution here is cross-correlation (no kernel flip).
#
# **How you are graded.** Replace each `raise NotImplementedError(...)` with your code. The
# autograder runs your notebook's imports, function and class definitions (not the demo cells)
# and compares your layers on random inputs, with several strides, paddings and window sizes,
# to gatelab's C++ gates. Keep the names, signatures and cache formats. Your naive layers must
# not call gatelab's convolution or pooling; the network in Part 3 *should* use gatelab's fast
# layers (your loops would make training take minutes). To run the public tests, run
# `gatelab grade . A3.ipynb` in the folder this notebook came in (it needs pytest; without
# it, `gatelab grade` prints the command that installs it).

# %%
import numpy as np

import gatelab as gl
from gatelab.layers import (affine_backward, affine_forward, conv_backward, conv_forward, max_pool_backward,
                            max_pool_forward, relu_backward, relu_forward, softmax_loss)

# %% [markdown]
# ## Part 1 — Convolution
#
# Forward: pad x, then each output out[n, f, i, j] is the sum of the window of x under filter f
# at (i·S, j·S), times the filter, plus b[f].
#
# Backward: every output (i, j) touched one window of the padded input. Its gradient flows to
# that window (times the filter) and to the filter (times the window). Windows overlap when
# S < HH, so **add** into dx and dw. Finally cut the padding off dx.

# %%
def conv_forward_naive(x, w, b, conv_param):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,) -> out (N, F, H', W'), cache (x, w, b, conv_param)."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    # BEGIN SOLUTION
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]      # (N, C, HH, WW)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    # END SOLUTION
    cache = (x, w, b, conv_param)
    return out, cache


# %%
def conv_backward_naive(dout, cache):
    """dout (N, F, H', W') -> dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = dout.shape[2], dout.shape[3]
    # BEGIN SOLUTION
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(H_out):
        for j in range(W_out):
            rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            d = dout[:, :, i, j]                                                          # (N, F)
            dw += np.tensordot(d, xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(d, w, axes=([1], [0]))
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    # END SOLUTION
    return dx, dw, db


# %% [markdown]
# ## Part 2 — Max pooling
#
# Each output is the maximum of its window; in backward its gradient goes to the position of
# that maximum (the first one, reading the window row by row, if several are equal). When the
# stride is smaller than the window, windows overlap and one input can be the maximum of several
# windows: **add** their gradients.

# %%
def max_pool_forward_naive(x, pool_param):
    """x (N, C, H, W) -> out (N, C, H', W'), cache (x, pool_param)."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - ph) // stride, 1 + (W - pw) // stride
    # BEGIN SOLUTION
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].max(axis=(2, 3))
    # END SOLUTION
    cache = (x, pool_param)
    return out, cache


# %%
def max_pool_backward_naive(dout, cache):
    """dout (N, C, H', W') -> dx (N, C, H, W)."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = dout.shape[2], dout.shape[3]
    # BEGIN SOLUTION
    dx = np.zeros_like(x)
    for i in range(H_out):
        for j in range(W_out):
            rows, cols = slice(i * stride, i * stride + ph), slice(j * stride, j * stride + pw)
            window = x[:, :, rows, cols].reshape(N, C, -1)
            mask = np.zeros_like(window)
            np.put_along_axis(mask, window.argmax(axis=2)[:, :, None], 1.0, axis=2)
            dx[:, :, rows, cols] += mask.reshape(N, C, ph, pw) * dout[:, :, i, j][:, :, None, None]
    # END SOLUTION
    return dx


# %% [markdown]
# ## Part 3 — A small ConvNet
#
# conv (F filters of 3×3, stride 1, pad 1) → ReLU → 2×2 max pool (stride 2) → affine (hidden) →
# ReLU → affine → softmax, with L2 regularization 0.5 · reg · (ΣW1² + ΣW2² + ΣW3²). `loss(X)`
# returns the scores; `loss(X, y)` the loss and a dict of gradients keyed like `self.params`.
# Use gatelab's fast layers imported above: they follow the same conventions as yours.

# %%
class ConvNet:
    def __init__(self, input_dim=(1, 8, 8), num_filters=8, hidden_dim=32, num_classes=10, weight_scale=0.1,
                 reg=0.0, seed=0):
        C, H, W = input_dim
        rng = np.random.default_rng(seed)
        self.reg = reg
        self.params = {
            "W1": weight_scale * rng.standard_normal((num_filters, C, 3, 3)),
            "b1": np.zeros(num_filters),
            "W2": weight_scale * rng.standard_normal((num_filters * (H // 2) * (W // 2), hidden_dim)),
            "b2": np.zeros(hidden_dim),
            "W3": weight_scale * rng.standard_normal((hidden_dim, num_classes)),
            "b3": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        """Scores (N, classes) if y is None, else (loss, grads)."""
        p = self.params
        conv_param = {"stride": 1, "pad": 1}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        # BEGIN SOLUTION
        c, conv_cache = conv_forward(X, p["W1"], p["b1"], conv_param)
        r1, relu1 = relu_forward(c)
        pooled, pool_cache = max_pool_forward(r1, pool_param)
        h, affine1 = affine_forward(pooled, p["W2"], p["b2"])
        r2, relu2 = relu_forward(h)
        scores, affine2 = affine_forward(r2, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(np.sum(p[k] * p[k]) for k in ("W1", "W2", "W3"))
        dr2, dW3, db3 = affine_backward(dscores, affine2)
        dpooled, dW2, db2 = affine_backward(relu_backward(dr2, relu2), affine1)
        dc = relu_backward(max_pool_backward(dpooled, pool_cache), relu1)
        _, dW1, db1 = conv_backward(dc, conv_cache)
        grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}
        for k in ("W1", "W2", "W3"):
            grads[k] = grads[k] + self.reg * p[k]
        return loss, grads
        # END SOLUTION


# %% [markdown]
# Train it on the digits: eight epochs of minibatch gradient descent (about 93% of the held-out
# digits right).

# %%
from sklearn.datasets import load_digits

digits = load_digits()
X_all, y_all = digits.images[:, None] / 16.0, digits.target
X_train, y_train, X_val, y_val = X_all[:1500], y_all[:1500], X_all[1500:], y_all[1500:]
net = ConvNet(reg=1e-4)
rng = np.random.default_rng(0)
for epoch in range(8):
    for batch in np.array_split(rng.permutation(len(y_train)), 60):
        loss, grads = net.loss(X_train[batch], y_train[batch])
        for k in net.params:
            net.params[k] -= 0.3 * grads[k]
    print(epoch, loss, "validation accuracy", np.mean(net.loss(X_val).argmax(axis=1) == y_val))
