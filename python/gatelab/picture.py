"""A scene (scene.py) laid out (layout.py) as a few shapes in pixels: what svg.py writes out and
raster.py paints with matplotlib.

    pic = picture(scene, rankdir="auto", max_width=1000)
    pic.width, pic.height, pic.direction    # "LR" when that fits in max_width, else "TB"
    pic.shapes                              # Rect, Text, Curve, Arrowhead, in drawing order

Text is monospaced, so its width is known without a font library: 0.61 em per character
(DejaVu Sans Mono, Menlo and Consolas all advance about 0.6 em). The sizes are chosen for a
projector: node text 13 px, edge labels 12 px, the title 14 px.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from gatelab.layout import Layout, layered_layout
from gatelab.scene import EDGE_ACTIVE, Scene

__all__ = ["Picture", "Rect", "Text", "Curve", "Arrowhead", "picture", "text_width",
           "NODE_FONT", "LABEL_FONT", "TITLE_FONT", "FONT_FAMILY"]

NODE_FONT, LABEL_FONT, TITLE_FONT = 13.0, 12.0, 14.0
FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace"
EM = 0.61
MARGIN, PAD_X, PAD_Y = 12.0, 10.0, 6.0
EDGE_COLOR, ARROW = "#555555", 9.0


def text_width(text: str, size: float) -> float:
    """Pixels taken by `text` in the monospaced font (combining accents take no room)."""
    return EM * size * sum(1 for ch in text if not unicodedata.combining(ch))


def _line_height(size: float) -> float:
    return round(size * 1.4)


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str = "#333333"
    stroke_width: float = 1.0
    radius: float = 0.0
    role: str = ""           # "node", "node current", "label", for readers of the SVG


@dataclass
class Text:
    x: float
    y: float                 # the baseline
    text: str
    size: float
    color: str = "#111111"
    anchor: str = "start"    # or "middle"
    bold: bool = False
    role: str = ""


@dataclass
class Curve:
    points: List[Tuple[float, float]]   # M p0, then cubic Béziers (3 points each)
    color: str
    width: float
    role: str = "edge"


@dataclass
class Arrowhead:
    points: List[Tuple[float, float]]
    color: str


@dataclass
class Picture:
    width: float
    height: float
    direction: str
    layout: Layout
    shapes: list = field(default_factory=list)


def _box_size(lines: List[str]) -> Tuple[float, float]:
    w = max(text_width(t, NODE_FONT) for t in lines) + 2 * PAD_X
    return max(w, 60.0), 2 * PAD_Y + len(lines) * _line_height(NODE_FONT) + 3


def _label_size(label: str) -> Tuple[float, float]:
    return text_width(label, LABEL_FONT) + 6, _line_height(LABEL_FONT)


def _lay_out(scene: Scene, direction: str, max_across: Optional[float]) -> Layout:
    sizes = {b.id: _box_size(b.lines) for b in scene.boxes}
    edges = [(e.src, e.dst, _label_size(e.label) if e.label else None) for e in scene.edges]
    gap = 44.0 if direction == "TB" else 56.0  # LR: room for the arrows between columns
    return layered_layout(sizes, edges, direction, max_across=max_across, layer_gap=gap)


def _curve(points, tb: bool) -> List[Tuple[float, float]]:
    """A smooth path through the route: each step between layers leaves and arrives along the
    layer axis (as dot draws it); the last point is pulled back to make room for the arrowhead."""
    pts = list(points)
    xb, yb = pts[-1]
    pts[-1] = (xb, yb - ARROW) if tb else (xb - ARROW, yb)
    out = [pts[0]]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if tb:
            m = (y0 + y1) / 2
            out += [(x0, m), (x1, m), (x1, y1)]
        else:
            m = (x0 + x1) / 2
            out += [(m, y0), (m, y1), (x1, y1)]
    return out


def _arrowhead(tip, tb: bool, color: str) -> Arrowhead:
    x, y = tip
    half = ARROW / 2
    if tb:
        return Arrowhead([(x, y), (x - half, y - ARROW), (x + half, y - ARROW)], color)
    return Arrowhead([(x, y), (x - ARROW, y - half), (x - ARROW, y + half)], color)


def picture(scene: Scene, rankdir: str = "auto", max_width: float = 1000.0) -> Picture:
    """The shapes of the scene. rankdir "auto": left to right when that fits in ``max_width``
    pixels, else top to bottom, with layers wrapped that would still be too wide."""
    if rankdir not in ("auto", "LR", "TB"):
        raise ValueError(f"draw: rankdir must be 'auto', 'LR' or 'TB', got {rankdir!r}")
    title_w = max((text_width(t, TITLE_FONT) for t in scene.title), default=0.0)
    title_h = len(scene.title) * _line_height(TITLE_FONT) + (8 if scene.title else 0)
    inner = max_width - 2 * MARGIN
    lay = None
    if rankdir in ("auto", "LR"):
        lay = _lay_out(scene, "LR", None)
        if rankdir == "auto" and lay.width > inner:
            lay = None
    if lay is None:
        lay = _lay_out(scene, "TB", inner)
    tb = lay.direction == "TB"
    width = max(lay.width, title_w) + 2 * MARGIN
    height = lay.height + title_h + 2 * MARGIN
    dx, dy = MARGIN, MARGIN + title_h
    shapes: list = []

    for i, line in enumerate(scene.title):
        shapes.append(Text(MARGIN, MARGIN + (i + 0.75) * _line_height(TITLE_FONT), line, TITLE_FONT,
                           bold=i == 0, role="title"))

    for edge, route in zip(scene.edges, lay.routes):
        color = EDGE_ACTIVE if edge.active else EDGE_COLOR
        pts = [(x + dx, y + dy) for x, y in route.points]
        shapes.append(Curve(_curve(pts, tb), color, 2.2 if edge.active else 1.2))
        shapes.append(_arrowhead(pts[-1], tb, color))
        if edge.label and route.label is not None:
            r = route.label
            shapes.append(Rect(r.x + dx, r.y + dy, r.w, r.h, "#ffffff", stroke="none", stroke_width=0,
                               role="label"))
            shapes.append(Text(r.x + dx + 3, r.y + dy + 0.78 * r.h, edge.label, LABEL_FONT, color=color,
                               role="label"))

    line_h = _line_height(NODE_FONT)
    for box in scene.boxes:
        r = lay.boxes[box.id]
        x, y = r.x + dx, r.y + dy
        role = "node current" if box.current else "node"
        shapes.append(Rect(x, y, r.w, r.h, box.fill, stroke=EDGE_ACTIVE if box.current else "#333333",
                           stroke_width=3.0 if box.current else 1.0, radius=6.0, role=role))
        for i, line in enumerate(box.lines):
            baseline = y + PAD_Y + (i + 0.75) * line_h + (3 if i else 0)
            shapes.append(Text(x + r.w / 2, baseline, line, NODE_FONT, anchor="middle", bold=i == 0 and box.current,
                               role="node-text"))
        sep = y + PAD_Y + line_h + 1.5  # a rule under the header, as a record node has
        shapes.append(Curve([(x, sep), (x, sep), (x + r.w, sep), (x + r.w, sep)], "#999999", 0.8, role="rule"))
    return Picture(width, height, lay.direction, lay, shapes)
