"""gatelab.datasets.load_digits: scikit-learn's bundled digits as NCHW arrays, split per class."""

import numpy as np
import pytest

import gatelab as gl

pytest.importorskip("sklearn", reason="the test extra installs scikit-learn")


def test_shapes_dtypes_and_ranges():
    X_train, y_train, X_test, y_test = gl.datasets.load_digits()
    assert X_train.shape[1:] == X_test.shape[1:] == (1, 8, 8)
    assert X_train.shape[0] + X_test.shape[0] == 1797
    assert X_train.dtype == X_test.dtype == np.float64
    assert y_train.dtype == y_test.dtype == np.int64
    assert 0.0 == min(X_train.min(), X_test.min()) and max(X_train.max(), X_test.max()) == 1.0
    assert set(np.unique(y_train)) == set(np.unique(y_test)) == set(range(10))
    assert X_train.flags.c_contiguous


def test_images_are_sklearns_scaled_to_unit_range():
    from sklearn.datasets import load_digits

    raw = load_digits()
    X_train, y_train, X_test, y_test = gl.datasets.load_digits()
    X = np.concatenate([X_train, X_test])[:, 0] * 16.0
    y = np.concatenate([y_train, y_test])
    # the split is a permutation of sklearn's (image, label) pairs
    ours = sorted((int(l), im.tobytes()) for im, l in zip(X, y))
    theirs = sorted((int(l), im.astype(np.float64).tobytes()) for im, l in zip(raw.images, raw.target))
    assert ours == theirs


def test_split_is_stratified_seeded_and_disjoint():
    a = gl.datasets.load_digits(test_size=0.2, seed=3)
    b = gl.datasets.load_digits(test_size=0.2, seed=3)
    c = gl.datasets.load_digits(test_size=0.2, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])
    full = np.bincount(np.concatenate([a[1], a[3]]))
    np.testing.assert_array_equal(np.bincount(a[3]), np.round(0.2 * full).astype(int))
    train = {x.tobytes() + bytes([l]) for x, l in zip(a[0], a[1])}
    test = {x.tobytes() + bytes([l]) for x, l in zip(a[2], a[3])}
    # sklearn's digits contain a few exact duplicates; the split itself is index-disjoint
    assert len(a[1]) + len(a[3]) == 1797 and len(test - train) > 0.95 * len(test)


def test_float32_and_bad_arguments():
    X_train, _, X_test, _ = gl.datasets.load_digits(dtype="float32")
    assert X_train.dtype == X_test.dtype == np.float32
    with pytest.raises(ValueError, match="test_size"):
        gl.datasets.load_digits(test_size=1.0)
    with pytest.raises(TypeError, match="float64 or float32"):
        gl.datasets.load_digits(dtype="int64")
