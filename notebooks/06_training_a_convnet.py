# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6 · Training: from the world's smallest network to a ConvNet
#
# Everything so far computed gradients. Training uses them: **gradient descent** moves every
# parameter a small step against its gradient, over and over, on minibatches of data. We
# start with the softmax loss on UBC's example scores, train UBC's "world's smallest network"
# on $3 \times 3$ pixel patterns, then a small ConvNet on $8 \times 8$ handwritten digits,
# following the sanity ladder: check the initial loss, overfit a small batch, then train.
#
# *Settings.* Run as is, the notebook trains for real (about a minute on a laptop). The test
# suite runs it with `GATELAB_NOTEBOOK_MODE=ci`, which trains for fewer epochs.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import gatelab as gl
from gatelab import training

CI = os.environ.get("GATELAB_NOTEBOOK_MODE", "full") == "ci"
print("setting:", "CI (short)" if CI else "full")

# %% [markdown]
# ## 6.1 From scores to a loss: softmax and cross-entropy
#
# A network ends in class scores $f$; softmax turns them into probabilities
# $\hat y_i = e^{f_{y_i}} / \sum_j e^{f_j}$ and the cross-entropy loss is
# $\mathcal L = -\log \hat y_{\text{true class}}$. UBC's example: three classes, scores
# $-2.85, 0.86, 0.28$, true class 3. Exponentiate: $0.058, 2.36, 1.32$; normalise to sum to
# 1: $0.016, 0.631, 0.353$; $\mathcal L = -\log(0.353) = 1.04$.

# %%
f = np.array([[-2.85, 0.86, 0.28]])
label = np.array([2])                                  # class 3, counting from 0
print("exp:          ", np.exp(f).round(3))
print("probabilities:", gl.softmax(f).round(3))
print("loss:         ", round(gl.softmax_cross_entropy(f, label), 2))

# %%
assert np.allclose(np.exp(f).round(3), [[0.058, 2.363, 1.323]], atol=0.01), "exp: 0.058, 2.36, 1.32"
p = gl.softmax(f)[0]
assert all(abs(round(a, 3) - s) <= 0.001 + 1e-9 for a, s in zip(p, [0.016, 0.631, 0.353])), \
    "probabilities 0.016, 0.631, 0.353 (the slide rounds the exps first: 0.058 / 3.738 = 0.0155)"
assert round(gl.softmax_cross_entropy(f, label), 2) == 1.04, "L = -log(0.353) = 1.04"

# %% [markdown]
# Softmax and cross-entropy are one gate, and its backward pass is simply
# **probabilities minus the one-hot label**: $\partial \mathcal L / \partial f =
# (0.016, 0.631, 0.353 - 1)$. Raising the true class's score lowers the loss; raising the
# others' raises it.

# %%
g = gl.Graph()
scores = g.input("f", f)
loss = gl.softmax_cross_entropy(scores, label)
g.forward()
g.backward(loss)
print("dL/df =", scores.grad.round(3))
assert np.allclose(scores.grad, p - np.eye(3)[2])

# %% [markdown]
# ## 6.2 Gradient descent
#
# 1. Start from random values $W_0, b_0$.
# 2. For $k = 0$ to the maximum number of iterations: compute the gradient of the loss at
#    $W_k, b_k$, and step against it,
#    $W_{k+1} = W_k - \lambda \frac{\partial \mathcal L}{\partial W}$,
#    $b_{k+1} = b_k - \lambda \frac{\partial \mathcal L}{\partial b}$ ($\lambda$: the learning rate).
#
# The full sum over the training set is expensive when $N$ is large, so **stochastic** gradient
# descent approximates it with a **minibatch** (32 / 64 / 128 examples are common):
#
# ```
# while True:
#     data_batch = sample_training_data(data, 256)
#     weights_grad = evaluate_gradient(loss_fun, data_batch, weights)
#     weights += - step_size * weights_grad      # perform parameter update
# ```
#
# `gl.training.fit` is that loop on a gatelab graph: `forward` on a minibatch, `backward`,
# then `SGD.step()` updates every `g.param` (optionally with momentum). It shows a progress
# bar (tqdm) and returns the loss and accuracy history.

# %% [markdown]
# ## 6.3 The world's smallest neural network
#
# UBC: "Let's create a neural network that will be able to differentiate (classify) these
# patterns of simple $3 \times 3$ pixel images." Re-formulate each image as 9 inputs; one
# output neuron per class (3 classes); the loss is the softmax cross-entropy of the outputs
#
# $$L = -\log \frac{e^{f_{y}}}{\sum_{j=1}^{3} e^{f_j}},\qquad
#   f_j = \sigma\Big(\sum_{i=1}^{9} w_{j,i} x_i + b_j\Big).$$
#
# (The slide's pictures are not in the lecture text; we use three patterns: a vertical bar,
# a horizontal bar and a diagonal, and as "labeled data" noisy copies of each.)

# %%
vertical = np.zeros((3, 3)); vertical[:, 1] = 1
horizontal = np.zeros((3, 3)); horizontal[1, :] = 1
diagonal = np.eye(3)
patterns = np.array([vertical, horizontal, diagonal])
names = ["vertical", "horizontal", "diagonal"]

rng = np.random.default_rng(0)
def noisy_copies(n):
    labels = np.repeat(np.arange(3), n)
    return patterns[labels] + rng.normal(0.0, 0.25, (3 * n, 3, 3)), labels

X_small, y_small = noisy_copies(20)
X_small_test, y_small_test = noisy_copies(10)

fig, axes = plt.subplots(1, 6, figsize=(9, 1.8))
for ax, k in zip(axes, [0, 20, 40, 1, 21, 41]):
    ax.imshow(X_small[k], cmap="gray", vmin=0, vmax=1)
    ax.set_title(names[y_small[k]], fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# The network: 9 inputs, 3 sigmoid output neurons, $9 \cdot 3 + 3 = 30$ parameters. We train
# with plain gradient descent on all 60 examples at once (one batch per epoch).

# %%
small = gl.Graph()
x = small.input("x", shape=(None, 3, 3))
y = small.input("y", shape=(None,), dtype=np.int64)
W = small.param("W", rng.standard_normal((9, 3)) * 0.1)
b = small.param("b", np.zeros(3))
outputs = gl.sigmoid(gl.affine(x, W, b))              # affine flattens each 3x3 image to 9 inputs
small_loss = gl.softmax_cross_entropy(outputs, y)
print("parameters:", sum(p.value.size for p in small.parameters()))

hist_small = training.fit(small, small_loss, outputs, X_small, y_small, epochs=100, lr=2.0,
                          batch_size=len(X_small), validation=(X_small_test, y_small_test))
print(f"loss {hist_small.epoch_loss[0]:.3f} -> {hist_small.epoch_loss[-1]:.3f}; "
      f"test accuracy {hist_small.val_acc[-1]:.0%}")

# %% [markdown]
# Each output neuron's 9 weights, drawn as a $3 \times 3$ image, are the template it matches:
# bright where its pattern has ink, dark where the other patterns do.

# %%
fig, axes = plt.subplots(1, 3, figsize=(6, 2))
for j, ax in enumerate(axes):
    ax.imshow(W.value[:, j].reshape(3, 3), cmap="RdBu_r")
    ax.set_title(f"weights of '{names[j]}'", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# Notice the loss stalls near $0.55$ although every example is classified correctly: the
# slide's network squashes its scores with $\sigma$ before the softmax, so the scores lie in
# $(0, 1)$ and even a perfect answer has probability at most $e/(e + 2)$:
# $-\log\frac{e}{e+2} = 0.551$. Real networks feed the softmax unsquashed scores.

# %%
floor = -np.log(np.e / (np.e + 2))
assert sum(p.value.size for p in small.parameters()) == 30
assert hist_small.epoch_loss[-1] < hist_small.epoch_loss[0] and hist_small.epoch_loss[-1] > floor
assert hist_small.val_acc[-1] == 1.0, "the three patterns are told apart"

# %% [markdown]
# ## 6.4 A ConvNet on handwritten digits
#
# scikit-learn ships 1797 greyscale $8 \times 8$ digits (no download);
# `gl.datasets.load_digits()` returns them as $(N, 1, 8, 8)$ arrays scaled to $[0, 1]$, with a
# stratified train / test split.

# %%
X_train, y_train, X_test, y_test = gl.datasets.load_digits()
print("train", X_train.shape, " test", X_test.shape)
fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for d, ax in enumerate(axes):
    ax.imshow(X_train[np.flatnonzero(y_train == d)[0], 0], cmap="gray_r")
    ax.set_title(str(d))
    ax.axis("off")
plt.show()

# %% [markdown]
# The architecture, in the lecture's pattern `[(CONV-RELU)-POOL]*2-FC, SOFTMAX`:
#
# | layer | output | parameters |
# |---|---|---|
# | input | $1 \times 8 \times 8$ | |
# | conv $3 \times 3$, 8 filters, pad 1 → ReLU → max pool 2 | $8 \times 4 \times 4$ | $3 \cdot 3 \cdot 1 \cdot 8 + 8 = 80$ |
# | conv $3 \times 3$, 16 filters, pad 1 → ReLU → max pool 2 | $16 \times 2 \times 2$ | $3 \cdot 3 \cdot 8 \cdot 16 + 16 = 1168$ |
# | fully connected → 10 scores → softmax cross-entropy | $10$ | $64 \cdot 10 + 10 = 650$ |
#
# The convolution weights start with He scaling ($\sqrt{2 / \text{fan-in}}$); the last layer
# starts tiny so that the initial scores are near zero.

# %%
def make_convnet(seed=0):
    rng = np.random.default_rng(seed)
    def he(*shape):
        return rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))
    g = gl.Graph()
    x = g.input("x", shape=(None, 1, 8, 8))
    y = g.input("y", shape=(None,), dtype=np.int64)
    w1, b1 = g.param("w1", he(8, 1, 3, 3)), g.param("b1", np.zeros(8))
    w2, b2 = g.param("w2", he(16, 8, 3, 3)), g.param("b2", np.zeros(16))
    w3, b3 = g.param("w3", rng.standard_normal((64, 10)) * 0.01), g.param("b3", np.zeros(10))
    h1 = gl.max_pool2d(gl.relu(gl.conv2d(x, w1, b1, padding=1)), 2).named("h1")
    h2 = gl.max_pool2d(gl.relu(gl.conv2d(h1, w2, b2, padding=1)), 2).named("h2")
    scores = gl.affine(h2, w3, b3).named("scores")
    loss = gl.softmax_cross_entropy(scores, y).named("loss")
    return g, loss, scores

net, loss, scores = make_convnet()
for p in net.parameters():
    print(f"{p.name}: {p.value.shape}")
print("parameters in all:", sum(p.value.size for p in net.parameters()))
assert sum(p.value.size for p in net.parameters()) == 80 + 1168 + 650

# %% [markdown]
# ### Sanity check 1: the initial loss is about $\log C$
#
# With near-zero scores the softmax is uniform over the $C = 10$ classes, so the loss must
# start at $-\log(1/10) = \log 10 = 2.303$. Anything else means a bug (or a bad initialisation).

# %%
initial_loss, initial_acc = training.evaluate(net, loss, scores, X_train, y_train)
print(f"initial loss {initial_loss:.3f}, log(10) = {np.log(10):.3f}; initial accuracy {initial_acc:.1%}")
assert abs(initial_loss - np.log(10)) < 0.05

# %% [markdown]
# ### Sanity check 2: the gradients are right
#
# `gl.gradcheck` on the whole network — every parameter, on a batch of four digits — against
# central differences. (If this failed, it would name the parameter, the index and the likely
# cause.)

# %%
xb, yb = X_train[:4], y_train[:4]
def convnet_loss(w1, b1, w2, b2, w3, b3):
    h1 = gl.max_pool2d(gl.relu(gl.conv2d(xb, w1, b1, padding=1)), 2)
    h2 = gl.max_pool2d(gl.relu(gl.conv2d(h1, w2, b2, padding=1)), 2)
    return gl.softmax_cross_entropy(gl.affine(h2, w3, b3), yb)

values = [p.value + 0.01 for p in net.parameters()]     # small non-zero biases keep ReLUs off their kink
print("gradcheck of the ConvNet:", gl.gradcheck(convnet_loss, values))

# %% [markdown]
# ### Sanity check 3: overfit a small batch
#
# A correct network with enough capacity must drive the loss on 20 examples to nearly zero.
# If it cannot, something is wrong before any real training starts.

# %%
tiny_net, tiny_loss, tiny_scores = make_convnet(seed=1)
hist_tiny = training.fit(tiny_net, tiny_loss, tiny_scores, X_train[:20], y_train[:20],
                         epochs=60 if CI else 100, lr=0.05, momentum=0.9, batch_size=20)
print(f"20 examples: loss {hist_tiny.loss[0]:.3f} -> {hist_tiny.loss[-1]:.4f}, "
      f"training accuracy {training.evaluate(tiny_net, tiny_loss, tiny_scores, X_train[:20], y_train[:20])[1]:.0%}")
assert hist_tiny.loss[-1] < 0.05 and hist_tiny.train_acc[-1] == 1.0

# %% [markdown]
# ### Train
#
# SGD with momentum 0.9, learning rate 0.05, minibatches of 32, evaluated on the held-out
# test digits after every epoch.

# %%
EPOCHS = 2 if CI else 12
history = training.fit(net, loss, scores, X_train, y_train, epochs=EPOCHS, lr=0.05, momentum=0.9,
                       batch_size=32, validation=(X_test, y_test))
test_loss, test_acc = training.evaluate(net, loss, scores, X_test, y_test)
print(f"after {EPOCHS} epochs: test loss {test_loss:.3f}, test accuracy {test_acc:.1%}")

# %%
training.plot_history(history)
plt.show()

# %% [markdown]
# The loss falls fast in the first epoch and then slowly; the minibatch loss is noisy
# (each minibatch is a different estimate of the full loss), the epoch means are smooth.

# %%
first, last = np.mean(history.loss[:20]), np.mean(history.loss[-20:])
print(f"mean loss of the first 20 minibatches {first:.3f}, of the last 20 {last:.3f}")
assert last < first / 2, "the loss falls"
if CI:
    assert test_acc > 0.5, "well above chance (10%) even after a short run"
else:
    assert test_acc >= 0.95, f"the ConvNet reaches >= 95% test accuracy (got {test_acc:.1%})"

# %% [markdown]
# ### What the network learned
#
# The first layer's eight $3 \times 3$ filters, and what they make of one test digit: each
# filter is a small template (edges and strokes at different orientations), and each
# activation map shows where in the digit that template matches.

# %%
w1 = net["w1"].value
digit = X_test[:1]
maps = gl.relu(gl.conv2d(digit, w1, net["b1"].value, padding=1))
fig, axes = plt.subplots(2, 9, figsize=(11, 2.8))
axes[0, 0].imshow(digit[0, 0], cmap="gray_r"); axes[0, 0].set_title(f"digit {y_test[0]}", fontsize=9)
axes[1, 0].axis("off")
for k in range(8):
    axes[0, k + 1].imshow(w1[k, 0], cmap="RdBu_r"); axes[0, k + 1].set_title(f"filter {k}", fontsize=9)
    axes[1, k + 1].imshow(maps[0, k], cmap="viridis")
for ax in axes.ravel():
    ax.set_xticks([]); ax.set_yticks([])
plt.show()

# %% [markdown]
# And the test digits it gets wrong, with its guess:

# %%
net.forward({"x": X_test, "y": y_test}, output=loss)
predicted = np.argmax(scores.value, axis=1)
wrong = np.flatnonzero(predicted != y_test)
print(f"{len(wrong)} of {len(y_test)} test digits misclassified")
fig, axes = plt.subplots(1, max(1, min(8, len(wrong))), figsize=(10, 1.6), squeeze=False)
for ax, k in zip(axes[0], wrong[:8]):
    ax.imshow(X_test[k, 0], cmap="gray_r")
    ax.set_title(f"{y_test[k]} -> {predicted[k]}", fontsize=9)
for ax in axes[0]:
    ax.axis("off")
plt.show()

# %% [markdown]
# **Summary.** Training is backprop in a loop: forward a minibatch, backward, step against the
# gradient. Before trusting a run, climb the sanity ladder — initial loss $\approx \log C$,
# gradients checked, a small batch overfit — then train and watch the curves.
