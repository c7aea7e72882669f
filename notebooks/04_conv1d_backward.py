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
# # 4 · 1-D convolution and its backward pass
#
# The autograd notes' "1D Convolution — Backprop" page derives the two gradients of a
# convolution layer by hand on the smallest example: an input of four numbers, a kernel of
# two, an output of three. We redo that derivation symbolically, read off the two rules
#
# * $\frac{\partial L}{\partial w} = x \star \frac{\partial L}{\partial y}$ — the input
#   **correlated** with the upstream gradient,
# * $\frac{\partial L}{\partial x}$ = the **full** convolution of $\frac{\partial L}{\partial y}$
#   with the **flipped** kernel,
#
# and check both against gatelab's `conv1d` gate and against finite differences.

# %%
import numpy as np
import sympy as sp

import gatelab as gl

# %% [markdown]
# ## 4.1 The forward pass
#
# Input $x_1 \dots x_4$, kernel $w_1, w_2$, output $y = X * W$ with
#
# $$y_1 = w_1 x_1 + w_2 x_2,\qquad y_2 = w_1 x_2 + w_2 x_3,\qquad y_3 = w_1 x_3 + w_2 x_4.$$
#
# (Deep-learning "convolution" slides the kernel without flipping it: strictly a
# cross-correlation. Every library, gatelab included, does the same.)

# %%
x = sp.Matrix(sp.symbols("x1:5"))
w = sp.Matrix(sp.symbols("w1:3"))
y = sp.Matrix([w[0] * x[i] + w[1] * x[i + 1] for i in range(3)])
y

# %% [markdown]
# ## 4.2 Backward, by the chain rule
#
# Start from the upstream gradients $\frac{\partial L}{\partial y_j}$ (call them $g_j$). Each
# weight is used by every output, so its gradient sums over all three:
# $\frac{\partial L}{\partial w_1} = \sum_j \frac{\partial L}{\partial y_j}\frac{\partial y_j}{\partial w_1}$.

# %%
g = sp.Matrix(sp.symbols("g1:4"))          # g_j = dL/dy_j
dL_dw = sp.Matrix([sum(g[j] * sp.diff(y[j], wi) for j in range(3)) for wi in w])
dL_dw

# %% [markdown]
# $\frac{\partial L}{\partial w_1} = g_1 x_1 + g_2 x_2 + g_3 x_3$ and
# $\frac{\partial L}{\partial w_2} = g_1 x_2 + g_2 x_3 + g_3 x_4$: slide $g$ along $x$ and take
# dot products — the input correlated with the upstream gradient,
# $\frac{\partial L}{\partial w} = X * \frac{\partial L}{\partial y}$ (length $4 - 3 + 1 = 2$,
# the kernel's length).
#
# Each input element is used by at most two outputs:

# %%
dL_dx = sp.Matrix([sum(g[j] * sp.diff(y[j], xi) for j in range(3)) for xi in x])
dL_dx

# %% [markdown]
# The lecture's table, $\frac{\partial y_j}{\partial x_i}$ for $j = 1, 2, 3$:
#
# | | $\partial y_1$ | $\partial y_2$ | $\partial y_3$ |
# |---|---|---|---|
# | $\partial x_1$ | $w_1$ | 0 | 0 |
# | $\partial x_2$ | $w_2$ | $w_1$ | 0 |
# | $\partial x_3$ | 0 | $w_2$ | $w_1$ |
# | $\partial x_4$ | 0 | 0 | $w_2$ |
#
# Read down the rows: $\frac{\partial L}{\partial x_i}$ slides the **flipped** kernel
# $(w_2, w_1)$ over the upstream gradients padded with a zero at each end,
# $(0, g_1, g_2, g_3, 0)$ — a **full** convolution. The same table is the Jacobian
# $\partial y / \partial x$ (transposed); backward multiplies by it without ever building it.

# %%
J = y.jacobian(x)
print("dy/dx ="); sp.pprint(J)
assert J.T * g == dL_dx, "dL/dx = J^T g"

# %% [markdown]
# Check both rules symbolically: the correlation of $x$ with $g$, and the full correlation of
# the zero-padded $g$ with the flipped kernel.

# %%
def correlate_valid(a, k):
    """out[i] = sum_j a[i + j] k[j] (no flip), for SymPy or NumPy entries."""
    return [sum(a[i + j] * k[j] for j in range(len(k))) for i in range(len(a) - len(k) + 1)]

rule_w = correlate_valid(list(x), list(g))
padded_g = [0] + list(g) + [0]
rule_x = correlate_valid(padded_g, [w[1], w[0]])     # flipped kernel over the padded gradient
assert sp.Matrix(rule_w) == dL_dw, "dL/dw = x correlated with dL/dy"
assert sp.Matrix(rule_x).expand() == dL_dx.expand(), "dL/dx = full convolution with the flipped kernel"
print("both rules hold for every x, w and g")

# %% [markdown]
# ## 4.3 The same in gatelab, with numbers
#
# `gl.conv1d(x, w)` takes `x` shaped (N, C, L) and `w` shaped (K, C, F). With one example,
# one channel and one filter it is the lecture's layer. Feed random values, seed backward
# with an upstream gradient, and compare with the two rules written in NumPy
# (`np.correlate`, and `np.convolve(..., "full")`, which flips its second argument).

# %%
rng = np.random.default_rng(425)
x_val = rng.standard_normal(4)
w_val = rng.standard_normal(2)
g_val = rng.standard_normal(3)            # an upstream gradient dL/dy

G = gl.Graph()
xn = G.input("x", x_val.reshape(1, 1, 4))
wn = G.param("w", w_val.reshape(1, 1, 2))
yn = gl.conv1d(xn, wn).named("y")
G.forward()
G.backward(yn, grad=g_val.reshape(1, 1, 3))

dw_rule = np.correlate(x_val, g_val, mode="valid")
dx_rule = np.convolve(g_val, w_val, mode="full")       # = flipped kernel slid over padded g
print("dL/dw: gate", wn.grad.ravel(), " rule", dw_rule)
print("dL/dx: gate", xn.grad.ravel(), " rule", dx_rule)
assert np.allclose(yn.value.ravel(), np.correlate(x_val, w_val, mode="valid")), "forward: x correlated with w"
assert np.allclose(wn.grad.ravel(), dw_rule)
assert np.allclose(xn.grad.ravel(), dx_rule)

# %% [markdown]
# ## 4.4 Checked numerically
#
# `gl.numerical_gradient_array(f, x, dout)` nudges each element of `x` and returns
# $\sum$ `dout` $\cdot \frac{\partial f}{\partial x}$ — what backward must give for the
# upstream gradient `dout`. The relative errors should be around $10^{-10}$ in float64.

# %%
X, W, DY = x_val.reshape(1, 1, 4).copy(), w_val.reshape(1, 1, 2).copy(), g_val.reshape(1, 1, 3)
num_dx = gl.numerical_gradient_array(lambda: gl.conv1d(X, W), X, DY)
num_dw = gl.numerical_gradient_array(lambda: gl.conv1d(X, W), W, DY)
print("rel. error dx:", gl.rel_error(num_dx, xn.grad), "  dw:", gl.rel_error(num_dw, wn.grad))
assert gl.rel_error(num_dx, xn.grad) < 1e-8 and gl.rel_error(num_dw, wn.grad) < 1e-8

# %% [markdown]
# The Jacobian gatelab builds (one backward pass per output element) has the band structure of
# the table above: $w_1$ on the diagonal, $w_2$ beside it. Backward never forms it — it
# computes $J^\top g$ directly, which `check_vjp` confirms.

# %%
J_num = G.jacobian(yn, xn)
print(np.round(J_num, 3))
assert np.allclose(J_num, np.array(J.subs(dict(zip(w, w_val)))).astype(float))
print(G.check_vjp(yn, xn, g_val.reshape(1, 1, 3)))

# %% [markdown]
# ## 4.5 The same rules with channels, stride, padding and dilation
#
# A real layer has a batch, several input channels and several filters; stride, padding and
# dilation change which inputs each output sees, but the two rules stay the same: each weight
# collects input × upstream over every position it was used, and each input collects
# weight × upstream over every output that used it. `gl.gradcheck` compares the whole
# backward pass (input, weights and bias) with finite differences:

# %%
for stride, padding, dilation in [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 2)]:
    xs = rng.standard_normal((2, 3, 11))          # N = 2 signals, C = 3 channels, L = 11
    ws = rng.standard_normal((4, 3, 3))           # K = 4 filters of length 3
    bs = rng.standard_normal(4)
    ok = gl.gradcheck(lambda a, k, c: gl.conv1d(a, k, c, stride=stride, padding=padding, dilation=dilation),
                      [xs, ws, bs])
    out_len = gl.conv_output_size(11, 3, stride, padding, dilation)
    print(f"stride {stride}, padding {padding}, dilation {dilation}: output length {out_len}, gradcheck {ok}")
    assert ok

# %% [markdown]
# **Summary.** A convolution's backward pass is two more convolutions:
# $\frac{\partial L}{\partial w}$ correlates the input with the upstream gradient, and
# $\frac{\partial L}{\partial x}$ fully convolves the upstream gradient with the flipped kernel.
# Next: the same layer in 2-D, with its output-size arithmetic, parameter counts and pooling.
