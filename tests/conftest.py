"""Shared test fixtures. Every random test draws from a seeded generator, so a failure repeats."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(231)


@pytest.fixture
def threads():
    """Restores gatelab's thread count after a test changes it."""
    import gatelab as gl

    before = gl.get_num_threads()
    yield
    gl.set_num_threads(before)
