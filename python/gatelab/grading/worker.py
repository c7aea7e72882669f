"""A worker: one test's process, forked by the zygote, where the student's code runs.

Before any student code, the worker (still gatelab's code only)

1. leads its own session, keeps only its channel and output file open (stdout and stderr go
   to the file, which the grader reads), and works in its own scratch folder;
2. sets its limits: CPU seconds, address space, bytes per file (a huge print ends it with
   SIGXFSZ), open files, no core files; as root it becomes uid 65534;
3. latches off what the test grades, for good (``gatelab._core.lock_down``: the computations,
   no programs, processes or sockets, no ctypes or /proc, no autodiff libraries).

Then it runs the submission's units, reporting each before it starts (a unit that hangs or kills
the process is identified and left out of the next start), and answers requests: call a student
function, call a driver function with the student's namespace, call a method of an object it
holds. Answers are plain data (``gatelab.grading.wire``); nothing here decides a score, so
nothing the student's code does to this process (patching the driver, forging a reply) can do
more than change the values the grader then judges.
"""

from __future__ import annotations

import linecache
import os
import resource
import signal
import socket
import sys
import traceback
import types
from typing import Any, Dict, List

from gatelab.grading import wire
from gatelab.grading.isolation import WORKER_UID

__all__ = ["run", "Namespace", "MissingName", "NotOwnCode"]


class MissingName(Exception):
    """A name the test needs is not defined by the submission."""


class NotOwnCode(Exception):
    """A graded name is not the student's own code (``affine_forward = gl.layers.affine_forward``)."""


class Namespace:
    """What driver functions get: the submission's names, each checked to be the student's own."""

    def __init__(self, module: types.ModuleType, student_files, missing: Dict[str, str], problem: str = ""):
        self._module = module
        self._files = set(student_files)
        self._missing = missing
        self._problem = problem
        self.unit_errors: List[str] = []      # "cell 7 raised NameError: ...", said beside any failure

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
        problem = _not_own(name, obj, self._files)
        if problem:
            raise NotOwnCode(problem)
        return obj


def _not_own(name: str, obj, files) -> str:
    """Why ``obj`` (bound to ``name`` in the submission) is not code written in it, or ''."""
    if isinstance(obj, types.FunctionType):
        if obj.__code__.co_filename in files:
            return ""
        return f"{name} is not a function written in your submission (it is {obj.__module__}.{obj.__qualname__})"
    if isinstance(obj, type):
        if obj.__module__ != "submission":
            return f"{name} is not a class defined in your submission (it is {obj.__module__}.{obj.__qualname__})"
        native = [c for c in obj.__mro__ if (c.__module__ or "").startswith("gatelab._core")]
        if native:
            return (f"{name} inherits gatelab's built-in gate {native[0].__qualname__}; subclass gl.Gate and write "
                    "forward and backward yourself")
        return ""
    if callable(obj):
        return f"{name} is a {type(obj).__name__}, not a function written in your submission"
    return ""


# ---- starting ---------------------------------------------------------------------------------------

def run(channel_fd: int, output_fd: int, request: dict, prepared, scratch) -> None:
    """The worker's whole life (in the forked child); ends the process."""
    code = 0
    try:
        _isolate(channel_fd, output_fd, request, prepared, scratch)
        _serve(socket.socket(fileno=channel_fd), request, prepared)
    except BaseException:  # noqa: BLE001 - the process ends either way; the grader reads its status
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


def _isolate(channel_fd: int, output_fd: int, request: dict, prepared, scratch) -> None:
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)        # Python ignores SIGXFSZ; a huge print must end the process
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    for fd in (null, output_fd):
        os.close(fd)
    os.closerange(3, channel_fd)
    os.closerange(channel_fd + 1, 1 << 16)
    limits = request["limits"]
    cpu = int(limits["load"] + limits["time"]) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    size = int(limits["output_kb"]) * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    if request.get("address_space"):
        space = int(request["address_space"])
        resource.setrlimit(resource.RLIMIT_AS, (space, space))
    if os.getuid() == 0 and prepared.setup.get("drop_uid"):
        os.setgroups([])
        os.setgid(WORKER_UID)
        os.setuid(WORKER_UID)
    if not os.path.isdir(scratch):
        os.mkdir(scratch, 0o700)
    os.chdir(scratch)
    from gatelab import _core

    _core.lock_down(list(request.get("latch", [])), list(prepared.setup.get("blocked_imports", [])))


# ---- serving -----------------------------------------------------------------------------------------

def _serve(sock: socket.socket, spawn: dict, prepared) -> None:
    for filename, text in prepared.sources.items():
        linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    module = types.ModuleType("submission")
    sys.modules["submission"] = module
    namespace = None
    keep: Dict[int, Any] = {}
    while True:
        req = wire.recv(sock)
        if not isinstance(req, dict):
            return
        rid, op = req.get("id"), req.get("op")
        if op == "exit":
            return
        if op == "load":
            namespace = _load(sock, rid, module, prepared, req.get("exclude", {}))
            continue
        try:
            value = _dispatch(req, namespace, keep, prepared.driver)
            reply = {"re": rid, "kind": "ok", "value": _export(value, keep)}
        except BaseException as e:  # noqa: BLE001 - every failure goes back to the grader as data
            reply = dict(_error_reply(e, prepared.student_files), re=rid,
                         unit_errors=namespace.unit_errors if namespace is not None else [])
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        try:
            wire.send(sock, reply)
        except TypeError as e:                      # a value that is not plain data after all
            wire.send(sock, {"re": rid, "kind": "exception", "type": "TypeError", "traceback": "",
                             "message": f"TypeError: the result holds {e}, which cannot be returned",
                             "in_student_code": False})


def _load(sock: socket.socket, rid, module: types.ModuleType, prepared, exclude: dict) -> Namespace:
    """Runs the units (each reported before it starts), then says ready."""
    missing: Dict[str, str] = {}
    raised: List[str] = []
    excluded = {int(k): str(v) for k, v in exclude.items()}
    for i, unit in enumerate(prepared.units):
        why = unit["error"] or excluded.get(i)
        if why:
            for name in unit["names"]:
                missing.setdefault(name, f"{unit['label']}, which defines it, was not run: {why}")
            continue
        wire.send(sock, {"re": rid, "kind": "loading", "unit": i})
        try:
            exec(prepared.code[i], module.__dict__)
        except BaseException as e:  # noqa: BLE001 - a unit that fails costs only its names
            raised.append(f"{unit['label']} raised {_describe(e)[:300]} when the grader ran it")
            for name in unit["names"]:
                if name not in vars(module):
                    missing.setdefault(name, f"{unit['label']}, which defines it, raised {_describe(e)} when the "
                                             "grader ran it")
    wire.send(sock, {"re": rid, "kind": "ready"})
    namespace = Namespace(module, prepared.student_files, missing, prepared.setup.get("problem", ""))
    namespace.unit_errors = raised[:5]
    return namespace


def _resolve(value: Any, keep: Dict[int, Any]) -> Any:
    if isinstance(value, wire.Ref):
        return keep[value.ref]
    if type(value) in (tuple, list):
        return type(value)(_resolve(v, keep) for v in value)
    if type(value) is dict:
        return {k: _resolve(v, keep) for k, v in value.items()}
    return value


def _dispatch(req: dict, namespace: Namespace, keep: Dict[int, Any], driver) -> Any:
    args = _resolve(req.get("args", ()), keep)
    kwargs = _resolve(req.get("kwargs", {}), keep)
    op = req.get("op")
    if op == "call":
        return namespace.get(req["name"])(*args, **kwargs)
    if op == "run":
        if driver is None or not hasattr(driver, req["name"]):
            raise LookupError(f"the assignment's driver has no function {req['name']!r} (a problem of the "
                              "assignment, not of your code)")
        return getattr(driver, req["name"])(namespace, *args, **kwargs)
    if op == "method":
        return getattr(keep[req["ref"]], req["name"])(*args, **kwargs)
    if op == "getattr":
        return getattr(keep[req["ref"]], req["name"])
    raise ValueError(f"unknown request {op!r}")


def _export(value: Any, keep: Dict[int, Any], depth: int = 0) -> Any:
    """Plain data as is; any other object stays here, in ``keep``, and goes out as a Ref."""
    import numpy as np

    if depth > wire.MAX_DEPTH:
        raise ValueError("the returned value is nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, (np.generic, np.ndarray)):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"returned a NumPy array of dtype {value.dtype}; use a numeric dtype")
        return value
    if type(value) in (tuple, list):
        return type(value)(_export(v, keep, depth + 1) for v in value)
    if type(value) is dict:
        return {str(k): _export(v, keep, depth + 1) for k, v in value.items()}
    ref = len(keep) + 1
    keep[ref] = value
    return wire.Ref(ref, type(value).__name__)


def _describe(e: BaseException) -> str:
    try:
        text = str(e)
    except BaseException:  # noqa: BLE001 - a student's exception may fail to print
        text = "(its message could not be printed)"
    text = text if len(text) <= 1500 else text[:1500] + " ..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _student_cause(e: BaseException, files) -> BaseException:
    """A student exception re-raised by gatelab's graph (which names the gate and chains the
    original) is reported as the original, with the student's own lines."""
    chain: List[BaseException] = []
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    for exc in reversed(chain):
        if any(f.filename in files for f in traceback.extract_tb(exc.__traceback__)):
            return exc
    return chain[0]


def _innermost_student_function(tb, files) -> str:
    """The qualified name (MultiplyGate.backward) of the last student frame of a traceback."""
    name = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in files:
            name = getattr(code, "co_qualname", code.co_name)
        tb = tb.tb_next
    return name


def _error_reply(e: BaseException, files) -> dict:
    from gatelab import LatchedError

    top = e
    e = _student_cause(e, files)
    if isinstance(e, LatchedError) or isinstance(top, LatchedError):
        kind = "latched"
        e = e if isinstance(e, LatchedError) else top
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
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename in files]
    where = "".join(traceback.format_list(frames[-6:]))
    function = _innermost_student_function(e.__traceback__, files)
    return {"kind": kind, "type": type(e).__name__, "message": _describe(e), "traceback": where,
            "in_student_code": bool(frames), "function": function}
