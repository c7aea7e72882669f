"""ComputationalGraph behaviour: order, re-runs, fan-out, idempotent backward, errors."""

import sys

import numpy as np
import pytest

import gatelab as gl


def test_node_used_twice_sums_both_paths():
    # f = x * x + x: df/dx = 2x + 1; a gate that overwrote instead of accumulating gives 1 or 2x.
    g = gl.Graph()
    x = g.input("x", 3.0)
    f = x * x + x
    g.forward()
    g.backward(f)
    assert x.grad == 7.0


def test_backward_is_idempotent_and_accumulate_is_explicit():
    g = gl.Graph()
    x = g.input("x", 2.0)
    f = gl.exp(x) * x
    g.forward()
    g.backward(f)
    first = x.grad
    g.backward(f)
    assert x.grad == first  # micrograd#53: a second call must not double the gradient
    g.backward(f, accumulate=True)
    assert x.grad == 2 * first
    g.zero_grad()
    assert x.grad == 0.0


def test_grad_views_survive_later_passes():
    g = gl.Graph()
    x = g.input("x", np.array([1.0, 2.0]))
    f = gl.sum(x * x)
    g.forward()
    g.backward(f)
    held = x.grad
    g.forward({"x": np.array([3.0, 4.0])})
    g.backward(f)
    np.testing.assert_array_equal(held, [2.0, 4.0])  # the old view is not overwritten in place
    np.testing.assert_array_equal(x.grad, [6.0, 8.0])
    assert not held.flags.writeable


def test_forward_with_new_feeds_reruns_the_same_graph():
    g = gl.Graph()
    x, y, z = g.input("x", -2.0), g.input("y", 5.0), g.input("z", -4.0)
    f = (x + y) * z
    assert g.forward() == -12.0
    assert g.forward({"x": 1.0, z: 2.0}) == 12.0
    g.backward(f)
    assert (x.grad, y.grad, z.grad) == (2.0, 2.0, 6.0)
    assert len(g) == 5  # no nodes were added by re-running


def test_placeholder_with_free_batch_dimension():
    g = gl.Graph()
    x = g.input("x", shape=(None, 3))
    w = g.param("w", np.ones(3))
    loss = gl.mean(x * w)
    assert g.forward({"x": np.ones((4, 3))}) == 1.0
    assert g.forward({"x": np.full((2, 3), 2.0)}) == 2.0
    g.backward(loss)
    np.testing.assert_allclose(w.grad, [2.0 * 2 / 6] * 3)  # d mean(x w)/dw_j = sum_i x_ij / 6


def test_chain_of_100000_nodes_runs_both_ways():
    # micrograd's recursive topological sort overflows the stack near depth 1000 (PR #90).
    g = gl.Graph()
    x = g.input("x", 1.0)
    node = x
    for _ in range(100_000):
        node = node * 1.0000001
    g.forward()
    g.backward(node)
    assert node.value == pytest.approx(1.0000001 ** 100_000, rel=1e-9)
    assert x.grad == pytest.approx(1.0000001 ** 100_000, rel=1e-9)
    assert sys.getrecursionlimit() < 100_000  # it really would have overflowed a recursive sort


def test_float32_graph_stays_float32_and_arrays_enter_without_copy():
    x32 = np.arange(6, dtype=np.float32).reshape(2, 3)
    g = gl.Graph()
    x = g.input("x", x32)
    y = gl.sigmoid(x) * 2.0 + 1.0
    g.forward()
    g.backward(y, grad=np.ones((2, 3), np.float32))
    assert y.value.dtype == np.float32 and x.grad.dtype == np.float32
    assert np.shares_memory(x.value, x32)  # zero-copy in
    assert not x.value.flags.writeable


def test_non_contiguous_input_gives_right_values():
    base = np.arange(12.0).reshape(3, 4)
    view = base[:, ::2]
    g = gl.Graph()
    x = g.input("x", view)
    y = x * 2.0
    g.forward()
    np.testing.assert_array_equal(y.value, view * 2.0)


def test_parameters_and_constants():
    g = gl.Graph()
    w = g.param("w", 2.0)
    c = g.constant(3.0, "c")
    f = w * c
    g.forward()
    g.backward(f)
    assert w.grad == 3.0
    assert c.grad is None  # constants get no gradient
    assert [n.name for n in g.parameters()] == ["w"]


def test_backward_from_an_intermediate_node_and_with_upstream_gradient():
    g = gl.Graph()
    x = g.input("x", np.array([1.0, 2.0, 3.0]))
    y = x * x
    z = gl.sum(y)
    g.forward()
    g.backward(y, grad=np.array([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 12.0])
    assert z.grad is None  # z is downstream of y: the pass does not reach it


def test_summary_lists_values_and_grads():
    g = gl.Graph()
    x, y = g.input("x", -2.0), g.input("y", 5.0)
    f = (x * y).named("f")
    g.forward()
    g.backward(f)
    table = g.summary()
    assert "f" in table and "multiply" in table and "-10" in table
    assert "x, y" in table


# ---- errors: each names what went wrong and how to fix it --------------------------------------

def test_backward_before_forward_is_refused():
    g = gl.Graph()
    x = g.input("x", 1.0)
    f = gl.exp(x)
    with pytest.raises(ValueError, match="run forward first"):
        g.backward(f)
    g.forward()
    x.value = 2.0
    with pytest.raises(ValueError, match="'x' was given a new value after the last forward pass"):
        g.backward(f)


def test_missing_feed_is_named():
    g = gl.Graph()
    x = g.input("x", shape=(None, 2))
    gl.sum(x * 2.0)
    with pytest.raises(ValueError, match=r"input 'x' has no value; feed it: g.forward\(\{'x': ...\}\)"):
        g.forward()


def test_misshaped_feed_is_refused():
    g = gl.Graph()
    g.input("x", np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"'x' has shape \(2, 3\) but the value has shape \(3, 2\).*None"):
        g.forward({"x": np.zeros((3, 2))})


def test_wrong_dtype_feed_is_refused_not_cast():
    g = gl.Graph()
    g.input("x", np.zeros(3))
    with pytest.raises(TypeError, match="expects float64 but the array is float32"):
        g.feed({"x": np.zeros(3, np.float32)})


def test_mixing_float32_and_float64_is_refused():
    g = gl.Graph()
    a = g.input("a", np.zeros(3, np.float32))
    b = g.input("b", np.zeros(3))
    with pytest.raises(TypeError, match="add: inputs mix float32 and float64"):
        a + b
    with pytest.raises(TypeError, match="never casts"):
        a * np.ones(3)  # a float64 array constant meeting a float32 node


def test_cycle_is_reported_by_name():
    g = gl.Graph()
    x = g.input("x", 1.0)
    a = (x * 2.0).named("a")
    b = gl.exp(a).named("b")
    g.set_inputs(a, b, x)  # a now depends on b, which depends on a
    with pytest.raises(ValueError, match=r"graph has a cycle: (a <- b <- a|b <- a <- b)"):
        g.forward()


def test_node_from_another_graph_is_refused():
    g1, g2 = gl.Graph(), gl.Graph()
    x = g1.input("x", 1.0)
    y = g2.input("y", 1.0)
    with pytest.raises(ValueError, match="multiply: node 'y' belongs to another Graph"):
        x * y
    with pytest.raises(ValueError, match="belongs to another Graph"):
        g1.backward(y)


def test_shape_mismatch_names_gate_and_shapes():
    g = gl.Graph()
    a = g.input("a", np.zeros((2, 3)))
    b = g.input("b", np.zeros((4,)))
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        a + b


def test_runtime_shape_error_names_the_node():
    # With a free dimension the shapes are only known when fed: the error then names the node.
    g = gl.Graph()
    a = g.input("a", shape=(None, 3))
    b = g.input("b", np.zeros(4))
    (a + b).named("s")
    with pytest.raises(ValueError, match=r"do not broadcast.*\[in forward of node 's' = add\(a, b\)\]"):
        g.forward({"a": np.zeros((2, 3))})


def test_non_scalar_backward_needs_upstream_gradient():
    g = gl.Graph()
    x = g.input("x", np.ones(3))
    y = x * 2.0
    g.forward()
    with pytest.raises(ValueError, match=r"has shape \(3,\); start backward from a single value"):
        g.backward(y)
    with pytest.raises(ValueError, match="a gradient has its variable's shape"):
        g.backward(y, grad=np.ones(4))


def test_unknown_node_name_and_duplicate_names():
    g = gl.Graph()
    g.input("x", 1.0)
    with pytest.raises(ValueError, match="no node named 'q'"):
        g["q"]
    with pytest.raises(ValueError, match="already has a node named 'x'"):
        g.input("x", 2.0)


def test_bad_values_are_type_errors():
    g = gl.Graph()
    with pytest.raises(TypeError, match="got a bool"):
        g.input("b", True)
    with pytest.raises(TypeError, match="dtype complex128 are not supported"):
        g.input("c", np.ones(2, complex))
    x = g.input("x", 1.0)
    with pytest.raises(TypeError, match="exponent must be a constant"):
        x ** x
    with pytest.raises(TypeError, match="no truth value"):
        bool(x)


def test_gil_is_released_while_the_core_runs(threads):
    # Another Python thread keeps running while a long forward pass is inside C++.
    import threading
    import time

    gl.set_num_threads(1)
    g = gl.Graph()
    x = g.input("x", np.random.default_rng(0).normal(size=(8, 16, 64, 64)))
    w = g.input("w", np.random.default_rng(1).normal(size=(32, 16, 5, 5)))
    y = gl.conv2d(x, w, padding=2)
    window = {}

    def run():
        window["start"] = time.perf_counter()
        for _ in range(3):
            g.forward(output=y)
        window["end"] = time.perf_counter()

    worker = threading.Thread(target=run)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    inside = [t for t in ticks if window["start"] + 0.01 < t < window["end"] - 0.01]
    assert window["end"] - window["start"] > 0.05, "the pass was too short to observe"
    assert len(inside) > 100, "the main thread did not run while C++ worked: the GIL was held"


def test_integer_input_in_arithmetic_says_to_use_floats():
    g = gl.Graph()
    x = g.input("x", [1, 2, 3])  # Python ints: an int64 array, as labels are
    with pytest.raises(TypeError, match="'x' holds integers .* gates compute in float64 or float32"):
        x * 2.0
