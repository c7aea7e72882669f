"""Timing and thread control for the benchmark table.

- ``threads(n)`` sets the same thread count everywhere before a table is measured: PyTorch
  (``torch.set_num_threads``), gatelab (``gl.set_num_threads``: its OpenMP loops and its OpenBLAS),
  and NumPy's own OpenBLAS (threadpoolctl); then it checks that each took effect.
- ``measure(contenders)`` times several implementations of one row *interleaved*: every round
  runs each contender once (one sample = enough back-to-back calls to last ``sample_s``), in a
  rotating order, and the row reports each contender's median over the rounds. A burst of load
  from another process then hits every column of a row alike, so the ratios stay meaningful
  even when the absolute times wobble.
- ``gemm_peak(dtype, threads)``: the machine's GEMM GFLOP/s, measured by the core's yardstick
  (``_core.gemm_peak_times``: cblas on preallocated n×n matrices, BLAS's own threads).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable, Dict, Optional

import numpy as np

import gatelab as gl
from gatelab import _core


def set_threads(n: int) -> Dict[str, int]:
    """Same thread count for torch, gatelab and NumPy's BLAS; returns what each reports."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(n)     # torch and gatelab may share one OpenMP runtime: torch first,
    gl.set_num_threads(n)        # then gatelab, each setting its own count
    threadpool_limits(limits=n, user_api="blas")
    numpy_blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    got = {"torch": torch.get_num_threads(), "gatelab": gl.get_num_threads(),
           "numpy_blas": numpy_blas[0]["num_threads"] if numpy_blas else -1}
    bad = {k: v for k, v in got.items() if v not in (n, -1)}
    if bad:
        raise RuntimeError(f"asked for {n} threads, got {bad}")
    return got


def _sample(fn: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def measure(contenders: Dict[str, Optional[Callable[[], object]]], rounds: int = 9, sample_s: float = 0.02,
            max_s: float = 12.0) -> Dict[str, Optional[float]]:
    """Median seconds per call of each contender (None entries are skipped), interleaved.

    Each contender is warmed up, then calibrated so one sample lasts about ``sample_s``. Slow
    contenders (one call over ``max_s / rounds``) get fewer rounds, at least 3."""
    live = {k: f for k, f in contenders.items() if f is not None}
    calls, budget_rounds = {}, rounds
    for name, fn in live.items():
        once = _sample(fn, 1)                  # warm-up (allocations, caches, lazy init)
        once = min(once, _sample(fn, 1))
        calls[name] = max(1, int(sample_s / max(once, 1e-9)))
        if once * rounds > max_s:
            budget_rounds = min(budget_rounds, max(3, int(max_s / once)))
    times: Dict[str, list] = {name: [] for name in live}
    names = list(live)
    for r in range(budget_rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(_sample(live[name], calls[name]))
    return {k: (statistics.median(times[k]) if k in times else None) for k in contenders}


def gemm_peak(dtype: str, threads: int, n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of an n×n GEMM on this machine (median of `repeats`), BLAS threading on `threads`."""
    seconds = statistics.median(_core.gemm_peak_times(dtype, n, threads, repeats))
    return 2.0 * n ** 3 / seconds / 1e9


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_vector_features() -> str:
    """The vector extensions /proc/cpuinfo lists (which of gatelab's kernel clones runs)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    wanted = ("sse2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq")
    return ", ".join(w for w in wanted if w in flags) or "none listed"


def machine_facts() -> Dict[str, str]:
    """What ran: CPU, cores, gatelab's build (OpenMP must be on), torch, NumPy and their BLAS."""
    import torch
    from threadpoolctl import threadpool_info

    info = gl.build_info()
    blas = [f"{i['prefix']} {i.get('version')} ({i.get('architecture', '?')}, {i.get('threading_layer', '?')})"
            for i in threadpool_info() if i["user_api"] == "blas"]
    return {
        "cpu": cpu_model(),
        "cpu vector features": cpu_vector_features(),
        "cores": str(os.cpu_count()),
        "gatelab": f"{info['version']}, {info['build_type']} build, {info['compiler']}, flags '{info['cxx_flags']}', "
                   f"OpenMP {info['openmp']} ({info['openmp_version']})",
        "gatelab BLAS": f"{info['blas_config']} [{info['blas_threading']}]",
        "torch": f"{torch.__version__} (MKL {torch.backends.mkl.is_available()}, oneDNN {torch.backends.mkldnn.is_available()})",
        "numpy": f"{np.__version__}",
        "BLAS libraries loaded": "; ".join(blas),
        "python": platform.python_version(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "(unset)") + " (set by run.py, see the notes)",
    }


def require_release_openmp() -> None:
    """The table is only meaningful for the Release build with OpenMP on."""
    info = gl.build_info()
    if info["build_type"] != "Release" or info["openmp"] != "on":
        raise SystemExit(f"benchmarks need gatelab's Release build with OpenMP on; this one is "
                         f"build_type={info['build_type']!r}, openmp={info['openmp']!r} (rebuild with make setup)")
