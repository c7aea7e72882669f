"""Random computational graphs over the element-wise gates and reductions, for the
forward-mode / reverse-mode / Jacobian / finite-difference agreement tests.

Every graph keeps its values in safe domains (log and reciprocal see 1 + v², exp sees tanh v,
divide's denominator is 1.5 + sigmoid), so finite differences are well conditioned. Operands
are drawn with replacement, so nodes are used twice (x * x included), and the output adds up
several nodes of the pool: fan-out everywhere.
"""

import numpy as np

import gatelab as gl


def _unary(rng, v):
    choice = rng.integers(0, 14)
    if choice == 0:
        return gl.sin(v)
    if choice == 1:
        return gl.cos(v)
    if choice == 2:
        return gl.tanh(v)
    if choice == 3:
        return gl.sigmoid(v)
    if choice == 4:
        return -v
    if choice == 5:
        return gl.log(1.0 + v * v)
    if choice == 6:
        return gl.reciprocal(1.0 + v * v)
    if choice == 7:
        return gl.exp(gl.tanh(v))
    if choice == 8:
        return v ** 2
    if choice == 9:
        return gl.softplus(v)
    if choice == 10:
        return gl.elu(v)
    if choice == 11:
        return gl.leaky_relu(v, 0.1)
    if choice == 12:
        return gl.relu(v) + 0.5 * v
    return (gl.sigmoid(v) + 1.0) ** 3


def _binary(rng, a, b):
    choice = rng.integers(0, 5)
    if choice == 0:
        return a + b
    if choice == 1:
        return a - b
    if choice == 2:
        return a * b
    if choice == 3:
        return a / (1.5 + gl.sigmoid(b))
    return gl.maximum(a, b)


def random_graph(seed, *, n_ops=8, shape=(), n_inputs=2, scalar_output=True):
    """(graph, inputs, output). shape: the inputs' shape (() for scalars)."""
    rng = np.random.default_rng(seed)
    g = gl.Graph()
    inputs = [g.input(f"x{i + 1}", rng.uniform(-1.5, 1.5, size=shape) if shape else float(rng.uniform(-1.5, 1.5)))
              for i in range(n_inputs)]
    pool = list(inputs)
    for _ in range(n_ops):
        if rng.random() < 0.5:
            node = _unary(rng, pool[rng.integers(len(pool))])
        else:
            node = _binary(rng, pool[rng.integers(len(pool))], pool[rng.integers(len(pool))])
        pool.append(node)
    # the output uses the last node, one of the inputs and a random earlier node: fan-out
    out = pool[-1] * pool[rng.integers(len(pool))] + gl.tanh(inputs[0]) + pool[rng.integers(n_inputs, len(pool))]
    if scalar_output and shape:
        out = gl.sum(out) + gl.mean(out * inputs[-1])
    g.output = out
    g.forward()
    return g, inputs, out


def finite_difference_jacobian(g, out, x, h=1e-6):
    """(out.size, x.size) by central differences on the leaf's value storage."""
    arr = g._g.writable_value(x.id)
    cols = []
    for j in range(arr.size):
        old = arr.flat[j]
        arr.flat[j] = old + h
        plus = np.array(g.forward(output=out), dtype=np.float64).ravel()
        arr.flat[j] = old - h
        minus = np.array(g.forward(output=out), dtype=np.float64).ravel()
        arr.flat[j] = old
        cols.append((plus - minus) / (2 * h))
    g.feed({x: arr.copy()})
    g.forward()
    return np.stack(cols, axis=1)
