"""What to tell a user who lacks an optional package: one wording, and a command that works.

gatelab is not on PyPI: students install a wheel file or from a course wheelhouse, developers
an editable checkout. So a hint never says ``pip install "gatelab[viz]"`` (pip would look for a
release that does not exist). It names, in this order:

1. the wheel file gatelab was installed from, when pip recorded it (PEP 610 direct_url.json) and
   it is still there: ``pip install "gatelab[viz] @ file:///…/gatelab-0.1.0-cp312-….whl"``
   installs the extra's packages and keeps this gatelab;
2. otherwise (a wheelhouse or index install, an editable checkout, a source tree) the extra's
   own requirements, which are on PyPI: ``pip install "matplotlib>=3.7" "tqdm>=4.60"``.

The extras' requirements are read from gatelab's installed metadata (pyproject.toml's
[project.optional-dependencies]); EXTRAS below is the fallback for a source tree with no
metadata and is checked against pyproject.toml by tests/test_install_hints.py.

    from gatelab.install_hints import missing
    raise missing("plot_history", "viz", packages=["matplotlib"]) from err
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from typing import Dict, List, Optional, Sequence
from urllib.parse import unquote, urlparse

__all__ = ["EXTRAS", "PNG_RENDERERS", "requirements", "install_command", "hint", "missing"]

# pyproject.toml's extras, for when gatelab runs without installed metadata.
EXTRAS: Dict[str, List[str]] = {
    "viz": ["matplotlib>=3.7", "tqdm>=4.60"],
    "notebooks": ["jupyterlab>=4", "ipywidgets>=8", "jupytext>=1.16", "matplotlib>=3.7", "tqdm>=4.60",
                  "scikit-learn>=1.3", "sympy>=1.12"],
    "grading": ["pytest>=8", "scikit-learn>=1.3"],
}

# Drawing.save(".png") with no rasteriser: each one named with the command that installs it (none
# of them is gatelab, so PyPI and Debian have them all).
PNG_RENDERERS = ("install one of: Graphviz (Debian/Ubuntu: apt-get install graphviz), cairosvg "
                 "(pip install cairosvg), librsvg (apt-get install librsvg2-bin) or matplotlib "
                 "(pip install matplotlib); or save the drawing as .svg, which needs none of them")

_EXTRA_MARKER = re.compile(r"""\s*;\s*extra\s*==\s*["']([^"']+)["']\s*$""")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution():
    try:
        from importlib.metadata import PackageNotFoundError, distribution
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return distribution("gatelab")
    except PackageNotFoundError:
        return None


def requirements(extra: str) -> List[str]:
    """The requirement strings of gatelab's `extra` (markers other than the extra's kept)."""
    dist = _distribution()
    found: List[str] = []
    for line in (dist.requires or []) if dist is not None else []:
        m = _EXTRA_MARKER.search(line)
        if m and m.group(1) == extra:
            found.append(line[: m.start()].strip())
    if found:
        return found
    if extra not in EXTRAS:
        raise ValueError(f"install_hints: gatelab has no extra {extra!r}; it has {sorted(EXTRAS)}")
    return list(EXTRAS[extra])


def _wheel_file() -> Optional[str]:
    """The wheel file pip installed gatelab from, if it recorded one and the file still exists."""
    dist = _distribution()
    text = dist.read_text("direct_url.json") if dist is not None else None
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    url = info.get("url", "")
    parsed = urlparse(url)
    if parsed.scheme != "file" or "archive_info" not in info:
        return None
    path = unquote(parsed.path)
    return url if path.endswith(".whl") and os.path.isfile(path) else None


def _python() -> str:
    """`python` when that is this interpreter on the PATH, else this interpreter's path."""
    which = shutil.which("python")
    if which and os.path.realpath(which) == os.path.realpath(sys.executable):
        return "python"
    return sys.executable or "python"


def install_command(extra: str, packages: Sequence[str] = ()) -> str:
    """A shell command that installs gatelab's `extra` (or, of its requirements, only those of the
    distributions named in `packages`) into this interpreter, with no gatelab release on PyPI."""
    reqs = requirements(extra)
    wheel = _wheel_file()
    if wheel is not None:
        args = [f"gatelab[{extra}] @ {wheel}"]
    else:
        wanted = {_normalize(p) for p in packages}
        chosen = [r for r in reqs if not wanted or _normalize(_NAME.match(r).group(1)) in wanted]
        if wanted and not chosen:
            raise ValueError(f"install_hints: the {extra!r} extra has none of {sorted(packages)}: {reqs}")
        args = chosen
    return " ".join([shlex.quote(_python()), "-m", "pip", "install"] + [shlex.quote(a) for a in args])


def hint(feature: str, extra: str, packages: Sequence[str] = ()) -> str:
    """The sentence a hint site shows: what is missing, for what, and the command that installs it."""
    names = ", ".join(packages) if packages else f"gatelab's {extra!r} extra"
    return f"{feature} needs {names}, which is not installed here. Install it with: {install_command(extra, packages)}"


def missing(feature: str, extra: str, packages: Sequence[str] = ()) -> ModuleNotFoundError:
    """The exception a hint site raises (``raise missing(...) from err``)."""
    return ModuleNotFoundError(hint(feature, extra, packages))
