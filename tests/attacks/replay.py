"""Replays the attacks of this folder against the gatelab of whichever Python runs this file, and
prints, per attack, the score it earned and the score the honest code behind it deserves:
"beaten" (it scored more: the grader was fooled), "lower" (less: the grader failed honest work,
the robustness class) or "held".

`tests/test_grading_attacks.py` asserts that today's grader gives every attack exactly what it
deserves. This script is for the other direction: showing what an older grader gave them.

    git worktree add /tmp/old e255e3d && make -C /tmp/old setup
    cd /tmp/old && .venv/bin/python $OLDPWD/tests/attacks/replay.py    # that checkout's assignments

An older grader does not contain the attacks: some signal every process, fill the disk, plant
modules wherever they can write or fork without end. Run them there one at a time, each in a
throw-away namespace with a process limit (a `pids` cgroup), a private /tmp, and only the older
checkout's python/ writable (its editable gatelab: an attack that rewrites the grader shows),
restored after each attack:

    mkdir /sys/fs/cgroup/pids/replay; echo 3000 > /sys/fs/cgroup/pids/replay/pids.max   # cgroup v1, as root
    echo $$ > /sys/fs/cgroup/pids/replay/tasks
    cd /tmp/old; attacks=$OLDPWD/tests/attacks/replay.py
    .venv/bin/python $attacks --list | while read a attack; do
      bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --tmpfs /var/tmp --bind "$PWD/python" "$PWD/python" \
            --unshare-pid --unshare-net --die-with-parent \
            .venv/bin/python $attacks "$a" "$attack" || echo "$a ? $attack: the grader itself was killed"
      git status --porcelain -- python | grep -q . && { echo "  $attack changed gatelab"; git checkout -q -- python; git clean -fq -- python; }
    done

(`python replay.py A1 ATTACK` grades one attack and prints its row.)

It uses only the parts of gatelab.grading that the older graders also have (load_samples'
entry format, sample_cells, grade_all); attacks that need what an older assignment lacks (its
solution's text differs) are listed as not applicable.
"""

from __future__ import annotations

import dataclasses
import hashlib
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


def _installed_gatelab() -> str:
    """A digest of the installed gatelab's Python files and of the modules beside it (the folder on
    sys.path that holds it): an attack that rewrites the grader, or plants a sitecustomize.py or a
    numpy.py where the next grader would import it, changes it."""
    import gatelab

    package = Path(gatelab.__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *package.parent.glob("*.py")]):
        digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def replay(name: str, out: Path, only: str = "") -> list:
    a = find_assignment(name)
    folder = out / name
    folder.mkdir(parents=True)
    rows, applicable = [], {}
    for threat, sample in attacks_of(name):
        if only and sample.name != only:
            continue
        try:
            cells = sample_cells(a, sample)
        except SampleError as e:
            rows.append((name, threat, sample.name, None, None, f"not applicable: {e}"[:90]))
            continue
        path = folder / f"{sample.name}.{'py' if sample.format == 'py' else 'ipynb'}"
        path.write_text(write_percent(cells) if sample.format == "py" else write_ipynb(cells), encoding="utf-8")
        applicable[sample.name] = (threat, sample)
    before = _installed_gatelab()
    results = grade_all(a, folder, jobs=2, seed=0) if applicable else {}
    changed = _installed_gatelab() != before
    for attack_name, (threat, sample) in applicable.items():
        r = results[attack_name]
        deserved = expected_score(sample, {t.function: t.points for t in r.tests})
        verdict = "beaten" if r.score > deserved + 1e-9 else ("held" if abs(r.score - deserved) < 1e-9 else "lower")
        if changed:
            verdict = "beaten: it changed the installed gatelab"
        rows.append((name, threat, attack_name, r.score, deserved, verdict))
    return rows


def print_rows(rows: list, header: bool = True) -> None:
    if header:
        print(f"{'assignment':10} {'class':5} {'attack':36} {'score':>6} {'deserved':>8}  verdict")
    for name, threat, attack, score, deserved, verdict in sorted(rows, key=lambda r: (r[1] or 0, r[0], r[2])):
        s = "" if score is None else f"{score:g}"
        d = "" if deserved is None else f"{deserved:g}"
        print(f"{name:10} {threat!s:5} {attack:36} {s:>6} {d:>8}  {verdict}", flush=True)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--list"]:
        for name in args[1:] or ["A1", "A2", "A3"]:
            for threat, sample in attacks_of(name):
                print(name, sample.name)
        return
    if len(args) == 2 and args[1] in {s.name for _, s in attacks_of(args[0])}:
        with tempfile.TemporaryDirectory() as tmp:
            print_rows(replay(args[0], Path(tmp), only=args[1]), header=False)
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for name in args or ["A1", "A2", "A3"] for row in replay(name, Path(tmp))]
    print_rows(rows)
    for verdict, what in (("beaten", "more"), ("lower", "less")):
        classes = sorted({r[1] for r in rows if r[5].startswith(verdict)})
        print(f"classes with an attack that scored {what} than the honest code behind it: {classes}")


if __name__ == "__main__":
    main()
