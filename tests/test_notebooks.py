"""The notebook tutorials run in a real Jupyter kernel (nbclient + ipykernel), top to bottom,
and show what they promise: the run's HTML summary, its metrics as a table, the bounds."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs").rglob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    if path.stem == "notebook":
        assert any("vaelab run" in h and "best validation bound" in h for h in html)
        table = next(h for h in html if h.startswith("<table><tr><th>epoch</th>"))
        assert table.count("<tr>") == 4  # a header and three epochs
        assert any("test NLL" in h and "nats (K = 500)" in h for h in html)
    assert (tmp_path / "runs" / "notebook" / "eval-test.json").is_file() or \
        path.stem != "notebook"
