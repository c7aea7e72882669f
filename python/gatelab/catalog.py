"""A catalog of every built-in gate: how to make one and valid random inputs for it, away from
kinks and poles so finite differences are meaningful. The demo's gradient-check table and the
test that every gate is covered both read it; a new gate adds one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List

import numpy as np

from gatelab import _core

gates = _core.gates

__all__ = ["GateEntry", "CATALOG", "gate_classes"]


@dataclass(frozen=True)
class GateEntry:
    make: Callable[[], object]                                 # a fresh gate
    inputs: Callable[[np.random.Generator], List[np.ndarray]]  # valid float64 inputs (int64 labels)


def _normal(*shape):
    return lambda rng: [rng.normal(size=shape)]


def _away_from_zero(rng, shape, margin=0.1):
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * 2 * margin, x)


def _positive(rng, shape):
    return rng.uniform(0.3, 3.0, size=shape)


def _labels(rng, n, classes):
    """int64 class labels (they get no gradient; the checks skip them)."""
    return rng.integers(0, classes, size=n).astype(np.int64)


CATALOG: Dict[str, GateEntry] = {
    "Add": GateEntry(gates.Add, lambda r: [r.normal(size=(3, 4)), r.normal(size=(4,))]),
    "Subtract": GateEntry(gates.Subtract, lambda r: [r.normal(size=(3, 4)), r.normal(size=(3, 1))]),
    "Multiply": GateEntry(gates.Multiply, lambda r: [r.normal(size=(3, 4)), r.normal(size=(3, 4))]),
    "Divide": GateEntry(gates.Divide, lambda r: [r.normal(size=(3, 4)), _away_from_zero(r, (3, 4), 0.5)]),
    "Maximum": GateEntry(gates.Maximum, lambda r: [r.normal(size=(3, 4)), r.normal(size=(3, 4)) + 0.5]),
    "Negate": GateEntry(gates.Negate, _normal(3, 4)),
    "Power": GateEntry(lambda: gates.Power(3.0), _normal(3, 4)),
    "Exp": GateEntry(gates.Exp, _normal(3, 4)),
    "Log": GateEntry(gates.Log, lambda r: [_positive(r, (3, 4))]),
    "Reciprocal": GateEntry(gates.Reciprocal, lambda r: [_away_from_zero(r, (3, 4), 0.5)]),
    "Sin": GateEntry(gates.Sin, _normal(3, 4)),
    "Cos": GateEntry(gates.Cos, _normal(3, 4)),
    "Sigmoid": GateEntry(gates.Sigmoid, _normal(3, 4)),
    "Tanh": GateEntry(gates.Tanh, _normal(3, 4)),
    "ReLU": GateEntry(gates.ReLU, lambda r: [_away_from_zero(r, (3, 4))]),
    "LeakyReLU": GateEntry(lambda: gates.LeakyReLU(0.1), lambda r: [_away_from_zero(r, (3, 4))]),
    "ELU": GateEntry(lambda: gates.ELU(1.0), lambda r: [_away_from_zero(r, (3, 4))]),
    "Softplus": GateEntry(gates.Softplus, _normal(3, 4)),
    "Sum": GateEntry(lambda: gates.Sum(axis=1), _normal(3, 4)),
    "Mean": GateEntry(lambda: gates.Mean(), _normal(3, 4)),
    "MatMul": GateEntry(gates.MatMul, lambda r: [r.normal(size=(2, 3, 4)), r.normal(size=(4, 2))]),
    "Affine": GateEntry(gates.Affine, lambda r: [r.normal(size=(3, 2, 2)), r.normal(size=(4, 3)), r.normal(size=(3,))]),
    "Transpose": GateEntry(lambda: gates.Transpose((1, 2, 0)), _normal(2, 3, 4)),
    "Reshape": GateEntry(lambda: gates.Reshape((4, -1)), _normal(2, 3, 2)),
    "Flatten": GateEntry(gates.Flatten, _normal(2, 3, 2)),
    "Softmax": GateEntry(gates.Softmax, _normal(3, 4)),
    "LogSoftmax": GateEntry(gates.LogSoftmax, _normal(3, 4)),
    "SoftmaxCrossEntropy": GateEntry(gates.SoftmaxCrossEntropy, lambda r: [r.normal(size=(4, 5)), _labels(r, 4, 5)]),
    "SVMLoss": GateEntry(gates.SVMLoss, lambda r: [r.normal(size=(4, 5)), _labels(r, 4, 5)]),
    "MSELoss": GateEntry(gates.MSELoss, lambda r: [r.normal(size=(3, 4)), r.normal(size=(3, 4))]),
    "BCEWithLogits": GateEntry(gates.BCEWithLogits, lambda r: [r.normal(size=(3, 4)), r.uniform(0, 1, size=(3, 4))]),
    "Conv2d": GateEntry(lambda: gates.Conv2d(stride=2, padding=1, groups=2),
                        lambda r: [r.normal(size=(2, 2, 5, 5)), r.normal(size=(2, 1, 3, 3)), r.normal(size=(2,))]),
    "Conv1d": GateEntry(lambda: gates.Conv1d(padding=1, dilation=2),
                        lambda r: [r.normal(size=(2, 2, 6)), r.normal(size=(3, 2, 2)), r.normal(size=(3,))]),
    # Overlapping windows; normal draws are distinct, so every window has one clear maximum.
    "MaxPool2d": GateEntry(lambda: gates.MaxPool2d(3, stride=2, padding=1), _normal(2, 2, 5, 5)),
    "AvgPool2d": GateEntry(lambda: gates.AvgPool2d(3, stride=2, padding=1), _normal(2, 2, 5, 5)),
}


def gate_classes() -> List[str]:
    """Names of every gate class bound in gatelab._core.gates."""
    return sorted(name for name, obj in vars(gates).items()
                  if isinstance(obj, type) and issubclass(obj, _core.NativeGate))
