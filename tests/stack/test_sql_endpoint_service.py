"""`vodflow up` runs the SQL endpoint (Spark Connect over the stack's lake): a client connects with the
connection string of the README and sees the lake's tables by name. Needs a stack started from this
checkout (`make test` does); tests/analytics/test_sql_endpoint.py checks the queries on a private server."""

from __future__ import annotations

import pytest

from vodflow.analytics.tables import TABLES
from vodflow.settings import REPO_ROOT
from vodflow.stack import health


def test_readme_connection_string_reaches_the_stacks_endpoint(stack):
    from vodflow.stack.services import enabled

    if not enabled(stack, "sql-endpoint"):
        pytest.skip("VODFLOW_SQL_ENDPOINT is off: `vodflow up` does not run the SQL endpoint")
    url = stack["VODFLOW_SQL_URL"]
    if url == "sc://127.0.0.1:15002":                     # the default: what the README tells analysts
        assert f"**`{url}`**" in (REPO_ROOT / "README.md").read_text()
    ok, detail = health.sql_endpoint(stack.home / "run" / "sql-endpoint.json", url)
    assert ok, f"sql-endpoint is not healthy ({detail}): `vodflow status`, `vodflow logs sql-endpoint`"

    from pyspark.sql.connect.session import SparkSession

    spark = SparkSession.builder.remote(url).create()
    try:
        names = {r.tableName for r in spark.sql("SHOW TABLES IN vodflow").collect()}
        assert names and names <= set(TABLES) | {"recommendations"}, names
        first = sorted(names)[0]
        assert spark.table(f"vodflow.{first}").limit(1).count() in (0, 1)
    finally:
        spark.stop()


def test_the_notebook_runs_on_the_stack(stack, monkeypatch, tmp_path):
    """docs/notebooks/analytics.ipynb top to bottom against the stack's endpoint (after `make demo`: with the
    demo's titles and views; on an empty lake its cells say there is nothing yet instead of failing)."""
    from notebookkit import output_text, run_notebook

    from vodflow.stack.services import enabled

    if not enabled(stack, "sql-endpoint"):
        pytest.skip("VODFLOW_SQL_ENDPOINT is off: `vodflow up` does not run the SQL endpoint")
    outs = run_notebook(stack["VODFLOW_SQL_URL"], tmp_path, monkeypatch)
    assert "connected to " + stack["VODFLOW_SQL_URL"] in output_text(outs)
