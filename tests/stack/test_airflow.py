"""Airflow: every DAG imports, a DAG runs with dag.test(), and the scheduler runs one via the REST API."""

import ast
from pathlib import Path

from vodflow.settings import REPO_ROOT


def declared_dag_ids() -> dict[str, list[str]]:
    """``{file name: [dag_id, ...]}`` of every file in dags/, read from the source (``dag_id="..."``)."""
    out = {}
    for f in sorted((REPO_ROOT / "dags").glob("*.py")):
        out[f.name] = [kw.value.value for node in ast.walk(ast.parse(f.read_text())) if isinstance(node, ast.Call)
                       for kw in node.keywords if kw.arg == "dag_id" and isinstance(kw.value, ast.Constant)]
    return out


def test_every_dag_imports_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    declared = declared_dag_ids()
    assert len(declared) >= 5 and all(declared.values()), f"a file in dags/ declares no dag_id: {declared}"
    assert sorted(bag.dag_ids) == sorted(i for ids in declared.values() for i in ids)
    for name, ids in declared.items():  # each DAG comes from the file that declares it
        assert {Path(bag.dags[i].fileloc).name for i in ids} == {name}


#: DAGs named before the `<package>_<name>` -> vodflow/<package>/<name>.py rule (docs/architecture.md)
TASK_BODIES_ELSEWHERE = {"video_ingest": "vodflow/ingest/steps.py", "edge_policy": "vodflow/cdn/policy.py"}


def test_dag_task_bodies_follow_the_naming_rule():
    for ids in declared_dag_ids().values():
        for dag_id in ids:
            package, _, name = dag_id.partition("_")
            module = TASK_BODIES_ELSEWHERE.get(dag_id, f"vodflow/{package}/{name}.py")
            assert (REPO_ROOT / module).is_file(), f"{dag_id}: its task bodies belong in {module}"


def test_dags_take_their_assets_from_the_assets_module():
    """Every table's asset is built by vodflow.analytics.assets.asset(table): a DAG file never writes
    Asset(name, uri) itself, so a renamed table cannot unlink a consumer from its producer. (An asset
    with no location, like ingest_dispatch's Kafka watcher, is declared in the one DAG that uses it.)"""
    for f in sorted((REPO_ROOT / "dags").glob("*.py")):
        calls = [n.lineno for n in ast.walk(ast.parse(f.read_text())) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", getattr(n.func, "attr", None)) == "Asset"
                 and (len(n.args) > 1 or any(k.arg == "uri" for k in n.keywords))]
        assert not calls, f"dags/{f.name}:{calls[0]}: build the asset with vodflow.analytics.assets.asset(table)"


def test_dag_files_stay_thin():
    """No heavy imports at module level in DAG files (they are parsed every few seconds)."""
    heavy = ("pyspark", "mlflow", "boto3", "kafka", "ffmpeg", "pandas", "numpy", "delta")
    for f in (REPO_ROOT / "dags").glob("*.py"):
        top = [ln for ln in f.read_text().splitlines() if ln.startswith(("import ", "from "))]
        bad = [ln for ln in top if any(ln.split()[1].split(".")[0] == h for h in heavy)]
        assert not bad, f"{f.name} imports {bad} at module level"


def test_stack_smoke_runs_with_dag_test(stack):
    from airflow.dag_processing.dagbag import DagBag

    from vodflow.airflow_client import AirflowClient

    client = AirflowClient(stack)
    client.set_paused("stack_smoke", True)  # keep the live scheduler off this dag.test() run

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "stack_smoke.py")).get_dag("stack_smoke")
    try:
        run = dag.test(run_conf={"message": "from dag.test"})
    finally:
        client.set_paused("stack_smoke", False)
    assert run.state == "success"


def test_scheduler_runs_a_triggered_dag(stack):
    from vodflow.airflow_client import AirflowClient

    c = AirflowClient(stack)
    run = c.trigger("stack_smoke", conf={"message": "via REST"}, wait_for_dag_seconds=120)
    assert c.wait("stack_smoke", run["dag_run_id"], timeout=240) == "success"


def test_connections_and_pools_created_from_settings(stack):
    from airflow.models import Connection, Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        conns = {c.conn_id: c for c in session.query(Connection).all()}
        pools = {p.pool: p.slots for p in session.query(Pool).all()}
    assert conns["vodflow_s3"].extra_dejson["endpoint_url"] == stack.s3_endpoint
    assert conns["vodflow_kafka"].extra_dejson["bootstrap.servers"] == stack.kafka_bootstrap
    assert conns["vodflow_spark"].host == stack.spark_master
    assert pools["encode"] >= 1 and pools["spark"] == 1
