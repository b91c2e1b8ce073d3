"""Training data from a Delta user-title table: confidences, id maps, version pinning."""

import datetime as dt

import numpy as np
import pytest

from vodflow.recs.confidence import WatchWeights, watch_value
from vodflow.recs.factors import FactorModel
from vodflow.recs.training_data import build_training_data

SCHEMA = "user_id string, video_id string, watch_fraction double, completed boolean, last_watched timestamp"
T0 = dt.datetime(2026, 1, 31, 12, 0, 0)


def _rows_v0():
    return [
        ("u-b", "v-1", 1.0, True, T0),
        ("u-a", "v-1", 0.5, False, T0 - dt.timedelta(days=30)),
        ("u-a", "v-2", 0.0, False, T0 - dt.timedelta(days=60)),
        ("u-c", "v-3", None, None, None),
    ]


@pytest.fixture(scope="module")
def table(recs_spark, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("lake") / "user_title")
    recs_spark.createDataFrame(_rows_v0(), SCHEMA).write.format("delta").save(path)  # version 0
    extra = [("u-d", "v-2", 0.9, True, T0 + dt.timedelta(days=10))]
    recs_spark.createDataFrame(extra, SCHEMA).write.format("delta").mode("append").save(path)  # version 1
    return path


W30 = WatchWeights(w_base=0.2, w_watch=1.0, w_complete=0.5, half_life_days=30)


@pytest.fixture(scope="module")
def latest(recs_spark, table):
    td = build_training_data(recs_spark, table, W30)
    yield td
    td.unpersist()


def test_latest_version_and_confidences(latest):
    td = latest
    assert td.version == 1 and td.version_timestamp
    assert td.user_ids.tolist() == ["u-a", "u-b", "u-c", "u-d"]
    assert td.item_ids.tolist() == ["v-1", "v-2", "v-3"]
    assert td.reference_time.startswith("2026-02-10T12:00:00")  # newest last_watched of v1
    got = {(td.user_ids[r.user], td.item_ids[r.item]): r.value for r in td.ratings.collect()}
    ages = {("u-b", "v-1"): 10, ("u-a", "v-1"): 40, ("u-a", "v-2"): 70, ("u-c", "v-3"): 0, ("u-d", "v-2"): 0}
    src = {("u-b", "v-1"): (1.0, True), ("u-a", "v-1"): (0.5, False), ("u-a", "v-2"): (0.0, False),
           ("u-c", "v-3"): (np.nan, False), ("u-d", "v-2"): (0.9, True)}
    assert set(got) == set(src)
    for key, (wf, done) in src.items():
        assert got[key] == pytest.approx(float(watch_value([wf], [done], [ages[key]], W30)[0])), key
    lin = td.lineage()
    assert lin["table_version"] == 1 and lin["conf_half_life_days"] == 30 and lin["rows"] == 5


def test_time_travel_to_recorded_version_and_min_value(recs_spark, table):
    # version 0 = before the append; no base weight -> zero-watch and null rows are dropped
    td0 = build_training_data(recs_spark, table, WatchWeights(w_base=0.0, half_life_days=None), version=0)
    try:
        assert td0.version == 0
        assert td0.reference_time.startswith("2026-01-31T12:00:00")
        got = sorted((td0.user_ids[r.user], td0.item_ids[r.item], r.value) for r in td0.ratings.collect())
        assert got == [("u-a", "v-1", pytest.approx(0.5)), ("u-b", "v-1", pytest.approx(1.5))]
    finally:
        td0.unpersist()


def test_training_run_exports_factors_with_string_ids(recs_spark, table, tmp_path):
    from vodflow.recs.training_run import TrainConfig, run_training

    cfg = TrainConfig(table, ranks=(2,), reg_params=(0.1,), alphas=(3.0,), max_iter=2, weights=W30)
    run = run_training(recs_spark, cfg, tmp_path)
    assert run.table_version == 1 and run.factors_path.is_file()
    params = run.params_for_mlflow(cfg)
    assert params["table_version"] == 1 and params["als_rank"] == 2 and params["conf_half_life_days"] == 30
    fm = FactorModel.load(run.factors_path)
    assert fm.meta["table_version"] == 1 and fm.meta["als"]["rank"] == 2
    assert set(fm.user_ids.tolist()) == {"u-a", "u-b", "u-c", "u-d"}
    recs = [i for i, _ in fm.top_n("u-a", 5)]
    assert recs == ["v-3"]  # v-1 and v-2 already watched
    assert [i for i, _ in fm.top_n("someone-new", 2)] == ["v-1", "v-2"]  # popularity fallback


def _has_local_relation(df) -> bool:
    return "LocalRelation" in df._jdf.queryExecution().optimizedPlan().toString()


def test_id_maps_are_computed_in_spark_in_python_sort_order(recs_spark, latest):
    from vodflow.recs.training_data import dense_ids

    # Spark orders strings by UTF-8 bytes: the same as Python's code point order, non-ASCII included
    names = ["zoë", "Zoe", "éa", "ea", "a", "日本", "Ω", "a b", "a-b", "~"]
    df = recs_spark.createDataFrame([(n,) for n in names * 2], "user_id string")
    m, ids = dense_ids(df, "user_id", "user")
    try:
        assert ids.tolist() == sorted(names)
        assert {r.user_id: r.user for r in m.collect()} == {n: i for i, n in enumerate(sorted(names))}
    finally:
        m.unpersist()
    # the ratings the ALS fits read hold no rows of local data in their plan (no re-analysis per query)
    assert latest.user_map is not None and latest.item_map is not None
    assert not _has_local_relation(latest.ratings)
    assert [r.user_id for r in latest.user_map.orderBy("user").collect()] == latest.user_ids.tolist()
