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


def lake_s3(s: Settings) -> tuple[bool, str]:
    """The lake's S3 (VODFLOW_LAKE_S3_*) answers for the lake's bucket with the lake's keys."""
    from vodflow.clients import lake_s3_client

    try:
        lake_s3_client(s, timeout=2).head_bucket(Bucket=s.lake_bucket)
        return True, f"bucket {s.lake_bucket}"
    except Exception as e:  # noqa: BLE001
        return False, f"{type(e).__name__}: {str(e)[:120]}"


def kafka(s: Settings, bootstrap: str | None = None) -> tuple[bool, str]:
    """The broker(s) at ``bootstrap`` (default: VODFLOW_KAFKA_BOOTSTRAP) answer a topic listing."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap or s.kafka_bootstrap, request_timeout_ms=3000,
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


def analytics_stream(status_file, restarts_file=None, max_age: float = 60.0) -> tuple[bool, str]:
    """The stream writes a JSON heartbeat every few seconds: fresh, and its query active. The
    supervisor's restart count (``restarts_file``) is part of the detail."""
    import time
    from pathlib import Path

    from vodflow.stack.supervise import read_state

    sup = read_state(Path(restarts_file)) if restarts_file else {}
    restarted = (f", restarts {sup['restarts']} (last: {sup.get('last_exit')})"
                 if sup.get("restarts") else "")
    try:
        data = json.loads(Path(status_file).read_text())
    except (OSError, ValueError):
        return False, "starting (no heartbeat yet)" + restarted
    age = time.time() - float(data.get("ts", 0))
    queries = data.get("queries", {})
    if age > max_age:
        return False, f"heartbeat {age:.0f} s old" + restarted
    if not queries or not all(q.get("active") for q in queries.values()):
        return False, "the query is not active" + restarted
    last = [(q.get("progress") or {}).get("batchId") for q in queries.values()]
    return True, "batch " + "/".join("-" if b is None else str(b) for b in last) + restarted


def sql_endpoint(status_file, url: str, max_age: float = 120.0) -> tuple[bool, str]:
    """The SQL endpoint's heartbeat is fresh and its Spark Connect port accepts connections."""
    import socket
    import time
    from pathlib import Path
    from urllib.parse import urlsplit

    try:
        data = json.loads(Path(status_file).read_text())
    except (OSError, ValueError):
        return False, "starting (no heartbeat yet)"
    age = time.time() - float(data.get("ts", 0))
    if age > max_age:
        return False, f"heartbeat {age:.0f} s old"
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1.0):
            pass
    except OSError as e:
        return False, f"{url} refuses connections ({e})"
    n = len(data.get("tables") or [])
    return True, f"{n} table{'s' if n != 1 else ''}"


def spark_master(ui_url: str) -> tuple[bool, str]:
    """The standalone master's UI reports ALIVE (its /json endpoint)."""
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=3) as r:  # noqa: S310
            data = json.load(r)
    except (OSError, ValueError) as e:
        return False, f"master UI not answering ({getattr(e, 'reason', e)})"
    alive = [w for w in data.get("workers", []) if w.get("state") == "ALIVE"]
    return data.get("status") == "ALIVE", f"{data.get('status')}, {len(alive)} workers alive"


def spark_worker(master_ui_url: str, worker_ui_port: int) -> tuple[bool, str]:
    """The master lists the worker whose UI is on ``worker_ui_port`` as ALIVE (registered)."""
    try:
        with urllib.request.urlopen(f"{master_ui_url}/json/", timeout=3) as r:  # noqa: S310
            data = json.load(r)
    except (OSError, ValueError) as e:
        return False, f"master UI not answering ({getattr(e, 'reason', e)})"
    for w in data.get("workers", []):
        if w.get("webuiaddress", "").endswith(f":{worker_ui_port}") and w.get("state") == "ALIVE":
            return True, f"registered, {w.get('coresused', 0)}/{w.get('cores')} cores used"
    return False, "not registered with the master"


def redis(url: str) -> tuple[bool, str]:
    """The Redis server at ``url`` answers PING."""
    import redis as redis_client

    try:
        c = redis_client.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            c.ping()
            return True, f"Redis {c.info('server').get('redis_version')}"
        finally:
            c.close()
    except redis_client.RedisError as e:
        return False, f"{type(e).__name__}: {str(e)[:120]}"


def celery_worker(broker_url: str, hostname: str) -> tuple[bool, str]:
    """The Celery worker ``hostname`` answers a control ping through the broker (Celery's own remote control)."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        replies = app.control.ping(destination=[hostname], timeout=1.5) or []
    except Exception as e:  # noqa: BLE001 - broker down: not healthy, never a crash
        return False, f"{type(e).__name__}: {str(e)[:120]}"
    finally:
        app.close()
    return (True, "answers ping") if any(hostname in r for r in replies) else (False, "no ping answer")
