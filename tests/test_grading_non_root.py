"""An instructor who is not root grades with the wheel: student code is still isolated (bubblewrap
in a user namespace), or grading refuses and says why; --no-sandbox marks the result.

The instructor is simulated for real: uid 65534 (setpriv), a home of its own, Debian's Python
(root's pyenv Pythons live in /root, which other users cannot enter), a clean venv with the cp3XY
wheel from dist/ that matches it, and an assignment folder copied where that user can read it.
Like tests/test_wheel.py this file builds nothing: `make wheel` / `make dist-test` run it
(GATELAB_DIST_TEST=1, where a missing prerequisite is a failure); run by hand without them it skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gatelab.grading import find_assignment
from gatelab.grading.authoring import solution_cells
from gatelab.grading.notebook import parse_percent, write_ipynb

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
REQUIRED = os.environ.get("GATELAB_DIST_TEST") == "1"
SYSTEM_PYTHON = Path("/usr/bin/python3")
INSTRUCTOR_UID = 65534


def _system_python_tag() -> str:
    out = subprocess.run([str(SYSTEM_PYTHON), "-c", "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')"],
                         capture_output=True, text=True)
    return out.stdout.strip()


def _why_not() -> str:
    if os.getuid() != 0:
        return "needs root to become another user (setpriv)"
    if not SYSTEM_PYTHON.exists() or not shutil.which("setpriv"):
        return f"needs {SYSTEM_PYTHON} and setpriv"
    if not list(DIST.glob(f"gatelab-*-{_system_python_tag()}-*.whl")):
        return f"dist/ holds no {_system_python_tag()} wheel for {SYSTEM_PYTHON}: `make wheel` builds it"
    return ""


@pytest.fixture(scope="module")
def instructor(tmp_path_factory):
    """(run, home): run(*argv) runs a command as the non-root instructor, in its home."""
    why = _why_not()
    if why:
        if REQUIRED:
            pytest.fail(why)
        pytest.skip(why)
    home = tmp_path_factory.mktemp("instructor")
    for p in [home, *home.parents]:
        if p == Path("/"):
            break
        p.chmod(p.stat().st_mode | 0o005)        # pytest's tmp folders are root's alone
    (wheel,) = DIST.glob(f"gatelab-*-{_system_python_tag()}-*.whl")
    shutil.copy(wheel, home / wheel.name)
    shutil.copytree(ROOT / "assignments" / "A1", home / "A1")
    a1 = find_assignment(home / "A1")
    (home / "A1.ipynb").write_text(write_ipynb(solution_cells(parse_percent(a1.source.read_text()))))
    subprocess.run(["chown", "-R", f"{INSTRUCTOR_UID}:{INSTRUCTOR_UID}", str(home)], check=True)
    env = {"HOME": str(home), "PATH": f"{home}/venv/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TMPDIR": str(home)}
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PIP_FIND_LINKS", "PIP_INDEX_URL"):
        if key in os.environ:
            env[key] = os.environ[key]

    def run(*argv, check=True):
        done = subprocess.run(["setpriv", f"--reuid={INSTRUCTOR_UID}", f"--regid={INSTRUCTOR_UID}", "--clear-groups",
                               *map(str, argv)], cwd=home, env=env, capture_output=True, text=True, timeout=900)
        if check and done.returncode != 0:
            raise AssertionError(f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    run(SYSTEM_PYTHON, "-m", "venv", home / "venv")
    run(home / "venv/bin/pip", "install", "-q", "--no-cache-dir", home / wheel.name, "pytest")
    return run, home


def test_a_non_root_instructor_grades_isolated_or_is_refused(instructor):
    run, home = instructor
    solution = home / "A1.ipynb"
    done = run(home / "venv/bin/gatelab", "grade", home / "A1", solution, "--json", home / "r.json", check=False)
    if done.returncode == 3:          # no isolation possible for this user: refused, and says how to fix it
        assert "cannot isolate" in done.stdout + done.stderr and "--no-sandbox" in done.stdout + done.stderr
        return
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((home / "r.json").read_text())
    isolation = result["extra_data"]["isolation"]
    assert isolation["mode"] == "bubblewrap" and isolation["isolated"] and "user" in isolation["namespaces"], isolation
    assert result["score"] == sum(t["max_score"] for t in result["tests"]) > 0, done.stdout
    assert "bubblewrap" in done.stdout


def test_a_non_root_instructors_samples_score_what_they_should(instructor):
    run, home = instructor
    done = run(home / "venv/bin/gatelab", "grade", home / "A1", "--samples", check=False)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    if done.returncode == 0:
        rows = [line for line in done.stdout.splitlines() if line.startswith("  ") and " expected " in line]
        assert len(rows) > 10 and all(" ok " in row for row in rows), done.stdout


def test_no_sandbox_marks_a_non_root_grade_unisolated(instructor):
    run, home = instructor
    solution = home / "A1.ipynb"
    done = run(home / "venv/bin/gatelab", "grade", home / "A1", solution, "--json", home / "u.json", "--no-sandbox")
    result = json.loads((home / "u.json").read_text())
    assert result["extra_data"]["isolation"]["isolated"] is False
    assert "UNISOLATED" in done.stdout
