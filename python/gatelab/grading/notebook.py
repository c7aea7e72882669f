"""Notebooks as cells: read and write Jupyter's .ipynb and jupytext's py:percent text.

Assignments are authored as py:percent text (reviewable in git) and handed to students as
.ipynb; submissions arrive as either. Both formats map to one list of ``Cell`` objects. This is
the small subset of jupytext the grader needs, so grading a notebook needs nothing beyond the
standard library (jupytext reads and writes the same files)::

    # %% [markdown]
    # # Title
    # Some text.

    # %% tags=["setup"]
    import numpy as np
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Union

__all__ = ["Cell", "read_cells", "read_text", "parse_percent", "write_percent", "write_ipynb", "read_ipynb"]

MAX_BYTES = 64 << 20           # a notebook larger than this is not read
_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
_TAGS = re.compile(r"tags\s*=\s*(\[[^\]]*\])")


@dataclass
class Cell:
    """One cell: 'code', 'markdown' or 'raw', its text, tags, and where it starts in the source
    (1-based line of its first text line; 0 when it came from an .ipynb)."""

    kind: str
    source: str
    tags: List[str] = field(default_factory=list)
    line: int = 0


def parse_percent(text: str) -> List[Cell]:
    """Cells of a py:percent text. Text before the first ``# %%`` marker (a jupytext header or
    plain code) is a code cell unless it is only a ``# ---`` header or blank."""
    lines = text.splitlines()
    cells: List[Cell] = []
    kind, tags, start, body = "code", [], 1, []

    def flush():
        src = "\n".join(body)
        if kind != "code":
            src = "\n".join(_uncomment(line) for line in body)
        stripped = src.strip("\n")
        if stripped.strip() and not (not cells and kind == "code" and _is_header(stripped)):
            lead = len(src) - len(src.lstrip("\n"))
            cells.append(Cell(kind, stripped, tags, start + src[:lead].count("\n")))

    for number, line in enumerate(lines, start=1):
        match = _MARKER.match(line)
        if match:
            flush()
            rest = match.group("rest")
            kind = "markdown" if "[markdown]" in rest else ("raw" if "[raw]" in rest else "code")
            found = _TAGS.search(rest)
            tags = json.loads(found.group(1)) if found else []
            start, body = number + 1, []
        else:
            body.append(line)
    flush()
    return cells


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    return line[1:] if line.startswith("#") else line


def _is_header(text: str) -> bool:
    """A jupytext YAML header: every line a comment, framed by '# ---'."""
    lines = text.strip().splitlines()
    return len(lines) >= 2 and lines[0] == "# ---" and lines[-1] == "# ---" and all(
        line.startswith("#") for line in lines)


def write_percent(cells: List[Cell]) -> str:
    """py:percent text of ``cells`` (markdown lines commented with '# ')."""
    parts = []
    for cell in cells:
        head = "# %%" + {"markdown": " [markdown]", "raw": " [raw]"}.get(cell.kind, "")
        if cell.tags:
            head += " tags=" + json.dumps(cell.tags)
        body = cell.source
        if cell.kind != "code":
            body = "\n".join(("# " + line) if line else "#" for line in cell.source.splitlines())
        parts.append(f"{head}\n{body}\n")
    return "\n".join(parts)


def write_ipynb(cells: List[Cell]) -> str:
    """A Jupyter notebook (nbformat 4.5, outputs empty) holding ``cells``, as JSON text.
    Cell ids are derived from the cell's position and text, so output is reproducible."""
    nb_cells = []
    for i, cell in enumerate(cells):
        digest = hashlib.sha1(f"{i}:{cell.source}".encode()).hexdigest()[:8]
        lines = cell.source.splitlines(keepends=True)
        entry: Dict[str, object] = {"cell_type": cell.kind, "id": f"c{i:03d}-{digest}",
                                    "metadata": {"tags": list(cell.tags)} if cell.tags else {},
                                    "source": lines}
        if cell.kind == "code":
            entry["execution_count"] = None
            entry["outputs"] = []
        nb_cells.append(entry)
    notebook = {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def read_ipynb(text: str) -> List[Cell]:
    """Cells of an .ipynb's JSON text (outputs ignored). Raises ValueError if it is not a notebook."""
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not a valid notebook: the JSON does not parse ({e.msg} at line {e.lineno})") from None
    if not isinstance(notebook, dict):
        raise ValueError("not a valid notebook: the JSON is not an object (is this an .ipynb saved by Jupyter?)")
    entries = notebook.get("cells")
    worksheets = notebook.get("worksheets")         # nbformat 3 keeps cells in worksheets
    if entries is None and isinstance(worksheets, list) and worksheets and isinstance(worksheets[0], dict):
        entries = worksheets[0].get("cells")
    if not isinstance(entries, list):
        raise ValueError("not a valid notebook: no list of cells (is this an .ipynb saved by Jupyter?)")
    cells = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kind = entry.get("cell_type", "code")
        if kind not in ("code", "markdown", "raw", "heading"):
            continue
        source = entry.get("source", entry.get("input", ""))
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        elif not isinstance(source, str):
            source = ""
        metadata = entry.get("metadata")
        tags = metadata.get("tags") if isinstance(metadata, dict) else None
        tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        cells.append(Cell("markdown" if kind == "heading" else kind, source, tags))
    return cells


def read_text(path: Union[str, Path]) -> str:
    """A submitted file's text: never through a symbolic link (a link to a file of the grader's
    would show it in messages), at most MAX_BYTES. Raises ValueError saying why not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise ValueError(f"cannot be read ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"is larger than {MAX_BYTES >> 20} MB; submit the notebook without its outputs")
    return data.decode("utf-8", errors="replace")


def read_cells(path: Union[str, Path]) -> List[Cell]:
    """Cells of an .ipynb, or of a .py file (py:percent cells; a plain script is one cell)."""
    path = Path(path)
    text = read_text(path)
    if path.suffix == ".ipynb":
        return read_ipynb(text)
    return parse_percent(text)
