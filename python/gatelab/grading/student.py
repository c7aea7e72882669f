"""The grader's side of the sandbox: start the zygote in the chosen isolation, give each test a
fresh worker, call into it with time limits, and turn every way it can fail into a message.

A test sees a ``Student``::

    out, cache = student.affine_forward(x, w, b)          # a function of the submission
    grads = student.run("run_gate", "MultiplyGate", (x, y), dout)   # a driver function
    gate = student.MultiplyGate(); gate.forward(x, y)     # objects stay remote; methods are calls

Answers arrive as plain data (``gatelab.grading.wire``) and the test judges them here, in the
trusted process. The channel is the worker's own socket (no other process holds it); each
request carries a fresh id and exactly one answer to it is accepted. Anything else the worker
sends is ignored and recorded as tampering, so nothing it writes can change a score.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from gatelab.grading import wire
from gatelab.grading.failures import IntegrityViolation, StudentCrash, StudentError
from gatelab.grading.isolation import Isolation, worker_environment, zygote_command

__all__ = ["Sandbox", "SandboxError", "Student", "RemoteObject", "describe_status"]

_ZYGOTE_START = 120.0          # seconds for the zygote to import and compile
_ZYGOTE_ANSWER = 30.0          # seconds for it to answer a spawn or end request


class SandboxError(RuntimeError):
    """The sandbox itself could not start or stopped (a grader problem, not the student's)."""


class Sandbox:
    """One zygote per submission (see ``gatelab.grading.zygote``), forking a worker per test.

    ``setup`` is what the zygote needs: the submission's units and sources, the driver's source,
    the limits, the preloads and blocked imports. It never holds tests, oracles or answers."""

    def __init__(self, setup: dict, workdir: Path, isolation: Isolation, scratch: Path):
        self.setup = dict(setup, mode=isolation.mode, drop_uid=isolation.drop_uid,
                          scratch="/tmp" if isolation.mode == "bubblewrap" else str(scratch))
        self.limits = setup["limits"]
        self.workdir = Path(workdir)
        self.isolation = isolation
        self.bad_units: Dict[int, str] = {}
        self.count = 0
        self.proc: Optional[subprocess.Popen] = None
        self.control: Optional[socket.socket] = None
        self.ready = False
        self.address_space = 0

    # ---- the zygote ---------------------------------------------------------------------------
    def launch(self) -> None:
        """Starts the zygote without waiting for it: it imports while pytest collects the tests."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command = zygote_command(self.isolation, theirs.fileno(), int(self.setup.get("disk_mb", 256)))
        with open(self.workdir / "sandbox.log", "ab") as log:
            try:
                self.proc = subprocess.Popen(command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, env=worker_environment(),
                                             cwd="/" if self.isolation.mode == "bubblewrap" else str(self.workdir),
                                             start_new_session=True)
            finally:
                theirs.close()
        self.control = ours
        self.ready = False
        wire.send(self.control, self.setup)

    def _wait_ready(self) -> None:
        try:
            hello = wire.recv(self.control, deadline=time.monotonic() + _ZYGOTE_START)
        except TimeoutError:
            hello = {"ok": False, "error": f"the sandbox did not start within {_ZYGOTE_START:g} s"}
        except (wire.ChannelClosed, wire.WireError, OSError) as e:
            hello = {"ok": False, "error": f"the sandbox ended at start ({type(e).__name__}); its log:\n"
                                           + self.log_tail()}
        if not isinstance(hello, dict) or not hello.get("ok"):
            error = hello.get("error", "") if isinstance(hello, dict) else ""
            self.close()
            raise SandboxError("the sandbox could not start:\n" + str(error))
        self.ready = True
        memory = int(self.limits["memory_mb"]) << 20
        base = _address_space_of(self._zygote_pid())
        self.address_space = base + memory if base else 0

    def log_tail(self) -> str:
        try:
            return (self.workdir / "sandbox.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def _zygote_pid(self) -> Optional[int]:
        """The zygote's pid as this process sees it (under bubblewrap, the child of bwrap)."""
        if self.proc is None:
            return None
        if self.isolation.mode != "bubblewrap":
            return self.proc.pid
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def _ensure_running(self) -> None:
        if self.proc is None or (self.ready and self.proc.poll() is not None):
            self.close()                 # never started, or ended since: (re)start it
            self.launch()
        if not self.ready:
            self._wait_ready()

    def _ask(self, request: dict, fds: List[int] = ()) -> dict:
        self._ensure_running()
        try:
            wire.send(self.control, request, fds)
            reply = wire.recv(self.control, deadline=time.monotonic() + _ZYGOTE_ANSWER)
        except (OSError, TimeoutError, wire.ChannelClosed, wire.WireError) as e:
            raise SandboxError(f"the sandbox stopped answering ({type(e).__name__})") from None
        if not isinstance(reply, dict):
            raise SandboxError("the sandbox answered something that is not a dict")
        return reply

    def spawn(self, latch: List[str]):
        """(pid, channel, output file) of a fresh worker with ``latch`` latched off."""
        self._ensure_running()           # the memory limit is known once the zygote runs
        self.count += 1
        output = self.workdir / f"output{self.count:03d}.txt"
        out_fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            reply = self._ask({"op": "spawn", "latch": list(latch), "limits": self.limits,
                               "address_space": self.address_space}, [theirs.fileno(), out_fd])
        finally:
            theirs.close()
            os.close(out_fd)
        pid = reply.get("pid")
        if type(pid) is not int or pid <= 0:
            ours.close()
            raise SandboxError(f"the sandbox did not start a worker ({reply.get('error', reply)})")
        return pid, ours, output

    def end(self, pid: int, kill: bool, grace: float = 1.0) -> int:
        """Ends the worker (and everything it started); its wait status."""
        status = self._ask({"op": "end", "pid": pid, "kill": kill, "grace": grace}).get("status")
        return status if type(status) is int else 0

    def close(self) -> None:
        if self.control is not None:
            try:
                wire.send(self.control, {"op": "exit"})
            except OSError:
                pass
            self.control.close()
            self.control = None
        self.ready = False
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)   # bwrap and, with it, the whole sandbox
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None


def _address_space_of(pid: Optional[int]) -> int:
    """A process's virtual size in bytes (the worker's memory limit comes on top), 0 if unknown."""
    if not pid:
        return 0
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


_SIGNALS = {
    signal.SIGSEGV: "crashed with a segmentation fault (SIGSEGV): an invalid memory access",
    signal.SIGBUS: "crashed with a bus error (SIGBUS): an invalid memory access",
    signal.SIGFPE: "crashed with a floating-point exception (SIGFPE)",
    signal.SIGILL: "crashed with an illegal instruction (SIGILL)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGSYS: "made a system call the sandbox forbids (SIGSYS)",
    signal.SIGKILL: "was killed (SIGKILL), most likely for using too much memory",
}


def describe_status(status: int, limits: dict) -> str:
    """What a wait status means for the student."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return f"used more CPU time than allowed ({limits['time']:g} s per test): an endless loop, or far too slow"
        if sig == signal.SIGXFSZ:
            return (f"printed (or wrote) more than {limits['output_kb']} KB, the output limit: remove prints "
                    "inside loops")
        if sig in _SIGNALS:
            return _SIGNALS[sig]
        return f"was ended by signal {signal.Signals(sig).name}"
    if os.WIFEXITED(status):
        return (f"ended the process itself (exit status {os.WEXITSTATUS(status)}, e.g. os._exit or sys.exit); "
                "graded code must return its result, not exit")
    return "ended for an unknown reason"


class Student:
    """The submission as one test sees it: a fresh worker, started on first use, with the
    test's ``latch`` (the computations its graded code must compute itself) latched off."""

    def __init__(self, sandbox: Sandbox, latch: List[str]):
        self._sandbox = sandbox
        self._latch = list(latch)
        self._limits = sandbox.limits
        self._pid: Optional[int] = None
        self._sock: Optional[socket.socket] = None
        self._output: Optional[Path] = None
        self._dead: Optional[str] = None
        self._deadline = 0.0
        self.integrity_hits: List[str] = []
        self.tampering: List[str] = []
        self.crashed = False

    # ---- the test-facing API ------------------------------------------------------------------
    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, name: str, *args, **kwargs) -> Any:
        """Calls the submission's top-level ``name`` (a function, or a class to instantiate)."""
        return self._request({"op": "call", "name": name, "args": args, "kwargs": kwargs}, name)

    def run(self, driver_function: str, *args, what: str = "", **kwargs) -> Any:
        """Calls ``driver_function(namespace, *args, **kwargs)`` of the assignment's driver in the
        worker; ``what`` names the student code it exercises (for messages)."""
        return self._request({"op": "run", "name": driver_function, "args": args, "kwargs": kwargs},
                             what or driver_function)

    @property
    def output(self) -> str:
        """The last 800 characters the student's code printed in this test."""
        if self._output is None:
            return ""
        try:
            with open(self._output, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 800))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return ("..." if size > 800 else "") + text

    # ---- the channel ----------------------------------------------------------------------------
    def _send(self, request: dict) -> str:
        rid = secrets.token_hex(8)
        wire.send(self._sock, dict(request, id=rid))
        return rid

    def _answer(self, rid: str, deadline: float, progress: Optional[list] = None) -> dict:
        """The one answer to request ``rid``; anything else that arrives is ignored, and recorded."""
        while True:
            frame = wire.recv(self._sock, deadline=deadline)
            if not isinstance(frame, dict) or frame.get("re") != rid or not isinstance(frame.get("kind"), str):
                self.tampering.append("a message that answers no request the grader sent")
                continue
            if frame["kind"] == "loading" and progress is not None:
                progress.append(frame.get("unit"))
                continue
            if frame["kind"] in ("loading", "ready") and progress is None:
                self.tampering.append("a loading message outside loading")
                continue
            return frame

    # ---- process life ---------------------------------------------------------------------------
    def _start(self) -> None:
        """Starts a worker and lets it run the submission's units. A unit that hangs or kills
        the worker is recorded as bad for the whole submission and the worker is started again
        without it, so it costs only the tests that need what it defines."""
        sandbox = self._sandbox
        for _ in range(len(sandbox.setup["units"]) + 1):
            pid, sock, output = sandbox.spawn(self._latch)
            self._pid, self._sock, self._output = pid, sock, output
            units: List[Any] = []
            try:
                rid = self._send({"op": "load", "exclude": {str(k): v for k, v in sandbox.bad_units.items()}})
                reply = self._answer(rid, time.monotonic() + self._limits["load"], progress=units)
                if reply["kind"] != "ready":
                    raise wire.WireError("an answer to loading that is not 'ready'")
                self._deadline = time.monotonic() + self._limits["time"]
                return
            except TimeoutError:
                reason = (f"it did not finish within {self._limits['load']:g} s (an endless loop in a class body, "
                          "a decorator or a default argument?)")
                self._end(kill=True)
            except (wire.ChannelClosed, wire.WireError, OSError) as e:
                status = self._end(kill=isinstance(e, wire.WireError))
                reason = "running it " + describe_status(status, self._limits)
            unit = units[-1] if units else None
            if type(unit) is not int or unit in sandbox.bad_units:
                raise StudentCrash(f"The process for your code could not start: {reason}.")
            sandbox.bad_units[unit] = reason
        raise StudentCrash("The process for your code could not start: every cell failed to run.")

    def _request(self, request: dict, what: str) -> Any:
        if self._dead:
            raise StudentCrash(self._dead)
        if self._sock is None:
            self._start()
        request = dict(request, args=_unwrap(request.get("args", ())), kwargs=_unwrap(request.get("kwargs", {})))
        try:
            rid = self._send(request)
            reply = self._answer(rid, self._deadline)
        except TimeoutError:
            self._end(kill=True)
            self._die(f"While running {what}, your code did not finish within the time limit of "
                      f"{self._limits['time']:g} s: an endless loop, or far too slow.")
        except (wire.ChannelClosed, BrokenPipeError, ConnectionResetError):
            status = self._end(kill=False)
            self._die(f"While running {what}, your code {describe_status(status, self._limits)}.")
        except wire.WireError as e:
            self._end(kill=True)
            self._die(f"While running {what}, your code interfered with the grader's channel ({e}).")
        return self._result(reply, what)

    def _result(self, reply: dict, what: str) -> Any:
        kind = reply["kind"]
        if kind == "ok":
            return self._wrap(reply.get("value"))
        message = str(reply.get("message", ""))
        where = str(reply.get("traceback", ""))
        where = f"\n{where.rstrip()}" if where else ""
        where += _unit_errors_note(reply.get("unit_errors"))
        if kind == "latched":
            function = str(reply.get("function") or what)
            self.integrity_hits.append(function)
            raise IntegrityViolation(f"Integrity: {function} used gatelab's own implementation of what this test "
                                     f"grades: {message.split(': ', 1)[-1]}.")
        if kind == "not_own":
            self.integrity_hits.append(what)
            raise IntegrityViolation(f"Integrity: {message.split(': ', 1)[-1]}; write it yourself")
        if kind == "missing":
            raise StudentError(message.split(": ", 1)[-1])
        if kind == "memory":
            raise StudentCrash(f"While running {what}, your code ran out of memory (the limit is "
                               f"{self._limits['memory_mb']} MB per test): {message}{where}")
        if kind == "exit":
            raise StudentCrash(f"While running {what}, your code called sys.exit; graded code must return its "
                               f"result.{where}")
        if reply.get("type") == "NotImplementedError" and reply.get("in_student_code"):
            raise StudentError(f"Not written yet: {message}{where}")
        raise StudentError(f"Running {what} raised {message}{where}")

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, wire.Ref):
            return RemoteObject(self, value)
        if type(value) in (tuple, list):
            return type(value)(self._wrap(v) for v in value)
        if type(value) is dict:
            return {k: self._wrap(v) for k, v in value.items()}
        return value

    def _die(self, message: str) -> None:
        self._dead = message
        self.crashed = True
        raise StudentCrash(message)

    def _end(self, kill: bool) -> int:
        status = 0
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._pid is not None:
            try:
                status = self._sandbox.end(self._pid, kill=kill)
            except SandboxError:          # the sandbox going away must not hide the student's result
                status = 0
            self._pid = None
        return status

    def close(self) -> None:
        """Ends the test's worker (tests never share one), noting anything it sent unasked."""
        if self._sock is not None:
            try:
                rid = self._send({"op": "exit"})
                self._sock.settimeout(0.2)
                while self._sock.recv(1 << 16):
                    self.tampering.append(f"data after the last answer (request {rid})")
            except OSError:
                pass
            self._end(kill=False)


def _unit_errors_note(errors: Any) -> str:
    """The cells that raised while the worker loaded the submission: the usual reason why a name
    still has its stub's definition. The list comes from the worker, so only short strings count."""
    if type(errors) is not list:
        return ""
    lines = [e[:400] for e in errors[:5] if type(e) is str]
    return "".join(f"\nNote: {line}; what it defines keeps any earlier definition." for line in lines)


def _unwrap(value: Any) -> Any:
    """RemoteObjects in arguments travel back as their references."""
    if isinstance(value, RemoteObject):
        return value._ref
    if type(value) in (tuple, list):
        return type(value)(_unwrap(v) for v in value)
    if type(value) is dict:
        return {k: _unwrap(v) for k, v in value.items()}
    return value


class RemoteObject:
    """An object living in the worker; ``obj.method(...)`` calls it there,
    ``obj.attribute("name")`` fetches a data attribute."""

    def __init__(self, student: Student, ref: wire.Ref):
        self._student = student
        self._ref = ref

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        what = f"{self._ref.type_name}.{name}"
        return lambda *args, **kwargs: self._student._request(
            {"op": "method", "ref": self._ref.ref, "name": name, "args": args, "kwargs": kwargs}, what)

    def attribute(self, name: str) -> Any:
        return self._student._request({"op": "getattr", "ref": self._ref.ref, "name": name},
                                      f"{self._ref.type_name}.{name}")

    def __repr__(self) -> str:
        return f"<student's {self._ref.type_name} object>"
