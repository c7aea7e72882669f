"""Graph and Node: the student-facing face of the C++ ComputationalGraph.

    g = gl.Graph()
    x = g.input("x", -2.0); y = g.input("y", 5.0); z = g.input("z", -4.0)
    f = (x + y) * z          # operators build gate nodes; numbers mix in as constants
    g.forward()              # -12.0
    g.backward(f)            # df/dx = -4, df/dy = -4, df/dz = 3
    x.grad, y.grad, z.grad

Values and gradients come back as read-only NumPy arrays (a Python float for a float64
scalar). A graph never casts: float32 inputs give a float32 graph, and mixing float32 with
float64 raises TypeError.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from gatelab import _core

ArrayLike = Union[float, int, np.ndarray, Sequence[float]]

__all__ = ["Graph", "Node"]


def _is_number(value: Any) -> bool:
    """Python and NumPy scalars: they take the dtype of the node they meet (no dtype of their own)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class Node:
    """A handle to one node of a Graph: an input, parameter, constant, or a gate's output.

    Arithmetic on nodes adds gate nodes to the same graph: ``x + y``, ``2.0 * x``, ``x ** 2``,
    ``-x``, ``x / y``, ``x @ w``; ``x.T`` and ``x.reshape(n, -1)`` too. ``value``, ``grad`` and ``tangent`` hold the results of the last
    forward, backward and forward-mode (jvp) passes.
    """

    __slots__ = ("graph", "id", "__weakref__")

    # NumPy defers to the node's reflected operators (array @ node, array * node build one gate
    # node with the array as a constant) instead of looping over the array's elements.
    __array_ufunc__ = None

    def __init__(self, graph: "Graph", node_id: int):
        self.graph = graph
        self.id = node_id

    # ---- what the node is -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.graph._g.name(self.id)

    @name.setter
    def name(self, new_name: str) -> None:
        self.graph._g.rename(self.id, new_name)

    def named(self, new_name: str) -> "Node":
        """Renames the node and returns it: ``f = ((x + y) * z).named("f")``."""
        self.name = new_name
        return self

    @property
    def kind(self) -> str:
        """'input', 'parameter', 'constant' or 'op'."""
        return self.graph._g.kind(self.id)

    @property
    def op(self) -> str:
        """The gate with its hyper-parameters (``'power(p=2)'``), or the leaf kind."""
        return self.graph._g.op(self.id)

    @property
    def gate(self):
        """The gate object computing this node (None for leaves)."""
        return self.graph._g.gate(self.id)

    @property
    def inputs(self) -> List["Node"]:
        return [self.graph._node(i) for i in self.graph._g.inputs(self.id)]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.graph._g.dtype(self.id))

    @property
    def shape(self):
        """The shape (None entries: sizes fixed only when fed), or None if not yet known."""
        return self.graph._g.shape(self.id)

    @property
    def requires_grad(self) -> bool:
        return self.graph._g.requires_grad(self.id)

    # ---- results -------------------------------------------------------------------------
    @property
    def value(self):
        """The value from the last forward pass (leaves: their current value)."""
        return self.graph._g.value(self.id)

    @value.setter
    def value(self, new_value: ArrayLike) -> None:
        self.graph._g.feed(self.id, new_value)

    @property
    def grad(self):
        """d(output)/d(this node) from the last backward pass; None if the pass did not reach it."""
        return self.graph._g.grad(self.id)

    @property
    def tangent(self):
        """d(this node)/dt from the last forward-mode pass (g.jvp)."""
        return self.graph._g.tangent(self.id)

    # ---- operators -----------------------------------------------------------------------
    def _binary(self, gate, other, reverse=False) -> "Node":
        other = self.graph._lift(other, like=self, who=gate.name)
        a, b = (other, self) if reverse else (self, other)
        return self.graph.apply(gate, a, b)

    def __add__(self, other):
        return self._binary(_core.gates.Add(), other)

    def __radd__(self, other):
        return self._binary(_core.gates.Add(), other, reverse=True)

    def __sub__(self, other):
        return self._binary(_core.gates.Subtract(), other)

    def __rsub__(self, other):
        return self._binary(_core.gates.Subtract(), other, reverse=True)

    def __mul__(self, other):
        return self._binary(_core.gates.Multiply(), other)

    def __rmul__(self, other):
        return self._binary(_core.gates.Multiply(), other, reverse=True)

    def __truediv__(self, other):
        return self._binary(_core.gates.Divide(), other)

    def __rtruediv__(self, other):
        return self._binary(_core.gates.Divide(), other, reverse=True)

    def __matmul__(self, other):
        """``a @ b``: NumPy's matmul (see gl.matmul for the broadcasting rules)."""
        return self._binary(_core.gates.MatMul(), other)

    def __rmatmul__(self, other):
        return self._binary(_core.gates.MatMul(), other, reverse=True)

    @property
    def T(self) -> "Node":
        """The transpose with all dimensions reversed, like NumPy's ``x.T``."""
        return self.graph.apply(_core.gates.Transpose(None), self)

    def reshape(self, *shape) -> "Node":
        """``x.reshape(2, -1)`` or ``x.reshape((2, -1))``: NumPy's rules, one -1 inferred."""
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = tuple(shape[0])
        return self.graph.apply(_core.gates.Reshape([int(d) for d in shape]), self)

    def __neg__(self):
        return self.graph.apply(_core.gates.Negate(), self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        if isinstance(exponent, Node):
            raise TypeError("power: the exponent must be a constant number; for x ** y with a node y "
                            "write gl.exp(y * gl.log(x))")
        if not _is_number(exponent):
            raise TypeError(f"power: the exponent must be a number, got {type(exponent).__name__}")
        return self.graph.apply(_core.gates.Power(float(exponent)), self)

    def __rpow__(self, base):
        raise TypeError("power: a node as exponent is not a gate; for a ** x write gl.exp(x * np.log(a))")

    def __bool__(self):
        raise TypeError("a graph node has no truth value; compare node.value instead")

    def __repr__(self) -> str:
        shape = self.shape
        text = f"Node('{self.name}' = {self.op}, {self.graph._g.dtype(self.id)}"
        if shape not in (None, ()):
            text += f" {tuple(shape)}"
        value, grad = self.value, self.grad
        if value is not None:
            text += f", value={_brief(value)}"
        if grad is not None:
            text += f", grad={_brief(grad)}"
        return text + ")"


def _inline_constant(node: "Node") -> bool:
    """An unnamed scalar constant (from ``2.0 * x``): tables show its value instead of a row."""
    return node.kind == "constant" and node.name.startswith("const") and node.shape == ()


def _brief(a, digits: Optional[int] = None) -> str:
    """A short text for a value: numbers with `digits` decimals (else 6 significant digits),
    small arrays in full, large ones by shape and norm."""
    if isinstance(a, float):
        return f"{a:.{digits}f}" if digits is not None else f"{a:.6g}"
    a = np.asarray(a)
    if a.size <= 6:
        return np.array2string(a, precision=4 if digits is None else digits, separator=", ",
                               floatmode="maxprec" if digits is None else "fixed")
    return f"array{a.shape} |.|={np.linalg.norm(a.ravel()):.4g}"


class Graph:
    """A computational graph run by the C++ core.

    Leaves: ``input`` (values you feed), ``param`` (trainable values), ``constant``.
    Every operation on nodes adds a gate node. ``forward`` runs all nodes in topological order,
    ``backward(node)`` runs the chain rule in reverse from a single-value node.
    """

    def __init__(self):
        self._g = _core.ComputationalGraph()
        self._handles: Dict[int, Node] = {}
        self._output: Optional[Node] = None

    # ---- building --------------------------------------------------------------------------
    def _node(self, node_id: int) -> Node:
        handle = self._handles.get(node_id)
        if handle is None:
            handle = self._handles[node_id] = Node(self, node_id)
        return handle

    def _added(self, node_id: int) -> Node:
        node = self._node(node_id)
        self._output = node
        return node

    def input(self, name: str, value: Optional[ArrayLike] = None, *, shape=None, dtype=None) -> Node:
        """An input leaf. ``value``: a number or array (float64 unless the array is float32;
        int64 arrays serve as labels). Without a value give ``shape`` (None for a free
        dimension, e.g. a batch) and feed it later: ``g.forward({"x": batch})``."""
        dtype_name = None if dtype is None else np.dtype(dtype).name
        if value is None:
            if shape is None:
                raise ValueError(f"input '{name}': give a value, or a shape to feed later "
                                 "(e.g. shape=(None, 3) for any batch size)")
            node_id = self._g.add_placeholder(name, dtype_name or "float64", list(shape))
            return self._node(node_id)
        if shape is not None:
            node_id = self._g.add_placeholder(name, dtype_name or _dtype_of(value), list(shape))
            self._g.feed(node_id, value)
            return self._node(node_id)
        return self._node(self._g.add_input(name, value, dtype_name))

    def param(self, name: str, value: ArrayLike, *, dtype=None) -> Node:
        """A trainable parameter leaf (float64 or float32)."""
        dtype_name = None if dtype is None else np.dtype(dtype).name
        return self._node(self._g.add_parameter(name, value, dtype_name))

    def constant(self, value: ArrayLike, name: str = "", *, dtype=None) -> Node:
        """A leaf that never gets a gradient."""
        dtype_name = np.dtype(dtype).name if dtype is not None else _dtype_of(value)
        return self._node(self._g.add_constant(value, dtype_name, name))

    def apply(self, gate, *inputs, name: str = "") -> Node:
        """Adds a node computing ``gate`` on ``inputs`` (nodes, or numbers/arrays as constants).

        ``gate`` is a built-in gate (``gl.gates.Multiply()``) or an instance of a
        ``gl.Gate`` subclass written in Python; each instance serves one node."""
        if not inputs:
            raise TypeError(f"apply: {type(gate).__name__} needs at least one input node")
        like = next((n for n in inputs if isinstance(n, Node)), None)
        if like is None:
            raise TypeError(f"apply: give {type(gate).__name__} at least one graph node as input")
        who = getattr(gate, "name", type(gate).__name__)
        python_gate = not isinstance(gate, _core.NativeGate)
        if python_gate and getattr(gate, "_gatelab_in_graph", False):
            raise ValueError(f"{who}: this gate instance is already used by a node; its saved state belongs "
                             "to that node. Create a new instance for each use.")
        ids = [self._lift(n, like=like, who=who).id for n in inputs]
        node = self._added(self._g.add_op(gate, ids, name))
        if python_gate:
            try:
                gate._gatelab_in_graph = True
            except AttributeError:  # objects with __slots__ cannot be marked; they are trusted
                pass
        return node

    def _lift(self, value, *, like: Node, who: str) -> Node:
        """A node for `value`: nodes pass through (same graph only), numbers and arrays become
        constants with the dtype of `like` (arrays must already have it)."""
        if isinstance(value, Node):
            if value.graph is not self:
                raise ValueError(f"{who}: node '{value.name}' belongs to another Graph; "
                                 "nodes of different graphs cannot be combined")
            return value
        dtype = self._g.dtype(like.id)
        if dtype == "int64":
            raise TypeError(f"{who}: '{like.name}' holds integers (int64, as labels do); gates compute in "
                            f"float64 or float32. Give it float values, e.g. g.input('{like.name}', "
                            "np.array([...], dtype=np.float64)) or [1.0, 2.0]")
        if _is_number(value):
            return self._node(self._g.add_constant(float(value), dtype, ""))
        if isinstance(value, (np.ndarray, list, tuple)):
            arr = np.asarray(value)
            if arr.dtype.kind == "i" and dtype != "int64":
                raise TypeError(f"{who}: constant array is {arr.dtype}; gates compute in {dtype}, "
                                f"pass it as .astype(np.{dtype})")
            return self._node(self._g.add_constant(arr, dtype, ""))
        raise TypeError(f"{who}: cannot use a {type(value).__name__} as an input; pass a node, a number "
                        "or a NumPy array")

    def set_inputs(self, node: Node, *inputs: Node) -> None:
        """Re-wires an op node to new inputs (a cycle is reported at the next forward)."""
        ids = [self._lift(n, like=node, who="set_inputs").id for n in inputs]
        self._g.set_inputs(self._check(node).id, ids)

    # ---- running -----------------------------------------------------------------------------
    @property
    def output(self) -> Optional[Node]:
        """The node forward() returns: the last one added, unless set."""
        return self._output

    @output.setter
    def output(self, node: Node) -> None:
        self._output = self._check(node)

    def feed(self, feeds: Dict[Union[str, Node], ArrayLike]) -> None:
        """Sets leaf values by name or node, checking dtype and shape."""
        for key, value in feeds.items():
            node = self[key] if isinstance(key, str) else self._check(key)
            self._g.feed(node.id, value)

    def forward(self, feeds: Optional[Dict[Union[str, Node], ArrayLike]] = None, *, output: Optional[Node] = None):
        """Runs every node in topological order (after applying ``feeds``) and returns the
        value of ``output`` (by default the last node added)."""
        if feeds:
            self.feed(feeds)
        self._g.forward()
        target = self._check(output) if output is not None else self._output
        return None if target is None else target.value

    def backward(self, output: Optional[Node] = None, grad: Optional[ArrayLike] = None, *,
                 accumulate: bool = False) -> None:
        """Reverse mode from ``output`` (default: the graph's output). A single-value output is
        seeded with d output/d output = 1; otherwise pass ``grad`` (the upstream gradient, shaped
        like the output). Gradients are recomputed from zero on each call unless ``accumulate``."""
        node = self._check(output) if output is not None else self._output
        if node is None:
            raise ValueError("backward: the graph is empty")
        self._g.backward(node.id, grad, accumulate)

    def jvp(self, output: Node, tangents: Dict[Union[str, Node], ArrayLike]):
        """Forward mode: the directional derivative of ``output`` when each leaf in ``tangents``
        moves with the given tangent (others stay fixed): ``g.jvp(y, {x1: 1.0})`` is dy/dx1."""
        pairs = []
        for key, value in tangents.items():
            node = self[key] if isinstance(key, str) else self._check(key)
            pairs.append((node.id, value))
        self._g.jvp(pairs)
        return self._check(output).tangent

    # ---- instruments: thin entry points to gatelab.trace, .jacobian, .drawing, .steps ----------
    def trace(self, output: Optional[Node] = None, seed=None, **options):
        """The evaluation, forward-derivative and adjoint trace tables (gatelab.trace.trace)."""
        from gatelab.trace import trace
        return trace(self, output, seed, **options)

    def jacobian(self, output: Node, wrt, *, mode: str = "reverse"):
        """d output / d wrt, shape (output.size, wrt.size) (gatelab.jacobian.jacobian)."""
        from gatelab.jacobian import jacobian
        return jacobian(self, output, wrt, mode=mode)

    def check_vjp(self, output: Node, wrt: Node, upstream=None, **options):
        """J^T · upstream from the explicit Jacobian next to backward's (gatelab.jacobian.check_vjp)."""
        from gatelab.jacobian import check_vjp
        return check_vjp(self, output, wrt, upstream, **options)

    def backward_steps(self, output: Optional[Node] = None, grad=None):
        """Backward one gate at a time, with each edge's share (gatelab.steps.backward_steps)."""
        from gatelab.steps import backward_steps
        return backward_steps(self, output, grad)

    def to_dot(self, output: Optional[Node] = None, step: Optional[int] = None, **options) -> str:
        """DOT text: each node's op, value and gradient (gatelab.drawing.to_dot)."""
        from gatelab.drawing import to_dot
        return to_dot(self, output, step, **options)

    def draw(self, output: Optional[Node] = None, step: Optional[int] = None, **options):
        """Renders the graph with Graphviz's dot, or without it as built-in SVG; step=k shows
        the k-th backward step (gatelab.drawing.draw)."""
        from gatelab.drawing import draw
        return draw(self, output, step, **options)

    def zero_grad(self) -> None:
        """Sets every gradient held by the graph to zero."""
        self._g.zero_grad()

    # ---- looking around --------------------------------------------------------------------
    def _check(self, node: Node) -> Node:
        if not isinstance(node, Node):
            raise TypeError(f"expected a graph node, got {type(node).__name__}")
        if node.graph is not self:
            raise ValueError(f"node '{node.name}' belongs to another Graph")
        return node

    def __getitem__(self, name: str) -> Node:
        return self._node(self._g.find(name))

    def __contains__(self, name: str) -> bool:
        return self._g.has_name(name)

    def __len__(self) -> int:
        return len(self._g)

    @property
    def nodes(self) -> List[Node]:
        """All nodes in topological order."""
        return [self._node(i) for i in self._g.topological_order()]

    def parameters(self) -> List[Node]:
        return [n for n in self.nodes if n.kind == "parameter"]

    def inputs(self) -> List[Node]:
        return [n for n in self.nodes if n.kind == "input"]

    def summary(self, digits: Optional[int] = None) -> str:
        """A table of every node: name, op, inputs, value and gradient (as the slides show),
        numbers with ``digits`` decimals if given."""
        rows = [("node", "op", "inputs", "value", "grad")]
        for n in self.nodes:
            if _inline_constant(n):
                continue  # shown by value where it is used, as the slides write "+1" or "*-1"
            ins = ", ".join(_brief(i.value) if _inline_constant(i) else i.name for i in n.inputs)
            value = "" if n.value is None else _brief(n.value, digits)
            grad = "" if n.grad is None else _brief(n.grad, digits)
            rows.append((n.name, n.op, ins, value, grad))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<gatelab.Graph with {len(self)} nodes>"


def _dtype_of(value) -> str:
    if _is_number(value):
        return "float64"
    arr = np.asarray(value)
    return arr.dtype.name


def graph_of(*args: Iterable[Any]) -> Optional[Graph]:
    """The graph of the first Node among args, or None."""
    for a in args:
        if isinstance(a, Node):
            return a.graph
    return None
