"""examples/quickstart.ipynb runs from top to bottom (tiny size, random weights on purpose: see
conftest), so that it cannot rot."""

from __future__ import annotations

import os

import pytest

from tests.conftest import PROJECT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = PROJECT / "examples" / "quickstart.ipynb"


def test_the_quickstart_notebook_runs(tmp_path, monkeypatch):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    [parameters] = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = 'SIZE = 32\nSTEPS = 4\nWEIGHTS = "random"\n'
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]))
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "config in the PNG: True" in text and "looked at steps [0, 1, 2, 3, 4]" in text
    assert "'total'" in text and (tmp_path / "quickstart.png").stat().st_size > 0
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the picture, the live frame, the sheet
