"""The layered layout (gatelab/layout.py) on random DAGs and on the lecture circuits: boxes and
labels never overlap, every edge runs down the layers from its source's far side to its
target's near side, and a layer wider than max_across wraps."""

import random

import pytest

from gatelab.layout import layered_layout
from gatelab.picture import picture
from gatelab.scene import build_scene
from lecture_circuits import CIRCUITS


def random_dag(seed, n=14):
    rng = random.Random(seed)
    sizes = {i: (rng.uniform(40, 200), rng.uniform(30, 80)) for i in range(n)}
    edges = []
    for j in range(1, n):
        for i in rng.sample(range(j), k=min(j, rng.randint(1, 3))):
            label = (rng.uniform(30, 150), 16.0) if rng.random() < 0.3 else None
            edges.append((i, j, label))
    return sizes, edges


def check(lay, sizes, edges):
    tb = lay.direction == "TB"
    rects = list(lay.boxes.values()) + [r.label for r in lay.routes if r.label is not None]
    for i, a in enumerate(rects):
        assert 0 <= a.x and a.right <= lay.width + 1e-6 and 0 <= a.y and a.bottom <= lay.height + 1e-6
        for b in rects[i + 1:]:
            assert not a.overlaps(b), (a, b)
    for key, (w, h) in sizes.items():
        assert (lay.boxes[key].w, lay.boxes[key].h) == pytest.approx((w, h))
    assert [(r.src, r.dst) for r in lay.routes] == [(s, d) for s, d, _ in edges]
    for route, (_, _, label) in zip(lay.routes, edges):
        assert lay.layer[route.src] < lay.layer[route.dst]
        along = [p[1] if tb else p[0] for p in route.points]
        assert all(a <= b + 1e-9 for a, b in zip(along, along[1:])), along     # always down the layers
        src, dst = lay.boxes[route.src], lay.boxes[route.dst]
        assert along[0] == pytest.approx(src.bottom if tb else src.right)
        assert along[-1] == pytest.approx(dst.y if tb else dst.x)
        assert (route.label is not None) == (label is not None)


@pytest.mark.parametrize("direction", ["TB", "LR"])
@pytest.mark.parametrize("seed", range(12))
def test_random_dags(seed, direction):
    sizes, edges = random_dag(seed)
    check(layered_layout(sizes, edges, direction), sizes, edges)


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_lecture_circuits_at_every_step(name):
    g, out = CIRCUITS[name]()
    for step in [None, *range(len(g.backward_steps(out)))]:
        scene = build_scene(g, out, step)
        pic = picture(scene)
        sizes = {b.id: (pic.layout.boxes[b.id].w, pic.layout.boxes[b.id].h) for b in scene.boxes}
        edges = [(e.src, e.dst, e.label or None) for e in scene.edges]
        check(pic.layout, sizes, edges)


@pytest.mark.parametrize("seed", range(6))
def test_a_layer_wider_than_max_across_wraps(seed):
    rng = random.Random(seed)
    sizes = {i: (rng.uniform(100, 160), 40.0) for i in range(6)}       # 6 inputs of one gate
    sizes["sum"] = (100.0, 40.0)
    edges = [(i, "sum", None) for i in range(6)]
    wide = layered_layout(sizes, edges, "TB", node_gap=20)
    lay = layered_layout(sizes, edges, "TB", max_across=520, node_gap=20)
    check(lay, sizes, edges)
    assert wide.width > 600 and lay.width <= 520
    assert 3 <= len(set(lay.layer.values())) <= 4                     # rows of inputs, then the gate


def test_inputs_sit_just_before_the_gate_that_uses_them():
    sizes = {k: (60.0, 30.0) for k in ("a", "b", "ab", "c", "out")}
    lay = layered_layout(sizes, [("a", "ab", None), ("b", "ab", None), ("ab", "out", None), ("c", "out", None)])
    assert lay.layer == {"a": 0, "b": 0, "ab": 1, "c": 1, "out": 2}


def test_a_cycle_is_refused():
    with pytest.raises(ValueError, match="cycle"):
        layered_layout({0: (10, 10), 1: (10, 10)}, [(0, 1, None), (1, 0, None)])
