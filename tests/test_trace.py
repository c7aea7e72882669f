"""Trace tables: the lecture's y = ln x1 + x1 x2 - sin x2 at (2, 5) (seeds 003 and 004).

The slide numbers are the fixtures: v1..v5 = 0.693, 10, -0.959, 10.693, 11.652; with
ẋ1 = 1: v̇ = 0.5, 5, 0, 5.5, 5.5; adjoints x̄1 = 5.5, x̄2 = 1.716, v̄ = 1, 1, -1, 1, 1.
"""

import re
import unicodedata

import numpy as np
import pytest

import gatelab as gl


def lines_of(trace):
    """The printed lines, whitespace collapsed, in NFC (ẋ precomposed, as the trace prints it)."""
    return [unicodedata.normalize("NFC", re.sub(r"\s+", " ", line.strip())) for line in str(trace).splitlines()]


def nfc(text):
    return unicodedata.normalize("NFC", text)


@pytest.fixture
def lecture():
    return gl.lecture_example()


def test_values_tangents_adjoints_match_the_slides(lecture):
    g, y = lecture
    t = g.trace()
    values = {k: round(float(v), 3) for k, v in t.values.items()}
    assert values == {"x1": 2, "x2": 5, "v1": 0.693, "v2": 10, "v3": -0.959, "v4": 10.693, "v5": 11.652}
    assert [t[n].tangent for n in ("x1", "x2", "v1", "v2", "v3", "v4", "v5")] == \
        pytest.approx([1, 0, 0.5, 5, 0, 5.5, 5.5])
    adj = {k: round(float(v), 3) for k, v in t.adjoints.items()}
    assert adj == {"x1": 5.5, "x2": 1.716, "v1": 1, "v2": 1, "v3": -1, "v4": 1, "v5": 1}
    # the copy node: x̄1 = v̄2 × x2 + v̄1 × (1/x1) = 5 + 0.5, x̄2 = v̄3 cos x2 + v̄2 x1 = -0.284 + 2
    assert [round(float(s), 3) for s in t["x1"].adjoint_terms] == [5, 0.5]
    assert [round(float(s), 3) for s in t["x2"].adjoint_terms] == [-0.284, 2]


def test_printed_like_the_slides(lecture):
    g, y = lecture
    text = str(g.trace())
    lines = lines_of(text)
    for expected in ["v1 = ln x1 0.693", "v2 = x1 × x2 10", "v3 = sin x2 -0.959", "v4 = v1 + v2 10.693",
                     "v5 = v4 − v3 11.652", "y = v5 11.652",
                     "v̇1 = ẋ1 / x1 0.5", "v̇2 = ẋ1 × x2 + x1 × ẋ2 5", "v̇3 = ẋ2 × cos x2 0",
                     "v̇4 = v̇1 + v̇2 5.5", "v̇5 = v̇4 − v̇3 5.5", "ẏ = v̇5 5.5",
                     "v̄5 = ȳ 1", "v̄3 = v̄5 × (−1) -1",
                     "x̄2 = v̄3 × cos x2 + v̄2 × x1 = -0.284 + 2 1.716",
                     "x̄1 = v̄2 × x2 + v̄1 × (1/x1) = 5 + 0.5 5.5"]:
        assert nfc(expected) in lines, expected
    assert text.index("Forward evaluation trace") < text.index("Forward derivative trace") \
        < text.index("Reverse adjoint trace")
    assert nfc("ẋ1 = 1, ẋ2 = 0") in text


def test_second_lecture_numbering_from_v0(lecture):
    g, y = lecture
    lines = lines_of(g.trace(numbering=0))
    for expected in ["v0 = x1 2", "v1 = x2 5", "v2 = ln v0 0.693", "v3 = v0 × v1 10", "v4 = sin v1 -0.959",
                     "v5 = v2 + v3 10.693", "v6 = v5 − v4 11.652", "v̇2 = v̇0 / v0 0.5",
                     "v̄0 = v̄3 × v1 + v̄2 × (1/v0) = 5 + 0.5 5.5",
                     "v̄1 = v̄4 × cos v1 + v̄3 × v0 = -0.284 + 2 1.716"]:
        assert nfc(expected) in lines, expected


def test_seed_the_other_input(lecture):
    g, y = lecture
    t = g.trace(seed="x2")
    assert t["v5"].tangent == pytest.approx(1.716, abs=5e-4)
    assert t["v3"].tangent == pytest.approx(np.cos(5.0))
    assert nfc("ẋ1 = 0, ẋ2 = 1") in str(t)
    t2 = g.trace(seed={g["x1"]: 1.0, g["x2"]: 1.0})
    assert t2["v5"].tangent == pytest.approx(5.5 + 2 - np.cos(5.0))


def test_html_table(lecture):
    g, y = lecture
    page = g.trace()._repr_html_()
    assert page.startswith("<table") and page.count("<tr") == 2 + 7
    for number in ("11.652", "0.693", "-0.959", "5.5", "1.716", "-0.284 + 2"):
        assert number in page


def test_names_given_by_the_user_are_kept():
    g = gl.Graph()
    x = g.input("x", 3.0)
    w = g.param("w", -2.0)
    s = (2.0 * x * w + 1.0).named("s")
    p = gl.sigmoid(s).named("p")
    t = g.trace(seed=w)
    lines = lines_of(t)
    assert "s = v2 + 1 -11" in lines                  # the constant 1 shown by value
    assert "v1 = 2 × x 6" in lines
    assert "p = σ(s) 1.67e-05" in lines
    assert t["p"].adjoint == pytest.approx(1.0)
    sig = 1 / (1 + np.exp(11.0))
    assert t["w"].adjoint == pytest.approx(sig * (1 - sig) * 6.0)
    assert t["p"].tangent == pytest.approx(sig * (1 - sig) * 6.0)   # forward mode along w


def test_array_nodes_are_summarised_and_vector_outputs_have_no_adjoint_without_grad():
    g = gl.Graph()
    x = g.input("x", np.arange(6.0).reshape(2, 3))
    y = gl.tanh(x) * x
    t = g.trace()
    assert not t.has_adjoint and "Reverse adjoint trace" not in str(t)
    assert "(2, 3) ‖·‖=" in str(t)
    t2 = g.trace(grad=np.ones((2, 3)))
    assert t2.has_adjoint
    np.testing.assert_allclose(t2["x"].adjoint, np.tanh(x.value) + x.value * (1 - np.tanh(x.value) ** 2))


def test_python_gate_gets_a_generic_rule():
    from test_python_gate import Square as SquareNoJvp

    class Square(SquareNoJvp):
        def jvp(self, t):
            return 2 * self.x * t

    g = gl.Graph()
    x = g.input("x", 3.0)
    g.apply(Square(), x)
    t = g.trace()
    text = str(t)
    assert "v1 = Square(x)" in text and nfc("∂v1/∂x × ẋ") in text
    assert t["v1"].tangent == pytest.approx(6.0) and t["x"].adjoint == pytest.approx(6.0)


def test_errors():
    g, y = gl.lecture_example()
    with pytest.raises(ValueError, match="seed"):
        g.trace(seed="v2")
    with pytest.raises(KeyError, match="v9"):
        g.trace()["v9"]
    with pytest.raises(ValueError, match="empty"):
        gl.Graph().trace()
