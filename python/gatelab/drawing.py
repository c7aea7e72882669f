"""Drawing a graph: DOT text, rendered by Graphviz's ``dot`` or, without it, by matplotlib.

    print(g.to_dot())         # DOT: one box per node with its op, value and gradient
    g.draw()                  # a Drawing; Jupyter shows it (SVG)
    g.draw(step=2)            # the 3rd gate backward visits: the node being processed, and on
                              # each input edge upstream × local = downstream, with the gate's
                              # pattern (add distributes, multiply swaps, max routes, copy adds)
    g.draw().save("graph.svg")

Gradients are those of the last backward pass (run ``g.backward`` first); arrays are
summarised by shape and norm. ``draw`` uses ``dot`` when it is on the PATH
(Debian: apt-get install graphviz) and matplotlib otherwise, with the same boxes laid out in
layers by topological depth; ``engine="dot"`` or ``"matplotlib"`` chooses explicitly. At a
step, gradients show their value so far (what backward has accumulated up to that step);
boxes already processed are shaded.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from gatelab.graph import Graph, Node
from gatelab.rules import expression
from gatelab.steps import BackwardStep, backward_steps, grads_after, output_and_ancestors

__all__ = ["to_dot", "draw", "Drawing"]

_FILL_CURRENT, _FILL_DONE, _FILL_LEAF, _FILL_OP = "#ffd27f", "#e3e9f2", "#eef7ee", "#ffffff"
_EDGE_ACTIVE = "#c0392b"


def _brief(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    a = np.asarray(v, dtype=np.float64)
    if a.size == 1:
        return f"{float(a.reshape(())):.{digits}g}"
    return f"{a.shape} |.|={np.linalg.norm(a):.{digits}g}"


@dataclass
class _Box:
    id: int
    lines: List[str]
    fill: str
    bold: bool = False


@dataclass
class _Edge:
    src: int
    dst: int
    label: str = ""
    active: bool = False


@dataclass
class _Scene:
    """What to draw, independent of the renderer."""

    boxes: List[_Box]
    edges: List[_Edge]
    title: str = ""
    layers: Dict[int, int] = field(default_factory=dict)


def _scene(graph: Graph, output: Optional[Node], step: Optional[int], digits: int) -> _Scene:
    out, nodes = output_and_ancestors(graph, output, "draw")
    grads: Dict[int, object] = {}
    current: Optional[BackwardStep] = None
    done: set = set()
    pending: set = set()  # nodes whose gradient later steps still add to
    title = ""
    if step is not None:
        steps = backward_steps(graph, out)
        if not steps:
            raise ValueError("draw: backward visits no gate here (nothing requires a gradient)")
        k = step + len(steps) if step < 0 else step
        if not 0 <= k < len(steps):
            raise ValueError(f"draw: step must be in 0..{len(steps) - 1} (backward visits {len(steps)} gates), "
                             f"got {step}")
        current = steps[k]
        grads = grads_after(steps, k, out)
        done = {s.node.id for s in steps[:k]}
        pending = {e.source.id for s in steps[k + 1:] for e in s.edges if e.downstream is not None}
        title = (f"backward step {k + 1} of {len(steps)}: node '{current.node.name}' "
                 f"({graph._g.op(current.node.id)}). {current.pattern}")
    else:  # the gradients of the last backward pass, if any
        grads = {n.id: n.grad for n in nodes if n.grad is not None}

    layers: Dict[int, int] = {}
    boxes = []
    for n in nodes:
        layers[n.id] = 0 if n.kind != "op" else 1 + max(layers[i.id] for i in n.inputs)
        header = n.name if n.kind != "op" else f"{n.name} = {expression(graph, n, digits=digits)}"
        if n.kind != "op":
            header += f" ({n.kind})"
        lines = [header, f"value {_brief(n.value, digits)}"]
        if n.kind != "constant":
            g = grads.get(n.id)
            lines.append(f"grad{' so far' if n.id in pending and g is not None else ''} {_brief(g, digits)}")
        if current is not None and n.id == current.node.id:
            fill = _FILL_CURRENT
        elif n.id in done:
            fill = _FILL_DONE
        else:
            fill = _FILL_LEAF if n.kind != "op" else _FILL_OP
        boxes.append(_Box(n.id, lines, fill, bold=current is not None and n.id == current.node.id))

    edges = []
    flows = {(e.source.id, e.position): e for e in current.edges} if current is not None else {}
    for n in nodes:
        for pos, src in enumerate(n.inputs):
            label, active = "", False
            if current is not None and n.id == current.node.id:
                active = True
                e = flows[(src.id, pos)]
                if e.downstream is None:
                    label = "no gradient"
                elif e.local is not None:
                    up, local, down = (_brief(v, digits) for v in (e.upstream, e.local, e.downstream))
                    label = f"{up} × {local} = {down}"
                else:
                    label = f"J^T·upstream = {_brief(e.downstream, digits)}"
                if e.uses > 1 and e.downstream is not None:
                    label += f" (+= one of {e.uses} uses)"
            edges.append(_Edge(src.id, n.id, label, active))
    return _Scene(boxes, edges, title, layers)


# ---- DOT -------------------------------------------------------------------------------------

def _dot_escape(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    for ch in "{}|<>":
        out = out.replace(ch, "\\" + ch)
    return out


def _dot_title(text: str) -> str:
    """A long title as left-justified lines (\\l ends each line in DOT)."""
    return "".join(_dot_escape(line) + "\\l" for line in _wrap(text, 100).splitlines())


def _scene_dot(scene: _Scene, rankdir: str) -> str:
    lines = ["digraph gatelab {", f'  graph [rankdir={rankdir}, fontname="Helvetica", fontsize=11'
             + (f', labelloc=t, labeljust=l, label="{_dot_title(scene.title)}"' if scene.title else "") + "];",
             '  node [shape=record, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for b in scene.boxes:
        label = "{" + " | ".join(_dot_escape(t) for t in b.lines) + "}"
        extra = ", penwidth=2.5" if b.bold else ""
        lines.append(f'  n{b.id} [label="{label}", fillcolor="{b.fill}"{extra}];')
    for e in scene.edges:
        attrs = []
        if e.label:
            attrs.append(f'label="{_dot_escape(e.label)}"')
        if e.active:
            attrs.append(f'color="{_EDGE_ACTIVE}", fontcolor="{_EDGE_ACTIVE}", penwidth=2, dir=both, arrowtail=dot')
        lines.append(f"  n{e.src} -> n{e.dst}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph, output: Optional[Node] = None, step: Optional[int] = None, *, rankdir: str = "LR",
           digits: int = 4) -> str:
    """DOT text of the graph up to ``output`` (see the module docstring)."""
    return _scene_dot(_scene(graph, output, step, digits), rankdir)


# ---- rendering -------------------------------------------------------------------------------

class Drawing:
    """A rendered graph: ``svg`` text (both engines), ``figure`` (matplotlib engine), ``dot``
    source. Jupyter displays it; ``save(path)`` writes .svg (or, with matplotlib, .png/.pdf)."""

    def __init__(self, dot: str, engine: str, svg: Optional[str] = None, figure=None):
        self.dot, self.engine, self.svg, self.figure = dot, engine, svg, figure

    def _repr_svg_(self) -> Optional[str]:
        return self.svg

    def _repr_png_(self) -> Optional[bytes]:
        if self.figure is None:
            return None
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", bbox_inches="tight", dpi=100)
        return buf.getvalue()

    def save(self, path: str) -> None:
        if self.figure is not None and not str(path).endswith(".svg"):
            self.figure.savefig(path, bbox_inches="tight")
            return
        if not str(path).endswith(".svg"):
            raise ValueError(f"Drawing.save: the {self.engine} drawing is SVG; save it as .svg (got {path})")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.svg or "")

    def __repr__(self) -> str:
        return f"<gatelab Drawing ({self.engine}), {self.dot.count('->')} edges>"


def _render_dot(dot_text: str, exe: str) -> str:
    done = subprocess.run([exe, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed ({done.returncode}): {done.stderr.strip()[:500]}")
    return done.stdout


def _render_matplotlib(scene: _Scene):
    """Boxes in columns by topological depth, arrows between them: no system binary needed."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    by_layer: Dict[int, List[_Box]] = {}
    for b in scene.boxes:
        by_layer.setdefault(scene.layers[b.id], []).append(b)
    n_layers = max(by_layer) + 1
    tallest = max(len(v) for v in by_layer.values())
    chars = max(max(len(t) for t in b.lines) for b in scene.boxes)
    box_w, line_h = max(2.2, 0.11 * chars), 0.32
    box_h = line_h * max(len(b.lines) for b in scene.boxes) + 0.2
    longest_label = max((len(e.label) for e in scene.edges), default=0)
    gap_x, gap_y = box_w + max(2.2, 0.085 * longest_label), box_h + 0.6
    pos: Dict[int, Tuple[float, float]] = {}
    for layer, boxes in by_layer.items():
        offset = (tallest - len(boxes)) * gap_y / 2
        for row, b in enumerate(boxes):
            pos[b.id] = (layer * gap_x, -(offset + row * gap_y))
    fig = Figure(figsize=(min(2 + 2.0 * gap_x * n_layers / 2.6, 40), min(1.5 + tallest * gap_y / 1.3, 30)))
    ax = fig.add_subplot(111)
    ax.set_axis_off()
    for b in scene.boxes:
        x, y = pos[b.id]
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.05",
                                    facecolor=b.fill, edgecolor="black", linewidth=2.5 if b.bold else 1))
        ax.text(x, y, "\n".join(b.lines), ha="center", va="center", fontsize=8, family="monospace",
                fontweight="bold" if b.bold else "normal")
    for e in scene.edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        x0, x1 = x0 + box_w / 2, x1 - box_w / 2  # from the source's right edge to the target's left edge
        color = _EDGE_ACTIVE if e.active else "#555555"
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12,
                                     color=color, linewidth=2 if e.active else 1, connectionstyle="arc3,rad=0.05"))
        if e.label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.1, e.label, ha="center", va="bottom", fontsize=7,
                    color=color, bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - box_w, max(xs) + box_w)
    ax.set_ylim(min(ys) - box_h, max(ys) + box_h)
    if scene.title:
        ax.set_title(_wrap(scene.title, 110), fontsize=9, loc="left")
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def draw(graph: Graph, output: Optional[Node] = None, step: Optional[int] = None, *, engine: str = "auto",
         rankdir: str = "LR", digits: int = 4) -> Drawing:
    """Renders the graph (see the module docstring). engine: 'auto' (dot if on the PATH, else
    matplotlib), 'dot' or 'matplotlib'."""
    if engine not in ("auto", "dot", "matplotlib"):
        raise ValueError(f"draw: engine must be 'auto', 'dot' or 'matplotlib', got {engine!r}")
    scene = _scene(graph, output, step, digits)
    dot_text = _scene_dot(scene, rankdir)
    exe = shutil.which("dot") if engine in ("auto", "dot") else None
    if engine == "dot" and exe is None:
        raise RuntimeError("draw(engine='dot'): Graphviz's dot is not on the PATH (Debian: apt-get install "
                           "graphviz); engine='auto' falls back to matplotlib")
    if exe is not None:
        try:
            return Drawing(dot_text, "dot", svg=_render_dot(dot_text, exe))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            if engine == "dot":
                raise
            warnings.warn(f"draw: {err}; drawing with matplotlib instead", stacklevel=2)
    fig = _render_matplotlib(scene)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return Drawing(dot_text, "matplotlib", svg=buf.getvalue(), figure=fig)
