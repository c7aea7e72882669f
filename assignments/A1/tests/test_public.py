"""A1 public tests: students run these themselves (``gatelab grade A1 A1.ipynb``).

Every expected value is computed here, by gatelab's built-in gates and graph or by calculus, on
inputs drawn from ``rng``: these files hold no answers.
"""

import numpy as np
import pytest

from gatelab.grading import check_gradient
from oracle import LECTURE, check_gate, check_gate_errors, check_order, reference_grads


@pytest.mark.points(1)
@pytest.mark.grades("MultiplyGate")
def test_multiply_backward(student, rng):
    """MultiplyGate.backward on arrays"""
    x, y, dout = rng.normal(size=(3, 3, 4))
    check_gate(student, "MultiplyGate", [x, y], dout)


@pytest.mark.points(1)
@pytest.mark.grades("ReciprocalGate")
def test_reciprocal_backward(student, rng):
    """ReciprocalGate.backward on arrays"""
    x = rng.uniform(0.5, 2.0, size=(4, 3)) * rng.choice([-1.0, 1.0], size=(4, 3))
    check_gate(student, "ReciprocalGate", [x], rng.normal(size=(4, 3)))


@pytest.mark.points(1)
@pytest.mark.grades("SigmoidGate")
def test_sigmoid_backward(student, rng):
    """SigmoidGate.backward on arrays"""
    x, dout = rng.normal(size=(2, 5, 2)) * 2
    check_gate(student, "SigmoidGate", [x], dout)


@pytest.mark.points(1)
@pytest.mark.grades("MaxGate")
def test_max_backward(student, rng):
    """MaxGate.backward on arrays"""
    x, y, dout = rng.normal(size=(3, 6))
    check_gate(student, "MaxGate", [x, y], dout)


@pytest.mark.points(1)
@pytest.mark.grades("MeanGate")
def test_mean_backward(student, rng):
    """MeanGate.backward on a matrix"""
    x = rng.normal(size=(4, 5))
    check_gate(student, "MeanGate", [x], np.array(rng.normal()))


@pytest.mark.points(1)
@pytest.mark.grades("topological_sort")
def test_topological_sort_lecture(student):
    """topological_sort on f = (x + y) z"""
    check_order(LECTURE, student.run("value_topological_sort", LECTURE, what="topological_sort"))


@pytest.mark.points(1)
@pytest.mark.grades("backward")
def test_backward_lecture(student):
    """backward on f = (x + y) z"""
    grads = student.run("value_backward", LECTURE, what="backward")
    check_gradient("the gradients of x, y, z, q = x + y and f", grads, reference_grads(LECTURE))


@pytest.mark.points(1)
@pytest.mark.grades("numerical_gradient")
def test_numerical_gradient(student, rng):
    """numerical_gradient of sum(sin(a x) x^2)"""
    a = float(rng.uniform(0.5, 1.5))
    x = rng.uniform(0.3, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))   # gradients away from 0
    grad, _ = student.run("numerical_gradient", "sin_x2", a, x, None, 1e-5, what="numerical_gradient")
    exact = a * np.cos(a * x) * x ** 2 + 2 * x * np.sin(a * x)
    check_gradient("numerical_gradient's result", grad, exact, tol=1e-6)


@pytest.mark.points(1)
@pytest.mark.grades("gate_gradient_errors")
def test_gate_gradient_errors(student, rng):
    """gate_gradient_errors passes a correct gate"""
    x, y, dout = rng.normal(size=(3, 2, 3))
    check_gate_errors(student, "multiply", (), [x, y], dout)
