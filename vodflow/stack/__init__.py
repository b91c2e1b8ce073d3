"""The embedded local stack: real Kafka, S3Proxy, MLflow and Airflow as background processes."""
