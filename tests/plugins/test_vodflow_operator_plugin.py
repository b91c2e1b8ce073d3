"""Airflow's plugin manager loads plugins/vodflow_operator.py from this checkout (in-process, with the
environment `vodflow up` gives Airflow: tests/conftest.py sets it), and the mounted app sits behind
Airflow's own login and permissions: no token -> 401, a viewer may read but not retry, an admin reads.

Tokens are minted by Airflow's real auth manager (SimpleAuthManager, as the stack configures it) with
the stack's JWT secret; its generated-passwords file is redirected to a temporary folder so the
stack's is never touched. Airflow's permission check reads the stack's Airflow metadata database
(the DAG's team), hence the ``stack`` fixture; the Airflow services themselves are not called: the
stack's api-server loads plugins from its own checkout, so tests/web/test_operator_browser.py covers
the running one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vodflow.settings import REPO_ROOT


pytestmark = [pytest.mark.stack]


@pytest.fixture(scope="module")
def plugin(stack, tmp_path_factory):
    key = "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
    saved = os.environ.get(key)
    os.environ[key] = str(tmp_path_factory.mktemp("airflow") / "passwords.json")
    from airflow import plugins_manager, settings

    assert Path(settings.PLUGINS_FOLDER) == REPO_ROOT / "plugins"
    plugins, errors = plugins_manager._get_plugins()
    assert not {k: v for k, v in errors.items() if "vodflow" in k}, errors
    (found,) = [p for p in plugins if p.name == "vodflow_operator"]
    yield found
    if saved is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = saved


def test_the_plugin_manager_registers_the_app_and_the_navigation_entry(plugin):  # noqa: ARG001
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    assert [a["url_prefix"] for a in apps if a["name"] == "vodflow operator"] == ["/vodflow-operator"]
    views, _ = plugins_manager._get_ui_plugins()  # what the UI's navigation is built from
    (nav,) = [v for v in views if v["url_route"] == "vodflow-titles"]
    assert nav["href"] == "/vodflow-operator/" and nav["destination"] == "nav"


def _jwt(role: str) -> str:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return init_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"op-{role}", role=role))


def _token(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_jwt(role)}"}


def test_the_pages_need_airflow_login_and_the_retry_needs_trigger_rights(plugin):
    client = TestClient(plugin.fastapi_apps[0]["app"])
    assert client.get("/").status_code == 401
    assert client.get("/api/titles").status_code == 401
    viewer = _token("viewer")
    r = client.get("/", headers=viewer)
    assert r.status_code == 200 and "<h1>vodflow titles</h1>" in r.text
    assert client.get("/api/titles", headers=_token("admin")).status_code == 200
    assert client.post("/titles/00000000-0000-4000-8000-000000000000/retry", headers=viewer,
                       follow_redirects=False).status_code == 403


def test_airflows_api_server_app_mounts_the_page_and_lists_the_navigation_entry(plugin):  # noqa: ARG001
    """The app ``airflow api-server`` serves (built in-process): the page under /vodflow-operator with the
    UI's session cookie, and the entry in the plugins list the UI builds its navigation from."""
    from airflow.api_fastapi.app import create_app

    client = TestClient(create_app())
    assert client.get("/vodflow-operator/").status_code == 401
    jwt = _jwt("admin")
    r = client.get("/vodflow-operator/", cookies={"_token": jwt})
    assert r.status_code == 200 and "<h1>vodflow titles</h1>" in r.text
    plugins = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {jwt}"}).json()["plugins"]
    (ours,) = [p for p in plugins if p["name"] == "vodflow_operator"]
    assert [v["url_route"] for v in ours["external_views"]] == ["vodflow-titles"]
