"""stack_smoke: a round trip through S3 and Kafka from Airflow workers.

Operators run it after `vodflow up` to see that Airflow's workers reach the platform
services with vodflow's settings. Thin by design: the work lives in vodflow.stack.smoke.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="stack_smoke",
    description="Round trip through S3 and Kafka from an Airflow worker (`vodflow smoke` triggers it)",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["vodflow", "ops"],
    params={"message": Param("hello from airflow", type="string", description="Payload for the round trip")},
    dagrun_timeout=pendulum.duration(minutes=15),
    default_args={"owner": "vodflow-ops", "retries": 2, "retry_delay": pendulum.duration(seconds=10)},
    doc_md=__doc__,
)
def stack_smoke():
    @task
    def s3_round_trip(params=None, run_id=None) -> str:
        from vodflow.stack.smoke import s3_round_trip as rt

        return rt(params["message"], key=f"smoke/airflow/{run_id}.txt")

    @task
    def kafka_round_trip(key: str, params=None) -> int:
        from vodflow.stack.smoke import kafka_round_trip as rt

        return rt(f"{params['message']} ({key})")

    kafka_round_trip(s3_round_trip())


stack_smoke()
