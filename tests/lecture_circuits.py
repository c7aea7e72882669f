"""The circuits the lectures draw (../shared/seeds, notebooks 01 and 02), built as the notebooks
build them, for the drawing tests: each after forward and backward.

CIRCUITS maps a name to a function returning (graph, output).
"""

import gatelab as gl
from gatelab import demo


def _done(g, out, grad=None):
    g.forward()
    g.backward(out, grad=grad)
    return g, out


def add_multiply():
    """f = (x + y) z at (-2, 5, -4)."""
    g = demo.circuit()
    return g, g["f"]


def neuron_named():
    """Notebook 01's logistic neuron: every primitive gate named, as the slide labels them."""
    g = gl.Graph()
    w0, x0 = g.input("w0", 2.0), g.input("x0", -1.0)
    w1, x1 = g.input("w1", -3.0), g.input("x1", -2.0)
    w2 = g.input("w2", -3.0)
    s = (w0 * x0 + w1 * x1 + w2).named("s")
    neg = (-1.0 * s).named("neg")
    e = gl.exp(neg).named("exp")
    d = (1.0 + e).named("denominator")
    return _done(g, gl.reciprocal(d).named("f"))


def neuron_primitive():
    g = demo.neuron(use_sigmoid_gate=False)
    return g, g["f"]


def neuron_sigmoid():
    g = demo.neuron(use_sigmoid_gate=True)
    return g, g["f"]


def logistic_loss_chain():
    """Notebook 01's f1 ... f9 chain for L = -log sigma(theta . x) at theta . x = 6."""
    g = gl.Graph()
    t0, t1, t2 = g.param("θ0", 1.0), g.param("θ1", 1.0), g.param("θ2", 2.0)
    x1, x2 = g.input("x1", 1.0), g.input("x2", 2.0)
    f4 = ((t1 * x1).named("f1") + (t2 * x2).named("f2")).named("f3") + t0
    f8 = gl.reciprocal((1.0 + gl.exp((-1.0 * f4.named("f4")).named("f5")).named("f6")).named("f7")).named("f8")
    return _done(g, (-1.0 * gl.log(f8).named("f9")).named("L"))


def logistic_loss_sigmoid():
    g = gl.Graph()
    s0, s1, s2 = g.param("θ0", 1.0), g.param("θ1", 1.0), g.param("θ2", 2.0)
    z = s0 + s1 * g.input("x1", 1.0) + s2 * g.input("x2", 2.0)
    return _done(g, (-1.0 * gl.log(gl.sigmoid(z))).named("L"))


def logistic_loss_demo():
    g = demo.logistic_loss()
    return g, g["L"]


def trace_example():
    """y = ln x1 + x1 x2 - sin x2 at (2, 5), as gl.lecture_example builds it."""
    g, y = gl.lecture_example()
    return _done(g, y)


def copy_gate():
    g = gl.Graph()
    a = g.input("a", 7.0)
    return _done(g, (4.0 * a + 2.0 * a).named("L"))


def two_examples():
    g = gl.Graph()
    theta = g.param("θ", 1.0)
    L1 = (g.input("x1", 1.0) * theta).named("L1")
    L2 = (g.input("x2", 2.0) * theta).named("L2")
    return _done(g, (L1 + L2).named("L"))


def gate_patterns():
    """add, mul and max with the slide's upstream gradients, in one graph each; here max."""
    g = gl.Graph()
    a, b = g.input("a", 4.0), g.input("b", 5.0)
    return _done(g, gl.maximum(a, b), grad=9.0)


CIRCUITS = {f.__name__: f for f in (add_multiply, neuron_named, neuron_primitive, neuron_sigmoid,
                                     logistic_loss_chain, logistic_loss_sigmoid, logistic_loss_demo,
                                     trace_example, copy_gate, two_examples, gate_patterns)}


def svg_facts(svg):
    """(width in px, height in px, [every font size in px], number of 'node current' boxes) of
    an SVG document, ours or Graphviz's (which counts in points: sizes scale to the width)."""
    import xml.etree.ElementTree as ET

    from gatelab.drawing import svg_size

    root = ET.fromstring(svg)
    width, height = svg_size(svg)
    scale = width / float(root.get("viewBox").split()[2])
    fonts = [float(el.get("font-size")) * scale for el in root.iter() if el.get("font-size")]
    current = sum(1 for el in root.iter() if el.get("class") == "node current")
    return width, height, fonts, current
