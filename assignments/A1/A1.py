# %% [markdown]
# # Assignment 1 — Gates and graphs
#
# Backpropagation is the chain rule applied one gate at a time: each gate receives the upstream
# gradient `dout` = dL/d(out) and passes on, for each input, **local gradient × dout**. In this
# assignment you write
#
# 1. the backward pass of five gates, as `gl.Gate` subclasses that run inside gatelab's C++ graph;
# 2. a topological sort and the backward pass of a small graph of Python `Value` objects;
# 3. a numerical gradient and a gradient check.
#
# **How you are graded.** Replace each `raise NotImplementedError(...)` with your code. The
# autograder runs your notebook's imports, function and class definitions (not the demo cells),
# then tests each function on random inputs against gatelab's reference gates and finite
# differences. Keep the names and signatures given here. Your functions must compute their
# results themselves: calling gatelab's built-in gate for the gate you are writing (say
# `gl.gates.Multiply` inside `MultiplyGate.backward`) is detected and scores nothing. Use NumPy
# freely. To run the public tests, run `gatelab grade . A1.ipynb` in the folder this notebook
# came in (it needs pytest; without it, `gatelab grade` prints the command that installs it).

# %%
import math

import numpy as np

import gatelab as gl

# %% [markdown]
# ## Part 1 — Gates written in Python
#
# A `gl.Gate` subclass has a `forward(*inputs)` that saves what backward needs, and a
# `backward(dout)` that returns **one gradient per input, shaped like that input**. Inputs are
# NumPy arrays; the gates work element-wise (the mean gate reduces to a single number).
#
# The patterns from the lecture: *add* distributes the gradient, *multiply* swaps its inputs,
# *max* routes the gradient to the larger input, and a function's local gradient is its
# derivative at the input (for the sigmoid: σ(x)(1 − σ(x))).

# %%
class MultiplyGate(gl.Gate):
    """out = x * y, element-wise."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        """(dL/dx, dL/dy) given dout = dL/d(out)."""
        # BEGIN SOLUTION
        dx = self.y * dout
        dy = self.x * dout
        return dx, dy
        # END SOLUTION


# %%
class ReciprocalGate(gl.Gate):
    """out = 1 / x, element-wise."""

    def forward(self, x):
        self.x = x
        return 1.0 / x

    def backward(self, dout):
        """(dL/dx,): the derivative of 1/x is -1/x^2."""
        # BEGIN SOLUTION
        dx = -dout / (self.x * self.x)
        return (dx,)
        # END SOLUTION


# %%
class SigmoidGate(gl.Gate):
    """out = 1 / (1 + e^-x), element-wise."""

    def forward(self, x):
        self.out = 1.0 / (1.0 + np.exp(-x))
        return self.out

    def backward(self, dout):
        """(dL/dx,): use the saved output, sigma' = sigma (1 - sigma)."""
        # BEGIN SOLUTION
        dx = self.out * (1.0 - self.out) * dout
        return (dx,)
        # END SOLUTION


# %%
class MaxGate(gl.Gate):
    """out = max(x, y), element-wise (the inputs are never equal here)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.maximum(x, y)

    def backward(self, dout):
        """(dL/dx, dL/dy): the gradient goes to whichever input was larger."""
        # BEGIN SOLUTION
        x_wins = self.x > self.y
        dx = np.where(x_wins, dout, 0.0)
        dy = np.where(x_wins, 0.0, dout)
        return dx, dy
        # END SOLUTION


# %%
class MeanGate(gl.Gate):
    """out = the mean of all elements of x (a single number, shape ())."""

    def forward(self, x):
        self.shape = x.shape
        return np.array(np.mean(x))

    def backward(self, dout):
        """(dL/dx,): every element of x contributes 1/N of the mean."""
        # BEGIN SOLUTION
        n = int(np.prod(self.shape))
        dx = np.full(self.shape, float(dout) / n)
        return (dx,)
        # END SOLUTION


# %% [markdown]
# Your gates run inside the C++ graph like built-in ones. The lecture's logistic neuron,
# f = σ(w0·x0 + w1·x1 + w2) at w = (2, −3, −3), x = (−1, −2), gives df/dw0 = −0.20:

# %%
g = gl.Graph()
w0, x0, w1, x1, w2 = (g.input(n, v) for n, v in [("w0", 2.0), ("x0", -1.0), ("w1", -3.0), ("x1", -2.0),
                                                  ("w2", -3.0)])
s = g.apply(MultiplyGate(), w0, x0) + g.apply(MultiplyGate(), w1, x1) + w2
f = g.apply(SigmoidGate(), s)
g.forward()
g.backward(f)
print(g.summary())

# %% [markdown]
# ## Part 2 — A graph of Python values
#
# `Value` is a number that remembers the values it was computed from (`parents`) and the local
# derivatives d(self)/d(parent) (`local_grads`, one per parent). It is written for you.
#
# Write `topological_sort(root)`: every `Value` that `root` depends on, `root` included, each
# listed once and after all of its parents. Graphs may be thousands of values deep, so do not
# recurse (Python stops at about 1000 nested calls): keep your own stack.
#
# Then write `backward(root)`: set `.grad` of every value to d(root)/d(value). Start every
# gradient from zero (calling `backward` twice must give the same result), seed d(root)/d(root)
# = 1, and visit the values in reverse topological order. **A value used twice receives the sum
# of the gradients of both uses.**

# %%
class Value:
    """A number in a small Python graph, with its parents and local derivatives."""

    def __init__(self, data, parents=(), local_grads=(), op=""):
        self.data = float(data)
        self.grad = 0.0
        self.parents = tuple(parents)
        self.local_grads = tuple(local_grads)
        self.op = op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other)

    def __pow__(self, k):
        return Value(self.data ** k, (self,), (k * self.data ** (k - 1),), f"**{k}")

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def __repr__(self):
        return f"Value({self.data:.4g}, grad={self.grad:.4g}, op={self.op!r})"


# %%
def topological_sort(root):
    """Every Value root depends on (root included), once each, each after all of its parents."""
    # BEGIN SOLUTION
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for parent in node.parents:
            if id(parent) not in seen:
                stack.append((parent, False))
    return order
    # END SOLUTION


# %%
def backward(root):
    """Sets .grad of every Value root depends on to d(root)/d(value)."""
    # BEGIN SOLUTION
    order = topological_sort(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += local * node.grad
    # END SOLUTION


# %% [markdown]
# The lecture's circuit f = (x + y) z at x = −2, y = 5, z = −4: df/dx = df/dy = −4, df/dz = 3.

# %%
x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
f = (x + y) * z
backward(f)
print(x.grad, y.grad, z.grad)

# %% [markdown]
# ## Part 3 — Gradient checks
#
# `numerical_gradient(f, x, h)` estimates df/dx for a function `f(x)` returning a number, by
# central differences (f(x + h) − f(x − h)) / 2h, one element of `x` at a time. Perturb `x` in
# place and **restore each element** afterwards.
#
# `gate_gradient_errors(gate, inputs, dout, h)` checks a gate's backward: run `forward` on the
# inputs and `backward(dout)`, then for each input compare the analytic gradient with the
# numerical gradient of sum(dout · forward(inputs)) using `rel_error`. Return the list of
# relative errors, one per input (in float64 a correct gate gives about 1e-8 or less).

# %%
def rel_error(a, b):
    """max |a - b| / max(1e-8, |a| + |b|)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


# %%
def numerical_gradient(f, x, h=1e-5):
    """df/dx by central differences; f(x) returns a number; x is perturbed in place and restored."""
    # BEGIN SOLUTION
    grad = np.zeros(x.shape)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        x[ix] = old + h
        plus = f(x)
        x[ix] = old - h
        minus = f(x)
        x[ix] = old
        grad[ix] = (plus - minus) / (2 * h)
    return grad
    # END SOLUTION


# %%
def gate_gradient_errors(gate, inputs, dout, h=1e-5):
    """The relative error of gate.backward's gradient for each input, against numerical gradients."""
    # BEGIN SOLUTION
    gate.forward(*inputs)
    grads = [np.array(gr, dtype=float) for gr in gate.backward(dout)]
    errors = []
    for x, analytic in zip(inputs, grads):
        numeric = numerical_gradient(lambda _: float(np.sum(np.asarray(gate.forward(*inputs)) * dout)), x, h)
        errors.append(rel_error(analytic, numeric))
    return errors
    # END SOLUTION


# %%
a, b = np.random.randn(3, 4), np.random.randn(3, 4)
print(gate_gradient_errors(MultiplyGate(), [a, b], np.random.randn(3, 4)))
