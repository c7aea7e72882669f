"""Gate functions: ``gl.sigmoid(x)``, ``gl.maximum(a, b)``, ``gl.sum(x, axis=0)``, ...

Given graph nodes they add a gate node to the graph and return it. Given only NumPy arrays or
numbers they run the same C++ gate once and return the result, so every function also works
outside a graph.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

from gatelab import _core
from gatelab.graph import graph_of

gates = _core.gates

Axis = Optional[Union[int, Sequence[int]]]

__all__ = [
    "apply", "add", "subtract", "multiply", "divide", "maximum", "negate", "power", "exp", "log",
    "reciprocal", "sin", "cos", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "sum", "mean",
]


def apply(gate, *args, name: str = ""):
    """Runs ``gate`` on ``args``: as a graph node if any argument is a Node, else standalone."""
    graph = graph_of(*args)
    if graph is not None:
        return graph.apply(gate, *args, name=name)
    return gate.forward(*args)


def add(a, b):
    """a + b with broadcasting."""
    return apply(gates.Add(), a, b)


def subtract(a, b):
    """a - b with broadcasting."""
    return apply(gates.Subtract(), a, b)


def multiply(a, b):
    """a * b with broadcasting."""
    return apply(gates.Multiply(), a, b)


def divide(a, b):
    """a / b with broadcasting."""
    return apply(gates.Divide(), a, b)


def maximum(a, b):
    """Element-wise max(a, b) with broadcasting; the gradient goes to the larger input (split on ties)."""
    return apply(gates.Maximum(), a, b)


def negate(x):
    """-x."""
    return apply(gates.Negate(), x)


def power(x, p: float):
    """x ** p for a constant exponent p."""
    return apply(gates.Power(float(p)), x)


def exp(x):
    """e ** x."""
    return apply(gates.Exp(), x)


def log(x):
    """Natural logarithm (NaN below 0, -inf at 0, as NumPy)."""
    return apply(gates.Log(), x)


def reciprocal(x):
    """1 / x."""
    return apply(gates.Reciprocal(), x)


def sin(x):
    return apply(gates.Sin(), x)


def cos(x):
    return apply(gates.Cos(), x)


def sigmoid(x):
    """1 / (1 + e^-x), computed without overflow."""
    return apply(gates.Sigmoid(), x)


def tanh(x):
    return apply(gates.Tanh(), x)


def relu(x):
    """max(x, 0); its gradient at 0 is 0 (as PyTorch)."""
    return apply(gates.ReLU(), x)


def leaky_relu(x, slope: float = 0.01):
    """x if x > 0 else slope * x."""
    return apply(gates.LeakyReLU(slope), x)


def elu(x, alpha: float = 1.0):
    """x if x > 0 else alpha * (e^x - 1)."""
    return apply(gates.ELU(alpha), x)


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + e^(beta x)) / beta, linear where beta x > threshold."""
    return apply(gates.Softplus(beta, threshold), x)


def sum(x, axis: Axis = None, keepdims: bool = False):  # noqa: A001 - mirrors numpy.sum
    """Sum over ``axis`` (an int, a tuple, or None for all elements)."""
    return apply(gates.Sum(axis, keepdims), x)


def mean(x, axis: Axis = None, keepdims: bool = False):
    """Mean over ``axis`` (an int, a tuple, or None for all elements)."""
    return apply(gates.Mean(axis, keepdims), x)
