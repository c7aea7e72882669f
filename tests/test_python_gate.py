"""Gates written in Python run inside the C++ graph, gradcheck, and fail with their name."""

import numpy as np
import pytest

import gatelab as gl


class Square(gl.Gate):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dout):
        return (2 * self.x * dout,)


class ScaledAdd(gl.Gate):
    """a + 3 b: two inputs, so two gradients."""

    def forward(self, a, b):
        return a + 3 * b

    def backward(self, dout):
        return dout, 3 * dout


def test_python_gate_in_graph():
    g = gl.Graph()
    x = g.input("x", 3.0)
    y = g.apply(Square(), x) * 2.0
    assert g.forward() == 18.0
    g.backward(y)
    assert x.grad == 12.0


def test_python_gate_mixed_with_builtin_gates_gradchecks(rng):
    def f(a, b):
        s = g_apply(ScaledAdd(), gl.sin(a), b)
        return gl.sum(g_apply(Square(), s) * a)

    def g_apply(gate, *nodes):
        return nodes[0].graph.apply(gate, *nodes)

    assert gl.gradcheck(f, [rng.normal(size=(3, 2)), rng.normal(size=(3, 2))])


def test_python_gate_standalone_gradcheck(rng):
    assert gl.gradcheck(Square(), [rng.normal(size=4)])
    assert gl.gradcheck(ScaledAdd(), [rng.normal(size=3), rng.normal(size=3)])


def test_python_gate_called_like_a_function():
    g = gl.Graph()
    x = g.input("x", np.array([1.0, 2.0]))
    y = Square()(x)
    g.forward()
    np.testing.assert_array_equal(y.value, [1.0, 4.0])
    np.testing.assert_array_equal(Square()(np.array([3.0])), [9.0])


def test_float32_python_gate_must_return_float32():
    class Upcast(gl.Gate):
        def forward(self, x):
            return x.astype(np.float64)

        def backward(self, dout):
            return (dout,)

    g = gl.Graph()
    x = g.input("x", np.ones(2, np.float32))
    g.apply(Upcast(), x)
    with pytest.raises(TypeError, match=r"Upcast.forward \(its output\): expects float32 but the array is float64"):
        g.forward()


def test_exception_in_forward_keeps_type_and_names_gate():
    class Broken(gl.Gate):
        def forward(self, x):
            return x / 0 if False else {}["missing"]

        def backward(self, dout):
            return (dout,)

    g = gl.Graph()
    g.apply(Broken(), g.input("x", 1.0))
    with pytest.raises(KeyError, match="Broken.forward raised KeyError"):
        g.forward()


def test_exception_in_backward_names_gate():
    class BadBackward(gl.Gate):
        def forward(self, x):
            return x

        def backward(self, dout):
            raise RuntimeError("forgot the chain rule")

    g = gl.Graph()
    y = g.apply(BadBackward(), g.input("x", 1.0))
    g.forward()
    with pytest.raises(RuntimeError, match="BadBackward.backward raised RuntimeError: forgot the chain rule"):
        g.backward(y)


@pytest.mark.parametrize("returned,message", [
    (lambda dout: (dout, dout), r"returned 2 gradient\(s\) for 1 input\(s\)"),
    (lambda dout: (np.ones(5),), r"has shape \(5,\) but must have shape \(2,\)"),
    (lambda dout: None, "returned None; return one gradient per input"),
    (lambda dout: ("text",), "arrays of dtype <U4 are not supported"),
])
def test_malformed_backward_results_are_explained(returned, message):
    class Gate(gl.Gate):
        def forward(self, x):
            return x * 1.0

        def backward(self, dout):
            return returned(dout)

    g = gl.Graph()
    y = g.apply(Gate(), g.input("x", np.ones(2)))
    g.forward()
    with pytest.raises((ValueError, TypeError), match=message):
        g.backward(y, grad=np.ones(2))


def test_inputs_are_read_only_views():
    class InPlace(gl.Gate):
        def forward(self, x):
            x *= 2  # would corrupt the graph's value of x
            return x

        def backward(self, dout):
            return (dout,)

    g = gl.Graph()
    g.apply(InPlace(), g.input("x", np.ones(2)))
    with pytest.raises(ValueError, match="InPlace.forward raised ValueError: .*read-only"):
        g.forward()


def test_one_gate_instance_per_node():
    square = Square()
    g = gl.Graph()
    x = g.input("x", 1.0)
    g.apply(square, x)
    with pytest.raises(ValueError, match="already used by a node.*new instance for each use"):
        g.apply(square, x)


def test_not_a_gate_is_explained():
    g = gl.Graph()
    x = g.input("x", 1.0)
    with pytest.raises(TypeError, match="subclass gatelab.Gate and define forward"):
        g.apply(object(), x)


def test_unwritten_gate_says_what_is_missing():
    class Todo(gl.Gate):
        pass

    g = gl.Graph()
    g.apply(Todo(), g.input("x", 1.0))
    with pytest.raises(NotImplementedError, match=r"Todo.forward raised NotImplementedError: Todo.forward\(\*inputs\) is not written yet"):
        g.forward()


def test_python_gate_jvp_is_used_when_defined():
    class Cube(gl.Gate):
        def forward(self, x):
            self.x = x
            return x ** 3

        def backward(self, dout):
            return (3 * self.x ** 2 * dout,)

        def jvp(self, dx):
            return 3 * self.x ** 2 * dx

    g = gl.Graph()
    x = g.input("x", 2.0)
    y = g.apply(Cube(), x)
    g.forward()
    assert g.jvp(y, {x: 1.0}) == 12.0
    g2 = gl.Graph()
    x2 = g2.input("x", 2.0)
    y2 = g2.apply(Square(), x2)
    g2.forward()
    with pytest.raises(TypeError, match="Square: has no jvp"):
        g2.jvp(y2, {x2: 1.0})


def test_exception_whose_type_takes_other_arguments_keeps_its_type():
    class NeedsTwo(Exception):
        def __init__(self, code, detail):
            super().__init__(f"{code}: {detail}")

    class Raises(gl.Gate):
        def forward(self, x):
            raise NeedsTwo(7, "custom failure")

        def backward(self, dout):
            return (dout,)

    g = gl.Graph()
    g.apply(Raises(), g.input("x", 1.0))
    with pytest.raises(NeedsTwo, match="7: custom failure") as err:
        g.forward()
    assert any("Raises.forward raised NeedsTwo" in note for note in getattr(err.value, "__notes__", []))
