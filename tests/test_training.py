"""gatelab.training: SGD (with momentum and weight decay), minibatches, evaluate, fit, plot_history."""

import numpy as np
import pytest

import gatelab as gl
from gatelab import training


def _quadratic(target):
    """loss = sum((w - target)^2): gradient 2 (w - target)."""
    g = gl.Graph()
    w = g.param("w", np.zeros_like(target))
    loss = gl.sum((w - target) ** 2)
    return g, w, loss


def test_sgd_step_is_w_minus_lr_grad():
    target = np.array([1.0, -2.0, 3.0])
    g, w, loss = _quadratic(target)
    opt = training.SGD([w], lr=0.1)
    g.forward(); g.backward(loss)
    grad = np.array(w.grad)
    opt.step()
    np.testing.assert_allclose(w.value, -0.1 * grad)
    np.testing.assert_allclose(grad, -2 * target)


def test_sgd_momentum_and_weight_decay_follow_the_recurrence():
    target = np.array([1.0, -2.0])
    g, w, loss = _quadratic(target)
    opt = training.SGD([w], lr=0.05, momentum=0.9, weight_decay=0.01)
    ref_w, ref_v = np.zeros(2), np.zeros(2)
    for _ in range(4):
        g.forward(); g.backward(loss)
        step = 2 * (ref_w - target) + 0.01 * ref_w
        ref_v = 0.9 * ref_v - 0.05 * step
        ref_w = ref_w + ref_v
        opt.step()
        np.testing.assert_allclose(w.value, ref_w, rtol=1e-12)


def test_sgd_refuses_bad_arguments():
    g, w, loss = _quadratic(np.ones(2))
    with pytest.raises(ValueError, match="no parameters"):
        training.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="not a graph parameter"):
        training.SGD([g.input("x", 1.0)], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        training.SGD([w], lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        training.SGD([w], lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="backward"):
        training.SGD([w], lr=0.1).step()


def test_minibatches_cover_every_index_once():
    batches = list(training.minibatches(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    again = list(training.minibatches(10, 4, np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert np.array_equal(np.concatenate(list(training.minibatches(5, 2))), np.arange(5))
    with pytest.raises(ValueError):
        list(training.minibatches(5, 0))


def _classifier(rng, d=2, c=3):
    g = gl.Graph()
    x = g.input("x", shape=(None, d))
    y = g.input("y", shape=(None,), dtype=np.int64)
    w = g.param("w", rng.standard_normal((d, c)) * 1e-3)
    b = g.param("b", np.zeros(c))
    scores = gl.affine(x, w, b)
    return g, gl.softmax_cross_entropy(scores, y), scores


def _blobs(rng, n=60):
    centers = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    y = np.arange(n) % 3
    return centers[y] + rng.standard_normal((n, 2)) * 0.5, y.astype(np.int64)


def test_evaluate_matches_a_direct_computation_at_any_batch_size(rng):
    g, loss, scores = _classifier(rng)
    X, y = _blobs(rng)
    g.forward({"x": X, "y": y}, output=loss)
    direct = (float(loss.value), float(np.mean(np.argmax(scores.value, axis=1) == y)))
    for bs in (7, 60, 256):
        got = training.evaluate(g, loss, scores, X, y, batch_size=bs)
        assert got[0] == pytest.approx(direct[0], rel=1e-12) and got[1] == direct[1]


def test_fit_learns_separable_blobs_and_records_history(rng):
    g, loss, scores = _classifier(rng)
    X, y = _blobs(rng)
    before = training.evaluate(g, loss, scores, X, y)
    assert before[0] == pytest.approx(np.log(3), abs=0.05)          # small weights: loss ~ log C
    hist = training.fit(g, loss, scores, X, y, epochs=5, lr=0.1, batch_size=16, momentum=0.9,
                        validation=(X, y), progress=False)
    assert hist.iterations_per_epoch == 4 and len(hist.loss) == 20
    assert len(hist.epoch_loss) == len(hist.train_acc) == len(hist.val_acc) == len(hist.val_loss) == 5
    assert hist.epoch_loss[-1] < 0.2 * hist.epoch_loss[0]
    assert hist.val_acc[-1] == 1.0
    assert set(hist.as_dict()) == {"loss", "epoch_loss", "train_acc", "val_loss", "val_acc"}


def test_fit_is_deterministic_for_a_seed(rng):
    X, y = _blobs(rng)
    runs = []
    for _ in range(2):
        g, loss, scores = _classifier(np.random.default_rng(5))
        runs.append(training.fit(g, loss, scores, X, y, epochs=2, lr=0.1, seed=3, progress=False).loss)
    assert runs[0] == runs[1]


def test_fit_with_progress_bar_and_its_errors(rng, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    g, loss, scores = _classifier(rng)
    X, y = _blobs(rng)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    hist = training.fit(g, loss, scores, X, y, epochs=2, lr=0.1, progress=True)
    assert len(hist.loss) == 4
    err = capsys.readouterr().err                      # one bar over all 4 iterations
    assert "epoch 2/2" in err and "4/4" in err
    monkeypatch.setenv("TQDM_DISABLE", "1")
    training.fit(g, loss, scores, X, y, epochs=1, lr=0.1, progress=True)
    assert "epoch" not in capsys.readouterr().err
    with pytest.raises(ValueError, match="one label per example"):
        training.fit(g, loss, scores, X, y[:-1], epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="no input named 'images'"):
        training.fit(g, loss, scores, X, y, epochs=1, lr=0.1, x="images")
    g, loss, scores = _classifier(rng)           # untrained: a huge step overflows to inf, then NaN
    with pytest.raises(FloatingPointError, match="learning rate"), np.errstate(over="ignore", invalid="ignore"):
        training.fit(g, loss, scores, X * 1e10, y, epochs=3, lr=1e300, progress=False)


def test_plot_history_draws_both_panels(rng):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    hist = training.History(loss=[2.0, 1.5, 1.0, 0.8], epoch_loss=[1.75, 0.9], train_acc=[0.5, 0.8],
                            val_loss=[1.2, 0.7], val_acc=[0.6, 0.9], iterations_per_epoch=2)
    ax_loss, ax_acc = training.plot_history(hist)
    assert len(ax_loss.lines) == 3 and len(ax_acc.lines) == 2
    np.testing.assert_array_equal(ax_acc.lines[1].get_ydata(), [0.6, 0.9])
