"""The gradient-check rows: a full numerical gradient check of one conv layer, x (2,3,8,8),
w (4,3,3,3), b (4,), stride 1, pad 1 (output (2,4,8,8)), every element of x, w and b (496
elements, 992 forward passes), float64.

Row "vjp" — the course's check, CS231n's ConvolutionalNetworks notebook:
    dx_num = eval_numerical_gradient_array(lambda x: conv_forward(x, w, b, p)[0], x, dout)  (and w, b)
    dx, dw, db = conv_backward(dout, cache); rel_error(dx_num, dx) ...
- gatelab: build the graph, then ``_core.check_vjp`` (the C++ engine: analytic backward seeded
  with dout, central differences on per-thread graph clones) and the three rel_errors;
- Python loop (naive): the above with CS231n's ``conv_forward_naive`` (four Python loops);
- Python loop (fast layer): the above with the NumPy fast layer ``conv_forward_strides``.

Row "Jacobian" — torch's semantics (full Jacobians both ways, |a − n| <= atol + rtol·|n|):
- gatelab: ``gl.gradcheck(lambda x, w, b: gl.conv2d(x, w, b, padding=1), (x, w, b))``;
- torch: ``torch.autograd.gradcheck`` on ``F.conv2d`` with the same inputs.
"""

from __future__ import annotations

import numpy as np

import gatelab as gl
from gatelab import _core
from benchmarks import reference as ref
from benchmarks.cases import Row

PARAM = {"stride": 1, "pad": 1}


def _problem():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3)) / np.sqrt(27)
    b = rng.standard_normal(4)
    dout = rng.standard_normal((2, 4, 8, 8))
    return x, w, b, dout


def gatelab_vjp(x, w, b, dout, eps=1e-5):
    def check():
        g = gl.Graph()
        nodes = [g.input("x", x), g.input("w", w), g.input("b", b)]
        y = gl.conv2d(*nodes, padding=1)
        g.forward(output=y)
        pairs = _core.check_vjp(g._g, y.id, [n.id for n in nodes], dout, eps)
        return [gl.rel_error(a, n) for a, n in pairs]
    return check


def course_loop(forward, x, w, b, dout, h=1e-5):
    """CS231n's check: three eval_numerical_gradient_array loops, the analytic backward of the
    fast layer, three rel_errors."""
    def check():
        xc, wc, bc = x.copy(), w.copy(), b.copy()
        dx_num = ref.eval_numerical_gradient_array(lambda v: forward(v, wc, bc, PARAM)[0], xc, dout, h)
        dw_num = ref.eval_numerical_gradient_array(lambda v: forward(xc, v, bc, PARAM)[0], wc, dout, h)
        db_num = ref.eval_numerical_gradient_array(lambda v: forward(xc, wc, v, PARAM)[0], bc, dout, h)
        _, cache = ref.conv_forward_strides(xc, wc, bc, PARAM)
        dx, dw, db = ref.conv_backward_strides(dout, cache)
        return [gl.rel_error(dx, dx_num), gl.rel_error(dw, dw_num), gl.rel_error(db, db_num)]
    return check


def vjp_row() -> Row:
    def build():
        x, w, b, dout = _problem()
        checks = {"gatelab": gatelab_vjp(x, w, b, dout),
                  "Python loop (conv_forward_naive)": course_loop(ref.conv_forward_naive, x, w, b, dout),
                  "Python loop (fast layer)": course_loop(ref.conv_forward_strides, x, w, b, dout)}
        for name, check in checks.items():
            errors = check()
            assert max(errors) < 1e-7, f"gradient check ({name}): relative errors {errors}"
        return checks

    return Row("numerical gradient check, conv layer (every element of x, w, b)",
               "vjp: CS231n eval_numerical_gradient_array", "float64", build,
               target=("speedup_ge", 100.0), reference="Python loop (conv_forward_naive)",
               extra=["Python loop (fast layer)"], rounds=3,
               notes="2 forward passes per element, 992 in all; the course compares with rel_error")


def jacobian_row() -> Row:
    def build():
        import torch
        F = torch.nn.functional
        x, w, b, _ = _problem()
        ts = [torch.from_numpy(a).clone().requires_grad_(True) for a in (x, w, b)]

        def ours():
            return gl.gradcheck(lambda xi, wi, bi: gl.conv2d(xi, wi, bi, padding=1), (x, w, b))

        def theirs():
            return torch.autograd.gradcheck(lambda xi, wi, bi: F.conv2d(xi, wi, bi, padding=1), ts)
        assert ours() and theirs()
        return {"gatelab": ours, "torch": theirs}

    return Row("numerical gradient check, conv layer (every element of x, w, b)",
               "Jacobian: gl.gradcheck vs torch.autograd.gradcheck", "float64", build, reference="", rounds=3,
               notes="full (512 x 496) Jacobians, analytic and numeric")
