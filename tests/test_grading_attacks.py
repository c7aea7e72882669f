"""Attacks on the grader, by a student who has read its source (docs/grading-trust-model.md).

Each attack in tests/attacks/*.toml is graded like a real submission; it must score exactly what
the honest code behind it earns (the untouched student notebook: 0; the solution with an
answer replaced by the attack: the rest), the results.json on disk must be the grader's own, and
the host must be as it was. Attacks that are not notebooks (symbolic links, odd notebooks, a
grader that dies, forged events, no isolation) are the tests further down. Every class of the
trust model has attacks here.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gatelab.grading import find_assignment, grade, isolation
from gatelab.grading.notebook import parse_percent, write_ipynb
from gatelab.grading.runner import grade_all
from gatelab.grading.authoring import solution_cells
from gatelab.grading.samples import expected_score, load_samples, materialize

pytestmark = pytest.mark.slow

ATTACKS = Path(__file__).parent / "attacks"
ASSIGNMENTS = ["A1", "A2", "A3"]
CLASSES = range(1, 9)


def _host_state():
    """What an attack might change on the host: the installed grader's code, planted files."""
    import gatelab.grading.checks

    code = Path(gatelab.grading.checks.__file__).read_bytes()
    planted = sorted(str(p) for folder in ("/tmp", "/var/tmp", os.path.expanduser("~"))
                     for name in ("planted.txt", "sitecustomize.py", "conftest.py", "oracle.py", "driver.py",
                                  "_core.so", "linger0.txt", "fill0.bin")
                     for p in [Path(folder) / name] if p.exists())
    return hashlib.sha256(code).hexdigest(), planted


@pytest.fixture(scope="session")
def attacked(tmp_path_factory):
    """assignment -> (attacks, {name: GradeResult}, json folder); and the host before and after."""
    before = _host_state()
    out = {}
    for name in ASSIGNMENTS:
        a = find_assignment(name)
        attacks = load_samples(a, ATTACKS / f"{name}.toml")
        base = tmp_path_factory.mktemp(f"attacks-{name}")
        materialize(a, base / "submissions", attacks)
        results = grade_all(a, base / "submissions", jobs=2, seed=0, json_dir=base / "json")
        out[name] = (attacks, results, base / "json")
    return out, before, _host_state()


def _cases():
    for name in ASSIGNMENTS:
        for attack in load_samples(find_assignment(name), ATTACKS / f"{name}.toml"):
            yield pytest.param(name, attack.name, id=f"{name}-{attack.name}")


@pytest.mark.parametrize("assignment, attack_name", list(_cases()))
def test_an_attack_scores_what_the_honest_code_earns(attacked, assignment, attack_name):
    attacks, results, json_dir = attacked[0][assignment]
    attack = next(s for s in attacks if s.name == attack_name)
    r = results[attack_name]
    assert not r.errors, r.errors
    functions = [t.function for t in r.tests]
    assert sorted(r.failed) == sorted(attack.expected_failures(functions)), "\n\n".join(
        f"{t.function}: {t.status}\n{t.output}" for t in r.tests)
    assert r.score == expected_score(attack, {t.function: t.points for t in r.tests})
    for test_name, words in attack.messages.items():
        assert words.lower() in r.test(test_name).output.lower(), r.test(test_name).output
    written = json.loads((json_dir / f"{attack_name}.json").read_text())
    ours = r.to_gradescope()
    assert written == json.loads(json.dumps(ours))          # the grader's own results.json, nothing else
    assert written["extra_data"]["isolation"]["mode"] == "bubblewrap"


def test_every_class_of_the_trust_model_is_attacked():
    threats = [s.threat for name in ASSIGNMENTS for s in load_samples(find_assignment(name), ATTACKS / f"{name}.toml")]
    assert set(threats) == set(CLASSES) and len(threats) >= 40


def test_the_host_is_as_it_was(attacked):
    _, before, after = attacked
    assert after == before, "an attack changed the installed grader or planted files on the host"


def test_what_attacks_found_and_sent_is_nothing_and_is_reported(attacked):
    results = attacked[0]["A1"][1]
    for r in results.values():
        for t in r.tests:
            assert "FOUND THE TESTS" not in t.output and "seen: ['" not in t.output
    forged = results["forges_answers"]
    assert any("unasked message" in n for n in forged.staff_notes), forged.staff_notes
    assert any("static scan" in n and "gatelab.grading" in n for n in forged.staff_notes)
    assert "could not write the grader" in results["rewrites_the_installed_grader"].tests[0].output


def test_no_worker_process_outlives_grading(attacked):
    """The setsid, fork-bomb and lingering-thread attacks have been graded: no process of the
    workers' user is left on the host."""
    left = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [str(isolation.WORKER_UID)]:
            left.append(fields.get("Name", "").strip())
    assert not left, left


# ---- attacks that are not notebooks -----------------------------------------------------------------

A1 = find_assignment("A1")


def _solution_notebook(path: Path, cells=None) -> Path:
    cells = cells if cells is not None else solution_cells(parse_percent(A1.source.read_text()))
    path.write_text(write_ipynb(cells))
    return path


def test_a_symlinked_submission_is_not_followed(tmp_path):
    """Threat 5: the grader reads submissions as the grader; a link to its hidden tests (or any
    file of the grader's) must not be read and shown back."""
    link = tmp_path / "A1.ipynb"
    link.symlink_to(A1.tests_dir / "test_hidden.py")
    out = tmp_path / "results.json"
    r = grade(A1, link, json_path=out)
    assert r.score == 0 and any("symbolic link" in n for n in r.notes)
    assert "random_spec" not in out.read_text()
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "A1.ipynb").symlink_to(A1.tests_dir / "oracle.py")
    _solution_notebook(folder / "mine.ipynb")
    r = grade(A1, folder)
    assert r.submission == "mine.ipynb" and r.score == r.max_score


def test_a_notebook_with_odd_metadata_is_graded(tmp_path):
    """Threat 8: metadata of the wrong types, sources as lists with junk, cells of unknown kinds."""
    path = _solution_notebook(tmp_path / "A1.ipynb")
    nb = json.loads(path.read_text())
    nb["metadata"] = ["not", "a", "dict"]
    nb.pop("nbformat", None)
    for i, cell in enumerate(nb["cells"]):
        cell["metadata"] = [1, 2] if i % 3 == 0 else {"tags": "not-a-list"} if i % 3 == 1 else None
        if isinstance(cell.get("source"), list):
            cell["source"] = cell["source"] + [None, 7] if cell["cell_type"] == "markdown" else cell["source"]
    nb["cells"] += [{"cell_type": "widget", "source": 3}, "not a cell", {"source": ["x = 1\n"]}]
    path.write_text(json.dumps(nb))
    r = grade(A1, path)
    assert not r.errors and r.score == r.max_score, [t.output for t in r.tests if t.status != "passed"]


def test_the_time_of_a_grade_is_bounded_by_the_budget_not_the_cells(tmp_path):
    """Threat 8: forty cells each slow to load; each start of a worker gives up after load_limit,
    and the whole grade stops at the assignment's budget."""
    root = tmp_path / "Slow"
    (root / "tests").mkdir(parents=True)
    (root / "assignment.toml").write_text('[assignment]\nname = "Slow"\n[grading]\ntime_limit = 1\n'
                                          'load_limit = 1\nbudget = 12\n')
    (root / "tests" / "test_public.py").write_text(
        "def test_a(student):\n    assert student.f() == 1\n\ndef test_b(student):\n    assert student.f() == 1\n")
    cells = "".join(f"# %%\nclass Slow{i}:\n    import time\n    time.sleep(0.4)\n\n" for i in range(40))
    (tmp_path / "sub.py").write_text(cells + "# %%\ndef f():\n    return 1\n")
    start = time.monotonic()
    r = grade(root, tmp_path / "sub.py")
    assert time.monotonic() - start < 25
    assert r.score < r.max_score and any("budget of 12 s" in e for e in r.errors)


def test_a_stale_results_json_is_replaced_and_a_dead_grader_leaves_none(tmp_path):
    """Threat 6: results.json is the grader's, written last; if the grader dies, none is left
    (Gradescope's run_autograder then writes a failure)."""
    sub = _solution_notebook(tmp_path / "A1.ipynb")
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"score": 1000, "tests": []}))
    r = grade(A1, sub, json_path=out)
    assert json.loads(out.read_text())["score"] == r.score == r.max_score
    out.write_text(json.dumps({"score": 1000, "tests": []}))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gatelab"), "grade", "A1", str(sub), "--json", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120      # a busy machine takes a while to import the grader
    while out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)    # killed while grading: the stale file went first
    proc.wait()
    assert not out.exists()


def test_forged_and_repeated_events_are_not_counted(tmp_path):
    """Threat 3: the runner counts only signed events, a result once, for the test that runs."""
    from gatelab.grading import runner

    key = os.urandom(32)
    r_fd, w_fd = os.pipe()

    def signed(**event):
        import hashlib as h
        import hmac

        body = json.dumps(event, sort_keys=True)
        return json.dumps({"mac": hmac.new(key, body.encode(), h.sha256).hexdigest(), "event": body}) + "\n"

    meta = [{"id": t, "function": t, "name": t, "number": str(i), "points": 1, "hidden": False}
            for i, t in enumerate(["a", "b", "c"], 1)]
    lines = [signed(event="collected", tests=meta),
             signed(event="result", id="a", status="passed"),                   # not started: ignored
             json.dumps({"event": "start", "id": "b"}) + "\n",                  # unsigned: ignored
             signed(event="start", id="a"), signed(event="result", id="a", status="failed"),
             signed(event="result", id="a", status="passed"),                   # a second result: ignored
             signed(event="collected", tests=meta + [{**meta[0], "id": "d"}]),   # a second list: ignored
             signed(event="start", id="b"),
             signed(event="done", exit_code=0),                                 # b still running: ignored
             signed(event="result", id="b", status="passed"),
             json.dumps({"mac": "0" * 64, "event": json.dumps({"event": "start", "id": "c"})}) + "\n",
             signed(event="done", exit_code=0)]
    os.write(w_fd, "".join(lines).encode())
    os.close(w_fd)
    result = runner.GradeResult("Z", "sub.py")
    assert runner._collect(r_fd, None, result, key, time.monotonic() + 30)
    assert [(t.id, t.status) for t in result.tests] == [("a", "failed"), ("b", "passed"), ("c", "failed")]
    assert sum("not a signed event" in n for n in result.staff_notes) == 2


def test_grading_refuses_without_isolation_and_says_how_to_fix_it(tmp_path, monkeypatch, capsys):
    """Threat 2: isolation never turns off silently. Without bubblewrap and without root there is
    no fallback: grading refuses, unless --no-sandbox, which marks the results."""
    with pytest.raises(isolation.IsolationUnavailable, match="apt-get install bubblewrap.*--no-sandbox"):
        isolation._probe(root=False, bwrap=None)
    with pytest.raises(isolation.IsolationUnavailable, match="cannot read Python"):
        isolation._probe(root=True, bwrap=None, python=[Path("/root")])
    fallback = isolation._probe(root=True, bwrap=None, python=[Path("/usr")])
    assert fallback.mode == "uid-drop" and fallback.drop_uid
    monkeypatch.setattr(isolation, "_CHOSEN", {False: None})

    def unavailable(no_sandbox=False):
        if no_sandbox:
            return isolation.Isolation("none", "no isolation (--no-sandbox)")
        raise isolation.IsolationUnavailable("cannot isolate student code: (test)")

    monkeypatch.setattr(isolation, "choose", unavailable)
    sub = _solution_notebook(tmp_path / "A1.ipynb")
    r = grade(A1, sub, json_path=tmp_path / "r.json")
    assert r.refused and not r.tests and "cannot isolate" in r.errors[0]
    from gatelab.cli import main

    assert main(["grade", "A1", str(sub)]) == 3
    assert "cannot isolate student code" in capsys.readouterr().err
    r = grade(A1, sub, json_path=tmp_path / "r.json", no_sandbox=True)
    data = json.loads((tmp_path / "r.json").read_text())
    assert r.score == r.max_score and data["extra_data"]["isolation"]["isolated"] is False
    assert data["output"].startswith("UNISOLATED")
