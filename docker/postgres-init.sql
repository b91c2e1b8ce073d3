-- Databases for the services that share the Postgres server (airflow is POSTGRES_DB).
CREATE DATABASE mlflow;
CREATE DATABASE catalog;
