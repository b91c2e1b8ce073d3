"""The MLflow ``pyfunc`` wrapper of a factor file, so a registered version loads the standard way::

    model = mlflow.pyfunc.load_model("models:/vodflow-recs@champion")
    model.predict(pd.DataFrame({"user_id": ["u-1", "u-2"], "n": [10, 10]}))
    # -> user_id, video_id, rank, score (unknown users: most popular titles, score NaN)

The API does not go through pyfunc (it loads the ``.npz`` directly and adds the
business rules); this is for analysts, notebooks and other services.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd


class FactorRecommender(mlflow.pyfunc.PythonModel):
    """Top-N per user from the ``factors`` artifact (a :class:`vodflow.recs.factors.FactorModel` file)."""

    def load_context(self, context) -> None:
        from vodflow.recs.factors import FactorModel

        self.model = FactorModel.load(context.artifacts["factors"])

    def predict(self, context, model_input, params=None):  # noqa: D401 - pyfunc signature
        df = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        rows = []
        for _, r in df.iterrows():
            n = int(r["n"]) if "n" in df.columns and pd.notna(r["n"]) else 10
            for rank, (item, score) in enumerate(self.model.top_n(str(r["user_id"]), n), start=1):
                rows.append((r["user_id"], item, rank, score))
        return pd.DataFrame(rows, columns=["user_id", "video_id", "rank", "score"])
