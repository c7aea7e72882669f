"""PNG from a drawing, with whichever renderer the machine has, best first:

1. Graphviz's ``dot -Tpng`` for a drawing Graphviz laid out (the same picture, rasterised);
2. cairosvg (``pip install cairosvg``), then librsvg's ``rsvg-convert`` (Debian: librsvg2-bin),
   which rasterise the SVG exactly;
3. matplotlib, which paints the same shapes (``figure(picture)``, also the matplotlib engine);
4. ``dot -Tpng`` of the DOT text for a built-in drawing (Graphviz's own layout of the same boxes).

With none of them, ``png_bytes`` raises NoRenderer, naming what to install. SVG needs none.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from typing import Optional

from gatelab.install_hints import PNG_RENDERERS

__all__ = ["NoRenderer", "png_bytes", "figure", "dot_output"]

INSTALL_HINT = PNG_RENDERERS


class NoRenderer(RuntimeError):
    """No PNG renderer is installed."""


def dot_output(dot_text: str, fmt: str, exe: Optional[str] = None):
    """Graphviz's rendering of the DOT text (fmt 'svg' gives text, 'png' bytes)."""
    exe = exe or shutil.which("dot")
    if exe is None:
        raise RuntimeError("Graphviz's dot is not on the PATH")
    done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()[:500]}")
    return done.stdout.decode("utf-8") if fmt == "svg" else done.stdout


def _cairosvg(svg: str) -> Optional[bytes]:
    try:
        import cairosvg
    except (ImportError, OSError):  # OSError: the module is there, the cairo library is not
        return None
    return cairosvg.svg2png(bytestring=svg.encode("utf-8"))


def _rsvg(svg: str) -> Optional[bytes]:
    exe = shutil.which("rsvg-convert")
    if exe is None:
        return None
    done = subprocess.run([exe, "-f", "png"], input=svg.encode("utf-8"), capture_output=True, timeout=60)
    return done.stdout if done.returncode == 0 and done.stdout else None


def figure(pic):
    """A matplotlib Figure painting the picture's shapes at 100 dpi (1 pixel = 1 pixel)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, PathPatch, Polygon, Rectangle
    from matplotlib.path import Path

    from gatelab.picture import Arrowhead, Curve, Rect, Text

    pt = 72 / 100  # points per pixel at 100 dpi
    fig = Figure(figsize=(pic.width / 100, pic.height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, pic.width)
    ax.set_ylim(pic.height, 0)  # SVG's y axis points down
    ax.set_axis_off()
    for s in pic.shapes:
        if isinstance(s, Rect):
            style = dict(facecolor=s.fill, edgecolor="none" if s.stroke == "none" else s.stroke,
                         linewidth=s.stroke_width * pt)
            if s.radius:
                ax.add_patch(FancyBboxPatch((s.x, s.y), s.w, s.h, boxstyle=f"round,pad=0,rounding_size={s.radius}",
                                            **style))
            else:
                ax.add_patch(Rectangle((s.x, s.y), s.w, s.h, **style))
        elif isinstance(s, Text):
            ax.text(s.x, s.y, s.text, fontsize=s.size * pt, family="monospace", color=s.color,
                    ha="center" if s.anchor == "middle" else "left", va="baseline",
                    fontweight="bold" if s.bold else "normal")
        elif isinstance(s, Curve):
            codes = [Path.MOVETO] + [Path.CURVE4] * (len(s.points) - 1)
            ax.add_patch(PathPatch(Path(s.points, codes), fill=False, edgecolor=s.color, linewidth=s.width * pt))
        elif isinstance(s, Arrowhead):
            ax.add_patch(Polygon(s.points, closed=True, facecolor=s.color, edgecolor="none"))
    return fig


def _matplotlib(pic) -> Optional[bytes]:
    if pic is None:
        return None
    try:
        fig = figure(pic)
    except ImportError:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def png_bytes(drawing) -> bytes:
    """The drawing as PNG (see the module docstring for the order renderers are tried in)."""
    if drawing.engine == "dot" and shutil.which("dot"):
        return dot_output(drawing.dot, "png")
    if drawing.figure is not None:
        buf = io.BytesIO()
        drawing.figure.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    for render in (lambda: _cairosvg(drawing.svg), lambda: _rsvg(drawing.svg),
                   lambda: _matplotlib(drawing.picture)):
        png = render()
        if png:
            return png
    if shutil.which("dot"):
        return dot_output(drawing.dot, "png")
    raise NoRenderer(f"Drawing.save: no PNG renderer is installed here; {INSTALL_HINT}")
