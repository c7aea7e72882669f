"""Drawing: to_dot text, rendering with Graphviz's dot, with the built-in SVG renderer and with
matplotlib, the backward step view, saving, and what every lecture drawing must be: inside a
notebook cell (<= 1,000 px wide), readable (text >= 12 px), constants by value.

The logistic neuron is the lecture's (seed 002): w0 = 2, x0 = -1, w1 = -3, x1 = -2, w2 = -3,
output 0.73, gradients w0 -0.20, x0 0.39, w1 -0.39, x1 -0.59, w2 0.20.
"""

import re
import shutil
import stat
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import gatelab as gl
from gatelab import raster
from gatelab.drawing import _brief
from gatelab.scene import build_scene, clause_lines
from gatelab.steps import grads_after
from lecture_circuits import CIRCUITS, svg_facts
from random_graphs import random_graph


def logistic_neuron():
    g = gl.Graph()
    w0, x0 = g.param("w0", 2.0), g.input("x0", -1.0)
    w1, x1 = g.param("w1", -3.0), g.input("x1", -2.0)
    w2 = g.param("w2", -3.0)
    f = gl.reciprocal(1.0 + gl.exp(-(w0 * x0 + w1 * x1 + w2))).named("f")
    g.forward()
    g.backward(f)
    return g, f


def labels_of(dot):
    """{node id: [label fields]} from to_dot's record labels."""
    return {int(m.group(1)): [part.strip() for part in m.group(2).strip("{}").split(" | ")]
            for m in re.finditer(r'^\s*n(\d+) \[label="(.*?)", fillcolor', dot, flags=re.M)}


def test_to_dot_holds_every_value_and_gradient_of_the_logistic_neuron():
    g, f = logistic_neuron()
    dot = g.to_dot()
    assert dot.startswith("digraph gatelab {") and dot.rstrip().endswith("}")
    fields = labels_of(dot)
    nodes = [n for n in g.nodes if n.kind != "constant"]
    for n in nodes:
        assert f"value {_brief(n.value)}" in fields[n.id], n.name
        assert f"grad {_brief(n.grad)}" in fields[n.id], n.name
    # the lecture's numbers, rounded as on the slide
    assert round(f.value, 2) == 0.73
    grads = {n.name: round(float(n.grad), 2) for n in nodes if n.kind != "op"}
    assert grads == {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    assert "f = 1 / v" in dot and "value 0.7311" in dot and "grad -0.1966" in dot
    # one edge per gate input, except from the 1.0 of 1 + exp(...), which shows by value
    assert dot.count("->") == sum(len(n.inputs) for n in g.nodes if n.kind == "op") - 1
    assert "v7 = 1 + v6" in dot and "const" not in dot


def test_arrays_are_summarised_by_shape_and_norm():
    g = gl.Graph()
    x = g.input("x", np.arange(12.0).reshape(3, 4))
    loss = gl.sum(gl.tanh(x) * x)
    g.forward()
    g.backward(loss)
    dot = g.to_dot()
    assert f"(3, 4) \\|.\\|={np.linalg.norm(x.value):.4g}" in dot      # '|' escaped for the record
    assert f"{np.linalg.norm(x.grad):.4g}" in dot


def test_lecture_steps_name_the_patterns():
    g, y = gl.lecture_example()
    steps = g.backward_steps(y)
    assert [s.node.name for s in steps] == ["v5", "v4", "v3", "v2", "v1"]
    assert steps[0].pattern.startswith("subtract distributes")
    assert steps[1].pattern.startswith("add distributes")
    assert steps[3].pattern.startswith("multiply swaps")
    assert "copy adds: 'x1' is used 2 times" in steps[3].pattern
    mul = steps[3]
    assert [(e.source.name, float(e.upstream), float(e.local), float(e.downstream)) for e in mul.edges] == \
        [("x1", 1.0, 5.0, 5.0), ("x2", 1.0, 2.0, 2.0)]
    assert "∂v1/∂x1 = (1/x1)" in steps[4].pattern


def test_max_routes_and_relu():
    g = gl.Graph()
    a, b = g.input("a", 3.0), g.input("b", -1.0)
    m = gl.maximum(a, b)
    out = gl.relu(m) * a
    steps = g.backward_steps(out)
    by_node = {s.node.name: s for s in steps}
    assert by_node[m.name].pattern.startswith("max routes")
    assert [float(e.downstream) for e in by_node[m.name].edges] == [3.0, 0.0]   # all to a, none to b
    relu_step = next(s for s in steps if s.gate_name == "relu")
    assert relu_step.pattern.startswith("max routes")


@pytest.mark.parametrize("seed", range(5))
def test_shares_add_up_to_the_gradients(seed):
    g, inputs, out = random_graph(seed, n_ops=10, shape=(3,))
    steps = g.backward_steps(out)
    final = grads_after(steps, len(steps) - 1, out)
    for n in g.nodes:
        if n.grad is not None and n.id in final:
            np.testing.assert_allclose(final[n.id], n.grad, rtol=1e-12, atol=1e-14)


def test_step_view_in_dot():
    g, y = gl.lecture_example()
    dot = g.to_dot(step=3, rankdir="TB")        # multiply: v2 = x1 × x2
    assert "backward step 4 of 5" in dot and "multiply swaps" in dot
    # top to bottom, a record's fields stack inside braces; left to right they need none
    assert 'n3 [label="{v2 = x1 × x2 | value 10 | grad 1}", fillcolor="#ffd27f", penwidth=2.5' in dot
    assert 'n3 [label="v2 = x1 × x2 | value 10 | grad 1", fillcolor' in g.to_dot(step=3, rankdir="LR")
    assert 'n0 -> n3 [label="1 × 5 = 5 (+= one of 2 uses)"' in dot
    assert 'n1 -> n3 [label="1 × 2 = 2 (+= one of 2 uses)"' in dot
    # x1's gradient so far: only v2's share has arrived (v1 comes at the next step)
    assert "x1 (input) | value 2 | grad so far 5}" in dot
    last = g.to_dot(step=-1)
    assert "backward step 5 of 5" in last and "grad 5.5" in last and "so far" not in last
    with pytest.raises(ValueError, match="0..4"):
        g.to_dot(step=5)


# ---- Graphviz --------------------------------------------------------------------------------

def test_render_with_dot_binary():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (make setup installs it); the fake-dot test covers the path")
    g, f = logistic_neuron()
    d = g.draw()
    assert d.engine == "dot" and "<svg" in d._repr_svg_() and "w0" in d.svg
    assert d._repr_png_() is None
    d2 = g.draw(step=0)
    assert "reciprocal" in d2.svg and svg_facts(d2.svg)[3] == 1     # the current gate, marked


def write_fake_dot(directory, exit_code=0):
    script = directory / "dot"
    script.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"data = sys.stdin.read()\nopen({str(directory / 'seen.dot')!r}, 'w').write(data)\n"
                      "sys.stdout.write('<svg xmlns=\"http://www.w3.org/2000/svg\"><!-- fake --></svg>')\n"
                      f"sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_dot_path_feeds_the_dot_text_to_the_binary(monkeypatch, tmp_path):
    write_fake_dot(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    g, f = logistic_neuron()
    d = g.draw()
    assert d.engine == "dot" and "fake" in d.svg
    assert (tmp_path / "seen.dot").read_text() == g.to_dot() == d.dot


def test_broken_dot_falls_back_to_the_builtin_renderer(monkeypatch, tmp_path):
    write_fake_dot(tmp_path, exit_code=3)
    monkeypatch.setenv("PATH", str(tmp_path))
    g, f = logistic_neuron()
    with pytest.warns(UserWarning, match="built-in SVG renderer"):
        d = g.draw()
    assert d.engine == "svg" and "<svg" in d.svg
    with pytest.raises(RuntimeError, match="dot failed"):
        g.draw(engine="dot")


# ---- the built-in renderer: no Graphviz, no matplotlib -----------------------------------------

def svg_texts(svg):
    return [el.text for el in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]


def test_without_dot_on_the_path_the_builtin_renderer_draws(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))           # an empty directory: no dot
    assert shutil.which("dot") is None
    g, f = logistic_neuron()
    d = g.draw()
    assert d.engine == "svg" and d.figure is None
    assert d._repr_svg_().startswith("<svg") and d._repr_png_() is None
    texts = svg_texts(d.svg)
    for n in g.nodes:
        if n.kind != "constant":
            header = next(t for t in texts if t.startswith(n.name + " "))
            assert f"value {_brief(n.value)}" in texts and f"grad {_brief(n.grad)}" in texts, header
    assert "f = 1 / v7" in texts and "v7 = 1 + v6" in texts   # the constant 1.0 by value
    with pytest.raises(RuntimeError, match="not on the PATH"):
        g.draw(engine="dot")


def test_builtin_step_view_labels_the_current_gates_edges():
    g, y = gl.lecture_example()
    d = g.draw(step=3, engine="svg")
    texts = svg_texts(d.svg)
    assert "1 × 5 = 5 (+= one of 2 uses)" in texts and "1 × 2 = 2 (+= one of 2 uses)" in texts
    assert texts[:2] == ["backward step 4 of 5: node 'v2' (multiply)",
                         "multiply swaps: each input receives upstream × the OTHER input's value"]
    root = ET.fromstring(d.svg)
    current = [el for el in root.iter() if el.get("class") == "node current"]
    assert len(current) == 1
    box = current[0]
    x, w = float(box.get("x")), float(box.get("width"))
    assert 0 <= x and x + w <= float(root.get("viewBox").split()[2])    # inside the picture: visible


def test_matplotlib_engine_paints_the_same_layout():
    pytest.importorskip("matplotlib")
    g, y = gl.lecture_example()
    d = g.draw(step=3, engine="matplotlib")
    assert d.engine == "matplotlib"
    texts = [t.get_text() for ax in d.figure.axes for t in ax.texts]
    assert texts == svg_texts(d.svg)
    assert "1 × 5 = 5 (+= one of 2 uses)" in texts and any("multiply swaps" in t for t in texts)
    assert d._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_engine_and_rankdir():
    g, y = gl.lecture_example()
    with pytest.raises(ValueError, match="engine"):
        g.draw(engine="ascii")
    with pytest.raises(ValueError, match="rankdir"):
        g.draw(rankdir="BT")


# ---- what every lecture drawing must be ----------------------------------------------------------

def every_lecture_drawing():
    for name, make in CIRCUITS.items():
        g, out = make()
        for step in [None, *range(len(g.backward_steps(out)))]:
            yield f"{name} step={step}", g, out, step


@pytest.mark.parametrize("engine", ["svg", "auto"])
def test_every_lecture_drawing_fits_a_notebook_cell_and_is_readable(engine):
    if engine == "auto" and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed; engine='svg' is what auto draws then")
    for what, g, out, step in every_lecture_drawing():
        d = g.draw(out, step=step, engine=engine)
        width, height, fonts, current = svg_facts(d.svg)
        assert width <= 1000, f"{what}: {width:.0f} px wide"
        assert fonts and min(fonts) >= 12, f"{what}: {min(fonts):.1f} px text"
        assert current == (step is not None), what
        assert not re.search(r"const\d+", d.svg), f"{what}: an internal constant name shows"


def test_titles_break_between_clauses_never_inside_a_formula():
    for what, g, out, step in every_lecture_drawing():
        if step is None:
            continue
        s = g.backward_steps(out)[step]
        title = build_scene(g, out, step).title
        assert all(len(line) <= 90 for line in title), what
        assert title[0].startswith(f"backward step {step + 1} of "), what
        # the step's pattern: its clauses (cut at '; ') and local derivatives each whole on a line
        clauses = s.pattern.split("; ")
        formulas = re.findall(r"∂\S+ = .+?(?=, ∂|\)$)", clauses[0])
        for piece in clauses[1:] + formulas + [clauses[0].split(" (∂")[0]]:
            assert any(piece in line for line in title), (what, piece, title)


def test_clause_lines_breaks_after_commas_outside_parentheses():
    formulas = [f"∂v{i}/∂x = max(a{i}, b{i})" for i in range(8)]
    lines = clause_lines(["first: one", "local derivatives: " + ", ".join(formulas)], width=60)
    assert lines[0] == "first: one"
    joined = " ".join(lines[1:])
    assert all(f in joined for f in formulas)
    for line in lines[1:]:
        assert len(line) <= 60
        assert line.count("(") == line.count(")"), line   # max(a, b) never cut


def test_constants_show_as_values():
    g, f = CIRCUITS["neuron_named"]()
    dot = g.to_dot()
    assert "neg = -1 × s" in dot and "denominator = 1 + exp" in dot and "const" not in dot
    h = gl.Graph()
    x = h.input("x", np.array([1.0, 2.0]))
    gl.sum(x * np.array([3.0, 4.0]) + np.ones((3, 2)))   # array constants keep a box, named by value or shape
    dot = h.to_dot(rankdir="LR")
    assert "[3, 4] | value (2,) \\|.\\|=5" in dot and "v1 = x × [3, 4]" in dot
    assert "v2 = v1 + constant (3, 2)" in dot and "const1" not in dot


def test_auto_rankdir_is_left_to_right_only_when_that_fits():
    g, f = CIRCUITS["add_multiply"]()
    assert "rankdir=LR" in g.to_dot()
    g, f = CIRCUITS["logistic_loss_chain"]()          # 11 gates in a row
    assert "rankdir=TB" in g.to_dot()
    assert g.draw(engine="svg").picture.direction == "TB"
    assert g.draw(engine="svg", rankdir="LR").size[0] > 1000


def test_scale_resizes_the_page_size_only():
    g, f = CIRCUITS["add_multiply"]()
    one, two = g.draw(engine="svg"), g.draw(engine="svg", scale=2.0)
    assert two.size == pytest.approx((2 * one.size[0], 2 * one.size[1]), abs=0.2)
    assert re.search(r'viewBox="[^"]*"', one.svg).group(0) == re.search(r'viewBox="[^"]*"', two.svg).group(0)


# ---- save ------------------------------------------------------------------------------------

def no_png_renderer(monkeypatch):
    """Neither dot nor rsvg-convert on the PATH, cairosvg and matplotlib not importable."""
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    for module in ("cairosvg", "matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, module, None)


def test_save_svg_needs_nothing(tmp_path, monkeypatch):
    no_png_renderer(monkeypatch)
    g, y = gl.lecture_example()
    d = g.draw(step=1)
    d.save(tmp_path / "g.svg")
    assert (tmp_path / "g.svg").read_text() == d.svg
    with pytest.raises(raster.NoRenderer, match="cairosvg") as err:
        d.save(tmp_path / "g.png")
    assert "graphviz" in str(err.value) and "matplotlib" in str(err.value) and ".svg" in str(err.value)
    assert not (tmp_path / "g.png").exists()
    with pytest.raises(ValueError, match=".svg or .png"):
        d.save(tmp_path / "g.gif")


def test_save_png_with_matplotlib_alone(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    monkeypatch.setitem(sys.modules, "cairosvg", None)
    g, y = gl.lecture_example()
    d = g.draw(step=3)
    assert d.engine == "svg"
    d.save(tmp_path / "g.png")
    png = (tmp_path / "g.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")               # the IHDR chunk: the picture's own size
    assert width == pytest.approx(d.size[0], abs=1)


def test_save_png_with_dot(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    g, y = gl.lecture_example()
    d = g.draw()
    assert d.engine == "dot"
    d.save(str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_matplotlib_engine_saves_what_its_figure_can(tmp_path):
    pytest.importorskip("matplotlib")
    g, y = gl.lecture_example()
    d = g.draw(engine="matplotlib")
    d.save(tmp_path / "g.pdf")
    assert (tmp_path / "g.pdf").read_bytes()[:4] == b"%PDF"


def test_steps_leave_the_graphs_gates_untouched():
    class Counted(gl.Gate):
        def __init__(self):
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            self.x = x
            return np.tanh(x)

        def backward(self, dout):
            return (dout * (1 - np.tanh(self.x) ** 2),)

    g = gl.Graph()
    x = g.input("x", np.array([0.2, -0.4]))
    gate = Counted()
    loss = gl.sum(g.apply(gate, x) * x)
    g.forward()
    g.backward(loss)
    before = np.array(x.grad)
    steps = g.backward_steps(loss)
    g.to_dot(step=1)
    assert gate.calls == 1                          # copies ran, not the graph's gate
    np.testing.assert_allclose(x.grad, before)
    tanh_step = next(s for s in steps if s.node.gate is gate)
    # a Python gate may not be element-wise: no local derivative, the share is J^T · upstream
    assert tanh_step.edges[0].local is None
    np.testing.assert_allclose(tanh_step.edges[0].downstream, x.value * (1 - np.tanh(x.value) ** 2))
