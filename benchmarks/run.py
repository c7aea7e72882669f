"""The benchmark table: gatelab vs PyTorch (CPU) vs a course-style NumPy reference, side by side
in one process, at 1 and at 2 threads.

    make bench                                  # = .venv/bin/python benchmarks/run.py --write BENCHMARKS.md
    .venv/bin/python benchmarks/run.py --only conv --threads 1

Every row is timed interleaved (harness.measure: medians over rounds that run each contender in
turn). GFLOP/s are compared with a dgemm/sgemm peak measured in the same run. The closing
sections judge each target of issue 4 and how the parallel rows scale from 1 to 2 threads.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from typing import Dict, List, Optional

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# NumPy's OpenBLAS (pthreads) keeps its worker threads spinning for a while (2^28 cycles, about
# 0.1 s) after every call. On a 2-core machine the spinning worker takes a core away from the
# contender timed next (gatelab or torch), which then runs at 2 threads no faster than at 1.
# A short timeout (2^4 cycles) parks the workers at once; it must be set before NumPy loads.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from benchmarks import harness  # noqa: E402
from benchmarks.cases import Row, tensor_rows  # noqa: E402
from benchmarks.convnet import convnet_row  # noqa: E402
from benchmarks.gradcheck_conv import jacobian_row, vjp_row  # noqa: E402
from benchmarks.scalar_graph import scalar_rows  # noqa: E402


def all_rows() -> List[Row]:
    return tensor_rows() + [convnet_row("float64"), convnet_row("float32"), scalar_rows(), vjp_row(), jacobian_row()]


def fmt_time(s: Optional[float]) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


class Result:
    """One measured line: a row (or one of its extra contenders) at one thread count."""

    def __init__(self, row: Row, threads: int, times: Dict[str, Optional[float]], peaks: Dict[str, float],
                 variant: Optional[str] = None):
        self.row, self.threads, self.variant = row, threads, variant
        gatelab_key = variant if variant and variant.startswith("gatelab") else "gatelab"
        ref_key = variant if variant and not variant.startswith("gatelab") else row.reference
        self.ref_name = ref_key
        self.gatelab = times.get(gatelab_key)
        self.torch = None if variant and variant.startswith("gatelab") else times.get("torch")
        self.ref = times.get(ref_key) if ref_key else None
        self.peak = peaks[row.dtype]
        self.label = row.label + (f" [{variant}]" if variant else "")
        # A row's target is judged on its own contenders and on its gatelab variants; a further
        # reference (an extra non-gatelab contender) is shown for comparison only.
        self.judged = not variant or variant.startswith("gatelab")

    @property
    def ratio(self) -> Optional[float]:
        return self.gatelab / self.torch if self.gatelab and self.torch else None

    @property
    def gflops(self) -> Optional[float]:
        return self.row.flops / self.gatelab / 1e9 if self.row.flops and self.gatelab else None

    def verdict(self) -> Optional[bool]:
        if not self.row.target or not self.judged:
            return None
        kind, value = self.row.target
        if kind == "torch_ratio_le":
            return None if self.ratio is None else self.ratio <= value
        if kind == "peak_ge":
            return None if self.gflops is None else self.gflops >= value * self.peak
        if kind == "speedup_ge":
            return None if not (self.ref and self.gatelab) else self.ref / self.gatelab >= value
        raise ValueError(kind)

    def measured(self) -> str:
        """The number the target is judged on, and how far it is from the target."""
        kind, value = self.row.target
        if kind == "torch_ratio_le":
            got = self.ratio
            return "—" if got is None else f"{got:.2f}× torch" + (f" ({got / value - 1:.0%} over)" if got > value else "")
        if kind == "peak_ge":
            got = self.gflops / self.peak if self.gflops else None
            return "—" if got is None else f"{got:.0%} of peak" + (f" ({(value - got) * 100:.0f} points short)"
                                                                   if got < value else "")
        got = self.ref / self.gatelab if self.ref and self.gatelab else None
        return "—" if got is None else f"{got:.0f}× faster" + (f" ({value / got:.1f}× short)" if got < value else "")

    def target_text(self) -> str:
        if not self.row.target:
            return ""
        kind, value = self.row.target
        if kind == "torch_ratio_le":
            return f"≤ {value:g}× torch"
        if kind == "peak_ge":
            return f"≥ {value:.0%} of {'d' if self.row.dtype == 'float64' else 's'}gemm peak"
        return f"≥ {value:g}× faster than {self.ref_name}"

    def cells(self) -> List[str]:
        ratio = f"{self.ratio:.2f}" if self.ratio else "—"
        flops = f"{self.gflops:.1f} ({self.gflops / self.peak:.0%})" if self.gflops else "—"
        ref = f"{fmt_time(self.ref)} ({self.ref_name})" if self.ref else "—"
        speed = f"{self.ref / self.gatelab:.1f}×" if self.ref and self.gatelab else "—"
        verdict = {None: "", True: "met", False: "MISSED"}[self.verdict()]
        target = f"{self.target_text()}: {verdict}" if self.row.target and self.judged else ""
        return [f"{self.row.section}: {self.label}", self.row.dtype, fmt_time(self.gatelab), fmt_time(self.torch),
                ratio, ref, speed, flops, target]


HEADER = ["row", "dtype", "gatelab", "torch", "gatelab/torch", "reference (which)", "reference/gatelab",
          "gatelab GFLOP/s (% peak)", "target"]


def markdown_table(header: List[str], lines: List[List[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out)


def measure_rows(rows: List[Row], threads: int, peaks: Dict[str, float], verbose: bool) -> List[Result]:
    got = harness.set_threads(threads)
    if verbose:
        print(f"\n## {threads} thread(s): {got}  load {harness.load_average()}", flush=True)
    results = []
    for row in rows:
        contenders = row.build()
        times = harness.measure(contenders, rounds=row.rounds)
        del contenders
        for variant in [None] + row.extra:
            r = Result(row, threads, times, peaks, variant)
            results.append(r)
            if verbose:
                print(" | ".join(r.cells()), flush=True)
    return results


def scaling_lines(by_threads: Dict[int, List[Result]]) -> List[List[str]]:
    """gatelab's (and torch's) speed-up from 1 to 2 threads, per row."""
    lines = []
    if 1 not in by_threads or 2 not in by_threads:
        return lines
    for one, two in zip(by_threads[1], by_threads[2]):
        if not one.row.parallel or not one.judged:  # a further reference repeats gatelab's times
            continue
        sg = one.gatelab / two.gatelab if one.gatelab and two.gatelab else None
        st = one.torch / two.torch if one.torch and two.torch else None
        judged = one.gatelab is not None and one.gatelab >= 1e-3
        verdict = ("met" if sg >= 1.2 else "MISSED") if judged and sg else "(under 1 ms: not judged)"
        lines.append([f"{one.row.section}: {one.label}", one.row.dtype, fmt_time(one.gatelab), fmt_time(two.gatelab),
                      f"{sg:.2f}×" if sg else "—", f"{st:.2f}×" if st else "—", verdict])
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", default="", help="run only rows whose section or label contains this text")
    parser.add_argument("--write", default="", help="write the table to this Markdown file (BENCHMARKS.md)")
    args = parser.parse_args(argv)

    harness.require_release_openmp()
    command = "make bench  (= " + " ".join(["benchmarks/run.py"] + [shlex.quote(a) for a in (argv or sys.argv[1:])]) + ")"
    facts = harness.machine_facts()
    load_before = harness.load_average()
    print("# gatelab benchmarks\n")
    for k, v in facts.items():
        print(f"- {k}: {v}")
    print(f"- load average before (1/5/15 min): {load_before}")

    rows = [r for r in all_rows() if args.only.lower() in (r.section + " " + r.label).lower()]
    started = time.time()
    peaks: Dict[int, Dict[str, float]] = {}
    by_threads: Dict[int, List[Result]] = {}
    for t in args.threads:
        peaks[t] = {dt: harness.gemm_peak(dt, t) for dt in ("float64", "float32")}
        print(f"\nGEMM peak at {t} thread(s), 2048x2048: dgemm {peaks[t]['float64']:.1f} GFLOP/s, "
              f"sgemm {peaks[t]['float32']:.1f} GFLOP/s")
        by_threads[t] = measure_rows(rows, t, peaks[t], verbose=True)
    load_after = harness.load_average()
    minutes = (time.time() - started) / 60
    scaling = scaling_lines(by_threads)
    if scaling:
        print("\n## Scaling, 1 → 2 threads\n")
        print(markdown_table(["row", "dtype", "gatelab 1 thread", "gatelab 2 threads", "gatelab speed-up",
                              "torch speed-up", "scales (≥ 1.2×)"], scaling))
    targets = target_lines(by_threads)
    print(f"\n## Targets: {sum(line[-1] == 'met' for line in targets)} of {len(targets)} met\n")
    print(markdown_table(["target", "row", "dtype", "threads", "measured", "verdict"], targets))
    print(f"\nload average after: {load_after}; {minutes:.1f} min")

    if args.write:
        write_markdown(args.write, command, facts, load_before, load_after, minutes, peaks, by_threads, scaling)
        print(f"wrote {args.write}")
    return 0


def target_lines(by_threads: Dict[int, List[Result]]) -> List[List[str]]:
    """Every judged target at each thread count, with its measured value and verdict."""
    lines = []
    for t, results in by_threads.items():
        for r in results:
            if r.row.target and r.judged:
                verdict = {None: "—", True: "met", False: "MISSED"}[r.verdict()]
                lines.append([r.target_text(), f"{r.row.section}: {r.label}", r.row.dtype, str(t), r.measured(), verdict])
    return lines


def write_markdown(path, command, facts, load_before, load_after, minutes, peaks, by_threads, scaling) -> None:
    parts = ["# Benchmarks\n",
             "Written by `benchmarks/run.py`; do not edit by hand (the notes on missed targets live in "
             "`benchmarks/MISSES.md` and are appended below).\n",
             f"Command: `{command}`  \n"
             f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}, {minutes:.1f} min  \n"
             f"Load average (1/5/15 min) before: {load_before}; after: {load_after} "
             "(the machine has 2 cores; a load above ~1.2 means other processes shared them and the absolute "
             "times are noisy; rows are timed interleaved, so the ratios are the robust numbers)\n",
             "## Machine\n"]
    parts += [f"- {k}: {v}" for k, v in facts.items()]
    parts.append("")
    parts.append("Sections: the table at each thread count, every target with its verdict, scaling from 1 to 2 "
                 "threads, and the notes on each missed target (size and cause).\n")
    parts.append("Times are medians per call. gatelab/torch < 1 means gatelab is faster. reference/gatelab is how "
                 "many times faster gatelab is than the reference. GFLOP/s count the GEMM-equivalent work "
                 "(conv: 2·N·K·C/G·FH·FW·OH·OW per pass, backward = 2 passes).\n")
    for t, results in by_threads.items():
        parts.append(f"## {t} thread{'s' if t > 1 else ''} (torch.set_num_threads({t}), gl.set_num_threads({t}), "
                     f"threadpoolctl limits={t} for NumPy's BLAS)\n")
        parts.append(f"GEMM peak, 2048×2048, BLAS's own threads: dgemm {peaks[t]['float64']:.1f} GFLOP/s, "
                     f"sgemm {peaks[t]['float32']:.1f} GFLOP/s\n")
        parts.append(markdown_table(HEADER, [r.cells() for r in results]))
        notes = {r.row.notes for r in results if r.row.notes}
        parts += [f"\n- {n}" for n in sorted(notes)]
        parts.append("")
    targets = target_lines(by_threads)
    missed = [line for line in targets if line[-1] == "MISSED"]
    parts.append(f"## Targets (issue 4): {len(targets) - len(missed)} of {len(targets)} met\n")
    parts.append(markdown_table(["target", "row", "dtype", "threads", "measured", "verdict"], targets))
    parts.append("")
    if scaling:
        parts.append("## Scaling from 1 to 2 threads (gatelab; torch for comparison)\n")
        parts.append(markdown_table(["row", "dtype", "gatelab 1 thread", "gatelab 2 threads", "gatelab speed-up",
                                     "torch speed-up", "scales (≥ 1.2×)"], scaling))
        parts.append("")
    misses = os.path.join(os.path.dirname(os.path.abspath(__file__)), "MISSES.md")
    if os.path.exists(misses):
        with open(misses) as f:
            parts.append(f.read())
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    sys.exit(main())
