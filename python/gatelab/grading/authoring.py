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
* ``autograder.zip``  for Gradescope: setup.sh, run_autograder, the bundle, and in packages/
                   gatelab's wheel for the Python of Gradescope's base image (``python``) and
                   its sdist as a fallback: setup.sh installs gatelab from these, never from PyPI.
* ``solution/``    the solution notebook without markers, for instructors.
* ``samples/``     the sample submissions of ``samples/samples.toml`` (see ``samples``).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path
from typing import List, Optional, Union

from gatelab.grading.assignment import Assignment, find_assignment, repository_root
from gatelab.grading.notebook import Cell, parse_percent, write_ipynb

__all__ = ["assign", "student_cells", "solution_cells", "build_sdist", "AuthoringError", "WheelsMissing",
           "GRADESCOPE_PYTHON", "choose_packages", "find_packages", "wheel_fits", "default_wheels_dir",
           "grading_requirements", "packages_in_zip"]

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


# ---- what the Gradescope zip carries --------------------------------------------------------------
# Gradescope builds the autograder image from its default base image, Ubuntu 22.04 (Gradescope's
# autograder docs, "Base Images"), whose python3 is CPython 3.10 and whose glibc is 2.35: the zip
# carries gatelab's wheel for that Python (``--python`` chooses another) and the sdist as a
# fallback. gatelab is not on PyPI, so setup.sh installs it from these files and nothing else.

GRADESCOPE_PYTHON = "3.10"
GRADESCOPE_GLIBC = (2, 35)
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class WheelsMissing(AuthoringError):
    """No gatelab wheel for the Python the zip is made for."""


def _wheel_tags(path: Path):
    """(version, python tags, abi tags, platform tags) of a wheel's file name (PEP 427)."""
    parts = path.name[:-len(".whl")].split("-")
    if len(parts) not in (5, 6):
        return None
    return parts[1], parts[-3].split("."), parts[-2].split("."), parts[-1].split(".")


def _glibc_needed(platforms: List[str]):
    """The oldest glibc one of a wheel's platform tags promises to work with (None: not Linux x86_64)."""
    best = None
    for tag in platforms:
        if tag == "any":
            return (0, 0)
        if not tag.endswith("_x86_64"):
            continue
        if tag.startswith("manylinux_"):
            major, minor = tag.split("_")[1:3]
            need = (int(major), int(minor))
        else:
            need = _LEGACY_MANYLINUX.get(tag[: -len("_x86_64")])
        if need is not None and (best is None or need < best):
            best = need
    return best


def wheel_fits(path: Path, python: str, version: str, glibc=GRADESCOPE_GLIBC) -> Optional[str]:
    """None if the wheel installs on CPython ``python`` (e.g. "3.10") on Gradescope's image,
    else why not."""
    tags = _wheel_tags(path)
    if tags is None:
        return "not a wheel file name"
    wheel_version, pythons, abis, platforms = tags
    if wheel_version != version:
        return f"it is gatelab {wheel_version}, this is gatelab {version}"
    cp = "cp" + python.replace(".", "")
    if not (cp in pythons or "py3" in pythons or ("abi3" in abis and any(
            t.startswith("cp3") and int(t[3:] or 0) <= int(cp[3:]) for t in pythons))):
        return f"it is for {'/'.join(pythons)}, not {cp}"
    need = _glibc_needed(platforms)
    if need is None:
        return f"it is for {'/'.join(platforms)}, not Linux x86_64"
    if need > glibc:
        return (f"it needs glibc {need[0]}.{need[1]}, newer than the image's {glibc[0]}.{glibc[1]} "
                f"(build it on an older system, e.g. a manylinux container)")
    return None


def default_wheels_dir() -> Path:
    """Where ``assign`` looks for wheels without ``--wheels``: the checkout's dist/ (``make wheel``
    writes it, its wheelhouse/ inside), else ./dist, else the wheelhouse installed beside gatelab."""
    root = repository_root()
    candidates = ([root / "dist"] if root is not None else []) + [Path.cwd() / "dist"]
    here = Path(__file__).resolve().parents[1]
    candidates += [here / "wheelhouse", here.parent / "gatelab-wheelhouse"]
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def find_packages(wheels: Union[str, Path], python: str, version: str, exclude: Optional[Path] = None):
    """The wheel for CPython ``python`` and the sdist of gatelab ``version`` found under ``wheels``
    (searched recursively, so a flat dist/ and a PEP 503 wheelhouse/gatelab/ both work).
    Returns (wheel or None, sdist or None, [why each other wheel does not fit])."""
    wheels = Path(wheels)

    def files(pattern):          # shallowest first (dist/ before dist/wheelhouse/gatelab/), one per name
        if not wheels.is_dir():
            return []
        skip = exclude.resolve() if exclude is not None else None
        paths = [p for p in wheels.rglob(pattern) if skip is None or skip not in p.resolve().parents]
        by_name = {}
        for p in sorted(paths, key=lambda p: (len(p.parts), str(p))):
            by_name.setdefault(p.name, p)
        return list(by_name.values())

    found = files("gatelab-*.whl")
    fitting, rejected = [], []
    for w in found:
        why = wheel_fits(w, python, version)
        (rejected.append(f"{w.name}: {why}") if why else fitting.append(w))
    # The most widely installable first: the lowest glibc a fitting wheel asks for.
    fitting.sort(key=lambda w: (_glibc_needed(_wheel_tags(w)[3]) or (99, 99), w.name))
    sdists = files(f"gatelab-{version}.tar.gz")
    return (fitting[0] if fitting else None), (sdists[0] if sdists else None), rejected


_SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (its default base
# image is Ubuntu 22.04, whose python3 is {python}). gatelab is not on PyPI: it is installed from
# this zip -- the wheel in packages/, or where no wheel fits this machine, the sdist beside it
# (compiled here, which needs g++ and the xtensor packages from apt and takes minutes). Only
# gatelab's own dependencies (and the assignment's) come from PyPI.
set -euo pipefail
umask 022                      # the venv must be readable by uid 65534, the user student code runs as
cd "$(dirname "$0")"
SRC="$PWD"
chmod -R go-rwx "$SRC"         # ... and the hidden tests in here must not be: this folder is root's alone
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${GATELAB_PYTHON:-python{python}}"      # GATELAB_PYTHON: another interpreter of the same version
VERSION="{version}"
WHEELS="{wheels}"
SDIST="{sdist}"
REQUIREMENTS=({requirements})

say() { echo "setup.sh: $*"; }

apt_install() {   # installs those of "$@" that are missing; no apt-get at all when none is
  local missing="" p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  say "apt-get install$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
}

# The grader isolates student code with bubblewrap where namespaces are allowed; elsewhere (as in
# Gradescope's Docker containers) it runs student code as uid 65534. results.json says which.
apt_install bubblewrap || say "bubblewrap could not be installed: student code will run as uid 65534"

if ! command -v "$PYTHON" >/dev/null 2>&1; then apt_install "python{python}" "python{python}-venv"; fi
say "creating $ROOT/venv with $("$PYTHON" -V 2>&1)"
if ! "$PYTHON" -m venv "$ROOT/venv" >/dev/null 2>&1; then   # Debian/Ubuntu keep ensurepip apart
  rm -rf "$ROOT/venv"; apt_install "python{python}-venv"; "$PYTHON" -m venv "$ROOT/venv"
fi
PIP=("$ROOT/venv/bin/python" -m pip --disable-pip-version-check)

say "installing gatelab's dependencies from PyPI: ${REQUIREMENTS[*]}"
"${PIP[@]}" install -q "${REQUIREMENTS[@]}"

installed=""
for wheel in $WHEELS; do                              # no index: this file, or pip says why not
  if "${PIP[@]}" install -q --no-index --no-deps "packages/$wheel"; then installed="packages/$wheel"; break; fi
  say "packages/$wheel does not install on this machine (above: pip's reason)"
done
if [ -z "$installed" ] && [ -n "$SDIST" ]; then
  say "building gatelab from packages/$SDIST (no wheel here fits $("$PYTHON" -V 2>&1); this takes minutes)"
  apt_install g++ libxtensor-dev libxtensor-blas-dev xtl-dev libxsimd-dev libopenblas-dev
  "${PIP[@]}" install -q "scikit-build-core>=0.11" "pybind11>=3" "cmake>=3.25" ninja
  "${PIP[@]}" install -q --no-index --no-deps --no-build-isolation "packages/$SDIST"
  installed="packages/$SDIST"
fi
if [ -z "$installed" ]; then
  say "no gatelab package in this zip installs here; make the zip for this Python: gatelab assign --python X.Y"
  exit 1
fi
say "installed gatelab $VERSION from $installed (not from an index)"
"${PIP[@]}" check
"$ROOT/venv/bin/python" -c "import gatelab, gatelab._core; print('setup.sh: gatelab', gatelab.__version__, 'imports')"
"""

_RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission. gatelab grade always writes results.json; the end
# makes sure a valid one is there even when the grader cannot start (gatelab missing, or failing
# to import): the student sees that the autograder failed, the course staff see why in the
# autograder output above it.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
GATELAB="${GATELAB:-$ROOT/venv/bin/gatelab}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
"$GATELAB" grade "$ROOT/source/assignment" "$ROOT/submission" --json "$RESULTS"
status=$?
valid() {
  local py
  for py in "$ROOT/venv/bin/python" python3; do
    "$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if isinstance(d, dict) and isinstance(d.get("score"), (int, float)) else 1)' "$RESULTS" 2>/dev/null \
      && return 0
  done
  return 1
}
if [ ! -s "$RESULTS" ] || ! valid; then
  echo "run_autograder: gatelab grade (exit status $status) left no valid results.json; writing one" >&2
  printf '{"score": 0, "output": "The autograder could not grade this submission (gatelab grade exited with status %s). This is not your fault: please tell the course staff.", "tests": []}\n' \
    "$status" > "$RESULTS"
fi
exit 0
"""


def grading_requirements(extra_requirements: List[str] = ()) -> List[str]:
    """What gatelab grade needs besides gatelab: gatelab's own requirements and its ``grading``
    extra (from the installed gatelab's metadata, the version the zip carries), then the
    assignment's. Environment markers stay (pip evaluates them on Gradescope's Python)."""
    import importlib.metadata
    import re

    out = []
    for req in importlib.metadata.requires("gatelab") or []:
        spec, _, marker = req.partition(";")
        marker = marker.strip()
        if "extra" in marker:
            if not re.search(r"""extra\s*==\s*["']grading["']""", marker):
                continue
            marker = re.sub(r"""\s*(and\s+)?extra\s*==\s*["']grading["'](\s+and)?\s*""", "", marker).strip()
        req = spec.strip() + (f"; {marker}" if marker else "")
        if req not in out:
            out.append(req)
    def name(requirement):
        return re.split(r"[\s;<>=!~\[(@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")

    return out + [r for r in extra_requirements if name(r) not in {name(o) for o in out}]


def _shell_words(items: List[str]) -> str:
    return " ".join("'" + i.replace("'", "'\\''") + "'" for i in items)


def _zip(out: Path, bundle: Path, version: str, python: str, requirements: List[str],
         wheels: List[Path], sdist: Optional[Path]) -> Path:
    path = out / "autograder.zip"
    setup = (_SETUP_SH.replace("{python}", python).replace("{version}", version)
             .replace("{wheels}", " ".join(w.name for w in wheels)).replace("{sdist}", sdist.name if sdist else "")
             .replace("{requirements}", _shell_words(requirements)))
    entries = [("setup.sh", setup.encode(), 0o755),
               ("run_autograder", _RUN_AUTOGRADER.encode(), 0o755)]
    for file in sorted(bundle.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts:
            entries.append((f"assignment/{file.relative_to(bundle).as_posix()}", file.read_bytes(), 0o644))
    for package in list(wheels) + ([sdist] if sdist is not None else []):
        entries.append((f"packages/{package.name}", package.read_bytes(), 0o644))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:          # fixed dates and modes: the same input, the same zip
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_STORED if name.endswith((".whl", ".tar.gz")) else zipfile.ZIP_DEFLATED
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


def choose_packages(wheels: Union[str, Path, None] = None, pythons: Union[str, List[str], None] = None,
                    sdist_only: bool = False, exclude: Optional[Path] = None):
    """The wheels (one per Python in ``pythons``, default Gradescope's) and the sdist the zip
    carries, found in ``wheels`` (default: ``default_wheels_dir()``). Raises WheelsMissing,
    naming ``make wheel``, when a Python has no wheel, unless ``sdist_only`` (then no wheel)."""
    from gatelab import __version__

    pythons = [pythons] if isinstance(pythons, str) else list(pythons or [GRADESCOPE_PYTHON])
    where = Path(wheels) if wheels is not None else default_wheels_dir()
    chosen, sdist, problems = [], None, []
    for python in pythons:
        if not re.fullmatch(r"3\.\d+", python):
            raise AuthoringError(f"--python {python}: give a CPython version like {GRADESCOPE_PYTHON}")
        wheel, sdist, rejected = find_packages(where, python, __version__, exclude=exclude)
        if wheel is not None:
            chosen.append(wheel)
        elif not sdist_only:
            cp = "cp" + python.replace(".", "")
            seen = ("; the wheels there: " + "; ".join(rejected)) if rejected else ""
            problems.append(f"no gatelab {__version__} wheel for CPython {python} ({cp}) in {where}{seen}")
    if problems:
        raise WheelsMissing(
            "; ".join(problems) + ". The Gradescope zip installs gatelab from the wheel it carries (gatelab "
            "is not on PyPI). Fix: run `make wheel` in a gatelab checkout (it builds a wheel for every "
            "CPython 3.9-3.13 it finds; the Python must be installed), or pass --wheels DIR with a folder "
            f"holding gatelab-{__version__}-{'cp' + pythons[0].replace('.', '')}-*.whl, or --python X.Y for "
            "another base image's Python; or --sdist-only to let Gradescope compile gatelab from source "
            "(minutes per image build, and apt packages).")
    return (chosen if not sdist_only else []), sdist, where


def assign(assignment: Union[str, Path, Assignment], out: Union[str, Path], sdist: bool = False,
           samples: bool = True, wheels: Union[str, Path, None] = None,
           python: Union[str, List[str], None] = None, sdist_only: bool = False) -> Path:
    """Writes the student, autograder, solution and sample folders and the Gradescope zip.

    The zip carries gatelab's wheel for ``python`` (default GRADESCOPE_PYTHON, Gradescope's base
    image) from ``wheels`` and the sdist as a fallback; ``sdist_only`` (or the older ``sdist``)
    carries the sdist alone, compiled on Gradescope."""
    a = assignment if isinstance(assignment, Assignment) else find_assignment(assignment)
    if a.source is None:
        raise AuthoringError(f"{a.root}: no solution notebook (assignment.toml names {a.notebook!r})")
    out = Path(out)
    sdist_only = sdist_only or sdist
    pythons = [python] if isinstance(python, str) else list(python or [GRADESCOPE_PYTHON])
    chosen, source_package, _ = choose_packages(wheels, pythons, sdist_only, exclude=out)   # before anything is written
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

    if source_package is None and (sdist_only or repository_root() is not None):
        (out / "dist").mkdir()
        source_package = build_sdist(out / "dist")       # from the checkout gatelab runs from
    _zip(out, bundle, __version__, pythons[0], grading_requirements(a.requirements), chosen, source_package)
    if samples and (a.samples_dir / "samples.toml").is_file():
        from gatelab.grading.samples import materialize

        materialize(a, out / "samples")
    return out


def packages_in_zip(path: Union[str, Path]) -> List[str]:
    """The gatelab wheels and sdist a Gradescope zip carries (file names)."""
    with zipfile.ZipFile(path) as z:
        return [n.split("/", 1)[1] for n in z.namelist() if n.startswith("packages/")]
