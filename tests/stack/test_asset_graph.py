"""The lake as Airflow assets (issue 19): the tasks' declared inlets and outlets make Airflow's asset
graph show upload -> title -> events -> gold -> interactions -> model (vodflow/analytics/assets.py).

In process (no services): the DagBag's parsed DAGs. Through the REST API: what the running Airflow
recorded from the same files - its asset list (producing / consuming tasks) and the data-lineage graph
its UI draws for the model asset. The REST tests need a stack whose Airflow parses THIS checkout's
dags/ (`make test` starts one); against a stack running older DAG files they fail naming the missing link.
"""

from __future__ import annotations

import time
from collections import deque

import pytest

from vodflow.analytics import tables as T
from vodflow.analytics.assets import LAKE_CHAIN, USER_TITLE_ASSET, asset_name
from vodflow.recs.registry import MODEL_ASSET
from vodflow.settings import REPO_ROOT

CHAIN = LAKE_CHAIN + (MODEL_ASSET,)       # uploads, titles, events, sessions (gold), user_title, model
LINEAGE_DAGS = ("video_ingest", "analytics_maintenance", "recs_training")


def missing_links(edges: set[tuple[str, str]]) -> list[str]:
    """Links of :data:`CHAIN` with no path in the lineage graph (nodes ``asset:<name>`` / ``task:<dag>.<task>``)."""
    nxt: dict[str, set[str]] = {}
    for a, b in edges:
        nxt.setdefault(a, set()).add(b)

    def reachable(src: str, dst: str) -> bool:
        seen, todo = {src}, deque([src])
        while todo:
            n = todo.popleft()
            if n == dst:
                return True
            for m in nxt.get(n, ()):
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return False

    return [f"{a} -> {b}" for a, b in zip(CHAIN, CHAIN[1:]) if not reachable(f"asset:{a}", f"asset:{b}")]


# -- in process: the parsed DAG files -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return {d: bag.dags[d] for d in LINEAGE_DAGS}


def declared(dags) -> list[tuple[str, str, str, object]]:
    """``(dag.task, "in"|"out", asset name, asset)`` of every declared inlet and outlet."""
    from airflow.sdk import Asset

    out = []
    for dag in dags.values():
        for t in dag.tasks:
            for kind, objs in (("in", t.inlets), ("out", t.outlets)):
                out += [(f"{dag.dag_id}.{t.task_id}", kind, a.name, a) for a in objs or () if isinstance(a, Asset)]
    return out


def test_the_dag_files_declare_the_chain(dags):
    edges = set()
    for task, kind, name, _ in declared(dags):
        edges.add((f"asset:{name}", f"task:{task}") if kind == "in" else (f"task:{task}", f"asset:{name}"))
    assert missing_links(edges) == []
    # the steps as documented in vodflow/analytics/assets.py
    assert {("video_ingest.transcode", "in", "vodflow_uploads"), ("video_ingest.record_title", "out", CHAIN[1]),
            ("analytics_maintenance.sync_titles", "out", CHAIN[1]),
            ("analytics_maintenance.freshness", "in", asset_name(T.SILVER)),
            ("analytics_maintenance.freshness", "out", asset_name(T.TITLE_DAILY)),
            ("recs_training.train", "in", USER_TITLE_ASSET), ("recs_training.train", "out", MODEL_ASSET),
            ("recs_training.publish", "out", asset_name(T.RECOMMENDATIONS))} <= {d[:3] for d in declared(dags)}


def test_each_asset_is_one_asset_everywhere(dags):
    """Same name, same URI in every DAG (each built once, in vodflow/analytics/assets.py or recs/registry.py)."""
    uris: dict[str, set[str]] = {}
    for _, _, name, a in declared(dags):
        uris.setdefault(name, set()).add(a.uri)
    assert all(len(u) == 1 for u in uris.values()), uris
    assert set(CHAIN) <= set(uris)


def test_only_the_announcement_starts_training(dags):
    """recs_training is scheduled on user_title: no other task may emit an event on it."""
    writers = {task for task, kind, name, _ in declared(dags) if kind == "out" and name == USER_TITLE_ASSET}
    assert writers == {"analytics_maintenance.announce_user_title"}
    assert [a.name for a in dags["recs_training"].timetable.asset_condition.objects] == [USER_TITLE_ASSET]


# -- through the REST API of the running Airflow ----------------------------------------------------------------

@pytest.fixture(scope="module")
def airflow(stack):
    from vodflow.airflow_client import AirflowClient

    client = AirflowClient(stack)
    for d in LINEAGE_DAGS:
        client.wait_for_dag(d)
    return client


def _rest_edges(assets: list[dict]) -> set[tuple[str, str]]:
    edges = set()
    for a in assets:
        for t in a["consuming_tasks"]:
            edges.add((f"asset:{a['name']}", f"task:{t['dag_id']}.{t['task_id']}"))
        for t in a["producing_tasks"]:
            edges.add((f"task:{t['dag_id']}.{t['task_id']}", f"asset:{a['name']}"))
    return edges


def _settled(check, timeout: float = 60.0):
    """``check()`` -> (ok, detail); the dag-processor may still be re-parsing the files: retry a while."""
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = check()
        if ok or time.monotonic() > deadline:
            return ok, detail
        time.sleep(3)


def test_rest_api_assets_show_the_chain(airflow):
    def check():
        missing = missing_links(_rest_edges(airflow.assets()))
        return not missing, missing

    ok, missing = _settled(check)
    assert ok, f"Airflow's assets lack the lineage {missing}: is this checkout's dags/ what the stack parses?"


def test_ui_lineage_graph_of_the_model_shows_the_chain(airflow):
    """The graph the UI draws for the model asset (GET /ui/dependencies?dependency_type=data) traces it back
    to the uploads."""
    def check():
        by_name = {a["name"]: a for a in airflow.assets()}
        if MODEL_ASSET not in by_name:
            return False, [f"no asset {MODEL_ASSET}"]
        g = airflow.lineage(by_name[MODEL_ASSET]["id"])
        label = {n["id"]: (f"asset:{n['label']}" if n["type"] == "asset" else f"task:{n['label']}")
                 for n in g["nodes"]}
        missing = missing_links({(label[e["source_id"]], label[e["target_id"]]) for e in g["edges"]})
        return not missing, missing

    ok, missing = _settled(check)
    assert ok, f"the UI's lineage graph of {MODEL_ASSET} lacks {missing}"
