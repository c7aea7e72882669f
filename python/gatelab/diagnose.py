"""Gradient-check diagnosis: not just "relative error 0.3", but the likely bug behind it.

    d = gl.diagnose_gradients(dx_analytic, dx_numeric, x=x, h=1e-5)
    d.cause          # 'ok', 'sign_flip', 'factor', 'transpose', 'missing_accumulation',
                     # 'kink', 'float32_noise', 'zero', 'shape' or 'unknown'
    d.hint           # a concept-level hint that reveals no input values (safe for hidden tests)
    d.rel_error_map  # per-element relative error, shaped like x
    d.worst_index    # index into x of the worst element
    d.factor         # for 'factor' (and half-size 'missing_accumulation'): analytic / numeric

``analytic`` and ``numeric`` are either gradients shaped like x (what a backward pass with some
upstream gradient gives, and ``numerical_gradient_array`` estimates), or full Jacobians shaped
``(*output_shape, *x.shape)`` (what ``gl.gradcheck`` builds; give ``x`` so the input axes are
known). Jacobians let the diagnosis see each output's contribution separately, which is what
identifies an overwrite (``=``) where contributions must be summed (``+=``).

How each cause is recognised (A = analytic, N = numeric, "fits" = equal up to a loose tolerance):

* sign_flip       A fits -N.
* transpose       A fits N with its last two axes swapped (or has the swapped shape and fits).
* factor          A fits c·N for one constant c != 1 (sum vs mean gives c = N or 1/N).
* missing_accumulation
                  Jacobians: every entry of A either equals N's or is zero where N is not, and
                  each wrong input element has several non-zero contributions (it was
                  overwritten, not accumulated). Gradients: A = N/2 or N/3 exactly (one of two or
                  three equal uses kept, e.g. x*x), or a large part matches exactly while another
                  large part does not (overlapping windows, where border elements have one use).
* kink            every wrong element lies within ±h of a non-differentiable point: the one-sided
                  differences disagree there (``one_sided=(forward, backward)``), or, for a ReLU-like
                  kink at 0, |x| <= h.
* float32_noise   the computation is float32 and the mismatch is at float32 rounding level.
* zero            A is zero where N is not.  shape: A is not shaped like x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["Diagnosis", "diagnose_gradients", "CAUSES"]

CAUSES = ("ok", "sign_flip", "factor", "transpose", "missing_accumulation", "kink", "float32_noise",
          "zero", "shape", "unknown")

_HINTS = {
    "ok": "The analytic and numeric gradients agree.",
    "sign_flip": ("The analytic gradient has the opposite sign of the numeric one everywhere. Check the sign "
                  "of each local derivative (d(a - b)/db = -1, d(cos x)/dx = -sin x, d(1/x)/dx = -1/x^2) "
                  "and that backward adds the upstream gradient times the local derivative."),
    "factor": ("The analytic gradient is a constant multiple ({factor}) of the numeric one. A constant factor "
               "usually means a missing or extra 1/N (the gradient of a mean is dout/N, of a sum dout), "
               "or a constant dropped from a local derivative (d(x^2)/dx = 2x)."),
    "transpose": ("The analytic gradient is the transpose of the numeric one. A gradient has its variable's "
                  "shape and layout: for y = x W, dW = x^T dout and dx = dout W^T."),
    "missing_accumulation": ("An input that is used more than once (a variable used twice, overlapping "
                             "windows, broadcasting) must receive the SUM of the gradients of all its uses: "
                             "accumulate with +=, not =. dx for an input used twice is the sum of both "
                             "paths' gradients."),
    "kink": ("Only elements within +-h of a non-differentiable point disagree (ReLU at 0, a max with a near "
             "tie, a hinge at its margin): there the finite difference averages two slopes. This is not a "
             "bug in backward: resample the inputs away from the kink and check again."),
    "float32_noise": ("The differences are at float32 rounding level: a finite difference in float32 loses "
                      "most of its digits. Check gradients in float64 (x.astype(np.float64))."),
    "zero": ("The analytic gradient is zero where the numeric one is not: backward does not write (or "
             "return) the gradient for this input, or multiplies it by zero."),
    "shape": ("The analytic gradient has shape {a_shape} but the input has shape {x_shape}: every gradient "
              "has exactly the shape of its variable."),
    "unknown": ("No simple pattern (sign, constant factor, transpose, accumulation, kink) explains the "
                "mismatch. Derive the local derivative of one element on paper and compare it with the code, "
                "one factor of the chain rule at a time."),
}


@dataclass
class Diagnosis:
    """The verdict on one analytic-vs-numeric comparison (see the module docstring)."""

    cause: str
    hint: str
    rel_error_map: np.ndarray               # shaped like the input
    worst_index: Tuple[int, ...]            # index into the input of the worst element
    max_rel_error: float
    factor: Optional[float] = None          # analytic / numeric, for 'factor' and 'missing_accumulation'
    name: Optional[str] = None
    n_wrong: int = 0                        # input elements beyond the tolerance
    size: int = 0                           # input elements in all
    worst_output_index: Optional[Tuple[int, ...]] = None   # Jacobian form: the output of the worst entry
    alternatives: Tuple[str, ...] = ()      # other causes that explain the numbers equally well
    kink_mask: Optional[np.ndarray] = field(default=None, repr=False)  # input elements near a kink

    @property
    def ok(self) -> bool:
        return self.cause == "ok"

    def summary(self) -> str:
        """One paragraph: the cause, where, and the hint (indices and shapes, never values)."""
        who = f"'{self.name}'" if self.name else "the input"
        if self.ok:
            return f"{who}: gradients agree (max relative error {self.max_rel_error:.2g})."
        where = f"{self.n_wrong} of {self.size} element(s) of {who} disagree, worst at index {self.worst_index}"
        if self.worst_output_index is not None:
            where += f" (output index {self.worst_output_index})"
        also = f" (or: {', '.join(self.alternatives)})" if self.alternatives else ""
        return f"likely cause: {self.cause}{also}. {where}. Hint: {self.hint}"

    def __str__(self) -> str:
        return self.summary()


def _fits(a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> bool:
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def _near_integer(v: float) -> Optional[int]:
    n = int(round(v))
    return n if n >= 2 and abs(v - n) <= 1e-3 * n else None


def _factor_text(c: float, x_shape: Tuple[int, ...]) -> str:
    """'4' or '1/4', and which count of x it matches (sum vs mean), from shapes only."""
    n = _near_integer(abs(c)) or _near_integer(1.0 / abs(c))
    if n is None:
        return f"{c:.4g}"
    text = ("-" if c < 0 else "") + (f"{n}" if abs(c) > 1 else f"1/{n}")
    counts = {}
    if x_shape:
        counts[int(np.prod(x_shape))] = "all elements of the input"
        for ax, size in enumerate(x_shape):
            counts.setdefault(int(size), f"the size of axis {ax}")
    if n in counts:
        text += f", N = {n} = {counts[n]}"
    return text


def diagnose_gradients(analytic, numeric, *, x=None, h: Optional[float] = None, dtype=None,
                       name: Optional[str] = None, one_sided: Optional[Sequence] = None,
                       atol: Optional[float] = None, rtol: Optional[float] = None) -> Diagnosis:
    """Classify the mismatch between an analytic and a numeric gradient (module docstring).

    x          the input array: fixes the input axes (needed for Jacobians), the dtype, and
               enables the ReLU-kink test |x| <= h.
    h          the finite-difference step used for ``numeric``.
    dtype      the dtype the computation ran in, if not x's (float32 enables 'float32_noise').
    one_sided  (forward difference, backward difference), shaped like ``numeric``: where they
               disagree, x ± h straddles a kink (gl.gradcheck passes these).
    atol, rtol an element is wrong when |A - N| > atol + rtol |N| (gradcheck's meaning); the
               defaults are 1e-7·max|N| and 1e-5.
    """
    a_raw = np.asarray(analytic) if analytic is not None else None
    n = np.asarray(numeric, dtype=np.float64)
    x_shape = tuple(np.shape(x)) if x is not None else n.shape
    comp = np.dtype(dtype) if dtype is not None else None
    if comp is None:
        for arr in (x, a_raw, numeric):
            if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
                comp = arr.dtype if comp is None or arr.dtype == np.float32 else comp
    is32 = comp == np.float32
    k = len(x_shape)
    lead = n.ndim - k
    if lead < 0 or n.shape[lead:] != x_shape:
        raise ValueError(f"diagnose_gradients: numeric has shape {n.shape}, which is neither x's shape {x_shape} "
                         "nor a Jacobian (*output_shape, *x.shape)")
    lead_axes = tuple(range(lead))
    a = np.zeros_like(n) if a_raw is None else a_raw.astype(np.float64)
    if n.size == 0:
        return Diagnosis("ok", _HINTS["ok"], np.zeros(x_shape), (), 0.0, name=name)

    def result(cause, *, factor=None, alternatives=(), rel=None, worst=(), worst_out=None, n_wrong=0,
               kinks=None, fmt=None):
        rel_map = rel if rel is not None else np.full(x_shape, np.inf)
        hint = _HINTS[cause].format(**fmt) if fmt else _HINTS[cause]
        return Diagnosis(cause=cause, hint=hint, rel_error_map=rel_map, worst_index=worst,
                         max_rel_error=float(np.max(rel_map)) if rel_map.size else 0.0, factor=factor,
                         name=name, n_wrong=n_wrong, size=int(np.prod(x_shape)), worst_output_index=worst_out,
                         alternatives=tuple(alternatives), kink_mask=kinks)

    # ---- shape: the analytic gradient must be shaped like the numeric one ----------------------
    if a.shape != n.shape:
        a_shape = tuple(a.shape[lead:]) if a.ndim == n.ndim else a.shape
        if k >= 2 and a.shape == n.swapaxes(-1, -2).shape:
            scale = max(float(np.max(np.abs(n), initial=0.0)), 1e-300)
            if _fits(a.swapaxes(-1, -2), n, 1e-6 * scale, 3e-2 if is32 else 1e-3):
                return result("transpose", n_wrong=int(np.prod(x_shape)))
        return result("shape", n_wrong=int(np.prod(x_shape)), fmt={"a_shape": a_shape, "x_shape": x_shape})

    scale = max(float(np.max(np.abs(n), initial=0.0)), float(np.max(np.abs(a), initial=0.0)))
    diff = np.abs(a - n)
    floor = max(1e-8, 1e-7 * scale)
    rel_full = diff / np.maximum(floor, np.abs(a) + np.abs(n))
    rel = rel_full.max(axis=lead_axes) if lead else rel_full
    atol = 1e-7 * scale if atol is None else atol
    rtol = 1e-5 if rtol is None else rtol
    excess = diff - (atol + rtol * np.abs(n))
    wrong_full = excess > 0
    wrong = wrong_full.any(axis=lead_axes) if lead else wrong_full
    full_ix = tuple(int(v) for v in np.unravel_index(int(np.argmax(excess)), n.shape))
    worst, worst_out = full_ix[lead:], (full_ix[:lead] if lead else None)
    common = dict(rel=rel, worst=worst, worst_out=worst_out, n_wrong=int(np.count_nonzero(wrong)))

    if not wrong_full.any():
        return result("ok", **common)

    fit_rtol, fit_atol = (3e-2, 1e-3 * scale) if is32 else (1e-3, 1e-6 * scale)
    tiny = 1e-6 * scale
    n_max, a_max = float(np.max(np.abs(n))), float(np.max(np.abs(a)))

    # ---- float32: rounding of f (and of x + h itself) divided by h ------------------------------
    if is32:
        eps32 = float(np.finfo(np.float32).eps)
        x_max = float(np.max(np.abs(x), initial=0.0)) if isinstance(x, np.ndarray) else 1.0
        step_noise = 8 * eps32 * (1.0 + x_max) / h if h else 0.0
        if bool(np.all(diff <= (1e-2 + step_noise) * (np.abs(a) + np.abs(n)) + max(1e-3, step_noise) * scale)):
            return result("float32_noise", **common)

    # ---- kinks: input elements where x ± h straddles a non-differentiable point -----------------
    # There the finite difference itself is wrong, whatever the other elements show.
    kinks = None
    if one_sided is not None:
        right = np.asarray(one_sided[0], dtype=np.float64)
        left = np.asarray(one_sided[1], dtype=np.float64)
        jump = np.abs(right - left)
        kink_full = jump > np.maximum(0.05 * np.maximum(np.abs(right), np.abs(left)), 1e-3 * scale)
        kinks = kink_full.any(axis=lead_axes) if lead else kink_full
    elif isinstance(x, np.ndarray) and h is not None and x.shape == x_shape:
        kinks = np.abs(x.astype(np.float64)) <= 1.5 * h  # ReLU-like kink at 0
    if kinks is not None and (wrong & kinks).any() and not (wrong & ~kinks).any():
        return result("kink", kinks=kinks, **common)

    if a_max <= tiny:
        return result("zero", **common)

    # ---- one pattern for every element: sign, transpose, constant factor ------------------------
    if n_max > tiny:
        if _fits(a, -n, fit_atol, fit_rtol):
            return result("sign_flip", **common)
        if k >= 2 and x_shape[-1] == x_shape[-2] and not _fits(n, n.swapaxes(-1, -2), fit_atol, fit_rtol) \
                and _fits(a, n.swapaxes(-1, -2), fit_atol, fit_rtol):
            return result("transpose", **common)
        c = float(np.vdot(a, n) / np.vdot(n, n))
        # a constant ratio needs at least two non-zero entries to mean anything
        several = np.count_nonzero(np.abs(n) > tiny) >= 2
        if several and abs(c - 1) > 10 * fit_rtol and _fits(a, c * n, fit_atol, fit_rtol):
            uses = _near_integer(1.0 / c) if c > 0 else None
            if uses in (2, 3):
                # one of two (three) equal uses kept: x*x with dx = x*dout instead of 2x*dout
                return result("missing_accumulation", factor=c, alternatives=("factor",), **common)
            return result("factor", factor=c, fmt={"factor": _factor_text(c, x_shape)}, **common)

    match = diff <= fit_atol + fit_rtol * np.abs(n)
    if lead:
        # Jacobians: each entry is kept (equal) or lost (zero); a wrong input element has several
        # non-zero contributions in its column, of which the analytic one kept fewer.
        zeroed = (np.abs(a) <= tiny) & (np.abs(n) > tiny)
        contributions = (np.abs(n) > tiny).sum(axis=lead_axes)
        if np.all(match | zeroed) and np.all(contributions[wrong] >= 2):
            return result("missing_accumulation", **common)
    else:
        frac_match = float(np.mean(match))
        if 0.2 <= frac_match <= 0.8 and n.size >= 5:
            return result("missing_accumulation", alternatives=("unknown",), **common)
    return result("unknown", kinks=kinks, **common)
