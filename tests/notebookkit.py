"""Run docs/notebooks/analytics.ipynb top to bottom in a real Jupyter kernel (nbclient + ipykernel) against a
SQL endpoint, for the endpoint tests (tests/analytics) and the stack's (tests/stack)."""

from __future__ import annotations

from vodflow.settings import REPO_ROOT

NOTEBOOK = REPO_ROOT / "docs" / "notebooks" / "analytics.ipynb"


def run_notebook(url: str, workdir, monkeypatch) -> list[dict]:
    """Execute the notebook against the Spark Connect ``url``; every code cell's outputs (a failing cell raises
    nbclient's CellExecutionError with the cell and its traceback)."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("VODFLOW_SQL_URL", url)               # the kernel inherits the environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def output_text(outs: list[dict]) -> str:
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outs)
