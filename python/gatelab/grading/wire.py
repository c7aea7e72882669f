"""The wire between the trusted grader and a worker: plain data only, checked on arrival.

A message is one frame on a stream socket: a header (the JSON text's length, the number of
arrays), the JSON text, then each array's raw bytes. JSON carries None, bools, ints, floats
(NaN and infinities included: the comparisons judge them), strings, lists and dicts with string
keys; three tagged dicts carry the rest::

    {"$array": k, "dtype": "<f8", "shape": [2, 3]}   the k-th array's bytes; numeric dtypes only
    {"$tuple": [...]}                                 a tuple
    {"$ref": n, "type": "MultiplyGate"}               an object that stays in the worker

Nothing that arrives is unpickled or evaluated: decoding builds fresh NumPy arrays from bytes and
refuses anything else (an unknown tag, a dtype that is not numeric, sizes that do not add up,
nesting deeper than ``MAX_DEPTH``, a frame larger than ``MAX_FRAME``). Either side may send file
descriptors with a frame (the grader hands a worker its channel and output file this way).
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Ref", "WireError", "ChannelClosed", "send", "recv", "encode", "decode", "MAX_FRAME", "MAX_DEPTH"]

MAX_FRAME = 1 << 30          # bytes in one frame
MAX_DEPTH = 32               # nesting of lists, tuples and dicts
MAX_ARRAYS = 100_000
_HEADER = struct.Struct("!QI")
_DTYPES = {np.dtype(t).str: np.dtype(t) for t in (
    "?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")}


class WireError(ValueError):
    """A frame that is not what the wire allows (a worker writing its own bytes to the channel)."""


class ChannelClosed(EOFError):
    """The other end closed the channel (for the grader: the worker ended)."""


@dataclass(frozen=True)
class Ref:
    """An object that lives in the worker (an instance of the student's class, say)."""

    ref: int
    type_name: str


# ---- encoding -----------------------------------------------------------------------------------

def encode(value: Any) -> Tuple[bytes, List[bytes]]:
    """(JSON text, array payloads) of ``value``; raises TypeError for anything not plain data."""
    arrays: List[bytes] = []
    text = json.dumps(_plain(value, arrays, 0), allow_nan=True, separators=(",", ":"))
    return text.encode(), arrays


def _plain(value: Any, arrays: List[bytes], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise TypeError(f"the value is nested more than {MAX_DEPTH} levels deep")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic):
        return _plain(value.item(), arrays, depth) if value.dtype.str in _DTYPES else str(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc" or value.dtype.newbyteorder("<").str not in _DTYPES:
            raise TypeError(f"a NumPy array of dtype {value.dtype} (only numeric arrays cross to the grader)")
        arr = value.astype(value.dtype.newbyteorder("<"), order="C", copy=False)   # keeps 0-d arrays 0-d
        arrays.append(arr.tobytes())
        return {"$array": len(arrays) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if type(value) is tuple:
        return {"$tuple": [_plain(v, arrays, depth + 1) for v in value]}
    if type(value) is list:
        return [_plain(v, arrays, depth + 1) for v in value]
    if type(value) is dict:
        out = {}
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            if key.startswith("$"):
                raise TypeError(f"a dict key starting with '$' ({key!r})")
            out[key] = _plain(v, arrays, depth + 1)
        return out
    if isinstance(value, Ref):
        return {"$ref": int(value.ref), "type": str(value.type_name)}
    if isinstance(value, complex):
        raise TypeError("a complex number (send a NumPy complex array instead)")
    raise TypeError(f"a {type(value).__name__}")


# ---- decoding (on arrival, nothing trusted) -------------------------------------------------------

def decode(text: bytes, arrays: Sequence[bytes]) -> Any:
    try:
        tree = json.loads(text.decode("utf-8"), parse_constant=_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise WireError(f"a frame whose text is not JSON ({type(e).__name__})") from None
    used: set = set()
    value = _build(tree, arrays, used, 0)
    if len(used) != len(arrays):
        raise WireError("a frame carrying arrays it does not refer to")
    return value


def _constant(name: str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def _build(node: Any, arrays: Sequence[bytes], used: set, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError(f"a value nested more than {MAX_DEPTH} levels deep")
    if node is None or type(node) in (bool, int, float, str):
        return node
    if type(node) is list:
        return [_build(v, arrays, used, depth + 1) for v in node]
    if type(node) is not dict:
        raise WireError(f"a {type(node).__name__} in a frame")
    tags = [k for k in node if k.startswith("$")]
    if not tags:
        return {k: _build(v, arrays, used, depth + 1) for k, v in node.items()}
    if tags == ["$tuple"] and len(node) == 1 and type(node["$tuple"]) is list:
        return tuple(_build(v, arrays, used, depth + 1) for v in node["$tuple"])
    if tags == ["$ref"] and set(node) == {"$ref", "type"} and type(node["$ref"]) is int and type(node["type"]) is str:
        return Ref(node["$ref"], node["type"][:200])
    if tags == ["$array"] and set(node) == {"$array", "dtype", "shape"}:
        return _array(node, arrays, used)
    raise WireError(f"an unknown tagged value {sorted(node)[:4]}")


def _array(node: dict, arrays: Sequence[bytes], used: set) -> np.ndarray:
    k, dtype, shape = node["$array"], node["dtype"], node["shape"]
    if type(k) is not int or not 0 <= k < len(arrays) or k in used:
        raise WireError("an array reference that is out of range or used twice")
    if type(dtype) is not str or dtype not in _DTYPES:
        raise WireError(f"an array of dtype {dtype!r} (numeric dtypes only)")
    if type(shape) is not list or len(shape) > 32 or any(type(d) is not int or d < 0 for d in shape):
        raise WireError("an array with a malformed shape")
    data = arrays[k]
    if math.prod(shape) * _DTYPES[dtype].itemsize != len(data):
        raise WireError("an array whose bytes do not match its shape and dtype")
    used.add(k)
    return np.frombuffer(data, dtype=_DTYPES[dtype]).reshape(shape).copy()


# ---- frames on a socket ---------------------------------------------------------------------------

def send(sock: socket.socket, value: Any, fds: Sequence[int] = ()) -> None:
    """Sends ``value`` as one frame (with ``fds`` attached to its first byte)."""
    text, arrays = encode(value)
    size = len(text) + sum(len(a) for a in arrays) + 8 * len(arrays)
    if size > MAX_FRAME:
        raise TypeError(f"a value of {size} bytes (more than the wire's {MAX_FRAME >> 20} MB)")
    parts = [_HEADER.pack(len(text), len(arrays)), text]
    for a in arrays:
        parts += [struct.pack("!Q", len(a)), a]
    payload = b"".join(parts)
    if fds:
        socket.send_fds(sock, [payload[:1]], list(fds))
        payload = payload[1:]
    sock.sendall(payload)


def recv(sock: socket.socket, deadline: Optional[float] = None, want_fds: int = 0) -> Any:
    """One frame's value (and, with ``want_fds``, the descriptors that came with it, as a tuple).
    With a ``deadline`` (a time.monotonic() value) raises TimeoutError when it passes first."""
    fds: List[int] = []
    first = b""
    if want_fds:
        _wait(sock, deadline)
        first, fds, _, _ = socket.recv_fds(sock, 1, want_fds)
        if not first:
            raise ChannelClosed()
    head = first + _read(sock, _HEADER.size - len(first), deadline)
    text_size, count = _HEADER.unpack(head)
    if text_size > MAX_FRAME or count > MAX_ARRAYS:
        raise WireError(f"a frame announcing {text_size} bytes and {count} arrays")
    total = text_size
    text = _read(sock, text_size, deadline)
    arrays = []
    for _ in range(count):
        (size,) = struct.unpack("!Q", _read(sock, 8, deadline))
        total += size + 8
        if total > MAX_FRAME:
            raise WireError(f"a frame of more than {MAX_FRAME >> 20} MB")
        arrays.append(_read(sock, size, deadline))
    value = decode(text, arrays)
    return (value, fds) if want_fds else value


def _wait(sock: socket.socket, deadline: Optional[float]) -> None:
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError()
        sock.settimeout(remaining)
    else:
        sock.settimeout(None)


def _read(sock: socket.socket, n: int, deadline: Optional[float]) -> bytes:
    chunks, got = [], 0
    try:
        while got < n:
            _wait(sock, deadline)
            try:
                chunk = sock.recv(min(n - got, 1 << 20))
            except socket.timeout:
                raise TimeoutError() from None
            if not chunk:
                raise ChannelClosed()
            chunks.append(chunk)
            got += len(chunk)
    finally:
        sock.settimeout(None)
    return b"".join(chunks)
