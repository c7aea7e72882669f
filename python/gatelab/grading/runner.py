"""Grading: one submission (``grade``) or a folder of them in parallel (``grade_all``).

    result = grade("A1", "alice.ipynb", json_path="results.json")
    result.score, result.max_score, result.tests

The runner parses the submission (no execution), checks which isolation works here (refusing
when none does, unless ``no_sandbox``), copies the tests into a private work folder and starts
a grading session process (``gatelab.grading.session``), which runs pytest; the session starts
the sandbox, where a worker per test runs the student's code. The session reports each test on
a pipe, each event signed with a key only the two hold; the runner accepts a result once, for a
test it was told of, and keeps its own list of tests and points, so the score comes from its
own bookkeeping only: a session that dies or runs past the assignment's time budget costs the
tests it did not report, and nothing a student's code writes is read. ``grade`` never raises
for a bad submission or a grader failure and always writes results.json when asked to.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

from gatelab.grading import isolation
from gatelab.grading.assignment import Assignment, find_assignment
from gatelab.grading.scan import scan_submission
from gatelab.grading.submission import SubmissionError, load_submission

__all__ = ["TestResult", "GradeResult", "grade", "grade_all", "find_submissions", "write_csv"]

_STARTUP_LIMIT = 180.0     # seconds for the session to start and collect its tests


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
    tampering: List[str] = field(default_factory=list)

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
    isolation: dict = field(default_factory=dict)          # what isolation.Isolation.to_json() says
    staff_notes: List[str] = field(default_factory=list)    # the static scan's findings, tampering
    refused: bool = False                                  # no isolation: nothing was run

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
        if self.isolation and not self.isolation.get("isolated", False):
            output.append("UNISOLATED: " + str(self.isolation.get("detail", "student code was not isolated")))
        if self.notes:
            output.append("Notes on your submission:\n" + "\n".join(f"- {n}" for n in self.notes))
        if self.staff_notes:
            output.append("For the course staff:\n" + "\n".join(f"- {n}" for n in self.staff_notes))
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
                           "gatelab": __version__, "isolation": self.isolation},
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
          keep_workdir: bool = False, no_sandbox: bool = False) -> GradeResult:
    """Grades one submission (a notebook, a .py, or a folder holding one). See the module docstring.
    Without isolation (and without ``no_sandbox``) nothing runs: the result carries the reason
    in ``errors`` and ``refused`` is set."""
    start = time.monotonic()
    result = GradeResult(assignment=str(getattr(assignment, "name", assignment)), submission=Path(submission).name)
    if json_path is not None:        # whatever results.json was there is never the grade: if this process
        Path(json_path).unlink(missing_ok=True)        # dies, none is left (run_autograder writes a failure)
    try:
        if importlib.util.find_spec("pytest") is None:
            from gatelab.install_hints import hint

            raise RuntimeError(hint("grading", "grading", packages=["pytest"]))
        a = assignment if isinstance(assignment, Assignment) else find_assignment(assignment)
        result.assignment, result.hidden_visibility = a.name, a.hidden_visibility
        iso = isolation.choose(no_sandbox)
        result.isolation = iso.to_json()
        if iso.mode == "uid-drop" and isolation.readable_by_others(a.tests_dir):
            result.staff_notes.append(f"isolation is uid-drop, and {a.tests_dir} is readable by every user: "
                                      "student code could read the hidden tests (chmod -R o-rwx it)")
        try:
            sub = load_submission(Path(submission), prefer=a.stem)
            parsed = sub.to_json()
            result.submission = sub.path.name
            result.notes.extend(sub.notes)
            result.staff_notes.extend(scan_submission(sub))
            result.seed = _seed_of(sub.path) if seed is None else int(seed)
        except SubmissionError as e:
            parsed = {"path": str(submission), "units": [], "notes": [], "sources": {},
                      "problem": f"the submission could not be read ({e})"}
            result.notes.append(str(e))
            result.seed = _seed_of(Path(submission)) if seed is None else int(seed)
        _run_session(a, parsed, result, iso, keep_workdir, start)
    except isolation.IsolationUnavailable as e:
        result.refused = True
        result.errors.append(str(e))
    except Exception as e:  # noqa: BLE001 - the grader reports its own failures instead of crashing
        result.errors.append(f"{type(e).__name__}: {e}")
    finally:
        result.execution_time = time.monotonic() - start
        if json_path is not None:
            result.write_json(json_path)
    return result


def _driver_source(a: Assignment, tests: Path) -> str:
    """The worker's part of the assignment (tests/driver.py): it travels to the zygote as text."""
    path = tests / "driver.py"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _run_session(a: Assignment, parsed: dict, result: GradeResult, iso: "isolation.Isolation",
                 keep_workdir: bool, start: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="gatelab-grade-"))          # 0700: the grader's alone
    scratch = Path(tempfile.mkdtemp(prefix="gatelab-scratch-"))
    proc = None
    try:
        os.chmod(scratch, 0o755)     # a uid-drop worker's folder goes in here, made by the zygote
        shutil.copytree(a.tests_dir, workdir / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        setup = {"units": parsed["units"], "sources": parsed.get("sources", {}), "problem": parsed.get("problem", ""),
                 "driver": _driver_source(a, workdir / "tests"), "limits": a.limits, "preload": a.preload,
                 "blocked_imports": a.blocked_imports, "disk_mb": a.disk_mb}
        session = {"seed": result.seed, "scratch": str(scratch), "sandbox": setup, "latch": a.latch,
                   "isolation": dataclasses.asdict(iso)}
        (workdir / "session.json").write_text(json.dumps(session))
        key = secrets.token_bytes(32)
        read_end, write_end = os.pipe()
        # No third-party pytest plugins in a grading session (they are neither needed nor vetted).
        env = dict(isolation.worker_environment(), PATH=os.environ.get("PATH", "/usr/bin:/bin"),
                   PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        with open(workdir / "session.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-I", "-B", "-m", "gatelab.grading.session", str(workdir),
                                     str(write_end)], pass_fds=[write_end], stdin=subprocess.PIPE, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=str(workdir), env=env)
        os.close(write_end)
        proc.stdin.write(key.hex().encode() + b"\n")
        proc.stdin.close()
        deadline = start + a.budget
        finished = _collect(read_end, proc, result, key, deadline)
        os.close(read_end)
        if finished:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        elif time.monotonic() >= deadline:
            result.errors.append(f"grading ran past the assignment's time budget of {a.budget:g} s and was stopped")
        else:
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
    """Ends the session and its sandbox (bwrap leads a session of its own: the session's
    SIGKILL takes it with it through --die-with-parent and the pid namespace)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _event(line: bytes, key: bytes) -> Optional[dict]:
    """The event a signed line carries, or None for anything else."""
    try:
        frame = json.loads(line)
        body, mac = frame["event"], frame["mac"]
        good = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
        if not isinstance(mac, str) or not hmac.compare_digest(mac, good):
            return None
        event = json.loads(body)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return event if isinstance(event, dict) else None


def _collect(fd: int, proc: subprocess.Popen, result: GradeResult, key: bytes, deadline: float) -> bool:
    """Reads the session's events into ``result`` until it is done, dies, stalls or runs out of
    budget. Only signed events count; the test list is fixed once, a result is taken once, for a
    test that was started and is the one running; "done" counts only after all of that."""
    by_id: Dict[str, TestResult] = {}
    buffer = b""
    stall = time.monotonic() + _STARTUP_LIMIT
    current = None
    collected = False
    while True:
        now = time.monotonic()
        if now >= deadline or now >= stall:
            if now < deadline:
                result.errors.append(f"the grading session stalled in {'test ' + current if current else 'start-up'}; "
                                     "it was stopped")
            if current in by_id:
                by_id[current].kind = "crash"
                by_id[current].output = "The grader stopped this test: grading ran out of time."
            for t in result.tests:
                if t.kind == "not_run":
                    t.output = "Not run: grading ran out of time before this test."
            return False
        ready, _, _ = select.select([fd], [], [], min(deadline - now, stall - now, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return False
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            event = _event(line, key)
            if event is None:
                result.staff_notes.append("the grader's event pipe carried a line that is not a signed event (ignored)")
                continue
            kind = event.get("event")
            if kind == "collected" and not collected:
                collected = True
                for meta in event["tests"]:
                    t = TestResult(id=meta["id"], function=meta["function"], name=meta["name"],
                                   number=meta["number"], points=float(meta["points"]), hidden=bool(meta["hidden"]),
                                   concept=meta.get("concept", ""),
                                   output="Not run: the grading session ended before this test.")
                    by_id[t.id] = t
                    result.tests.append(t)
            elif kind == "collect_error":
                result.errors.append(f"a test file failed to load ({event.get('where')}):\n{event.get('message')}")
            elif kind == "start" and event.get("id") in by_id and by_id[event["id"]].kind == "not_run":
                current = event["id"]
            elif kind == "result" and event.get("id") == current and current is not None:
                t = by_id[current]
                t.status = "passed" if event.get("status") == "passed" else "failed"
                t.kind, t.output = event.get("kind", ""), str(event.get("output", ""))
                t.integrity = bool(event.get("integrity"))
                t.tampering = [str(x) for x in event.get("tampering", [])]
                if t.tampering:
                    result.staff_notes.append(f"{t.function}: the worker sent {len(t.tampering)} unasked message(s) "
                                              "on its channel (ignored)")
                current = None
            elif kind == "done" and collected and current is None:
                if not result.tests:
                    result.errors.append("no tests were collected")
                return True
            stall = time.monotonic() + _STARTUP_LIMIT


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
              seed: Optional[int] = None, no_sandbox: bool = False) -> Dict[str, GradeResult]:
    """Grades every submission in ``folder``, ``jobs`` at a time; a CSV row per submission
    (score, max, and each test's points) and, with ``json_dir``, a results.json per submission."""
    a = assignment if isinstance(assignment, Assignment) else find_assignment(assignment)
    subs = find_submissions(folder)
    stems = [p.stem if p.is_file() else p.name for p in subs]
    names = {p: (stem if stems.count(stem) == 1 else p.name) for p, stem in zip(subs, stems)}   # alice.py, alice/

    def one(p: Path) -> GradeResult:
        target = Path(json_dir) / f"{names[p]}.json" if json_dir is not None else None
        return grade(a, p, json_path=target, seed=seed, no_sandbox=no_sandbox)

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

