"""A static look at a submission for the course staff: imports and calls that graded code has no
need for and that point at an attempt on the grader (reaching into memory, the interpreter's
frames, other processes, gatelab's internals). The scan reads the code, never runs it, and
changes no score: the sandbox and the latch are what stop such code. Its findings go into the
results' notes for the staff, with where each one is.
"""

from __future__ import annotations

import ast
from typing import List

__all__ = ["scan_submission", "SUSPICIOUS_MODULES", "SUSPICIOUS_NAMES"]

# module -> why a notebook on gradients would not need it
SUSPICIOUS_MODULES = {
    "ctypes": "reaches past Python into the process's memory", "cffi": "calls native code",
    "gc": "walks every live object", "inspect": "reads the interpreter's frames and sources",
    "importlib": "loads modules by hand", "subprocess": "starts programs", "multiprocessing": "starts processes",
    "socket": "network", "builtins": "replaces built-in functions", "marshal": "raw code objects",
    "mmap": "raw memory maps", "resource": "the process's limits",
    "gatelab._core": "gatelab's compiled core directly", "gatelab.grading": "the grader itself",
    "pytest": "the test runner", "torch": "an autodiff library", "jax": "an autodiff library",
    "tensorflow": "an autodiff library", "autograd": "an autodiff library",
}
SUSPICIOUS_NAMES = {
    "__import__": "imports by name", "exec": "runs code from a string", "eval": "runs code from a string",
    "__array_interface__": "NumPy arrays over raw addresses", "as_strided": "NumPy views over raw memory",
    "_getframe": "the interpreter's frames", "__code__": "functions' code objects",
    "__globals__": "functions' globals", "__subclasses__": "every class in the process",
    "__builtins__": "the built-ins", "lock_down": "the grader's latch", "latched": "the grader's latch",
}


def _module_hit(name: str) -> str:
    for module, why in SUSPICIOUS_MODULES.items():
        if name == module or name.startswith(module + "."):
            return f"imports {name} ({why})"
    return ""


def scan_unit(source: str, label: str) -> List[str]:
    """Findings in one unit's source ('' sources and syntax errors have none)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found: List[str] = []
    for node in ast.walk(tree):
        hit = ""
        if isinstance(node, ast.Import):
            hit = "; ".join(h for h in (_module_hit(a.name) for a in node.names) if h)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            hit = _module_hit(node.module) or "; ".join(
                h for h in (_module_hit(f"{node.module}.{a.name}") for a in node.names) if h)
        elif isinstance(node, ast.Name) and node.id in SUSPICIOUS_NAMES:
            hit = f"uses {node.id} ({SUSPICIOUS_NAMES[node.id]})"
        elif isinstance(node, ast.Attribute) and node.attr in SUSPICIOUS_NAMES:
            hit = f"uses .{node.attr} ({SUSPICIOUS_NAMES[node.attr]})"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/proc"):
            hit = f"names {node.value[:40]!r} (other processes' memory and files)"
        if hit:
            found.append(f"{label}, line {getattr(node, 'lineno', '?')}: {hit}")
    return found


def scan_submission(submission) -> List[str]:
    """Findings over every unit of a parsed ``Submission`` (deduplicated, at most 20)."""
    found: List[str] = []
    for unit in submission.units:
        for item in scan_unit(unit.source, unit.label.split(" (")[0]):
            if item not in found:
                found.append(item)
    if len(found) > 20:
        found = found[:20] + [f"... and {len(found) - 20} more"]
    return [f"static scan: {item}" for item in found]
