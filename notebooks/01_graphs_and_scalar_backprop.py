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
# # 1 · Computational graphs and backpropagation with scalars
#
# This notebook follows the backprop lecture step by step (CS231n-style "Backprop + CNNs",
# the IIT Gandhinagar autograd notes, UvA DL1 "AutoDiff"). Every worked example uses the
# lecture's own numbers, and a cell at the end of each section asserts them.
#
# The idea in one sentence: write the function as a **graph of small gates**; run it
# forward to get the value; then walk the graph **backwards**, and at every gate multiply
# the gradient arriving from above (**upstream**) by the gate's own derivative (**local**)
# to get the gradient passed on to its inputs (**downstream**):
#
# $$\underbrace{\frac{\partial f}{\partial x}}_{\text{downstream}} =
#   \underbrace{\frac{\partial f}{\partial q}}_{\text{upstream}}\;
#   \underbrace{\frac{\partial q}{\partial x}}_{\text{local}}$$
#
# `gatelab` runs the graph in C++; from Python we build it, run it, and look inside.

# %%
import numpy as np

import gatelab as gl

# %% [markdown]
# ## 1.1 A simple example: $f(x, y, z) = (x + y)\,z$ at $x=-2,\ y=5,\ z=-4$
#
# Two gates: an add gate $q = x + y$ and a multiply gate $f = q z$.
# Operators on graph nodes (`+`, `*`, ...) add gates to the graph.

# %%
g = gl.Graph()
x = g.input("x", -2.0)
y = g.input("y", 5.0)
z = g.input("z", -4.0)
q = (x + y).named("q")
f = (q * z).named("f")

g.forward()          # every node in topological order
print("q =", q.value, "  f =", f.value)

# %% [markdown]
# The local gradients are the lecture's:
# $q = x + y \Rightarrow \frac{\partial q}{\partial x} = 1,\ \frac{\partial q}{\partial y} = 1$ and
# $f = qz \Rightarrow \frac{\partial f}{\partial q} = z,\ \frac{\partial f}{\partial z} = q$.
# We want $\frac{\partial f}{\partial x}, \frac{\partial f}{\partial y}, \frac{\partial f}{\partial z}$.
# `backward` seeds $\frac{\partial f}{\partial f} = 1$ and applies the chain rule in reverse order.

# %%
g.backward(f)
print(g.summary())

# %% [markdown]
# The picture the slides draw: every box shows its value and its gradient.
# (Graphviz's `dot` renders it when installed; otherwise gatelab's own SVG renderer does.
# `g.draw().save("circuit.svg")` keeps a copy.)

# %%
g.draw()

# %% [markdown]
# Backward visits the gates in reverse topological order. `draw(step=k)` shows the k-th gate
# being processed: on each input edge **upstream × local = downstream**. Step 0 is the
# multiply gate, step 1 the add gate.

# %%
g.draw(step=0)

# %%
g.draw(step=1)

# %% [markdown]
# The same steps as data: `g.backward_steps(f)` lists, per gate, the upstream gradient and
# each edge's local gradient and downstream share.

# %%
for step in g.backward_steps(f):
    print(f"gate '{step.node.name}' ({step.pattern})")
    for e in step.edges:
        print(f"   to {e.source.name}: upstream {float(e.upstream):+g} x local {float(e.local):+g}"
              f" = downstream {float(e.downstream):+g}")

# %%
# The lecture's numbers
assert q.value == 3 and f.value == -12, "forward: q = 3, f = -12"
assert z.grad == 3, "df/dz = q = 3"
assert q.grad == -4, "df/dq = z = -4"
assert x.grad == -4 and y.grad == -4, "df/dx = df/dq * dq/dx = -4 * 1, same for y"

# %% [markdown]
# ## 1.2 Another example: the logistic neuron
#
# $$f(w, x) = \frac{1}{1 + e^{-(w_0 x_0 + w_1 x_1 + w_2)}}$$
#
# at $w_0 = 2,\ x_0 = -1,\ w_1 = -3,\ x_1 = -2,\ w_2 = -3$, built from the primitive gates the
# slide uses: $\cdot$, $+$, $\times(-1)$, $\exp$, $+1$, $1/x$. Their local derivatives:
# $\frac{d}{dx} e^x = e^x$, $\frac{d}{dx}\frac1x = -\frac1{x^2}$,
# $\frac{d}{dx}(c + x) = 1$, $\frac{d}{dx}(ax) = a$.

# %%
g = gl.Graph()
w0, x0 = g.input("w0", 2.0), g.input("x0", -1.0)
w1, x1 = g.input("w1", -3.0), g.input("x1", -2.0)
w2 = g.input("w2", -3.0)
s = (w0 * x0 + w1 * x1 + w2).named("s")      # 1.00
neg = (-1.0 * s).named("neg")                  # -1.00
e = gl.exp(neg).named("exp")                   # 0.37
d = (1.0 + e).named("denominator")             # 1.37
out = gl.reciprocal(d).named("f")              # 0.73
g.forward()
g.backward(out)
print(g.summary(digits=2))

# %% [markdown]
# Walk it backwards with the slide. The first step is the $1/x$ gate: upstream $1.00$, local
# $-1/1.37^2$, downstream $-0.53$. Then $+1$ passes $-0.53$ on unchanged, $\exp$ multiplies by
# $e^{-1}$ to give $-0.20$, and $\times(-1)$ flips it to $0.20$.

# %%
g.draw(step=0)

# %%
g.draw(step=2)

# %% [markdown]
# The add gates hand $0.20$ to both inputs; the multiply gates swap:
# $w_0$: $0.2 \times x_0 = 0.2 \times (-1) = -0.2$ and $x_0$: $0.2 \times w_0 = 0.2 \times 2 = 0.4$.
#
# The slide multiplies the *rounded* $0.20$; the exact upstream is $0.1966$, so the table above
# prints $0.39$ where the slide writes $0.40$, and $-0.59$ for $0.20 \times (-3) = -0.60$. The
# check below rounds to the slide's two decimals and allows one unit in the last digit.

# %%
def close(value, slide, digits):
    """Rounded to the slide's digits, within one unit of its last printed digit (the slides
    compute with rounded intermediates: 0.20 x (-3) = -0.60 where the exact value is -0.59)."""
    return abs(round(float(value), digits) - slide) <= 10.0 ** -digits * (1 + 1e-9)

forward = {s: 1.00, neg: -1.00, e: 0.37, d: 1.37, out: 0.73}
grads = {d: -0.53, e: -0.53, neg: -0.20, s: 0.20, w2: 0.20, w0: -0.20, x0: 0.40, w1: -0.40, x1: -0.60}
for node, slide in forward.items():
    assert close(node.value, slide, 2), f"{node.name} = {node.value:.4f}, the slide shows {slide}"
for node, slide in grads.items():
    assert close(node.grad, slide, 2), f"dL/d{node.name} = {node.grad:.4f}, the slide shows {slide}"
print("all eleven numbers on the slide agree")

# %% [markdown]
# ### The same neuron with a sigmoid gate
#
# A graph is not unique: choose gates whose local gradients are easy. The last four gates are
# the sigmoid $\sigma(x) = \frac{1}{1 + e^{-x}}$, whose local gradient is
# $\frac{d\sigma}{dx} = (1 - \sigma(x))\,\sigma(x)$: here $(1 - 0.73)(0.73) = 0.2$.

# %%
g2 = gl.Graph()
v = {n: g2.input(n, val) for n, val in [("w0", 2.0), ("x0", -1.0), ("w1", -3.0), ("x1", -2.0), ("w2", -3.0)]}
s2 = (v["w0"] * v["x0"] + v["w1"] * v["x1"] + v["w2"]).named("s")
f2 = gl.sigmoid(s2).named("f")
g2.forward()
g2.backward(f2)
print(g2.summary(digits=2))

# %%
assert close((1 - f2.value) * f2.value, 0.20, 2), "sigmoid local gradient (1 - 0.73) 0.73 = 0.2"
for name in ["w0", "x0", "w1", "x1", "w2"]:
    assert np.isclose(v[name].grad, g[name].grad), f"{name}: one sigmoid gate gives the same gradient"
print("same gradients with one sigmoid gate")

# %% [markdown]
# ## 1.3 Patterns in gradient flow
#
# Four gates explain most of what backward does. The slide's numbers:
#
# * **add gate — gradient distributor**: $3 + 4 = 7$, upstream $2$ → both inputs get $2$;
# * **mul gate — "swap multiplier"**: $2 \times 3 = 6$, upstream $5$ → $5 \cdot 3 = 15$ and $2 \cdot 5 = 10$;
# * **copy gate — gradient adder**: a value used twice receives $4 + 2 = 6$;
# * **max gate — gradient router**: $\max(4, 5) = 5$, upstream $9$ → $0$ and $9$.
#
# `g.backward(node, grad=...)` starts backward from a gate with a given upstream gradient.

# %%
def gate_demo(build, a, b, upstream):
    g = gl.Graph()
    na, nb = g.input("a", a), g.input("b", b)
    out = build(na, nb)
    g.forward()
    g.backward(out, grad=upstream)
    return out.value, na.grad, nb.grad

add = gate_demo(lambda a, b: a + b, 3.0, 4.0, 2.0)
mul = gate_demo(lambda a, b: a * b, 2.0, 3.0, 5.0)
mx = gate_demo(gl.maximum, 4.0, 5.0, 9.0)
for name, (value, da, db) in [("add", add), ("mul", mul), ("max", mx)]:
    print(f"{name}: output {value:g}, gradients {da:g} and {db:g}")

# %% [markdown]
# The copy gate: a variable used by two gates gets the **sum** of what both send back. Below,
# `a` (value 7) feeds two gates whose upstream gradients are 4 and 2; the adjoint trace shows
# the two shares being added.

# %%
g = gl.Graph()
a = g.input("a", 7.0)
use = (4.0 * a + 2.0 * a).named("L")     # d L / d(first use) = 4, d L / d(second use) = 2
g.forward()
g.backward(use)
print(g.trace(seed=a))

# %%
assert add == (7.0, 2.0, 2.0), "add distributes: 2 and 2"
assert mul == (6.0, 15.0, 10.0), "mul swaps: 5*3 = 15 and 2*5 = 10"
assert mx == (5.0, 0.0, 9.0), "max routes: 0 and 9"
assert a.grad == 6.0, "copy adds: 4 + 2 = 6"

# %% [markdown]
# ## 1.4 The logistic-loss chain, one gate at a time
#
# The autograd notes train a logistic regression with label $y = 1$:
#
# $$\text{Loss} = -\log\Big(\frac{1}{1 + e^{-(\theta_0 + \theta_1 x_1 + \theta_2 x_2)}}\Big)$$
#
# at $\theta_0 = 1,\ \theta_1 = 1,\ \theta_2 = 2$ and $x_1 = 1,\ x_2 = 2$, so
# $\theta_0 + \theta_1 x_1 + \theta_2 x_2 = 6$. The lecture names every intermediate value
# $f_1, \dots, f_9$; we give the graph the same names.

# %%
g = gl.Graph()
t0, t1, t2 = g.param("θ0", 1.0), g.param("θ1", 1.0), g.param("θ2", 2.0)
x1, x2 = g.input("x1", 1.0), g.input("x2", 2.0)
f1 = (t1 * x1).named("f1")
f2 = (t2 * x2).named("f2")
f3 = (f1 + f2).named("f3")
f4 = (f3 + t0).named("f4")              # = 6
f5 = (-1.0 * f4).named("f5")            # = -6
f6 = gl.exp(f5).named("f6")             # e^-6
f7 = (1.0 + f6).named("f7")
f8 = gl.reciprocal(f7).named("f8")      # sigma(6) = 0.9975
f9 = gl.log(f8).named("f9")
L = (-1.0 * f9).named("L")
g.forward()
g.backward(L)
g.trace(seed=t0, output_name="L", digits=5)

# %% [markdown]
# Read the adjoint column from the bottom, as the slides do:
#
# | gate | upstream | local gradient | downstream |
# |---|---|---|---|
# | $L = -1 \cdot f_9$ | $1$ | $-1$ | $-1$ |
# | $f_9 = \log f_8$ | $-1$ | $1/f_8 = 1/0.9975 = 1.00247$ | $-1.00247$ |
# | $f_8 = 1/f_7$ | $-1.00247$ | $-1/f_7^2 = -0.9951$ | $0.9975$ |
# | $f_7 = 1 + f_6$ | $0.9975$ | $1$ | $0.9975$ |
# | $f_6 = e^{f_5}$ | $0.9975$ | $e^{f_5} = e^{-6} = 0.0025$ | $0.00247$ |
# | $f_5 = -1 \cdot f_4$ | $0.00247$ | $-1$ | $-0.00247$ |
# | $f_4 = f_3 + \theta_0$ | $-0.00247$ | $1$ for $\theta_0$ and for $f_3$ | $-0.00247$ |

# %%
assert close(f4.value, 6, 0) and close(f8.value, 0.9975, 4), "theta . x = 6, f8 = sigma(6) = 0.9975"
assert close(1 / f8.value, 1.00247, 5), "local gradient of log: 1/f8 = 1.00247"
assert close(f8.grad, -1.00247, 5), "upstream into f8 = -1.00247"
assert close(-1 / f7.value ** 2, -0.9951, 4), "local gradient of 1/x: -1/f7^2 = -0.9951"
assert close(f7.grad, 0.9975, 4) and close(f6.grad, 0.9975, 4), "upstream 0.9975 through the +1 gate"
assert close(np.exp(f5.value), 0.0025, 4), "local gradient of exp: e^-6 = 0.0025"
assert close(f5.grad, 0.00247, 5), "upstream into f5 = 0.00247"
assert close(f4.grad, -0.00247, 5) and close(t0.grad, -0.00247, 5), "dL/dtheta0 = -0.00247"
print("dL/dtheta =", t0.grad, t1.grad, t2.grad)

# %% [markdown]
# **Simplifying the graph** (the lecture's exercise: "show you get the same answer as before"):
# $L = -1 \times \log(\mathrm{SIGMOID}(\theta_0 + \theta_1 x_1 + \theta_2 x_2))$ with one sigmoid gate.

# %%
h = gl.Graph()
s0, s1, s2 = h.param("θ0", 1.0), h.param("θ1", 1.0), h.param("θ2", 2.0)
Ls = (-1.0 * gl.log(gl.sigmoid(s0 + s1 * h.input("x1", 1.0) + s2 * h.input("x2", 2.0)))).named("L")
h.forward()
h.backward(Ls)
assert np.isclose(Ls.value, L.value)
for a_, b_ in [(s0, t0), (s1, t1), (s2, t2)]:
    assert np.isclose(a_.grad, b_.grad), f"{a_.name}: the sigmoid graph gives the same gradient"
print("same loss and gradients:", Ls.value, s0.grad, s1.grad, s2.grad)

# %% [markdown]
# ### Training over N examples: gradients add
#
# With two examples the loss is $L = L_1 + L_2$ with $L_1 = x_1\theta$ and $L_2 = x_2\theta$.
# $\theta$ is used twice — a copy gate — so by the chain rule for one independent variable
# $\frac{\partial L}{\partial \theta} = x_1 + x_2$: the **addition of all incoming gradients**.
# (Below with the lecture's inputs $x_1 = 1$, $x_2 = 2$ and $\theta = 1$.)

# %%
g = gl.Graph()
theta = g.param("θ", 1.0)
L1 = (g.input("x1", 1.0) * theta).named("L1")
L2 = (g.input("x2", 2.0) * theta).named("L2")
Ln = (L1 + L2).named("L")
g.forward()
g.backward(Ln)
print(g.trace(seed=theta, output_name="L"))
assert theta.grad == 1.0 + 2.0, "dL/dtheta = x1 + x2"

# %% [markdown]
# ## 1.5 Implementing backprop: "flat" code
#
# The lecture's flat implementation of the neuron: a forward pass that stores every
# intermediate value, then one line per gate in reverse order. Pure Python, no library.

# %%
def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))

def f_flat(w0, x0, w1, x1, w2):
    # forward pass: compute output
    s0 = w0 * x0
    s1 = w1 * x1
    s2 = s0 + s1
    s3 = s2 + w2
    L = sigmoid(s3)
    # backward pass: compute grads
    grad_L = 1.0
    grad_s3 = grad_L * (1 - L) * L      # sigmoid
    grad_w2 = grad_s3                   # add gate
    grad_s2 = grad_s3
    grad_s0 = grad_s2                   # add gate
    grad_s1 = grad_s2
    grad_w1 = grad_s1 * x1              # multiply gate
    grad_x1 = grad_s1 * w1
    grad_w0 = grad_s0 * x0              # multiply gate
    grad_x0 = grad_s0 * w0
    return L, dict(w0=grad_w0, x0=grad_x0, w1=grad_w1, x1=grad_x1, w2=grad_w2)

L_flat, grads_flat = f_flat(2.0, -1.0, -3.0, -2.0, -3.0)
print(L_flat, grads_flat)
for name, value in grads_flat.items():
    assert np.isclose(value, g2[name].grad), f"flat code and graph agree on d/d{name}"

# %% [markdown]
# ## 1.6 The modular API: a graph of gates, each with forward and backward
#
# The lecture's `ComputationalGraph` sketch: `forward` runs the gates in topological order,
# `backward` in reverse, each gate doing "a little piece of backprop". `gl.Graph` is exactly
# that (in C++). A gate is an object with `forward` (save what backward needs) and
# `backward` (upstream in, one downstream gradient per input out) — the lecture's PyTorch
# `Multiply(torch.autograd.Function)`, written as a gatelab gate in Python:

# %%
class Multiply(gl.Gate):
    def forward(self, x, y):
        self.x, self.y = x, y          # stash the values backward needs
        return x * y

    def backward(self, grad_z):        # upstream gradient
        grad_x = self.y * grad_z       # dz/dx * dL/dz
        grad_y = self.x * grad_z       # dz/dy * dL/dz
        return grad_x, grad_y

g = gl.Graph()
x, y, z = g.input("x", -2.0), g.input("y", 5.0), g.input("z", -4.0)
f = g.apply(Multiply(), x + y, z)      # a Python gate inside the C++ graph
g.forward()
g.backward(f)
print(f.value, x.grad, y.grad, z.grad)
assert (f.value, x.grad, y.grad, z.grad) == (-12.0, -4.0, -4.0, 3.0)

# %% [markdown]
# **Check every gate numerically.** `gl.gradcheck` compares backward with finite differences
# (next notebook) on random inputs. When it fails, it says *why*. A classic bug: the $1/x$
# gate with the minus sign of $\frac{d}{dx}\frac1x = -\frac1{x^2}$ forgotten.

# %%
class Reciprocal(gl.Gate):
    def forward(self, x):
        self.x = x
        return 1.0 / x

    def backward(self, grad_out):
        return (-grad_out / self.x ** 2,)

class BuggyReciprocal(Reciprocal):
    def backward(self, grad_out):
        return (grad_out / self.x ** 2,)          # the minus sign is missing

rng = np.random.default_rng(0)
a, b = rng.uniform(0.5, 2.0, size=3), rng.uniform(0.5, 2.0, size=3)
print("Multiply:", gl.gradcheck(Multiply(), [a, b]), "  Reciprocal:", gl.gradcheck(Reciprocal(), [a]))
try:
    gl.gradcheck(BuggyReciprocal(), [a])
except gl.GradcheckError as err:
    print(err)
    assert err.report.diagnosis.cause == "sign_flip"

# %% [markdown]
# **Summary.** A graph of gates; forward stores values; backward multiplies upstream by
# local gradients and **adds** where a value fans out. Add distributes, multiply swaps,
# max routes, copy adds. Next: the four ways to get a derivative, and why this one
# (reverse-mode automatic differentiation) is the one deep learning uses.
