"""Notebook housekeeping: strip outputs and execution counts before committing.

``python -m tests.nbtools``  strip every notebook in ``notebooks/`` in place.

Notebooks are committed without outputs; each ends with a self-check cell whose
assertions the test suite runs (``pytest --nbval-lax`` fails on any exception).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and cell metadata of every code cell."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata = {}
    nb.metadata.pop("widgets", None)
    return nb


def main() -> int:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nbformat.write(strip(nbformat.read(path, as_version=4)), path)
        print(f"stripped: {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
