"""A small client for Airflow 3's REST API (api-server), authenticated with a JWT from /auth/token.

Used by the upload API to start ingest runs and by `vodflow smoke`. Only stdlib + httpx.
"""

from __future__ import annotations

import time
from typing import Callable

import httpx

from vodflow.settings import Settings, get_settings


class AirflowError(RuntimeError):
    pass


class AirflowClient:
    def __init__(self, settings: Settings | None = None, timeout: float = 60):
        self.s = settings or get_settings()
        self.base = self.s.airflow_url.rstrip("/")
        self.http = httpx.Client(timeout=timeout)
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            try:
                r = self.http.post(f"{self.base}/auth/token", json={
                    "username": self.s["VODFLOW_AIRFLOW_ADMIN_USER"],
                    "password": self.s["VODFLOW_AIRFLOW_ADMIN_PASSWORD"]})
            except httpx.HTTPError as e:
                raise AirflowError(f"Airflow at {self.base} is not reachable ({e}); is `vodflow up` running?") from e
            if r.status_code >= 300:
                raise AirflowError(f"Airflow login failed ({r.status_code} {r.text[:200]}): "
                                   "check VODFLOW_AIRFLOW_ADMIN_USER / VODFLOW_AIRFLOW_ADMIN_PASSWORD")
            self._token = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def _req(self, method: str, path: str, **kw) -> httpx.Response:
        r = self.http.request(method, f"{self.base}/api/v2{path}", headers=self._headers(), **kw)
        return r

    def get_dag(self, dag_id: str) -> dict | None:
        r = self._req("GET", f"/dags/{dag_id}")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """The dag-processor parses new files every few seconds; wait until the DAG is known."""
        deadline = time.monotonic() + timeout
        while True:
            d = self.get_dag(dag_id)
            if d is not None:
                return d
            if time.monotonic() > deadline:
                raise AirflowError(f"DAG {dag_id!r} is not known to Airflow after {timeout:.0f}s: "
                                   f"check `vodflow logs airflow-dag-processor` for import errors")
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict | None = None, run_id: str | None = None,
                wait_for_dag_seconds: float = 0) -> dict:
        if wait_for_dag_seconds:
            d = self.wait_for_dag(dag_id, wait_for_dag_seconds)
            if d.get("is_paused"):
                self._req("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        body: dict = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        r = self._req("POST", f"/dags/{dag_id}/dagRuns", json=body)
        if r.status_code >= 300:
            raise AirflowError(f"triggering {dag_id} failed: {r.status_code} {r.text[:300]}")
        return r.json()

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.wait_for_dag(dag_id)
        self._req("PATCH", f"/dags/{dag_id}", json={"is_paused": paused}).raise_for_status()

    def run_state(self, dag_id: str, run_id: str) -> str:
        r = self._req("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        r.raise_for_status()
        return r.json()["state"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 600, poll: float = 2,
             on_poll: Callable[[str], None] | None = None) -> str:
        """The run's final state ('success' or 'failed'), or 'timeout'; ``on_poll(state)`` after each look."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.run_state(dag_id, run_id)
            if on_poll:
                on_poll(st)
            if st in ("success", "failed"):
                return st
            time.sleep(poll)
        return "timeout"

    def assets(self, page: int = 100) -> list[dict]:
        """Every asset Airflow knows, with its ``producing_tasks`` / ``consuming_tasks`` / ``scheduled_dags``."""
        out: list[dict] = []
        while True:
            r = self._req("GET", "/assets", params={"limit": page, "offset": len(out), "order_by": "id"})
            r.raise_for_status()
            body = r.json()
            out += body["assets"]
            if not body["assets"] or len(out) >= body["total_entries"]:
                return out

    def lineage(self, asset_id: int) -> dict:
        """The data-lineage graph the UI draws for an asset (``{"nodes": [...], "edges": [...]}``: assets and the
        tasks that read (inlets) or write (outlets) them, traced up- and downstream)."""
        r = self.http.get(f"{self.base}/ui/dependencies", headers=self._headers(),
                          params={"node_id": f"asset:{asset_id}", "dependency_type": "data"})
        r.raise_for_status()
        return r.json()
