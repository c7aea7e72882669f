"""Gradescope, simulated: the zip `gatelab assign` writes by default installs and grades.

For each of A1-A3: `gatelab assign` (default options: the wheel for Gradescope's Python and the
sdist), the zip unpacked at /autograder/source, Gradescope's `setup.sh` run as root, then
`run_autograder` on sample submissions placed at /autograder/submission, and
/autograder/results/results.json checked against the scores samples.toml expects.

What stands in for Gradescope's image:
* a bubblewrap sandbox makes /autograder private to the test (its own folder under tmp_path),
  gives it its own pid namespace (the grader's uid-65534 sweep reaches nothing outside) and a
  private /tmp; the rest of the machine is read-only, so setup.sh can change nothing here, and
  /root is an empty folder (only the Python below is bound into it);
* the Python is this machine's CPython of Gradescope's version (pyenv's, or python3.X on PATH),
  handed to setup.sh as GATELAB_PYTHON in place of Ubuntu's /usr/bin/python3.X; setup.sh makes
  the clean venv /autograder/venv from it;
* Gradescope runs the autograder in a Docker container: root with Docker's default
  capabilities, without CAP_SYS_ADMIN, so bubblewrap cannot create namespaces there. The
  sandbox keeps exactly those capabilities, the grader's own bubblewrap fails, it falls back to
  running student code as uid 65534, and results.json must say "uid-drop". One more run keeps
  every capability (a host that allows namespaces): there results.json must say "bubblewrap".

Slow (pip installs numpy, pytest and scikit-learn into each venv, from PyPI as Gradescope does;
pip's cache lives in build/pip-cache-gradescope) and it needs the wheel: one of the Makefile's
DIST_TESTS, which `make test` leaves out and `make dist-test` runs. GATELAB_WHEELS=DIR takes the wheels from
DIR instead of dist/ (assign's --wheels).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gatelab import __version__
from gatelab.grading import find_assignment
from gatelab.grading.authoring import GRADESCOPE_PYTHON
from gatelab.grading.samples import load_samples

pytestmark = [pytest.mark.gradescope, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PIP_CACHE = ROOT / "build" / "pip-cache-gradescope"
CP = "cp" + GRADESCOPE_PYTHON.replace(".", "")
# Docker's default capability set (moby's oci/caps/defaults.go): root in a container has these only.
DOCKER_CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
               "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]


def base_python(version: str) -> Path | None:
    """This machine's CPython `version` (not a venv): pyenv's, else python3.X on PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(pyenv.glob(f"{version}.*"), reverse=True):
        exe = candidate / "bin" / f"python{version}"
        if exe.is_file():
            return exe
    found = shutil.which(f"python{version}")
    return Path(found) if found else None


PYTHON = base_python(GRADESCOPE_PYTHON)
if os.geteuid() != 0 or shutil.which("bwrap") is None or PYTHON is None:
    pytest.skip(f"the Gradescope simulation runs as root with bubblewrap and CPython {GRADESCOPE_PYTHON} "
                f"(apt-get install bubblewrap; pyenv install {GRADESCOPE_PYTHON})", allow_module_level=True)


def sandbox(autograder: Path, scratch: Path, docker: bool, python: Path = PYTHON) -> list:
    """bwrap arguments: / read-only, /autograder and /tmp private and writable, /root empty."""
    args = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    for entry in sorted(os.listdir("/")):
        path = Path("/") / entry
        if entry in ("proc", "dev", "tmp", "root", "autograder"):
            continue
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--proc", "/proc", "--dev", "/dev", "--bind", str(scratch), "/tmp",
             "--tmpfs", "/root", "--bind", str(autograder), "/autograder"]
    prefix = Path(os.path.realpath(python)).parents[1]
    if Path("/root") in prefix.parents:   # its folders world-traversable, as /usr/lib/python3.X is
        for folder in reversed([p for p in prefix.parents if Path("/root") in p.parents]):
            args += ["--perms", "0755", "--dir", str(folder)]
        args += ["--ro-bind", str(prefix), str(prefix)]
    PIP_CACHE.mkdir(parents=True, exist_ok=True)
    args += ["--bind", str(PIP_CACHE), "/tmp/pip-cache"]
    if docker:
        args += ["--cap-drop", "ALL"] + [a for cap in DOCKER_CAPS for a in ("--cap-add", f"CAP_{cap}")]
    else:
        args += ["--cap-add", "ALL"]
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "LANG": "C.UTF-8", "PIP_CACHE_DIR": "/tmp/pip-cache", "GATELAB_PYTHON": str(python)}
    # How this machine reaches PyPI (certificates, mirrors), as Gradescope's image reaches its own.
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_") and k != "PIP_CACHE_DIR"})
    env.update({k: v for k, v in os.environ.items() if k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")})
    args += ["--clearenv"] + [a for k, v in env.items() for a in ("--setenv", k, v)]
    return args + ["--chdir", "/autograder", "--"]


class Gradescope:
    """One autograder image: the zip unpacked and set up, then submissions graded one by one."""

    def __init__(self, zip_path: Path, tmp: Path, docker: bool = True, python: Path = PYTHON):
        self.tmp, self.docker, self.python = tmp, docker, python
        self.root = tmp / "autograder"
        source = self.root / "source"
        source.mkdir(parents=True)
        with zipfile.ZipFile(zip_path) as z:                  # as unzip does: with the files' modes
            for info in z.infolist():
                target = source / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(info))
                target.chmod((info.external_attr >> 16) & 0o777 or 0o644)
        self.scratch = tmp / "tmp"
        self.scratch.mkdir()
        self.scratch.chmod(0o1777)
        self.setup_log = self.run("bash /autograder/source/setup.sh", timeout=1200)

    def run(self, script: str, timeout: int = 600, check: bool = True) -> str:
        done = subprocess.run(sandbox(self.root, self.scratch, self.docker, self.python) + ["bash", "-c", script],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
        if check and done.returncode != 0:
            pytest.fail(f"`{script}` exited with {done.returncode} in the Gradescope sandbox:\n{done.stdout[-6000:]}")
        return done.stdout

    def grade(self, submission: Path, expect_grade: bool = True) -> dict:
        """Gradescope's per-submission steps: a fresh submission folder, run_autograder, results.json."""
        folder = self.root / "submission"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self.root / "results", ignore_errors=True)
        folder.mkdir()
        (self.root / "results").mkdir()
        if submission.is_dir():
            shutil.copytree(submission, folder, dirs_exist_ok=True)
        else:
            shutil.copy(submission, folder / submission.name)
        self.output = self.run("cp /autograder/source/run_autograder /autograder/run_autograder && "
                               "/autograder/run_autograder")
        data = json.loads((self.root / "results" / "results.json").read_text())
        if expect_grade and "max_score" not in data:
            pytest.fail(f"run_autograder on {submission.name} gave no grade: {data}\n{self.output[-6000:]}")
        return data


def make_zip(name: str, out: Path) -> Path:
    """`gatelab assign NAME OUT` with its defaults (GATELAB_WHEELS, if set, as --wheels)."""
    cmd = [sys.executable, "-m", "gatelab.cli", "assign", name, str(out)]
    if os.environ.get("GATELAB_WHEELS"):
        cmd += ["--wheels", os.environ["GATELAB_WHEELS"]]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"gatelab assign {name} failed (a wheel for {CP} comes from `make wheel`):\n{done.stderr}")
    assert f"gatelab-{__version__}-{CP}-" in done.stdout and f"gatelab-{__version__}.tar.gz" in done.stdout, done.stdout
    return out / "autograder.zip"


def check_installed_from_the_zip(gs: Gradescope) -> None:
    """setup.sh installed gatelab from the zip's wheel (pip recorded the file), never from an index."""
    assert f"installed gatelab {__version__} from packages/gatelab-{__version__}-{CP}-" in gs.setup_log, gs.setup_log
    site = gs.root / "venv" / "lib" / f"python{GRADESCOPE_PYTHON}" / "site-packages"
    direct = json.loads((site / f"gatelab-{__version__}.dist-info" / "direct_url.json").read_text())
    assert direct["url"].startswith(f"file:///autograder/source/packages/gatelab-{__version__}-{CP}-"), direct
    assert not (site / f"gatelab-{__version__}.dist-info" / "direct_url.json").read_text().count("pypi")


def check_results(data: dict, name: str, sample_name: str, mode: str) -> None:
    a = find_assignment(name)
    sample = {s.name: s for s in load_samples(a)}[sample_name]
    tests = data["tests"]
    assert tests and data["max_score"] == sum(t["max_score"] for t in tests) > 0

    def function(t):                      # a test's node id: tests/test_x.py::test_f[param]
        return t["extra_data"]["id"].split("::")[-1].split("[")[0]

    failed = {function(t) for t in tests if t["score"] < t["max_score"]}
    functions = sorted({function(t) for t in tests})
    assert failed == set(sample.expected_failures(functions)), (sample_name, failed, data["output"][:2000])
    isolation = data["extra_data"]["isolation"]
    assert isolation["mode"] == mode and isolation["isolated"], isolation
    assert isolation["worker_uid"] == 65534


# One sample per assignment that must lose points, beside the solution that must score everything.
BUGGY = {"A1": "sign_flip", "A2": None, "A3": None}


def buggy_sample(name: str) -> str:
    if BUGGY.get(name):
        return BUGGY[name]
    for s in load_samples(find_assignment(name)):
        if isinstance(s.fails, list) and s.fails and s.threat == 0:
            return s.name
    raise AssertionError(f"{name}: no sample that fails some tests")


@pytest.mark.parametrize("name", ["A1", "A2", "A3"])
def test_default_zip_installs_and_grades_on_gradescope(tmp_path, name):
    out = tmp_path / "assign"
    zip_path = make_zip(name, out)
    gs = Gradescope(zip_path, tmp_path / "image", docker=True)
    check_installed_from_the_zip(gs)
    # Student code runs as uid 65534 here: the hidden tests must be root's alone.
    hidden = gs.root / "source" / "assignment" / "tests" / "test_hidden.py"
    assert hidden.exists() and not (gs.root / "source").stat().st_mode & 0o077 and not hidden.stat().st_mode & 0o077
    solution = gs.grade(out / "samples" / "solution.ipynb")
    assert solution["score"] == solution["max_score"], solution["output"][:3000]
    check_results(solution, name, "solution", mode="uid-drop")
    assert "bubblewrap cannot create namespaces here" in solution["extra_data"]["isolation"]["detail"]
    buggy = buggy_sample(name)
    path = next(p for p in (out / "samples").iterdir() if p.stem == buggy)
    data = gs.grade(path)
    assert data["score"] < data["max_score"]
    check_results(data, name, buggy, mode="uid-drop")
    if name == "A1":
        # gatelab broken after set-up (its compiled core gone): still a valid results.json.
        for core in (gs.root / "venv").rglob("_core.*.so"):
            core.unlink()
        broken = gs.grade(out / "samples" / "solution.ipynb", expect_grade=False)
        assert broken["score"] == 0 and "course staff" in broken["output"], broken
        assert "left no valid results.json" in gs.output


def test_zip_grades_in_bubblewrap_where_namespaces_are_allowed(tmp_path):
    """Outside Docker (every capability kept), the grader's own bubblewrap works inside ours."""
    out = tmp_path / "assign"
    gs = Gradescope(make_zip("A1", out), tmp_path / "image", docker=False)
    check_installed_from_the_zip(gs)
    data = gs.grade(out / "samples" / "solution.ipynb")
    assert data["score"] == data["max_score"], data["output"][:3000]
    check_results(data, "A1", "solution", mode="bubblewrap")


def test_zip_falls_back_to_the_sdist_when_no_wheel_fits(tmp_path):
    """An image whose Python the zip has no wheel for: setup.sh says so and compiles the sdist
    (the C++ build needs g++ and the xtensor packages, which this machine has; minutes)."""
    other = next((v for v in ("3.11", "3.12", "3.13", "3.9") if v != GRADESCOPE_PYTHON and base_python(v)), None)
    if other is None:
        pytest.skip(f"no CPython besides {GRADESCOPE_PYTHON} here")
    out = tmp_path / "assign"
    gs = Gradescope(make_zip("A1", out), tmp_path / "image", docker=True, python=base_python(other))
    assert f"packages/gatelab-{__version__}-{CP}-" in gs.setup_log and "does not install on this machine" in gs.setup_log
    assert f"installed gatelab {__version__} from packages/gatelab-{__version__}.tar.gz" in gs.setup_log
    data = gs.grade(out / "samples" / "solution.ipynb")
    assert data["score"] == data["max_score"], data["output"][:3000]
    check_results(data, "A1", "solution", mode="uid-drop")
