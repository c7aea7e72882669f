"""The autograder on each assignment's sample submissions: every sample fails exactly the tests
its samples.toml lists (so scores exactly what it should), with the message it should, and a
misbehaving sample costs only the tests that run the misbehaving code.

Each assignment's samples are graded once per session, two at a time (``grade_all``), with a
fixed seed so a failure repeats.
"""

import csv
import io
import json

import pytest

from gatelab.grading import find_assignment
from gatelab.grading.runner import grade_all
from gatelab.grading.samples import expected_score, load_samples, materialize, print_table, sample_rows

pytestmark = pytest.mark.slow

ASSIGNMENTS = ["A1", "A2", "A3"]


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """assignment -> (samples, {sample name: GradeResult}, csv path, json folder)."""
    out = {}
    for name in ASSIGNMENTS:
        a = find_assignment(name)
        base = tmp_path_factory.mktemp(f"samples-{name}")
        materialize(a, base / "submissions")
        results = grade_all(a, base / "submissions", jobs=2, seed=0, csv_path=base / "grades.csv",
                            json_dir=base / "json")
        out[name] = (load_samples(a), results, base / "grades.csv", base / "json")
    return out


def _cases():
    for name in ASSIGNMENTS:
        for sample in load_samples(find_assignment(name)):
            yield pytest.param(name, sample.name, id=f"{name}-{sample.name}")


@pytest.mark.parametrize("assignment, sample_name", list(_cases()))
def test_sample_fails_exactly_the_expected_tests(graded, assignment, sample_name):
    samples, results, _, _ = graded[assignment]
    sample = next(s for s in samples if s.name == sample_name)
    r = results[sample_name]
    assert not r.errors, r.errors
    functions = [t.function for t in r.tests]
    assert len(functions) == len(set(functions)) and functions
    expected = sample.expected_failures(functions)
    assert sorted(r.failed) == sorted(expected), "\n\n".join(
        f"{t.function}: {t.status}\n{t.output}" for t in r.tests)
    points = {t.function: t.points for t in r.tests}
    assert r.score == expected_score(sample, points)
    for test_name, words in sample.messages.items():
        assert words.lower() in r.test(test_name).output.lower(), r.test(test_name).output


def test_solution_scores_full_and_student_notebook_zero(graded):
    for name in ASSIGNMENTS:
        _, results, _, _ = graded[name]
        assert results["solution"].score == results["solution"].max_score > 0
        assert results["student"].score == 0
        # The untouched notebook fails cleanly: each test says what is not written yet, nothing crashed.
        for t in results["student"].tests:
            assert t.kind in ("error", "wrong"), (t.function, t.kind, t.output)


def test_misbehaving_code_is_named_in_the_message(graded):
    results = graded["A1"][1]
    assert "time limit of 5 s" in results["infinite_loop"].test("test_sigmoid_backward").output
    assert "SIGSEGV" in results["segfault"].test("test_max_in_graph").output
    assert "256 KB" in results["huge_print"].test("test_numerical_gradient").output
    assert "os._exit" in results["exits_early"].test("test_gate_gradient_errors").output
    assert "1024 MB" in results["memory_hog"].test("test_multiply_backward").output
    out = results["syntax_error"].test("test_mean_in_graph").output
    assert "MeanGate is not defined" in out and "cell 6" in out and "SyntaxError" in out
    out = results["calls_reference"].test("test_multiply_in_graph").output
    assert "MultiplyGate.backward used gatelab's own implementation" in out and "(multiply, divide, matmul" in out
    out = results["aliases_reference"].test("test_gate_gradient_errors").output
    assert "Integrity" in out and "numerical gradient" in out
    # The student's traceback points into their own file, at their own line.
    out = results["memory_hog"].test("test_multiply_backward").output
    assert 'File "memory_hog.py", line' in out and "np.ones(1 << 31)" in out


def test_dense_and_conv_bugs_are_named(graded):
    results = graded["A2"][1]
    assert "likely cause: transpose" in results["transposed_dw"].test("test_affine_backward_square").output
    assert "likely cause: factor" in results["mean_vs_sum"].test("test_softmax_loss").output
    out = results["mean_vs_sum"].test("test_two_layer_net_trains").output
    assert "held-out points" in out and "gatelab's layers reaches" in out
    results = graded["A3"][1]
    out = results["pool_overwrites"].test("test_max_pool_overlapping").output
    assert "stride 1" in out and "(+=)" in out
    assert results["pool_overwrites"].test("test_max_pool_backward").status == "passed"


def test_hidden_failures_reveal_no_inputs(graded):
    """A failed hidden test says what went wrong, never the values it used."""
    for name in ASSIGNMENTS:
        _, results, _, _ = graded[name]
        for r in results.values():
            for t in r.tests:
                if t.hidden and t.status != "passed":
                    assert "Your code printed" not in t.output
                    assert "[[" not in t.output and "array(" not in t.output, t.output


def test_cheating_samples_score_zero_and_leave_no_trace(graded):
    results = graded["A1"][1]
    assert results["writes_results"].score == 0
    assert results["patches_pytest"].score == 0
    tests_dir = find_assignment("A1").tests_dir
    assert not (tests_dir / "conftest.py").exists()


def test_results_json_per_submission(graded):
    for name in ASSIGNMENTS:
        samples, results, _, json_dir = graded[name]
        for sample in samples:
            data = json.loads((json_dir / f"{sample.name}.json").read_text())
            r = results[sample.name]
            assert data["score"] == r.score and data["max_score"] == r.max_score
            assert len(data["tests"]) == len(r.tests)
            for entry in data["tests"]:
                assert set(entry) >= {"name", "score", "max_score", "status", "output", "visibility"}
                assert entry["status"] in ("passed", "failed")
                assert entry["visibility"] in ("visible", "after_published")
                assert entry["score"] in (0, entry["max_score"])
            assert sum(t["score"] for t in data["tests"]) == data["score"]


def test_csv_has_a_row_per_submission(graded):
    for name in ASSIGNMENTS:
        samples, results, csv_path, _ = graded[name]
        with open(csv_path, newline="") as f:
            rows = {row["submission"]: row for row in csv.DictReader(f)}
        assert set(rows) == {s.name for s in samples}
        for sample_name, row in rows.items():
            r = results[sample_name]
            assert float(row["score"]) == r.score and float(row["max_score"]) == r.max_score
            assert sum(float(row[t.function]) for t in r.tests) == r.score


def test_demo_table_lists_every_sample(graded):
    samples, results, _, _ = graded["A1"]
    rows = sample_rows(samples, results)
    assert all(row["ok"] for row in rows)
    out = io.StringIO()
    print_table("A1", rows, out)
    text = out.getvalue()
    assert "UNEXPECTED" not in text
    for s in samples:
        assert s.name in text
