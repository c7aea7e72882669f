"""An assignment: its folder, its ``assignment.toml``, and how to find it by name.

    assignments/A1/
      assignment.toml        name, title, limits, integrity rules (below)
      A1.py                  the solution notebook (py:percent, with BEGIN/END SOLUTION markers)
      tests/test_public.py   tests students get too
      tests/test_hidden.py   tests only the autograder has
      tests/driver.py        what runs in the worker beside the student's code: calls it, returns
                             plain data (it decides nothing; oracle.py and the tests judge)
      samples/samples.toml   sample submissions and the score each must get

``assignment.toml``::

    [assignment]
    name = "A1"
    title = "Gates and graphs"
    notebook = "A1.py"

    [grading]
    time_limit = 10            # seconds per test (load time comes on top)
    load_limit = 10            # seconds to run the submission's definitions, all cells together
    budget = 120               # seconds for the whole grade, whatever the number of cells
    disk_mb = 256              # the worker's scratch space, all files together
    memory_mb = 1024           # address space per test, on top of NumPy and gatelab
    output_kb = 1024           # printed output per test
    hidden_visibility = "after_published"   # Gradescope visibility of hidden tests
    preload = ["gatelab"]      # imported once before forking test processes
    requirements = []          # extra PyPI packages the autograder installs (e.g. "scikit-learn")

    [integrity]
    blocked_imports = ["torch", "jax", "tensorflow", "autograd"]
    [integrity.latch]          # graded name -> computations its tests' workers latch off
    "affine_forward" = ["affine", "graph"]     # (gatelab._core.computations() lists them)

The same file travels in the autograder bundle and the student bundle (it holds no answers).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib

__all__ = ["Assignment", "find_assignment", "repository_root", "AssignmentError", "VISIBILITIES"]

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class AssignmentError(ValueError):
    """No such assignment, or its assignment.toml is invalid."""


@dataclass
class Assignment:
    root: Path
    name: str
    title: str = ""
    notebook: str = ""
    time_limit: float = 10.0
    load_limit: float = 10.0
    memory_mb: int = 1024
    output_kb: int = 1024
    hidden_visibility: str = "after_published"
    preload: List[str] = field(default_factory=lambda: ["gatelab"])
    budget: float = 120.0
    disk_mb: int = 256
    latch: Dict[str, List[str]] = field(default_factory=dict)
    blocked_imports: List[str] = field(default_factory=lambda: ["torch", "jax", "tensorflow", "autograd"])
    requirements: List[str] = field(default_factory=list)

    @classmethod
    def load(cls, root: Union[str, Path]) -> "Assignment":
        root = Path(root).resolve()
        path = root / "assignment.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AssignmentError(f"{root}: no assignment.toml (is this an assignment folder?)") from None
        except tomllib.TOMLDecodeError as e:
            raise AssignmentError(f"{path}: {e}") from None
        info, grading, integrity = data.get("assignment", {}), data.get("grading", {}), data.get("integrity", {})
        a = cls(root=root, name=str(info.get("name", root.name)), title=str(info.get("title", "")),
                notebook=str(info.get("notebook", "")))
        for key in ("time_limit", "load_limit", "budget"):
            setattr(a, key, float(grading.get(key, getattr(a, key))))
        for key in ("memory_mb", "output_kb", "disk_mb"):
            setattr(a, key, int(grading.get(key, getattr(a, key))))
        a.hidden_visibility = str(grading.get("hidden_visibility", a.hidden_visibility))
        if a.hidden_visibility not in VISIBILITIES:
            raise AssignmentError(f"{path}: hidden_visibility must be one of {VISIBILITIES}")
        a.preload = [str(m) for m in grading.get("preload", a.preload)]
        a.requirements = [str(r) for r in grading.get("requirements", [])]
        if "forbid" in integrity:
            raise AssignmentError(f"{path}: [integrity.forbid] (names of references) was replaced by "
                                  "[integrity.latch] (computations, by what they compute); see assignment.py")
        a.latch = {str(k): [str(c) for c in v] for k, v in integrity.get("latch", {}).items()}
        from gatelab import _core

        known = set(_core.computations())
        for name, computations in a.latch.items():
            unknown = [c for c in computations if c not in known]
            if unknown:
                raise AssignmentError(f"{path}: [integrity.latch] {name!r}: unknown computation(s) {unknown}; "
                                      f"known: {sorted(known)}")
        a.blocked_imports = [str(m) for m in integrity.get("blocked_imports", a.blocked_imports)]
        if not a.tests_dir.is_dir():
            raise AssignmentError(f"{root}: no tests/ folder")
        return a

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def samples_dir(self) -> Path:
        return self.root / "samples"

    @property
    def source(self) -> Optional[Path]:
        """The solution notebook (only in an assignment's source folder)."""
        path = self.root / self.notebook if self.notebook else None
        return path if path is not None and path.is_file() else None

    @property
    def stem(self) -> str:
        """The notebook's name without extension: what the student's file is called."""
        return Path(self.notebook).stem if self.notebook else self.name

    @property
    def limits(self) -> dict:
        return {"time": self.time_limit, "load": self.load_limit, "memory_mb": self.memory_mb,
                "output_kb": self.output_kb}


def repository_root() -> Optional[Path]:
    """The source checkout gatelab runs from (an editable install), if any."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "assignments").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def find_assignment(spec: Union[str, Path]) -> Assignment:
    """An assignment by folder path, or by name (``A1``) under ./assignments or the checkout's."""
    path = Path(spec)
    if (path / "assignment.toml").is_file():
        return Assignment.load(path)
    candidates = [Path.cwd() / "assignments" / str(spec)]
    root = repository_root()
    if root is not None:
        candidates.append(root / "assignments" / str(spec))
    for candidate in candidates:
        if (candidate / "assignment.toml").is_file():
            return Assignment.load(candidate)
    raise AssignmentError(f"no assignment {spec!r}: give its folder (holding assignment.toml), or a name "
                          "found under ./assignments")

