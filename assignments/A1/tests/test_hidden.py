"""A1 hidden tests: only in the autograder bundle. Students' gates run inside the C++ graph next
to built-in gates; graphs with fan-out, deep chains, stale gradients; new functions to check.
"""

import numpy as np
import pytest

import driver
from gatelab.grading import WrongAnswer, check_gradient
from oracle import check_gate_errors, check_order, reference_grads


def check_circuit(student, kind, arrays, class_name, dout=None):
    got = student.run("circuit_grads", kind, arrays, dout, what=f"{class_name} inside a graph")
    want = driver.circuit(kind, lambda name: driver.builtin_gate(name), arrays, dout)
    if not isinstance(got, list) or len(got) != len(want):
        raise WrongAnswer(f"the graph with {class_name} did not give one gradient per input")
    for i, (g, w) in enumerate(zip(got, want)):
        check_gradient(f"the graph's gradient of input {i} (through {class_name})", g, w, x=arrays[i])


@pytest.mark.points(1)
@pytest.mark.grades("MultiplyGate")
def test_multiply_in_graph(student, rng):
    """MultiplyGate in a graph, with one node on both inputs (x * x)"""
    x, dout = rng.normal(size=(2, 4, 3))
    check_circuit(student, "multiply_square", [x], "MultiplyGate", dout)


@pytest.mark.points(1)
@pytest.mark.grades("ReciprocalGate")
def test_reciprocal_in_graph(student, rng):
    """ReciprocalGate in a graph"""
    x = rng.uniform(0.3, 3.0, size=(5, 2)) * rng.choice([-1.0, 1.0], size=(5, 2))
    check_circuit(student, "reciprocal", [x, rng.normal(size=(5, 2))], "ReciprocalGate")


@pytest.mark.points(1)
@pytest.mark.grades("SigmoidGate")
def test_sigmoid_in_graph(student, rng):
    """SigmoidGate in the logistic neuron, on arrays"""
    check_circuit(student, "sigmoid_neuron", list(rng.normal(size=(5, 3, 3))), "SigmoidGate")


@pytest.mark.points(1)
@pytest.mark.grades("MaxGate")
def test_max_in_graph(student, rng):
    """MaxGate in a graph"""
    check_circuit(student, "max", list(rng.normal(size=(3, 2, 7))), "MaxGate")


@pytest.mark.points(1)
@pytest.mark.grades("MeanGate")
def test_mean_in_graph(student, rng):
    """MeanGate in a graph, on a 3-D array"""
    check_circuit(student, "mean", list(rng.normal(size=(2, 3, 2, 4))), "MeanGate")


def random_spec(rng, leaves=4, ops=16):
    """A random graph in which values feed several ops (fan-out) and every value reaches the root.
    Operands are drawn among values of magnitude at most 2, so nothing overflows."""
    spec = [("leaf", float(v)) for v in rng.uniform(-1.5, 1.5, size=leaves)]
    values = [e[1] for e in spec]
    used = set()
    for _ in range(ops):
        small = [i for i, v in enumerate(values) if abs(v) <= 2.0]
        a, b = (int(i) for i in rng.choice(small, size=2))
        kind = str(rng.choice(["add", "mul", "tanh", "pow"]))
        entry = {"add": ("add", a, b), "mul": ("mul", a, b), "tanh": ("tanh", a), "pow": ("pow", a, 2)}[kind]
        values.append({"add": values[a] + values[b], "mul": values[a] * values[b], "tanh": np.tanh(values[a]),
                       "pow": values[a] ** 2}[kind])
        used.update(driver.parents(entry))
        spec.append(entry)
    dangling = [i for i in range(len(spec)) if i not in used]
    root = dangling[0]
    for i in dangling[1:]:
        spec.append(("add", root, i))
        root = len(spec) - 1
    return spec


@pytest.mark.points(1)
@pytest.mark.grades("topological_sort")
def test_topological_sort_random(student, rng):
    """topological_sort on random graphs with fan-out, and on a chain 3000 values deep"""
    spec = random_spec(rng)
    check_order(spec, student.run("value_topological_sort", spec, what="topological_sort"))
    chain = [("leaf", 0.5)] + [("tanh", i) for i in range(3000)]
    check_order(chain, student.run("value_topological_sort", chain, what="topological_sort on a deep chain"))


@pytest.mark.grades("backward")
@pytest.mark.points(2)
@pytest.mark.concept("a value used by several others receives the sum of their gradients (+=)")
def test_backward_fanout(student, rng):
    """backward on graphs where values are used more than once"""
    spec = [("leaf", float(rng.uniform(0.5, 1.5)))] + [("mul", 0, 0)]          # x * x
    spec += [("leaf", float(rng.uniform(-1, 1))), ("add", 1, 2), ("mul", 3, 1), ("tanh", 4), ("add", 5, 3)]
    for graph in (spec, random_spec(rng)):
        grads = student.run("value_backward", graph, what="backward")
        check_gradient("the gradients of the graph's values", grads, reference_grads(graph))


@pytest.mark.grades("backward")
@pytest.mark.points(1)
@pytest.mark.concept("gradients are recomputed from zero on every backward pass")
def test_backward_twice(student, rng):
    """backward twice gives the same gradients (starting from stale ones)"""
    leaves = [("leaf", float(v)) for v in rng.uniform(-1, 1, size=4)]
    spec = leaves + [("mul", 0, 1), ("tanh", 4), ("add", 5, 2), ("exp", 3), ("mul", 6, 7)]
    grads = student.run("value_backward", spec, 2, what="backward, called twice")
    check_gradient("the gradients after two backward passes", grads, reference_grads(spec))


@pytest.mark.points(1)
@pytest.mark.grades("numerical_gradient")
def test_numerical_gradient_restores(student, rng):
    """numerical_gradient on a 3-D array, leaving x as it was"""
    x = rng.normal(size=(2, 3, 2))
    w = rng.uniform(0.5, 1.5, size=x.shape) * rng.choice([-1.0, 1.0], size=x.shape)   # gradients away from 0
    a = float(rng.uniform(0.3, 0.7))
    grad, after = student.run("numerical_gradient", "exp_weighted", a, x, w, 1e-6, what="numerical_gradient")
    check_gradient("numerical_gradient's result", grad, a * np.exp(a * x) * w, tol=1e-6)
    if not np.array_equal(np.asarray(after), x):
        raise WrongAnswer("numerical_gradient changed x: restore each element after perturbing it")


@pytest.mark.points(1)
@pytest.mark.grades("gate_gradient_errors")
def test_gate_gradient_errors_catches_bug(student, rng):
    """gate_gradient_errors measures wrong gradients, and checks one-input gates"""
    x, y, dout = rng.normal(size=(3, 4, 2))
    wrong = int(rng.integers(0, 2))                       # which input's gradient is off, and by how much
    scales = [1.0, 1.0]
    scales[wrong] = float(rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.0))
    check_gate_errors(student, "product", tuple(scales), [x, y], dout)
    check_gate_errors(student, "tanh", (float(rng.uniform(0.3, 0.7)),), [x], dout)
    check_gate_errors(student, "sigmoid", (), [x], dout)
