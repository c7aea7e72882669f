"""build_info(): what this installation of gatelab is (for bug reports and benchmark tables)."""

from __future__ import annotations

import platform

import numpy as np

from gatelab import _core

__all__ = ["build_info"]


def build_info() -> dict:
    """Version, compiler and flags, OpenMP (on/off, threads), BLAS (library, threading) of the
    compiled core, plus the Python and NumPy it runs under."""
    info = dict(_core.build_info())
    info["threads"] = _core.get_num_threads()
    info["python"] = platform.python_version()
    info["numpy"] = np.__version__
    info["machine"] = platform.machine()
    return info
