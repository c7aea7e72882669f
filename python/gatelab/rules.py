"""How nodes and gate rules are written as text, for the trace tables, the drawings and the
backward steps: ``v1 = ln x1``, the tangent rule ``ẋ1 / x1``, the local derivative ``(1/x1)``.

Each gate has three templates: its expression, its tangent rule (forward mode,
v̇ = Σ ∂v/∂u · u̇) and one local derivative ∂v/∂u per input (reverse mode multiplies the
upstream adjoint by it). {0}, {1} stand for the inputs' names, {d0}, {d1} for their tangents,
{self} for the node's own name. Gates without a template (Python gates, tensor gates) get the
generic ``name(x, w)`` and ``∂v/∂x``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Tuple

import numpy as np

from gatelab.graph import _inline_constant

__all__ = ["GateRule", "gate_rule", "fmt_number", "mark", "operand", "fill", "expression", "DOT", "BAR"]

DOT, BAR = "\u0307", "\u0304"  # combining dot above (v̇) and macron (v̄)


class GateRule(NamedTuple):
    expr: str
    tangent: str
    locals: Tuple[str, ...]


_RULES = {
    "add": GateRule("{0} + {1}", "{d0} + {d1}", ("1", "1")),
    "subtract": GateRule("{0} − {1}", "{d0} − {d1}", ("1", "(−1)")),
    "multiply": GateRule("{0} × {1}", "{d0} × {1} + {0} × {d1}", ("{1}", "{0}")),
    "divide": GateRule("{0} / {1}", "({d0} × {1} − {0} × {d1}) / {1}²", ("(1/{1})", "(−{0}/{1}²)")),
    "maximum": GateRule("max({0}, {1})", "[{0} > {1}] {d0} + [{1} > {0}] {d1}", ("[{0} > {1}]", "[{1} > {0}]")),
    "negate": GateRule("−{0}", "−{d0}", ("(−1)",)),
    "exp": GateRule("exp {0}", "{self} × {d0}", ("{self}",)),
    "log": GateRule("ln {0}", "{d0} / {0}", ("(1/{0})",)),
    "reciprocal": GateRule("1 / {0}", "−{d0} / {0}²", ("(−1/{0}²)",)),
    "sin": GateRule("sin {0}", "{d0} × cos {0}", ("cos {0}",)),
    "cos": GateRule("cos {0}", "−{d0} × sin {0}", ("(−sin {0})",)),
    "sigmoid": GateRule("σ({0})", "{self}(1 − {self}) × {d0}", ("{self}(1 − {self})",)),
    "tanh": GateRule("tanh {0}", "(1 − {self}²) × {d0}", ("(1 − {self}²)",)),
    "relu": GateRule("max({0}, 0)", "[{0} > 0] × {d0}", ("[{0} > 0]",)),
    "sum": GateRule("Σ {0}", "Σ {d0}", ("1",)),
    "mean": GateRule("mean {0}", "mean {d0}", ("(1/N)",)),
}


def gate_rule(gate_name: str, node) -> GateRule:
    """The templates for the gate of `node` (named `gate_name`)."""
    arity = len(node.inputs)
    if gate_name == "power":
        p = float(node.gate.p)
        p_txt, q_txt = f"{p:g}", f"{p - 1:g}"
        local = f"{p_txt} {{0}}" if p == 2 else f"{p_txt} {{0}}^{q_txt}"
        return GateRule(f"{{0}}^{p_txt}", f"{local} × {{d0}}", (local,))
    rule = _RULES.get(gate_name)
    if rule is not None and len(rule.locals) == arity:
        return rule
    args = ", ".join(f"{{{i}}}" for i in range(arity))
    tangent = " + ".join(f"∂{{self}}/∂{{{i}}} × {{d{i}}}" for i in range(arity))
    return GateRule(f"{gate_name}({args})", tangent, tuple(f"∂{{self}}/∂{{{i}}}" for i in range(arity)))


def fmt_number(v, digits: int = 3) -> str:
    """Numbers as the slides print them: 0.693, 10, -0.959, 11.652; arrays summarised."""
    if v is None:
        return ""
    a = np.asarray(v, dtype=np.float64)
    if a.size == 1:
        x = float(a.reshape(()))
        if x == 0:
            return "0"
        if abs(x) >= 1e5 or abs(x) < 10 ** -digits:
            return f"{x:.{digits + 1}g}"
        text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if a.size <= 4:
        return "[" + ", ".join(fmt_number(e, digits) for e in a.ravel()) + "]"
    return f"{a.shape} ‖·‖={np.linalg.norm(a):.{digits + 1}g}"


def mark(name: str, accent: str) -> str:
    """v1 -> v̇1: the accent goes on the first letter (x̄1, ȳ)."""
    return name[:1] + accent + name[1:] if name else name


def operand(node, label: Callable = None, digits: int = 3) -> str:
    """How a node appears inside another's formula: its label, or an unnamed constant's value."""
    if _inline_constant(node):
        return fmt_number(node.value, digits)
    return label(node) if label is not None else node.name


def fill(template: str, node, label: Callable = None, digits: int = 3) -> str:
    """A template with the node's inputs (and their tangents, and the node) filled in."""
    names = [operand(i, label, digits) for i in node.inputs]
    keys = {"self": operand(node, label, digits)}
    keys.update({f"d{i}": (mark(name, DOT) if src.kind != "constant" else "0")
                 for i, (name, src) in enumerate(zip(names, node.inputs))})
    return template.format(*names, **keys)


def expression(graph, node, label: Callable = None, digits: int = 3) -> str:
    """'ln x1', 'x1 × x2', 'conv2d(x, w)': the right-hand side of a gate node."""
    return fill(gate_rule(graph._g.op_name(node.id), node).expr, node, label, digits)
