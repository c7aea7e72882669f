"""Integrity checks inside the sandbox: graded code must be the student's own.

* **Tripwires.** gatelab's reference gates and layers (``gl.affine``, ``gl.gates.Affine``,
  ``gl.layers.conv_forward``, ...) are wrapped. When one is called while a student function that
  is graded on it is running (found on the call stack), the call is recorded and refused. The
  assignment lists which references each graded function must not use, e.g.
  ``"affine_forward" = ["gatelab.affine", "gatelab.gates.Affine"]``; a class name covers its
  methods, a function its nested functions, and ``"*"`` everything.
* **Own code.** A name the tests use must be a function written in the submission, or a class
  defined there that does not inherit a built-in C++ gate (``class G(gl.gates.Affine)`` would
  inherit the answer) — ``affine_forward = gl.affine`` is refused.
* **Blocked imports.** Packages with their own autodiff (torch, jax, ...) cannot be imported by
  graded code.

These checks stop straightforward use of the references. The score never depends on them
alone: the grader also checks every returned value against its own oracle, in its own process.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import types
from typing import Dict, Iterable, List, Optional, Set

__all__ = ["Integrity", "ReferenceUsed", "NotOwnCode"]


class ReferenceUsed(BaseException):
    """Raised into student code that calls a reference it is graded on. A BaseException, so a
    bare ``except Exception`` in the student's code does not swallow it."""


class NotOwnCode(Exception):
    """A graded name is not the student's own code."""


class _ImportBlocker(importlib.abc.MetaPathFinder):
    def __init__(self, blocked: Iterable[str]):
        self.blocked = set(blocked)

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.blocked:
            raise ImportError(f"'{name}' cannot be imported by graded code: this assignment is about writing "
                              "the gradients yourself (no autodiff libraries)")
        return None


class Integrity:
    def __init__(self, student_files: Set[str], forbid: Dict[str, List[str]], blocked_imports: Iterable[str]):
        self.student_files = set(student_files)
        self.forbid = {k: list(v) for k, v in forbid.items()}
        self.blocked_imports = list(blocked_imports)
        self.hits: List[dict] = []

    # ---- installing -----------------------------------------------------------------------
    def install(self) -> None:
        sys.meta_path.insert(0, _ImportBlocker(self.blocked_imports))
        for ref in sorted({r for refs in self.forbid.values() for r in refs}):
            self._wrap(ref)

    def _wrap(self, ref: str) -> None:
        module_name, _, attr = ref.rpartition(".")
        try:
            owner = importlib.import_module(module_name)
            target = getattr(owner, attr)
        except (ImportError, AttributeError):
            return  # a reference this build does not have cannot be called either
        if isinstance(target, type):
            self._wrap_class(target, ref)
            return
        wrapper = self._wrapper(target, ref)
        # Replace every alias under gatelab (gatelab.affine is gatelab.functional.affine).
        for mod in list(sys.modules.values()):
            if isinstance(mod, types.ModuleType) and (mod.__name__ or "").split(".")[0] == module_name.split(".")[0]:
                for key, value in list(vars(mod).items()):
                    if value is target:
                        setattr(mod, key, wrapper)

    def _wrapper(self, target, ref: str):
        touch = self.touch

        def reference(*args, **kwargs):
            touch(ref)
            return target(*args, **kwargs)

        for attr in ("__name__", "__qualname__", "__module__", "__doc__"):
            try:
                setattr(reference, attr, getattr(target, attr))
            except (AttributeError, TypeError):
                pass
        return reference

    def _wrap_class(self, cls: type, ref: str) -> None:
        original = cls.__init__
        touch = self.touch

        def __init__(self, *args, **kwargs):
            touch(ref)
            original(self, *args, **kwargs)

        try:
            cls.__init__ = __init__
        except (TypeError, AttributeError):
            pass

    # ---- checking -----------------------------------------------------------------------
    def _student_functions(self) -> List[str]:
        """Qualified names of the student functions on the current call stack."""
        names = []
        frame = sys._getframe(2)
        while frame is not None:
            code = frame.f_code
            if code.co_filename in self.student_files:
                names.append(getattr(code, "co_qualname", code.co_name))
            frame = frame.f_back
        return names

    def _forbidden_for(self, qualname: str) -> List[str]:
        refs = list(self.forbid.get("*", ()))
        for key, values in self.forbid.items():
            if key != "*" and (qualname == key or qualname.startswith(key + ".")):   # methods, nested functions
                refs.extend(values)
        return refs

    def touch(self, ref: str) -> None:
        for qualname in self._student_functions():
            if ref in self._forbidden_for(qualname):
                self.hits.append({"reference": ref, "function": qualname})
                raise ReferenceUsed(f"{qualname} called gatelab's reference {ref}, which computes what "
                                    f"{qualname} is graded on; write it yourself")

    def take_hits(self) -> List[dict]:
        hits, self.hits = self.hits, []
        return hits

    def check_own(self, name: str, obj) -> Optional[str]:
        """Why ``obj`` (bound to ``name`` in the submission) is not the student's own code, or None."""
        if isinstance(obj, types.FunctionType):
            if obj.__code__.co_filename in self.student_files:
                return None
            origin = f"{obj.__module__}.{obj.__qualname__}"
            return f"{name} is not a function written in your submission (it is {origin}); write it yourself"
        if isinstance(obj, type):
            if obj.__module__ != "submission":
                return f"{name} is not a class defined in your submission (it is {obj.__module__}.{obj.__qualname__})"
            native = [c for c in obj.__mro__ if (c.__module__ or "").startswith("gatelab._core")]
            if native:
                return (f"{name} inherits gatelab's built-in gate {native[0].__qualname__}; subclass gl.Gate and "
                        "write forward and backward yourself")
            return None
        if callable(obj):
            return f"{name} is a {type(obj).__name__}, not a function written in your submission"
        return None
