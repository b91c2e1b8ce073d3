"""Default hyper-parameters of vodflow's recommenders, and why they are what they are.

Two kinds of default live here, and only here:

* :data:`TRAINING`: what the nightly ``recs_training`` DAG (and ``jobs/train_recs.py``) searches and
  publishes unless the run's params say otherwise: a small grid around the tuned point below, at
  10 iterations so the nightly search stays short, then the refit of the best point. The DAG's
  trigger-form params, the job's ``--help`` and the grid sentence of docs/recommendations.md are built
  from it (a test checks the doc).
* the tuned single points (:data:`SPARK_IMPLICIT_PARAMS`, ...): the MovieLens benchmark's settings,
  the library default of :func:`vodflow.recs.als.train_als`, and the centre of that grid.

The tuned points were

chosen on a *validation* split carved from the training part of ml-latest-small
(75/25 by item, seed 42, then 75/25 of train, seed 43) -- never on the test
split -- and then rounded toward the middle of the plateau rather than the single
best cell, so they do not over-fit one small dataset (full grid in
docs/recommendations.md):

* ``rank=32``: rank 64 was no better on validation (within noise, slightly worse
  at every regularisation) and costs about twice the training time.
* ``reg_param=0.3``, ``alpha=3``: the validation grid has a ridge along
  ``regParam ~ 0.1 * alpha`` (0.1/1, 0.3/3, 1.0/10 all within 0.005 nDCG of the
  best, at rank 32 and 64); 0.3/3 sits in the middle of that ridge and was best at
  both ranks, while 0.1/3 lost 0.009 at rank 64.  Spark scales ``regParam`` by each
  user's / item's number of ratings (ALS-WR), so the value transfers across
  dataset sizes far better than an unscaled lambda.  ``alpha=30`` lost clearly
  everywhere.  With ``v = rating / 5`` the confidence is ``1 + 3 * rating / 5``
  (2.5 for 2.5 stars, 4.0 for 5 stars); the linear value is scale-free, so the same
  alpha holds for ML-100K's integer stars and ml-latest's half stars.
* ``max_iter=15``: the benchmark's epoch count; ALS has converged by then.
* ``checkpoint_interval=10``: cuts the lineage every 10 iterations (so a long run cannot
  overflow the JVM stack); 5 wrote three checkpoints per 15-iteration fit where one is
  enough at this length (a small saving, within timing noise on its own; see
  docs/benchmarks-recs.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from vodflow.recs.confidence import WatchWeights
from vodflow.recs.params import ALSParams, ImplicitBPRParams, ImplicitLibParams, RecencyWeights

#: rating -> ALS value for MovieLens (see :mod:`vodflow.recs.confidence`)
MOVIELENS_CONFIDENCE = "linear"

#: vodflow's Spark implicit ALS
SPARK_IMPLICIT_PARAMS = ALSParams(rank=32, max_iter=15, reg_param=0.3, alpha=3.0, implicit_prefs=True,
                                  checkpoint_interval=10, seed=42)

#: the `implicit` library baseline: same rank / iterations / confidences; its lambda is unscaled,
#: so it gets its own value (best on the same validation split).
IMPLICIT_LIB_PARAMS = ImplicitLibParams(factors=32, regularization=30.0, iterations=15, alpha=3.0)

#: the `implicit` library's BPR baseline (benchmark only): its documented defaults except 100 iterations
IMPLICIT_BPR_PARAMS = ImplicitBPRParams(factors=64, learning_rate=0.01, regularization=0.01, iterations=100)

#: EASE^R's L2 weight (the challenger, :mod:`vodflow.recs.ease`).  On a validation time split carved
#: from the time-split train of ml-latest-small (newest 20% per user, twice) nDCG@10 was 0.1280 at 50,
#: 0.1340 at 200 and 0.1337 at 500: a plateau from 200 to 500, 250 sits in it (the paper uses 500 for ML-20M)
EASE_L2 = 250.0

#: how the EASE^R challenger weighs a user's history newest first (:mod:`vodflow.recs.recency`).  Chosen
#: by bench/recs_movielens.py's time-split tuning on the validation cut of the time split's TRAIN (newest
#: 20% per user of train held out; the test cut is not looked at): best of half-life 2/4/8/16 titles x
#: floor 0.05/0.1/0.2 was 2 / 0.05 (nDCG@10 0.1645; 0.1456-0.1645 over the grid, plain EASE^R ~0.134);
#: the grid and its scores are in docs/benchmarks-recs.md
EASE_RECENCY = RecencyWeights(half_life=2.0, floor=0.05)

#: watch-history confidence (vodflow's own data): v = (0.2 + fraction + 0.5 * completed) * 0.5 ** (age / 90 d)
WATCH_WEIGHTS = WatchWeights(w_base=0.2, w_watch=1.0, w_complete=0.5, half_life_days=90.0)


@dataclass(frozen=True)
class TrainingDefaults:
    """The nightly training run's defaults. The grid is ``ranks x reg_params x alphas``."""

    ranks: tuple[int, ...]
    reg_params: tuple[float, ...]
    alphas: tuple[float, ...]
    max_iter: int               # iterations of every grid point and of the refit
    holdout_fraction: float     # newest titles per user held out (and again for validation)
    k: int                      # nDCG@k is what the search and the champion check compare
    top_n: int                  # titles published per user
    min_improvement: float      # nDCG@k gain a new version needs to replace the champion
    challenger: bool            # also train EASE^R on the same split and put it through the same gate
    ease_l2: float              # the challenger's L2 weight
    ease_recency: RecencyWeights  # how the challenger weighs a user's history (floor 1 = plain 0/1 EASE^R)

    def describe(self) -> str:
        """The grid in words, as docs/recommendations.md states it."""
        def nums(xs) -> str:
            return ", ".join(f"{x:g}" for x in xs)

        return (f"ranks {nums(self.ranks)} x regParam {nums(self.reg_params)} x alpha {nums(self.alphas)}; "
                f"{self.max_iter} iterations")


#: recs_training's grid and run settings (its trigger params default to these)
TRAINING = TrainingDefaults(ranks=(16, 32), reg_params=(0.3, 1.0), alphas=(SPARK_IMPLICIT_PARAMS.alpha,),
                            max_iter=10, holdout_fraction=0.2, k=10, top_n=50, min_improvement=0.0,
                            challenger=True, ease_l2=EASE_L2,
                            ease_recency=EASE_RECENCY)
