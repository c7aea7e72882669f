"""Which isolation the worker runs in, checked at start-up, and the command that starts it.

Three levels, strongest first; ``choose`` takes the first that works here and says why not the
others, so a report never claims isolation that is not in force:

* ``bubblewrap``: the zygote and its workers run in ``bwrap`` with their own pid, mount, network,
  IPC and UTS namespaces. The file system is read-only and holds only the system's /usr and what
  Python needs (its prefix, site-packages, gatelab, NumPy): no home folders, no assignment, no
  grader work folder, no /proc. /tmp is a private tmpfs of ``disk_mb`` in all. As root the
  workers run as uid 65534 (nobody) outside the namespaces too; as another user, bubblewrap's
  user namespace maps them to uid 65534 inside.
* ``uid-drop`` (root, where namespaces are forbidden, e.g. some container runtimes): workers
  become uid 65534 after everything is prepared, in a scratch folder the grader created, with
  the same limits; they see the host's file system as that user would, and the network.
* ``none`` (``--no-sandbox`` only): workers run as the grader's user; results say so.

In every level the worker latches off what its test grades and can start no program, process
or socket (``gatelab._core.lock_down``), and a pid namespace or a sweep as uid 65534 ends
whatever it left running.
"""

from __future__ import annotations

import os
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["Isolation", "IsolationUnavailable", "choose", "zygote_command", "WORKER_UID", "python_paths", "readable_by_others"]

WORKER_UID = 65534            # nobody
_PROBE_TIMEOUT = 20


class IsolationUnavailable(RuntimeError):
    """No isolation works here; the message says why and how to fix it."""


@dataclass(frozen=True)
class Isolation:
    mode: str                          # "bubblewrap" | "uid-drop" | "none"
    detail: str                        # one sentence for reports
    drop_uid: bool = False             # workers setuid(WORKER_UID) after fork
    bwrap: Optional[str] = None
    user_namespace: bool = False
    warnings: List[str] = field(default_factory=list)

    @property
    def isolated(self) -> bool:
        return self.mode != "none"

    def to_json(self) -> dict:
        return {"mode": self.mode, "isolated": self.isolated, "detail": self.detail,
                "namespaces": ["pid", "mount", "network", "ipc", "uts"] + (["user"] if self.user_namespace else [])
                if self.mode == "bubblewrap" else [],
                "worker_uid": WORKER_UID if (self.drop_uid or self.user_namespace) else os.getuid(),
                "network": "none" if self.mode == "bubblewrap" else "no new sockets (seccomp)",
                "warnings": list(self.warnings)}


_CHOSEN: Dict[bool, Isolation] = {}


def choose(no_sandbox: bool = False) -> Isolation:
    """The isolation in force for this process (probed once); raises IsolationUnavailable."""
    if no_sandbox:
        return Isolation("none", "no isolation (--no-sandbox): student code ran as the grader's user, "
                                 "with the latch and the limits only")
    if False not in _CHOSEN:
        _CHOSEN[False] = _probe()
    return _CHOSEN[False]


def _probe(root: Optional[bool] = None, bwrap: Optional[str] = "", python: Optional[List[Path]] = None) -> Isolation:
    """The strongest isolation that works (arguments: this machine's facts, given by tests)."""
    root = os.getuid() == 0 if root is None else root
    bwrap = shutil.which("bwrap") if bwrap == "" else bwrap
    why_not: List[str] = []
    if bwrap is None:
        why_not.append("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    else:
        problem = _try_bwrap(bwrap, user_namespace=not root)
        if problem is None:
            how = "uid 65534 (nobody)" if root else "uid 65534 inside a user namespace"
            return Isolation("bubblewrap", f"bubblewrap: own pid, mount, network and IPC namespaces, a read-only "
                                           f"system, a private /tmp with a quota, workers as {how}",
                             drop_uid=root, bwrap=bwrap, user_namespace=not root)
        why_not.append(f"bubblewrap cannot create namespaces here ({problem})")
    if root:
        unreadable = [p for p in (python_paths() if python is None else python) if not readable_by_others(p)]
        if unreadable:
            raise IsolationUnavailable(
                "cannot isolate student code: " + "; ".join(why_not) + ", and the fallback (running it as uid "
                f"65534) cannot read Python here ({unreadable[0]} is not readable by other users). Fix: install "
                "bubblewrap where namespaces are allowed, or make Python readable (chmod o+rX on its folders); "
                "or grade with --no-sandbox (results are then marked unisolated).")
        return Isolation("uid-drop", "uid drop: workers run as uid 65534 (nobody) with limits; no namespaces ("
                                     + "; ".join(why_not) + "), so they see the host's files as nobody does",
                         drop_uid=True)
    raise IsolationUnavailable(
        "cannot isolate student code: " + "; ".join(why_not) + ", and without root there is no fallback (it "
        "runs workers as uid 65534). Fix: install bubblewrap and allow unprivileged user namespaces "
        "(sysctl kernel.unprivileged_userns_clone=1), or grade as root; or grade with --no-sandbox (results are "
        "then marked unisolated).")


def _try_bwrap(bwrap: str, user_namespace: bool) -> Optional[str]:
    """Why the sandbox the zygote would run in cannot start this Python with gatelab, or None."""
    cmd = _sandbox_args(bwrap, user_namespace, drop_uid=False, disk_mb=16) + ["--"] + _python() + [
        "-c", "import gatelab._core, numpy"]
    try:
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=_PROBE_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if done.returncode != 0:
        return done.stderr.decode(errors="replace").strip().splitlines()[-1:][0] if done.stderr else \
            f"exit status {done.returncode}"
    return None


def readable_by_others(path: Path) -> bool:
    try:
        p = Path(path).resolve()
        if not p.exists():
            return True
        if not p.stat().st_mode & stat.S_IROTH:
            return False
        return all(a.stat().st_mode & stat.S_IXOTH for a in [p, *p.parents])
    except OSError:
        return False


# ---- the command ---------------------------------------------------------------------------------

def python_paths() -> List[Path]:
    """What the worker's Python needs to read: its prefixes (stdlib, site-packages, a venv) and
    the folders of gatelab and NumPy wherever they are installed (an editable install keeps
    gatelab in a source checkout: only its package folder and compiled core are bound, never the
    checkout, which holds the assignments)."""
    import numpy

    import gatelab
    from gatelab import _core

    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix)}
    paths |= {Path(p) for p in site.getsitepackages()}
    paths |= {Path(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= {Path(gatelab.__file__).parent, Path(_core.__file__).parent, Path(numpy.__file__).parent}
    paths.add(Path(os.path.realpath(sys.executable)).parent)
    resolved = sorted({Path(os.path.realpath(p)) for p in paths if Path(p).exists()}, key=lambda p: len(p.parts))
    kept: List[Path] = []
    for p in resolved:                                 # a folder inside one already bound adds nothing
        if not any(p == k or k in p.parents for k in kept):
            kept.append(p)
    return kept


def _system_binds() -> List[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
                "/etc/localtime", "/etc/passwd", "/etc/group"):
        args += ["--ro-bind-try", etc, etc]
    return args


def _namespace_args(user_namespace: bool) -> List[str]:
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session"]
    if user_namespace:
        args += ["--unshare-user", "--uid", str(WORKER_UID), "--gid", str(WORKER_UID)]
    return args


def _python() -> List[str]:
    # sys.executable as invoked (a venv's bin/python is a link; its pyvenv.cfg makes the venv)
    return [os.path.abspath(sys.executable), "-I", "-B"]


def _sandbox_args(bwrap: str, user_namespace: bool, drop_uid: bool, disk_mb: int) -> List[str]:
    """bubblewrap's arguments up to the command: namespaces, the read-only system, the private
    /tmp, then Python's folders (after /tmp, so a Python installed under /tmp stays visible)."""
    args = [bwrap] + _namespace_args(user_namespace) + ["--as-pid-1"] + _system_binds()
    args += ["--dev", "/dev", "--perms", "1777", "--size", str(int(disk_mb) << 20), "--tmpfs", "/tmp"]
    binds = {str(p) for p in python_paths()}
    if sys.prefix != sys.base_prefix:                   # a venv: its bin/python is a symlink into the base
        binds.add(sys.prefix)
    for p in sorted(binds, key=len):
        args += ["--ro-bind", p, p]
    args += ["--clearenv"]
    for key, value in worker_environment().items():
        args += ["--setenv", key, value]
    args += ["--chdir", "/tmp", "--cap-drop", "ALL"]
    if drop_uid:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]   # the zygote's fork-and-setuid only
    return args


def zygote_command(iso: Isolation, control_fd: int, disk_mb: int) -> List[str]:
    """argv that starts the zygote (``gatelab.grading.zygote``) in the chosen isolation."""
    python = _python() + ["-m", "gatelab.grading.zygote", str(control_fd)]
    if iso.mode != "bubblewrap":
        return python
    return _sandbox_args(iso.bwrap, iso.user_namespace, iso.drop_uid, disk_mb) + ["--"] + python


def worker_environment() -> Dict[str, str]:
    """The environment of the zygote and its workers: nothing of the grader's but the machine's
    BLAS settings (some CPUs need them), one thread everywhere, and a HOME that is writable."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1"}
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env
