"""Health checks: each returns (healthy, detail) and never raises for a down service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from vodflow.settings import Settings


def http_ok(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - local URL from settings
            return 200 <= r.status < 300, f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        return False, f"HTTP {e.code}"
    except OSError as e:
        return False, f"no answer ({getattr(e, 'reason', e)})"


def s3(s: Settings) -> tuple[bool, str]:
    from vodflow.clients import s3_client

    try:
        n = len(s3_client(s, timeout=2).list_buckets().get("Buckets", []))
        return True, f"{n} buckets"
    except Exception as e:  # noqa: BLE001
        return False, f"{type(e).__name__}: {str(e)[:120]}"


def kafka(s: Settings) -> tuple[bool, str]:
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, request_timeout_ms=3000,
                                 client_id="vodflow-health")
        try:
            topics = admin.list_topics()
        finally:
            admin.close()
        return True, f"{len([t for t in topics if not t.startswith('__')])} topics"
    except Exception as e:  # noqa: BLE001
        return False, f"{type(e).__name__}: {str(e)[:120]}"


def airflow_component(s: Settings, component: str) -> tuple[bool, str]:
    """Airflow's own health endpoint reports the api (by answering) and each component's heartbeat."""
    url = f"{s.airflow_url}/api/v2/monitor/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310
            data = json.load(r)
    except (OSError, ValueError) as e:
        return False, f"api-server not answering ({getattr(e, 'reason', e)})"
    if component == "api":
        db = data.get("metadatabase", {}).get("status")
        return db == "healthy", f"metadatabase {db}"
    key = {"dag-processor": "dag_processor"}.get(component, component)
    st = (data.get(key) or {}).get("status")
    return st == "healthy", f"heartbeat {st}"
