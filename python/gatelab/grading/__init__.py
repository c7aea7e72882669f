"""gatelab's autograder: assignments authored once, graded safely, Gradescope-ready.

    from gatelab.grading import grade, grade_all, demo_a1
    result = grade("A1", "alice.ipynb", json_path="results.json")
    print(result.score, "/", result.max_score)
    demo_a1()          # A1's sample submissions, graded, against their expected scores

The trust model (docs/grading-trust-model.md): student code runs only in a worker process that
answers with plain data; every judgement happens in the trusted process. The pieces:
``assignment`` (an assignment's folder and settings), ``authoring`` (solution notebook -> student
notebook, autograder bundle, Gradescope zip), ``submission`` (a student's notebook -> the code the
worker runs), ``scan`` (what a reader of the code should look at), ``runner`` (grading,
results.json, CSV), ``session`` and ``pytest_plugin`` (pytest in a process of its own, signed
events), ``isolation`` (bubblewrap, uid drop or none, chosen fail-closed), ``zygote`` and
``worker`` (a fresh, limited, latched process per test), ``student`` (the trusted side's handle
on it), ``wire`` (the validated frames between them), ``models`` (trusted training loops),
``checks`` and ``failures`` (for test authors), ``report`` (what people read), ``samples``
(sample submissions and the demo table).
"""

from gatelab.grading.assignment import Assignment, AssignmentError, find_assignment
from gatelab.grading.checks import as_array, check_close, check_gradient, check_scalar
from gatelab.grading.failures import GradingFailure, IntegrityViolation, StudentCrash, StudentError, WrongAnswer
from gatelab.grading.runner import GradeResult, TestResult, grade, grade_all
from gatelab.grading.samples import demo, demo_a1

__all__ = [
    "Assignment", "AssignmentError", "find_assignment", "grade", "grade_all", "GradeResult", "TestResult",
    "as_array", "check_close", "check_gradient", "check_scalar", "GradingFailure", "WrongAnswer",
    "StudentError", "StudentCrash", "IntegrityViolation", "demo", "demo_a1",
]
