"""MLflow tracking server: runs, artifacts in the object store, model registry."""

import uuid

import mlflow
import numpy as np
from mlflow import MlflowClient

from vodflow.clients import s3_client


def test_run_logged_and_model_version_registered(stack):
    mlflow.set_tracking_uri(stack.mlflow_uri)
    mlflow.set_experiment("vodflow-tests")
    name = f"test-model-{uuid.uuid4().hex[:6]}"

    class Mean(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return np.full(len(model_input), 0.5)

    with mlflow.start_run() as run:
        mlflow.log_param("rank", 8)
        mlflow.log_metric("ndcg_at_10", 0.31)
        info = mlflow.pyfunc.log_model(name="model", python_model=Mean(), registered_model_name=name)
    client = MlflowClient(stack.mlflow_uri)
    got = client.get_run(run.info.run_id)
    assert got.data.params["rank"] == "8" and got.data.metrics["ndcg_at_10"] == 0.31
    versions = client.search_model_versions(f"name='{name}'")
    assert [v.version for v in versions] == ["1"]
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(loaded.predict([[1], [2]])) == [0.5, 0.5]
    # Artifacts really live in the object store bucket.
    objs = s3_client(stack).list_objects_v2(Bucket=stack.bucket_mlflow).get("Contents", [])
    assert any("MLmodel" in o["Key"] for o in objs), info.model_uri
