"""A wheelhouse an instructor can host: a folder of gatelab's wheels and sdist laid out as a
PEP 503 simple index, so pip installs from it with no gatelab release on PyPI.

    python -m gatelab.wheelhouse DIR FILE...     copies FILEs (wheels, sdist) into DIR and indexes it

Layout (every link carries the file's #sha256=, which pip checks):

    DIR/gatelab-0.1.0-cp312-cp312-manylinux_2_34_x86_64.whl   the files, at the top, so that
    DIR/gatelab-0.1.0.tar.gz                                   `--find-links DIR` finds them
    DIR/index.html            the PEP 503 root (one project, gatelab/) and the files again, so
                              that `--find-links URL` reads them from the served page
    DIR/gatelab/index.html    the project page `--index-url URL` reads: links ../FILE

Served as static files (any web server, a course page, `python -m http.server`) or used as a
folder, it answers `pip install --find-links DIR_OR_URL gatelab` and
`pip install --extra-index-url URL gatelab` (NumPy comes from PyPI); `--index-url URL` alone
serves gatelab only, so NumPy must come from elsewhere (--find-links).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Iterable, List

__all__ = ["write_wheelhouse", "main"]

PROJECT = "gatelab"
_FILE = re.compile(r"^gatelab-[^/]+\.(whl|tar\.gz)$")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _page(title: str, links: List[str]) -> str:
    body = "\n".join(f"    {link}<br/>" for link in links)
    return (f"<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n"
            f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n    <h1>{html.escape(title)}</h1>\n"
            f"{body}\n  </body>\n</html>\n")


def _anchor(href: str, name: str, sha: str, requires_python: str) -> str:
    extra = f' data-requires-python="{html.escape(requires_python)}"' if requires_python else ""
    return f'<a href="{html.escape(href)}#sha256={sha}"{extra}>{html.escape(name)}</a>'


def write_wheelhouse(out: Path, files: Iterable[Path], requires_python: str = ">=3.9") -> List[Path]:
    """Copies (hard-links where possible) `files` into `out`, removes gatelab files no longer
    given, and writes the two index pages. Returns the indexed files."""
    out = Path(out)
    (out / PROJECT).mkdir(parents=True, exist_ok=True)
    wanted = []
    for src in (Path(f) for f in files):
        if not _FILE.match(src.name):
            raise ValueError(f"wheelhouse: {src.name} is not a gatelab wheel or sdist")
        dst = out / src.name
        if dst.exists():
            dst.unlink()
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        wanted.append(dst)
    for stale in out.iterdir():
        if stale.is_file() and _FILE.match(stale.name) and stale not in wanted:
            stale.unlink()
    wanted.sort(key=lambda p: p.name)
    hashes = {p: _sha256(p) for p in wanted}
    project_links = [_anchor(f"../{p.name}", p.name, hashes[p], requires_python) for p in wanted]
    (out / PROJECT / "index.html").write_text(_page(f"Links for {PROJECT}", project_links))
    root_links = [f'<a href="{PROJECT}/">{PROJECT}</a>'] + \
        [_anchor(p.name, p.name, hashes[p], requires_python) for p in wanted]
    (out / "index.html").write_text(_page("Simple index", root_links))
    return wanted


def main(argv: List[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    out, files = Path(argv[0]), [Path(a) for a in argv[1:]]
    written = write_wheelhouse(out, files)
    print(f"Wrote the wheelhouse {out}/ (PEP 503 index): " + ", ".join(p.name for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
