"""From a student's submission to the code units the sandbox runs.

A submission is a notebook (.ipynb), a Python file (py:percent cells or a plain script), or a
folder holding one. Each code cell becomes a *unit*; the grader runs, of each unit, only its
imports, function and class definitions and constant assignments (no calls): demos, prints and
training loops at top level are not run, so they cost no grading time and cannot break grading.

A unit that does not parse is split at its top-level ``def``/``class``/``import`` lines and the
pieces that parse are kept, so a syntax error costs only the definitions it touches. This module
only parses (never executes) the student's code; it runs in the trusted grading process.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from gatelab.grading.notebook import read_cells, read_text

__all__ = ["Unit", "Submission", "load_submission", "find_submission_file", "SubmissionError", "compile_unit"]

_DEF_NAME = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.M)
_CHUNK_START = re.compile(r"^(?:@|def\s|async\s+def\s|class\s|import\s|from\s)")


class SubmissionError(ValueError):
    """The submission cannot be read at all (no notebook or .py found, unreadable JSON)."""


@dataclass
class Unit:
    """One piece of the submission the sandbox executes on its own.

    ``source`` is the text as written; ``keep`` the indices of its top-level statements that run
    (the rest are demos and prints); ``line_offset`` shifts line numbers so tracebacks point into
    the student's file. A unit with ``error`` set (a syntax error) is not run; ``names`` still
    lists what it would have defined, so tests can say why a name is missing."""

    number: int
    label: str                     # "cell 4", "line 120": what messages call it
    filename: str                  # what tracebacks show
    source: str
    line_offset: int = 0
    keep: List[int] = field(default_factory=list)
    names: List[str] = field(default_factory=list)
    error: Optional[str] = None
    skipped: int = 0               # top-level statements not run

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Submission:
    path: Path                     # the file graded
    units: List[Unit]
    notes: List[str]               # things the student should know (skipped cells, magics)
    sources: Dict[str, str]        # filename -> text, so tracebacks can show the student's lines

    def to_json(self) -> dict:
        return {"path": str(self.path), "units": [u.to_json() for u in self.units], "notes": self.notes,
                "sources": self.sources}


def find_submission_file(path: Path, prefer: str = "") -> Path:
    """The file to grade: ``path`` itself, or the one notebook (else .py) inside a folder.
    With several candidates, one named ``prefer`` (e.g. the assignment's notebook name) wins."""
    path = Path(path)
    if path.is_symlink():
        raise SubmissionError(f"{path.name} is a symbolic link; submit the file itself")
    if path.is_file():
        if path.suffix not in (".ipynb", ".py"):
            raise SubmissionError(f"{path.name}: submit a notebook (.ipynb) or a Python file (.py)")
        return path
    if not path.is_dir():
        raise SubmissionError(f"{path}: no such file or folder")
    for suffix in (".ipynb", ".py"):
        found = sorted(p for p in path.rglob(f"*{suffix}")
                       if ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts
                       and not p.name.startswith(".") and not p.is_symlink() and p.is_file())
        if len(found) == 1:
            return found[0]
        if found:
            named = [p for p in found if p.stem == prefer]
            if len(named) == 1:
                return named[0]
            listing = ", ".join(str(p.relative_to(path)) for p in found[:6])
            raise SubmissionError(f"{path.name}: several {suffix} files ({listing}); submit one, "
                                  f"or name it {prefer}{suffix}")
    raise SubmissionError(f"{path.name}: the folder holds no notebook (.ipynb) or Python file (.py)")


def load_submission(path: Path, prefer: str = "") -> Submission:
    """Reads and parses a submission into units (see the module docstring)."""
    file = find_submission_file(Path(path), prefer)
    try:
        cells = read_cells(file)
    except ValueError as e:
        raise SubmissionError(f"{file.name}: {e}") from None
    notebook = file.suffix == ".ipynb"
    units: List[Unit] = []
    notes: List[str] = []
    sources: Dict[str, str] = {}
    code_cells = [c for c in cells if c.kind == "code"]
    for number, cell in enumerate(code_cells, start=1):
        label = f"cell {number}" if notebook else f"the cell at line {cell.line}"
        filename = f"{file.name}, cell {number}" if notebook else file.name
        offset = 0 if notebook else max(cell.line - 1, 0)
        source = cell.source
        if notebook:
            source, magic = _strip_magics(source)
            if magic:
                notes.append(f"{label}: starts with the cell magic {magic}; not run")
                continue
        units.extend(_units_of(number, label, filename, source, offset))
        if notebook:
            sources[filename] = source
    skipped = sum(u.skipped for u in units)
    if skipped:
        notes.append(f"{skipped} top-level statement(s) (calls, prints, loops) were not run: the grader runs "
                     "only imports, definitions and constant assignments")
    for u in units:
        if u.error:
            names = ", ".join(u.names) if u.names else "nothing the tests use"
            notes.append(f"{u.label}: {u.error}; it was not run (it defines {names})")
    if not notebook:
        sources[file.name] = read_text(file)
    return Submission(file, units, notes, sources)


def _strip_magics(source: str) -> Tuple[str, str]:
    """IPython syntax becomes plain Python: ``%line`` and ``!shell`` lines turn into ``pass``
    (line numbers stay). A cell magic (``%%time``) is returned so the cell can be skipped."""
    first = source.lstrip().split("\n", 1)[0]
    if first.startswith("%%"):
        return source, first.split()[0]
    lines = []
    for line in source.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    return "\n".join(lines), ""


def _units_of(number: int, label: str, filename: str, source: str, offset: int) -> List[Unit]:
    unit = _parse_unit(number, label, filename, source, offset)
    if unit.error is None:
        return [unit]
    # Split at top-level definitions and keep what parses: a syntax error costs only its piece.
    lines = source.split("\n")
    starts = [i for i, line in enumerate(lines) if _CHUNK_START.match(line)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    pieces = []
    for a, b in zip(starts, starts[1:] + [len(lines)]):
        text = "\n".join(lines[a:b])
        if text.strip():
            piece_label = label if a == 0 else f"{label.split(' (')[0]} (its part at line {offset + a + 1})"
            pieces.append(_parse_unit(number, piece_label, filename, "\n" * a + text, offset))
    return pieces


def _parse_unit(number: int, label: str, filename: str, source: str, offset: int) -> Unit:
    unit = Unit(number, label, filename, source, offset)
    try:
        tree = ast.parse(source)
        _compile_kept(tree, [i for i, stmt in enumerate(tree.body) if _runs(stmt)], filename, offset)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        where = getattr(e, "lineno", None)
        detail = getattr(e, "msg", None) or str(e)
        line_note = f" at line {where + offset}" if where else ""
        unit.error = f"{type(e).__name__}{line_note}: {detail}"
        unit.names = sorted(set(_DEF_NAME.findall(source)))
        return unit
    names = []
    for i, stmt in enumerate(tree.body):
        if _runs(stmt):
            unit.keep.append(i)
            names.extend(_defined(stmt))
        else:
            unit.skipped += 1
    unit.names = sorted(set(names))
    return unit


def _has_call(node: ast.AST) -> bool:
    """A call, await or yield outside a lambda body (lambdas run only when called)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(n, ast.Lambda):
            stack.extend(n.args.defaults + [d for d in n.args.kw_defaults if d is not None])
            continue
        stack.extend(ast.iter_child_nodes(n))
    return False


def _runs(stmt: ast.stmt) -> bool:
    """Whether a top-level statement is a definition the grader runs."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                         ast.Pass)):
        return True
    if isinstance(stmt, ast.Assign):
        return not _has_call(stmt.value) and not any(_has_call(t) for t in stmt.targets)
    if isinstance(stmt, ast.AnnAssign):
        return stmt.value is None or not _has_call(stmt.value)
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant)          # docstrings
    if isinstance(stmt, ast.Try):                            # try: import x / except ImportError: ...
        blocks = stmt.body + stmt.orelse + stmt.finalbody + [s for h in stmt.handlers for s in h.body]
        return all(_runs(s) for s in blocks)
    if isinstance(stmt, ast.If):                             # if sys.version_info >= ...: import x
        return not _has_call(stmt.test) and all(_runs(s) for s in stmt.body + stmt.orelse)
    return False


def _defined(stmt: ast.stmt) -> List[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(stmt, (ast.Try, ast.If)):
        inner = stmt.body + stmt.orelse + getattr(stmt, "finalbody", []) + [
            s for h in getattr(stmt, "handlers", []) for s in h.body]
        return [name for s in inner for name in _defined(s)]
    return []


def _compile_kept(tree: ast.Module, keep: List[int], filename: str, offset: int) -> object:
    """The code object of the statements ``keep`` of ``tree``. Some errors only compiling finds
    (``return`` or ``await`` outside a function, ``nonlocal`` at top level): the parser calls
    this too, so such a cell is a unit with an error, not a crash in every test."""
    tree = ast.Module(body=[tree.body[i] for i in keep], type_ignores=[])
    if offset:
        ast.increment_lineno(tree, offset)
    return compile(tree, filename, "exec", dont_inherit=True)


def compile_unit(unit: dict) -> object:
    """The code object of a unit's statements that run (done in the sandbox's zygote: parsing
    again is cheap and keeps what crosses processes plain data)."""
    return _compile_kept(ast.parse(unit["source"]), unit["keep"], unit["filename"], unit["line_offset"])

