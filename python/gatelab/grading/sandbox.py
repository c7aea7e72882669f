"""The sandbox: where student code runs, one fresh process per test.

    grading process (pytest)  ──control──▶  zygote  ──fork──▶  test process (student code)
            ▲                                                        │
            └──────────────── own socket per test ───────────────────┘

The *zygote* is started once per grading session. It imports NumPy, gatelab and the
assignment's harness (never student code) and then forks one process per test on request, so
a test process starts in milliseconds. Each test process

1. puts itself in its own process group, dies with the zygote, works in its own scratch folder,
   and sends its stdout/stderr to a file there;
2. sets its limits: CPU seconds, address space, bytes written (a huge print ends it with
   SIGXFSZ), no core files; running as root (Gradescope), it also becomes ``nobody``, so it
   cannot read the tests or touch the grader's files;
3. installs the integrity tripwires, then runs the submission's units one by one, reporting
   each before it starts (a unit that hangs or crashes at load is identified and skipped);
4. answers requests from the test: call a student function, call a harness function with the
   student's namespace, call a method of an object it holds; results go back as plain data.

Run as ``python -m gatelab.grading.sandbox CONFIG.json CONTROL_FD``.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import linecache
import os
import resource
import signal
import socket
import sys
import time
import traceback
import types
from typing import Any, Dict, List

from gatelab.grading import protocol
from gatelab.grading.integrity import Integrity, NotOwnCode, ReferenceUsed
from gatelab.grading.submission import compile_unit

_PR_SET_PDEATHSIG = 1


class MissingName(Exception):
    """A name the test needs is not defined by the submission."""


class Namespace:
    """What harness functions get: the submission's names, each checked to be the student's own."""

    def __init__(self, module: types.ModuleType, integrity: Integrity, missing: Dict[str, str],
                 problem: str = ""):
        self._module = module
        self._integrity = integrity
        self._missing = missing
        self._problem = problem

    def __contains__(self, name: str) -> bool:
        return name in vars(self._module)

    def __getitem__(self, name: str):
        return self.get(name)

    def get(self, name: str):
        values = vars(self._module)
        if name not in values:
            why = self._missing.get(name) or self._problem
            if why:
                raise MissingName(f"{name} is not defined: {why}")
            raise MissingName(f"{name} is not defined in your submission (keep the name the notebook uses)")
        obj = values[name]
        problem = self._integrity.check_own(name, obj)
        if problem:
            raise NotOwnCode(problem)
        return obj


class _Zygote:
    def __init__(self, config: dict):
        self.config = config
        sys.path.insert(0, config["tests_dir"])
        for name in config.get("preload", []):
            importlib.import_module(name)
        harness = config.get("harness")
        self.harness = importlib.import_module(harness) if harness else None
        sub = config["submission"]
        self.units = sub["units"]
        self.sources = sub.get("sources", {})
        self.code = {}
        for i, unit in enumerate(self.units):
            if unit["error"] is None:
                self.code[i] = compile_unit(unit)
        self.student_files = {u["filename"] for u in self.units}
        self.children: List[int] = []

    def serve(self, control: socket.socket) -> None:
        control.send(json.dumps({"ok": True}).encode())
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
            except OSError:
                data, fds = b"", []
            if not data:
                break
            request = json.loads(data)
            op = request["op"]
            if op == "spawn":
                pid = os.fork()
                if pid == 0:
                    control.close()
                    _child(socket.socket(fileno=fds[0]), request, self)  # never returns
                os.close(fds[0])
                self.children.append(pid)
                control.send(json.dumps({"pid": pid}).encode())
            elif op == "reap":
                status = self._reap(request["pid"], request.get("kill", False), request.get("grace", 1.0))
                control.send(json.dumps({"status": status}).encode())
            elif op == "exit":
                break
        for pid in list(self.children):
            self._reap(pid, kill=True, grace=0)

    def _reap(self, pid: int, kill: bool, grace: float) -> int:
        """Waits for a test process (killing its process group when asked or after ``grace``)."""
        if pid not in self.children:
            return -1
        deadline = time.monotonic() + grace
        while not kill:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.children.remove(pid)
                _killpg(pid)
                return status
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        _killpg(pid)
        _, status = os.waitpid(pid, 0)
        self.children.remove(pid)
        return status


def _killpg(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


# ---- the test process ----------------------------------------------------------------------

def _child(sock: socket.socket, request: dict, zygote: _Zygote) -> None:
    code = 0
    try:
        _setup(request, zygote.config)
        _run_child(sock, request, zygote)
    except BaseException:  # noqa: BLE001 - the process ends either way; the grader reads its status
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


def _setup(request: dict, config: dict) -> None:
    os.setpgid(0, 0)
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    scratch = request["scratch"]
    os.makedirs(scratch, exist_ok=True)
    os.chdir(scratch)
    out = os.open("output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o666)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    limits = config["limits"]
    cpu = int(limits["load"] + limits["time"]) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    output = int(limits["output_kb"]) * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)   # Python ignores it; a huge print must end the process
    memory = int(limits["memory_mb"]) << 20
    address_space = _address_space() + memory
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    if config.get("drop_privileges") and os.getuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))


def _address_space() -> int:
    """This process's current virtual size (the memory limit comes on top of it)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _run_child(sock: socket.socket, request: dict, zygote: _Zygote) -> None:
    integrity = Integrity(zygote.student_files, zygote.config["integrity"].get("forbid", {}),
                          zygote.config["integrity"].get("blocked_imports", []))
    integrity.install()
    for filename, text in zygote.sources.items():
        linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    module = types.ModuleType("submission")
    sys.modules["submission"] = module
    missing: Dict[str, str] = {}
    excluded = {int(k): v for k, v in request.get("exclude", {}).items()}
    for i, unit in enumerate(zygote.units):
        why = unit["error"] or excluded.get(i)
        if why:
            for name in unit["names"]:
                missing.setdefault(name, f"{unit['label']}, which defines it, was not run: {why}")
            continue
        protocol.send(sock, {"kind": "loading", "unit": i})
        try:
            exec(zygote.code[i], module.__dict__)
        except BaseException as e:  # noqa: BLE001 - a unit that fails costs only its names
            for name in unit["names"]:
                if name not in vars(module):
                    missing.setdefault(name, f"{unit['label']}, which defines it, raised {_describe(e)} "
                                             "when the grader ran it")
    integrity.take_hits()
    protocol.send(sock, {"kind": "ready"})
    namespace = Namespace(module, integrity, missing, zygote.config["submission"].get("problem", ""))
    keep: Dict[int, Any] = {}
    while True:
        req = protocol.recv(sock, trusted=True)
        if req["op"] == "exit":
            return
        try:
            value = _dispatch(req, namespace, keep, zygote.harness)
            reply = {"kind": "ok", "value": protocol.export(value, keep)}
        except BaseException as e:  # noqa: BLE001 - every failure goes back to the grader as data
            reply = _error_reply(e, integrity)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        reply["hits"] = integrity.take_hits()
        protocol.send(sock, reply)


def _resolve(value: Any, keep: Dict[int, Any]) -> Any:
    if isinstance(value, protocol.RemoteRef):
        return keep[value.ref]
    if type(value) in (tuple, list):
        return type(value)(_resolve(v, keep) for v in value)
    if type(value) is dict:
        return {k: _resolve(v, keep) for k, v in value.items()}
    return value


def _dispatch(req: dict, namespace: Namespace, keep: Dict[int, Any], harness) -> Any:
    args = _resolve(req.get("args", ()), keep)
    kwargs = _resolve(req.get("kwargs", {}), keep)
    op = req["op"]
    if op == "call":
        return namespace.get(req["name"])(*args, **kwargs)
    if op == "run":
        if harness is None or not hasattr(harness, req["name"]):
            raise LookupError(f"the grader's harness has no function {req['name']!r} (a problem of the assignment, "
                              "not of your code)")
        return getattr(harness, req["name"])(namespace, *args, **kwargs)
    if op == "method":
        return getattr(keep[req["ref"]], req["name"])(*args, **kwargs)
    if op == "getattr":
        return getattr(keep[req["ref"]], req["name"])
    raise ValueError(f"unknown request {op!r}")


def _describe(e: BaseException) -> str:
    try:
        text = str(e)
    except BaseException:  # noqa: BLE001 - a student's exception may fail to print
        text = "(its message could not be printed)"
    text = text if len(text) <= 1500 else text[:1500] + " ..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _student_cause(e: BaseException, files) -> BaseException:
    """The exception to report: a student exception re-raised by gatelab's graph (which names the
    gate and chains the original) is reported as the original, with the student's own lines."""
    chain, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    for exc in reversed(chain):
        if any(f.filename in files for f in traceback.extract_tb(exc.__traceback__)):
            return exc
    return chain[0]


def _error_reply(e: BaseException, integrity: Integrity) -> dict:
    top = e
    e = _student_cause(e, integrity.student_files)
    if isinstance(e, ReferenceUsed) or isinstance(top, ReferenceUsed):
        kind = "integrity"
    elif isinstance(e, NotOwnCode):
        kind = "not_own"
    elif isinstance(e, MissingName):
        kind = "missing"
    elif isinstance(e, MemoryError) or isinstance(top, MemoryError):
        kind = "memory"
    elif isinstance(e, SystemExit):
        kind = "exit"
    else:
        kind = "exception"
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename in integrity.student_files]
    where = "".join(traceback.format_list(frames[-6:]))
    return {"kind": kind, "type": type(e).__name__, "message": _describe(e), "traceback": where,
            "in_student_code": bool(frames)}


def main(argv: List[str]) -> None:
    config_path, control_fd = argv[0], int(argv[1])
    control = socket.socket(fileno=control_fd)
    try:
        with open(config_path) as f:
            config = json.load(f)
        zygote = _Zygote(config)
    except BaseException:  # noqa: BLE001 - report the failure to the grader, then stop
        control.send(json.dumps({"ok": False, "error": traceback.format_exc()[-4000:]}).encode())
        raise SystemExit(1)
    zygote.serve(control)


if __name__ == "__main__":
    main(sys.argv[1:])
