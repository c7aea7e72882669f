"""Drawing a graph: DOT text for Graphviz, or the built-in SVG renderer when Graphviz is absent.

    print(g.to_dot())         # DOT: one box per node with its formula, value and gradient
    g.draw()                  # a Drawing; Jupyter shows it (SVG)
    g.draw(step=2)            # the 3rd gate backward visits: the node being processed, and on
                              # each input edge upstream × local = downstream, with the gate's
                              # pattern (add distributes, multiply swaps, max routes, copy adds)
    g.draw().save("graph.svg")   # or .png, where a PNG renderer exists (see raster.py)

Gradients are those of the last backward pass (run ``g.backward`` first); arrays are
summarised by shape and norm. At a step, gradients show their value so far (what backward has
accumulated up to that step); boxes already processed are shaded.

engine: "auto" uses Graphviz's ``dot`` when it is on the PATH (Debian: apt-get install
graphviz; it draws the best-looking graphs) and the built-in renderer otherwise ("svg": a
layered layout in pure Python, layout.py, so ``pip install`` of the wheel is all a drawing
needs); "matplotlib" paints the built-in layout into a matplotlib figure (``drawing.figure``).
rankdir: "auto" lays the graph out left to right when that fits in ``max_width`` pixels (a
notebook cell), else top to bottom, where the built-in renderer also wraps layers that are still
too wide. ``scale`` resizes the picture on the page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from typing import Optional, Tuple

from gatelab import raster
from gatelab.graph import Graph, Node
from gatelab.picture import Picture, picture
from gatelab.scene import EDGE_ACTIVE, Scene, build_scene
from gatelab.scene import brief as _brief  # noqa: F401  (tests and older callers import it from here)
from gatelab.svg import to_svg

__all__ = ["to_dot", "draw", "Drawing"]

ENGINES = ("auto", "dot", "svg", "matplotlib")


# ---- DOT -------------------------------------------------------------------------------------

def _dot_escape(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    for ch in "{}|<>":
        out = out.replace(ch, "\\" + ch)
    return out


def _scene_dot(scene: Scene, rankdir: str) -> str:
    # A record's fields run across the rank direction: top to bottom needs them in braces.
    open_, close = ("{", "}") if rankdir == "TB" else ("", "")
    title = "".join(_dot_escape(line) + "\\l" for line in scene.title)  # \l: a left-justified line
    lines = ["digraph gatelab {", f'  graph [rankdir={rankdir}, fontname="Helvetica", fontsize=11'
             + (f', labelloc=t, labeljust=l, label="{title}"' if title else "") + "];",
             '  node [shape=record, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9.5];']
    for b in scene.boxes:
        label = open_ + " | ".join(_dot_escape(t) for t in b.lines) + close
        extra = f', penwidth=2.5, color="{EDGE_ACTIVE}", class="current"' if b.current else ""
        lines.append(f'  n{b.id} [label="{label}", fillcolor="{b.fill}"{extra}];')
    for e in scene.edges:
        attrs = []
        if e.label:
            attrs.append(f'label="{_dot_escape(e.label)}"')
        if e.active:
            attrs.append(f'color="{EDGE_ACTIVE}", fontcolor="{EDGE_ACTIVE}", penwidth=2, dir=both, arrowtail=dot')
        lines.append(f"  n{e.src} -> n{e.dst}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _direction(scene: Scene, rankdir: str, max_width: float) -> str:
    """LR or TB: for "auto", the built-in layout's answer to "does left to right fit?"."""
    if rankdir in ("LR", "TB"):
        return rankdir
    return picture(scene, rankdir, max_width).direction


def to_dot(graph: Graph, output: Optional[Node] = None, step: Optional[int] = None, *, rankdir: str = "auto",
           digits: int = 4, max_width: float = 1000) -> str:
    """DOT text of the graph up to ``output`` (see the module docstring)."""
    scene = build_scene(graph, output, step, digits)
    return _scene_dot(scene, _direction(scene, rankdir, max_width))


# ---- the drawing -----------------------------------------------------------------------------

def svg_size(svg: str) -> Optional[Tuple[float, float]]:
    """(width, height) in CSS pixels from the <svg> element (Graphviz writes points: 1 pt = 4/3 px)."""
    head = re.search(r"<svg\b[^>]*>", svg or "")
    if head is None:
        return None
    size = []
    for attr in ("width", "height"):
        m = re.search(rf'\b{attr}="([\d.]+)(pt|px)?"', head.group(0))
        if m is None:
            return None
        size.append(float(m.group(1)) * (4 / 3 if m.group(2) == "pt" else 1.0))
    return size[0], size[1]


def _scaled(svg: str, scale: float) -> str:
    """The SVG shown `scale` times larger: only the page size changes, not the viewBox."""
    head = re.search(r"<svg\b[^>]*>", svg)
    if scale == 1.0 or head is None:
        return svg
    new_head = re.sub(r'\b(width|height)="([\d.]+)(pt|px)?"',
                      lambda m: f'{m.group(1)}="{float(m.group(2)) * scale:.1f}{m.group(3) or ""}"', head.group(0))
    return svg[:head.start()] + new_head + svg[head.end():]


class Drawing:
    """A rendered graph: ``svg`` text, the ``dot`` source, the ``engine`` that drew it, and for
    the built-in engines its ``picture`` (shapes in pixels); ``figure`` with engine="matplotlib".
    Jupyter displays it; ``save(path)`` writes .svg always and .png where a renderer exists."""

    def __init__(self, dot: str, engine: str, svg: Optional[str] = None, figure=None,
                 picture: Optional[Picture] = None):
        self.dot, self.engine, self.svg, self.figure, self.picture = dot, engine, svg, figure, picture

    @property
    def size(self) -> Optional[Tuple[float, float]]:
        """(width, height) in pixels as a notebook shows it."""
        return svg_size(self.svg)

    def _repr_svg_(self) -> Optional[str]:
        return self.svg

    def _repr_png_(self) -> Optional[bytes]:
        return raster.png_bytes(self) if self.figure is not None else None

    def save(self, path) -> None:
        """.svg: the SVG text. .png: rasterised (raster.py names what to install if nothing can).
        With engine="matplotlib", any format the figure's savefig knows (.pdf, ...)."""
        path = str(path)
        suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        if suffix == "svg":
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.svg or "")
        elif suffix == "png":
            data = raster.png_bytes(self)
            with open(path, "wb") as f:
                f.write(data)
        elif self.figure is not None:
            self.figure.savefig(path)
        else:
            raise ValueError(f"Drawing.save: save as .svg or .png (got {path})")

    def __repr__(self) -> str:
        size = self.size
        shown = f", {size[0]:.0f}×{size[1]:.0f} px" if size else ""
        return f"<gatelab Drawing ({self.engine}), {self.dot.count('->')} edges{shown}>"


def _with_dot(scene: Scene, exe: str, rankdir: str, max_width: float) -> Tuple[str, str]:
    """Graphviz's drawing; for "auto", top to bottom when its left-to-right one is too wide."""
    direction = _direction(scene, rankdir, max_width)
    dot_text = _scene_dot(scene, direction)
    svg = raster.dot_output(dot_text, "svg", exe)
    size = svg_size(svg)
    if rankdir == "auto" and direction == "LR" and size is not None and size[0] > max_width:
        dot_text = _scene_dot(scene, "TB")
        svg = raster.dot_output(dot_text, "svg", exe)
    return dot_text, svg


def draw(graph: Graph, output: Optional[Node] = None, step: Optional[int] = None, *, engine: str = "auto",
         rankdir: str = "auto", digits: int = 4, max_width: float = 1000, scale: float = 1.0) -> Drawing:
    """Renders the graph (see the module docstring). engine: 'auto' (dot if on the PATH, else
    the built-in SVG), 'dot', 'svg' or 'matplotlib'."""
    if engine not in ENGINES:
        raise ValueError(f"draw: engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    if rankdir not in ("auto", "LR", "TB"):
        raise ValueError(f"draw: rankdir must be 'auto', 'LR' or 'TB', got {rankdir!r}")
    scene = build_scene(graph, output, step, digits)
    exe = shutil.which("dot") if engine in ("auto", "dot") else None
    if engine == "dot" and exe is None:
        raise RuntimeError("draw(engine='dot'): Graphviz's dot is not on the PATH (Debian: apt-get install "
                           "graphviz); engine='auto' draws with the built-in SVG renderer instead")
    if exe is not None:
        try:
            dot_text, svg = _with_dot(scene, exe, rankdir, max_width)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            if engine == "dot":
                raise
            warnings.warn(f"draw: {err}; drawing with the built-in SVG renderer instead", stacklevel=2)
        else:
            size = svg_size(svg)
            if engine == "dot" or size is None or size[0] <= max_width:
                return Drawing(dot_text, "dot", svg=_scaled(svg, scale))
            # still too wide for a notebook cell: the built-in layout can wrap its layers
    pic = picture(scene, rankdir, max_width)
    dot_text = _scene_dot(scene, pic.direction)
    fig = raster.figure(pic) if engine == "matplotlib" else None
    return Drawing(dot_text, "matplotlib" if fig is not None else "svg", svg=to_svg(pic, scale), figure=fig,
                   picture=pic)
