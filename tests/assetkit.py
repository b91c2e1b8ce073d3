"""Running a DAG with dag.test() beside the stack, under a test's own lake."""


def pin_stack_asset_uris(monkeypatch) -> None:
    """dag.test() parses the DAG file again in-process when a task starts, under the test's environment:
    pin every table's asset URI to the stack's (what the deployed DAG declares), or Airflow sees a second
    URI for an asset's name and refuses the task (AirflowInactiveAssetInInletOrOutletException). Call it
    before pointing VODFLOW_LAKE_URI at the test's lake."""
    from vodflow.analytics import assets
    from vodflow.analytics import tables as T

    stack_uris = {t.name: assets.table_uri(t) for t in (*T.TABLES.values(), T.RECOMMENDATIONS)}
    monkeypatch.setattr(assets, "table_uri", lambda t, settings=None: stack_uris[t.name])
