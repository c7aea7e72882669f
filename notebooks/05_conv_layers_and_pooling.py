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
# # 5 · Convolution layers and pooling
#
# From the CNN half of the CS231n-style lecture ("Backprop + Convolutional Neural Networks")
# and UBC CPSC 425 (fully vs locally connected vs convolutional layers). We compute the
# lectures' sizes and parameter counts with gatelab's `conv2d`, `max_pool2d` and
# `conv_output_size`, and assert each one.

# %%
import matplotlib.pyplot as plt
import numpy as np

import gatelab as gl

rng = np.random.default_rng(0)

# %% [markdown]
# ## 5.1 From a fully connected layer to a convolution
#
# A fully connected layer stretches a $32 \times 32 \times 3$ image to a $3072$-vector and
# multiplies by $W$ ($10 \times 3072$): each output is a 3072-dimensional dot product.
# A convolution layer **keeps the spatial structure**: a $5 \times 5 \times 3$ filter (filters
# always extend the full depth of the input) slides over the image, and each position gives
# one number, a $5 \cdot 5 \cdot 3 = 75$-dimensional dot product plus a bias.
#
# gatelab stores images as $(N, C, H, W)$: batch, channels, height, width.

# %%
image = rng.standard_normal((1, 3, 32, 32))          # one 32x32x3 image
one_filter = rng.standard_normal((1, 3, 5, 5))      # one 5x5x3 filter
activation_map = gl.conv2d(image, one_filter)
print("one filter  ->", activation_map.shape[1:])

six_filters = rng.standard_normal((6, 3, 5, 5))
maps = gl.conv2d(image, six_filters)
print("six filters ->", maps.shape[1:], " (a 'new image' of size 28x28x6)")

# one output number is the 75-dimensional dot product of the filter and a 5x5x3 chunk
chunk = image[0, :, 10:15, 20:25]
assert np.isclose(activation_map[0, 0, 10, 20], np.sum(one_filter[0] * chunk))
assert chunk.size == 75 and activation_map.shape == (1, 1, 28, 28) and maps.shape == (1, 6, 28, 28)

# %% [markdown]
# A ConvNet is a sequence of convolution layers interspersed with activation functions. Each
# $5 \times 5$ convolution without padding shrinks the volume: $32 \to 28 \to 24$.

# %%
w1 = rng.standard_normal((6, 3, 5, 5)) * 0.1       # 6 5x5x3 filters
w2 = rng.standard_normal((10, 6, 5, 5)) * 0.1      # 10 5x5x6 filters
h1 = gl.relu(gl.conv2d(image, w1))
h2 = gl.relu(gl.conv2d(h1, w2))
print(image.shape[1:], "->", h1.shape[1:], "->", h2.shape[1:])
assert h1.shape == (1, 6, 28, 28) and h2.shape == (1, 10, 24, 24)

# %% [markdown]
# ## 5.2 Spatial arithmetic: a 7×7 input and a 3×3 filter
#
# $\text{output size} = (N - F)/\text{stride} + 1$:
#
# * stride 1: $(7 - 3)/1 + 1 = 5$ → $5 \times 5$ output
# * stride 2: $(7 - 3)/2 + 1 = 3$ → $3 \times 3$ output
# * stride 3: $(7 - 3)/3 + 1 = 2.33$ — **doesn't fit**: you cannot apply a $3 \times 3$ filter
#   on a $7 \times 7$ input with stride 3.
#
# `gl.conv_output_size(n, f, stride, padding, dilation)` computes it;
# with `exact=True` (the course's convention) it refuses windows that do not tile the input.

# %%
for stride in (1, 2):
    size = gl.conv_output_size(7, 3, stride)
    print(f"7x7 input, 3x3 filter, stride {stride}: {size}x{size} output;",
          "conv2d gives", gl.conv2d(np.ones((1, 1, 7, 7)), np.ones((1, 1, 3, 3)), stride=stride).shape[2:])

try:
    gl.conv_output_size(7, 3, 3, exact=True)
except ValueError as err:
    print("stride 3:", err)

# %% [markdown]
# The course's layers (`gl.layers.conv_forward`, the CS231n convention with
# `conv_param = {'stride', 'pad'}`) check the same and say what would fit:

# %%
x77 = np.ones((1, 1, 7, 7))
w33 = np.ones((1, 1, 3, 3))
try:
    gl.layers.conv_forward(x77, w33, np.zeros(1), {"stride": 3, "pad": 0})
except ValueError as err:
    print(err)

# %%
assert gl.conv_output_size(7, 3, 1) == 5, "stride 1 => 5x5"
assert gl.conv_output_size(7, 3, 2) == 3, "stride 2 => 3x3"
assert round((7 - 3) / 3 + 1, 2) == 2.33, "stride 3 => 2.33: doesn't fit"
try:
    gl.conv_output_size(7, 3, 3, exact=True)
    raise AssertionError("stride 3 must be refused")
except ValueError as err:
    assert "(7 + 0 - 3)/3 + 1 is not an integer" in str(err)

# %% [markdown]
# ### Zero padding
#
# In practice it is common to zero-pad the border. A $7 \times 7$ input, $3 \times 3$ filter,
# stride 1, padded with a 1-pixel border gives a $7 \times 7$ output: in general
# $(N + 2P - F)/\text{stride} + 1$. Stride 1 with $P = (F - 1)/2$ preserves the size:
# $F = 3 \Rightarrow P = 1$, $F = 5 \Rightarrow P = 2$, $F = 7 \Rightarrow P = 3$.

# %%
padded = gl.conv2d(x77, w33, padding=1)
print("7x7, 3x3, stride 1, pad 1 ->", padded.shape[2:])
print(padded[0, 0])      # corners see 4 ones, edges 6, the inside all 9: the zeros are the padding
assert padded.shape[2:] == (7, 7)
for F, P in [(3, 1), (5, 2), (7, 3)]:
    assert (F - 1) // 2 == P and gl.conv_output_size(32, F, 1, P) == 32, f"F = {F} => pad {P} keeps the size"

# %% [markdown]
# ## 5.3 Examples time: output size and number of parameters
#
# Input volume $32 \times 32 \times 3$, ten $5 \times 5$ filters with stride 1, pad 2.
#
# * Output depth $D$ = number of filters = $10$.
# * $H = W = (32 + 2 \cdot 2 - 5)/1 + 1 = 32$, so the output is $32 \times 32 \times 10$.
# * Parameters: each filter has $5 \cdot 5 \cdot 3 + 1 = 76$ (+1 for the bias), so
#   $76 \cdot 10 = 760$.

# %%
G = gl.Graph()
x = G.input("x", rng.standard_normal((1, 3, 32, 32)))
w = G.param("w", rng.standard_normal((10, 3, 5, 5)))
b = G.param("b", np.zeros(10))
out = gl.conv2d(x, w, b, stride=1, padding=2)
G.forward()
n_params = sum(p.value.size for p in G.parameters())
print("output", out.value.shape[1:], " parameters", n_params, "=", w.value[0].size + 1, "per filter x 10")
assert out.value.shape == (1, 10, 32, 32), "32x32x10"
assert w.value[0].size + 1 == 76 and n_params == 760, "76 per filter, 760 in all"

# %% [markdown]
# **Summary of a conv layer.** Input $W_1 \times H_1 \times C$; hyper-parameters: number of
# filters $K$, filter size $F$, stride $S$, zero padding $P$. Output $W_2 \times H_2 \times K$
# with $W_2 = (W_1 - F + 2P)/S + 1$, $H_2 = (H_1 - F + 2P)/S + 1$. Parameters: $F^2 C K$
# weights and $K$ biases. Common settings: $K$ a power of 2; $F = 3, S = 1, P = 1$;
# $F = 5, S = 1, P = 2$; $F = 1, S = 1, P = 0$.

# %%
def conv_params(F, C, K):
    return F * F * C * K + K

assert conv_params(5, 3, 10) == 760
for F, S, P in [(3, 1, 1), (5, 1, 2), (1, 1, 0)]:
    assert gl.conv_output_size(32, F, S, P, exact=True) == 32, f"F={F}, S={S}, P={P} keeps 32x32"

# %% [markdown]
# ## 5.4 1×1 convolutions
#
# A $56 \times 56 \times 64$ volume through a 1×1 CONV with 32 filters gives
# $56 \times 56 \times 32$: each filter has size $1 \times 1 \times 64$ and performs a
# 64-dimensional dot product at every pixel — a fully connected layer across the channels,
# applied at each position.

# %%
vol = rng.standard_normal((1, 64, 56, 56))
w11 = rng.standard_normal((32, 64, 1, 1))
y11 = gl.conv2d(vol, w11)
per_pixel = np.einsum("kc,nchw->nkhw", w11[:, :, 0, 0], vol)    # a matrix product over channels
print(vol.shape[1:], "-> 1x1 conv with 32 filters ->", y11.shape[1:])
assert y11.shape == (1, 32, 56, 56) and np.allclose(y11, per_pixel)

# %% [markdown]
# ## 5.5 Dilation and groups (PyTorch's `Conv2d` arguments)
#
# `dilation` spaces out the kernel points (the *à trous* algorithm): a 3×3 kernel with
# dilation 2 covers a 5×5 window with holes — the same as a 5×5 kernel with zeros between its
# taps, with 9 parameters instead of 25.

# %%
xd = rng.standard_normal((1, 1, 9, 9))
k3 = rng.standard_normal((1, 1, 3, 3))
k5 = np.zeros((1, 1, 5, 5))
k5[..., ::2, ::2] = k3                      # the 3x3 taps, spread out with zeros between
yd = gl.conv2d(xd, k3, dilation=2)
print("dilation 2: output", yd.shape[2:], "= conv_output_size(9, 3, dilation=2) =",
      gl.conv_output_size(9, 3, dilation=2))
assert np.allclose(yd, gl.conv2d(xd, k5)), "dilated 3x3 = 5x5 with holes"

# %% [markdown]
# `groups` controls the connections between inputs and outputs. "At groups=2, the operation
# becomes equivalent to having two conv layers side by side, each seeing half the input
# channels, and producing half the output channels, and both subsequently concatenated." At
# groups = in_channels each input channel is convolved with its own set of filters
# (a *depthwise* convolution). The weight shape is (K, C/groups, F, F): groups divide the
# parameter count.

# %%
xg = rng.standard_normal((2, 4, 6, 6))                 # C = 4 input channels
wg = rng.standard_normal((6, 2, 3, 3))                 # K = 6 filters, each sees C/groups = 2 channels
side_by_side = np.concatenate([gl.conv2d(xg[:, :2], wg[:3]),    # first half of the channels and filters
                               gl.conv2d(xg[:, 2:], wg[3:])], axis=1)
assert np.allclose(gl.conv2d(xg, wg, groups=2), side_by_side), "groups=2 = two convs side by side"

wdw = rng.standard_normal((4, 1, 3, 3))                # depthwise: one filter per input channel
depthwise = gl.conv2d(xg, wdw, groups=4)
assert all(np.allclose(depthwise[:, c], gl.conv2d(xg[:, c:c + 1], wdw[c:c + 1])[:, 0]) for c in range(4))
print("weights for 4 -> 6 channels, 3x3:", 6 * 4 * 9, "(groups=1),", wg.size, "(groups=2);",
      "depthwise 4 -> 4:", wdw.size)

# %% [markdown]
# The backward pass of every variant is checked against finite differences:

# %%
cases = {"stride 2, pad 1": dict(stride=2, padding=1), "dilation 2": dict(dilation=2),
         "groups 2": dict(groups=2)}
for name, kw in cases.items():
    xs = rng.standard_normal((2, 4, 7, 7))
    ws = rng.standard_normal((4, 4 // kw.get("groups", 1), 3, 3))
    bs = rng.standard_normal(4)
    ok = gl.gradcheck(lambda a, k, c: gl.conv2d(a, k, c, **kw), [xs, ws, bs])
    print(f"{name}: gradcheck {ok}")
    assert ok

# %% [markdown]
# ## 5.6 Fully connected vs locally connected vs convolutional
#
# UBC's example: a $200 \times 200$ image (small) and $40\text{K}$ hidden units.
#
# * **Fully connected**: every hidden unit sees every pixel: $200 \cdot 200 \cdot 40\text{K}$
#   ≈ 2 **billion** parameters for one layer. Wasteful — spatial correlations are local —
#   and we don't have the data to train it.
# * **Locally connected**, filter size $10 \times 10$: each unit sees a $10 \times 10$ patch
#   with its own weights: $40\text{K} \cdot 100$ ≈ 4 **million**.
# * **Convolutional**: share the same weights across locations (the statistics are similar
#   everywhere — stationarity): $100 + 1$ parameters. With **20 filters**, $20 \cdot 100 =
#   2000$ weights.

# %%
pixels, hidden, patch = 200 * 200, 40_000, 10 * 10
fully = pixels * hidden
local = hidden * patch
conv_one = patch + 1
conv_twenty_weights = gl.Graph().param("w", np.zeros((20, 1, 10, 10))).value.size
print(f"fully connected: {fully:,}   locally connected: {local:,}   convolutional: {conv_one}"
      f"   20 filters: {conv_twenty_weights:,} weights")
assert round(fully / 1e9) == 2, "~2 billion"
assert local == 4_000_000, "~4 million"
assert conv_one == 101 and conv_twenty_weights == 2000

# %% [markdown]
# The slides' small version: a $4 \times 4$ image and 4 hidden units (a $2 \times 2$ output).
# Fully connected: each unit $4 \times 4 + 1 = 17$ parameters. Locally connected with $3 \times 3$
# windows: each unit $3 \times 3 + 1 = 10$. Convolutional: one $3 \times 3$ filter and a bias,
# $3 \times 3 + 1 = 10$ for the first unit and $0$ more for the others (shared).

# %%
img4 = rng.standard_normal((1, 1, 4, 4))
k = rng.standard_normal((1, 1, 3, 3))
units = gl.conv2d(img4, k, np.zeros(1))
print("4x4 image, one shared 3x3 filter ->", units.shape[2:], "=", units.size, "units")
assert units.size == 4
assert 4 * 4 + 1 == 17 and 3 * 3 + 1 == 10
assert k.size + 1 == 10, "all four convolutional units share these 10 parameters"

# %% [markdown]
# And a fully connected layer **is** a convolution whose filter covers the whole input: ten
# $32 \times 32 \times 3$ filters on a $32 \times 32 \times 3$ image give $1 \times 1 \times 10$ —
# the same numbers as $W x$ with $W$ of shape $10 \times 3072$.

# %%
W_fc = rng.standard_normal((10, 3, 32, 32))
as_conv = gl.conv2d(image, W_fc)
as_matmul = W_fc.reshape(10, 3072) @ image.reshape(3072)
assert as_conv.shape == (1, 10, 1, 1) and np.allclose(as_conv.ravel(), as_matmul)
print("conv with 32x32x3 filters = W x with W", W_fc.reshape(10, 3072).shape)

# %% [markdown]
# ## 5.7 What filters do: the normalized-correlation view
#
# UBC shows a layer's filter as a template: $\begin{bmatrix}-1&0&1\\-1&0&1\\-1&0&1\end{bmatrix}$
# responds to vertical edges, and a box of $0.11 \approx 1/9$ blurs. Here both on an
# $8 \times 8$ handwritten digit (scikit-learn's digits, shipped with the package).

# %%
X_train, y_train, _, _ = gl.datasets.load_digits()
digit = X_train[:1]                                       # (1, 1, 8, 8)
edge = np.array([[-1.0, 0.0, 1.0]] * 3).reshape(1, 1, 3, 3)
box = np.full((1, 1, 3, 3), 1 / 9)
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
for ax, (title, im) in zip(axes, [("input", digit), ("vertical edges", gl.conv2d(digit, edge, padding=1)),
                                  ("box blur (0.11)", gl.conv2d(digit, box, padding=1))]):
    ax.imshow(im[0, 0], cmap="gray")
    ax.set_title(title)
    ax.axis("off")
plt.show()
assert round(1 / 9, 2) == 0.11

# %% [markdown]
# ## 5.8 Pooling
#
# A pooling layer makes the representation smaller and more manageable, and operates over
# each activation map independently: $224 \times 224 \times 64 \to 112 \times 112 \times 64$.
# Max pooling with $2 \times 2$ filters and stride 2 on the lecture's single depth slice:

# %%
x_pool = np.array([[1, 1, 2, 4],
                   [5, 6, 7, 8],
                   [3, 2, 1, 0],
                   [1, 2, 3, 4]], dtype=np.float64).reshape(1, 1, 4, 4)
print(gl.max_pool2d(x_pool, kernel_size=2, stride=2)[0, 0])
big = gl.max_pool2d(rng.standard_normal((1, 64, 224, 224)), 2)
print("224x224x64 -> pool ->", big.shape[2:] + big.shape[1:2])

# %%
assert np.array_equal(gl.max_pool2d(x_pool, 2, 2)[0, 0], [[6, 8], [3, 4]]), "max pool: 6 8 / 3 4"
assert big.shape == (1, 64, 112, 112)

# %% [markdown]
# Pooling summary: input $W_1 \times H_1 \times C$, hyper-parameters the spatial extent $F$ and
# the stride $S$; output $W_2 = (W_1 - F)/S + 1$, $H_2 = (H_1 - F)/S + 1$, depth $C$ unchanged;
# **0 parameters**.
#
# ### Max pooling's backward pass: a gradient router
#
# Max pooling is a max gate per window, and the max gate **routes** (notebook 1): the whole
# upstream gradient of each output goes to the element that won its window; the other three
# get zero. The gate saves the winners' positions in forward (`gate.saved["argmax"]`, flat
# indices into the $4 \times 4$ slice: 5, 7, 8 and 15 hold 6, 8, 3 and 4).

# %%
P = gl.Graph()
xp = P.input("x", x_pool)
pooled = gl.max_pool2d(xp, 2)
P.forward()
P.backward(pooled, grad=np.ones((1, 1, 2, 2)))
print("dL/dx for an upstream gradient of ones:\n", xp.grad[0, 0])
print("saved in forward:", {k: np.asarray(v).ravel() for k, v in pooled.gate.saved.items()})
winners = np.array([[0, 0, 0, 0],
                    [0, 1, 0, 1],       # 6 and 8
                    [1, 0, 0, 0],       # 3
                    [0, 0, 0, 1]])      # 4
assert np.array_equal(xp.grad[0, 0], winners), "the gradient goes to 6, 8, 3 and 4 only"

# %% [markdown]
# Average pooling, in contrast, **distributes** each upstream gradient equally over its window
# ($1/4$ each for $2 \times 2$). Both are checked numerically (inputs without ties, so that no
# window's max is at a kink):

# %%
A = gl.Graph()
xa = A.input("x", x_pool)
A.forward(output=gl.avg_pool2d(xa, 2))
A.backward(grad=np.ones((1, 1, 2, 2)))
print(xa.grad[0, 0])
xr = rng.permutation(36).reshape(1, 1, 6, 6).astype(np.float64)
assert gl.gradcheck(lambda a: gl.max_pool2d(a, 2), [xr]) and gl.gradcheck(lambda a: gl.avg_pool2d(a, 2), [xr])

# %% [markdown]
# **Summary.** ConvNets stack CONV, POOL and FC layers — between 2012 and 2016 typically
# `[(CONV-RELU)*N-POOL?]*M-(FC-RELU)*K, SOFTMAX` — with a trend towards smaller filters,
# deeper networks, and fewer POOL/FC layers. Next: training one.
