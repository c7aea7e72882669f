"""``gatelab assign``: from one solution notebook to everything a course hands out.

The solution notebook (py:percent) marks each answer::

    def backward(self, dout):
        # BEGIN SOLUTION
        dx = self.y * dout
        return dx, self.x * dout
        # END SOLUTION

``assign`` writes, under the output folder:

* ``student/``     the student notebook (each answer replaced by a TODO and
                   ``raise NotImplementedError(...)`` naming the function), the public tests and
                   the files they import, assignment.toml. No hidden tests, no answers.
* ``autograder/``  the grading bundle: assignment.toml and every test (public and hidden).
                   No solutions: the tests' oracle is gatelab itself.
* ``autograder.zip``  for Gradescope: setup.sh, run_autograder, the bundle (and, with
                   ``sdist=True``, a gatelab source distribution to install from).
* ``solution/``    the solution notebook without markers, for instructors.
* ``samples/``     the sample submissions of ``samples/samples.toml`` (see ``samples``).
"""

from __future__ import annotations

import ast
import os
import shutil
import stat
import zipfile
from pathlib import Path
from typing import List, Optional, Union

from gatelab.grading.assignment import Assignment, find_assignment, repository_root
from gatelab.grading.notebook import Cell, parse_percent, write_ipynb

__all__ = ["assign", "student_cells", "solution_cells", "build_sdist", "AuthoringError"]

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


class AuthoringError(ValueError):
    """The solution notebook's markers are malformed."""


def _blocks(lines: List[str], where: str):
    """(begin, end) line indices of each solution block."""
    blocks, begin = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == BEGIN:
            if begin is not None:
                raise AuthoringError(f"{where}: line {i + 1}: BEGIN SOLUTION inside another solution block")
            begin = i
        elif text == END:
            if begin is None:
                raise AuthoringError(f"{where}: line {i + 1}: END SOLUTION without BEGIN SOLUTION")
            blocks.append((begin, i))
            begin = None
    if begin is not None:
        raise AuthoringError(f"{where}: line {begin + 1}: BEGIN SOLUTION is never closed")
    return blocks


def _enclosing_function(tree: ast.AST, line: int) -> Optional[str]:
    """The qualified name of the innermost function containing ``line`` (1-based)."""
    best = None

    def visit(node, prefix):
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if child.lineno <= line <= (child.end_lineno or child.lineno) and not isinstance(child, ast.ClassDef):
                    best = name
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return best


def _section(cells: List[Cell], index: int) -> str:
    """The nearest markdown heading above cell ``index``."""
    for cell in reversed(cells[:index]):
        if cell.kind == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
                    if heading:
                        return heading
    return ""


def student_cells(cells: List[Cell], where: str = "notebook") -> List[Cell]:
    """The student's version: every solution block becomes a TODO and a NotImplementedError."""
    out = []
    for index, cell in enumerate(cells):
        if cell.kind != "code" or (BEGIN not in cell.source and END not in cell.source):
            out.append(cell)
            continue
        lines = cell.source.split("\n")
        blocks = _blocks(lines, where)
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as e:
            raise AuthoringError(f"{where}: the cell at line {cell.line} does not parse: {e}") from None
        section = _section(cells, index)
        new_lines, cursor = [], 0
        for begin, end in blocks:
            new_lines.extend(lines[cursor:begin])
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            function = _enclosing_function(tree, begin + 1)
            see = f" (see {section!r})" if section else ""
            if function:
                new_lines.append(f"{indent}# TODO: your code here{see}.")
                new_lines.append(f'{indent}raise NotImplementedError("{function} is not written yet")')
            else:
                new_lines.append(f"{indent}# TODO: your code here{see}.")
            cursor = end + 1
        new_lines.extend(lines[cursor:])
        out.append(Cell(cell.kind, "\n".join(new_lines), list(cell.tags), cell.line))
    return out


def solution_cells(cells: List[Cell], where: str = "notebook") -> List[Cell]:
    """The solution without its markers."""
    out = []
    for cell in cells:
        if cell.kind == "code" and (BEGIN in cell.source or END in cell.source):
            lines = cell.source.split("\n")
            _blocks(lines, where)
            kept = [line for line in lines if line.strip() not in (BEGIN, END)]
            cell = Cell(cell.kind, "\n".join(kept), list(cell.tags), cell.line)
        out.append(cell)
    return out


def _copy_tests(src: Path, dst: Path, public_only: bool) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if path.suffix != ".py" or (public_only and path.name.startswith("test_hidden")):
            continue
        shutil.copy2(path, dst / path.name)


_SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (Ubuntu, as root).
set -euo pipefail
cd "$(dirname "$0")"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip g++ \\
    libxtensor-dev libxtensor-blas-dev xtl-dev libxsimd-dev libopenblas-dev
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
/autograder/venv/bin/pip install -q "scikit-build-core>=0.11" "pybind11>=3" "cmake>=3.25" ninja
if ls gatelab-*.tar.gz >/dev/null 2>&1; then
  /autograder/venv/bin/pip install -q --no-build-isolation "gatelab[grading] @ file://$PWD/$(ls gatelab-*.tar.gz)"
else
  /autograder/venv/bin/pip install -q --no-build-isolation "{requirement}"
fi
{extra}"""

_RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. gatelab grade always writes results.json; the last
# lines only guard against the grader itself failing to start.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
GATELAB="${GATELAB:-$ROOT/venv/bin/gatelab}"
mkdir -p "$ROOT/results"
"$GATELAB" grade "$ROOT/source/assignment" "$ROOT/submission" --json "$ROOT/results/results.json" || true
if [ ! -s "$ROOT/results/results.json" ]; then
  printf '%s\\n' '{"score": 0, "output": "The autograder could not start; please tell the course staff.", "tests": []}' \\
    > "$ROOT/results/results.json"
fi
"""


def _zip(out: Path, bundle: Path, requirement: str, extra: List[str], sdist: Optional[Path]) -> Path:
    path = out / "autograder.zip"
    extra_line = ("/autograder/venv/bin/pip install -q " + " ".join(f'"{r}"' for r in extra) + "\n") if extra else ""
    setup = _SETUP_SH.replace("{requirement}", requirement).replace("{extra}", extra_line)
    entries = [("setup.sh", setup.encode(), 0o755),
               ("run_autograder", _RUN_AUTOGRADER.encode(), 0o755)]
    for file in sorted(bundle.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts:
            entries.append((f"assignment/{file.relative_to(bundle).as_posix()}", file.read_bytes(), 0o644))
    if sdist is not None:
        entries.append((sdist.name, sdist.read_bytes(), 0o644))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:          # fixed dates and modes: the same input, the same zip
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return path


def build_sdist(out: Path) -> Path:
    """A gatelab source distribution of the checkout gatelab runs from (for the zip)."""
    root = repository_root()
    if root is None:
        raise AuthoringError("no gatelab source checkout to build a source distribution from")
    from scikit_build_core.build import build_sdist as backend_sdist

    cwd = os.getcwd()
    try:
        os.chdir(root)
        name = backend_sdist(str(out))
    finally:
        os.chdir(cwd)
    return out / name


def assign(assignment: Union[str, Path, Assignment], out: Union[str, Path], sdist: bool = False,
           samples: bool = True) -> Path:
    """Writes the student, autograder, solution and sample folders and the Gradescope zip."""
    a = assignment if isinstance(assignment, Assignment) else find_assignment(assignment)
    if a.source is None:
        raise AuthoringError(f"{a.root}: no solution notebook (assignment.toml names {a.notebook!r})")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    cells = parse_percent(a.source.read_text(encoding="utf-8"))
    where = a.source.name
    student = out / "student"
    student.mkdir(parents=True)
    (student / f"{a.stem}.ipynb").write_text(write_ipynb(student_cells(cells, where)), encoding="utf-8")
    shutil.copy2(a.root / "assignment.toml", student / "assignment.toml")
    _copy_tests(a.tests_dir, student / "tests", public_only=True)
    bundle = out / "autograder"
    bundle.mkdir()
    shutil.copy2(a.root / "assignment.toml", bundle / "assignment.toml")
    _copy_tests(a.tests_dir, bundle / "tests", public_only=False)
    solution = out / "solution"
    solution.mkdir()
    (solution / f"{a.stem}.ipynb").write_text(write_ipynb(solution_cells(cells, where)), encoding="utf-8")
    from gatelab import __version__

    package = _build_sdist_or_none(out, sdist)
    _zip(out, bundle, f"gatelab[grading]=={__version__}", a.requirements, package)
    if samples and (a.samples_dir / "samples.toml").is_file():
        from gatelab.grading.samples import materialize

        materialize(a, out / "samples")
    return out


def _build_sdist_or_none(out: Path, wanted: bool) -> Optional[Path]:
    if not wanted:
        return None
    dist = out / "dist"
    dist.mkdir()
    return build_sdist(dist)

