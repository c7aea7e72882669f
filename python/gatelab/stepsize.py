"""The finite-difference step: error against h, the truncation / round-off "V".

    sweep = gl.step_size_sweep(f, x)        # f() -> scalar; x an array or a graph leaf
    print(sweep)                            # a table: h, one-sided error, two-sided error
    sweep.best_h                            # {'forward': ~1e-8, 'central': ~1e-5} in float64
    sweep.plot()                            # log-log V curves with the O(h), O(h^2), eps/h guides

For a step h the one-sided difference (f(x+h) - f(x)) / h has truncation error ~ h |f''| / 2,
the two-sided (f(x+h) - f(x-h)) / 2h ~ h^2 |f'''| / 6. Both suffer round-off ~ eps |f| / h
(eps = 2.2e-16 in float64, 1.2e-7 in float32). The sum is a V on a log-log plot: the best h
is about sqrt(eps) one-sided and eps^(1/3) two-sided; smaller h is worse, not better.

The exact derivative to measure errors against is ``grad`` when given (e.g. from
``g.backward``), otherwise Ridders' extrapolation of central differences (accurate to ~1e-13
for smooth f in float64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from gatelab.numerical import _caller, _done, _perturbable, _scalar

__all__ = ["step_size_sweep", "StepSizeSweep"]

_DEFAULT_HS = np.logspace(-15, -1, 29)


@dataclass
class StepSizeSweep:
    """Errors of finite-difference derivatives of one element of x, for each step h."""

    hs: np.ndarray
    forward_error: np.ndarray       # |(f(x+h) - f(x)) / h - exact|
    backward_error: np.ndarray      # |(f(x) - f(x-h)) / h - exact|
    central_error: np.ndarray       # |(f(x+h) - f(x-h)) / 2h - exact|
    exact: float                    # the reference derivative
    exact_source: str               # 'given' or 'ridders'
    index: Tuple[int, ...]
    dtype: np.dtype

    @property
    def best_h(self) -> Dict[str, float]:
        """The step with the smallest error, one-sided ('forward') and two-sided ('central')."""
        return {"forward": float(self.hs[int(np.argmin(self.forward_error))]),
                "central": float(self.hs[int(np.argmin(self.central_error))])}

    @property
    def min_error(self) -> Dict[str, float]:
        return {"forward": float(np.min(self.forward_error)), "central": float(np.min(self.central_error))}

    def as_dict(self) -> Dict[str, list]:
        """Plain lists, for a DataFrame or JSON."""
        return {"h": self.hs.tolist(), "forward": self.forward_error.tolist(),
                "backward": self.backward_error.tolist(), "central": self.central_error.tolist()}

    def __str__(self) -> str:
        lines = [f"finite-difference error for d f / d x{list(self.index)} ({self.dtype}, "
                 f"exact from {self.exact_source})",
                 f"{'h':>9}  {'one-sided':>10}  {'two-sided':>10}"]
        best = self.best_h
        for h, fe, ce in zip(self.hs, self.forward_error, self.central_error):
            marks = ("  <- best one-sided" if h == best["forward"] else "") + \
                    ("  <- best two-sided" if h == best["central"] else "")
            lines.append(f"{h:9.1e}  {fe:10.2e}  {ce:10.2e}{marks}")
        return "\n".join(lines)

    def plot(self, ax=None, *, show_backward: bool = False, guides: bool = True):
        """The V curves on log-log axes (matplotlib); returns the Axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:
            from gatelab.install_hints import missing

            raise missing("step_size_sweep(...).plot", "viz", packages=["matplotlib"]) from err

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        tiny = np.finfo(np.float64).tiny  # an exact hit (error 0) would vanish from a log plot
        ax.loglog(self.hs, np.maximum(self.forward_error, tiny), "o-", ms=3, label="one-sided (f(x+h) - f(x)) / h")
        if show_backward:
            ax.loglog(self.hs, np.maximum(self.backward_error, tiny), "^-", ms=3, label="one-sided (f(x) - f(x-h)) / h")
        ax.loglog(self.hs, np.maximum(self.central_error, tiny), "s-", ms=3, label="two-sided (f(x+h) - f(x-h)) / 2h")
        if guides:
            eps = float(np.finfo(self.dtype).eps)
            h = self.hs
            anchor = max(abs(self.exact), 1e-3)
            ax.loglog(h, anchor * h, ":", color="gray", lw=1, label="O(h) truncation")
            ax.loglog(h, anchor * h ** 2, "--", color="gray", lw=1, label="O(h²) truncation")
            ax.loglog(h, anchor * eps / h, "-.", color="gray", lw=1, label="round-off ~ eps/h")
            ax.set_ylim(max(1e-17, np.min(np.maximum(self.central_error, 1e-17)) / 10), 10 * anchor)
        ax.set_xlabel("step h")
        ax.set_ylabel("|finite difference - exact|")
        ax.set_title("finite-difference error against h")
        ax.legend(fontsize=7)
        return ax


def _ridders(central: Callable[[float], float], h0: float, con: float = 1.4, ntab: int = 12) -> float:
    """Ridders' method (Numerical Recipes dfridr): Richardson extrapolation of central
    differences at h0, h0/con, ... to h -> 0, stopping when the error estimate grows."""
    a = np.zeros((ntab, ntab))
    a[0, 0] = central(h0)
    best, err = a[0, 0], np.inf
    hh = h0
    for i in range(1, ntab):
        hh /= con
        a[0, i] = central(hh)
        fac = con * con
        for j in range(1, i + 1):
            a[j, i] = (a[j - 1, i] * fac - a[j - 1, i - 1]) / (fac - 1.0)
            fac *= con * con
            errt = max(abs(a[j, i] - a[j - 1, i]), abs(a[j, i] - a[j - 1, i - 1]))
            if errt <= err:
                err, best = errt, a[j, i]
        if abs(a[i, i] - a[i - 1, i - 1]) >= 2.0 * err:
            break
    return float(best)


def step_size_sweep(f: Callable, x, hs: Optional[Sequence[float]] = None, *, index=None,
                    grad: Optional[float] = None) -> StepSizeSweep:
    """Finite-difference errors against h for d f / d x[index] (module docstring).

    f      returns a scalar; it sees x perturbed in place (like gl.numerical_gradient), and takes
           no argument or x.
    x      a float NumPy array or a graph leaf (input or parameter).
    hs     the steps (default 1e-15 ... 1e-1, two per decade).
    index  the element of x (default: the first).
    grad   the exact derivative for that element (default: Ridders' extrapolation).
    """
    who = "step_size_sweep"
    arr = _perturbable(x, who)
    call = _caller(f, x)
    hs = np.asarray(_DEFAULT_HS if hs is None else hs, dtype=np.float64)
    if hs.ndim != 1 or hs.size == 0 or not np.all(hs > 0):
        raise ValueError(f"{who}: hs must be a non-empty list of positive steps, got {hs!r}")
    ix = (0,) * arr.ndim if index is None else (tuple(index) if isinstance(index, (tuple, list)) else (index,))
    if len(ix) != arr.ndim or any(not -s <= i < s for i, s in zip(ix, arr.shape)):
        raise ValueError(f"{who}: index {ix} does not name one element of x with shape {arr.shape}")
    old = arr[ix].copy()

    def at(offset: float) -> float:
        arr[ix] = old + offset
        return _scalar(call(), who)

    try:
        f0 = at(0.0)
        exact, source = (float(grad), "given") if grad is not None else (
            _ridders(lambda h: (at(h) - at(-h)) / (2 * h), 0.05 * max(1.0, abs(float(old)))), "ridders")
        fwd, bwd, cen = (np.empty(hs.size) for _ in range(3))
        for k, h in enumerate(hs):
            plus, minus = at(h), at(-h)
            fwd[k] = abs((plus - f0) / h - exact)
            bwd[k] = abs((f0 - minus) / h - exact)
            cen[k] = abs((plus - minus) / (2 * h) - exact)
    finally:
        arr[ix] = old
        _done(x, arr)
    return StepSizeSweep(hs, fwd, bwd, cen, exact, source, ix, arr.dtype)
