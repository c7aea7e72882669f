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
# # 3 · Backprop with vectors and matrices
#
# So far every value was a number. Real layers move vectors, matrices and tensors, but the
# loss $L$ is **still a scalar**, and backward still multiplies upstream by local gradients —
# only now the local gradient is a **Jacobian** and the product is a matrix-vector product.
# Following the CS231n-style lecture ("So far: backprop with scalars. What about
# vector-valued functions?"), with its numbers.

# %%
import numpy as np

import gatelab as gl

# %% [markdown]
# ## 3.1 Vector derivatives
#
# | | inputs → output | derivative | shape |
# |---|---|---|---|
# | scalar to scalar | $x \in \mathbb R,\ y \in \mathbb R$ | $\frac{dy}{dx}$ | a number |
# | vector to scalar | $x \in \mathbb R^N,\ y \in \mathbb R$ | gradient $\big(\frac{\partial y}{\partial x}\big)_n = \frac{\partial y}{\partial x_n}$ | $N$, like $x$ |
# | vector to vector | $x \in \mathbb R^N,\ y \in \mathbb R^M$ | Jacobian $\big(\frac{\partial y}{\partial x}\big)_{n,m} = \frac{\partial y_m}{\partial x_n}$ | $N \times M$ |
#
# *Vector to scalar.* The logistic neuron of notebook 1 with its weights as one vector
# $w = (2, -3, -3)$ and its input as $x = (-1, -2, 1)$ (the constant 1 multiplies the bias
# $w_2$): $f = \sigma(w \cdot x)$. The gradient with respect to $w$ is a vector shaped like $w$
# (its $-0.39$ and $0.39$ are the slide's $-0.40$ and $0.40$, which multiply the rounded $0.20$).

# %%
g = gl.Graph()
w = g.param("w", np.array([2.0, -3.0, -3.0]))
x = g.input("x", np.array([-1.0, -2.0, 1.0]))
f = gl.sigmoid(gl.sum(w * x)).named("f")
g.forward()
g.backward(f)
print("f =", round(f.value, 2), "  df/dw =", np.round(w.grad, 2), "  df/dx =", np.round(x.grad, 2))

# %%
assert round(f.value, 2) == 0.73
assert np.allclose(np.round(w.grad, 1), [-0.2, -0.4, 0.2]), "dw0 = -0.2, dw1 = -0.4, dw2 = 0.2 (as notebook 1)"
assert np.allclose(np.round(x.grad[:2], 1), [0.4, -0.6]), "dx0 = 0.4, dx1 = -0.6"
assert w.grad.shape == w.value.shape, "a gradient has its variable's shape"

# %% [markdown]
# ## 3.2 Backprop with vectors
#
# A gate $z = f(x, y)$ with $x \in \mathbb R^{D_x}$, $y \in \mathbb R^{D_y}$,
# $z \in \mathbb R^{D_z}$. Upstream: $\frac{\partial L}{\partial z}$ ($D_z$ numbers: for each
# element of $z$, how much does it influence $L$?). Local: the Jacobians
# $\frac{\partial z}{\partial x}$ ($D_x \times D_z$) and $\frac{\partial z}{\partial y}$.
# Downstream: the matrix-vector products
# $\frac{\partial L}{\partial x} = \frac{\partial z}{\partial x}\frac{\partial L}{\partial z}$.
#
# ### The lecture's ReLU example
#
# $f(x) = \max(0, x)$ element-wise, 4-D input $x = (1, -2, 3, -1)$, output $z = (1, 0, 3, 0)$,
# upstream $\frac{\partial L}{\partial z} = (4, -1, 5, 9)$.

# %%
g = gl.Graph()
x = g.input("x", np.array([1.0, -2.0, 3.0, -1.0]))
z = gl.relu(x).named("z")
g.forward()
upstream = np.array([4.0, -1.0, 5.0, 9.0])
J = g.jacobian(z, x)                  # dz/dx, built row by row by backward passes
g.backward(z, grad=upstream)          # one backward pass with the upstream gradient
print("z =", z.value)
print("Jacobian dz/dx =\n", J)
print("dL/dx = J^T dL/dz =", J.T @ upstream, "  backward:", x.grad)

# %% [markdown]
# The Jacobian of an element-wise function is **diagonal** — here $\mathrm{diag}(1, 0, 1, 0)$:
# the off-diagonal entries are always zero. Never form it explicitly; use the implicit
# multiplication
# $\big(\frac{\partial L}{\partial x}\big)_i = \big(\frac{\partial L}{\partial z}\big)_i$ if
# $x_i > 0$, else $0$. `check_vjp` compares the explicit product with what backward computes
# without the matrix:

# %%
print(g.check_vjp(z, x, upstream))

# %%
assert np.array_equal(z.value, [1, 0, 3, 0])
assert np.array_equal(J, np.diag([1.0, 0.0, 1.0, 0.0])), "the Jacobian is diag(1, 0, 1, 0)"
assert np.array_equal(x.grad, [4, 0, 5, 0]), "dL/dx = (4, 0, 5, 0)"

# %% [markdown]
# ## 3.3 Backprop with matrices: matrix multiply
#
# $y = x w$ with $x$ of shape $[N \times D]$, $w$ of shape $[D \times M]$:
# $y_{n,m} = \sum_d x_{n,d}\, w_{d,m}$. The lecture's numbers:

# %%
x_val = np.array([[2.0, 1.0, -3.0],
                  [-3.0, 4.0, 2.0]])
w_val = np.array([[3.0, 2.0, 1.0, -1.0],
                  [2.0, 1.0, 3.0, 2.0],
                  [3.0, 2.0, 1.0, -2.0]])
dL_dy = np.array([[2.0, 3.0, -3.0, 9.0],
                  [-8.0, 1.0, 4.0, 6.0]])
g = gl.Graph()
x = g.input("x", x_val)
w = g.param("w", w_val)
y = (x @ w).named("y")
g.forward()
g.backward(y, grad=dL_dy)
print("y =\n", y.value)

# %% [markdown]
# **The Jacobians are huge.** $\frac{\partial y}{\partial x}$ has $(N \times D) \times (N \times M)$
# entries. For a neural net we may have $N = 64$, $D = M = 4096$: each Jacobian then takes
# ~256 GB of memory (in float32). We must work with them implicitly.

# %%
mem = gl.jacobian_memory((64, 4096), (64, 4096), dtype="float32", name="dy/dx")
print(mem)
print(f"= {mem.jacobian_bytes / 2**30:.0f} GiB")
assert mem.jacobian_bytes == 256 * 2**30, "~256 GB (GiB) per Jacobian"

# %% [markdown]
# **Work it out one element at a time.** Which parts of $y$ are affected by one element of
# $x$? $x_{n,d}$ affects the whole row $y_{n,\cdot}$. How much does $x_{n,d}$ affect
# $y_{n,m}$? By $w_{d,m}$. So
# $\frac{\partial L}{\partial x_{n,d}} = \sum_m \frac{\partial L}{\partial y_{n,m}} w_{d,m}$,
# which for all $n, d$ at once is
#
# $$\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\, w^\top
#   \quad [N\times D] = [N \times M][M \times D], \qquad
#   \frac{\partial L}{\partial w} = x^\top \frac{\partial L}{\partial y}
#   \quad [D \times M] = [D \times N][N \times M].$$
#
# These formulas are easy to remember: they are the only way to make the shapes match up.

# %%
n, d = 0, 1            # the element the slide highlights: x[0, 1] = 1
by_hand = sum(dL_dy[n, m] * w_val[d, m] for m in range(4))
print(f"dL/dx[{n},{d}] = sum_m dL/dy[{n},m] w[{d},m] = {by_hand}   backward: {x.grad[n, d]}")
print("dL/dx =\n", x.grad)
print("dL/dw =\n", w.grad)

# %%
assert np.array_equal(y.value, [[-1, -1, 2, 6], [5, 2, 11, 7]]), "y = x w"
assert by_hand == x.grad[n, d]
assert np.allclose(x.grad, dL_dy @ w_val.T) and np.allclose(w.grad, x_val.T @ dL_dy)
assert x.grad.shape == x_val.shape and w.grad.shape == w_val.shape, "dL/dx always has the same shape as x"

# %% [markdown]
# The explicit Jacobian route gives the same numbers at a vastly higher price — affordable only
# because this example is tiny:

# %%
print(g.check_vjp(y, x, dL_dy))
print(g.check_vjp(y, w, dL_dy))

# %% [markdown]
# **A transposed gradient is the classic matrix bug.** Write matmul as a Python gate and get
# $\frac{\partial L}{\partial w}$ the wrong way round, $(\frac{\partial L}{\partial y})^\top x$:
# with square matrices the shapes even match, so only a gradient check catches it — and the
# diagnosis names the cause.

# %%
class MatMul(gl.Gate):
    def forward(self, x, w):
        self.x, self.w = x, w
        return x @ w

    def backward(self, dout):
        return dout @ self.w.T, self.x.T @ dout

class TransposedMatMul(MatMul):
    def backward(self, dout):
        return dout @ self.w.T, dout.T @ self.x           # should be x^T dout

rng = np.random.default_rng(0)
a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
print("MatMul gradcheck:", gl.gradcheck(MatMul(), [a, b]))
try:
    gl.gradcheck(TransposedMatMul(), [a, b])
except gl.GradcheckError as err:
    print(err)
    assert err.report.diagnosis.cause == "transpose"

# %% [markdown]
# ## 3.4 A layer in vector form
#
# UBC writes the layer $y = \sigma(W x + b)$ with "local" Jacobians (matrices of partial
# derivatives) and the "backprop" gradient flowing through them. Its two-layer network
# $\hat y = \sigma(W_2^{(2\times4)}\,\sigma(W_1^{(4\times3)} x + b_1^{(4)}) + b_2^{(2)})$ has
# $4 + 2 = 6$ neurons, $(3 \times 4) + (4 \times 2) = 20$ weights and $20 + 4 + 2 = 26$
# learnable parameters. gatelab's `affine(x, W, b)` is the course's layer $x W + b$ on a
# batch $x$ of shape $(N, D)$ — the transposed layout of $W x$, the same layer.

# %%
g = gl.Graph()
xb = g.input("x", rng.standard_normal((5, 3)))                 # a batch of 5 inputs in R^3
W1, b1 = g.param("W1", rng.standard_normal((3, 4))), g.param("b1", np.zeros(4))
W2, b2 = g.param("W2", rng.standard_normal((4, 2))), g.param("b2", np.zeros(2))
h = gl.sigmoid(gl.affine(xb, W1, b1)).named("h")
yhat = gl.sigmoid(gl.affine(h, W2, b2)).named("yhat")
loss = gl.sum(yhat)
g.forward()
g.backward(loss)
neurons = h.value.shape[1] + yhat.value.shape[1]
weights = W1.value.size + W2.value.size
params = sum(p.value.size for p in g.parameters())
print(f"neurons {neurons}, weights {weights}, learnable parameters {params}")
for p in g.parameters():
    print(f"  d loss / d {p.name}: shape {p.grad.shape}")
assert (neurons, weights, params) == (6, 20, 26)
assert all(p.grad.shape == p.value.shape for p in g.parameters())

# %% [markdown]
# Every gate here — affine, sigmoid, sum — passes the finite-difference check on the whole
# function, and its Jacobian-vector products agree with backward:

# %%
ok = gl.gradcheck(lambda xx, w1, c1, w2, c2: gl.sum(gl.sigmoid(gl.affine(gl.sigmoid(gl.affine(xx, w1, c1)), w2, c2))),
                  [xb.value, W1.value, b1.value, W2.value, b2.value])
print("gradcheck of the two-layer network:", ok)
print(g.check_vjp(yhat, W1))
assert ok

# %% [markdown]
# **Summary.** With tensors, backward multiplies the upstream gradient by the transposed local
# Jacobian — but never builds the Jacobian: each gate has a formula for the product
# (ReLU masks, matmul multiplies by the other factor transposed). A gradient always has its
# variable's shape. Next: the convolution's backward pass, which is itself a convolution.
