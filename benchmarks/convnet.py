"""One training step (forward + backward, no update) of CS231n's three-layer ConvNet on the 8×8
digits (scikit-learn's load_digits), batch 64, one input channel:

    conv 32 filters 3×3 pad 1 - relu - max pool 2×2/2 - affine 512→100 - relu - affine 100→10 - softmax CE

- gatelab: one gl.Graph built once; each step feeds the batch and runs g.forward() and
  g.backward(loss) (the static graph re-run, as a training loop would); the batch is a
  constant node, so, as in torch, no gradient is computed for the images;
- torch: eager autograd, ``torch.autograd.grad(loss, params)``;
- numpy: the course's layers chained by hand (reference.py), forward then backward.
"""

from __future__ import annotations

import numpy as np

import gatelab as gl
from benchmarks import reference as ref
from benchmarks.cases import Row, _agree

N, FILTERS, HIDDEN, CLASSES = 64, 32, 100, 10


def _data(dtype):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:N] / 16.0).astype(dtype)[:, None, :, :]  # (64, 1, 8, 8)
    y = digits.target[:N].astype(np.int64)
    rng = np.random.default_rng(4)
    params = {
        "w1": rng.standard_normal((FILTERS, 1, 3, 3)) * np.sqrt(2 / 9),
        "b1": np.zeros(FILTERS),
        "w2": rng.standard_normal((FILTERS * 4 * 4, HIDDEN)) * np.sqrt(2 / (FILTERS * 16)),
        "b2": np.zeros(HIDDEN),
        "w3": rng.standard_normal((HIDDEN, CLASSES)) * np.sqrt(2 / HIDDEN),
        "b3": np.zeros(CLASSES),
    }
    return x, y, {k: v.astype(dtype) for k, v in params.items()}


ORDER = ("w1", "b1", "w2", "b2", "w3", "b3")


def gatelab_step(x, y, p):
    g = gl.Graph()
    # The data are constants: like torch's tensors without requires_grad, no gradient flows to them.
    xi, yi = g.constant(x, "x"), g.constant(y, "y")
    nodes = {k: g.param(k, v) for k, v in p.items()}
    h = gl.max_pool2d(gl.relu(gl.conv2d(xi, nodes["w1"], nodes["b1"], padding=1)), 2, 2)
    h = gl.relu(gl.affine(h, nodes["w2"], nodes["b2"]))
    loss = gl.softmax_cross_entropy(gl.affine(h, nodes["w3"], nodes["b3"]), yi)

    def step():
        g.forward({xi: x, yi: y}, output=loss)
        g.backward(loss)
        return loss.value, [nodes[k].grad for k in ORDER]
    return step


def torch_step(x, y, p):
    import torch
    F = torch.nn.functional
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    t = {k: torch.from_numpy(v).clone().requires_grad_(True) for k, v in p.items()}
    params = [t[k] for k in ORDER]

    def step():
        h = F.max_pool2d(F.relu(F.conv2d(xt, t["w1"], t["b1"], padding=1)), 2, 2)
        h = F.relu(torch.addmm(t["b2"], h.reshape(N, -1), t["w2"]))
        loss = F.cross_entropy(torch.addmm(t["b3"], h, t["w3"]), yt)
        return loss, torch.autograd.grad(loss, params)
    return step


def numpy_step(x, y, p):
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def step():
        c, conv_cache = ref.conv_forward_strides(x, p["w1"], p["b1"], conv_param)
        r1, relu1 = ref.relu_forward(c)
        m, pool_cache = ref.max_pool_forward_fast(r1, pool_param)
        a2, aff2 = ref.affine_forward(m, p["w2"], p["b2"])
        r2, relu2 = ref.relu_forward(a2)
        scores, aff3 = ref.affine_forward(r2, p["w3"], p["b3"])
        loss, dscores = ref.softmax_loss(scores, y)
        dr2, dw3, db3 = ref.affine_backward(dscores, aff3)
        dm, dw2, db2 = ref.affine_backward(ref.relu_backward(dr2, relu2), aff2)
        dc = ref.relu_backward(ref.max_pool_backward_fast(dm, pool_cache), relu1)
        _, dw1, db1 = ref.conv_backward_strides(dc, conv_cache)
        return loss, [dw1, db1, dw2, db2, dw3, db3]
    return step


def convnet_row(dtype) -> Row:
    def build():
        x, y, p = _data(dtype)
        gs, ts, ns = gatelab_step(x, y, p), torch_step(x, y, p), numpy_step(x, y, p)
        gl_loss, gl_grads = gs()
        t_loss, t_grads = ts()
        n_loss, n_grads = ns()
        _agree("convnet step", [gl_loss] + gl_grads, [t_loss.detach().numpy()] + [g.numpy() for g in t_grads], dtype)
        _agree("convnet step (numpy reference)", [n_loss] + n_grads,
               [t_loss.detach().numpy()] + [g.numpy() for g in t_grads], dtype)
        return {"gatelab": gs, "torch": ts, "numpy": ns}

    conv = 2.0 * N * FILTERS * 9 * 64
    flops = 3 * (conv + 2.0 * N * 512 * HIDDEN + 2.0 * N * HIDDEN * CLASSES)
    return Row("ConvNet training step (forward+backward)", "digits 8x8, batch 64, conv32-pool-100-10", dtype, build,
               flops, target=("torch_ratio_le", 1.0))
