"""A1 oracle: what the tests compare the student's results with, computed here, in the grader's
process, by gatelab's built-in gates and C++ graph, and the checks shared by the public and
hidden tests. No answers are stored; none of this reaches the worker.
"""

import numpy as np

import driver
import gatelab as gl
from gatelab.grading import WrongAnswer, check_close, check_gradient


def gate_reference(class_name, inputs, dout):
    gate = driver.builtin_gate(class_name)
    out = gate.forward(*inputs)
    return out, gate.backward(dout)


def check_gate(student, class_name, inputs, dout):
    out, grads = student.run("run_gate", class_name, inputs, dout, what=f"{class_name}.backward")
    want_out, want_grads = gate_reference(class_name, inputs, dout)
    check_close(f"{class_name}.forward's output", out, want_out)
    if len(grads) != len(inputs):
        raise WrongAnswer(f"{class_name}.backward returned {len(grads)} gradient(s) for {len(inputs)} input(s); "
                          "return one per input")
    for i, (got, want) in enumerate(zip(grads, want_grads)):
        check_gradient(f"{class_name}.backward's gradient of input {i}", got, want, x=inputs[i])


LECTURE = [("leaf", -2.0), ("leaf", 5.0), ("leaf", -4.0), ("add", 0, 1), ("mul", 3, 2)]   # f = (x + y) z


def check_order(spec, order):
    """A topological order of every node of ``spec``: each node once, after its parents."""
    if not isinstance(order, list) or any(not isinstance(i, int) for i in order):
        raise WrongAnswer("topological_sort should return a list of the graph's Value objects")
    if -1 in order:
        raise WrongAnswer("topological_sort returned something that is not a Value of the graph")
    if len(set(order)) != len(order):
        raise WrongAnswer("topological_sort lists a value more than once; a value used by several others "
                          "(fan-out) must appear once")
    missing = len(spec) - len(set(order))
    if missing:
        raise WrongAnswer(f"topological_sort left out {missing} of the {len(spec)} values root depends on")
    position = {node: k for k, node in enumerate(order)}
    for i, entry in enumerate(spec):
        if any(position[p] > position[i] for p in driver.parents(entry)):
            raise WrongAnswer("topological_sort lists a value before one of its parents; every value must come "
                              "after all the values it was computed from")


def reference_grads(spec):
    """d(root)/d(node) for every node of ``spec``, by gatelab's C++ graph (the oracle)."""
    g = gl.Graph()
    nodes = driver.build(spec, lambda v: g.input(f"v{len(g)}", float(v)), gl.tanh, gl.exp)
    g.forward()
    g.backward(nodes[-1])
    return np.array([0.0 if n.grad is None else float(n.grad) for n in nodes])


def true_errors(which, scales, inputs, dout):
    """The relative errors a correct gate_gradient_errors reports for a driver gate: those of its
    backward against the true gradients (computed here exactly, not by finite differences)."""
    gate = driver.make_gate(which, scales)
    gate.forward(*inputs)
    got = gate.backward(dout)
    exact = {"product": lambda x, y: (y * dout, x * dout), "multiply": lambda x, y: (y * dout, x * dout),
             "tanh": lambda x: ((1 - np.tanh(x) ** 2) * dout,),
             "sigmoid": lambda x: (1 / (1 + np.exp(-x)) * (1 - 1 / (1 + np.exp(-x))) * dout,)}[which](*inputs)
    return [gl.rel_error(np.asarray(g), e) for g, e in zip(got, exact)]


def check_gate_errors(student, which, scales, inputs, dout):
    """The student's gate_gradient_errors on a driver gate agrees with the true errors: below 1e-6
    for a correct gradient, within 20% of the truth for a wrong one. NaN, infinite or negative
    errors are wrong answers, never passes."""
    errors = student.run("gate_errors", which, scales, inputs, dout, what="gate_gradient_errors")
    if not isinstance(errors, list) or len(errors) != len(inputs):
        raise WrongAnswer(f"gate_gradient_errors should return a list with one relative error per input "
                          f"({len(inputs)} here)")
    for i, (got, want) in enumerate(zip(errors, true_errors(which, scales, inputs, dout))):
        if not isinstance(got, float) or not np.isfinite(got) or got < 0:
            raise WrongAnswer(f"gate_gradient_errors returned {got!r} for input {i}; a relative error is a finite "
                              "number >= 0")
        if want < 1e-9 and got > 1e-6:
            raise WrongAnswer(f"gate_gradient_errors reports a relative error of {got:.1e} for input {i}, whose "
                              "gradient is correct: a correct gradient gives about 1e-8 or less in float64")
        if want >= 1e-9 and not 0.8 * want <= got <= 1.2 * want:
            raise WrongAnswer(f"gate_gradient_errors reports a relative error of {got:.1e} for input {i}, whose "
                              f"gradient is wrong by a relative error of {want:.1e}: compare backward's gradient "
                              "with the numerical one, element by element")
