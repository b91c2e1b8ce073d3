from vodflow.settings import SPECS, load, markdown_table, resolve_media_tools


def test_defaults_are_local_stack():
    s = load({})
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.s3_endpoint == "http://127.0.0.1:9000"
    assert s.airflow_home == s.home / "airflow"
    assert s.table_path("silver") == str(s.home / "lake") + "/silver"


def test_env_overrides_and_home_substitution(tmp_path):
    s = load({"VODFLOW_HOME": str(tmp_path), "VODFLOW_KAFKA_BOOTSTRAP": "k1:9092,k2:9092",
              "VODFLOW_S3_ENDPOINT": ""})
    assert s.home == tmp_path
    assert s.spark_jars_dir == tmp_path / "jars" / "spark"
    assert s.kafka_port == 9092
    assert s.s3_endpoint is None  # empty = AWS default endpoints


def test_every_setting_is_documented_in_the_table():
    table = markdown_table()
    assert all(f"`{spec.env}`" in table for spec in SPECS)
    assert all(spec.env.startswith("VODFLOW_") for spec in SPECS)


def test_media_tools_resolve_to_executables():
    import os

    tools = resolve_media_tools("")
    for path in (tools.ffmpeg, tools.ffprobe, tools.packager):
        assert os.access(path, os.X_OK)


def test_readme_settings_table_is_current():
    from vodflow.settings import REPO_ROOT

    assert markdown_table() in (REPO_ROOT / "README.md").read_text(), \
        "README settings table is stale: paste the output of `vodflow settings --markdown`"
