"""Conventions of the notebooks in ``notebooks/`` (executed themselves by nbval).

A standard first code cell, identical in every notebook; no stored outputs;
a self-check cell with assertions in every notebook; no absolute paths;
numbered file names ``NN-words.ipynb``, consecutive from 01.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
NAME = re.compile(r"\d\d-[a-z0-9-]+\.ipynb")
CHECK_MARK = "# Check:"
FIRST_CELL_MARK = "# simkit standard first cell"
ABSOLUTE = re.compile(r"(?<![\w.])/(work|home|root|Users|tmp|mnt)/|[A-Za-z]:\\\\")


def _code_cells(path: Path) -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert len(PATHS) >= 6


def test_file_names_numbered_and_consecutive():
    names = [p.name for p in PATHS]
    assert all(NAME.fullmatch(n) for n in names), names
    assert [int(n[:2]) for n in names] == list(range(1, len(names) + 1))


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_standard_first_cell(path):
    first = _code_cells(path)[0].source
    reference = _code_cells(PATHS[0])[0].source
    assert first.startswith(FIRST_CELL_MARK)
    assert first == reference
    for needed in ("%matplotlib inline", "SEED =", "SIMKIT_FAST", "DURATION"):
        assert needed in first


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_no_stored_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata  # no stored widget state
    for cell in _code_cells(path):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_every_notebook_checks_itself(path):
    """A cell of assertions, so a notebook that runs but answers wrongly fails the suite."""
    checks = [c.source for c in _code_cells(path) if c.source.lstrip().startswith(CHECK_MARK)]
    assert len(checks) >= 1
    assert all("assert " in source for source in checks)


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_no_absolute_paths(path):
    for cell in nbformat.read(path, as_version=4).cells:
        assert not ABSOLUTE.search(cell.source), cell.source[:80]
