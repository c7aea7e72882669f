"""The lecture notebooks are jupytext pairs: every notebooks/*.ipynb has a py:percent twin with the
same cells, and is committed without outputs (tests/test_notebooks.py executes them)."""

import json
import pathlib

import pytest

jupytext = pytest.importorskip("jupytext", reason="the test extra installs jupytext")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
IPYNBS = sorted(NOTEBOOKS.glob("*.ipynb"))
SOURCES = sorted(NOTEBOOKS.glob("*.py"))
FIX = "run: .venv/bin/jupytext --sync notebooks/*.py (then strip outputs: see notebooks/jupytext.toml)"


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks_and_every_one_is_paired():
    assert IPYNBS, "notebooks/ has no .ipynb"
    assert [p.stem for p in IPYNBS] == [p.stem for p in SOURCES], (
        f"every notebook needs both NAME.py and NAME.ipynb: .ipynb {[p.name for p in IPYNBS]}, "
        f".py {[p.name for p in SOURCES]}; {FIX}")
    config = (NOTEBOOKS / "jupytext.toml").read_text()
    assert 'formats = "ipynb,py:percent"' in config


@pytest.mark.parametrize("ipynb", IPYNBS, ids=lambda p: p.stem)
def test_ipynb_matches_its_py_source(ipynb):
    paired = jupytext.read(ipynb.with_suffix(".py"), fmt="py:percent")
    committed = nbformat.read(ipynb, as_version=4)
    assert _cells(committed) == _cells(paired), f"{ipynb.name} and its .py differ; {FIX}"


@pytest.mark.parametrize("ipynb", IPYNBS, ids=lambda p: p.stem)
def test_ipynb_is_committed_without_outputs(ipynb):
    nb = json.loads(ipynb.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{ipynb.name}: cells {dirty} have outputs or execution counts; strip them "
                       "(Jupyter: Edit > Clear Outputs of All Cells, then save)")
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", (
        f"{ipynb.name}: the kernelspec should be python3 (the venv's ipykernel), so Jupyter opens it "
        "without asking")
