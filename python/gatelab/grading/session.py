"""One grading session: pytest over an assignment's tests, in a process of its own.

``gatelab.grading.runner`` prepares a private work folder (a copy of the tests, the parsed
submission, the limits) and starts ``python -I -B -m gatelab.grading.session WORKDIR EVENTS_FD``
with the session's key on its stdin. This process runs pytest with the grading plugin and
reports each test on the events pipe as signed JSON lines. It never runs student code itself
(the sandbox does) and imports only from gatelab and the private copy of the tests, which no
worker can see, so its reports can be trusted; the runner computes the score from them alone.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from gatelab.grading import pytest_plugin


def main(argv) -> int:
    workdir = Path(argv[0])
    events = os.fdopen(int(argv[1]), "w", buffering=1)
    key = bytes.fromhex(sys.stdin.readline().strip())
    config = json.loads((workdir / "session.json").read_text())
    session = pytest_plugin.Session(config, events, workdir, key)
    pytest_plugin.SESSION = session
    session.sandbox.launch()             # the zygote imports NumPy and gatelab while pytest collects
    (workdir / "pytest.ini").write_text("[pytest]\npython_files = test_*.py\n")
    args = [str(workdir / "tests"), "-c", str(workdir / "pytest.ini"), "--rootdir", str(workdir),
            "--noconftest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q", "--tb=short", "--assert=plain",
            "-o", "console_output_style=classic"]
    try:
        code = pytest.main(args, plugins=[pytest_plugin])
    finally:
        session.close()
    session.emit(event="done", exit_code=int(code))
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
