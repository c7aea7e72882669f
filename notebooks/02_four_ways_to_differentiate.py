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
# # 2 · Four ways to differentiate
#
# The AutoDiff lectures (UvA DL1, UBC CPSC 425) list four ways to get a derivative:
# **manual**, **numerical**, **symbolic** and **automatic**. We run all four on the lectures'
# example
#
# $$y = f(x_1, x_2) = \ln x_1 + x_1 x_2 - \sin x_2 \quad\text{at}\quad (x_1, x_2) = (2, 5)$$
#
# and see why deep learning uses the last one, in reverse mode.

# %%
import numpy as np
import sympy as sp

import gatelab as gl

x1_val, x2_val = 2.0, 5.0

# %% [markdown]
# ## 2.1 Manual
#
# Calculus on paper: $\frac{\partial y}{\partial x_1} = \frac{1}{x_1} + x_2$ and
# $\frac{\partial y}{\partial x_2} = x_1 - \cos x_2$. Exact, but every new function (or a
# change of loss) means deriving again by hand.

# %%
def f(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2)

manual = np.array([1 / x1_val + x2_val, x1_val - np.cos(x2_val)])
print("y =", round(f(x1_val, x2_val), 3), "  manual gradient:", manual.round(3))
assert round(f(x1_val, x2_val), 3) == 11.652, "y(2, 5) = 11.652"
assert round(manual[0], 3) == 5.5 and round(manual[1], 3) == 1.716, "dy/dx1 = 5.5, dy/dx2 = 1.716"

# %% [markdown]
# ## 2.2 Numerical: finite differences
#
# Nudge one input and watch the output (the autograd notes):
#
# * one-sided: $\frac{\partial f}{\partial x_i} \approx \frac{f(\dots, x_i + h, \dots) - f(\dots, x_i, \dots)}{h}$
# * two-sided: $\frac{\partial f}{\partial x_i} \approx \frac{f(\dots, x_i + h, \dots) - f(\dots, x_i - h, \dots)}{2h}$
#
# It works even when the function is a black box, but it costs one (or two) extra forward
# passes **per input**, and it is only approximate. `gl.numerical_gradient(f, x, h, method)`
# perturbs `x` in place; `x` may be an array or a leaf of a graph.

# %%
g, y = gl.lecture_example()            # the lecture's graph, already run forward at (2, 5)
x1, x2 = g["x1"], g["x2"]
run = lambda: g.forward(output=y)      # noqa: E731 - f() as the finite differences see it

for h in [1e-2, 1e-6]:
    one = [float(gl.numerical_gradient(run, x, h=h, method="forward")) for x in (x1, x2)]
    two = [float(gl.numerical_gradient(run, x, h=h, method="central")) for x in (x1, x2)]
    print(f"h = {h:g}: one-sided {np.round(one, 6)}, two-sided {np.round(two, 6)}")

# %% [markdown]
# ### How small should $h$ be? The truncation / round-off "V"
#
# The slides: **truncation error** when $h$ is too big (the secant is not the tangent;
# $\propto h$ one-sided, $\propto h^2$ two-sided), **round-off error** when $h$ is too small
# ($f(x+h) - f(x)$ cancels to a few significant digits in floating point; $\propto \epsilon/h$).
# `gl.step_size_sweep` measures both over $h = 10^{-15} \dots 10^{-1}$ for $\partial y / \partial x_2$.

# %%
sweep = gl.step_size_sweep(run, x2, grad=manual[1])
print(sweep)

# %%
sweep.plot();

# %% [markdown]
# Read the plot from right to left: the error first falls as $h$ shrinks (truncation), then
# rises again (round-off). The best one-sided step is near $\sqrt{\epsilon} \approx 10^{-8}$,
# the best two-sided one near $\epsilon^{1/3} \approx 10^{-5}$ (in float64,
# $\epsilon = 2.2 \times 10^{-16}$), and the two-sided error is far smaller. That is why
# gradient checks use central differences with $h \approx 10^{-5} \dots 10^{-6}$
# (the UBC slide: "use $h = 0.000001$") — good for **checking** an implementation, too slow and
# too inexact for **training**.

# %%
best = sweep.best_h
assert 1e-10 <= best["forward"] <= 1e-6, "one-sided: best h near sqrt(eps) ~ 1e-8"
assert 1e-7 <= best["central"] <= 1e-3, "two-sided: best h near eps^(1/3) ~ 1e-5"
assert sweep.min_error["central"] < sweep.min_error["forward"] / 100, "two-sided is far more accurate"
assert sweep.central_error[0] > 100 * sweep.min_error["central"], "h = 1e-15: round-off ruins it"
assert sweep.central_error[-1] > 100 * sweep.min_error["central"], "h = 1e-1: truncation ruins it"

# %% [markdown]
# ## 2.3 Symbolic differentiation
#
# Let the computer do the calculus on the expression tree with the sum, product and chain
# rules. Exact — but the result can be much larger than the function (**expression swell**).
# The UvA slide's example, $f(x) = \frac{e^{wx+b} + e^{-(wx+b)}}{e^{wx+b} - e^{-(wx+b)}}$,
# with SymPy:

# %%
w, x, b = sp.symbols("w x b")
u = w * x + b
f_sym = (sp.exp(u) + sp.exp(-u)) / (sp.exp(u) - sp.exp(-u))
df_dw = sp.diff(f_sym, w)
df_dw

# %% [markdown]
# That is term for term the slide's
# $\frac{\partial f}{\partial w} = \frac{(-xe^{-b-wx} - xe^{b+wx})(e^{-b-wx} + e^{b+wx})}{(-e^{-b-wx} + e^{b+wx})^2}
# + \frac{-xe^{-b-wx} + xe^{b+wx}}{-e^{-b-wx} + e^{b+wx}}$; the exponentials are repeated
# instead of computed once.

# %%
E, Em = sp.exp(b + w * x), sp.exp(-b - w * x)
slide = (-x * Em - x * E) * (Em + E) / (-Em + E) ** 2 + (-x * Em + x * E) / (-Em + E)
assert sp.simplify(df_dw - slide) == 0, "SymPy's derivative is the slide's expression"
print("operations in f:", sp.count_ops(f_sym), "  in df/dw:", sp.count_ops(df_dw))

# %% [markdown]
# The swell compounds with depth. Nest $h \mapsto h \sin h$ a few times and count operations:
# the function grows linearly, its symbolic derivative much faster (each product rule copies
# both factors), while backprop on the graph costs a small constant times the forward pass.

# %%
xs = sp.Symbol("x")
expr = xs
print(f"{'depth':>5}  {'ops in f':>8}  {'ops in df/dx':>12}")
for depth in range(1, 6):
    expr = expr * sp.sin(expr)
    print(f"{depth:>5}  {sp.count_ops(expr):>8}  {sp.count_ops(sp.diff(expr, xs)):>12}")

# %% [markdown]
# On the lecture's function, symbolic differentiation gives the manual answer exactly:

# %%
s1, s2 = sp.symbols("x1 x2")
y_sym = sp.log(s1) + s1 * s2 - sp.sin(s2)
grad_sym = [sp.diff(y_sym, s) for s in (s1, s2)]
print(grad_sym)
values = [float(d.subs({s1: 2, s2: 5})) for d in grad_sym]
assert np.allclose(values, manual), "symbolic = manual"

# %% [markdown]
# ## 2.4 Automatic differentiation
#
# Symbolic differentiation at the level of **elementary operations**, evaluated and stored as
# we go: the graph's nodes are
# $v_1 = \ln x_1,\ v_2 = x_1 x_2,\ v_3 = \sin x_2,\ v_4 = v_1 + v_2,\ v_5 = v_4 - v_3$.

# %%
g.draw()

# %% [markdown]
# ### Forward mode
#
# Carry a derivative $\dot v = \partial v / \partial x_1$ along with every value, seeded with
# $\dot x_1 = 1,\ \dot x_2 = 0$. `g.trace()` prints the lecture's three tables: the forward
# evaluation trace, the forward derivative trace, and (next section) the reverse adjoint trace.

# %%
g.backward(y)
tr = g.trace(seed=x1)
tr

# %% [markdown]
# One forward-mode pass gives the derivative with respect to **one** input. For
# $\partial y / \partial x_2$ we need a second pass, seeded $\dot x_1 = 0,\ \dot x_2 = 1$:
# for $f: \mathbb{R}^m \to \mathbb{R}^n$ forward mode needs $m$ passes.

# %%
print("pass 1, seed x1: dy/dx1 =", g.jvp(y, {x1: 1.0}))
print("pass 2, seed x2: dy/dx2 =", round(g.jvp(y, {x2: 1.0}), 3))

# %% [markdown]
# **A note on the slides' sign.** $\sin 5 = -0.959$ (5 radians is in the fourth quadrant), so
# $v_5 = v_4 - v_3 = 10.693 - (-0.959) = 11.652$: the slides write "$10.693 + 0.959$" with
# the sign already applied, and one slide's "$10.693 - 0.959 = 9.734$" is a slip.

# %%
t = {r.label: r for r in tr.rows}
assert [round(t[k].value, 3) for k in ("v1", "v2", "v3", "v4", "v5")] == [0.693, 10, -0.959, 10.693, 11.652]
assert [round(t[k].tangent, 3) for k in ("v1", "v2", "v3", "v4", "v5")] == [0.5, 5, 0, 5.5, 5.5], \
    "forward derivative trace: 1/2, 1*5 + 0*2, 0*cos 5, 0.5 + 5, 5.5 - 0"

# %% [markdown]
# ### Reverse mode
#
# Now carry adjoints $\bar v = \partial y / \partial v$ backwards from $\bar y = 1$:
# $\bar v_i = \sum_{k} \bar v_k \frac{\partial v_k}{\partial v_i}$ over the nodes $k$ that use
# $v_i$. One backward pass gives the derivative with respect to **every** input. $x_2$ is used
# twice ($v_2$ and $v_3$), so its adjoint adds two shares:
# $\bar x_2 = \bar v_3 \cos x_2 + \bar v_2\, x_1 = -0.284 + 2 = 1.716$ (the third table above,
# read bottom-up in the order computed).

# %%
print("one reverse pass: dy/dx1 =", x1.grad, " dy/dx2 =", round(x2.grad, 3))
assert [round(t[k].adjoint, 3) for k in ("v5", "v4", "v3", "v2", "v1")] == [1, 1, -1, 1, 1]
assert [round(float(s), 3) for s in t["x2"].adjoint_terms] == [-0.284, 2.0], "x2-bar = -0.284 + 2"
assert round(x1.grad, 3) == 5.5 and round(x2.grad, 3) == 1.716, "x1-bar = 5.5, x2-bar = 1.716"

# %% [markdown]
# The UBC slides number the nodes from $v_0 = x_1$, $v_1 = x_2$ up to $v_6 = v_5 - v_4$; the
# same trace in their numbering:

# %%
g.trace(seed=x1, numbering=0)

# %% [markdown]
# ### Why reverse mode is backprop
#
# For $f: \mathbb{R}^m \to \mathbb{R}^n$ forward mode needs $m$ passes, reverse mode $n$. A
# network's loss has millions of inputs (the image plus every weight) and **one** output, so
# reverse mode gets the whole gradient in a single backward pass. Below: a loss of 1000
# weights. The full Jacobian (here a single row) by forward mode takes 1000 forward-mode
# passes; reverse mode takes one.

# %%
rng = np.random.default_rng(0)
gw = gl.Graph()
weights = gw.param("w", rng.standard_normal(1000))
loss = gl.sum(gl.tanh(weights) ** 2)
gw.forward()
forward_rows = gw.jacobian(loss, weights, mode="forward")    # 1000 jvp passes, one per weight
reverse_rows = gw.jacobian(loss, weights, mode="reverse")    # 1 backward pass, one per output
print("Jacobian shape", forward_rows.shape, "  forward mode: 1000 passes, reverse mode: 1 pass")
assert np.allclose(forward_rows, reverse_rows), "both modes give the same gradient"

# %% [markdown]
# ### Automatic vs numerical, as a gradient check
#
# Autodiff is exact up to rounding; central differences agree with it to about
# $10^{-10}$ relative error — the "gradient check" you will run on every gate you write.

# %%
numeric = np.array([float(gl.numerical_gradient(run, x, h=1e-5)) for x in (x1, x2)])
g.forward()                            # the differences left the graph at a perturbed point
g.backward(y)
auto = np.array([x1.grad, x2.grad])
print("relative error, autodiff vs two-sided differences:", gl.rel_error(auto, numeric))
assert gl.rel_error(auto, numeric) < 1e-8

# %% [markdown]
# ### Autodiff visually: what forward stores for backward
#
# The UvA slide's two-layer chain $h_1 = \sigma(w_1 h_0)$, $h_2 = \sigma(w_2 h_1)$,
# $\mathcal L = 0.5\,(y^* - h_2)^2$: the forward pass stores $h_1$ and $h_2$, and backward
# reuses them through $\sigma' = \sigma(1 - \sigma)$:
# $\frac{d\mathcal L}{dw_2} = \frac{d\mathcal L}{dh_2}\, h_1 h_2 (1 - h_2)$,
# $\frac{d\mathcal L}{dh_1} = \frac{d\mathcal L}{dh_2}\, w_2 h_2 (1 - h_2)$,
# $\frac{d\mathcal L}{dw_1} = \frac{d\mathcal L}{dh_1}\, h_0 h_1 (1 - h_1)$.
# The graph computes the same (checked at random values):

# %%
h0_, w1_, w2_, target = rng.standard_normal(4)
ga = gl.Graph()
h0, w1, w2 = ga.input("h0", h0_), ga.param("w1", w1_), ga.param("w2", w2_)
h1 = gl.sigmoid(w1 * h0).named("h1")
h2 = gl.sigmoid(w2 * h1).named("h2")
La = (0.5 * (target - h2) ** 2).named("L")
ga.forward()
ga.backward(La)
dL_dh2 = -(target - h2.value)
dL_dh1 = dL_dh2 * w2_ * h2.value * (1 - h2.value)
assert np.isclose(w2.grad, dL_dh2 * h1.value * h2.value * (1 - h2.value))
assert np.isclose(h1.grad, dL_dh1)
assert np.isclose(w1.grad, dL_dh1 * h0_ * h1.value * (1 - h1.value))
print("the slide's formulas match the graph's backward pass")

# %% [markdown]
# ## Summary
#
# | | how | exact? | cost for all $m$ inputs |
# |---|---|---|---|
# | manual | calculus on paper | yes | your time, for every new model |
# | numerical | $(f(x+h) - f(x-h))/2h$ | no: truncation vs round-off | $2m$ forward passes |
# | symbolic | rules on the expression tree | yes | expression swell |
# | automatic, forward mode | tangents along with values | yes | $m$ passes |
# | automatic, reverse mode (backprop) | adjoints from the output back | yes | **1** backward pass (one output) |
#
# Next: the same backward pass when the values are vectors and matrices.
