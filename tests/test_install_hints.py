"""Every install hint names a command that works without a gatelab release on PyPI.

Each hint site is triggered with its package made unimportable (sys.modules[name] = None), the
command is taken from the message and checked: `python -m pip install` and requirements that parse,
each either one of gatelab's declared extras' requirements (on PyPI: make setup installs them from
there) or gatelab itself at the file:// URL of an existing wheel; pip accepts it (--dry-run,
offline). tests/test_wheel.py checks the wheel-file form from a venv that installed a wheel.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gatelab as gl
from gatelab import install_hints

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "gatelab"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
COMMAND = re.compile(r"Install it with: (.+)$")


def command_of(message: str) -> list:
    m = COMMAND.search(message.strip())
    assert m, f"no command in the hint: {message!r}"
    return shlex.split(m.group(1))


def check_command(argv: list, extra: str) -> None:
    """argv is `python -m pip install REQ...` and every REQ is installable without PyPI's gatelab."""
    from packaging.requirements import Requirement

    assert argv[0] in ("python", sys.executable), argv
    assert argv[1:4] == ["-m", "pip", "install"], argv
    reqs = argv[4:]
    assert reqs, argv
    declared = {str(Requirement(r)) for r in EXTRAS[extra]}
    for text in reqs:
        req = Requirement(text)
        if req.name == "gatelab":
            assert req.url and req.url.startswith("file://") and req.url.endswith(".whl"), text
            assert req.extras == {extra}, text
        else:
            assert str(req) in declared, f"{text} is not in gatelab's {extra!r} extra {sorted(declared)}"
    # pip reads it the same way and finds it satisfiable here (the test extras installed it).
    dry = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index",
                          "--disable-pip-version-check", *reqs], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "does not provide the extra" not in dry.stdout + dry.stderr, dry.stdout + dry.stderr


def test_the_fallback_table_is_pyprojects_extras():
    for extra, reqs in install_hints.EXTRAS.items():
        assert reqs == EXTRAS[extra], extra


def test_requirements_come_from_the_installed_metadata():
    for extra in ("viz", "notebooks", "grading"):
        assert install_hints.requirements(extra) == EXTRAS[extra]
    with pytest.raises(ValueError, match="no extra"):
        install_hints.requirements("nonsense")


def test_no_hint_outside_install_hints():
    """No string in python/gatelab tells the user to `pip install` except through install_hints.
    grading/authoring.py is the Gradescope setup.sh (a script that runs, not advice)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "install_hints.py" or path.relative_to(PACKAGE).as_posix() == "grading/authoring.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)   # documentation, not a message
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if id(node) not in docstrings and isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.search(r"\bpip3? install\b|gatelab\[", node.value):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:80]!r}")
    assert not offenders, "install hints written outside install_hints.py:\n" + "\n".join(offenders)


def hide(monkeypatch, *modules):
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in modules):
            monkeypatch.delitem(sys.modules, name)
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)


def test_plot_history_without_matplotlib(monkeypatch):
    from gatelab.training import History, plot_history

    hide(monkeypatch, "matplotlib")
    with pytest.raises(ModuleNotFoundError) as err:
        plot_history(History())
    assert "plot_history needs matplotlib" in str(err.value)
    check_command(command_of(str(err.value)), "viz")


def test_step_size_plot_without_matplotlib(monkeypatch):
    sweep = gl.step_size_sweep(lambda x: float(np.sum(np.sin(x))), np.array([0.3]), grad=float(np.cos(0.3)))
    hide(monkeypatch, "matplotlib")
    with pytest.raises(ModuleNotFoundError) as err:
        sweep.plot()
    check_command(command_of(str(err.value)), "viz")


def test_load_digits_without_scikit_learn(monkeypatch):
    hide(monkeypatch, "sklearn")
    with pytest.raises(ModuleNotFoundError) as err:
        from gatelab.datasets import load_digits

        load_digits()
    assert "scikit-learn" in str(err.value)
    check_command(command_of(str(err.value)), "grading")


def test_grading_without_pytest(monkeypatch, tmp_path):
    import importlib.util

    from gatelab.grading import runner

    real = importlib.util.find_spec
    monkeypatch.setattr(runner.importlib.util, "find_spec", lambda name, *a: None if name == "pytest" else real(name, *a))
    sub = tmp_path / "A1.py"
    sub.write_text("x = 1\n")
    result = runner.grade("A1", sub, no_sandbox=True)
    (message,) = [e for e in result.errors if "needs pytest" in e]
    check_command(command_of(message), "grading")


def test_a_recorded_wheel_file_is_named(monkeypatch, tmp_path):
    """Installed from a wheel file that still exists: the hint installs the extra from that file."""
    wheel = tmp_path / "gatelab-0.1.0-cp311-cp311-manylinux_2_34_x86_64.whl"
    wheel.write_bytes(b"")
    url = wheel.as_uri()

    class Dist:
        requires = [f"{r}; extra == \"viz\"" for r in EXTRAS["viz"]]

        def read_text(self, name):
            return '{"url": "%s", "archive_info": {}}' % url if name == "direct_url.json" else None

    monkeypatch.setattr(install_hints, "_distribution", lambda: Dist())
    argv = shlex.split(install_hints.install_command("viz", packages=["matplotlib"]))
    assert argv[4:] == [f"gatelab[viz] @ {url}"]
    wheel.unlink()   # gone: the hint falls back to the extra's own requirements
    argv = shlex.split(install_hints.install_command("viz", packages=["matplotlib"]))
    assert argv[4:] == ["matplotlib>=3.7"]
