"""The grade as people read it: a table of tests, each failure's message, notes and the total."""

from __future__ import annotations

import textwrap

from gatelab.grading.runner import GradeResult

__all__ = ["format_report"]


def format_report(result: GradeResult, title: str = "", show_hidden: bool = True, width: int = 100) -> str:
    """A plain-text report. ``show_hidden=False`` gives what a student may see before the due date."""
    head = f"{result.assignment}" + (f" — {title}" if title else "")
    lines = [f"{head}: {result.submission}  (seed {result.seed}, {result.execution_time:.1f} s)"]
    if result.isolation:
        mark = "" if result.isolation.get("isolated") else "UNISOLATED: "
        lines.append(f"  {mark}{result.isolation.get('detail', '')}")
    tests = [t for t in result.tests if show_hidden or not t.hidden]
    name_width = min(max([len(t.name) for t in tests] + [4]) + 9, width - 30)
    lines.append(f"  {'#':>3}  {'test'.ljust(name_width)}  {'points':>7}  result")
    for t in tests:
        name = ("[hidden] " if t.hidden else "") + t.name
        name = name if len(name) <= name_width else name[: name_width - 3] + "..."
        points = f"{t.score:g}/{t.points:g}"
        status = "passed" if t.status == "passed" else ("FAILED (integrity)" if t.integrity else "FAILED")
        lines.append(f"  {t.number:>3}  {name.ljust(name_width)}  {points:>7}  {status}")
        if t.status != "passed" and t.output:
            body = t.output.strip().splitlines()
            shown = body[:12] + (["..."] if len(body) > 12 else [])
            for line in shown:
                wrapped = textwrap.wrap(line, width - 10, subsequent_indent="  ") or [""]
                lines.extend("         " + w for w in wrapped)
    score = sum(t.score for t in tests)
    total = sum(t.points for t in tests)
    lines.append(f"Score: {score:g} / {total:g}" + ("" if show_hidden else " (public tests only)"))
    for header, items in (("Notes", result.notes), ("For the course staff", result.staff_notes),
                          ("Grader problems (not the submission's fault)", result.errors)):
        if items:
            lines.append(f"{header}:")
            for item in items:
                first, *rest = item.splitlines() or [""]
                lines.append(f"  - {first}")
                lines.extend(f"    {r}" for r in rest[:20])
    return "\n".join(lines)
