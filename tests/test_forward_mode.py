"""Forward mode (g.jvp) against reverse mode, explicit Jacobians and finite differences.

Random graphs over every element-wise gate and the reductions, with nodes used twice
(random_graphs.py), scalar and array inputs, scalar and array outputs. Tolerances: forward vs
reverse vs explicit Jacobian agree to 1e-12 relative (the same arithmetic in another order);
against central differences (h = 1e-6, float64) to 1e-6 relative.
"""

import numpy as np
import pytest

import gatelab as gl
from random_graphs import finite_difference_jacobian, random_graph


def test_lecture_example_forward_mode():
    g, y = gl.lecture_example()
    x1, x2 = g["x1"], g["x2"]
    assert g.jvp(y, {x1: 1.0}) == pytest.approx(5.5)
    assert g.jvp(y, {"x2": 1.0}) == pytest.approx(2 - np.cos(5.0))          # 1.716
    # every intermediate tangent, as on the slide (v̇ = ∂v/∂x1)
    g.jvp(y, {x1: 1.0})
    assert [g[n].tangent for n in ("x1", "x2", "v1", "v2", "v3", "v4", "v5")] == \
        pytest.approx([1, 0, 0.5, 5, 0, 5.5, 5.5])
    # a direction: 2 ẋ1 + 3 ẋ2
    assert g.jvp(y, {x1: 2.0, x2: 3.0}) == pytest.approx(2 * 5.5 + 3 * (2 - np.cos(5.0)))


@pytest.mark.parametrize("seed", range(20))
def test_forward_equals_reverse_on_random_scalar_graphs(seed):
    g, inputs, out = random_graph(seed, n_ops=10)
    g.backward(out)
    for x in inputs:
        fwd = g.jvp(out, {x: 1.0})
        rev = x.grad if x.grad is not None else 0.0
        assert fwd == pytest.approx(rev, rel=1e-12, abs=1e-12)
        fd = finite_difference_jacobian(g, out, x)[0, 0]
        assert fwd == pytest.approx(fd, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("seed", range(12))
def test_all_four_agree_on_random_array_graphs(seed):
    g, inputs, out = random_graph(100 + seed, n_ops=9, shape=(3,), n_inputs=3)
    for x in inputs:
        J_rev = g.jacobian(out, x)
        J_fwd = g.jacobian(out, x, mode="forward")
        J_fd = finite_difference_jacobian(g, out, x)
        assert J_rev.shape == (1, 3)
        np.testing.assert_allclose(J_fwd, J_rev, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(J_rev, J_fd, rtol=1e-6, atol=1e-8)
        # reverse mode's single pass gives the same row
        g.backward(out)
        grad = np.zeros(3) if x.grad is None else np.ravel(x.grad)   # None: out does not depend on x
        np.testing.assert_allclose(grad, J_rev[0], rtol=1e-12, atol=1e-12)
        # and a jvp along a random direction is J · v
        v = np.random.default_rng(seed).normal(size=3)
        assert g.jvp(out, {x: v}) == pytest.approx(float(J_rev[0] @ v), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_array_output_jacobians(seed):
    g, inputs, out = random_graph(200 + seed, n_ops=7, shape=(3,), scalar_output=False)
    assert np.shape(out.value) == (3,)
    for x in inputs:
        J_rev, J_fwd = g.jacobian(out, x), g.jacobian(out, x, mode="forward")
        assert J_rev.shape == (3, 3)
        np.testing.assert_allclose(J_fwd, J_rev, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(J_rev, finite_difference_jacobian(g, out, x), rtol=1e-6, atol=1e-8)


def test_node_used_twice_in_one_gate():
    g = gl.Graph()
    x = g.input("x", 1.3)
    y = x * x + gl.sin(x) * x
    g.forward()
    expected = 2 * 1.3 + np.cos(1.3) * 1.3 + np.sin(1.3)
    assert g.jvp(y, {x: 1.0}) == pytest.approx(expected)
    g.backward(y)
    assert x.grad == pytest.approx(expected)


def test_unseeded_leaves_and_constants_have_zero_tangent():
    g = gl.Graph()
    a = g.input("a", np.array([1.0, 2.0]))
    b = g.param("b", np.array([0.5, -1.0]))
    y = gl.sum(a * b + 3.0)
    g.forward()
    assert g.jvp(y, {b: np.array([1.0, 0.0])}) == pytest.approx(1.0)
    assert np.all(np.asarray(a.tangent) == 0)


def test_jvp_errors_name_the_problem():
    g, y = gl.lecture_example()
    with pytest.raises(ValueError, match="leaves"):
        g.jvp(y, {g["v1"]: 1.0})
    with pytest.raises(ValueError, match="x1"):
        g.jvp(y, {g["x1"]: np.ones(3)})


def test_the_random_graphs_cover_every_elementwise_gate_and_reduction():
    from gatelab.steps import ELEMENTWISE_GATES

    seen = set()
    for seed in range(20):
        g, _, _ = random_graph(seed, n_ops=10)
        seen |= {g._g.op_name(n.id) for n in g.nodes if n.kind == "op"}
    for seed in range(12):
        g, _, _ = random_graph(100 + seed, n_ops=9, shape=(3,), n_inputs=3)
        seen |= {g._g.op_name(n.id) for n in g.nodes if n.kind == "op"}
    assert (set(ELEMENTWISE_GATES) | {"sum", "mean"}) <= seen
