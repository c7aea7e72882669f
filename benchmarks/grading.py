"""Grading throughput: seconds per submission for A1–A3's sample submissions, at -j 1 and -j 2,
with the isolation the grader chose on this machine.

    .venv/bin/python benchmarks/grading.py                          # prints the table
    .venv/bin/python benchmarks/grading.py --write BENCHMARKS.md    # replaces its section there

A submission's time is the wall time of grade_all over all samples divided by their number: it
includes starting the pytest session, the sandbox and one worker per test.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gatelab.grading import find_assignment, isolation  # noqa: E402
from gatelab.grading.runner import grade_all  # noqa: E402
from gatelab.grading.samples import load_samples, materialize  # noqa: E402

HEADING = "## Grading throughput"


def measure(name: str, jobs: int) -> dict:
    a = find_assignment(name)
    samples = load_samples(a)
    with tempfile.TemporaryDirectory() as tmp:
        materialize(a, Path(tmp) / "submissions", samples)
        start = time.perf_counter()
        results = grade_all(a, Path(tmp) / "submissions", jobs=jobs, seed=0)
        wall = time.perf_counter() - start
    tests = sum(len(r.tests) for r in results.values())
    times = sorted(r.execution_time for r in results.values())
    return {"submissions": len(results), "tests": tests, "wall": wall, "per": wall / max(len(results), 1),
            "median": times[len(times) // 2], "slowest": (times[-1], max(results, key=lambda k: results[k].execution_time))}


def table(assignments, jobs_list) -> str:
    iso = isolation.choose()
    load = os.getloadavg()[0]
    lines = [HEADING, "",
             f"`{' '.join(shlex.quote(a) for a in [sys.executable.split('/')[-1]] + sys.argv)}` "
             f"on {platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at the start, isolation: {iso.mode}.",
             "Each row grades the assignment's sample submissions (assignments/*/samples) with "
             "`grade_all`; s/submission is the wall time over their number. The samples include pathological "
             "ones (an endless loop that runs into the time limit, a 16 GB allocation, a megabyte print per "
             "element), so the median grade of one submission (-j 1) and the slowest are shown too.", "",
             "| assignment | submissions | tests | " + " | ".join(f"s/submission -j {j}" for j in jobs_list)
             + " | median grade s | slowest s (sample) |",
             "|---|---:|---:|" + "---:|" * len(jobs_list) + "---:|---|"]
    for name in assignments:
        runs = [measure(name, j) for j in jobs_list]
        lines.append(f"| {name} | {runs[0]['submissions']} | {runs[0]['tests']} | "
                     + " | ".join(f"{r['per']:.2f}" for r in runs)
                     + f" | {runs[0]['median']:.2f} | {runs[0]['slowest'][0]:.1f} ({runs[0]['slowest'][1]}) |")
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="+", default=["A1", "A2", "A3"])
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--write", type=Path, help="replace the section in this Markdown file")
    args = parser.parse_args()
    section = table(args.assignments, args.jobs)
    print(section)
    if args.write:
        write_section(args.write, section)


if __name__ == "__main__":
    main()
