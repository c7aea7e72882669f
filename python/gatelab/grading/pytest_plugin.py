"""The pytest plugin of a grading session: fixtures for test authors, and a report of every test
to the grading process as it finishes.

Test files of an assignment use::

    @pytest.mark.points(2)
    def test_affine_backward(student, rng):
        \"\"\"affine_backward: gradients of x, w and b\"\"\"      # first line: the test's name
        ...

* ``student``: the submission in a fresh sandboxed process (see ``gatelab.grading.student``).
* ``rng``: a NumPy Generator seeded from the session's seed and the test, so a grade repeats.
* ``@pytest.mark.points(n)`` (default 1); ``@pytest.mark.concept("...")``: what a failure means.
* ``@pytest.mark.grades("conv_forward_naive", ...)``: the student code the test grades; its worker
  latches off what assignment.toml's ``[integrity.latch]`` lists for them (every listed
  computation when a test does not say: fail-closed).
  Tests in ``test_hidden*.py`` files (or marked ``@pytest.mark.hidden``) are hidden tests.

The plugin is loaded only by ``gatelab.grading.session`` (never into a project's own pytest
runs); it reports to the grading process through the session's event stream. It runs no
student code: that lives in the sandbox.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest

from gatelab.grading.failures import GradingFailure
from gatelab.grading.isolation import Isolation
from gatelab.grading.student import Sandbox, Student

SESSION: Optional["Session"] = None

_FAILS = pytest.StashKey[list]()
_STUDENT = pytest.StashKey[Student]()


class Session:
    """What the grading session shares with its tests. Events go to the runner as JSON lines,
    each signed with the session's key (HMAC-SHA256), so the runner can tell them from anything
    else written to its pipe."""

    def __init__(self, config: dict, events, workdir: Path, key: bytes):
        self.config = config
        self.events = events
        self.workdir = Path(workdir)
        self.key = key
        self.isolation = Isolation(**config["isolation"])
        self._sandbox: Optional[Sandbox] = None

    def emit(self, **event) -> None:
        body = json.dumps(event, sort_keys=True)
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        self.events.write(json.dumps({"mac": mac, "event": body}) + "\n")
        self.events.flush()

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox(self.config["sandbox"], self.workdir, self.isolation,
                                    Path(self.config["scratch"]))
        return self._sandbox

    def latch_for(self, item: pytest.Item) -> List[str]:
        """What a test's worker latches off: the computations of the functions it grades
        (``@pytest.mark.grades(...)``), or of every graded function when it does not say."""
        table: Dict[str, List[str]] = self.config.get("latch", {})
        marker = item.get_closest_marker("grades")
        names = list(marker.args) if marker else list(table)
        unknown = [n for n in names if n not in table]
        if unknown:
            raise LookupError(f"@pytest.mark.grades names {unknown}, which assignment.toml's [integrity.latch] "
                              "does not list")
        return sorted({c for n in names for c in table[n]})

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


def _hidden(item: pytest.Item) -> bool:
    return item.get_closest_marker("hidden") is not None or Path(str(item.fspath)).name.startswith("test_hidden")


def _doc(item: pytest.Item) -> List[str]:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return [line.strip() for line in doc.strip().splitlines()]


def _meta(item: pytest.Item, number: int) -> dict:
    lines = _doc(item)
    points = item.get_closest_marker("points")
    concept = item.get_closest_marker("concept")
    return {
        "id": item.nodeid,
        "function": getattr(item, "originalname", item.name),
        "name": lines[0] if lines and lines[0] else item.name,
        "points": float(points.args[0]) if points else 1.0,
        "hidden": _hidden(item),
        "number": str(number),
        "concept": concept.args[0] if concept else " ".join(lines[1:]).strip(),
    }


# ---- hooks -----------------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): what the test is worth")
    config.addinivalue_line("markers", "hidden: a hidden test (also: any test in test_hidden*.py)")
    config.addinivalue_line("markers", "concept(text): what a failure of this test most likely means")
    config.addinivalue_line("markers", "grades(*names): the student functions/classes the test grades (their "
                                       "computations are latched off in its worker)")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_hidden)            # public tests first (a stable sort keeps each file's order)
    metas = []
    for number, item in enumerate(items, start=1):
        meta = _meta(item, number)
        item.stash[_FAILS] = []
        item.user_properties.append(("grading", meta))
        metas.append(meta)
    if SESSION is not None:
        SESSION.emit(event="collected", tests=metas)


def pytest_collectreport(report):
    if report.failed and SESSION is not None:
        SESSION.emit(event="collect_error", where=report.nodeid, message=str(report.longreprtext)[-4000:])


def pytest_runtest_logstart(nodeid, location):
    if SESSION is not None:
        SESSION.emit(event="start", id=nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    fails = item.stash.setdefault(_FAILS, [])
    if (report.failed or report.skipped) and call.excinfo is not None:
        fails.append((call.excinfo, report))
    if call.when == "teardown" and SESSION is not None:
        meta = dict(item.user_properties).get("grading") or _meta(item, 0)
        status, kind, output = _verdict(meta, fails)
        student = item.stash.get(_STUDENT, None)
        if status == "failed" and student is not None and not meta["hidden"] and student.output.strip():
            output += "\n\nYour code printed:\n" + student.output
        tampering = list(student.tampering) if student is not None else []
        if tampering:
            output += (f"\n\n(The grader ignored {len(tampering)} message(s) your code sent on its channel unasked: "
                       "only the answer to each request counts.)")
        SESSION.emit(event="result", id=item.nodeid, status=status, kind=kind, output=output,
                     integrity=bool(student and student.integrity_hits), tampering=tampering[:5])
    return report


def _verdict(meta: dict, fails: list):
    """(status, kind, message for the student) from a test's failures (the first one counts)."""
    if not fails:
        return "passed", "", ""
    excinfo, report = fails[0]
    exc = excinfo.value
    about = f"This test checks: {meta['concept'] or meta['name']}."
    if isinstance(exc, GradingFailure):
        message = str(exc)
        if meta["concept"] and meta["concept"] not in message:
            message += f"\n{about}"
        return "failed", exc.kind, message
    if report.skipped:
        return "failed", "skipped", f"Skipped, so not earned: {excinfo.exconly()}"
    if isinstance(exc, AssertionError):
        if meta["hidden"]:
            return "failed", "wrong", f"Wrong result. {about}"
        return "failed", "wrong", f"Wrong result: {excinfo.exconly()}\n{about}"
    detail = type(exc).__name__ if meta["hidden"] else excinfo.exconly()
    return "failed", "internal", (f"The grader itself failed in this test ({detail}); this is not about your "
                                  "code. Please tell the course staff.")


def pytest_sessionfinish(session, exitstatus):
    if SESSION is not None:
        SESSION.close()


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def student(request):
    """The student's submission, in a fresh sandboxed process for this test."""
    if SESSION is None:
        raise RuntimeError("the student fixture exists only in a gatelab grading session")
    s = Student(SESSION.sandbox, SESSION.latch_for(request.node))
    request.node.stash[_STUDENT] = s
    yield s
    s.close()


@pytest.fixture
def seed(request) -> int:
    """The test's seed: the session's seed and the test's id (the same test gets the same inputs)."""
    base = int(SESSION.config.get("seed", 0)) if SESSION is not None else 0
    return (base * 1_000_003 + zlib.crc32(request.node.nodeid.encode())) % (2 ** 32)


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)
