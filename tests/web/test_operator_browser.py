"""The operator page inside the Airflow UI, in Debian's chromium driven by Playwright (issue 19, target 4).

Everything is real: an operator signs in on Airflow's login page, opens "vodflow titles" from the
navigation (plugins/vodflow_operator.py, loaded by the stack's api-server), finds the demo's title
in the list, opens it, sees its ladder and its rate-quality plot (served from the origin bucket) and
follows the link to its video_ingest run in the Airflow UI.

The stack's Airflow must run from this checkout (it loads plugins/ at start-up): `make test` starts
it so; when the running api-server has not loaded the plugin (another checkout, or started before the
plugin existed) the test fails saying so.
"""

from __future__ import annotations

import httpx
import pytest

from operatorkit import published_title

pytestmark = [pytest.mark.stack]

@pytest.fixture(scope="module")
def airflow(stack):
    from vodflow.airflow_client import AirflowClient
    from vodflow.operator.app import URL_PREFIX

    url = stack.airflow_url.rstrip("/")
    plugins = AirflowClient(stack)._req("GET", "/plugins").json()["plugins"]
    if "vodflow_operator" not in [p["name"] for p in plugins]:
        pytest.fail(f"Airflow at {url} did not load plugins/vodflow_operator.py (its api-server runs from another "
                    "checkout, or started before the plugin existed): restart the stack from this checkout "
                    "(`vodflow down && vodflow up`) and see `vodflow logs airflow-api` for plugin import errors")
    r = httpx.get(f"{url}{URL_PREFIX}/api/titles", timeout=30)
    assert r.status_code == 401, (r.status_code, r.text[:300])  # the page is behind Airflow's login
    return url


@pytest.fixture(scope="module")
def page():
    from browserkit import chromium

    with chromium() as b:
        pg = b.new_page()
        pg.set_default_timeout(30000)
        yield pg


def test_the_operator_page_shows_the_demo_title_its_ladder_and_plot(stack, airflow, page):
    from vodflow.operator.app import NAV_ROUTE

    rec = published_title(stack)
    page.goto(f"{airflow}/")
    page.wait_for_url("**/auth/login*")
    page.fill("input[name=username]", stack["VODFLOW_AIRFLOW_ADMIN_USER"])
    page.fill("input[name=password]", stack["VODFLOW_AIRFLOW_ADMIN_PASSWORD"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{airflow}/")

    page.get_by_text("vodflow titles").first.click()        # the navigation entry of the plugin
    page.wait_for_url(f"**/plugin/{NAV_ROUTE}")
    frame = page.frame_locator("iframe").first
    row = frame.locator(f"tr[data-video-id='{rec.id}']")
    row.wait_for()
    assert rec.title in row.inner_text() and "ready" in row.inner_text()

    row.get_by_role("link", name=rec.title).click()
    frame.locator("h1", has_text=rec.title).wait_for()
    ladder = frame.locator("#ladder").inner_text()
    for r in rec.renditions:
        assert r.name in ladder, (r.name, ladder)
    img = frame.locator("img#rate-quality")
    img.wait_for()
    img.evaluate("i => i.complete ? null : new Promise(ok => { i.onload = ok; i.onerror = ok; })")
    assert img.evaluate("i => i.naturalWidth") > 300          # the PNG arrived and decoded
    # Airflow sandboxes the frame (no top navigation): the page's script moves the UI itself to the run
    frame.get_by_role("link", name="last DAG run").click()
    page.wait_for_url(f"**/dags/video_ingest/runs/{rec.last_run_id}")
