"""Numerical gradients by finite differences, and the relative error used to compare gradients.

The course's helpers, with the same names' meaning (CS231n ``gradient_check.py``):

* ``numerical_gradient(f, x, h)``: f returns a scalar; x is perturbed in place, one element at
  a time, and restored. Two-sided (central) by default, ``method="forward"`` or ``"backward"``
  for the one-sided differences of the lecture (error O(h) instead of O(h^2)).
* ``numerical_gradient_array(f, x, dout, h)``: f returns an array; returns sum(dout * df/dx),
  i.e. what a backward pass with upstream gradient dout should give for x.
* ``rel_error(a, b)``: max |a - b| / max(1e-8, |a| + |b|).

``x`` may be a NumPy array or a graph leaf (input or parameter node); ``f`` takes no argument
or, as in the course's notebooks, the array being perturbed.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Callable

import numpy as np

from gatelab import _core
from gatelab.graph import Node

__all__ = ["numerical_gradient", "numerical_gradient_array", "rel_error"]

_METHODS = ("central", "forward", "backward")


def _perturbable(x, who: str) -> np.ndarray:
    """The array to perturb in place: x itself, or a graph leaf's value storage."""
    if isinstance(x, Node):
        return x.graph._g.writable_value(x.id)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who}: x must be a NumPy array (perturbed in place) or a graph leaf, "
                        f"got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: x is {x.dtype}; finite differences need a float array "
                        "(use x.astype(np.float64))")
    if not x.flags.writeable:
        raise ValueError(f"{who}: x is read-only; pass a writable copy (x.copy())")
    if x.size == 0:
        raise ValueError(f"{who}: x is empty; there is nothing to differentiate")
    if np.isnan(x).any():
        raise ValueError(f"{who}: x contains NaN; finite differences around NaN are meaningless")
    if x.dtype == np.float32:
        warnings.warn(f"{who}: x is float32; finite differences lose most of their digits to rounding. "
                      "Check gradients in float64.", stacklevel=3)
    return x


def _done(x, arr: np.ndarray) -> None:
    """After perturbing a graph leaf, the graph's other values belong to the last perturbed run:
    re-feeding the restored value marks the graph stale, so backward asks for a new forward."""
    if isinstance(x, Node):
        x.graph._g.feed(x.id, arr)


def _caller(f: Callable, x) -> Callable[[], object]:
    """f() or f(x), whichever f accepts."""
    try:
        params = inspect.signature(f).parameters.values()
        wants_arg = any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                        for p in params)
    except (TypeError, ValueError):
        wants_arg = False
    return (lambda: f(x)) if wants_arg else f


def _scalar(value, who: str) -> float:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(f"{who}: f must return a single number, got shape {arr.shape}; "
                         "for array outputs use numerical_gradient_array(f, x, dout)")
    return float(arr.reshape(()))


def _check_step(h: float, method: str, who: str) -> None:
    if not h > 0:
        raise ValueError(f"{who}: the step h must be positive, got {h}")
    if method not in _METHODS:
        raise ValueError(f"{who}: method must be one of {_METHODS}, got {method!r}")


def numerical_gradient(f: Callable, x, h: float = 1e-5, method: str = "central", verbose: bool = False) -> np.ndarray:
    """df/dx by finite differences; f returns a scalar and sees x perturbed in place.

    central: (f(x+h) - f(x-h)) / 2h;  forward: (f(x+h) - f(x)) / h;  backward: (f(x) - f(x-h)) / h.
    Returns a float64 array shaped like x.
    """
    who = "numerical_gradient"
    _check_step(h, method, who)
    arr = _perturbable(x, who)
    call = _caller(f, x)
    fx = _scalar(call(), who) if method != "central" else None
    steps = {"central": [h, -h], "forward": [h], "backward": [-h]}[method]

    def combine(*outputs) -> float:
        values = [_scalar(v, who) for v in outputs]
        if method == "central":
            return (values[0] - values[1]) / (2 * h)
        return (values[0] - fx) / h if method == "forward" else (fx - values[0]) / h

    grad = _core.finite_differences(call, arr, steps, combine)
    if verbose:
        for ix in np.ndindex(*arr.shape):
            print(ix, grad[ix])
    _done(x, arr)
    return grad


def numerical_gradient_array(f: Callable, x, dout, h: float = 1e-5) -> np.ndarray:
    """sum(dout * df/dx) by central differences: what backward with upstream ``dout`` gives for x.

    f returns an array (shaped like ``dout``) and sees x perturbed in place.
    """
    who = "numerical_gradient_array"
    _check_step(h, "central", who)
    arr = _perturbable(x, who)
    call = _caller(f, x)
    dout = np.asarray(dout, dtype=np.float64)

    def combine(plus, minus) -> float:
        plus, minus = np.asarray(plus, dtype=np.float64), np.asarray(minus, dtype=np.float64)
        if plus.shape != dout.shape:
            raise ValueError(f"{who}: f returned shape {plus.shape} but dout has shape {dout.shape}; "
                             "dout is the upstream gradient of f's output")
        return float(np.sum((plus - minus) * dout) / (2 * h))

    # f may return (a view of) the same array each call: copy it before the next perturbation.
    grad = _core.finite_differences(lambda: np.array(call(), dtype=np.float64, copy=True), arr, [h, -h], combine)
    _done(x, arr)
    return grad


def rel_error(a, b) -> float:
    """max |a - b| / max(1e-8, |a| + |b|): ~1e-7 or less means the gradients agree in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes {a.shape} and {b.shape} differ; compare like with like")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
