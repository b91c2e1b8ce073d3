"""Reference models for the benchmark: popularity and the `implicit` library's CPU ALS and BPR.

Both return a :class:`~vodflow.recs.factors.FactorModel`, so they are scored by
the same seen-filtered numpy top-N as the Spark models.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from vodflow.recs.confidence import implicit_library_confidence
from vodflow.recs.factors import FactorModel, seen_csr
from vodflow.recs.movielens import COL_ITEM, COL_USER
from vodflow.recs.params import ImplicitBPRParams, ImplicitLibParams


def _index(train: pd.DataFrame, col_user: str, col_item: str):
    users = np.sort(train[col_user].unique())
    items = np.sort(train[col_item].unique())
    u = np.searchsorted(users, train[col_user].to_numpy())
    i = np.searchsorted(items, train[col_item].to_numpy())
    return users, items, u, i


def popularity_model(train: pd.DataFrame, col_user: str = COL_USER, col_item: str = COL_ITEM) -> FactorModel:
    """Most-rated training items first (ties: lower item id), training items of each user removed."""
    users, items, u, i = _index(train, col_user, col_item)
    pop = np.bincount(i, minlength=len(items)).astype(np.int64)
    indptr, indices = seen_csr(u, i, len(users))
    return FactorModel(users, items, np.ones((len(users), 1), np.float32), pop[:, None].astype(np.float32),
                       indptr, indices, pop, {"model": "popularity"})


def fit_implicit_als(train: pd.DataFrame, value: np.ndarray, params: ImplicitLibParams = ImplicitLibParams(),
                     num_threads: int = 2, col_user: str = COL_USER, col_item: str = COL_ITEM) -> FactorModel:
    """Fit ``implicit.cpu.als.AlternatingLeastSquares`` on the same confidences as Spark.

    ``value`` is the per-row ALS input of :mod:`vodflow.recs.confidence`.  Note the
    library regularises with a plain ``lambda * ||x||^2`` whereas Spark scales
    ``regParam`` by each user's / item's number of ratings, so the two
    regularisation values are not comparable one to one.
    """
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    users, items, u, i = _index(train, col_user, col_item)
    conf = implicit_library_confidence(value, params.alpha).astype(np.float32)
    ui = sp.csr_matrix((conf, (u, i)), shape=(len(users), len(items)), dtype=np.float32)
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=params.factors, regularization=params.regularization, alpha=1.0,
                                        iterations=params.iterations, use_cg=params.use_cg,
                                        num_threads=num_threads, random_state=params.seed)

    with threadpool_limits(1, "blas"):
        model.fit(ui, show_progress=False)
    indptr, indices = seen_csr(u, i, len(users))
    pop = np.bincount(i, minlength=len(items)).astype(np.int64)
    return FactorModel(users, items, np.asarray(model.user_factors), np.asarray(model.item_factors),
                       indptr, indices, pop, {"model": "implicit-als", **params.as_dict()})


def fit_implicit_bpr(train: pd.DataFrame, params: ImplicitBPRParams = ImplicitBPRParams(), num_threads: int = 2,
                     col_user: str = COL_USER, col_item: str = COL_ITEM) -> FactorModel:
    """Fit ``implicit.cpu.bpr.BayesianPersonalizedRanking`` on the binary training pairs.

    The library appends an item-bias column to the item factors and a column of ones to the
    user factors, so the plain dot product of :class:`FactorModel` is its score.
    """
    import scipy.sparse as sp
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_limits

    users, items, u, i = _index(train, col_user, col_item)
    ui = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(users), len(items)), dtype=np.float32)
    ui.sum_duplicates()
    ui.data[:] = 1.0
    with threadpool_limits(1, "blas"):
        model = BayesianPersonalizedRanking(factors=params.factors, learning_rate=params.learning_rate,
                                            regularization=params.regularization, iterations=params.iterations,
                                            num_threads=num_threads, random_state=params.seed)
        model.fit(ui, show_progress=False)
    indptr, indices = seen_csr(u, i, len(users))
    pop = np.bincount(i, minlength=len(items)).astype(np.int64)
    return FactorModel(users, items, np.asarray(model.user_factors), np.asarray(model.item_factors),
                       indptr, indices, pop, {"model": "implicit-bpr", **params.as_dict()})
