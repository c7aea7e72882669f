"""Checks for test authors: compare what the student's code returned with the oracle's values and
fail with a message that teaches, without revealing the (hidden) inputs.

    check_close("out", out, gl.affine(x, w, b))            # forward values
    check_gradient("dw", dw, dw_ref, x=w)                  # a gradient: shape, then the diagnosis

A failed gradient check names the likely concept through ``gatelab.diagnose`` (sign flip,
transpose, missing 1/N, ``=`` instead of ``+=`` at a fan-out, ...). Messages give shapes,
relative errors and indices, never values.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from gatelab.grading.failures import WrongAnswer
from gatelab.numerical import rel_error

__all__ = ["as_array", "check_close", "check_gradient", "check_scalar", "diagnosis"]


def as_array(value, what: str, shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """``value`` as a float64 array, or a WrongAnswer saying what is wrong with it."""
    if value is None:
        raise WrongAnswer(f"{what} is None: return a NumPy array (did you forget a return statement?)")
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        arr = None
    if arr is None or arr.dtype.kind not in "biuf":
        raise WrongAnswer(f"{what} should be a NumPy array of numbers, got a {type(value).__name__}")
    arr = arr.astype(np.float64)
    if shape is not None and arr.shape != tuple(shape):
        message = f"{what} has shape {arr.shape} but should have shape {tuple(shape)}"
        if arr.ndim >= 2 and arr.shape == tuple(shape)[::-1]:
            message += (": it looks transposed. A gradient has its variable's shape and layout: "
                        "for y = x W, dW = x^T dout and dx = dout W^T")
        elif arr.size == int(np.prod(shape)):
            message += ": reshape it back to the shape of what it belongs to"
        raise WrongAnswer(message + ".")
    if not np.all(np.isfinite(arr)):
        raise WrongAnswer(f"{what} contains NaN or infinity (an overflow in exp, or a division by zero?)")
    return arr


def check_close(what: str, got, want, tol: float = 1e-6) -> None:
    """Values (a forward pass): the relative error of ``got`` against ``want`` is at most ``tol``."""
    want = np.asarray(want, dtype=np.float64)
    arr = as_array(got, what, want.shape)
    err = rel_error(arr, want)
    if err > tol:
        raise WrongAnswer(f"Wrong values in {what}: relative error {err:.1e} (at most {tol:.0e} expected).")


def check_scalar(what: str, got, want: float, tol: float = 1e-6) -> float:
    """A single number (e.g. a loss)."""
    if isinstance(got, np.ndarray) and got.size == 1:
        got = got.reshape(())
    try:
        value = float(got)
    except (TypeError, ValueError):
        raise WrongAnswer(f"{what} should be a number, got a {type(got).__name__}") from None
    if not np.isfinite(value):
        raise WrongAnswer(f"{what} is {value} (an overflow in exp, or log of 0?)")
    err = rel_error(np.array(value), np.array(float(want)))
    if err > tol:
        raise WrongAnswer(f"Wrong {what}: relative error {err:.1e} (at most {tol:.0e} expected).")
    return value


def diagnosis(got: np.ndarray, want: np.ndarray, what: str, x=None) -> str:
    """The gradient-check diagnosis of a wrong gradient as one paragraph (empty if unavailable)."""
    try:
        from gatelab.diagnose import diagnose_gradients
    except ImportError:
        return ""
    try:
        return diagnose_gradients(got, want, x=x, name=what).summary()
    except Exception:  # noqa: BLE001 - a diagnosis is a bonus; the failure stands without it
        return ""


def check_gradient(what: str, got, want, x=None, tol: float = 1e-6) -> None:
    """A gradient: shaped like its variable, and within ``tol`` (relative error) of the oracle's.
    ``x`` (the variable) lets the diagnosis tell a kink from a bug."""
    want = np.asarray(want, dtype=np.float64)
    arr = as_array(got, what, want.shape)
    err = rel_error(arr, want)
    if err > tol:
        found = diagnosis(arr, want, what, x)
        text = f"Wrong values in {what}: relative error {err:.1e} against the reference (at most {tol:.0e} expected)."
        raise WrongAnswer(text + (f"\n{found}" if found else ""))
