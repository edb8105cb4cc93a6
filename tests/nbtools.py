"""Notebook housekeeping: strip outputs, refresh the seeded check cells.

``python -m tests.nbtools strip``    remove outputs (except ``# NBVAL_CHECK_OUTPUT`` cells)
``python -m tests.nbtools refresh``  execute every notebook in fast mode and store only the
                                     outputs of the check cells (run after a model change)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def is_check_cell(cell: nbformat.NotebookNode) -> bool:
    """True for code cells whose output the test suite compares."""
    return cell.cell_type == "code" and cell.source.lstrip().startswith(CHECK_MARK)


def strip(nb: nbformat.NotebookNode, keep_checks: bool = True) -> nbformat.NotebookNode:
    """Remove outputs and execution counts (check cells keep their outputs)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata = {}
        if keep_checks and is_check_cell(cell):
            cell.execution_count = 1  # nbval only compares cells that were run
            for out in cell.outputs:
                out.pop("execution_count", None)
        else:
            cell.execution_count = None
            cell.outputs = []
    nb.metadata.pop("widgets", None)
    return nb


def refresh(path: Path) -> None:
    """Execute a notebook in fast mode and keep only its check cells' outputs."""
    from nbclient import NotebookClient

    os.environ["SIMKIT_FAST"] = "1"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    nbformat.write(strip(nb), path)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "strip"
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if command == "refresh":
            refresh(path)
        else:
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
        print(f"{command}: {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
