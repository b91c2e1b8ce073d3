"""Recommendations: data loaders, split, metrics, Spark ALS training and numpy serving.

Modules (import what you need; only ``als`` and ``training_data`` need Spark):

* :mod:`vodflow.recs.movielens`     MovieLens loaders (ML-100K ``u.data``, ml-latest ``ratings.csv``)
* :mod:`vodflow.recs.split`         stratified split of the Microsoft Recommenders benchmark
* :mod:`vodflow.recs.metrics`       MAP, nDCG@k, Precision@k, Recall@k (their definitions)
* :mod:`vodflow.recs.confidence`    rating / watch-history -> implicit confidence
* :mod:`vodflow.recs.training_data` Delta user-title table -> ALS input, with the table version
* :mod:`vodflow.recs.als`           Spark ALS train, seen-filtered top-K, factor export, tuning
* :mod:`vodflow.recs.factors`       ``FactorModel``: load the ``.npz`` and serve top-N with numpy
* :mod:`vodflow.recs.baselines`     popularity and the `implicit` library's ALS
* :mod:`vodflow.recs.evaluate`      the benchmark protocol on factor models
* :mod:`vodflow.recs.params`        ``ALSParams``, ``ImplicitLibParams`` (plain records)
* :mod:`vodflow.recs.defaults`      default hyper-parameters and why; ``TRAINING``, the nightly grid
* :mod:`vodflow.recs.training_run`  one training run: holdout, grid search, refit, metrics
* :mod:`vodflow.recs.training`      the ``recs_training`` DAG's task bodies
* :mod:`vodflow.recs.serving`       ``RecsService``: the business rules and the response cache (no HTTP)
* :mod:`vodflow.recs.bundle`        the served model: ``Bundle``, loaded and hot-swapped by ``BundleWatcher``
* :mod:`vodflow.recs.serving_data`  what serving reads besides the model: ready catalog, title popularity
* :mod:`vodflow.recs.routes`        the recommendation endpoints of the API
* :mod:`vodflow.recs.ease`          EASE^R, the challenger (closed form; ``with_recency`` scoring)
* :mod:`vodflow.recs.recency`       recency weights of a user's history (newest first, by rank)
* :mod:`vodflow.recs.reproduce`     a registered model's metrics again from Delta time travel
* :mod:`vodflow.recs.cli`           ``vodflow recs verify``

The API only needs :class:`vodflow.recs.factors.FactorModel` (numpy, no Spark).
"""

from vodflow.recs.factors import FactorModel, top_n_scores

__all__ = ["FactorModel", "top_n_scores"]
