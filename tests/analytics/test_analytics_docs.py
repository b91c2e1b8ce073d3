"""docs/analytics.md carries the schema of every analytics table, generated from tables.py."""

from vodflow.analytics.query import tables_markdown
from vodflow.analytics.tables import TABLES
from vodflow.settings import REPO_ROOT


def test_analytics_docs_tables_are_current():
    text = (REPO_ROOT / "docs" / "analytics.md").read_text()
    assert tables_markdown() in text, \
        "docs/analytics.md table schemas are stale: paste the output of `vodflow tables --markdown`"


def test_tables_markdown_has_every_column():
    md = tables_markdown()
    for t in TABLES.values():
        assert f"### `vodflow.{t.name}`" in md
        assert all(f"| `{n}` | `{typ}` | " in md for n, typ, _ in t.columns), t.name


def test_analytics_docs_sections():
    text = (REPO_ROOT / "docs" / "analytics.md").read_text()
    for heading in ("## How to query", "## Definitions", "## How the numbers are made", "## Example queries",
                    "## Tables"):
        assert f"\n{heading}\n" in text, heading
