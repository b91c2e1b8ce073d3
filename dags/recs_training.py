"""recs_training: watch history (Delta) → Spark implicit ALS → MLflow registry → top-N lists.

Runs nightly at 03:00 UTC, and whenever the gold user-title table is updated (its asset
gets an event). `train` pins the Delta version it reads, holds out each user's latest
titles, searches a small ALS grid on a validation split carved from train, refits the best
and logs params, metrics, the table version and the model to MLflow; `register` adds a
version; `decide` moves the `champion` alias only if the new version beats the champion on
the same holdout (else it tags the version with the reason); `challenge` fits EASE^R on the same
split, logs and registers it and puts it through the same gate after ALS; `publish` writes the champion's
top-N per user to Delta and the serving bundle the API loads. See docs/recommendations.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from vodflow.analytics import tables as T
from vodflow.analytics.assets import asset
from vodflow.analytics.tables import RECOMMENDATIONS
from vodflow.recs.defaults import TRAINING
from vodflow.recs.registry import model_asset

SPARK = {"pool": "spark"}
user_title = asset(T.USER_TITLE)
recommendations = asset(RECOMMENDATIONS)
model = model_asset()


@dag(
    dag_id="recs_training",
    description=("Nightly or on user_title updates: train implicit ALS (and an EASE^R challenger) on watch history,"
                 " register in MLflow, promote a better champion, publish top-N lists"),
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 3 * * *", timezone="UTC"), assets=[user_title]),
    # no start_date: a new deployment waits for the next 03:00 (or a table update) instead of
    # training at once for the last missed night
    catchup=False,
    max_active_runs=1,
    tags=["vodflow", "recs"],
    doc_md=__doc__,
    dagrun_timeout=pendulum.duration(hours=6),
    default_args={"owner": "vodflow-recs", "retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "table_path": Param(None, type=["null", "string"], title="Interactions table",
                            description=f"Delta user-title table (default: {{lake}}/{T.USER_TITLE.path})"),
        "table_version": Param(None, type=["null", "integer"], minimum=0, title="Table version",
                               description="Delta version to train on (time travel); empty = latest"),
        "ranks": Param(list(TRAINING.ranks), type="array", items={"type": "integer", "minimum": 1}, title="ALS ranks",
                       description="latent factor counts to search (grid with regParam and alpha)"),
        "reg_params": Param(list(TRAINING.reg_params), type="array", items={"type": "number", "minimum": 0},
                            title="ALS regParam values", description="L2 regularisation values to search"),
        "alphas": Param(list(TRAINING.alphas), type="array", items={"type": "number", "minimum": 0},
                        title="ALS alpha values",
                        description="implicit-feedback confidence scales to search (confidence = 1 + alpha * value)"),
        "max_iter": Param(TRAINING.max_iter, type="integer", minimum=1, maximum=100, title="ALS iterations",
                          description="alternating least-squares sweeps per fit"),
        "holdout_fraction": Param(TRAINING.holdout_fraction, type="number", exclusiveMinimum=0, exclusiveMaximum=1,
                                  title="Holdout fraction", description="newest titles per user held out"),
        "top_n": Param(TRAINING.top_n, type="integer", minimum=1, maximum=500, title="Top-N per user",
                       description="length of each user's published list (the API serves at most 50)"),
        "min_improvement": Param(TRAINING.min_improvement, type="number", minimum=0,
                                 title="Min nDCG@10 gain to replace the champion",
                                 description="the new version becomes champion only if it beats the current one "
                                             "on the same holdout by more than this"),
        "challenger": Param(TRAINING.challenger, type="boolean", title="Train the EASE^R challenger",
                            description="also fit EASE^R on the same time split; it becomes champion only if the "
                                        "gate says it beats the champion (ALS on a tie)"),
        "ease_l2": Param(TRAINING.ease_l2, type="number", exclusiveMinimum=0, title="EASE^R L2 weight",
                         description="the challenger's L2 weight (lambda)"),
        "ease_half_life": Param(TRAINING.ease_recency.half_life, type="number", exclusiveMinimum=0,
                                title="EASE^R recency half-life (titles)",
                                description="a title this many titles back in a user's history counts half"),
        "ease_floor": Param(TRAINING.ease_recency.floor, type="number", minimum=0, maximum=1,
                            title="EASE^R recency floor",
                            description="what every old title still counts (1 = plain 0/1 EASE^R)"),
        "model_name": Param(None, type=["null", "string"], title="Registered model (default vodflow-recs)",
                            description="MLflow registered model whose 'champion' alias the API serves"),
        "experiment": Param(None, type=["null", "string"], title="MLflow experiment (default vodflow-recs)",
                            description="MLflow experiment the training runs are logged to"),
        "recs_table": Param(None, type=["null", "string"], title="Output Delta table",
                            description=f"default: {{lake}}/{RECOMMENDATIONS.path}"),
    },
)
def recs_training():
    @task(**SPARK, execution_timeout=pendulum.duration(hours=4), inlets=[user_title], outlets=[model])
    def train(params=None, run_id=None, dag=None, ti=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from vodflow.recs.training import NoTrainingData
        from vodflow.recs.training import train as run

        try:
            return run(params, run_id, dag.dag_id, getattr(ti, "try_number", None))
        except NoTrainingData as e:  # the gold table does not exist yet: nothing to do, not a failure
            raise AirflowSkipException(str(e)) from None

    @task
    def register(trained: dict, params=None) -> dict:
        from vodflow.recs.training import register as run

        return run(params, trained)

    @task
    def decide(registered: dict, params=None) -> dict:
        from vodflow.recs.training import decide as run

        return run(params, registered)

    @task(outlets=[model])
    def challenge(decided: dict, params=None, run_id=None, dag=None, ti=None) -> dict:
        from vodflow.recs.training import challenge as run

        return run(params, decided, run_id, dag.dag_id, getattr(ti, "try_number", None))

    @task(**SPARK, inlets=[model, user_title], outlets=[recommendations])
    def publish(decided: dict, params=None) -> dict:
        from vodflow.recs.training import publish as run

        return {**run(params, decided), "decision": decided["decision"], "challenger": decided.get("challenger")}

    publish(challenge(decide(register(train()))))


recs_training()
