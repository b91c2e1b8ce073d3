"""vodflow: an open-source video-on-demand platform on Airflow, Spark, Delta, Kafka and MLflow."""

__version__ = "0.1.0"
