"""Why a graded test failed, in words meant for the student.

A test fails by raising one of these. Their message is what the student reads, so it says what
went wrong and which concept to revisit, never the hidden inputs or the test's code. Any other
exception in a test is the grader's own problem and is reported as an internal error.
"""

from __future__ import annotations

__all__ = ["GradingFailure", "WrongAnswer", "StudentError", "StudentCrash", "IntegrityViolation"]


class GradingFailure(AssertionError):
    """Base class: the message is shown to the student as is."""

    kind = "failed"


class WrongAnswer(GradingFailure):
    """The student's code ran but returned a wrong value, shape or type."""

    kind = "wrong"


class StudentError(GradingFailure):
    """The student's code raised an exception (including NotImplementedError and missing names)."""

    kind = "error"


class StudentCrash(GradingFailure):
    """The student's process ended abnormally: time limit, segfault, exit, output or memory limit."""

    kind = "crash"


class IntegrityViolation(GradingFailure):
    """The graded code used gatelab's reference for what it is graded on, or is not the student's own."""

    kind = "integrity"
