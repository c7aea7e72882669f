"""gradcheck: compare a gate's (or a graph function's) backward pass with finite differences.

Same meaning of the tolerances as ``torch.autograd.gradcheck``: the full Jacobian is built
twice, analytically (one backward pass per output element) and numerically (central
differences with step ``eps`` per input element), and every entry must satisfy
``|analytic - numeric| <= atol + rtol * |numeric|``. A failure names the input, the index and
both values, and a diagnosis (gatelab.diagnose) names the likely cause with a concept hint:
sign flip, factor (sum vs mean), transpose, missing accumulation (= instead of +=), a kink
crossed by ±eps, or float32 noise. ``GradcheckError.report.inputs[i].diagnosis`` holds it, with
the per-element relative-error map.

``fn_or_gate`` is a gate (built-in like ``gl.gates.Sigmoid()`` or a ``gl.Gate`` subclass
instance), or a function of graph nodes returning a node, e.g.
``lambda x, w: gl.conv2d(x, w, padding=1)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from gatelab import _core
from gatelab.diagnose import Diagnosis, diagnose_gradients
from gatelab.graph import Graph, Node

__all__ = ["gradcheck", "GradcheckError", "GradcheckReport", "InputCheck", "jacobians"]


class GradcheckError(AssertionError):
    """Raised by gradcheck when an analytic gradient disagrees with finite differences."""

    def __init__(self, message: str, report: "GradcheckReport"):
        super().__init__(message)
        self.report = report


@dataclass
class InputCheck:
    """The comparison for one input: its Jacobians and where they disagree most."""

    index: int
    name: str
    analytic: np.ndarray            # (output size, input size)
    numeric: np.ndarray             # (output size, input size)
    input_shape: Tuple[int, ...]
    output_shape: Tuple[int, ...]
    atol: float
    rtol: float
    one_sided: Optional[Tuple[np.ndarray, np.ndarray]] = field(default=None, repr=False)  # forward, backward differences
    diagnosis: Optional[Diagnosis] = None

    def diagnose(self, x: Optional[np.ndarray] = None, eps: Optional[float] = None) -> Diagnosis:
        """Classifies the disagreement (gatelab.diagnose) on the Jacobians, shaped (*output, *input)."""
        shape = self.output_shape + self.input_shape
        one_sided = None if self.one_sided is None else tuple(j.reshape(shape) for j in self.one_sided)
        like = x if x is not None else np.zeros(self.input_shape)
        self.diagnosis = diagnose_gradients(self.analytic.reshape(shape), self.numeric.reshape(shape), x=like,
                                            h=eps, dtype=getattr(x, "dtype", None), name=self.name,
                                            one_sided=one_sided, atol=self.atol, rtol=self.rtol)
        return self.diagnosis

    @property
    def excess(self) -> np.ndarray:
        """How far each Jacobian entry is beyond the tolerance (<= 0 passes)."""
        return np.abs(self.analytic - self.numeric) - (self.atol + self.rtol * np.abs(self.numeric))

    @property
    def passed(self) -> bool:
        return bool(np.all(self.excess <= 0)) if self.analytic.size else True

    @property
    def worst(self) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
        """(output index, input index) of the entry furthest beyond the tolerance."""
        flat = int(np.argmax(self.excess))
        out_i, in_i = np.unravel_index(flat, self.excess.shape)
        return (tuple(int(v) for v in np.unravel_index(out_i, self.output_shape)),
                tuple(int(v) for v in np.unravel_index(in_i, self.input_shape)))

    @property
    def max_abs_error(self) -> float:
        return float(np.max(np.abs(self.analytic - self.numeric))) if self.analytic.size else 0.0

    @property
    def rel_error(self) -> float:
        """CS231n's relative error between the two Jacobians (max over entries)."""
        if not self.analytic.size:
            return 0.0
        diff = np.abs(self.analytic - self.numeric)
        return float(np.max(diff / np.maximum(1e-8, np.abs(self.analytic) + np.abs(self.numeric))))

    def describe_failure(self) -> str:
        out_ix, in_ix = self.worst
        r, c = np.ravel_multi_index(out_ix, self.output_shape), np.ravel_multi_index(in_ix, self.input_shape)
        a, n = self.analytic[r, c], self.numeric[r, c]
        return (f"input {self.index} ('{self.name}', shape {self.input_shape}) at index {in_ix} "
                f"(output index {out_ix}): analytic {a:.6g}, numeric {n:.6g}; "
                f"|difference| {abs(a - n):.3g} > atol + rtol*|numeric| = {self.atol + self.rtol * abs(n):.3g}")


@dataclass
class GradcheckReport:
    inputs: List[InputCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.inputs)

    @property
    def max_rel_error(self) -> float:
        return max((c.rel_error for c in self.inputs), default=0.0)

    @property
    def diagnosis(self) -> Optional[Diagnosis]:
        """The diagnosis of the first failing input (None when all pass)."""
        return next((c.diagnosis for c in self.inputs if not c.passed), None)

    def __str__(self) -> str:
        lines = []
        for c in self.inputs:
            status = "ok" if c.passed else "FAILED"
            lines.append(f"input {c.index} '{c.name}' {c.input_shape}: max abs error {c.max_abs_error:.3g}, "
                         f"relative error {c.rel_error:.3g} [{status}]")
            if not c.passed and c.diagnosis is not None:
                lines.append("  " + c.diagnosis.summary())
        return "\n".join(lines)


# ---- adapters: run forward at given inputs, then backward with a given upstream gradient ----

class _GateRunner:
    """A gate used standalone: forward(*arrays) then backward(dout)."""

    def __init__(self, gate):
        self.gate = gate
        self.name = getattr(gate, "name", type(gate).__name__)

    def forward(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.array(self.gate.forward(*arrays), copy=True)

    def backward(self, dout: np.ndarray, n_inputs: int) -> List[Optional[np.ndarray]]:
        grads = self.gate.backward(dout)
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if len(grads) != n_inputs:
            raise ValueError(f"{self.name}.backward returned {len(grads)} gradient(s) for {n_inputs} input(s)")
        return [None if g is None else np.asarray(g) for g in grads]


class _GraphRunner:
    """A function of nodes, built once into a graph and re-run with new input values."""

    def __init__(self, fn: Callable, arrays: Sequence[np.ndarray]):
        self.graph = Graph()
        self.nodes = [self.graph.input(f"input{i}", a.copy()) for i, a in enumerate(arrays)]
        out = fn(*self.nodes)
        if not isinstance(out, Node):
            raise TypeError("gradcheck: the function must return a graph node (build it from gl functions "
                            f"and operators on its arguments), got {type(out).__name__}")
        self.output = out
        self.name = getattr(fn, "__name__", "function")

    def forward(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        for node, a in zip(self.nodes, arrays):
            node.value = a.copy()
        return np.array(self.graph.forward(output=self.output), copy=True)

    def backward(self, dout: np.ndarray, n_inputs: int) -> List[Optional[np.ndarray]]:
        self.graph.backward(self.output, grad=dout)
        return [None if n.grad is None else np.asarray(n.grad) for n in self.nodes]


def _runner(fn_or_gate, arrays):
    if isinstance(fn_or_gate, _core.NativeGate):
        # A built-in gate runs as a one-node graph, so the C++ engine can check it in parallel.
        gate = fn_or_gate.clone()
        runner = _GraphRunner(lambda *nodes: nodes[0].graph.apply(gate, *nodes), arrays)
        runner.name = fn_or_gate.name
        return runner
    if hasattr(fn_or_gate, "forward") and hasattr(fn_or_gate, "backward"):
        return _GateRunner(fn_or_gate)
    if callable(fn_or_gate):
        return _GraphRunner(fn_or_gate, arrays)
    raise TypeError(f"gradcheck: expected a gate or a function of graph nodes, got {type(fn_or_gate).__name__}")


def _as_inputs(inputs) -> List[np.ndarray]:
    if isinstance(inputs, np.ndarray) or np.isscalar(inputs):
        inputs = (inputs,)
    arrays = []
    for i, a in enumerate(inputs):
        arr = np.array(a, copy=True)
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ValueError(f"gradcheck: input {i} contains NaN")
        if arr.dtype.kind not in "fi":
            raise TypeError(f"gradcheck: input {i} has dtype {arr.dtype}; use float64 (or int64 labels)")
        arrays.append(arr)
    return arrays


def jacobians(fn_or_gate, inputs, eps: float = 1e-6):
    """Analytic and numeric Jacobians of fn_or_gate at inputs: a list of (analytic, numeric)
    pairs, one per float input, each of shape (output size, input size); None for others."""
    pairs, arrays, out_shape, _ = _jacobians(fn_or_gate, inputs, eps)
    return pairs, arrays, out_shape


def _jacobians(fn_or_gate, inputs, eps: float):
    """jacobians() plus the runner that computed them (for the diagnosis' extra evaluations)."""
    arrays = _as_inputs(inputs)
    runner = _runner(fn_or_gate, arrays)
    base = runner.forward(arrays)
    out_size = base.size
    float_inputs = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    if isinstance(runner, _GraphRunner):
        # The C++ engine: per-thread graph clones, every perturbation in parallel.
        graph = runner.graph._g
        checks = _core.check_jacobians(graph, runner.output.id, [runner.nodes[i].id for i in float_inputs], eps)
        found = dict(zip(float_inputs, checks))
        return [found.get(i) for i in range(len(arrays))], arrays, base.shape, runner
    analytic = {i: np.zeros((out_size, arrays[i].size)) for i in float_inputs}
    # Analytic: row k of the Jacobian is the backward pass with upstream gradient e_k.
    for k in range(out_size):
        seed = np.zeros(base.shape, dtype=base.dtype)
        seed.flat[k] = 1
        grads = runner.backward(seed, len(arrays))
        for i in float_inputs:
            if grads[i] is not None:
                if grads[i].shape != arrays[i].shape:
                    raise ValueError(f"gradcheck: gradient of input {i} has shape {grads[i].shape}, "
                                     f"expected {arrays[i].shape}")
                analytic[i][k] = grads[i].ravel()
    # Numeric: column j is the central difference for input element j.
    numeric = {i: np.zeros((out_size, arrays[i].size)) for i in float_inputs}
    for i in float_inputs:
        flat = arrays[i].reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            try:
                flat[j] = old + eps
                plus = runner.forward(arrays).astype(np.float64)
                flat[j] = old - eps
                minus = runner.forward(arrays).astype(np.float64)
            finally:
                flat[j] = old
            numeric[i][:, j] = ((plus - minus) / (2 * eps)).ravel()
    runner.forward(arrays)  # leave the gate's saved state at the unperturbed inputs
    result = [(analytic[i], numeric[i]) if i in analytic else None for i in range(len(arrays))]
    return result, arrays, base.shape, runner


def _one_sided(runner, arrays, i: int, columns, eps: float):
    """Forward and backward difference Jacobians of input i for the given input elements
    (zero elsewhere): where they disagree, x ± eps straddles a kink. Only failing elements
    need them, so the check itself stays on the fast (parallel) path."""
    base = runner.forward(arrays).astype(np.float64).ravel()
    right = np.zeros((base.size, arrays[i].size))
    left = np.zeros_like(right)
    flat = arrays[i].reshape(-1)
    for j in columns:
        old = flat[j]
        try:
            flat[j] = old + eps
            right[:, j] = (runner.forward(arrays).astype(np.float64).ravel() - base) / eps
            flat[j] = old - eps
            left[:, j] = (base - runner.forward(arrays).astype(np.float64).ravel()) / eps
        finally:
            flat[j] = old
    runner.forward(arrays)
    return right, left


def gradcheck(fn_or_gate, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, names: Optional[Sequence[str]] = None) -> bool:
    """True if analytic and numeric Jacobians agree for every float input (torch's tolerances).

    On failure raises GradcheckError naming the input and index and the likely cause with a
    hint (or returns False when ``raise_exception=False``). The error's ``report`` holds both
    Jacobians and the diagnosis per input.
    """
    pairs, arrays, out_shape, runner = _jacobians(fn_or_gate, inputs, eps)
    if any(a.dtype == np.float32 for a in arrays):
        warnings.warn("gradcheck: an input is float32; the tolerances are meant for float64 inputs",
                      stacklevel=2)
    report = GradcheckReport()
    for i, pair in enumerate(pairs):
        if pair is None:
            continue
        name = names[i] if names is not None else f"input{i}"
        check = InputCheck(i, name, np.asarray(pair[0]), np.asarray(pair[1]), tuple(arrays[i].shape),
                           tuple(out_shape), atol, rtol)
        if not check.passed:
            failing = np.flatnonzero(np.any(check.excess > 0, axis=0))
            check.one_sided = _one_sided(runner, arrays, i, failing, eps)
        check.diagnose(arrays[i], eps)
        report.inputs.append(check)
    failed = [c for c in report.inputs if not c.passed]
    if failed:
        if raise_exception:
            raise GradcheckError("gradcheck failed: " + failed[0].describe_failure() + "\n"
                                 + failed[0].diagnosis.summary(), report)
        return False
    return True
