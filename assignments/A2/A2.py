# %% [markdown]
# # Assignment 2 — Layers, losses and a two-layer network
#
# A network is a stack of layers, each with a forward pass that keeps a *cache* and a backward
# pass that turns the upstream gradient into gradients of its inputs and parameters. You write
#
# 1. the affine (fully-connected) layer, forward and backward;
# 2. the ReLU, forward and backward;
# 3. the softmax and SVM losses with their gradients;
# 4. a two-layer network that puts them together.
#
# **How you are graded.** Replace each `raise NotImplementedError(...)` with your code. The
# autograder runs your notebook's imports, function and class definitions (not the demo cells)
# and compares your results on random inputs with gatelab's C++ layers and graph. Keep the
# names, signatures and cache formats given here: each backward is tested with a cache built
# as the forward pass here builds it. Calling gatelab's own affine, relu or losses inside the
# functions you write is detected and scores nothing. To run the public tests, run
# `gatelab grade . A2.ipynb` in the folder this notebook came in (it needs pytest; without
# it, `gatelab grade` prints the command that installs it).

# %%
import numpy as np

import gatelab as gl

# %% [markdown]
# ## Part 1 — The affine layer
#
# out = x · w + b, where each example x[i] of shape (d1, ..., dk) is flattened to a row of
# D = d1·…·dk numbers. A gradient has the shape of its variable: dw has w's shape (D, M).

# %%
def affine_forward(x, w, b):
    """x (N, d1, ..., dk), w (D, M), b (M,) -> out (N, M), cache (x, w, b)."""
    # BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b
    # END SOLUTION
    cache = (x, w, b)
    return out, cache


# %%
def affine_backward(dout, cache):
    """dout (N, M) -> dx (shaped like x), dw (D, M), db (M,)."""
    x, w, b = cache
    # BEGIN SOLUTION
    x2 = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    # END SOLUTION
    return dx, dw, db


# %% [markdown]
# ## Part 2 — ReLU
#
# out = max(0, x) element-wise; the gradient passes where x > 0 and is 0 elsewhere.

# %%
def relu_forward(x):
    """out = max(0, x); cache = x."""
    # BEGIN SOLUTION
    out = np.maximum(0, x)
    # END SOLUTION
    cache = x
    return out, cache


# %%
def relu_backward(dout, cache):
    """dx: dout where x > 0, else 0."""
    x = cache
    # BEGIN SOLUTION
    dx = dout * (x > 0)
    # END SOLUTION
    return dx


# %% [markdown]
# ## Part 3 — Losses
#
# Both take scores x (N, C) and integer labels y (N,) and return the **mean** loss over the N
# examples and its gradient dx (N, C).
#
# * Softmax: loss_i = −log(e^{x_i,y_i} / Σ_j e^{x_ij}). Subtract each row's maximum before
#   exponentiating (the result is the same, and e^1000 would overflow). dx = (probs − onehot) / N.
# * SVM (hinge) with margin 1: loss_i = Σ_{j≠y_i} max(0, x_ij − x_i,y_i + 1). Each positive margin
#   adds +1 to the gradient of x_ij and −1 to that of x_i,y_i (then divide by N).

# %%
def softmax_loss(x, y):
    """Mean softmax cross-entropy of scores x (N, C) for labels y (N,); returns (loss, dx)."""
    # BEGIN SOLUTION
    n = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    dx /= n
    # END SOLUTION
    return loss, dx


# %%
def svm_loss(x, y):
    """Mean multiclass SVM loss (margin 1) of scores x (N, C) for labels y (N,); returns (loss, dx)."""
    # BEGIN SOLUTION
    n = x.shape[0]
    correct = x[np.arange(n), y][:, None]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(n), y] = 0
    loss = margins.sum() / n
    positive = (margins > 0).astype(x.dtype)
    positive[np.arange(n), y] = -positive.sum(axis=1)
    dx = positive / n
    # END SOLUTION
    return loss, dx


# %% [markdown]
# ## Part 4 — A two-layer network
#
# affine → ReLU → affine → softmax, with L2 regularization 0.5 · reg · (ΣW1² + ΣW2²) added to
# the loss. `loss(X)` returns the scores; `loss(X, y)` returns the loss and a dict of gradients
# with the same keys as `self.params`. Use your layers from Parts 1–3.

# %%
class TwoLayerNet:
    def __init__(self, input_dim=2, hidden_dim=20, num_classes=3, weight_scale=1e-1, reg=0.0, seed=0):
        rng = np.random.default_rng(seed)
        self.reg = reg
        self.params = {
            "W1": weight_scale * rng.standard_normal((input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * rng.standard_normal((hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        """Scores (N, C) if y is None, else (loss, grads)."""
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        # BEGIN SOLUTION
        a, affine1 = affine_forward(X, W1, b1)
        h, relu_cache = relu_forward(a)
        scores, affine2 = affine_forward(h, W2, b2)
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dh, dW2, db2 = affine_backward(dscores, affine2)
        da = relu_backward(dh, relu_cache)
        _, dW1, db1 = affine_backward(da, affine1)
        grads = {"W1": dW1 + self.reg * W1, "b1": db1, "W2": dW2 + self.reg * W2, "b2": db2}
        return loss, grads
        # END SOLUTION


# %% [markdown]
# A quick check: train on three noisy spirals with plain gradient descent.

# %%
rng = np.random.default_rng(1)
t = np.linspace(0.2, 1, 100)
X = np.concatenate([np.stack([t * np.cos(4 * t + k * 2.1), t * np.sin(4 * t + k * 2.1)], 1) for k in range(3)])
X += 0.02 * rng.standard_normal(X.shape)
y = np.repeat(np.arange(3), 100)
net = TwoLayerNet(hidden_dim=50, reg=1e-3)
for step in range(2000):
    loss, grads = net.loss(X, y)
    for k in net.params:
        net.params[k] -= 1.0 * grads[k]
print("loss", loss, "training accuracy", np.mean(net.loss(X).argmax(axis=1) == y))
