"""The training walkthrough notebook runs from top to bottom."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs the dev extras (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="needs the dev extras (nbclient)")

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "train_walkthrough.ipynb"


@pytest.mark.slow
def test_execute_train_walkthrough_runs_every_cell(tmp_path: Path) -> None:
    """Check that every cell of the walkthrough executes without an error."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(
        o.get("text", "") for o in outputs if o.get("output_type") == "stream"
    )
    assert "scores identically" in text
    assert sys.executable
