"""The scalar-graph rows: micrograd's demo network, a 2-16-16-1 MLP (ReLU, ReLU, linear) with every
weight and bias its own scalar node, trained with the demo's max-margin loss

    loss = (1/100) Σ_i relu(1 − y_i · score_i)          over 100 points of make_moons

One step is forward + backward over the 100 points (no update). The contenders:

- micrograd 0.1.0 (PyPI): the demo's code, ``model.zero_grad(); loss.backward()`` — it rebuilds
  ~100,000 Python ``Value`` nodes every step;
- gatelab, batched: the same scalar graph (337 scalar parameter nodes, ~650 gate nodes) built
  once, with x₀, x₁, y as length-100 input vectors: every node's value is a vector of the 100
  points (a scalar parameter broadcasts against it), one ``g.forward()`` + ``g.backward(loss)``;
- gatelab, point by point: the same graph with scalar inputs, re-run 100 times per step (one
  point each: feed, forward, backward accumulating the parameter gradients) — the scalar graph
  exactly as micrograd builds it, but built once;
- torch: the batched graph in eager PyTorch, 337 0-d parameter tensors.

Before timing, all four agree on the loss and on every parameter's gradient.
"""

from __future__ import annotations

import numpy as np

import gatelab as gl
from benchmarks.cases import Row

SIZES = (2, 16, 16, 1)
POINTS = 100


def _problem():
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=POINTS, noise=0.1, random_state=1)
    y = (2 * y - 1).astype(np.float64)
    rng = np.random.default_rng(5)
    # layers[l][j] = (weights of neuron j, bias), micrograd's uniform(-1, 1) init, biases 0
    layers = [[(rng.uniform(-1, 1, nin), 0.0) for _ in range(nout)] for nin, nout in zip(SIZES[:-1], SIZES[1:])]
    return x, y, layers


def _mlp(inputs, layers, param, relu=gl.relu):
    """The network on `inputs` (two things that multiply with parameters), micrograd's way:
    act = b + w0·x0 + w1·x1 + ..., relu on every layer but the last."""
    h = list(inputs)
    for l, layer in enumerate(layers):
        out = []
        for j, (w, b) in enumerate(layer):
            act = param(f"b{l}_{j}", b)
            for i, (wi, xi) in enumerate(zip(w, h)):
                act = act + param(f"w{l}_{j}_{i}", wi) * xi
            out.append(relu(act) if l < len(layers) - 1 else act)
        h = out
    return h[0]


def _gatelab_graph(x0, x1, y, layers):
    g = gl.Graph()
    params = {}

    def param(name, value):
        params[name] = g.param(name, float(value))
        return params[name]
    xi0, xi1, yi = g.input("x0", x0), g.input("x1", x1), g.input("y", y)
    score = _mlp([xi0, xi1], layers, param)
    margin = gl.relu(1.0 + (-yi) * score)
    return g, params, (xi0, xi1, yi), margin


def gatelab_batched(x, y, layers):
    g, params, _, margin = _gatelab_graph(x[:, 0].copy(), x[:, 1].copy(), y, layers)
    loss = gl.mean(margin)

    def step():
        g.forward(output=loss)
        g.backward(loss)
        return loss.value, {k: p.grad for k, p in params.items()}
    return step


def gatelab_pointwise(x, y, layers):
    g, params, (xi0, xi1, yi), margin = _gatelab_graph(0.0, 0.0, 0.0, layers)
    loss = margin * (1.0 / POINTS)
    rows = [(float(a), float(b), float(c)) for (a, b), c in zip(x, y)]

    def step():
        total = 0.0
        for i, (a, b, c) in enumerate(rows):
            total += g.forward({xi0: a, xi1: b, yi: c}, output=loss)
            g.backward(loss, accumulate=i > 0)
        return total, {k: p.grad for k, p in params.items()}
    return step


def micrograd_step(x, y, layers):
    from micrograd.engine import Value
    from micrograd.nn import MLP

    model = MLP(2, list(SIZES[1:]))
    params = {}
    for l, (layer, mine) in enumerate(zip(model.layers, layers)):
        for j, (neuron, (w, b)) in enumerate(zip(layer.neurons, mine)):
            for i, wi in enumerate(w):
                neuron.w[i].data = float(wi)
                params[f"w{l}_{j}_{i}"] = neuron.w[i]
            neuron.b.data = float(b)
            params[f"b{l}_{j}"] = neuron.b
    inputs = [list(map(Value, row)) for row in x.tolist()]
    labels = y.tolist()

    def step():
        model.zero_grad()
        scores = list(map(model, inputs))
        losses = [(1 + -yi * si).relu() for yi, si in zip(labels, scores)]
        loss = sum(losses) * (1.0 / len(losses))
        loss.backward()
        return loss.data, {k: p.grad for k, p in params.items()}
    return step


def torch_step(x, y, layers):
    import torch

    names, tensors = [], []

    def param(name, value):
        t = torch.tensor(float(value), dtype=torch.float64, requires_grad=True)
        names.append(name)
        tensors.append(t)
        return t
    x0, x1, yt = torch.from_numpy(x[:, 0].copy()), torch.from_numpy(x[:, 1].copy()), torch.from_numpy(y)
    # Create the parameters once; each step re-runs the network on them (eager: the graph is
    # rebuilt by every step, as PyTorch always does).
    _mlp([x0, x1], layers, param, relu=torch.relu)
    by_name = dict(zip(names, tensors))

    def step():
        score = _mlp([x0, x1], layers, lambda name, value: by_name[name], relu=torch.relu)
        loss = torch.relu(1.0 + (-yt) * score).mean()
        return loss.detach(), dict(zip(names, torch.autograd.grad(loss, tensors)))
    return step


def scalar_rows():
    """Two rows sharing one measurement: gatelab batched and point-by-point vs micrograd."""

    def build():
        x, y, layers = _problem()
        steps = {"gatelab": gatelab_batched(x, y, layers), "gatelab pointwise": gatelab_pointwise(x, y, layers),
                 "micrograd": micrograd_step(x, y, layers), "torch": torch_step(x, y, layers)}
        want_loss, want = steps["micrograd"]()
        for name in ("gatelab", "gatelab pointwise", "torch"):
            loss, grads = steps[name]()
            assert abs(float(loss) - want_loss) < 1e-9, f"scalar graph: {name} loss {float(loss)} vs micrograd {want_loss}"
            worst = max(abs(float(grads[k]) - want[k]) for k in want)
            assert worst < 1e-9, f"scalar graph: {name} gradients differ from micrograd's by {worst:.2e}"
        return steps

    return Row("scalar graph, forward+backward over 100 points", "MLP 2-16-16-1, 337 scalar parameters", "float64", build,
               target=("speedup_ge", 100.0), reference="micrograd", parallel=False, rounds=7,
               extra=["gatelab pointwise"],
               notes="gatelab = the 100 points as one batch through the scalar graph (node values are "
                     "length-100 vectors); gatelab pointwise = 100 re-runs of the scalar graph, one point each")
