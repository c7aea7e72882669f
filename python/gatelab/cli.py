"""The ``gatelab`` command.

    gatelab assign A1 [OUT]                      student notebook, autograder bundle and zip, samples
    gatelab assign A1 --wheels DIR --python 3.10 the zip carries gatelab's wheel for Gradescope's Python
    gatelab grade A1 alice.ipynb [--json results.json]
    gatelab grade A1 --all submissions/ -j 2 [--csv grades.csv] [--json-dir results/]
    gatelab grade A1 --samples                   grade the sample submissions against their expected scores
    gatelab demo [--grading]                     the lectures' worked examples and a gradient check of every gate
                                                 (--grading: the autograder on A1's samples, for instructors)

Each subcommand is one ``_<name>_command(subparsers)`` function that adds its parser and sets
``func``; a new subcommand is one more function in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

__all__ = ["main", "build_parser", "COMMANDS"]


def _assign_command(subparsers) -> None:
    from gatelab.grading.authoring import GRADESCOPE_PYTHON

    p = subparsers.add_parser(
        "assign", help="make the student notebook, autograder bundle and Gradescope zip",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From an assignment's solution notebook: OUT/student (notebook and public tests),\n"
                    "OUT/autograder (all tests), OUT/autograder.zip (Gradescope), OUT/solution and OUT/samples.",
        epilog=f"""The Gradescope zip: upload OUT/autograder.zip as the assignment's autograder, on
Gradescope's default base image (Ubuntu 22.04, Python {GRADESCOPE_PYTHON}). gatelab is not on PyPI,
so the zip carries gatelab itself: the wheel for that Python, from --wheels DIR (default: the
checkout's dist/, which `make wheel` writes), and the sdist as a fallback. Its setup.sh installs
gatelab from those files, only gatelab's dependencies (numpy, pytest, the assignment's, e.g.
scikit-learn) from PyPI, and bubblewrap from apt where it can. Without a wheel for the Python,
assign stops and says to run `make wheel`. For another base image, --python 3.X (repeatable:
one wheel each). run_autograder always leaves a valid results.json, which also says how student
code was isolated (bubblewrap, or uid 65534 in Gradescope's Docker containers).""")
    p.add_argument("assignment", help="an assignment folder, or a name under ./assignments (e.g. A1)")
    p.add_argument("out", nargs="?", help="output folder (default: dist/<name>)")
    p.add_argument("--wheels", metavar="DIR",
                   help="folder holding gatelab's wheels and sdist, searched recursively (a wheelhouse works); "
                        "default: the checkout's dist/ (make wheel)")
    p.add_argument("--python", metavar="3.X", action="append",
                   help=f"the CPython of Gradescope's base image the zip installs on (default {GRADESCOPE_PYTHON}, "
                        "Ubuntu 22.04's); repeat to carry a wheel for each")
    p.add_argument("--sdist-only", "--sdist", dest="sdist_only", action="store_true",
                   help="carry no wheel, only gatelab's sdist: Gradescope compiles gatelab when it builds the "
                        "image (minutes, and apt packages); for a Python no wheel exists for")
    p.add_argument("--no-samples", action="store_true", help="do not write the sample submissions")
    p.set_defaults(func=_assign)


def _assign(args) -> int:
    from gatelab.grading.assignment import find_assignment
    from gatelab.grading.authoring import assign, packages_in_zip

    a = find_assignment(args.assignment)
    out = Path(args.out) if args.out else Path("dist") / a.name
    assign(a, out, samples=not args.no_samples, wheels=args.wheels, python=args.python, sdist_only=args.sdist_only)
    print(f"{a.name}: wrote {out}/student, {out}/autograder, {out}/autograder.zip, {out}/solution"
          + ("" if args.no_samples else f", {out}/samples"))
    carried = packages_in_zip(out / "autograder.zip")
    print(f"{a.name}: autograder.zip installs gatelab from " + (", ".join(carried) or "nothing") +
          " (setup.sh takes the first that installs on Gradescope)")
    return 0


def _grade_command(subparsers) -> None:
    p = subparsers.add_parser("grade", help="grade a submission (or a folder of them)",
                              description="Runs the assignment's public and hidden tests on a submission "
                                          "(.ipynb, .py, or a folder holding one), each test in its own "
                                          "limited process, and prints a report.")
    p.add_argument("assignment", help="an assignment folder (source, autograder bundle or student bundle), "
                                      "or a name under ./assignments")
    p.add_argument("submission", nargs="?", help="the notebook, .py file or folder to grade")
    p.add_argument("--json", metavar="PATH", help="write Gradescope's results.json here")
    p.add_argument("--seed", type=int, help="seed of the random test inputs (default: from the submission)")
    p.add_argument("--all", metavar="DIR", help="grade every submission in DIR (a file or folder each)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="submissions graded at once with --all")
    p.add_argument("--csv", metavar="PATH", help="with --all: the CSV to write (default: grades.csv)")
    p.add_argument("--json-dir", metavar="DIR", help="with --all: a results.json per submission here")
    p.add_argument("--samples", action="store_true",
                   help="grade the assignment's sample submissions and compare with their expected scores")
    p.add_argument("--public", action="store_true", help="report only the public tests' results")
    p.add_argument("--no-sandbox", action="store_true",
                   help="grade even where student code cannot be isolated (the results say it was not)")
    p.set_defaults(func=_grade)


def _grade(args) -> int:
    from gatelab.grading.assignment import find_assignment
    from gatelab.grading.report import format_report
    from gatelab.grading.runner import grade, grade_all

    from gatelab.grading.isolation import IsolationUnavailable, choose

    a = find_assignment(args.assignment)
    try:
        iso = choose(args.no_sandbox)
    except IsolationUnavailable as e:
        print(f"gatelab grade: {e}", file=sys.stderr)
        return 3
    print(f"isolation: {iso.detail}", file=sys.stderr)
    if args.samples:
        from gatelab.grading.samples import demo

        rows = demo(a, jobs=args.jobs)
        return 0 if all(r["ok"] for r in rows) else 1
    if args.all:
        csv_path = Path(args.csv or "grades.csv")
        graded = grade_all(a, args.all, jobs=args.jobs, csv_path=csv_path, json_dir=args.json_dir, seed=args.seed,
                           no_sandbox=args.no_sandbox)
        for name in sorted(graded):
            r = graded[name]
            flag = "  (grader problems: see the CSV)" if r.errors else ""
            print(f"  {name:<30} {r.score:>6g} / {r.max_score:g}{flag}")
        print(f"{len(graded)} submission(s) graded; wrote {csv_path}")
        return 0
    if not args.submission:
        print("gatelab grade: give a SUBMISSION, or --all DIR, or --samples", file=sys.stderr)
        return 2
    result = grade(a, args.submission, json_path=args.json, seed=args.seed, no_sandbox=args.no_sandbox)
    print(format_report(result, a.title, show_hidden=not args.public))
    if args.json:
        print(f"wrote {args.json}")
    return 1 if result.errors else 0


def _demo_command(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the lectures' worked examples and a gradient check of every gate",
                              description="What `make demo` prints: the lecture examples through the C++ graph, "
                                          "trace tables, and a gradient-check table over every built-in gate.")
    p.add_argument("--grading", action="store_true",
                   help="for instructors: also grade assignment A1's sample submissions (what make demo runs)")
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    from gatelab import demo

    demo.main()
    if args.grading:
        demo.grading_section()
    else:
        demo.grading_hint()
    return 0


COMMANDS = [_assign_command, _grade_command, _demo_command]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatelab", description="gatelab: teach backpropagation and CNNs.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:   # bad assignment folder, unreadable file: a message, not a traceback
        print(f"gatelab {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
