"""Training a graph with minibatch SGD: the loop, the optimizer and the curves.

    g = gl.Graph()
    x = g.input("x", shape=(None, 1, 8, 8)); y = g.input("y", shape=(None,), dtype=np.int64)
    ...                                               # parameters with g.param, gates on x
    scores = gl.affine(h, w, b); loss = gl.softmax_cross_entropy(scores, y)
    history = gl.training.fit(g, loss, scores, X_train, y_train, epochs=10, lr=0.1,
                              batch_size=32, momentum=0.9, validation=(X_test, y_test))
    gl.training.plot_history(history)

One SGD iteration is the lecture's loop: sample a minibatch, ``g.forward(batch)``,
``g.backward(loss)``, then ``w -= lr * dL/dw`` for every parameter (with momentum:
``v = momentum * v - lr * dL/dw; w += v``). The graph's inputs are found by name ("x" and "y"
unless given). ``fit`` shows a tqdm progress bar per epoch when tqdm is installed (tqdm reads
TQDM_DISABLE=1 from the environment to turn it off) and returns a History: the loss of every
iteration and, per epoch, the mean training loss and the accuracies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from gatelab.graph import Graph, Node

__all__ = ["SGD", "History", "minibatches", "evaluate", "fit", "plot_history"]


class SGD:
    """Stochastic gradient descent on graph parameters, optionally with momentum.

    ``step()`` reads each parameter's gradient from the last backward pass and writes the
    updated value back into the graph (the next forward uses it)."""

    def __init__(self, params: Sequence[Node], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        params = list(params)
        if not params:
            raise ValueError("SGD: no parameters to train; create them with g.param(name, value)")
        for p in params:
            if not isinstance(p, Node) or p.kind != "parameter":
                raise TypeError(f"SGD: '{getattr(p, 'name', p)}' is not a graph parameter (g.param)")
        if not lr > 0:
            raise ValueError(f"SGD: the learning rate must be positive, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {weight_decay}")
        self.params, self.lr, self.momentum, self.weight_decay = params, float(lr), float(momentum), float(weight_decay)
        self.velocity: Dict[int, np.ndarray] = {}

    def step(self) -> None:
        for p in self.params:
            grad = p.grad
            if grad is None:
                raise ValueError(f"SGD: parameter '{p.name}' has no gradient; run g.backward(loss) first "
                                 "(or the loss does not depend on it)")
            value = np.array(p.value, dtype=p.dtype)
            step = np.asarray(grad, dtype=p.dtype)
            if self.weight_decay:
                step = step + self.weight_decay * value
            if self.momentum:
                v = self.velocity.get(p.id)
                v = -self.lr * step if v is None else self.momentum * v - self.lr * step
                self.velocity[p.id] = v
                value += v
            else:
                value -= self.lr * step
            p.value = value


def minibatches(n: int, batch_size: int, rng: Optional[np.random.Generator] = None) -> Iterator[np.ndarray]:
    """Index arrays covering range(n) once in batches of ``batch_size`` (the last may be smaller),
    shuffled by ``rng`` (in order without one)."""
    if batch_size < 1:
        raise ValueError(f"minibatches: batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


@dataclass
class History:
    """What fit records: ``loss`` per iteration, and per epoch the mean training loss and the
    accuracies (``val_acc`` when fit had validation data)."""

    loss: List[float] = field(default_factory=list)
    epoch_loss: List[float] = field(default_factory=list)
    train_acc: List[float] = field(default_factory=list)
    val_loss: List[float] = field(default_factory=list)
    val_acc: List[float] = field(default_factory=list)
    iterations_per_epoch: int = 0

    def as_dict(self) -> Dict[str, list]:
        return {"loss": self.loss, "epoch_loss": self.epoch_loss, "train_acc": self.train_acc,
                "val_loss": self.val_loss, "val_acc": self.val_acc}


def _inputs(graph: Graph, x: str, y: str) -> Tuple[Node, Node]:
    for name in (x, y):
        if name not in graph:
            raise ValueError(f"fit: the graph has no input named '{name}'; create it with "
                             f"g.input('{name}', shape=(None, ...)) or pass x=/y= with your names")
    return graph[x], graph[y]


def _check_data(X, y, who: str) -> None:
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[:1] != y.shape[:1] or X.ndim == 0:
        raise ValueError(f"{who}: X has {X.shape[0] if X.ndim else 0} examples but y has "
                         f"{y.shape[0] if y.ndim else 0}; give one label per example")


def evaluate(graph: Graph, loss: Node, scores: Node, X, y, *, batch_size: int = 256,
             x: str = "x", y_name: str = "y") -> Tuple[float, float]:
    """(mean loss, accuracy) of the graph on X, y, in batches (no parameter changes).
    Accuracy compares argmax of ``scores`` over its last axis with the integer labels."""
    _check_data(X, y, "evaluate")
    _inputs(graph, x, y_name)
    total_loss, correct = 0.0, 0
    for idx in minibatches(len(X), batch_size):
        graph.forward({x: X[idx], y_name: y[idx]}, output=loss)
        total_loss += float(loss.value) * len(idx)
        correct += int(np.sum(np.argmax(scores.value, axis=-1) == y[idx]))
    return total_loss / len(X), correct / len(X)


def _progress_bar(total: int, enabled: bool):
    """One tqdm bar over all iterations, or None (progress=False, TQDM_DISABLE set, or no tqdm)."""
    if not enabled or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes"):
        return None  # checked here too: importing tqdm.auto in Jupyter warns without ipywidgets
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: train without a bar
        return None
    return tqdm(total=total, unit="it")


def fit(graph: Graph, loss: Node, scores: Node, X, y, *, epochs: int, lr: float, batch_size: int = 32,
        momentum: float = 0.0, weight_decay: float = 0.0, validation: Optional[Tuple] = None,
        params: Optional[Sequence[Node]] = None, seed: int = 0, progress: bool = True,
        x: str = "x", y_name: str = "y") -> History:
    """Minibatch SGD for ``epochs`` passes over (X, y); see the module docstring.

    params      the parameters to train (default: all of the graph's g.param leaves)
    validation  (X_val, y_val), evaluated after every epoch
    seed        the shuffling of the minibatches
    """
    _check_data(X, y, "fit")
    _inputs(graph, x, y_name)
    if epochs < 1:
        raise ValueError(f"fit: epochs must be >= 1, got {epochs}")
    opt = SGD(graph.parameters() if params is None else params, lr, momentum, weight_decay)
    rng = np.random.default_rng(seed)
    history = History(iterations_per_epoch=-(-len(X) // batch_size))
    bar = _progress_bar(epochs * history.iterations_per_epoch, progress)
    for epoch in range(epochs):
        losses, correct = [], 0
        if bar is not None:
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
        for idx in minibatches(len(X), batch_size, rng):
            graph.forward({x: X[idx], y_name: y[idx]}, output=loss)
            value = float(loss.value)
            if not np.isfinite(value):
                raise FloatingPointError(f"fit: the loss became {value} in epoch {epoch + 1}; "
                                         f"the learning rate {lr} is probably too large")
            correct += int(np.sum(np.argmax(scores.value, axis=-1) == y[idx]))
            graph.backward(loss)
            opt.step()
            losses.append(value)
            if bar is not None:
                bar.set_postfix(loss=f"{value:.3f}", refresh=False)
                bar.update(1)
        history.loss.extend(losses)
        history.epoch_loss.append(float(np.mean(losses)))
        history.train_acc.append(correct / len(X))   # accuracy while training (weights moving)
        if validation is not None:
            vl, va = evaluate(graph, loss, scores, *validation, x=x, y_name=y_name)
            history.val_loss.append(vl)
            history.val_acc.append(va)
    if bar is not None:
        bar.close()
    return history


def plot_history(history: History, axes=None):
    """Loss per iteration (with each epoch's mean) and accuracy per epoch; returns the axes."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        from gatelab.install_hints import missing

        raise missing("plot_history", "viz", packages=["matplotlib"]) from err

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss, ax_acc = axes
    ax_loss.plot(np.arange(1, len(history.loss) + 1), history.loss, lw=0.6, alpha=0.5, label="minibatch loss")
    per = max(history.iterations_per_epoch, 1)
    epochs = np.arange(1, len(history.epoch_loss) + 1)
    ax_loss.plot(epochs * per, history.epoch_loss, "o-", label="epoch mean (train)")
    if history.val_loss:
        ax_loss.plot(epochs * per, history.val_loss, "s-", label="validation")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    ax_loss.legend()
    ax_acc.plot(epochs, history.train_acc, "o-", label="train (during the epoch)")
    if history.val_acc:
        ax_acc.plot(epochs, history.val_acc, "s-", label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1.02)
    ax_acc.xaxis.get_major_locator().set_params(integer=True)
    ax_acc.set_title("accuracy")
    ax_acc.legend()
    return axes
