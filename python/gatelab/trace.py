"""Trace tables: the evaluation trace, the forward derivative trace and the reverse adjoint trace.

    g = gl.Graph()
    x1 = g.input("x1", 2.0); x2 = g.input("x2", 5.0)
    v1 = gl.log(x1); v2 = x1 * x2; v3 = gl.sin(x2); v4 = v1 + v2; v5 = v4 - v3
    print(g.trace())          # the lecture's three tables: v_i, v̇_i (seed ẋ1 = 1) and v̄_i
    g.trace(seed=x2)          # v̇ = ∂v/∂x2 instead
    g.trace(numbering=0)      # the other lecture's style: v0 = x1, v1 = x2, v2 = ln v0, ...

Unnamed gate nodes are called v1, v2, ... in the order they are built (write the function in
the slide's order to get the slide's numbers); names you give are kept. In Jupyter a Trace
shows as an HTML table. The numbers are in ``trace["v2"].value`` / ``.tangent`` / ``.adjoint``.

Each row's formulas come from the gate's rule: the tangent rule (forward mode,
v̇ = Σ ∂v/∂u · u̇ over the node's inputs u) and the adjoint rule (reverse mode,
ū = Σ v̄ · ∂v/∂u over the node's users v). Where a node feeds several gates the adjoint row
lists each user's share, which add up (the "copy" node of the lecture: x̄1 = 0.5 + 5 = 5.5).
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import numpy as np

from gatelab.functional import log, sin
from gatelab.graph import Graph, Node
from gatelab.rules import BAR, DOT, fill, fmt_number as _num, gate_rule, mark as _mark, operand
from gatelab.steps import backward_steps, output_and_ancestors

__all__ = ["Trace", "TraceRow", "trace", "lecture_example"]

def _width(text: str) -> int:
    return sum(0 if unicodedata.combining(c) else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


@dataclass
class TraceRow:
    """One node of the trace: its value, its tangent v̇ and its adjoint v̄, with formulas."""

    name: str                       # the node's name in the graph
    label: str                      # the name shown (the slide's v_i when numbering is used)
    kind: str                       # 'input', 'parameter' or 'op'
    expr: str                       # "ln x1", or the leaf's own name
    value: object
    tangent_expr: str
    tangent: object
    adjoint_expr: str = ""
    adjoint: object = None
    adjoint_terms: List[object] = field(default_factory=list)   # one share per user (copy adds)


@dataclass
class Trace:
    """The three trace tables of one graph (see the module docstring)."""

    rows: List[TraceRow]
    output: str                     # the output row's label
    output_name: str                # the function's name on the slides: y
    seed_text: str                  # "ẋ1 = 1, ẋ2 = 0"
    seed_of: str                    # what v̇ differentiates by: "x1" (or "the seed direction")
    has_adjoint: bool
    digits: int = 3

    def __getitem__(self, name: str) -> TraceRow:
        for r in self.rows:
            if name in (r.name, r.label):
                return r
        raise KeyError(f"trace has no node named '{name}' (nodes: {', '.join(r.label for r in self.rows)})")

    @property
    def values(self) -> Dict[str, object]:
        return {r.label: r.value for r in self.rows}

    @property
    def tangents(self) -> Dict[str, object]:
        return {r.label: r.tangent for r in self.rows}

    @property
    def adjoints(self) -> Dict[str, object]:
        return {r.label: r.adjoint for r in self.rows}

    # ---- text, as the slides print it ----------------------------------------------------------
    def _sections(self):
        n = lambda v: _num(v, self.digits)  # noqa: E731
        y = self.output_name
        closing = y != self.output
        ev = [(f"{r.label} = {r.expr}" if r.kind == "op" or r.label != r.expr else r.label, n(r.value))
              for r in self.rows]
        if closing:
            ev.append((f"{y} = {self.output}", n(self.rows[-1].value)))
        fw = [(f"{_mark(r.label, DOT)} = {r.tangent_expr}", n(r.tangent)) for r in self.rows]
        if closing:
            fw.append((f"{_mark(y, DOT)} = {_mark(self.output, DOT)}", n(self.rows[-1].tangent)))
        sections = [("Forward evaluation trace", ev),
                    (f"Forward derivative trace ({self.seed_text}; v̇ = ∂v/∂{self.seed_of})", fw)]
        if self.has_adjoint:
            rv = []
            for r in reversed(self.rows):
                expr = r.adjoint_expr
                if len(r.adjoint_terms) > 1:
                    expr += " = " + " + ".join(n(t) for t in r.adjoint_terms)
                rv.append((f"{_mark(r.label, BAR)} = {expr}", n(r.adjoint)))
            title = f"Reverse adjoint trace ({_mark(y, BAR)} = 1; v̄ = ∂{y}/∂v), in the order computed"
            sections.append((title, rv))
        return sections

    def __str__(self) -> str:
        blocks = []
        for title, lines in self._sections():
            width = max(_width(left) for left, _ in lines)
            vwidth = max(len(v) for _, v in lines)
            body = [f"  {_pad(left, width)}   {v.rjust(vwidth)}" for left, v in lines]
            blocks.append("\n".join([title] + body))
        return unicodedata.normalize("NFC", "\n\n".join(blocks))  # ẋ, ȳ precomposed where Unicode has them

    def __repr__(self) -> str:
        return self.__str__()

    # ---- Jupyter: one HTML table, a row per node --------------------------------------------------
    def _repr_html_(self) -> str:
        n = lambda v: html.escape(_num(v, self.digits))  # noqa: E731
        e = html.escape
        head = ("<tr><th rowspan='2'>node</th><th colspan='2'>evaluation trace</th>"
                f"<th colspan='2'>derivative trace ({e(self.seed_text)})</th>"
                + ("<th colspan='2'>adjoint trace (↑ computed bottom-up)</th>" if self.has_adjoint else "")
                + "</tr><tr><th>v</th><th>value</th><th>v̇</th><th>value</th>"
                + ("<th>v̄</th><th>value</th>" if self.has_adjoint else "") + "</tr>")
        body = []
        for r in self.rows:
            expr = e(r.expr) if r.kind == "op" or r.label != r.expr else f"<i>{e(r.kind)}</i>"
            adj = e(r.adjoint_expr)
            if len(r.adjoint_terms) > 1:
                adj += " = " + " + ".join(n(t) for t in r.adjoint_terms)
            cells = [f"<b>{e(r.label)}</b>", expr, n(r.value), e(r.tangent_expr), n(r.tangent)]
            if self.has_adjoint:
                cells += [adj, n(r.adjoint)]
            style = " style='border-top: 2px solid #888'" if r.kind == "op" and r is self._first_op() else ""
            body.append(f"<tr{style}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return unicodedata.normalize("NFC", "<table class='gatelab-trace' style='font-family: monospace'>"
                                     f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table>")

    def _first_op(self) -> Optional[TraceRow]:
        return next((r for r in self.rows if r.kind == "op"), None)


def _seed_map(graph: Graph, leaves: List[Node], seed) -> Dict[int, object]:
    """{leaf id: tangent} from None (the first input), a node, a name or a dict."""
    if seed is None:
        if not leaves:
            raise ValueError("trace: the output depends on no input or parameter, so there is nothing to seed")
        seed = leaves[0]
    if isinstance(seed, (Node, str)):
        seed = {seed: None}
    result = {}
    for key, value in seed.items():
        node = graph[key] if isinstance(key, str) else graph._check(key)
        if node.kind == "op":
            raise ValueError(f"trace: seed '{node.name}' is computed by a gate; seed an input or parameter")
        result[node.id] = np.ones(np.shape(node.value)) if value is None else value
    return result


def trace(graph: Graph, output: Optional[Node] = None, seed=None, *, grad=None,
          numbering: Optional[int] = None, output_name: str = "y", digits: int = 3) -> Trace:
    """The evaluation, forward derivative and reverse adjoint traces of ``output``.

    seed       what v̇ differentiates by: a leaf (or its name) with tangent 1 (ones for an
               array), or a dict {leaf: tangent}. Default: the first input.
    grad       the upstream gradient for an output that is not a single value.
    numbering  None: nodes keep their names (unnamed gates are v1, v2, ...). An integer k:
               every node is shown as v_k, v_(k+1), ... in order, inputs as "v0 = x1".
    output_name  the function's name in the closing line (y = v5).
    digits     decimals shown (the slides use 3).
    """
    out, nodes = output_and_ancestors(graph, output, "trace")
    shown = [n for n in nodes if n.kind != "constant"]
    leaves = [n for n in shown if n.kind in ("input", "parameter") and n.dtype.kind == "f"]
    seeds = _seed_map(graph, leaves, seed)
    graph.jvp(out, {graph._node(i): v for i, v in seeds.items()})
    tangents = {n.id: n.tangent for n in nodes}

    has_adjoint = np.size(out.value) == 1 or grad is not None
    shares: Dict[int, List[object]] = {}
    local_of: Dict[int, List[tuple]] = {}
    if has_adjoint:
        for step in backward_steps(graph, out, grad):
            for edge in step.edges:
                if edge.downstream is not None:
                    shares.setdefault(edge.source.id, []).append(edge.downstream)
                    local_of.setdefault(edge.source.id, []).append((step.node, edge.position))

    labels: Dict[int, str] = {}
    for k, n in enumerate(shown):
        labels[n.id] = n.name if numbering is None else f"v{numbering + k}"

    def label(n: Node) -> str:
        return labels.get(n.id, n.name)

    rows: List[TraceRow] = []
    for n in shown:
        if n.kind == "op":
            gate_name = graph._g.op_name(n.id)
            expr_t, tangent_t, _ = gate_rule(gate_name, n)
            expr, tangent_expr = fill(expr_t, n, label, digits), fill(tangent_t, n, label, digits)
        else:
            expr = n.name  # a leaf: "v0 = x1" when numbered, else just its name
            given = n.id in seeds
            tangent_expr = f"∂{n.name}/∂{n.name}" if given and len(seeds) == 1 else ("seed" if given else "0")
        row = TraceRow(n.name, labels[n.id], n.kind, expr, n.value, tangent_expr, tangents.get(n.id))
        if has_adjoint:
            if n.id == out.id:
                row.adjoint_expr = _mark(output_name, BAR) if output_name != labels[n.id] else "1"
            else:
                terms = []
                for user, pos in local_of.get(n.id, []):
                    local_t = gate_rule(graph._g.op_name(user.id), user)[2][pos]
                    terms.append(f"{_mark(operand(user, label), BAR)} × {fill(local_t, user, label, digits)}")
                row.adjoint_expr = " + ".join(terms) if terms else "0"
            row.adjoint = n.grad
            row.adjoint_terms = shares.get(n.id, [])
        rows.append(row)

    seed_nodes = [graph._node(i) for i in seeds]
    seed_text = ", ".join(f"{_mark(labels[n.id], DOT)} = {_num(seeds[n.id], digits) if n.id in seeds else '0'}"
                          for n in leaves)
    seed_of = seed_nodes[0].name if len(seed_nodes) == 1 else "t (the seed direction)"
    return Trace(rows, labels[out.id], output_name, seed_text, seed_of, has_adjoint, digits)


def lecture_example(x1: float = 2.0, x2: float = 5.0):
    """The lectures' example y = ln x1 + x1 x2 - sin x2, built in the slides' order so the
    gates are v1 = ln x1, v2 = x1 x2, v3 = sin x2, v4 = v1 + v2, v5 = v4 - v3.
    Returns (graph, y); ``graph.trace()`` gives the three tables (11.652, 5.5, 1.716)."""
    g = Graph()
    a = g.input("x1", float(x1))
    b = g.input("x2", float(x2))
    v1 = log(a)
    v2 = a * b
    v3 = sin(b)
    v4 = v1 + v2
    y = v4 - v3
    g.forward()
    return g, y
