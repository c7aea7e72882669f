"""Replays the attacks of this folder against the gatelab of whichever Python runs this file, and
prints, per attack, the score it earned and the score the honest code behind it deserves:
"beaten" (it scored more: the grader was fooled), "lower" (less: the grader failed honest work,
the robustness class) or "held".

`tests/test_grading_attacks.py` asserts that today's grader gives every attack exactly what it
deserves. This script is for the other direction: showing what an older grader gave them.

    git worktree add /tmp/old e255e3d && make -C /tmp/old setup
    /tmp/old/.venv/bin/python tests/attacks/replay.py          # run from this checkout

It uses only the parts of gatelab.grading that the older graders also have (load_samples'
entry format, sample_cells, grade_all); attacks that need what an older assignment lacks (its
solution's text differs) are listed as not applicable.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import tomllib
from pathlib import Path

from gatelab.grading import find_assignment
from gatelab.grading.notebook import write_ipynb, write_percent
from gatelab.grading.runner import grade_all
from gatelab.grading.samples import Sample, SampleError, expected_score, sample_cells

HERE = Path(__file__).parent


def attacks_of(name: str):
    """(threat class, Sample) for each attack, keeping only the fields this gatelab's Sample has."""
    known = {f.name for f in dataclasses.fields(Sample)}
    data = tomllib.loads((HERE / f"{name}.toml").read_text(encoding="utf-8"))
    return [(entry.get("threat"), Sample(**{k: v for k, v in entry.items() if k in known}))
            for entry in data.get("sample", [])]


def replay(name: str, out: Path) -> list:
    a = find_assignment(name)
    folder = out / name
    folder.mkdir(parents=True)
    rows, applicable = [], {}
    for threat, sample in attacks_of(name):
        try:
            cells = sample_cells(a, sample)
        except SampleError as e:
            rows.append((name, threat, sample.name, None, None, f"not applicable: {e}"[:90]))
            continue
        path = folder / f"{sample.name}.{'py' if sample.format == 'py' else 'ipynb'}"
        path.write_text(write_percent(cells) if sample.format == "py" else write_ipynb(cells), encoding="utf-8")
        applicable[sample.name] = (threat, sample)
    results = grade_all(a, folder, jobs=2, seed=0)
    for attack_name, (threat, sample) in applicable.items():
        r = results[attack_name]
        deserved = expected_score(sample, {t.function: t.points for t in r.tests})
        verdict = "beaten" if r.score > deserved + 1e-9 else ("held" if abs(r.score - deserved) < 1e-9 else "lower")
        rows.append((name, threat, attack_name, r.score, deserved, verdict))
    return rows


def main() -> None:
    names = sys.argv[1:] or ["A1", "A2", "A3"]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for name in names for row in replay(name, Path(tmp))]
    print(f"{'assignment':10} {'class':5} {'attack':36} {'score':>6} {'deserved':>8}  verdict")
    for name, threat, attack, score, deserved, verdict in sorted(rows, key=lambda r: (r[1] or 0, r[0], r[2])):
        s = "" if score is None else f"{score:g}"
        d = "" if deserved is None else f"{deserved:g}"
        print(f"{name:10} {threat!s:5} {attack:36} {s:>6} {d:>8}  {verdict}")
    for verdict, what in (("beaten", "more"), ("lower", "less")):
        classes = sorted({r[1] for r in rows if r[5] == verdict})
        print(f"classes with an attack that scored {what} than the honest code behind it: {classes}")


if __name__ == "__main__":
    main()
