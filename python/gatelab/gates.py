"""The built-in gates, implemented in C++. Each works inside a Graph and standalone::

    m = gl.gates.Multiply()
    out = m.forward(a, b)
    da, db = m.backward(dout)

``backward`` returns one gradient per input (a tuple), each shaped like its input.
"""

from gatelab._core import NativeGate
from gatelab._core.gates import *  # noqa: F401,F403
from gatelab._core import gates as _native

__all__ = ["NativeGate"] + [name for name in dir(_native) if not name.startswith("_")]
