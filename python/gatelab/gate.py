"""Gate: the base class for gates written in Python.

Subclass it, write ``forward`` and ``backward``, and the C++ graph runs your gate like a
built-in one::

    class Square(gl.Gate):
        def forward(self, x):
            self.x = x                     # save what backward needs
            return x * x
        def backward(self, dout):          # dout = dL/d(output)
            return (2 * self.x * dout,)    # one gradient per input, shaped like that input

    s = g.apply(Square(), x)

Inputs arrive as read-only NumPy arrays (shape () for scalars). forward returns an array of the
inputs' dtype; backward returns a tuple with one gradient per input (None: no gradient). An
optional ``jvp(*tangents)`` gives forward mode. Each instance serves one node: its saved state
belongs to that node.
"""

from __future__ import annotations

__all__ = ["Gate"]


class Gate:
    """Base class for a gate written in Python (see the module docstring)."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__}.forward(*inputs) is not written yet")

    def backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__}.backward(dout) is not written yet")

    def __call__(self, *inputs):
        """Applies the gate: to graph nodes (adding a node) or to arrays (running forward)."""
        from gatelab.functional import apply

        return apply(self, *inputs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} gate (Python)>"
