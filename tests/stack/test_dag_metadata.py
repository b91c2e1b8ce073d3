"""What operators see in the Airflow UI: every DAG says what it does, who owns it, how long a run may
take, and what each of its params means (no services needed: the DAG files are parsed)."""

from __future__ import annotations

import pytest

from vodflow.settings import REPO_ROOT


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    files = {f.stem for f in (REPO_ROOT / "dags").glob("*.py")}
    assert set(bag.dag_ids) >= files  # each file defines the DAG it is named after
    return [bag.dags[d] for d in sorted(bag.dag_ids)]  # parsed objects: no metadata DB


def test_every_dag_has_a_description_an_owner_and_a_timeout(dags):
    for dag in dags:
        assert dag.description and len(dag.description) >= 20, f"{dag.dag_id}: no description"
        owners = {t.owner for t in dag.tasks}
        assert owners and all(o.startswith("vodflow-") for o in owners), f"{dag.dag_id}: owners {owners}"
        assert dag.dagrun_timeout is not None and dag.dagrun_timeout.total_seconds() > 0, dag.dag_id
        longest_task = max((t.execution_timeout.total_seconds() for t in dag.tasks if t.execution_timeout),
                           default=0)
        assert dag.dagrun_timeout.total_seconds() > longest_task, f"{dag.dag_id}: a task may outlive its run"


def test_every_param_has_a_description(dags):
    for dag in dags:
        for name, param in dag.params.items():
            p = dag.params.get_param(name)
            assert p.description, f"{dag.dag_id}.{name} has no description"
