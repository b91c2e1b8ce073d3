"""Spark ALS on synthetic data with a planted group structure, plus metric cross-checks with Spark."""

import numpy as np
import pandas as pd
import pytest

from vodflow.recs import als
from vodflow.recs.baselines import ImplicitLibParams, fit_implicit_als, popularity_model
from vodflow.recs.confidence import rating_value
from vodflow.recs.evaluate import benchmark_split, evaluate_factor_model
from vodflow.recs.factors import FactorModel
from vodflow.recs.metrics import ranking_metrics

PARAMS = als.ALSParams(rank=8, max_iter=8, reg_param=0.05, alpha=10.0, checkpoint_interval=2)


@pytest.fixture(scope="module")
def trained(recs_spark, planted):
    split = benchmark_split(planted)
    ratings = als.to_spark_ratings(recs_spark, split.train, rating_value(split.train.rating.to_numpy(), "linear"))
    model = als.train_als(ratings, PARAMS)
    yield split, ratings, model
    als.release(ratings)


def test_checkpoint_dir_is_set(trained, recs_spark):
    assert recs_spark.sparkContext.getCheckpointDir()


def test_implicit_als_beats_popularity_on_planted_structure(trained):
    split, _, model = trained
    fm = als.factor_model(model, split.train)
    learned = evaluate_factor_model(fm, split.test)
    pop = evaluate_factor_model(popularity_model(split.train), split.test)
    assert learned["nDCG@k"] > pop["nDCG@k"] + 0.1, (learned, pop)
    assert learned["Precision@k"] > pop["Precision@k"]


def test_spark_top_k_filters_seen_and_agrees_with_numpy(trained, recs_spark):
    split, ratings, model = trained
    k = 10
    recs = als.recommend_top_k(model, ratings, k=k).toPandas()
    seen = set(zip(split.train.userID, split.train.itemID))
    assert not any((u, i) in seen for u, i in zip(recs.userID, recs.itemID))
    assert (recs.groupby("userID").size() == k).all()
    assert recs.userID.nunique() == split.train.userID.nunique()
    # without over-fetching, seen items eat into the top k: that is why recommend_top_k over-fetches
    naive = als.recommend_top_k(model, ratings, k=k, overfetch=0).toPandas()
    assert len(naive) < len(recs)
    # same ranking as the numpy scorer used by the API (scores match to float32 precision)
    fm = als.factor_model(model, split.train)
    spark_metrics = ranking_metrics(split.test, recs.rename(columns={"score": "prediction"}), k=k)
    np_metrics = evaluate_factor_model(fm, split.test, k=k)
    for key in ("nDCG@k", "Precision@k", "Recall@k", "MAP"):
        assert spark_metrics[key] == pytest.approx(np_metrics[key], abs=0.02)
    u = int(recs.userID.iloc[0])
    top = fm.top_n(u, k)
    spark_scores = recs[recs.userID == u].sort_values("rank").score.to_numpy()
    np.testing.assert_allclose([s for _, s in top], spark_scores, rtol=1e-4, atol=1e-4)



def test_blocked_numpy_top_n_equals_spark_recommend_for_all_users(trained):
    """The DAG's all-user top-N (blocked numpy products over the exported factors, seen titles masked:
    scoring.top_n_frame) gives every user the same list as Spark's recommendForAllUsers + seen filter."""
    from vodflow.recs.scoring import top_n_frame

    split, ratings, model = trained
    k = 10
    spark_lists = als.recommend_top_k(model, ratings, k=k).toPandas()
    fm = als.factor_model(model, split.train)
    np_lists = top_n_frame(fm, k).astype({"user_id": int, "video_id": int})
    assert len(np_lists) == len(spark_lists) == k * split.train.userID.nunique()
    by_user = {u: g.sort_values("rank") for u, g in spark_lists.groupby("userID")}
    differ = 0
    for u, g in np_lists.groupby("user_id"):
        s = by_user[u]
        np.testing.assert_allclose(g.score.to_numpy(), s.score.to_numpy(), rtol=1e-4, atol=1e-5)
        if g.video_id.tolist() != s.itemID.tolist():
            # only a float32 near-tie may swap neighbours: same titles, scores equal within rounding
            assert set(g.video_id) == set(s.itemID) or np.min(np.abs(np.diff(g.score.to_numpy()))) < 1e-4, u
            differ += 1
    assert differ <= 0.02 * len(by_user), f"{differ} of {len(by_user)} users got another list"

def test_export_factors_roundtrip(trained, tmp_path):
    split, _, model = trained
    path = als.export_factors(model, tmp_path / "f.npz", split.train, meta={"run": "t"})
    fm = FactorModel.load(path)
    assert fm.meta["run"] == "t" and fm.rank == PARAMS.rank
    assert len(fm.user_ids) == split.train.userID.nunique()
    u = int(split.train.userID.iloc[0])
    rec_items = [i for i, _ in fm.top_n(u, 10)]
    assert not set(rec_items) & set(split.train[split.train.userID == u].itemID)


def test_explicit_ms_settings_train(recs_spark, trained):
    split, _, _ = trained
    ratings = als.to_spark_ratings(recs_spark, split.train)  # raw stars
    model = als.train_als(ratings, als.MS_RECOMMENDERS_EXPLICIT.with_(max_iter=3))
    assert model.rank == 10
    als.release(ratings)


def test_implicit_library_beats_popularity(planted):
    split = benchmark_split(planted)
    fm = fit_implicit_als(split.train, rating_value(split.train.rating.to_numpy(), "linear"),
                          ImplicitLibParams(factors=8, regularization=1.0, iterations=8))
    pop = evaluate_factor_model(popularity_model(split.train), split.test)
    assert evaluate_factor_model(fm, split.test)["nDCG@k"] > pop["nDCG@k"] + 0.1


def test_metrics_agree_with_spark_ranking_metrics(recs_spark):
    """Independent check of our pandas metrics against Spark's own RankingMetrics."""
    from pyspark.mllib.evaluation import RankingMetrics

    rng = np.random.default_rng(5)
    k, rows, pairs = 5, [], []
    truth_rows = []
    for u in range(40):
        rel = rng.choice(30, rng.integers(1, 12), replace=False)
        ranked = rng.permutation(30)[: rng.integers(3, 9)]
        truth_rows += [(u, int(i)) for i in rel]
        rows += [(u, int(i), float(len(ranked) - r)) for r, i in enumerate(ranked)]
        pairs.append(([int(i) for i in ranked[:k]], [int(i) for i in rel]))
    truth = pd.DataFrame(truth_rows, columns=["userID", "itemID"])
    pred = pd.DataFrame(rows, columns=["userID", "itemID", "prediction"])
    ours = ranking_metrics(truth, pred, k=k)
    rm = RankingMetrics(recs_spark.sparkContext.parallelize(pairs, 2))
    assert ours["nDCG@k"] == pytest.approx(rm.ndcgAt(k))
    assert ours["Precision@k"] == pytest.approx(rm.precisionAt(k))
    assert ours["Recall@k"] == pytest.approx(rm.recallAt(k))
    assert ours["MAP"] == pytest.approx(rm.meanAveragePrecision)  # over the top-k list, / |relevant|


def test_native_blas_status_agrees_with_the_jvm(recs_spark):
    """`vodflow status`'s native_blas (the libraries load) is what Spark's JVM actually picked."""
    from pathlib import Path

    from vodflow.spark import NATIVE_BLAS_LIBS, jvm_blas, jvm_native_blas, native_blas_libraries

    libs = native_blas_libraries()
    assert set(libs) == set(NATIVE_BLAS_LIBS)
    assert all(v is None or Path(v).exists() for v in libs.values()), libs
    impl = jvm_blas(recs_spark)
    assert impl["blas"].startswith("dev.ludovic.netlib.blas.") and impl["lapack"].startswith("dev.ludovic.netlib.")
    assert jvm_native_blas(recs_spark) == all(libs.values()), (libs, impl)


def test_ratings_from_pandas_are_a_checkpoint_not_a_local_relation(recs_spark, planted):
    df = als.to_spark_ratings(recs_spark, planted.head(500))
    try:
        plan = df._jdf.queryExecution().optimizedPlan().toString()
        assert "LocalRelation" not in plan and "LogicalRDD" in plan, plan
        assert df.count() == 500
        assert df.rdd.getNumPartitions() == recs_spark.sparkContext.defaultParallelism
    finally:
        als.release(df)
