"""Backward, one gate at a time: what flows along each edge, for traces and drawings.

    steps = gl.backward_steps(g, loss)      # after g.forward(); runs g.backward(loss)
    s = steps[0]                            # the first gate backward visits (the output's)
    s.node, s.upstream                      # the node and d loss / d node
    for e in s.edges:                       # one per input of the gate
        e.source, e.local, e.downstream     # downstream = upstream x local, the input's share
    s.pattern                               # 'add distributes', 'multiply swaps', 'max routes', ...

The steps follow the graph's own backward order (reverse topological). Each edge's
``downstream`` is what the gate's backward adds into its input's gradient: a node used by
several gates ("copy") receives the sum of its edges' downstreams, and ``grads_after(steps, k)``
gives every node's gradient as it stands after step k.

The shares are computed by running a copy of each gate (a built-in gate's clone, a deep copy of
a Python gate) forward and backward once more on the values of the last forward pass, with the
node's gradient as dout; the graph's own gates and their saved state are untouched. ``local`` is the element-wise local
derivative d node / d input when the gate is element-wise without broadcasting (or both are
single numbers); for other gates it is None: the downstream is then J^T · upstream.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from gatelab import _core
from gatelab.graph import Graph, Node
from gatelab.rules import fill, gate_rule

__all__ = ["BackwardStep", "EdgeFlow", "backward_steps", "grads_after", "gate_pattern", "output_and_ancestors",
           "ELEMENTWISE_GATES"]

ELEMENTWISE_GATES = frozenset({
    "add", "subtract", "multiply", "divide", "maximum", "negate", "power", "exp", "log", "reciprocal",
    "sin", "cos", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus"})

_PATTERNS = {
    "add": "add distributes: every input receives the upstream gradient unchanged",
    "subtract": "subtract distributes: the first input receives +upstream, the second -upstream",
    "multiply": "multiply swaps: each input receives upstream × the OTHER input's value",
    "maximum": "max routes: the larger input receives the whole upstream gradient, the other none",
    "relu": "max routes: relu(x) = max(x, 0) passes the upstream gradient only where x > 0",
    "sum": "sum copies: every element receives the upstream gradient",
    "mean": "mean copies and scales: every element receives upstream / N",
    "negate": "negate flips the sign of the upstream gradient",
}


@dataclass
class EdgeFlow:
    """One input edge of a backward step: source --(input `position` of the gate)--> node."""

    source: Node
    position: int                      # which input of the gate
    upstream: np.ndarray               # d output / d node (the step's upstream)
    local: Optional[np.ndarray]        # d node / d source, element-wise (None: a full Jacobian)
    downstream: Optional[np.ndarray]   # this edge's share of d output / d source (None: no gradient)
    uses: int                          # how many gates of this pass use `source` (>1: copy adds)


@dataclass
class BackwardStep:
    """The k-th gate that backward visits, with what flows along each of its input edges."""

    index: int
    node: Node
    upstream: np.ndarray
    edges: List[EdgeFlow] = field(default_factory=list)

    @property
    def gate_name(self) -> str:
        return self.node.graph._g.op_name(self.node.id)

    @property
    def pattern(self) -> str:
        """The gate pattern, plus 'copy adds' for inputs used by several gates."""
        rule = gate_rule(self.gate_name, self.node)
        locals_ = [f"∂{self.node.name}/∂{e.source.name} = {fill(rule.locals[e.position], self.node)}"
                   for e in self.edges if e.downstream is not None]
        return gate_pattern(self.gate_name, self.edges, locals_)


def gate_pattern(gate_name: str, edges: List[EdgeFlow] = (), locals_: List[str] = ()) -> str:
    """'add distributes', 'multiply swaps', 'max routes' (or the local derivatives of other
    gates), then 'copy adds' for each input used by several gates."""
    text = _PATTERNS.get(gate_name)
    if text is None:
        text = f"{gate_name}: downstream = upstream × local derivative"
        if locals_:
            text += " (" + ", ".join(locals_) + ")"
    copies = [e for e in edges if e.uses > 1 and e.downstream is not None]
    for e in copies:
        text += (f"; copy adds: '{e.source.name}' is used {e.uses} times, its gradient is the SUM of "
                 f"the {e.uses} shares (+=)")
    return text


def _as_array(v) -> np.ndarray:
    return np.array(v, dtype=np.float64, copy=True)


def _run_gate_backward(node: Node, dout: np.ndarray) -> List[Optional[np.ndarray]]:
    """The gate's backward at the node's last forward values, without touching its state."""
    gate = node.gate
    gate = gate.clone() if isinstance(gate, _core.NativeGate) else copy.deepcopy(gate)
    values = [np.asarray(n.value) for n in node.inputs]
    gate.forward(*values)
    dout = np.asarray(dout, dtype=np.asarray(node.value).dtype)
    grads = gate.backward(dout)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    return [None if g is None else np.asarray(g) for g in grads]


def output_and_ancestors(graph: Graph, output: Optional[Node], who: str) -> Tuple[Node, List[Node]]:
    """The output node (default: the graph's) and the nodes it depends on, in topological
    order, after a forward pass if the graph's values are stale."""
    out = graph._check(output) if output is not None else graph.output
    if out is None:
        raise ValueError(f"{who}: the graph is empty")
    if not graph._g.fresh:
        graph.forward()
    return out, [graph._node(i) for i in graph._g.ancestors(out.id)]


def backward_steps(graph: Graph, output: Optional[Node] = None, grad=None) -> List[BackwardStep]:
    """Runs backward from `output` (forward first if needed) and returns one BackwardStep per
    gate, in the order backward visits them. ``grad``: the upstream gradient for an output that
    is not a single value (as in g.backward)."""
    out, order = output_and_ancestors(graph, output, "backward_steps")
    graph.backward(out, grad)
    uses: Dict[int, int] = {}
    for n in order:
        if n.kind == "op" and n.requires_grad:
            for src in n.inputs:
                uses[src.id] = uses.get(src.id, 0) + 1
    steps: List[BackwardStep] = []
    for n in reversed(order):
        if n.kind != "op" or not n.requires_grad or n.grad is None:
            continue
        upstream = _as_array(n.grad)
        shares = _run_gate_backward(n, np.asarray(n.grad))
        ones = None
        step = BackwardStep(len(steps), n, upstream)
        for pos, src in enumerate(n.inputs):
            share = shares[pos] if pos < len(shares) else None
            wants = src.requires_grad and share is not None
            local = None
            src_size, out_size = np.size(src.value), np.size(n.value)
            same_shape = np.shape(src.value) == np.shape(n.value)
            if wants and ((step.gate_name in ELEMENTWISE_GATES and same_shape) or (src_size == 1 and out_size == 1)):
                if ones is None:
                    ones = _run_gate_backward(n, np.ones(np.shape(n.value)))
                local = _as_array(ones[pos])
            step.edges.append(EdgeFlow(src, pos, upstream, local, _as_array(share) if wants else None,
                                       uses.get(src.id, 0)))
        steps.append(step)
    return steps


def grads_after(steps: List[BackwardStep], k: int, output: Node, grad=None) -> Dict[int, np.ndarray]:
    """Every node's gradient (by node id) after steps 0..k: the seed at the output (1, or
    ``grad``) plus the downstream shares delivered so far. k = -1: only the seed."""
    seed = np.ones(np.shape(output.value)) if grad is None else _as_array(grad)
    grads: Dict[int, np.ndarray] = {output.id: seed}
    for step in steps[:k + 1]:
        for e in step.edges:
            if e.downstream is None:
                continue
            prev = grads.get(e.source.id)
            grads[e.source.id] = e.downstream.copy() if prev is None else prev + e.downstream
    return grads
