"""Sample submissions: the solution, the untouched student notebook, typical bugs and attacks,
each with the tests it must fail. They are described in ``samples/samples.toml`` as edits of the
solution (or student) notebook, so each is exactly "the solution with this one bug"::

    [[sample]]
    name = "sign_flip"
    base = "solution"                 # or "student"
    format = "ipynb"                  # "py", or "folder" (a folder holding the notebook)
    description = "ReciprocalGate.backward drops the minus sign of -1/x^2"
    fails = ["test_reciprocal_backward", "test_reciprocal_in_graph"]     # or "all"
    edits = [{ find = "dx = -dout / (self.x * self.x)", replace = "dx = dout / (self.x * self.x)" }]
    append = ""                       # a code cell added at the end
    [sample.messages]                 # words the failure message of a test must contain
    test_reciprocal_backward = "sign"

``materialize`` writes them as files (``gatelab assign`` does, into ``samples/``); ``demo``
grades them and prints expected against actual scores (``make demo`` shows A1's).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Union

from gatelab.grading.assignment import Assignment, find_assignment, tomllib
from gatelab.grading.authoring import solution_cells, student_cells
from gatelab.grading.notebook import Cell, parse_percent, write_ipynb, write_percent

if TYPE_CHECKING:
    from gatelab.grading.runner import GradeResult

__all__ = ["Sample", "load_samples", "sample_cells", "materialize", "expected_score", "sample_rows", "print_table",
           "demo", "demo_a1", "SampleError"]


class SampleError(ValueError):
    """samples.toml is malformed, or an edit does not apply to the notebook."""


@dataclass
class Sample:
    name: str
    base: str = "solution"
    format: str = "ipynb"
    description: str = ""
    edits: List[Dict[str, str]] = field(default_factory=list)
    append: str = ""
    fails: Union[str, List[str]] = field(default_factory=list)
    messages: Dict[str, str] = field(default_factory=dict)
    threat: int = 0                     # for attack samples: which class of the grader's threat model

    def expected_failures(self, tests: List[str]) -> List[str]:
        """The test functions this sample must fail, among ``tests``."""
        return list(tests) if self.fails == "all" else [t for t in tests if t in self.fails]


def load_samples(a: Assignment, path: Union[str, Path, None] = None) -> List[Sample]:
    """The samples of ``a``'s samples/samples.toml, or of another file in the same format."""
    path = Path(path) if path is not None else a.samples_dir / "samples.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    samples = []
    for entry in data.get("sample", []):
        s = Sample(**{k: v for k, v in entry.items()})
        if s.base not in ("solution", "student") or s.format not in ("ipynb", "py", "folder"):
            raise SampleError(f"{path}: sample {s.name!r}: base must be solution|student, format ipynb|py|folder")
        if s.fails != "all" and not isinstance(s.fails, list):
            raise SampleError(f"{path}: sample {s.name!r}: fails must be a list of test names or \"all\"")
        samples.append(s)
    return samples


def sample_cells(a: Assignment, sample: Sample) -> List[Cell]:
    """The sample's notebook: the base version with the edits applied and the extra cell appended."""
    cells = parse_percent(a.source.read_text(encoding="utf-8"))
    cells = solution_cells(cells, a.notebook) if sample.base == "solution" else student_cells(cells, a.notebook)
    text = write_percent(cells)
    for edit in sample.edits:
        count = text.count(edit["find"])
        if count != 1:
            raise SampleError(f"sample {sample.name!r}: the text to edit occurs {count} times (must be once): "
                              f"{edit['find'][:60]!r}")
        text = text.replace(edit["find"], edit["replace"])
    cells = parse_percent(text)
    if sample.append.strip():
        cells.append(Cell("code", sample.append.strip("\n")))
    return cells


def materialize(a: Assignment, out: Union[str, Path], samples: Optional[List[Sample]] = None) -> Dict[str, Path]:
    """Writes every sample submission (of ``a``, or ``samples``) into ``out``; name -> path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for sample in load_samples(a) if samples is None else samples:
        cells = sample_cells(a, sample)
        if sample.format == "py":
            path = out / f"{sample.name}.py"
            path.write_text(write_percent(cells), encoding="utf-8")
        elif sample.format == "ipynb":
            path = out / f"{sample.name}.ipynb"
            path.write_text(write_ipynb(cells), encoding="utf-8")
        else:
            path = out / sample.name
            path.mkdir(exist_ok=True)
            (path / f"{a.stem}.ipynb").write_text(write_ipynb(cells), encoding="utf-8")
            (path / "notes.txt").write_text("Other files in a submission folder are ignored.\n")
        paths[sample.name] = path
    return paths


def demo(assignment: Union[str, Path, Assignment] = "A1", jobs: int = 2, out=None) -> List[dict]:
    """Grades every sample submission and prints a table of expected and actual scores."""
    from gatelab.grading.runner import grade_all

    a = assignment if isinstance(assignment, Assignment) else find_assignment(assignment)
    with tempfile.TemporaryDirectory(prefix="gatelab-samples-") as tmp:
        materialize(a, tmp)
        graded = grade_all(a, tmp, jobs=jobs, seed=0)
    rows = sample_rows(load_samples(a), graded)
    print_table(a.name, rows, out or sys.stdout)
    isolations = {str(r.isolation.get("detail", "")) for r in graded.values() if r.isolation}
    for detail in sorted(isolations):
        print(f"isolation of student code: {detail}", file=out or sys.stdout)
    return rows


def sample_rows(samples: List[Sample], graded: Dict[str, "GradeResult"]) -> List[dict]:
    """One row per sample: name, description, expected and actual score, and whether exactly the
    expected tests failed."""
    rows = []
    for s in samples:
        r = graded[s.name]
        points = {t.function: t.points for t in r.tests}
        expected = s.expected_failures(list(points))
        rows.append({"name": s.name, "description": s.description, "expected": expected_score(s, points),
                     "score": r.score, "max_score": r.max_score, "ok": sorted(r.failed) == sorted(expected)})
    return rows


def print_table(name: str, rows: List[dict], out) -> None:
    width = max((len(r["name"]) for r in rows), default=10)
    print(f"{name} sample submissions graded by the autograder (score / max, and the expected score)", file=out)
    for row in rows:
        mark = "ok" if row["ok"] else "UNEXPECTED"
        print(f"  {row['name'].ljust(width)}  {row['score']:>4g} / {row['max_score']:<4g} expected {row['expected']:<4g}"
              f"  {mark:<10}  {row['description']}", file=out)


def demo_a1(jobs: int = 2) -> List[dict]:
    """``make demo``'s grading section: A1's sample submissions and their scores."""
    return demo("A1", jobs=jobs)


def expected_score(sample: Sample, points: Dict[str, float]) -> float:
    return sum(points.values()) - sum(points[f] for f in sample.expected_failures(list(points)))
