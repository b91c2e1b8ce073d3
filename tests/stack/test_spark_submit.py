"""Jobs run unchanged under spark-submit (here with a local master; a cluster URL works the same)."""

import os
import subprocess
import sys

from vodflow.settings import REPO_ROOT


def test_job_runs_with_spark_submit(settings, tmp_path):
    from vodflow.spark import spark_submit_argv

    env = {**os.environ, "VODFLOW_LAKE_URI": str(tmp_path / "lake"), "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    argv = spark_submit_argv(str(REPO_ROOT / "jobs" / "delta_smoke.py"), ["--table", "t1"], master="local[1]")
    r = subprocess.run(argv,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{tmp_path / 'lake'}/t1 has 1 rows" in r.stdout
