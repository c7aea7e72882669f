"""The wire between the grading process and a sandboxed student process.

Messages are length-prefixed pickles on a Unix socket. The direction matters:

* grader -> sandbox: ordinary pickles (the grader is trusted; the sandbox may unpickle anything).
* sandbox -> grader: *restricted* pickles. The grader never unpickles a class it did not list
  here, so a student's object can never run code in the grading process. Student results are
  plain data (numbers, strings, NumPy arrays of numbers, tuples/lists/dicts of those); any other
  object stays in the sandbox and comes back as a ``RemoteRef`` the test can call methods on.
"""

from __future__ import annotations

import io
import pickle
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np

__all__ = ["RemoteRef", "send", "recv", "ChannelClosed", "ProtocolError", "export", "MAX_MESSAGE"]

MAX_MESSAGE = 1 << 30          # 1 GiB: larger replies are a protocol error
_HEADER = struct.Struct("!Q")


class ChannelClosed(EOFError):
    """The other end closed the socket (for the grader: the student process ended)."""


class ProtocolError(RuntimeError):
    """A message that is not what the protocol allows (e.g. student code wrote to the socket)."""


@dataclass(frozen=True)
class RemoteRef:
    """An object that lives in the sandbox (e.g. an instance of the student's class)."""

    ref: int
    type_name: str


_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("builtins", "complex"), ("builtins", "slice"), ("builtins", "frozenset"), ("builtins", "set"),
    ("gatelab.grading.protocol", "RemoteRef"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise ProtocolError(f"the student process sent an object of type {module}.{name}, which the grader "
                            "does not accept")


def _read_exact(sock: socket.socket, n: int, deadline: Optional[float]) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError()
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            raise TimeoutError() from None
        finally:
            if deadline is not None:
                sock.settimeout(None)
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def send(sock: socket.socket, message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def recv(sock: socket.socket, trusted: bool, deadline: Optional[float] = None) -> Any:
    """One message. ``trusted=False`` (the grader reading the sandbox) restricts what may arrive.
    With a ``deadline`` (a time.monotonic() value) raises TimeoutError when it passes first."""
    (size,) = _HEADER.unpack(_read_exact(sock, _HEADER.size, deadline))
    if size > MAX_MESSAGE:
        raise ProtocolError(f"a message of {size} bytes from the student process (more than 1 GiB)")
    payload = _read_exact(sock, size, deadline)
    if trusted:
        return pickle.loads(payload)
    try:
        return _RestrictedUnpickler(io.BytesIO(payload)).load()
    except ProtocolError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed payload is the same protocol error
        raise ProtocolError(f"an unreadable message from the student process ({type(e).__name__})") from None


def export(value: Any, keep: Dict[int, Any], depth: int = 0) -> Any:
    """What of a student result crosses to the grader: plain data as is (arrays copied, numeric
    only), anything else kept in ``keep`` and replaced by a RemoteRef. Runs in the sandbox."""
    if depth > 20:
        raise ValueError("the returned value is nested more than 20 levels deep")
    if value is None or type(value) in (bool, int, float, complex, str, bytes):
        return value
    if isinstance(value, np.generic):
        return value.item() if value.dtype.kind in "biufc" else str(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"returned a NumPy array of dtype {value.dtype}; use a numeric dtype")
        return np.array(value, copy=True, order="C")
    if type(value) in (tuple, list):
        items = [export(v, keep, depth + 1) for v in value]
        return tuple(items) if type(value) is tuple else items
    if type(value) is dict:
        return {(k if isinstance(k, (str, int)) else str(k)): export(v, keep, depth + 1) for k, v in value.items()}
    ref = len(keep) + 1
    keep[ref] = value
    return RemoteRef(ref, type(value).__name__)
