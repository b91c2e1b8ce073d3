"""`vodflow up/status/down` tell the truth and fail clearly: ports in use, stale pids, missing Java,
a service failing its health check (nothing left half-running)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

VODFLOW = [sys.executable, "-m", "vodflow.cli"]


def run(args, env=None, timeout=300):
    return subprocess.run(VODFLOW + args, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=timeout)


@pytest.fixture()
def iso_env(tmp_path, settings):
    """An isolated state dir and free ports, sharing the downloaded jars."""
    home = tmp_path / "home"
    (home).mkdir()
    (home / "jars").symlink_to(settings.home / "jars")
    ports = []
    for _ in range(4):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return {"VODFLOW_HOME": str(home), "VODFLOW_S3_ENDPOINT": f"http://127.0.0.1:{ports[0]}",
            "VODFLOW_MLFLOW_URI": f"http://127.0.0.1:{ports[1]}",
            "VODFLOW_MLFLOW_BACKEND_URI": f"sqlite:///{home}/mlflow.db",
            "VODFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports[2]}", "VODFLOW_KAFKA_CONTROLLER_PORT": str(ports[3])}


def test_status_reports_every_service_running(stack):
    r = run(["status", "--json"])
    assert r.returncode == 0, r.stdout + r.stderr
    names = {s["name"]: s for s in json.loads(r.stdout)}
    assert set(names) >= {"s3", "kafka", "mlflow", "airflow-api", "airflow-scheduler",
                          "airflow-dag-processor", "airflow-triggerer", "api"}
    assert all(s["running"] and s["healthy"] and s["pid"] for s in names.values())


def test_second_up_is_a_noop_that_says_so(stack):
    r = run(["up"])
    assert r.returncode == 0
    assert "already up" in r.stdout


def test_port_taken_is_a_clear_error_naming_the_port(iso_env):
    port = int(iso_env["VODFLOW_S3_ENDPOINT"].rsplit(":", 1)[1])
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        r = run(["up", "--only", "s3"], env=iso_env)
    assert r.returncode == 1
    assert f"port {port}" in r.stderr and "already in use" in r.stderr
    assert not list(Path(iso_env["VODFLOW_HOME"]).glob("run/*.pid"))


def test_stale_pid_file_is_detected_and_cleaned(iso_env):
    run_dir = Path(iso_env["VODFLOW_HOME"]) / "run"
    run_dir.mkdir()
    (run_dir / "s3.pid").write_text("999999 12345.0\n")  # a process that does not exist
    (run_dir / "kafka.pid").write_text("garbage")  # a corrupt pid file
    r = run(["status", "--json"], env=iso_env)
    assert r.returncode == 1  # not everything is up: exit code says so
    st = {s["name"]: s for s in json.loads(r.stdout)}
    assert st["s3"]["running"] is False and "stale" in st["s3"]["detail"]
    assert st["kafka"]["running"] is False
    assert not (run_dir / "s3.pid").exists() and not (run_dir / "kafka.pid").exists()


def test_missing_java_names_the_fix(iso_env):
    r = run(["up", "--only", "s3"], env={**iso_env, "VODFLOW_JAVA_HOME": "/nonexistent/jdk"})
    assert r.returncode == 1
    assert "Java" in r.stderr and "VODFLOW_JAVA_HOME" in r.stderr


def test_missing_jars_names_the_fix(iso_env):
    os.unlink(Path(iso_env["VODFLOW_HOME"]) / "jars")
    r = run(["up", "--only", "s3"], env=iso_env)
    assert r.returncode == 1 and "make jars" in r.stderr


def test_failed_health_check_leaves_nothing_running(iso_env):
    # MLflow starts but cannot become healthy in 1 s: `up` must fail naming MLflow,
    # show its log, and stop the process it had started.
    env = {**iso_env, "VODFLOW_UP_TIMEOUT": "1"}
    r = run(["up", "--only", "mlflow"], env=env)
    assert r.returncode == 1
    assert "mlflow did not pass its health check" in r.stderr
    assert "Nothing was left running" in r.stderr
    assert not list(Path(iso_env["VODFLOW_HOME"]).glob("run/*.pid"))
    port = int(iso_env["VODFLOW_MLFLOW_URI"].rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_killed_service_is_reported_and_recovered_by_up(iso_env):
    env = {**iso_env}
    r = run(["up", "--only", "s3"], env=env)
    assert r.returncode == 0, r.stderr
    try:
        pid = int((Path(env["VODFLOW_HOME"]) / "run" / "s3.pid").read_text().split()[0])
        os.kill(pid, 9)
        time.sleep(1)
        st = {s["name"]: s for s in json.loads(run(["status", "--json"], env=env).stdout)}
        assert st["s3"]["running"] is False
        r = run(["up", "--only", "s3"], env=env)
        assert r.returncode == 0 and "s3 healthy" in r.stdout
    finally:
        run(["down"], env=env)
    assert not list(Path(env["VODFLOW_HOME"]).glob("run/*.pid"))


def test_cli_help_lists_commands():
    r = run(["--help"])
    assert r.returncode == 0
    for cmd in ("up", "down", "status", "logs", "settings", "smoke"):
        assert cmd in r.stdout


def test_up_only_without_the_catalogs_postgres_skips_the_admin_account(iso_env):
    """The cluster profile's catalog is on the stack's PostgreSQL: `up --only s3` (no postgres) must succeed once
    its services are healthy and say the admin account was not checked, not exit 1 on a database nobody
    started (it did, session 14)."""
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        pg_port = sk.getsockname()[1]
    env = {**iso_env, "VODFLOW_POSTGRES": "on",
           "VODFLOW_CATALOG_DB_URL": f"postgresql+psycopg://vodflow@127.0.0.1:{pg_port}/catalog"}
    try:
        r = run(["up", "--only", "s3"], env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "s3 healthy" in r.stdout
        assert "admin account not checked" in r.stdout and "postgres" in r.stdout
    finally:
        run(["down"], env=env)
    assert not list(Path(env["VODFLOW_HOME"]).glob("run/*.pid"))


def test_catalog_service_names_the_local_postgres_only():
    from vodflow.settings import load
    from vodflow.stack import profile
    from vodflow.stack.manager import catalog_service

    assert catalog_service(load({})) is None  # embedded: SQLite
    assert catalog_service(load(profile.values("cluster"))) == "postgres"
    remote = {**profile.values("cluster"), "VODFLOW_CATALOG_DB_URL": "postgresql+psycopg://u@db.example:5432/c"}
    assert catalog_service(load(remote)) is None  # a server the stack does not run
