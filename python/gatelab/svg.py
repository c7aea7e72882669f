"""A picture (picture.py) as SVG text, which Jupyter shows inline and every browser opens.

Plain attributes only, no <style> element: an inline SVG's CSS would restyle the notebook page
around it. Each element carries a class (node, node current, label, title, edge) so a reader
or a test can find the boxes and the gate a backward step is processing.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from gatelab.picture import FONT_FAMILY, Arrowhead, Curve, Picture, Rect, Text

__all__ = ["to_svg"]


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _element(shape) -> str:
    if isinstance(shape, Rect):
        return (f'<rect class="{shape.role}" x="{_num(shape.x)}" y="{_num(shape.y)}" width="{_num(shape.w)}" '
                f'height="{_num(shape.h)}" rx="{_num(shape.radius)}" fill="{shape.fill}" stroke="{shape.stroke}" '
                f'stroke-width="{_num(shape.stroke_width)}"/>')
    if isinstance(shape, Text):
        weight = ' font-weight="bold"' if shape.bold else ""
        return (f'<text class="{shape.role}" x="{_num(shape.x)}" y="{_num(shape.y)}" font-size="{_num(shape.size)}" '
                f'text-anchor="{shape.anchor}" fill="{shape.color}"{weight}>{escape(shape.text)}</text>')
    if isinstance(shape, Curve):
        (x0, y0), rest = shape.points[0], shape.points[1:]
        d = f"M{_num(x0)},{_num(y0)}" + "".join(
            " C" + " ".join(f"{_num(x)},{_num(y)}" for x, y in rest[i:i + 3]) for i in range(0, len(rest), 3))
        return (f'<path class="{shape.role}" d="{d}" fill="none" stroke="{shape.color}" '
                f'stroke-width="{_num(shape.width)}"/>')
    if isinstance(shape, Arrowhead):
        pts = " ".join(f"{_num(x)},{_num(y)}" for x, y in shape.points)
        return f'<polygon class="arrow" points="{pts}" fill="{shape.color}"/>'
    raise TypeError(f"svg: no element for a {type(shape).__name__}")


def to_svg(pic: Picture, scale: float = 1.0) -> str:
    """The SVG document; ``scale`` resizes it on the page (the drawing inside is the same)."""
    w, h = pic.width, pic.height
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(w * scale)}" height="{_num(h * scale)}" '
            f'viewBox="0 0 {_num(w)} {_num(h)}" font-family="{FONT_FAMILY}">')
    body = [f'<rect width="{_num(w)}" height="{_num(h)}" fill="#ffffff"/>']
    body += [_element(s) for s in pic.shapes]
    return "\n".join([head, *body, "</svg>"]) + "\n"
