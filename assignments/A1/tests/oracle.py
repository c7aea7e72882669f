"""A1 oracle: what the tests compare the student's results with, computed by gatelab's built-in
gates and C++ graph, and the checks shared by the public and hidden tests. No answers are stored.
"""

import numpy as np

import gatelab as gl
import harness
from gatelab.grading import WrongAnswer, check_close, check_gradient


def gate_reference(class_name, inputs, dout):
    gate = harness.builtin_gate(class_name)
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
        if any(position[p] > position[i] for p in harness.parents(entry)):
            raise WrongAnswer("topological_sort lists a value before one of its parents; every value must come "
                              "after all the values it was computed from")


def reference_grads(spec):
    """d(root)/d(node) for every node of ``spec``, by gatelab's C++ graph (the oracle)."""
    g = gl.Graph()
    nodes = harness.build(spec, lambda v: g.input(f"v{len(g)}", float(v)), gl.tanh, gl.exp)
    g.forward()
    g.backward(nodes[-1])
    return np.array([0.0 if n.grad is None else float(n.grad) for n in nodes])


def gate_errors(student, which, inputs, dout):
    """The student's gate_gradient_errors on one of the harness's gates: a list, one error per input."""
    errors = student.run("gate_errors", which, inputs, dout, what="gate_gradient_errors")
    if not isinstance(errors, list) or len(errors) != len(inputs):
        raise WrongAnswer(f"gate_gradient_errors should return a list with one relative error per input "
                          f"({len(inputs)} here)")
    return errors
