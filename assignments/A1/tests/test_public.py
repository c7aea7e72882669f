"""A1 public tests: students run these themselves (``gatelab grade A1 A1.ipynb``).

Every expected value is computed here, by gatelab's built-in gates and graph or by calculus, on
inputs drawn from ``rng``: these files hold no answers.
"""

import numpy as np
import pytest

from gatelab.grading import WrongAnswer, check_gradient
from oracle import LECTURE, check_gate, check_order, gate_errors, reference_grads


@pytest.mark.points(1)
def test_multiply_backward(student, rng):
    """MultiplyGate.backward on arrays"""
    x, y, dout = rng.normal(size=(3, 3, 4))
    check_gate(student, "MultiplyGate", [x, y], dout)


@pytest.mark.points(1)
def test_reciprocal_backward(student, rng):
    """ReciprocalGate.backward on arrays"""
    x = rng.uniform(0.5, 2.0, size=(4, 3)) * rng.choice([-1.0, 1.0], size=(4, 3))
    check_gate(student, "ReciprocalGate", [x], rng.normal(size=(4, 3)))


@pytest.mark.points(1)
def test_sigmoid_backward(student, rng):
    """SigmoidGate.backward on arrays"""
    x, dout = rng.normal(size=(2, 5, 2)) * 2
    check_gate(student, "SigmoidGate", [x], dout)


@pytest.mark.points(1)
def test_max_backward(student, rng):
    """MaxGate.backward on arrays"""
    x, y, dout = rng.normal(size=(3, 6))
    check_gate(student, "MaxGate", [x, y], dout)


@pytest.mark.points(1)
def test_mean_backward(student, rng):
    """MeanGate.backward on a matrix"""
    x = rng.normal(size=(4, 5))
    check_gate(student, "MeanGate", [x], np.array(rng.normal()))


@pytest.mark.points(1)
def test_topological_sort_lecture(student):
    """topological_sort on f = (x + y) z"""
    check_order(LECTURE, student.run("value_topological_sort", LECTURE, what="topological_sort"))


@pytest.mark.points(1)
def test_backward_lecture(student):
    """backward on f = (x + y) z"""
    grads = student.run("value_backward", LECTURE, what="backward")
    check_gradient("the gradients of x, y, z, q = x + y and f", grads, reference_grads(LECTURE))


@pytest.mark.points(1)
def test_numerical_gradient(student, rng):
    """numerical_gradient of sum(sin(x) x^2)"""
    x = rng.uniform(0.3, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))   # gradients away from 0
    grad, _ = student.run("numerical_gradient", "sin_x2", x, None, 1e-5, what="numerical_gradient")
    exact = np.cos(x) * x ** 2 + 2 * x * np.sin(x)
    check_gradient("numerical_gradient's result", grad, exact, tol=1e-6)


@pytest.mark.points(1)
def test_gate_gradient_errors(student, rng):
    """gate_gradient_errors passes a correct gate"""
    x, y, dout = rng.normal(size=(3, 2, 3))
    errors = gate_errors(student, "multiply", [x, y], dout)
    if max(errors) > 1e-6:
        raise WrongAnswer(f"gate_gradient_errors reports a relative error of {max(errors):.1e} for gatelab's "
                          "correct Multiply gate; a correct gate gives about 1e-8 or less in float64")
