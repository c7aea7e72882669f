"""Small image data sets that need no download, shaped for gatelab's gates.

    X_train, y_train, X_test, y_test = gl.datasets.load_digits()
    X_train.shape    # (1347, 1, 8, 8): N, C, H, W; float64 in [0, 1]
    y_train.dtype    # int64 class labels 0..9, as softmax_cross_entropy wants them

``load_digits`` wraps scikit-learn's 8x8 handwritten digits (1797 images, 10 classes, shipped
inside the scikit-learn wheel: nothing is fetched). The split is stratified and seeded: every
class keeps its share in both parts, and the same seed gives the same split everywhere.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["load_digits"]


def load_digits(test_size: float = 0.25, seed: int = 0, dtype="float64"
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (X_train, y_train, X_test, y_test).

    X: (N, 1, 8, 8) in ``dtype`` (float64 or float32), pixel values 0..16 scaled to [0, 1].
    y: (N,) int64 labels 0..9. ``test_size``: the fraction of each class held out (0 < t < 1).
    """
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"load_digits: test_size is the held-out fraction, between 0 and 1 exclusive; "
                         f"got {test_size}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.float32):
        raise TypeError(f"load_digits: dtype must be float64 or float32 (gatelab's float types), got {dtype}")
    try:
        from sklearn.datasets import load_digits as _sklearn_digits
    except ImportError as err:  # pragma: no cover - the test extra installs scikit-learn
        from gatelab.install_hints import missing

        raise missing("load_digits (scikit-learn's wheel ships the digits)", "grading",
                      packages=["scikit-learn"]) from err
    digits = _sklearn_digits()
    images = (digits.images[:, None, :, :] / 16.0).astype(dtype)
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(labels.size, dtype=bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test[members[:int(round(test_size * members.size))]] = True
    train_idx, test_idx = rng.permutation(np.flatnonzero(~test)), rng.permutation(np.flatnonzero(test))
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]
