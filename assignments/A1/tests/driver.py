"""A1 driver: what runs in the worker beside the student's code. Each function takes the
submission's namespace ``ns`` first, calls the student's code on the inputs it is given and
returns plain data. It decides nothing: the tests judge what it returns against the oracle's own
computation, in the grader's process. Student code could rewrite any of this; that changes only
the values the grader then judges.

The graph builders are shared with the oracle: a builder takes ``make(class_name)``, which
returns the student's gate here and gatelab's built-in one in the oracle, so both build the same
circuit. Circuits use only gates the test's latch leaves on (see assignment.toml).
"""

import numpy as np

import gatelab as gl

BUILTIN = {"MultiplyGate": "Multiply", "ReciprocalGate": "Reciprocal", "SigmoidGate": "Sigmoid",
           "MaxGate": "Maximum", "MeanGate": "Mean"}


def builtin_gate(class_name):
    return getattr(gl.gates, BUILTIN[class_name])()


# ---- Part 1: gates ------------------------------------------------------------------------------

def run_gate(ns, class_name, inputs, dout):
    """The student's gate on arrays: (forward output, backward gradients)."""
    gate = ns.get(class_name)()
    out = gate.forward(*[np.array(a) for a in inputs])
    grads = gate.backward(np.array(dout))
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    return out, tuple(grads)


def circuit(kind, make, arrays, dout=None):
    """Gradients of every input of a small circuit around one gate, run by the C++ graph
    (from the upstream gradient ``dout`` where the circuit's output is an array)."""
    g = gl.Graph()
    nodes = [g.input(f"in{i}", np.array(a)) for i, a in enumerate(arrays)]
    if kind == "multiply_square":            # the same node on both inputs: the graph adds both paths
        (x,) = nodes
        out = g.apply(make("MultiplyGate"), x, x)
    elif kind == "reciprocal":
        x, w = nodes
        out = gl.sum(g.apply(make("ReciprocalGate"), x + 0.0) * w)
    elif kind == "sigmoid_neuron":           # f = sigma(w0 x0 + w1 x1 + w2), element-wise
        w0, x0, w1, x1, w2 = nodes
        out = gl.sum(g.apply(make("SigmoidGate"), w0 * x0 + w1 * x1 + w2))
    elif kind == "max":
        x, y, w = nodes
        out = gl.sum(g.apply(make("MaxGate"), 2.0 * x, y) * w)
    elif kind == "mean":
        x, w = nodes
        out = g.apply(make("MeanGate"), x * w) * 3.0
    else:
        raise ValueError(kind)
    g.forward()
    g.backward(out, grad=None if dout is None else np.array(dout))
    return [None if n.grad is None else np.array(n.grad) for n in nodes]


def circuit_grads(ns, kind, arrays, dout=None):
    return circuit(kind, lambda name: ns.get(name)(), arrays, dout)


# ---- Part 2: Value graphs ---------------------------------------------------------------------------
# A graph is a spec: a list of ("leaf", v) | ("add", i, j) | ("mul", i, j) | ("tanh", i) |
# ("exp", i) | ("pow", i, k) entries; each op refers to earlier entries; the last is the root.

PARENTS = {"leaf": 0, "add": 2, "mul": 2, "tanh": 1, "exp": 1, "pow": 1}


def parents(entry):
    """Positions of the nodes a spec entry is computed from."""
    return list(entry[1:1 + PARENTS[entry[0]]])


def build(spec, leaf, tanh=lambda n: n.tanh(), exp=lambda n: n.exp()):
    """The nodes of ``spec``: Values (leaf=Value) or gatelab graph nodes (leaf=g.input, gl.tanh, gl.exp)."""
    nodes = []
    for entry in spec:
        op, args = entry[0], [nodes[i] for i in parents(entry)]
        if op == "leaf":
            nodes.append(leaf(entry[1]))
        elif op == "add":
            nodes.append(args[0] + args[1])
        elif op == "mul":
            nodes.append(args[0] * args[1])
        elif op == "tanh":
            nodes.append(tanh(args[0]))
        elif op == "exp":
            nodes.append(exp(args[0]))
        elif op == "pow":
            nodes.append(args[0] ** entry[2])
        else:
            raise ValueError(op)
    return nodes


def value_topological_sort(ns, spec):
    """The student's topological order as positions in the spec (-1: not a node of the graph)."""
    nodes = build(spec, ns.get("Value"))
    order = ns.get("topological_sort")(nodes[-1])
    position = {id(n): i for i, n in enumerate(nodes)}
    return [position.get(id(v), -1) for v in order]


def value_backward(ns, spec, times=1):
    """Every node's .grad after the student's backward(root), run ``times`` times."""
    nodes = build(spec, ns.get("Value"))
    for node in nodes:
        node.grad = 7.0                      # stale gradients from an earlier pass
    for _ in range(times):
        ns.get("backward")(nodes[-1])
    return [float(n.grad) for n in nodes]


# ---- Part 3: gradient checks ------------------------------------------------------------------------
# Functions and gates with coefficients the test draws, so no answer can be known in advance.

def function(kind, a, w):
    """The function numerical_gradient differentiates: f(x) -> float."""
    if kind == "sin_x2":
        return lambda x: float(np.sum(np.sin(a * x) * x ** 2))
    if kind == "exp_weighted":
        return lambda x: float(np.sum(np.exp(a * x) * w))
    raise ValueError(kind)


def numerical_gradient(ns, kind, a, x, w, h):
    """The student's numerical gradient of function(kind, a, w) at x, and x after the call."""
    x = np.array(x, dtype=np.float64)
    grad = ns.get("numerical_gradient")(function(kind, a, w), x, h)
    return grad, x


class ScaledProduct(gl.Gate):
    """out = x * y whose backward scales the true dx by sx and dy by sy (1, 1: a correct gate)."""

    def __init__(self, sx, sy):
        super().__init__()
        self.sx, self.sy = sx, sy

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return self.sx * self.y * dout, self.sy * self.x * dout


class ScaledTanh(gl.Gate):
    """out = tanh(x) whose backward scales the true dx by s."""

    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return (self.s * (1 - self.out ** 2) * dout,)


def make_gate(which, scales):
    if which == "product":
        return ScaledProduct(*scales)
    if which == "tanh":
        return ScaledTanh(*scales)
    return {"multiply": gl.gates.Multiply, "sigmoid": gl.gates.Sigmoid}[which]()


def gate_errors(ns, which, scales, inputs, dout):
    """The student's gate_gradient_errors on one of the gates above."""
    gate = make_gate(which, scales)
    errors = ns.get("gate_gradient_errors")(gate, [np.array(a, dtype=np.float64) for a in inputs],
                                            np.array(dout), 1e-5)
    return [float(e) for e in errors]
