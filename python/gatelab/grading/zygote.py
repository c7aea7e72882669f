"""The zygote: started once per submission inside the sandbox, it imports NumPy, gatelab and the
assignment's preloads, compiles the submission (never runs it) and forks one fresh worker per
test on the grader's request, so a worker starts in milliseconds.

    grader (trusted)  ──control──▶  zygote (pid 1 of the sandbox)  ──fork──▶  worker (student code)
          ▲                                                                       │
          └───────────────── the worker's own channel (wire frames) ──────────────┘

It runs only gatelab's code. Under bubblewrap it is the sandbox's pid 1, which processes inside
cannot signal, and the only process with the capabilities to become uid 65534; the workers have
none. After each test it ends every other process in the sandbox (a sweep as uid 65534: kill -1,
then the scratch files), so nothing a worker started lives on.

Run as ``python -I -B -m gatelab.grading.zygote CONTROL_FD``; the first frame on the control
socket is the set-up (see ``Sandbox.setup`` in ``gatelab.grading.student``).
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Dict, List

from gatelab.grading import wire
from gatelab.grading.isolation import WORKER_UID

# Modules a student may import that load native code: imported here, before any worker's latch,
# so that a worker never needs to map new libraries.
_COMMON = ["math", "cmath", "random", "statistics", "itertools", "functools", "collections", "heapq", "bisect",
           "copy", "json", "time", "datetime", "decimal", "fractions", "numbers", "operator", "struct", "array",
           "re", "string", "textwrap", "typing", "dataclasses", "enum", "abc", "contextlib", "warnings", "pickle",
           "numpy", "numpy.linalg", "numpy.random", "numpy.fft", "gatelab", "gatelab.layers"]


class Prepared:
    """What every worker starts from: the set-up, the compiled units and the driver module."""

    def __init__(self, setup: dict):
        self.setup = setup
        self.mode = setup["mode"]
        for name in _COMMON + list(setup.get("preload", [])):
            importlib.import_module(name)
        from gatelab.grading.submission import compile_unit

        self.units: List[dict] = setup["units"]
        self.code = {i: compile_unit(u) for i, u in enumerate(self.units) if u["error"] is None}
        self.student_files = {u["filename"] for u in self.units}
        self.sources: Dict[str, str] = setup.get("sources", {})
        self.driver = None
        if setup.get("driver"):
            self.driver = types.ModuleType("driver")
            exec(compile(setup["driver"], "driver.py", "exec", dont_inherit=True), self.driver.__dict__)
        self.scratch = Path(setup["scratch"])


def main(argv: List[str]) -> None:
    control = socket.socket(fileno=int(argv[0]))
    try:
        prepared = Prepared(wire.recv(control))
    except BaseException:  # noqa: BLE001 - the grader learns why, then the zygote stops
        wire.send(control, {"ok": False, "error": traceback.format_exc()[-4000:]})
        raise SystemExit(1)
    wire.send(control, {"ok": True})
    serve(control, prepared)


def serve(control: socket.socket, prepared: Prepared) -> None:
    workers: List[int] = []
    count = 0
    while True:
        try:
            request, fds = wire.recv(control, want_fds=2)
        except (wire.ChannelClosed, wire.WireError, OSError):
            break
        op = request.get("op")
        if op == "spawn" and len(fds) == 2:
            count += 1
            scratch = _make_scratch(prepared, count)
            pid = os.fork()
            if pid == 0:
                control.close()
                from gatelab.grading.worker import run

                run(fds[0], fds[1], request, prepared, scratch)   # never returns
            for fd in fds:
                os.close(fd)
            workers.append(pid)
            wire.send(control, {"pid": pid, "scratch": str(scratch)})
        elif op == "end" and request.get("pid") in workers:
            pid = request["pid"]
            status = _end(pid, bool(request.get("kill")), float(request.get("grace", 1.0)))
            workers.remove(pid)
            _sweep(prepared)
            wire.send(control, {"status": status})
        elif op == "exit":
            break
        else:
            for fd in fds:
                os.close(fd)
            wire.send(control, {"error": f"unknown request {op!r}"})
    for pid in workers:
        _end(pid, kill=True, grace=0)
    _sweep(prepared)


def _make_scratch(prepared: Prepared, count: int) -> Path:
    """The worker's own folder. Under uid-drop it is made here, as root, inside a folder only
    root can write, so no name in it can be a student's symlink; elsewhere the worker makes it
    itself, after giving up its privileges, in the sandbox's fresh /tmp or the grader's folder."""
    scratch = prepared.scratch / f"test{count:03d}"
    if prepared.mode == "uid-drop":
        scratch.mkdir(mode=0o700)
        os.chown(scratch, WORKER_UID, WORKER_UID, follow_symlinks=False)
    return scratch


def _end(pid: int, kill: bool, grace: float) -> int:
    """Waits ``grace`` seconds for the worker to exit (at once with ``kill``), then kills it."""
    deadline = time.monotonic() + (0 if kill else grace)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()                     # the worker leads its own session and process group
        except (ProcessLookupError, PermissionError):
            pass
    _, status = os.waitpid(pid, 0)
    return status


def _sweep(prepared: Prepared) -> None:
    """Ends every process a worker may have left and removes its files. The sweeper runs as the
    workers' user: kill(-1) reaches every process of that user (inside the sandbox, whose pid 1
    is this process, those are the workers' only), and removing files as that user cannot be
    turned against a privileged process. Only empty folders are removed with privileges."""
    if prepared.mode != "none":
        sweeper = os.fork()
        if sweeper == 0:
            code = 0
            try:
                if os.getuid() == 0:
                    os.setgroups([])
                    os.setgid(WORKER_UID)
                    os.setuid(WORKER_UID)
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _remove_contents(prepared.scratch)
                if prepared.mode == "uid-drop":
                    for shared in ("/tmp", "/var/tmp", "/dev/shm"):
                        _remove_owned(Path(shared))
            except BaseException:  # noqa: BLE001 - the sweeper's exit status is all that matters
                code = 1
            os._exit(code)
        os.waitpid(sweeper, 0)
    while True:                          # orphans re-parented to the sandbox's pid 1 (this process)
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if not done:
            break
    for child in list(prepared.scratch.iterdir()):
        if prepared.mode == "none":
            shutil.rmtree(child, ignore_errors=True)
        else:
            try:
                os.rmdir(child)
            except OSError:
                pass


def _remove_contents(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            try:
                child.unlink()
            except OSError:
                pass


def _remove_owned(folder: Path) -> None:
    """Entries of a shared folder owned by uid 65534 (what a uid-drop worker left there)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_uid != WORKER_UID:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
