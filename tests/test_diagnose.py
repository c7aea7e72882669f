"""Gradient-check diagnosis: gl.gradcheck names the right cause for deliberately broken gates.

One broken gate (a gl.Gate subclass) per bug class, each checked through gl.gradcheck (the
report and the message) and, where the autograder would call it directly, through
gl.diagnose_gradients on gradient arrays.
"""

import numpy as np
import pytest

import gatelab as gl
from gatelab.diagnose import CAUSES, diagnose_gradients


def failing_report(gate_or_fn, inputs, **kw):
    with pytest.raises(gl.GradcheckError) as info:
        gl.gradcheck(gate_or_fn, inputs, **kw)
    return info.value, info.value.report


# ---- broken gates, one per bug class ----------------------------------------------------------

class SinWrongSign(gl.Gate):
    def forward(self, x):
        self.x = x
        return np.sin(x)

    def backward(self, dout):
        return (-np.cos(self.x) * dout,)          # bug: d sin = +cos


class MeanForgetsN(gl.Gate):
    def forward(self, x):
        self.shape = x.shape
        return np.array(x.mean())

    def backward(self, dout):
        return (np.full(self.shape, dout),)       # bug: the mean's gradient is dout / N


class MatMulTransposedW(gl.Gate):
    def forward(self, x, w):
        self.x, self.w = x, w
        return x @ w

    def backward(self, dout):
        return dout @ self.w.T, (self.x.T @ dout).T   # bug: dw is transposed


class SquareOnePath(gl.Gate):
    """x * x uses x twice; backward keeps only one path's gradient."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dout):
        dx = self.x * dout                        # path through the first factor
        dx = self.x * dout                        # bug: = instead of += for the second factor
        return (dx,)


class PairSumOverwrites(gl.Gate):
    """out[k] = x[k] + x[k+1] (overlapping windows of 2); backward assigns instead of adding."""

    def forward(self, x):
        self.n = x.shape[0]
        return x[:-1] + x[1:]

    def backward(self, dout):
        dx = np.zeros(self.n)
        for k in range(self.n - 1):
            dx[k:k + 2] = dout[k]                 # bug: must be +=, x[k] is in two windows
        return (dx,)


class ReLU(gl.Gate):
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        return (dout * (self.x > 0),)


class Max2(gl.Gate):
    def forward(self, a, b):
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, dout):
        return dout * (self.a >= self.b), dout * (self.a < self.b)


class Sigmoid(gl.Gate):
    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, dout):
        return (dout * self.y * (1 - self.y),)


class ForgetsX(gl.Gate):
    def forward(self, x, w):
        return x * w

    def backward(self, dout):
        return np.zeros_like(dout), dout * 0 + 1.0 * dout   # bug: dx never computed; dw wrong too


rng = np.random.default_rng(7)


def test_sign_flip():
    err, report = failing_report(SinWrongSign(), rng.normal(size=(3, 4)))
    assert report.diagnosis.cause == "sign_flip"
    assert "likely cause: sign_flip" in str(err)
    assert "opposite sign" in report.diagnosis.hint


def test_factor_sum_vs_mean_names_n():
    err, report = failing_report(MeanForgetsN(), rng.normal(size=(3, 4)))
    d = report.diagnosis
    assert d.cause == "factor"
    assert d.factor == pytest.approx(12.0)
    assert "N = 12" in d.hint and "mean" in d.hint


def test_transpose():
    x, w = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    err, report = failing_report(MatMulTransposedW(), (x, w))
    assert [c.passed for c in report.inputs] == [True, False]
    assert report.diagnosis.cause == "transpose"
    assert report.inputs[1].diagnosis.name == "input1"


def test_missing_accumulation_variable_used_twice():
    err, report = failing_report(SquareOnePath(), rng.normal(size=5) + 2.0)
    d = report.diagnosis
    assert d.cause == "missing_accumulation"
    assert d.factor == pytest.approx(0.5)
    assert "+=" in d.hint and "SUM" in d.hint


def test_missing_accumulation_overlapping_windows():
    err, report = failing_report(PairSumOverwrites(), rng.normal(size=6))
    assert report.diagnosis.cause == "missing_accumulation"
    # x[0] is in one window only: its gradient is right; every shared element is wrong
    d = report.diagnosis
    assert d.rel_error_map.shape == (6,)
    assert d.rel_error_map[0] < 1e-6 and np.all(d.rel_error_map[1:-1] > 0.1)


def test_kink_relu_crossed_by_eps():
    x = rng.normal(size=8)
    x[3] = 3e-7                                   # within eps = 1e-6 of the kink at 0
    err, report = failing_report(ReLU(), x)
    d = report.diagnosis
    assert d.cause == "kink"
    assert d.worst_index == (3,)
    assert d.n_wrong == 1 and d.kink_mask[3]
    assert "resample" in d.hint
    x[3] = 0.5                                    # resampled away from the kink: passes
    assert gl.gradcheck(ReLU(), x)


def test_kink_max_near_tie():
    a = rng.normal(size=6)
    b = a + rng.choice([-1.0, 1.0], size=6)
    b[2] = a[2] + 2e-7                            # a near tie: max switches inputs within ±eps
    err, report = failing_report(Max2(), (a, b))
    assert report.diagnosis.cause == "kink"
    assert report.diagnosis.worst_index == (2,)


def test_float32_noise_suggests_float64():
    x = rng.normal(size=(4, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="float32"):
        err, report = failing_report(Sigmoid(), x, eps=1e-5)
    assert report.diagnosis.cause == "float32_noise"
    assert "float64" in report.diagnosis.hint
    assert gl.gradcheck(Sigmoid(), x.astype(np.float64))


def test_zero_gradient():
    err, report = failing_report(ForgetsX(), (rng.normal(size=3), rng.normal(size=3)))
    assert report.inputs[0].diagnosis.cause == "zero"


def test_report_string_lists_diagnosis_per_failing_input():
    err, report = failing_report(SinWrongSign(), rng.normal(size=4))
    text = str(report)
    assert "FAILED" in text and "sign_flip" in text
    assert report.inputs[0].diagnosis.rel_error_map.shape == (4,)


def test_hint_reveals_no_input_values():
    x = np.array([0.123456789, 1.987654321, -2.55555])
    for gate in (SinWrongSign(), MeanForgetsN(), SquareOnePath()):
        with pytest.raises(gl.GradcheckError) as info:
            gl.gradcheck(gate, x + 3.0)
        d = info.value.report.diagnosis
        for v in list(x) + list(x + 3.0):
            assert f"{v:.3g}" not in d.hint and f"{v:.4f}" not in d.hint


def test_gradcheck_passes_correct_gates_unchanged():
    assert gl.gradcheck(Sigmoid(), rng.normal(size=(2, 3)))
    assert gl.gradcheck(lambda a, b: a * b + gl.sin(a), (rng.normal(size=3), rng.normal(size=3)))
    assert not gl.gradcheck(SinWrongSign(), rng.normal(size=3), raise_exception=False)


# ---- diagnose_gradients on plain gradient arrays (how the autograder calls it) --------------

def test_arrays_each_cause():
    x = rng.normal(size=(4, 4))
    g = np.cos(x)
    assert diagnose_gradients(g, g, x=x).cause == "ok"
    assert diagnose_gradients(-g, g, x=x).cause == "sign_flip"
    assert diagnose_gradients(g.T, g, x=x).cause == "transpose"
    d = diagnose_gradients(g / 16, g, x=x)
    assert d.cause == "factor" and d.factor == pytest.approx(1 / 16) and "N = 16" in d.hint
    assert diagnose_gradients(g / 2, g, x=x).cause == "missing_accumulation"
    assert diagnose_gradients(np.zeros_like(g), g, x=x).cause == "zero"
    assert diagnose_gradients(g[:3], g, x=x).cause == "shape"
    noisy = g + rng.normal(size=g.shape)
    assert diagnose_gradients(noisy, g, x=x).cause == "unknown"
    assert set(CAUSES) >= {"ok", "sign_flip", "factor", "transpose", "missing_accumulation", "kink",
                           "float32_noise", "unknown"}


def test_arrays_transpose_of_non_square_gradient():
    x = rng.normal(size=(2, 5))
    g = np.sin(x)
    assert diagnose_gradients(g.T, g, x=x).cause == "transpose"


def test_arrays_relu_kink_from_x_and_h():
    x = rng.normal(size=10)
    x[4] = -4e-6
    analytic = (x > 0).astype(float)
    numeric = analytic.copy()
    numeric[4] = 0.3                              # the central difference straddles 0
    d = diagnose_gradients(analytic, numeric, x=x, h=1e-5)
    assert d.cause == "kink" and d.worst_index == (4,)
    # the same numbers far from any kink are a real bug
    assert diagnose_gradients(analytic, numeric, x=x + 1.0, h=1e-5).cause != "kink"


def avg_pool1d_backward(dout, n, size=3, stride=2, accumulate=True):
    """The naive loop of an overlapping 1-D average pool (window 3, stride 2)."""
    dx = np.zeros(n)
    for i in range(dout.shape[0]):
        window = slice(i * stride, i * stride + size)
        if accumulate:
            dx[window] += dout[i] / size
        else:
            dx[window] = dout[i] / size           # the bug: shared elements keep the last window
    return dx


def test_arrays_overlapping_window_overwrite():
    dout = rng.normal(size=6)                     # 13 inputs -> 6 windows; every even element is shared
    right = avg_pool1d_backward(dout, 13)
    wrong = avg_pool1d_backward(dout, 13, accumulate=False)
    d = diagnose_gradients(wrong, right, x=np.zeros(13))
    assert d.cause == "missing_accumulation"
    assert d.n_wrong == 5                         # elements 2, 4, 6, 8, 10


def test_overlapping_pool_gate_through_gradcheck():
    class AvgPool1d(gl.Gate):
        def forward(self, x):
            self.n = x.shape[0]
            return np.array([x[2 * i:2 * i + 3].mean() for i in range((self.n - 1) // 2)])

        def backward(self, dout):
            return (avg_pool1d_backward(dout, self.n, accumulate=False),)

    err, report = failing_report(AvgPool1d(), rng.normal(size=9))
    assert report.diagnosis.cause == "missing_accumulation"


def test_float32_arrays():
    x = rng.normal(size=20).astype(np.float32)
    g = np.cos(x.astype(np.float64))
    noisy = g * (1 + 3e-3 * rng.normal(size=20))
    assert diagnose_gradients(noisy.astype(np.float32), g, x=x, h=1e-3).cause == "float32_noise"
    assert diagnose_gradients(noisy, g, x=x.astype(np.float64), h=1e-3).cause != "float32_noise"


def test_rel_error_map_and_worst_index_for_jacobians():
    # Jacobian form (*output, *input): the map is reduced over outputs to the input's shape
    n = np.eye(3) * np.array([1.0, 2.0, 3.0])
    a = n.copy()
    a[2, 2] = 1.0
    d = diagnose_gradients(a, n, x=np.zeros(3))
    assert d.rel_error_map.shape == (3,)
    assert d.worst_index == (2,) and d.worst_output_index == (2,)
    assert d.rel_error_map[0] == 0 and d.rel_error_map[2] == pytest.approx(0.5)


def test_kinks_of_builtin_gates_through_the_parallel_engine():
    x = rng.normal(size=8)
    x[5] = -4e-7                                  # ReLU's kink within ±eps
    err, report = failing_report(gl.gates.ReLU(), x)
    assert report.diagnosis.cause == "kink" and report.diagnosis.worst_index == (5,)
    a = rng.normal(size=5)
    b = a + 1.0
    b[1] = a[1] - 3e-7                            # a near tie inside gl.maximum
    err, report = failing_report(lambda p, q: gl.maximum(p, q) * 2.0, (a, b))
    assert report.diagnosis.cause == "kink" and report.diagnosis.worst_index == (1,)
