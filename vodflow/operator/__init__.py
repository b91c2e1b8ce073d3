"""The operators' view of the catalog, shown in the Airflow UI (plugins/vodflow_operator.py).

``titles`` reads and acts (no FastAPI), ``page`` renders HTML, ``routes`` is the router and ``app``
the FastAPI app Airflow's api-server mounts under :data:`vodflow.operator.app.URL_PREFIX`.
"""
