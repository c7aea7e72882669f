"""A layered drawing of a DAG, the way Graphviz's dot draws one (Sugiyama's scheme, kept small):

    lay = layered_layout({"x": (120, 60), "f": (140, 60)}, [("x", "f", (90, 16))], "TB")
    lay.boxes["f"]          # Rect(x, y, w, h) in pixels
    lay.routes[0].points    # the edge's polyline, from x's far side to f's near side
    lay.routes[0].label     # the Rect where the edge's label goes (None without a label)

1. Layers: each node one layer past its deepest input (longest path), then pulled as late as
   its consumers allow, so an input sits just before the gate that uses it.
2. Wrap: where a layer is wider than ``max_across``, the nodes that do not fit move to the next
   layer (a new one if their consumers are there); every edge still points down the layers.
   Best effort: edges passing a layer take room in it too, so a fan-in of many wide inputs
   can stay wider than asked.
3. Every layer has a half-layer after it. An edge that spans layers passes through a small
   placeholder in each (half-)layer between its ends, so no edge cuts through a box; the
   placeholder in the half-layer just before the target also carries the edge's label.
4. Order within each layer: barycenter sweeps (each item moves to the mean position of its
   neighbours in the layer before, then after), keeping the order with fewest crossings.
5. Positions across the layers: each item as close as possible to its neighbours' mean
   (least squares, solved exactly by pool-adjacent-violators), never closer than ``node_gap``.

``direction`` "TB" stacks layers top to bottom, "LR" left to right. Sizes are (width, height).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

__all__ = ["Rect", "Route", "Layout", "layered_layout"]

Point = Tuple[float, float]
_DUMMY_ACROSS = 10.0  # a placeholder keeps edges apart by this much
_LABEL_PAD = 5.0      # between an edge and its label


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def overlaps(self, other: "Rect") -> bool:
        return self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom


@dataclass
class Route:
    src: Hashable
    dst: Hashable
    points: List[Point]
    label: Optional[Rect] = None


@dataclass
class Layout:
    direction: str
    width: float
    height: float
    boxes: Dict[Hashable, Rect]
    layer: Dict[Hashable, int]
    routes: List[Route]


@dataclass
class _Item:
    key: Hashable
    across: float          # size across the layers
    along: float           # size along them (the layer's thickness)
    anchor: float          # where edges meet it, measured from its start across
    weight: float = 1.0    # placeholders weigh more: long edges come out straight
    is_label: bool = False
    pos: float = 0.0       # its start across


def _topological(nodes: Sequence[Hashable], succs: Dict[Hashable, List[Hashable]]) -> List[Hashable]:
    indegree = {n: 0 for n in nodes}
    for n in nodes:
        for s in succs[n]:
            indegree[s] += 1
    ready = [n for n in nodes if indegree[n] == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for s in succs[n]:
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    if len(order) != len(nodes):
        raise ValueError("layered_layout: the graph has a cycle")
    return order


def _layers(order, preds, succs, across, max_across, node_gap) -> Dict[Hashable, int]:
    layer: Dict[Hashable, int] = {}
    for n in order:  # longest path from the sources
        layer[n] = 1 + max((layer[p] for p in preds[n]), default=-1)
    for n in reversed(order):  # as late as the consumers allow
        if succs[n]:
            layer[n] = max(layer[n], min(layer[s] for s in succs[n]) - 1)
    if max_across is None:
        return layer
    index = {n: i for i, n in enumerate(order)}

    def width(members, current):  # the boxes, and a placeholder for each edge passing by
        passing = sum(1 for n in order for s in succs[n] if layer[n] < current < layer[s])
        return sum(across[n] + node_gap for n in members) - node_gap + passing * (_DUMMY_ACROSS + node_gap)

    current = 0
    while current <= max(layer.values()):
        members = sorted((n for n in order if layer[n] == current), key=index.get)
        keep = 1
        while keep < len(members) and width(members[:keep + 1], current) <= max_across:
            keep += 1
        overflow = members[keep:]
        if overflow:  # they move together to the next layer, opened for them if need be
            if any(layer[s] == current + 1 for n in overflow for s in succs[n]):
                for n in order:
                    if layer[n] > current:
                        layer[n] += 1
            for n in overflow:
                layer[n] = current + 1
        current += 1
    return layer


def _pav(targets: List[float], weights: List[float]) -> List[float]:
    """The non-decreasing sequence closest to `targets` in weighted least squares."""
    blocks: List[List[float]] = []  # [mean, weight, count]
    for t, w in zip(targets, weights):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: List[float] = []
    for mean, _, count in blocks:
        out.extend([mean] * count)
    return out


def _place(rank: List[_Item], desired: Dict[Hashable, float], node_gap: float) -> None:
    """Moves the rank's items (kept in order, `node_gap` apart) so that their anchors come as
    close as possible to `desired` (items without a wish stay where they are)."""
    offsets, total = [], 0.0
    for item in rank:
        offsets.append(total)
        total += item.across + node_gap
    targets = [desired.get(it.key, it.pos + it.anchor) - it.anchor - off for it, off in zip(rank, offsets)]
    for item, q, off in zip(rank, _pav(targets, [it.weight for it in rank]), offsets):
        item.pos = q + off


def _crossings(ranks: List[List[_Item]], links: Dict[Hashable, List[Hashable]]) -> int:
    where = {it.key: i for rank in ranks for i, it in enumerate(rank)}
    total = 0
    for rank in ranks[:-1]:
        pairs = [(where[it.key], where[n]) for it in rank for n in links[it.key]]
        total += sum(1 for i, (a, b) in enumerate(pairs) for c, d in pairs[i + 1:] if (a - c) * (b - d) < 0)
    return total


def _order(ranks: List[List[_Item]], down: Dict, up: Dict) -> List[List[_Item]]:
    best, best_count = [list(r) for r in ranks], _crossings(ranks, down)
    for sweep in range(8):
        going_down = sweep % 2 == 0
        indices = range(1, len(ranks)) if going_down else range(len(ranks) - 2, -1, -1)
        for r in indices:
            neighbours = ranks[r - 1] if going_down else ranks[r + 1]
            where = {it.key: i for i, it in enumerate(neighbours)}
            links = up if going_down else down

            def barycenter(pair, links=links, where=where):
                i, it = pair
                near = [where[n] for n in links[it.key] if n in where]
                return sum(near) / len(near) if near else i
            ranks[r] = [it for _, it in sorted(enumerate(ranks[r]), key=barycenter)]
        count = _crossings(ranks, down)
        if count < best_count:
            best, best_count = [list(r) for r in ranks], count
    return best


def layered_layout(sizes: Dict[Hashable, Tuple[float, float]],
                   edges: Sequence[Tuple[Hashable, Hashable, Optional[Tuple[float, float]]]],
                   direction: str = "TB", *, max_across: Optional[float] = None,
                   layer_gap: float = 44.0, node_gap: float = 22.0) -> Layout:
    """Boxes and edge routes for the DAG (see the module docstring). ``edges``: (source,
    target, label size or None). ``max_across``: the widest a layer may be (TB: in width)."""
    if direction not in ("TB", "LR"):
        raise ValueError(f"layered_layout: direction must be 'TB' or 'LR', got {direction!r}")
    tb = direction == "TB"
    nodes = list(sizes)
    preds: Dict[Hashable, List[Hashable]] = {n: [] for n in nodes}
    succs: Dict[Hashable, List[Hashable]] = {n: [] for n in nodes}
    for src, dst, _ in edges:
        preds[dst].append(src)
        succs[src].append(dst)
    across = {n: (sizes[n][0] if tb else sizes[n][1]) for n in nodes}
    along = {n: (sizes[n][1] if tb else sizes[n][0]) for n in nodes}
    layer = _layers(_topological(nodes, succs), preds, succs, across, max_across, node_gap)

    # ranks: layer L at rank 2L, its half-layer at 2L + 1; one placeholder per rank an edge crosses
    n_ranks = 2 * max(layer.values(), default=0) + 1
    ranks: List[List[_Item]] = [[] for _ in range(n_ranks)]
    down: Dict[Hashable, List[Hashable]] = {}
    up: Dict[Hashable, List[Hashable]] = {}
    for n in nodes:
        ranks[2 * layer[n]].append(_Item(n, across[n], along[n], across[n] / 2))
        down[n], up[n] = [], []
    chains: List[List[Hashable]] = []
    for i, (src, dst, label) in enumerate(edges):
        chain = [src]
        for r in range(2 * layer[src] + 1, 2 * layer[dst]):
            key = ("edge", i, r)
            if label is not None and r == 2 * layer[dst] - 1:
                label_across, label_along = (label[0], label[1]) if tb else (label[1], label[0])
                item = _Item(key, _LABEL_PAD + label_across, label_along, 0.0, weight=2.0, is_label=True)
            else:
                item = _Item(key, _DUMMY_ACROSS, 0.0, _DUMMY_ACROSS / 2, weight=2.0)
            ranks[r].append(item)
            down[key], up[key] = [], []
            chain.append(key)
        chain.append(dst)
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)
        chains.append(chain)

    ranks = _order(ranks, down, up)
    items = {it.key: it for rank in ranks for it in rank}
    for rank in ranks:  # packed, then pulled toward their neighbours
        _place(rank, {}, node_gap)
    anchor = lambda key: items[key].pos + items[key].anchor  # noqa: E731
    for sweep in range(10):
        links = up if sweep % 2 == 0 else down
        indices = range(n_ranks) if sweep % 2 == 0 else range(n_ranks - 1, -1, -1)
        for r in indices:
            wish = {it.key: sum(anchor(n) for n in links[it.key]) / len(links[it.key])
                    for it in ranks[r] if links[it.key]}
            _place(ranks[r], wish, node_gap)
    shift = -min((it.pos for it in items.values()), default=0.0)
    for it in items.values():
        it.pos += shift
    widest = max((it.pos + it.across for it in items.values()), default=0.0)
    if max_across is not None and widest > max_across:
        # pulled toward their neighbours, the ranks spread wider than allowed: pack each one
        # instead, centred on the widest
        packed = [sum(it.across + node_gap for it in rank) - node_gap for rank in ranks]
        for rank, size in zip(ranks, packed):
            start = (max(packed) - size) / 2
            for it in rank:
                it.pos, start = start, start + it.across + node_gap

    starts, total = [], 0.0  # where each rank starts along the layers, and its thickness
    thickness = [max((it.along for it in rank), default=0.0) for rank in ranks]
    for t in thickness:
        starts.append(total)
        total += t + layer_gap / 2
    total -= layer_gap / 2
    rank_of = {it.key: r for r, rank in enumerate(ranks) for it in rank}

    def point(a: float, b: float) -> Point:
        return (a, b) if tb else (b, a)

    def rect(a0: float, b0: float, a_size: float, b_size: float) -> Rect:
        return Rect(a0, b0, a_size, b_size) if tb else Rect(b0, a0, b_size, a_size)

    def along_start(key) -> float:
        r = rank_of[key]
        return starts[r] + (thickness[r] - items[key].along) / 2

    boxes = {n: rect(items[n].pos, along_start(n), across[n], along[n]) for n in nodes}

    # ports: a box's edges leave (and arrive) spread along its side, in the order of their neighbours
    ports: Dict[Tuple[int, str], float] = {}
    for n in nodes:
        for side, links in (("out", down), ("in", up)):
            mine = [(i, chain) for i, chain in enumerate(chains)
                    if (chain[0] if side == "out" else chain[-1]) == n]
            mine.sort(key=lambda ic: anchor(ic[1][1] if side == "out" else ic[1][-2]))
            for j, (i, _) in enumerate(mine):
                ports[(i, side)] = items[n].pos + across[n] * (j + 1) / (len(mine) + 1)

    routes = []
    for i, chain in enumerate(chains):
        src, dst = chain[0], chain[-1]
        pts = [point(ports[(i, "out")], along_start(src) + along[src])]
        label_rect = None
        for key in chain[1:-1]:
            it, r = items[key], rank_of[key]
            pts.append(point(anchor(key), starts[r]))
            if thickness[r] > 0:
                pts.append(point(anchor(key), starts[r] + thickness[r]))
            if it.is_label:
                label_rect = rect(it.pos + _LABEL_PAD, along_start(key), it.across - _LABEL_PAD, it.along)
        pts.append(point(ports[(i, "in")], along_start(dst)))
        routes.append(Route(src, dst, pts, label_rect))

    width = max((it.pos + it.across for it in items.values()), default=0.0)
    w, h = (width, total) if tb else (total, width)
    return Layout(direction, w, h, boxes, layer, routes)
