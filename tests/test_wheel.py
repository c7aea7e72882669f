"""The distribution: `make wheel` builds a self-contained wheel per CPython 3.9-3.13 found on
this machine, the sdist, and dist/wheelhouse/ (a PEP 503 index); this file tests them.

What a student's machine has is simulated, not assumed: each wheel is installed with pip from
dist/wheelhouse (offline: --no-index, NumPy fetched beforehand into a folder of its own) into a
fresh venv of its Python and run from there with a sanitized environment, once as is and once in
a private mount namespace where this machine's compiler, C/C++ headers (xtensor, xtl, xsimd,
cblas.h), Debian's OpenBLAS builds and its libgomp, libgfortran and libquadmath are hidden.
Every shared library the process maps for gatelab must come from the wheel's gatelab.libs/ or
from the manylinux baseline that the wheel's tag promises (auditwheel's own policy file says
which libraries that is). There, the lecture fixtures, gradient checks (conv2d among them), every
gatelab module's import and README's tour run. The wheelhouse answers pip as a folder and over
HTTP, with --find-links and with --index-url.

The sdist builds from source where the Debian packages are present and, where they are not,
stops with a message naming them.

This file builds nothing: `make wheel` builds and then runs it (and `make dist-test`, CI's second
half, runs it again); `make test` leaves it out. Run by hand with no wheels in dist/, or with
dist/ older than the sources, it skips and says so; under make (GATELAB_DIST_TEST=1) either is a
failure. Nothing is written outside dist/, build/ and pytest's tmp_path: pip runs with
--no-cache-dir (NumPy's downloads use build/pip-cache) and every subprocess gets TMPDIR inside
tmp_path.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
WHEELHOUSE = DIST / "wheelhouse"
PIP_CACHE = ROOT / "build" / "pip-cache"   # NumPy's wheels for the student venvs, kept between runs
REQUIRED = os.environ.get("GATELAB_DIST_TEST") == "1"   # under make wheel / make dist-test
CPYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
VENV_PY = ROOT / ".venv" / "bin" / "python"   # the Makefile's venv; `make wheel` installs auditwheel there
MULTIARCH = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
SYSLIB = Path("/usr/lib") / MULTIARCH
# The libraries auditwheel must have copied into gatelab.libs/ (name prefixes; hashes follow).
BUNDLED = ("libopenblas", "libgomp", "libgfortran", "libquadmath")
# Debian packages the source build needs (CMakeLists.txt names them when one is missing).
HEADER_PACKAGES = ("libxtensor-dev", "libxtensor-blas-dev", "xtl-dev", "libxsimd-dev")
APT_PACKAGES = HEADER_PACKAGES + ("libopenblas-dev",)
MAX_WHEEL_BYTES = 30 * 1024 * 1024


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    """Runs cmd and captures stdout and stderr together."""
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, **kwargs)


def sanitized_env(home: Path, venv: Path | None = None) -> dict:
    """A student's environment: no LD_LIBRARY_PATH, LD_PRELOAD, PYTHONPATH, CMAKE_* or PIP_*.
    OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are this machine's settings and pass through."""
    env = {"PATH": os.pathsep.join(([str(venv / "bin")] if venv else []) + ["/usr/bin", "/bin"]),
           "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8"}
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def with_tmpdir(tmp: Path) -> dict:
    """This process's environment, with temporary files kept inside tmp."""
    return {**os.environ, "TMPDIR": str(tmp)}


# ----------------------------------------------------------------------------------------------
# Which CPythons this machine has: .ci/build-wheels's rule (pyenv's versions folder, newest patch
# release first, then python3.X on the PATH; one without venv/ensurepip does not count).

def pyenv_root() -> Path:
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def _version_key(path: Path) -> tuple:
    return tuple(int(x) if x.isdigit() else -1 for x in re.split(r"[.]", path.parents[1].name))


def find_python(version: str):
    candidates = sorted(pyenv_root().glob(f"versions/{version}.*/bin/python{version}"), key=_version_key, reverse=True)
    on_path = shutil.which(f"python{version}")
    for cand in candidates + ([Path(on_path)] if on_path else []):
        check = subprocess.run([str(cand), "-c", "import sys, venv, ensurepip; "
                                f"sys.exit(sys.version_info[:2] != {tuple(map(int, version.split('.')))} "
                                "or sys.implementation.name != 'cpython')"], capture_output=True)
        if check.returncode == 0:
            return cand
    return None


WANTED = os.environ.get("WHEEL_PYTHONS", " ".join(CPYTHONS)).split()
PYTHONS = {v: p for v in WANTED if (p := find_python(v)) is not None}
WHEELS = sorted(DIST.glob("gatelab-*.whl"))


def _dist_is_current() -> tuple:
    """(current, why not): make's own answer for dist/.built."""
    if not (DIST / ".built").exists():
        return False, "dist/.built is missing (make wheel did not finish)"
    q = subprocess.run(["make", "-q", "--no-print-directory", "dist/.built"], cwd=ROOT, capture_output=True, text=True)
    return q.returncode == 0, "dist/ is older than the sources (make -q dist/.built)"


if not WHEELS:
    reason = "dist/ holds no wheels: `make wheel` builds them and runs this file (CI: make dist-test)"
elif not PYTHONS:
    reason = f"none of CPython {' '.join(WANTED)} is on this machine"
else:
    current, reason = _dist_is_current()
    reason = None if current else reason + ": `make wheel` rebuilds and runs this file"
if reason is not None:
    if REQUIRED:
        raise RuntimeError(f"tests/test_wheel.py: {reason}")
    pytest.skip(reason, allow_module_level=True)


# ----------------------------------------------------------------------------------------------
# Hiding system files: a private mount namespace (unshare) mounts an empty tmpfs over each hidden
# directory and an empty file over each hidden file. Only the child sees it; nothing is removed.

def unshare_prefix() -> list:
    return ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])


def hiding(cmd, dirs, files, scratch: Path) -> list:
    """cmd, run where `dirs` look empty and `files` are empty."""
    empty = scratch / "hidden-empty-file"
    empty.touch()
    script = ["set -e"]
    script += [f"mount -t tmpfs gatelab-hidden {shlex.quote(str(d))}" for d in dirs]
    script += [f"mount --bind {shlex.quote(str(empty))} {shlex.quote(str(f))}" for f in files]
    script.append('exec "$@"')
    return unshare_prefix() + ["sh", "-c", "\n".join(script), "sh"] + [str(c) for c in cmd]


@pytest.fixture(scope="session")
def namespaces():
    probe = run(unshare_prefix() + ["sh", "-c", "mount -t tmpfs gatelab-probe /mnt"])
    if probe.returncode != 0:
        pytest.skip("hiding system files needs a private mount namespace (unshare --mount), "
                    f"which this machine refuses: {probe.stdout.strip()}")


def student_machine_hidden() -> tuple[list, list]:
    """What a student's machine lacks: compiler internals, headers, Debian's OpenBLAS builds and
    the GCC runtime libraries OpenBLAS and OpenMP need."""
    dirs = [Path("/usr/include"), Path("/usr/lib/gcc")] + sorted(SYSLIB.glob("openblas*"))
    files = []
    for soname in ("libgomp.so.1", "libgfortran.so.5", "libquadmath.so.0"):
        path = SYSLIB / soname
        if path.exists():
            files.append(path.resolve())
    return [d for d in dirs if d.is_dir()], files


# ----------------------------------------------------------------------------------------------
# The artefacts

@dataclass
class Dist:
    version: str          # "3.12"
    python: Path          # that CPython's interpreter
    wheel: Path
    sdist: Path
    tag: str              # e.g. manylinux_2_34_x86_64
    baseline: frozenset   # sonames the tag's manylinux policy lets a wheel take from the system


def manylinux_baseline(tag: str) -> frozenset:
    """The lib_whitelist of auditwheel's policy for `tag`, plus the dynamic loader."""
    code = ("import json, sys, importlib.resources as r\n"
            "policies = json.loads((r.files('auditwheel.policy') / 'manylinux-policy.json').read_text())\n"
            "names = [p['lib_whitelist'] for p in policies if p['name'] == sys.argv[1] or sys.argv[1] in p['aliases']]\n"
            "print(json.dumps(names[0]))")
    name = tag[: -len("_x86_64")] if tag.endswith("_x86_64") else tag
    out = subprocess.run([str(VENV_PY), "-c", code, name], capture_output=True, text=True, check=True)
    return frozenset(json.loads(out.stdout)) | {"ld-linux-x86-64.so.2"}


def cp(version: str) -> str:
    return "cp" + version.replace(".", "")


def test_one_wheel_per_cpython_found():
    """Each CPython found has its wheel in dist/ and in the wheelhouse; there is one sdist."""
    for version in WANTED:
        if version not in PYTHONS:
            print(f"CPython {version}: not on this machine, no wheel expected")
    tags = sorted(w.name.split("-")[2] for w in WHEELS)
    assert tags == sorted(cp(v) for v in PYTHONS), f"wheels {[w.name for w in WHEELS]} for CPython {sorted(PYTHONS)}"
    assert len(list(DIST.glob("gatelab-*.tar.gz"))) == 1, os.listdir(DIST)


@pytest.fixture(scope="session", params=sorted(PYTHONS, key=lambda v: tuple(map(int, v.split(".")))), ids=cp)
def dist(request) -> Dist:
    version = request.param
    wheels = [w for w in WHEELS if w.name.split("-")[2] == cp(version)]
    (sdist,) = DIST.glob("gatelab-*.tar.gz")
    assert len(wheels) == 1, f"dist/ should hold one wheel for CPython {version}: {os.listdir(DIST)}"
    tags = wheels[0].name[: -len(".whl")].split("-")[-1].split(".")
    manylinux = [t for t in tags if t.startswith("manylinux_")]
    assert manylinux, f"{wheels[0].name} has no manylinux tag: auditwheel did not repair it"
    return Dist(version, PYTHONS[version], wheels[0], sdist, manylinux[0], manylinux_baseline(manylinux[0]))


@pytest.fixture(scope="session")
def sdist() -> Path:
    (path,) = DIST.glob("gatelab-*.tar.gz")
    return path


def in_baseline(path: str, baseline: frozenset) -> bool:
    name = os.path.basename(path)
    return any(name == lib or name.startswith(lib + ".") for lib in baseline)


def dynamic_section(path: Path) -> tuple[list, list]:
    """(NEEDED sonames, RPATH/RUNPATH entries) of an ELF file."""
    out = run(["readelf", "-d", path])
    assert out.returncode == 0, out.stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out.stdout)
    paths = [p for entry in re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r\w*path: \[(.*?)\]", out.stdout)
             for p in entry.split(":")]
    return needed, paths


# ----------------------------------------------------------------------------------------------
# The wheel itself

def glibc_version() -> tuple:
    return tuple(int(v) for v in os.confstr("CS_GNU_LIBC_VERSION").split()[1].split(".")[:2])


def test_wheel_is_manylinux_for_this_glibc_and_small(dist, tmp_path):
    major, minor = (int(v) for v in re.match(r"manylinux_(\d+)_(\d+)_", dist.tag).groups())
    assert (major, minor) <= glibc_version(), f"{dist.tag} needs a newer glibc than this machine's"
    shown = run([VENV_PY.parent / "auditwheel", "show", dist.wheel], env=with_tmpdir(tmp_path))
    assert shown.returncode == 0, shown.stdout
    assert re.search(rf'consistent with\s+the following platform tag:\s+"{dist.tag}"', shown.stdout), shown.stdout
    size = dist.wheel.stat().st_size
    assert size < MAX_WHEEL_BYTES, f"wheel is {size / 2**20:.1f} MiB; the aim is under 30 MiB"


def test_wheel_bundles_exactly_the_libraries_beyond_the_baseline(dist, tmp_path):
    with zipfile.ZipFile(dist.wheel) as whl:
        whl.extractall(tmp_path)
    libs = sorted((tmp_path / "gatelab.libs").iterdir())
    kinds = {prefix: [lib.name for lib in libs if lib.name.startswith(prefix)] for prefix in BUNDLED}
    assert all(kinds.values()), f"missing from gatelab.libs: {[k for k, v in kinds.items() if not v]}"
    assert len(libs) == len(BUNDLED), f"unexpected libraries bundled: {[lib.name for lib in libs]}"

    bundled = {lib.name for lib in libs}
    (core,) = (tmp_path / "gatelab").glob("_core*.so")
    for elf in [core] + libs:
        needed, rpath = dynamic_section(elf)
        outside = [n for n in needed if n not in bundled and not in_baseline(n, dist.baseline)]
        assert not outside, f"{elf.name} needs {outside}: neither bundled nor in the {dist.tag} baseline"
        assert all(p.startswith("$ORIGIN") for p in rpath), f"{elf.name} searches outside the wheel: {rpath}"
    needed, rpath = dynamic_section(core)
    for prefix in ("libopenblas", "libgomp"):   # the core links the bundled copies, by their new names
        assert any(n.startswith(prefix) and n in bundled for n in needed), needed
    assert rpath == ["$ORIGIN/../gatelab.libs"]


def test_wheel_ships_the_licences_of_the_bundled_libraries(dist):
    with zipfile.ZipFile(dist.wheel) as whl:
        names = set(whl.namelist())
        for lib in ("libopenblas0-openmp", "libgomp1", "libgfortran5", "libquadmath0"):
            name = f"gatelab/third_party_licenses/{lib}.txt"
            assert name in names, f"{name} missing from the wheel"
        assert b"BSD" in whl.read("gatelab/third_party_licenses/libopenblas0-openmp.txt")


def _function_ranges(core: Path) -> list:
    """(start, end) of every function, from the unwind table (present in a stripped library)."""
    frames = run(["readelf", "--debug-dump=frames", core]).stdout
    return sorted((int(a, 16), int(b, 16)) for a, b in re.findall(r"FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", frames))


def _dispatched_functions(core: Path, ranges: list, disassemble) -> set:
    """Start addresses of the functions an ifunc resolver can pick (GCC's target_clones): the code
    addresses that the resolvers (IRELATIVE relocations) load, in their own code and in the cold
    parts they jump to (one level: GCC splits a resolver in two, no more)."""
    starts = {a for a, _ in ranges}

    def span_of(address):
        return next(((a, b) for a, b in ranges if a <= address < b), None)

    chosen = set()
    for resolver in {int(a, 16) for a in re.findall(r"R_X86_64_IRELATIV\s+([0-9a-f]+)",
                                                    run(["readelf", "-r", core]).stdout)}:
        hot = span_of(resolver)
        spans = [hot] if hot else []
        for line in disassemble(*hot) if hot else []:
            jump = re.search(r"\sj[a-z]+\s+([0-9a-f]+) <", line)
            if jump and not hot[0] <= int(jump.group(1), 16) < hot[1] and span_of(int(jump.group(1), 16)):
                spans.append(span_of(int(jump.group(1), 16)))
        for span in set(spans):
            for line in disassemble(*span):
                target = re.search(r"\slea\s.*#\s([0-9a-f]+) <", line)
                if target and int(target.group(1), 16) in starts:
                    chosen.add(int(target.group(1), 16))
    return chosen


def test_wheel_code_is_portable(dist, tmp_path):
    """Built without -march=native: the baseline code uses no AVX/AVX-512 registers (x86-64 is
    SSE2). The hottest kernels are also compiled for AVX2 and AVX-512 (GATELAB_VECTORIZE, GCC's
    target_clones): those copies may use wide registers, as they run only where an ifunc resolver
    found the CPU supports them. So every AVX instruction must sit in a function that a resolver
    picks. OpenBLAS picks its kernels at run time (DYNAMIC_ARCH), so it is not checked here."""
    with zipfile.ZipFile(dist.wheel) as whl:
        (name,) = [n for n in whl.namelist() if re.match(r"gatelab/_core.*\.so$", n)]
        core = Path(whl.extract(name, tmp_path))
    disassembly = run(["objdump", "-d", "--no-show-raw-insn", core]).stdout.splitlines()
    assert any(line.strip().endswith("ret") for line in disassembly)
    by_address = [(int(m.group(1), 16), line) for line in disassembly if (m := re.match(r"\s+([0-9a-f]+):\t", line))]

    addresses = [address for address, _ in by_address]

    def disassemble(start, end):
        return [line for _, line in by_address[bisect.bisect_left(addresses, start):bisect.bisect_left(addresses, end)]]

    ranges = _function_ranges(core)
    dispatched = [(a, b) for a, b in ranges if a in _dispatched_functions(core, ranges, disassemble)]
    wide = [(address, line) for address, line in by_address if re.search(r"%[yz]mm\d", line)]
    assert wide and dispatched, "expected the AVX2/AVX-512 kernel clones and their resolvers in the core"
    stray = [line for address, line in wide if not any(a <= address < b for a, b in dispatched)]
    assert not stray, f"{len(stray)} AVX instructions outside the dispatched kernel clones, e.g. {stray[:3]}"


# ----------------------------------------------------------------------------------------------
# A student's install: a fresh venv of the wheel's Python, gatelab from dist/wheelhouse and NumPy

@dataclass
class StudentVenv:
    root: Path
    venv: Path
    python: Path
    site: Path
    deps: Path            # NumPy (and tomli below 3.11) for this Python, fetched from PyPI beforehand
    installed: str        # pip's report of the install


def runtime_requirements() -> list:
    """pyproject.toml's [project] dependencies (NumPy, and tomli below Python 3.11)."""
    import tomllib   # this suite runs in .venv (Python 3.11+ for make)
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def new_venv(python: Path, root: Path) -> Path:
    venv = root / "venv"
    made = run([python, "-m", "venv", venv], env=sanitized_env(root))
    assert made.returncode == 0, made.stdout
    return venv / "bin" / "python"


def fetch_dependencies(python: Path, root: Path) -> Path:
    """gatelab's runtime dependencies for `python`'s version, from PyPI into a folder (pip's config
    on this machine is ignored: --isolated), so the installs themselves run with --no-index."""
    deps = root / "deps"
    fetched = run([python, "-m", "pip", "download", "-q", "--isolated", "--cache-dir", PIP_CACHE,
                   "--only-binary=:all:", "-d", deps, *runtime_requirements()], env=with_tmpdir(root))
    assert fetched.returncode == 0, fetched.stdout
    return deps


@pytest.fixture(scope="session")
def student(dist, tmp_path_factory) -> StudentVenv:
    """`pip install gatelab` from the wheelhouse, read as a PEP 503 index (--index-url), offline."""
    root = tmp_path_factory.mktemp(f"student-{cp(dist.version)}")
    env = sanitized_env(root)
    python = new_venv(dist.python, root)
    deps = fetch_dependencies(python, root)
    installed = run([python, "-m", "pip", "install", "--isolated", "--no-cache-dir",
                     "--index-url", WHEELHOUSE.as_uri() + "/", "--find-links", deps, "gatelab"], env=env)
    assert installed.returncode == 0, installed.stdout
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"], env=env)
    return StudentVenv(root, python.parent.parent, python, Path(site.stdout.strip()), deps, installed.stdout)


def test_the_wheelhouse_gave_each_python_its_own_wheel(dist, student):
    assert f"Successfully installed" in student.installed and "gatelab-0" in student.installed, student.installed
    record = run([student.python, "-m", "pip", "show", "-f", "gatelab"], env=sanitized_env(student.root))
    assert f"Location: {student.site}" in record.stdout, record.stdout
    wheel_tag = run([student.python, "-c", "import importlib.metadata as m; print(m.distribution('gatelab').read_text('WHEEL'))"],
                    env=sanitized_env(student.root))
    assert f"Tag: {cp(dist.version)}-{cp(dist.version)}-" in wheel_tag.stdout, wheel_tag.stdout


# Runs inside the student's venv: the lecture fixtures, a gradient check and the OpenMP path,
# then reports which files the process mapped before and after gatelab came in.
PROBE = r'''
import json, os, subprocess, sys

def mapped():
    with open("/proc/self/maps") as maps:
        return sorted({f[5].strip() for f in (line.split(maxsplit=5) for line in maps)
                       if len(f) == 6 and f[5].startswith("/")})

import numpy as np
rng = np.random.default_rng(0)      # numpy.random loads its own modules (and libcrypto): before
a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
images, filters = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
big = rng.standard_normal(1 << 18)
before = mapped()
import gatelab as gl

# Lecture: f = (x + y) z at (-2, 5, -4).
g = gl.Graph()
x, y, z = g.input("x", -2.0), g.input("y", 5.0), g.input("z", -4.0)
f = (x + y) * z
g.forward(); g.backward(f)
lecture_f = [float(f.value), float(x.grad), float(y.grad), float(z.grad)]

# Lecture: the sigmoid neuron 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), w = (2, -3, -3), x = (-1, -2).
g = gl.Graph()
w0, x0, w1, x1, w2 = (g.input(n, v) for n, v in
                      [("w0", 2.0), ("x0", -1.0), ("w1", -3.0), ("x1", -2.0), ("w2", -3.0)])
s = 1.0 / (1.0 + gl.exp(-(w0 * x0 + w1 * x1 + w2)))
g.forward(); g.backward(s)
lecture_neuron = [float(s.value)] + [float(n.grad) for n in (w0, x0, w1, x1, w2)]

checks = {"elementwise": gl.gradcheck(lambda p, q: gl.sigmoid(p * q) + gl.tanh(p) / (1.0 + q * q), [a, b]),
          "conv2d": gl.gradcheck(lambda x, w: gl.conv2d(x, w, padding=1), [images, filters])}

# Every module imports on this Python (3.9 has no `X | Y` types at run time, no match, ...);
# only a missing optional package (an extra's) may stop one.
import importlib, pkgutil
OPTIONAL = {"pytest", "matplotlib", "sklearn", "tqdm", "sympy", "nbformat", "nbclient", "jupytext", "IPython", "torch"}
imports = {}
for info in pkgutil.walk_packages(gl.__path__, "gatelab."):
    try:
        importlib.import_module(info.name)
        imports[info.name] = "ok"
    except ModuleNotFoundError as err:
        imports[info.name] = "optional" if (err.name or "").split(".")[0] in OPTIONAL else f"{type(err).__name__}: {err}"
    except Exception as err:
        imports[info.name] = f"{type(err).__name__}: {err}"

# Above the parallel grain: runs through the bundled libgomp; bitwise equal at 1 and 2 threads.
gl.set_num_threads(1); one = np.array(gl.sigmoid(big))
gl.set_num_threads(2); two = np.array(gl.sigmoid(big))
parallel = {"bitwise_equal": bool(np.array_equal(one, two)),
            "max_error": float(np.max(np.abs(two - 1.0 / (1.0 + np.exp(-big)))))}

after = mapped()
info = {k: str(v) for k, v in gl.build_info().items()}
core = gl._core.__file__
ldd = subprocess.run(["ldd", core], capture_output=True, text=True).stdout

# What this machine offers outside the wheel (only meaningful where system files are hidden).
import ctypes, shutil, sysconfig
def loads(name):
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False
def compiles():
    return shutil.which("g++") is not None and subprocess.run(
        ["g++", "-x", "c++", "-", "-o", os.devnull], input="int main() {}", capture_output=True, text=True).returncode == 0
syslib = "/usr/lib/" + (sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu")
system = {"headers": os.path.isdir("/usr/include/xtensor"), "compiler": compiles(),
          "libgomp": loads("libgomp.so.1"), "libgfortran": loads("libgfortran.so.5"),
          "openblas": any(os.path.isfile(f"{syslib}/{v}/libopenblas.so.0") for v in ("openblas-openmp", "openblas-pthread"))}

print(json.dumps({"file": gl.__file__, "core": core, "base_prefix": sys.base_prefix,
                  "lecture_f": lecture_f, "lecture_neuron": lecture_neuron, "checks": checks, "imports": imports,
                  "parallel": parallel, "info": info, "before": before, "after": after,
                  "ldd": ldd, "system": system}))
'''


def run_probe(student: StudentVenv, scratch: Path, hide: tuple | None = None) -> dict:
    script = scratch / "probe.py"
    script.write_text(PROBE)
    cmd = [student.python, script]
    if hide is not None:
        cmd = hiding(cmd, *hide, scratch)
    out = subprocess.run([str(c) for c in cmd], cwd=scratch, env=sanitized_env(scratch, student.venv),
                         capture_output=True, text=True)
    assert out.returncode == 0, f"the installed wheel failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_probe(result: dict, student: StudentVenv, dist: Dist) -> None:
    site = str(student.site)
    libs = os.path.join(site, "gatelab.libs") + os.sep
    # gatelab came from the wheel, not from the repository or the editable install.
    assert result["file"].startswith(os.path.join(site, "gatelab") + os.sep), result["file"]

    # Lecture fixtures (the lecture's numbers, rounded as on the slides).
    assert result["lecture_f"] == [-12.0, -4.0, -4.0, 3.0]
    value, *grads = result["lecture_neuron"]
    assert value == pytest.approx(0.73, abs=0.005)
    assert grads == pytest.approx([-0.20, 0.39, -0.39, -0.59, 0.20], abs=0.005)
    assert result["checks"] == {"elementwise": True, "conv2d": True}, result["checks"]
    broken = {m: e for m, e in result["imports"].items() if e not in ("ok", "optional")}
    assert not broken, f"modules that do not import on this Python: {broken}"
    assert result["imports"].get("gatelab.graph") == "ok" and len(result["imports"]) > 20, result["imports"]
    assert result["parallel"]["bitwise_equal"] and result["parallel"]["max_error"] < 1e-15, result["parallel"]

    # build_info: OpenMP on, the bundled OpenBLAS (OpenMP build) is the one running.
    info = result["info"]
    assert info["openmp"] == "on", info
    assert info["blas_threading"] == "openmp", info
    blas = os.path.normpath(info["blas_library"])   # dladdr reports the rpath's gatelab/../gatelab.libs
    assert blas.startswith(libs) and os.path.basename(blas).startswith("libopenblas"), \
        f"BLAS from {blas}, not from the wheel's {libs}"
    assert "native" not in info["cxx_flags"], info["cxx_flags"]

    # Every library mapped because of gatelab is the wheel's own, Python's own (a standard-library
    # extension gatelab imports, such as shutil's _bz2 and _lzma, and what those need), or baseline.
    added = set(result["after"]) - set(result["before"])
    python_own = [p for p in added if p.startswith(result["base_prefix"] + os.sep) and p.endswith(".so")]
    needed_by_python = {line.split("=>")[1].split()[0] for p in python_own
                        for line in run(["ldd", p]).stdout.splitlines() if "=> /" in line}
    stray = [p for p in added if not (p.startswith(os.path.join(site, "gatelab") + os.sep) or p.startswith(libs)
                                      or p.startswith(result["base_prefix"] + os.sep)
                                      or os.path.realpath(p) in {os.path.realpath(q) for q in needed_by_python}
                                      or in_baseline(p, dist.baseline))]
    assert not stray, f"gatelab loaded libraries from outside the wheel and the {dist.tag} baseline: {stray}"
    for prefix in ("libopenblas", "libgomp", "libgfortran"):
        ours = [p for p in added if os.path.basename(p).startswith(prefix)]
        assert ours and all(p.startswith(libs) for p in ours), f"{prefix}: {ours}"
    system = [p for p in result["after"] if p.startswith(str(SYSLIB / "openblas"))
              or os.path.basename(p).startswith(("libgomp.so", "libgfortran.so", "libquadmath.so"))]
    assert not system, f"system BLAS/OpenMP libraries mapped: {system}"

    # ldd agrees: each dependency of the core resolves into gatelab.libs or to the baseline.
    for line in result["ldd"].splitlines():
        if "=>" not in line:
            continue
        name, target = (s.strip() for s in line.split("=>", 1))
        assert "not found" not in target, line
        path = os.path.normpath(target.split()[0])
        assert path.startswith(libs) or in_baseline(path, dist.baseline), f"ldd: {line.strip()}"


def test_wheel_runs_from_a_clean_venv(dist, student, tmp_path):
    check_probe(run_probe(student, tmp_path), student, dist)


def test_wheel_runs_with_no_compiler_headers_or_system_blas(dist, student, namespaces, tmp_path):
    dirs, files = student_machine_hidden()
    assert files, f"expected Debian's libgomp/libgfortran in {SYSLIB} to hide"
    result = run_probe(student, tmp_path, hide=(dirs, files))
    # The simulation took effect: nothing from outside the wheel could have stood in.
    assert result["system"] == {"headers": False, "compiler": False, "libgomp": False,
                                "libgfortran": False, "openblas": False}, result["system"]
    check_probe(result, student, dist)


# ----------------------------------------------------------------------------------------------
# The sdist: a developer's source build

def unpacked_sdist(sdist: Path, where: Path) -> Path:
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):   # Python >= 3.12, and 3.9.17+/3.10.12+/3.11.4+
            tar.extractall(where, filter="data")
        else:
            tar.extractall(where)
    (src,) = where.iterdir()
    return src


def build_wheel_from(src: Path, tmp: Path, cmd_prefix=None) -> subprocess.CompletedProcess:
    cmd = [VENV_PY, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp / "out",
           f"-Cbuild-dir={tmp / 'build'}", src]
    if cmd_prefix is not None:
        cmd = cmd_prefix(cmd)
    return run(cmd, env=with_tmpdir(tmp))


def test_sdist_holds_the_sources(sdist):
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("pyproject.toml", "CMakeLists.txt", "README.md", "LICENSE", "python/gatelab/__init__.py",
                   "bindings/module.cpp", "cpp/include/gatelab/gate.hpp"):
        assert needed in names, f"{needed} missing from {sdist.name}"
    assert not [n for n in names if n.endswith((".so", ".pyc", ".whl"))], "build products in the sdist"


def test_sdist_builds_from_source_with_the_debian_packages(dist, tmp_path):
    """`make wheel` builds the sdist and then each wheel from that unpacked sdist, keeping each
    build's log in build/wheels/cp3X.log. That log, when it is newer than the sdist now in dist/,
    is the evidence; otherwise (build/ cleaned) the sdist is built here."""
    log_path = ROOT / "build" / "wheels" / f"{cp(dist.version)}.log"
    if log_path.exists() and log_path.stat().st_mtime >= dist.sdist.stat().st_mtime:
        log = log_path.read_text()
        assert re.search(rf"Successfully built gatelab-[\d.]+-{cp(dist.version)}-", log), log[-3000:]
        assert "/build/wheels/src/gatelab-" in log, "the wheel was not built from the unpacked sdist"
    else:
        if sys.version_info[:2] != tuple(map(int, dist.version.split("."))):
            pytest.skip(f"build/wheels/{cp(dist.version)}.log is gone; rebuilding here is done for .venv's Python only")
        built = build_wheel_from(unpacked_sdist(dist.sdist, tmp_path / "src"), tmp_path)
        assert built.returncode == 0, built.stdout[-6000:]
        assert list((tmp_path / "out").glob("gatelab-*.whl")), built.stdout[-3000:]
        log = built.stdout
    # The source build found Debian's OpenBLAS (its OpenMP build) and turned OpenMP on.
    assert re.search(rf"gatelab: BLAS = {re.escape(str(SYSLIB))}/openblas-openmp/libopenblas\.so", log), log[-3000:]
    assert re.search(r"gatelab: OpenMP [\d.]+ on", log), log[-3000:]


def test_sdist_without_the_debian_packages_names_them(sdist, namespaces, tmp_path):
    # Hide what the header packages installed (their include and CMake-config directories).
    listed = run(["dpkg", "-L", *HEADER_PACKAGES])
    assert listed.returncode == 0, listed.stdout
    owned = [Path(p) for p in listed.stdout.split()
             if Path(p).is_dir() and Path(p).parent.name in ("include", "cmake")]
    assert {p.name for p in owned} >= {"xtensor", "xtensor-blas", "xtl", "xsimd"}, owned
    src = unpacked_sdist(sdist, tmp_path / "src")
    built = build_wheel_from(src, tmp_path, lambda cmd: hiding(cmd, owned, [], tmp_path))
    assert built.returncode != 0, "the build succeeded with xtensor hidden"
    assert "was not found" in built.stdout, built.stdout[-3000:]
    for package in APT_PACKAGES:
        assert package in built.stdout, f"the failure message does not name {package}:\n{built.stdout[-3000:]}"
    assert "gatelab failed to build" in built.stdout, built.stdout[-3000:]   # messages.after-failure
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.whl"))


# ----------------------------------------------------------------------------------------------
# Index metadata and the wheelhouse

def test_twine_check_passes():
    files = sorted(DIST.glob("gatelab-*.whl")) + sorted(DIST.glob("gatelab-*.tar.gz"))
    checked = run([VENV_PY, "-m", "twine", "check", "--strict", *files])
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.count("PASSED") == len(files), checked.stdout


def test_wheel_metadata_is_ready_for_an_index(dist):
    with zipfile.ZipFile(dist.wheel) as whl:
        (meta,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        text = whl.read(meta).decode()
        licences = [n for n in whl.namelist() if ".dist-info/licenses/" in n]
    headers, _, body = text.partition("\n\n")
    assert "Requires-Python: >=3.9" in headers and "License-Expression: MIT" in headers, headers
    assert f"Classifier: Programming Language :: Python :: {dist.version}" in headers, headers
    assert "Description-Content-Type: text/markdown" in headers and body.startswith("# gatelab"), headers
    assert any(n.endswith("/LICENSE") for n in licences), licences


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_wheelhouse_is_a_simple_index():
    """PEP 503: the root lists the project, the project page links every file with its sha256;
    the files sit at the top so that a plain --find-links DIR finds them too."""
    files = sorted(p.name for p in WHEELHOUSE.iterdir() if p.is_file() and p.name != "index.html")
    assert files == sorted(p.name for p in WHEELS) + [next(DIST.glob("gatelab-*.tar.gz")).name], files
    root = (WHEELHOUSE / "index.html").read_text()
    assert '<a href="gatelab/">gatelab</a>' in root, root
    page = (WHEELHOUSE / "gatelab" / "index.html").read_text()
    for name in files:
        digest = sha256(WHEELHOUSE / name)
        assert f'href="../{name}#sha256={digest}"' in page, (name, page)
        assert f'href="{name}#sha256={digest}"' in root, (name, root)
        assert sha256(DIST / name) == digest


@pytest.fixture(scope="session")
def served_wheelhouse():
    """dist/wheelhouse as a course web page would serve it (static files over HTTP)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(WHEELHOUSE))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):   # pip closing a connection early
            pass

    handler.log_message = lambda *a, **k: None
    server = Quiet(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("how", ["find-links folder", "find-links URL", "index-url URL"])
def test_pip_finds_this_pythons_wheel_in_the_wheelhouse(dist, student, served_wheelhouse, how, tmp_path):
    """What README tells an instructor: the folder or its URL with --find-links, the URL with
    --index-url (pip then wants NumPy from elsewhere: here, the deps folder)."""
    source = {"find-links folder": ["--no-index", "--find-links", str(WHEELHOUSE)],
              "find-links URL": ["--no-index", "--find-links", served_wheelhouse],
              "index-url URL": ["--index-url", served_wheelhouse, "--find-links", str(student.deps)]}[how]
    got = run([student.python, "-m", "pip", "download", "-q", "--isolated", "--no-cache-dir", "--no-deps", "-d", tmp_path / "got",
               *source, "gatelab"], env=sanitized_env(tmp_path, student.venv))
    assert got.returncode == 0, got.stdout
    names = sorted(p.name for p in (tmp_path / "got").iterdir())
    assert dist.wheel.name in names, names


README = ROOT / "README.md"


def test_readme_tour_runs_from_the_wheelhouse_install(dist, student, tmp_path):
    """README's Python blocks, run in the venv pip filled from dist/wheelhouse."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python example"
    script = tmp_path / "tour.py"
    script.write_text("\n\n".join(blocks) + "\nimport json\nprint(json.dumps([float(x.grad), float(y.grad), float(z.grad)]))\n")
    out = run([student.python, script], cwd=tmp_path, env=sanitized_env(tmp_path, student.venv))
    assert out.returncode == 0, out.stdout[-4000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [-4.0, -4.0, 3.0], out.stdout[-2000:]


def test_install_hints_name_the_wheel_file_a_student_installed(dist, tmp_path):
    """A student who installed the wheel file itself (no wheelhouse, no gatelab on PyPI) and lacks
    matplotlib is told to install the extra from that very file; pip accepts the command."""
    python = new_venv(dist.python, tmp_path)
    deps = fetch_dependencies(python, tmp_path)
    env = sanitized_env(tmp_path, python.parent.parent)
    installed = run([python, "-m", "pip", "install", "-q", "--isolated", "--no-cache-dir", "--no-index",
                     "--find-links", deps, dist.wheel], env=env)
    assert installed.returncode == 0, installed.stdout
    code = ("from gatelab.training import History, plot_history\n"
            "try:\n    plot_history(History())\nexcept ModuleNotFoundError as err:\n    print(err)\n")
    out = run([python, "-c", code], cwd=tmp_path, env=env)
    message = out.stdout.strip().splitlines()[-1]
    assert "plot_history needs matplotlib" in message, out.stdout
    argv = shlex.split(message.split("Install it with: ", 1)[1])
    assert argv[:4] == ["python", "-m", "pip", "install"], argv
    assert argv[4:] == [f"gatelab[viz] @ {dist.wheel.resolve().as_uri()}"], argv
    dry = run([python, "-m", "pip", "install", "--isolated", "--dry-run", "--no-deps", "--no-index", *argv[4:]], env=env)
    assert dry.returncode == 0 and "does not provide the extra" not in dry.stdout, dry.stdout
