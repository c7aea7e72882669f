"""The grader's side of the sandbox: start the zygote, give each test a fresh student process,
call into it with time limits, and turn every way it can fail into a message for the student.

A test sees a ``Student``::

    out, cache = student.affine_forward(x, w, b)          # a function of the submission
    grads = student.run("gate_roundtrip", "MultiplyGate", (x, y), dout)   # a harness function
    gate = student.MultiplyGate(); gate.forward(x, y)     # objects stay remote; methods are calls

Results arrive as plain data. Nothing the student process sends can run code here (see
``protocol``), and the test judges the values here, so the score never depends on anything the
student's process says about itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from gatelab.grading import protocol
from gatelab.grading.failures import IntegrityViolation, StudentCrash, StudentError

__all__ = ["Sandbox", "Student", "RemoteObject", "describe_status"]


class SandboxError(RuntimeError):
    """The sandbox itself could not start or stopped (a grader problem, not the student's)."""


class Sandbox:
    """One zygote per grading session, forking a process per test."""

    def __init__(self, config: dict, workdir: Path, scratch: Path):
        self.config = config
        self.workdir = Path(workdir)
        self.scratch = Path(scratch)
        self.limits = config["limits"]
        self.bad_units: Dict[int, str] = {}
        self.count = 0
        self.proc: Optional[subprocess.Popen] = None
        self.control: Optional[socket.socket] = None
        self.ready = False
        self.config_path = self.workdir / "sandbox.json"
        self.config_path.write_text(json.dumps(config))

    def launch(self) -> None:
        """Starts the zygote without waiting for it: it imports while pytest collects the tests."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
        log = open(self.workdir / "sandbox.log", "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gatelab.grading.sandbox", str(self.config_path), str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                cwd=str(self.workdir))
        finally:
            theirs.close()
            log.close()
        self.control = ours
        self.ready = False

    def _wait_ready(self) -> None:
        self.control.settimeout(120)
        try:
            hello = json.loads(self.control.recv(1 << 16) or b'{"ok": false, "error": "the zygote ended at start"}')
        except socket.timeout:
            hello = {"ok": False, "error": "the zygote did not start within 120 s"}
        self.control.settimeout(None)
        if not hello.get("ok"):
            self.close()
            raise SandboxError("the sandbox could not start:\n" + hello.get("error", ""))
        self.ready = True

    def _ask(self, request: dict, fd: Optional[int] = None) -> dict:
        if self.proc is None or (self.ready and self.proc.poll() is not None):
            self.close()                 # never started, or died since: (re)start it
            self.launch()
        if not self.ready:
            self._wait_ready()
        data = json.dumps(request).encode()
        try:
            if fd is None:
                self.control.send(data)
            else:
                socket.send_fds(self.control, [data], [fd])
            self.control.settimeout(60)
            reply = self.control.recv(1 << 16)
        except OSError as e:
            raise SandboxError(f"the sandbox stopped answering ({e})") from None
        finally:
            if self.control is not None:
                self.control.settimeout(None)
        if not reply:
            raise SandboxError("the sandbox stopped")
        return json.loads(reply)

    def spawn(self):
        """(pid, socket, scratch folder) of a fresh test process."""
        self.count += 1
        scratch = self.scratch / f"test{self.count:03d}"
        ours, theirs = socket.socketpair()
        try:
            reply = self._ask({"op": "spawn", "scratch": str(scratch),
                               "exclude": {str(k): v for k, v in self.bad_units.items()}}, theirs.fileno())
        finally:
            theirs.close()
        return reply["pid"], ours, scratch

    def reap(self, pid: int, kill: bool, grace: float = 1.0) -> int:
        return self._ask({"op": "reap", "pid": pid, "kill": kill, "grace": grace})["status"]

    def close(self) -> None:
        if self.control is not None:
            try:
                self.control.send(json.dumps({"op": "exit"}).encode())
            except OSError:
                pass
            self.control.close()
            self.control = None
        self.ready = False
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


_SIGNALS = {
    signal.SIGSEGV: "crashed with a segmentation fault (SIGSEGV): an invalid memory access, e.g. through ctypes",
    signal.SIGBUS: "crashed with a bus error (SIGBUS): an invalid memory access",
    signal.SIGFPE: "crashed with a floating-point exception (SIGFPE)",
    signal.SIGILL: "crashed with an illegal instruction (SIGILL)",
    signal.SIGABRT: "aborted (SIGABRT)",
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
    """The submission as one test sees it: a fresh sandboxed process, started on first use."""

    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox
        self._limits = sandbox.limits
        self._pid: Optional[int] = None
        self._sock: Optional[socket.socket] = None
        self._scratch: Optional[Path] = None
        self._dead: Optional[str] = None
        self._deadline = 0.0
        self.integrity_hits: list = []
        self.crashed = False

    # ---- the test-facing API ------------------------------------------------------------------
    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, name: str, *args, **kwargs) -> Any:
        """Calls the submission's top-level ``name`` (a function, or a class to instantiate)."""
        return self._request({"op": "call", "name": name, "args": args, "kwargs": kwargs}, name)

    def run(self, harness_function: str, *args, what: str = "", **kwargs) -> Any:
        """Calls ``harness_function(namespace, *args, **kwargs)`` from the assignment's harness
        module inside the student process; ``what`` names the student code it exercises."""
        return self._request({"op": "run", "name": harness_function, "args": args, "kwargs": kwargs},
                             what or harness_function)

    @property
    def output(self) -> str:
        """The last 800 characters the student's code printed in this test."""
        if self._scratch is None:
            return ""
        try:
            with open(self._scratch / "output.txt", "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 800))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return ("..." if size > 800 else "") + text

    # ---- process life ---------------------------------------------------------------------------
    def _start(self) -> None:
        """Forks the process and lets it run the submission's units. A unit that hangs or kills
        the process is recorded as bad for the whole session and the process is started again
        without it, so it costs only the tests that need what it defines."""
        sandbox = self._sandbox
        for _ in range(len(sandbox.config["submission"]["units"]) + 1):
            pid, sock, scratch = sandbox.spawn()
            deadline = time.monotonic() + self._limits["load"]
            unit = None
            try:
                while True:
                    msg = protocol.recv(sock, trusted=False, deadline=deadline)
                    if isinstance(msg, dict) and msg.get("kind") == "loading":
                        unit = msg.get("unit")
                    elif isinstance(msg, dict) and msg.get("kind") == "ready":
                        break
                    else:
                        raise protocol.ProtocolError("unexpected message while loading")
                self._pid, self._sock, self._scratch = pid, sock, scratch
                self._deadline = time.monotonic() + self._limits["time"]
                return
            except TimeoutError:
                reason = (f"it did not finish within {self._limits['load']} s (an endless loop in a class body, "
                          "a decorator or a default argument?)")
                sandbox.reap(pid, kill=True)
            except (protocol.ChannelClosed, protocol.ProtocolError, OSError) as e:
                status = sandbox.reap(pid, kill=isinstance(e, protocol.ProtocolError))
                reason = "running it " + describe_status(status, self._limits)
            sock.close()
            if not isinstance(unit, int):
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
            protocol.send(self._sock, request)
            reply = protocol.recv(self._sock, trusted=False, deadline=self._deadline)
            if not isinstance(reply, dict) or "kind" not in reply:
                raise protocol.ProtocolError("a reply that is not a dict")
        except TimeoutError:
            self._end(kill=True)
            self._die(f"While running {what}, your code did not finish within the time limit of "
                      f"{self._limits['time']:g} s: an endless loop, or far too slow.")
        except (protocol.ChannelClosed, BrokenPipeError, ConnectionResetError):
            status = self._end(kill=False)
            self._die(f"While running {what}, your code {describe_status(status, self._limits)}.")
        except protocol.ProtocolError as e:
            self._end(kill=True)
            self._die(f"While running {what}, your code interfered with the grader's channel ({e}).")
        hits = reply.get("hits") or []
        if hits:
            self.integrity_hits.extend(hits)
            uses = "; ".join(f"{h['function']} called {h['reference']}" for h in hits)
            raise IntegrityViolation(f"Integrity: {uses}. Graded code must compute its result itself, not call "
                                     "gatelab's reference for what it is graded on.")
        kind = reply["kind"]
        if kind == "ok":
            return self._wrap(reply.get("value"))
        message = str(reply.get("message", ""))
        where = str(reply.get("traceback", ""))
        where = f"\n{where.rstrip()}" if where else ""
        if kind == "integrity":
            raise IntegrityViolation(f"Integrity: {message}")
        if kind == "not_own":
            raise IntegrityViolation(f"Integrity: {message.split(': ', 1)[-1]}")
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
        if isinstance(value, protocol.RemoteRef):
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
        if self._pid is not None:
            try:
                status = self._sandbox.reap(self._pid, kill=kill)
            except Exception:  # noqa: BLE001 - the sandbox going away must not hide the student's result
                status = 0
            self._pid = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        return status

    def close(self) -> None:
        """Ends the test's process (tests never share one)."""
        if self._sock is not None:
            try:
                protocol.send(self._sock, {"op": "exit"})
            except OSError:
                pass
            self._end(kill=False)


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
    """An object living in the student process; ``obj.method(...)`` calls it there,
    ``obj.attribute("name")`` fetches a data attribute."""

    def __init__(self, student: Student, ref: protocol.RemoteRef):
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
