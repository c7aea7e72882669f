"""Grading: one submission (``grade``) or a folder of them in parallel (``grade_all``).

    result = grade("A1", "alice.ipynb", json_path="results.json")
    result.score, result.max_score, result.tests

The runner parses the submission (no execution), copies the tests into a private work folder,
and starts a grading session process (``gatelab.grading.session``), which runs pytest and forks
a sandboxed process per test. The session reports each test on a pipe; the runner keeps its own
list of tests and points, so the score comes from its own bookkeeping only: a session that dies
or hangs costs the tests it did not report, and whatever a student's code writes (a
results.json, a conftest.py) is not read. ``grade`` never raises for a bad submission or a
grader failure and always writes results.json when asked to.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

from gatelab.grading.assignment import Assignment, find_assignment
from gatelab.grading.submission import SubmissionError, load_submission

__all__ = ["TestResult", "GradeResult", "grade", "grade_all", "find_submissions", "write_csv"]

_STARTUP_LIMIT = 180.0     # seconds for the session to start and collect its tests
_SLACK = 60.0              # seconds a test may take beyond its limits (the oracle's own work)


@dataclass
class TestResult:
    __test__ = False          # not a pytest test class

    id: str
    function: str
    name: str
    number: str
    points: float
    hidden: bool
    concept: str = ""
    status: str = "failed"
    kind: str = "not_run"
    output: str = ""
    integrity: bool = False

    @property
    def score(self) -> float:
        return self.points if self.status == "passed" else 0.0


@dataclass
class GradeResult:
    assignment: str
    submission: str
    tests: List[TestResult] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)        # for the student: skipped cells, ...
    errors: List[str] = field(default_factory=list)       # the grader's own problems
    seed: int = 0
    execution_time: float = 0.0
    hidden_visibility: str = "after_published"

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)

    @property
    def failed(self) -> List[str]:
        """Function names of the tests that did not pass."""
        return [t.function for t in self.tests if t.status != "passed"]

    def test(self, function: str) -> TestResult:
        for t in self.tests:
            if t.function == function:
                return t
        raise KeyError(function)

    def to_gradescope(self) -> dict:
        """Gradescope's results.json (the autograder specification's fields)."""
        output = []
        if self.notes:
            output.append("Notes on your submission:\n" + "\n".join(f"- {n}" for n in self.notes))
        if self.errors:
            output.append("The grader had a problem (not your code; the course staff will look at it):\n"
                          + "\n".join(f"- {e.splitlines()[0]}" for e in self.errors))
        tests = []
        for t in self.tests:
            tests.append({
                "name": t.name, "number": t.number, "score": t.score, "max_score": t.points,
                "status": "passed" if t.status == "passed" else "failed", "output": t.output,
                "output_format": "text", "visibility": self.hidden_visibility if t.hidden else "visible",
                "tags": ["hidden" if t.hidden else "public"] + ([t.kind] if t.kind else []),
                "extra_data": {"id": t.id},
            })
        from gatelab import __version__

        return {
            "score": self.score, "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3),
            "output": "\n\n".join(output), "output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden",
            "tests": tests,
            "extra_data": {"assignment": self.assignment, "submission": self.submission, "seed": self.seed,
                           "gatelab": __version__},
        }

    def write_json(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_gradescope(), indent=2) + "\n")
        os.replace(tmp, path)


def _seed_of(submission: Path) -> int:
    """Per-submission hidden inputs that repeat on a regrade: a hash of the submitted file."""
    try:
        data = Path(submission).read_bytes()
    except OSError:
        data = str(submission).encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "little")


def grade(assignment: Union[str, Path, Assignment], submission: Union[str, Path],
          json_path: Optional[Union[str, Path]] = None, seed: Optional[int] = None,
          keep_workdir: bool = False) -> GradeResult:
    """Grades one submission (a notebook, a .py, or a folder holding one). See the module docstring."""
    start = time.monotonic()
    result = GradeResult(assignment=str(getattr(assignment, "name", assignment)), submission=Path(submission).name)
    try:
        if importlib.util.find_spec("pytest") is None:
            raise RuntimeError("grading needs pytest: pip install 'gatelab[grading]'")
        a = assignment if isinstance(assignment, Assignment) else find_assignment(assignment)
        result.assignment, result.hidden_visibility = a.name, a.hidden_visibility
        try:
            sub = load_submission(Path(submission), prefer=a.stem)
            parsed = sub.to_json()
            result.submission = sub.path.name
            result.notes.extend(sub.notes)
            result.seed = _seed_of(sub.path) if seed is None else int(seed)
        except SubmissionError as e:
            parsed = {"path": str(submission), "units": [], "notes": [], "sources": {},
                      "problem": f"the submission could not be read ({e})"}
            result.notes.append(str(e))
            result.seed = _seed_of(Path(submission)) if seed is None else int(seed)
        _run_session(a, parsed, result, keep_workdir)
    except Exception as e:  # noqa: BLE001 - the grader reports its own failures instead of crashing
        result.errors.append(f"{type(e).__name__}: {e}")
    finally:
        result.execution_time = time.monotonic() - start
        if json_path is not None:
            result.write_json(json_path)
    return result


def _run_session(a: Assignment, parsed: dict, result: GradeResult, keep_workdir: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="gatelab-grade-"))
    scratch = Path(tempfile.mkdtemp(prefix="gatelab-sandbox-"))
    proc = None
    try:
        shutil.copytree(a.tests_dir, workdir / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        drop = _can_drop_privileges()
        if drop:
            import pwd

            nobody = pwd.getpwnam("nobody")
            os.chown(scratch, nobody.pw_uid, nobody.pw_gid)
        session = {
            "seed": result.seed,
            "scratch": str(scratch),
            "sandbox": {
                "tests_dir": str(workdir / "tests"),
                "harness": "harness" if (workdir / "tests" / "harness.py").is_file() else None,
                "preload": a.preload,
                "submission": parsed,
                "integrity": {"forbid": a.forbid, "blocked_imports": a.blocked_imports},
                "limits": a.limits,
                "drop_privileges": drop,
            },
        }
        (workdir / "session.json").write_text(json.dumps(session))
        read_end, write_end = os.pipe()
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   MPLBACKEND="Agg")
        with open(workdir / "session.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "gatelab.grading.session", str(workdir), str(write_end)],
                                    pass_fds=[write_end], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=str(workdir), env=env)
        os.close(write_end)
        budget = a.time_limit + a.load_limit * (len(parsed["units"]) + 2) + _SLACK
        finished = _collect(read_end, proc, result, budget)
        os.close(read_end)
        if finished:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        else:
            _kill_group(proc)
            tail = (workdir / "session.log").read_text(errors="replace")[-3000:]
            result.errors.append("the grading session ended before reporting every test" +
                                 (f"; its log ends with:\n{tail}" if tail.strip() else ""))
    finally:
        if proc is not None:
            _kill_group(proc)
        if keep_workdir:
            result.notes.append(f"(work folder kept: {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """Ends the session, its zygote and any test process left (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _can_drop_privileges() -> bool:
    """Test processes become ``nobody`` when we are root and ``nobody`` can read Python, NumPy and
    gatelab (Gradescope's image; not a Python installed under /root, which nobody cannot import).
    GATELAB_DROP_PRIVILEGES=1 forces it (as root), =0 prevents it."""
    forced = os.environ.get("GATELAB_DROP_PRIVILEGES")
    if os.getuid() != 0 or forced == "0":
        return False
    if forced == "1":
        return True
    import sysconfig

    import numpy

    import gatelab

    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= {os.path.dirname(numpy.__file__), os.path.dirname(gatelab.__file__)}
    for path in paths:
        p = Path(path).resolve()
        if not p.exists():
            continue
        if not p.stat().st_mode & stat.S_IROTH:
            return False
        if any(not a.stat().st_mode & stat.S_IXOTH for a in [p, *p.parents]):
            return False
    return True


def _collect(fd: int, proc: subprocess.Popen, result: GradeResult, budget: float) -> bool:
    """Reads the session's events into ``result`` until it is done, dies, or stalls."""
    by_id: Dict[str, TestResult] = {}
    buffer = b""
    deadline = time.monotonic() + _STARTUP_LIMIT
    current = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            stalled = f"test {current}" if current else "start-up"
            result.errors.append(f"the grading session stalled in {stalled}; it was stopped")
            if current in by_id:
                by_id[current].kind = "crash"
                by_id[current].output = "The grader stopped this test: it ran far beyond its time limit."
            return False
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return False
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = event.get("event")
            if kind == "collected":
                for meta in event["tests"]:
                    t = TestResult(id=meta["id"], function=meta["function"], name=meta["name"],
                                   number=meta["number"], points=float(meta["points"]), hidden=bool(meta["hidden"]),
                                   concept=meta.get("concept", ""),
                                   output="Not run: the grading session ended before this test.")
                    by_id[t.id] = t
                    result.tests.append(t)
            elif kind == "collect_error":
                result.errors.append(f"a test file failed to load ({event.get('where')}):\n{event.get('message')}")
            elif kind == "start":
                current = event.get("id")
            elif kind == "result" and event.get("id") in by_id:
                t = by_id[event["id"]]
                t.status = "passed" if event.get("status") == "passed" else "failed"
                t.kind, t.output = event.get("kind", ""), str(event.get("output", ""))
                t.integrity = bool(event.get("integrity"))
                current = None
            elif kind == "done":
                if not result.tests:
                    result.errors.append("no tests were collected")
                return True
            deadline = time.monotonic() + budget


def find_submissions(folder: Union[str, Path]) -> List[Path]:
    """Each notebook, .py file or sub-folder of ``folder`` is one submission."""
    entries = []
    for p in sorted(Path(folder).iterdir()):
        if p.name.startswith((".", "__")):
            continue
        if p.is_dir() or p.suffix in (".ipynb", ".py"):
            entries.append(p)
    return entries


def grade_all(assignment: Union[str, Path, Assignment], folder: Union[str, Path], jobs: int = 2,
              csv_path: Optional[Union[str, Path]] = None, json_dir: Optional[Union[str, Path]] = None,
              seed: Optional[int] = None) -> Dict[str, GradeResult]:
    """Grades every submission in ``folder``, ``jobs`` at a time; a CSV row per submission
    (score, max, and each test's points) and, with ``json_dir``, a results.json per submission."""
    a = assignment if isinstance(assignment, Assignment) else find_assignment(assignment)
    subs = find_submissions(folder)
    stems = [p.stem if p.is_file() else p.name for p in subs]
    names = {p: (stem if stems.count(stem) == 1 else p.name) for p, stem in zip(subs, stems)}   # alice.py, alice/

    def one(p: Path) -> GradeResult:
        target = Path(json_dir) / f"{names[p]}.json" if json_dir is not None else None
        return grade(a, p, json_path=target, seed=seed)

    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        graded = dict(zip((names[p] for p in subs), pool.map(one, subs)))
    if csv_path is not None:
        write_csv(graded, csv_path)
    return graded


def write_csv(graded: Dict[str, GradeResult], path: Union[str, Path]) -> None:
    functions: List[str] = []
    for r in graded.values():
        for t in r.tests:
            if t.function not in functions:
                functions.append(t.function)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "score", "max_score", "percent", "problems"] + functions)
        for name in sorted(graded):
            r = graded[name]
            scores = {t.function: t.score for t in r.tests}
            percent = 100.0 * r.score / r.max_score if r.max_score else 0.0
            problems = "; ".join(e.splitlines()[0] for e in r.errors)
            writer.writerow([name, f"{r.score:g}", f"{r.max_score:g}", f"{percent:.1f}", problems] +
                            [f"{scores[fn]:g}" if fn in scores else "" for fn in functions])

