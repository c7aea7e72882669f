"""What a drawing of a graph shows, before anyone draws it: boxes, edges and a title.

    scene = build_scene(g, output, step=None, digits=4)
    scene.boxes      # one per node: its lines ("v2 = x1 × x2", "value 10", "grad 1") and fill
    scene.edges      # one per gate input; at a backward step, the gate's inputs carry
                     # "upstream × local = downstream"
    scene.title      # lines, each a clause ("backward step 4 of 5: ...", "multiply swaps: ...")

Both renderers (Graphviz's DOT in drawing.py, the built-in SVG in picture.py) draw this.
An unnamed scalar constant (the 2.0 of ``2.0 * x``) gets no box: it shows by value inside the
formula of the gate that uses it ("v7 = 1 + v6"), as the slides write "+1" and "×-1".
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from gatelab.graph import Graph, Node, _inline_constant
from gatelab.rules import expression, fill, fmt_number, gate_rule
from gatelab.steps import (_PATTERNS, BackwardStep, backward_steps, gate_pattern, grads_after,
                           output_and_ancestors)

__all__ = ["Box", "Edge", "Scene", "build_scene", "brief", "clause_lines",
           "FILL_CURRENT", "FILL_DONE", "FILL_LEAF", "FILL_OP", "EDGE_ACTIVE"]

FILL_CURRENT, FILL_DONE, FILL_LEAF, FILL_OP = "#ffd27f", "#e3e9f2", "#eef7ee", "#ffffff"
EDGE_ACTIVE = "#c0392b"
TITLE_WIDTH = 90  # characters: a title line stays well inside a 1,000 px notebook cell


def brief(v, digits: int = 4) -> str:
    """A number with `digits` significant digits; an array by its shape and norm."""
    if v is None:
        return "-"
    a = np.asarray(v, dtype=np.float64)
    if a.size == 1:
        return f"{float(a.reshape(())):.{digits}g}"
    return f"{a.shape} |.|={np.linalg.norm(a):.{digits}g}"


@dataclass
class Box:
    id: int
    lines: List[str]
    fill: str
    current: bool = False  # the gate a backward step is processing


@dataclass
class Edge:
    src: int
    dst: int
    label: str = ""
    active: bool = False  # an input edge of the current gate


@dataclass
class Scene:
    boxes: List[Box]
    edges: List[Edge]
    title: List[str] = field(default_factory=list)


def _unnamed_constant(n: Node) -> bool:
    return n.kind == "constant" and re.fullmatch(r"const\d+", n.name) is not None


def _label(n: Node) -> str:
    """How a node is called in the drawing: an unnamed array constant by its value (small) or
    its shape, since its internal name (const9) means nothing to a reader."""
    if not _unnamed_constant(n):
        return n.name
    value = np.asarray(n.value)
    return fmt_number(value) if value.size <= 4 else f"constant {value.shape}"


def _header(graph: Graph, n: Node, digits: int) -> str:
    if n.kind == "op":
        return f"{n.name} = {expression(graph, n, label=_label, digits=digits)}"
    if _unnamed_constant(n):
        return _label(n)
    return f"{n.name} ({n.kind})"


def _split_outside_parens(text: str, separators=(": ", ", ")) -> List[str]:
    """Pieces of `text` cut after each separator that is not inside (...) or [...], so a
    formula like max(a, b) or ∂f/∂x = [x > y] is never cut."""
    pieces, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text[i] in "([":
            depth += 1
        elif text[i] in ")]":
            depth -= 1
        sep = next((s for s in separators if depth == 0 and text.startswith(s, i)), None)
        if sep:
            pieces.append(text[start:i + len(sep)])
            start = i = i + len(sep)
            continue
        i += 1
    pieces.append(text[start:])
    return [p for p in pieces if p]


def clause_lines(clauses: List[str], width: int = TITLE_WIDTH) -> List[str]:
    """Each clause on its own line; a clause wider than `width` breaks after a ': ' or ', '
    outside parentheses, and only a single piece still too wide breaks between words."""
    lines: List[str] = []

    def flush(line: str) -> None:
        line = line.rstrip()
        lines.extend(textwrap.wrap(line, width) if len(line) > width else [line] if line else [])

    for clause in clauses:
        line = ""
        for piece in _split_outside_parens(clause):
            if line and len(line) + len(piece.rstrip()) > width:
                flush(line)
                line = ""
            line += piece
        flush(line)
    return lines


def _step_title(graph: Graph, step: BackwardStep, k: int, total: int) -> List[str]:
    node = step.node
    rule = gate_rule(step.gate_name, node)
    locals_ = []
    for e in step.edges:
        name, value = f"∂{node.name}/∂{e.source.name}", fill(rule.locals[e.position], node, label=_label)
        if e.downstream is not None and value != name:  # a gate without a rule says only ∂v/∂x = ∂v/∂x
            locals_.append(f"{name} = {value}")
    pattern = gate_pattern(step.gate_name, step.edges)  # the locals go on a line of their own
    clauses = [f"backward step {k + 1} of {total}: node '{node.name}' ({graph._g.op(node.id)})"]
    gate, *copies = pattern.split("; ")
    clauses.append(gate)
    if locals_ and step.gate_name not in _PATTERNS:  # a named pattern says it in words already
        clauses.append(f"local derivative{'s' if len(locals_) > 1 else ''}: " + ", ".join(locals_))
    return clause_lines(clauses + copies)


def _edge_label(flow, digits: int) -> str:
    if flow.downstream is None:
        return "no gradient"
    if flow.local is not None:
        up, local, down = (brief(v, digits) for v in (flow.upstream, flow.local, flow.downstream))
        label = f"{up} × {local} = {down}"
    else:
        label = f"J^T·upstream = {brief(flow.downstream, digits)}"
    if flow.uses > 1:
        label += f" (+= one of {flow.uses} uses)"
    return label


def build_scene(graph: Graph, output: Optional[Node], step: Optional[int], digits: int = 4) -> Scene:
    """The scene of the graph up to `output`; at ``step`` k, the k-th gate backward visits, with
    the gradients accumulated so far (negative k counts from the end)."""
    out, nodes = output_and_ancestors(graph, output, "draw")
    current: Optional[BackwardStep] = None
    done: set = set()
    pending: set = set()  # nodes whose gradient later steps still add to
    title: List[str] = []
    if step is not None:
        steps = backward_steps(graph, out)
        if not steps:
            raise ValueError("draw: backward visits no gate here (nothing requires a gradient)")
        k = step + len(steps) if step < 0 else step
        if not 0 <= k < len(steps):
            raise ValueError(f"draw: step must be in 0..{len(steps) - 1} (backward visits {len(steps)} gates), "
                             f"got {step}")
        current = steps[k]
        grads: Dict[int, object] = grads_after(steps, k, out)
        done = {s.node.id for s in steps[:k]}
        pending = {e.source.id for s in steps[k + 1:] for e in s.edges if e.downstream is not None}
        title = _step_title(graph, current, k, len(steps))
    else:  # the gradients of the last backward pass, if any
        grads = {n.id: n.grad for n in nodes if n.grad is not None}

    shown = [n for n in nodes if not _inline_constant(n)]
    boxes = []
    for n in shown:
        lines = [_header(graph, n, digits), f"value {brief(n.value, digits)}"]
        if n.kind != "constant":
            g = grads.get(n.id)
            lines.append(f"grad{' so far' if n.id in pending and g is not None else ''} {brief(g, digits)}")
        is_current = current is not None and n.id == current.node.id
        if is_current:
            fill_ = FILL_CURRENT
        elif n.id in done:
            fill_ = FILL_DONE
        else:
            fill_ = FILL_LEAF if n.kind != "op" else FILL_OP
        boxes.append(Box(n.id, lines, fill_, current=is_current))

    edges = []
    flows = {(e.source.id, e.position): e for e in current.edges} if current is not None else {}
    for n in shown:
        for pos, src in enumerate(n.inputs):
            if _inline_constant(src):
                continue
            active = current is not None and n.id == current.node.id
            label = _edge_label(flows[(src.id, pos)], digits) if active else ""
            edges.append(Edge(src.id, n.id, label, active))
    return Scene(boxes, edges, title)
