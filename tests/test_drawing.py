"""Drawing: to_dot text, rendering with and without Graphviz's dot, the backward step view.

The logistic neuron is the lecture's (seed 002): w0 = 2, x0 = -1, w1 = -3, x1 = -2, w2 = -3,
output 0.73, gradients w0 -0.20, x0 0.39, w1 -0.39, x1 -0.59, w2 0.20.
"""

import re
import shutil
import stat
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import gatelab as gl
from gatelab.drawing import _brief
from gatelab.steps import grads_after
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
    # one edge per gate input
    assert dot.count("->") == sum(len(n.inputs) for n in g.nodes if n.kind == "op")


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
    dot = g.to_dot(step=3)                      # multiply: v2 = x1 × x2
    assert "backward step 4 of 5" in dot and "multiply swaps" in dot
    assert 'n3 [label="{v2 = x1 × x2 | value 10 | grad 1}", fillcolor="#ffd27f", penwidth=2.5]' in dot
    assert 'n0 -> n3 [label="1 × 5 = 5 (+= one of 2 uses)"' in dot
    assert 'n1 -> n3 [label="1 × 2 = 2 (+= one of 2 uses)"' in dot
    # x1's gradient so far: only v2's share has arrived (v1 comes at the next step)
    assert "x1 (input) | value 2 | grad so far 5}" in dot
    last = g.to_dot(step=-1)
    assert "backward step 5 of 5" in last and "grad 5.5" in last and "so far" not in last
    with pytest.raises(ValueError, match="0..4"):
        g.to_dot(step=5)


def test_render_with_dot_binary():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (make setup installs it); the fake-dot test covers the path")
    g, f = logistic_neuron()
    d = g.draw()
    assert d.engine == "dot" and "<svg" in d._repr_svg_() and "w0" in d.svg
    assert d._repr_png_() is None
    d2 = g.draw(step=0)
    assert "reciprocal" in d2.svg


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


def test_broken_dot_falls_back_to_matplotlib(monkeypatch, tmp_path):
    write_fake_dot(tmp_path, exit_code=3)
    monkeypatch.setenv("PATH", str(tmp_path))
    g, f = logistic_neuron()
    with pytest.warns(UserWarning, match="matplotlib"):
        d = g.draw()
    assert d.engine == "matplotlib"
    with pytest.raises(RuntimeError, match="dot failed"):
        g.draw(engine="dot")


def figure_texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title(loc="left") for ax in fig.axes]


def test_without_dot_on_the_path_matplotlib_draws(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))           # an empty directory: no dot
    assert shutil.which("dot") is None
    g, f = logistic_neuron()
    d = g.draw()
    assert d.engine == "matplotlib"
    assert d._repr_svg_().lstrip().startswith("<?xml") and "<svg" in d.svg
    assert d._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    texts = "\n".join(figure_texts(d.figure))
    for n in g.nodes:
        if n.kind != "constant":
            assert n.name in texts and f"value {_brief(n.value)}" in texts and f"grad {_brief(n.grad)}" in texts
    with pytest.raises(RuntimeError, match="not on the PATH"):
        g.draw(engine="dot")


def test_matplotlib_step_view(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    g, y = gl.lecture_example()
    d = g.draw(step=3)
    assert d.engine == "matplotlib"
    texts = figure_texts(d.figure)
    assert "1 × 5 = 5 (+= one of 2 uses)" in texts and "1 × 2 = 2 (+= one of 2 uses)" in texts
    assert any("multiply swaps" in t for t in texts)


def test_save(tmp_path, monkeypatch):
    g, y = gl.lecture_example()
    g.backward(y)
    g.draw(engine="matplotlib").save(str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    g.draw(engine="matplotlib").save(str(tmp_path / "g.svg"))
    assert "<svg" in (tmp_path / "g.svg").read_text()
    with pytest.raises(ValueError, match="engine"):
        g.draw(engine="ascii")


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
