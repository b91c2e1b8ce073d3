"""Recommendation endpoints: business rules, cold start, cache invalidation, bad input.

A hand-made two-dimensional factor model ("action" vs "drama" titles) is published through
the real MLflow server the way the DAG's `publish` task does it (run artifact + registered
model tag + champion alias), against a private catalog DB and a private lake.

Requests authenticate (``authkit``): the model's users ``u-act`` / ``u-drama`` are simulated viewers
without accounts, so most tests ask as an admin (who may pass ``?region=``); ``u-drama`` also gets a
viewer account in the US for the per-user rules (own list only, region = account country).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vodflow.recs.factors import FactorModel, seen_csr
from vodflow.settings import load

MODEL = f"test-serving-{uuid.uuid4().hex[:8]}"
EXPERIMENT = "vodflow-tests-recs"
V = {k: str(uuid.uuid4()) for k in ("a1", "a2", "a3", "a4", "a5", "a6", "d1", "d2", "d3", "d4", "n1")}
NAME = {v: k for k, v in V.items()}
ITEMS = ["a1", "a2", "a3", "a4", "a5", "a6", "d1", "d2", "d3", "d4"]  # n1 is new: not in the model
ITEM_F = np.array([[1.0 - 0.05 * i, 0.0] for i in range(6)] + [[0.0, 1.0 - 0.05 * j] for j in range(4)], np.float32)
# catalog: name -> (status, regions); a6 is not in the catalog at all
CATALOG = {"a1": ("ready", []), "a2": ("ready", ["US"]), "a3": ("ready", ["FR"]), "a4": ("processing", []),
           "a5": ("ready", []), "d1": ("ready", []), "d2": ("ready", []), "d3": ("ready", []),
           "d4": ("ready", ["US", "CA"]), "n1": ("ready", [])}


def factor_model(action_user: tuple[float, float]) -> FactorModel:
    users = ["u-act", "u-drama"]
    uf = np.array([action_user, [0.0, 1.0]], np.float32)
    seen_u, seen_i = [0, 1], [ITEMS.index("a1"), ITEMS.index("d1")]  # each has completed one title
    indptr, indices = seen_csr(np.array(seen_u), np.array(seen_i), len(users))
    pop = np.array([5, 1, 1, 1, 2, 1, 3, 1, 1, 9], np.int64)  # d4 most watched
    return FactorModel(np.array(users), np.array([V[n] for n in ITEMS]), uf, ITEM_F, indptr, indices, pop,
                       {"test": True})


@pytest.fixture(scope="module")
def env(stack, tmp_path_factory):
    root = tmp_path_factory.mktemp("recs-serving")
    s = load({**os.environ, "VODFLOW_LAKE_URI": str(root / "lake"),
              "VODFLOW_CATALOG_DB_URL": f"sqlite:///{root / 'catalog.db'}"})
    from vodflow.catalog import Catalog

    cat = Catalog(s.catalog_db_url)
    rend = [{"name": "360p", "width": 640, "height": 360, "fps": 25.0, "codecs": "avc1.64001e,mp4a.40.2",
             "bandwidth": 800_000}]
    for name, (status, regions) in CATALOG.items():
        cat.create_video(f"title {name}", f"masters/{V[name]}/original.mp4", regions, video_id=V[name])
        if status in ("processing", "ready"):
            cat.start_processing(V[name], "run-1")
        if status == "ready":
            cat.mark_ready(V[name], rend, {"hls": f"videos/{V[name]}/master.m3u8"}, run_id="run-1")
    return s


def publish_bundle(s, fm: FactorModel, tmp) -> str:
    """What the DAG's publish task leaves behind: run artifact, version, alias, serving tag."""
    from vodflow.recs import registry

    path = fm.save(tmp / f"{uuid.uuid4().hex}" / "factors.npz")
    return registry.serve_factor_file(registry.client(s), MODEL, path, EXPERIMENT)


def write_title_daily(s, rows: list[tuple[str, int]]) -> None:
    from deltalake import write_deltalake

    today = dt.date(2026, 3, 1)
    df = pd.DataFrame({"video_id": [V[n] for n, _ in rows] + [V["a5"]],
                       "date": [today] * len(rows) + [today - dt.timedelta(days=60)],  # outside the window
                       "views": [2 * u for _, u in rows] + [10_000], "unique_viewers": [u for _, u in rows] + [10_000],
                       "watch_time_s": 100.0, "completions": 1})
    write_deltalake(s.table_path("gold/title_daily"), df, mode="overwrite")


@pytest.fixture(scope="module")
def admin(env) -> dict[str, str]:
    from authkit import headers_for, make_user

    return headers_for(env, make_user(env, role="admin"))


@pytest.fixture(scope="module")
def client(env, admin, tmp_path_factory):
    from vodflow.recs.routes import create_router

    publish_bundle(env, factor_model((1.0, 0.0)), tmp_path_factory.mktemp("bundle"))
    write_title_daily(env, [("n1", 500), ("a2", 400), ("d3", 300), ("a4", 200), ("a5", 100), ("d2", 50)])
    app = FastAPI()
    app.include_router(create_router(env, MODEL, refresh_seconds=0, catalog_ttl=0))
    with TestClient(app, headers=admin) as c:
        yield c


def names(body) -> list[str]:
    return [NAME[i["video_id"]] for i in body["items"]]


def test_personalized_only_ready_unwatched_titles_of_the_region(client):
    r = client.get("/users/u-act/recommendations", params={"limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["strategy"] == "personalized" and body["model_version"] == "1"
    # a1 watched, a2 US only, a3 FR only, a4 not ready, a6 not in the catalog -> a5, then the dramas
    assert names(body) == ["a5", "d1", "d2"]  # dramas tie at 0: lower row first
    assert body["items"][0]["source"] == "als" and body["items"][0]["title"] == "title a5"
    assert [i["rank"] for i in body["items"]] == [1, 2, 3]
    us = client.get("/users/u-act/recommendations", params={"limit": 3, "region": "us"}).json()
    assert us["region"] == "US" and names(us) == ["a2", "a5", "d1"]
    fr = client.get("/users/u-act/recommendations", params={"limit": 2, "region": "FR"}).json()
    assert names(fr) == ["a3", "a5"]
    everything = client.get("/users/u-act/recommendations", params={"limit": 50, "region": "US"}).json()
    got = set(names(everything))
    assert not got & {"a1", "a3", "a4", "a6"}
    # every ready, unwatched title available in the US, the one outside the model (n1) from popularity
    assert got == {"a2", "a5", "d1", "d2", "d3", "d4", "n1"}
    assert everything["items"][-1]["video_id"] == V["n1"] and everything["items"][-1]["source"] == "popular"


def test_cold_start_user_gets_gold_popularity_with_the_same_rules(client):
    body = client.get("/users/brand-new@user/recommendations", params={"limit": 4}).json()
    assert body["strategy"] == "popular" and body["popularity_source"] == "title_daily"
    # a2 (US only) and a4 (not ready) skipped; a5's old views fall outside the 28-day window
    assert names(body)[:4] == ["n1", "d3", "a5", "d2"]
    assert all(i["score"] is None for i in body["items"])
    us = client.get("/users/brand-new@user/recommendations", params={"limit": 3, "region": "US"}).json()
    assert names(us) == ["n1", "a2", "d3"]


def test_cold_start_without_gold_titles_uses_interactions(env, admin, client):
    from vodflow.recs.routes import create_router

    s = load({**env.values, "VODFLOW_LAKE_URI": env.lake_uri + "-empty"})
    app = FastAPI()
    app.include_router(create_router(s, MODEL, refresh_seconds=0, catalog_ttl=0))
    with TestClient(app, headers=admin) as c:
        body = c.get("/users/nobody/recommendations", params={"limit": 2}).json()
    assert body["popularity_source"] == "interactions"
    assert names(body) == ["a1", "d1"]  # d4 has the most interactions but is US/CA only


def test_similar_titles_from_item_factors(client):
    body = client.get(f"/videos/{V['a5']}/similar", params={"limit": 3}).json()
    assert body["strategy"] == "item_factors"
    assert names(body)[0] == "a1" and "a5" not in names(body)
    assert not set(names(body)) & {"a2", "a3", "a4", "a6"}
    mine = client.get(f"/videos/{V['a5']}/similar", params={"limit": 3, "user_id": "u-act", "region": "US"}).json()
    assert names(mine)[0] == "a2" and "a1" not in names(mine)
    new = client.get(f"/videos/{V['n1']}/similar", params={"limit": 2})
    assert new.status_code == 200 and new.json()["strategy"] == "popular"
    assert client.get(f"/videos/{uuid.uuid4()}/similar").status_code == 404
    assert client.get("/videos/not-a-video/similar").status_code == 404


@pytest.mark.parametrize("path,params,needle", [
    ("/users/u-act/recommendations", {"limit": 0}, "greater than or equal to 1"),
    ("/users/u-act/recommendations", {"limit": 51}, "less than or equal to 50"),
    ("/users/u-act/recommendations", {"limit": "ten"}, "valid integer"),
    ("/users/u-act/recommendations", {"region": "USA"}, "ISO 3166-1 alpha-2"),
    ("/users/bad user/recommendations", {}, "user_id must be"),
    ("/users/" + "x" * 129 + "/recommendations", {}, "user_id must be"),
    (f"/videos/{V['a5']}/similar", {"user_id": "no spaces allowed"}, "user_id must be"),
    (f"/videos/{V['a5']}/similar", {"limit": 100}, "less than or equal to 50"),
])
def test_bad_input_is_a_clear_422(client, path, params, needle):
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert needle in r.text


def test_recommendations_are_the_callers_own_in_its_country(env, client):
    """A viewer reads only its own list, in its account's country; no token is a 401."""
    from authkit import headers_for, make_user

    drama = headers_for(env, make_user(env, user_id="u-drama", country="US"))
    r = client.get("/users/u-drama/recommendations", params={"limit": 5}, headers=drama)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["region"] == "US" and body["strategy"] == "personalized"
    assert "d1" not in names(body) and "d4" in names(body)  # d1 watched; d4 is US/CA only
    r = client.get("/users/u-act/recommendations", headers=drama)
    assert r.status_code == 403 and "only your own" in r.json()["detail"]
    r = client.get("/users/u-drama/recommendations", params={"region": "FR"}, headers=drama)
    assert r.status_code == 403 and "account's country (US)" in r.json()["detail"]
    assert client.get("/users/u-drama/recommendations", params={"region": "us"}, headers=drama).status_code == 200
    r = client.get("/users/u-drama/recommendations", headers={"Authorization": ""})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    # an admin without ?region= sees the list as from the account's country
    assert client.get("/users/u-drama/recommendations").json()["region"] == "US"
    # similar: public without a token; a viewer's token drops its watched titles; user_id is checked
    anon = client.get(f"/videos/{V['d2']}/similar", params={"limit": 3}, headers={"Authorization": ""})
    assert anon.status_code == 200 and anon.json()["user_id"] is None
    mine = client.get(f"/videos/{V['d2']}/similar", params={"limit": 3}, headers=drama).json()
    assert mine["user_id"] == "u-drama" and mine["region"] == "US" and "d1" not in names(mine)
    r = client.get(f"/videos/{V['d2']}/similar", params={"user_id": "u-act"}, headers=drama)
    assert r.status_code == 403
    r = client.get(f"/videos/{V['d2']}/similar", params={"user_id": "u-act"}, headers={"Authorization": ""})
    assert r.status_code == 401


def test_cache_hit_then_invalidated_by_a_new_champion(env, client, tmp_path_factory):
    first = client.get("/users/u-act/recommendations", params={"limit": 2, "region": "CA"})
    again = client.get("/users/u-act/recommendations", params={"limit": 2, "region": "CA"})
    assert first.headers["X-Cache"] == "miss" and again.headers["X-Cache"] == "hit"
    assert again.json() == first.json() and names(first.json()) == ["a5", "d1"]
    # a new champion: the action fan turns out to like dramas
    version = publish_bundle(env, factor_model((0.0, 1.0)), tmp_path_factory.mktemp("bundle2"))
    after = client.get("/users/u-act/recommendations", params={"limit": 2, "region": "CA"})
    assert after.headers["X-Cache"] == "miss"
    assert after.json()["model_version"] == version != first.json()["model_version"]
    assert names(after.json()) == ["d1", "d2"]
    info = client.get("/recommendations/model").json()
    assert info["champion_version"] == version and info["bundle"]["model_version"] == version
    assert info["users"] == 2 and info["titles"] == len(ITEMS)


def test_a_due_poll_runs_in_the_background_while_requests_keep_the_served_bundle(env, admin, client,
                                                                               tmp_path_factory):
    """With refresh intervals > 0 (the API's defaults) no request waits for the registry or the catalog:
    the poll that is due runs in a thread, requests answer from the bundle being served, then the new one."""
    import time

    from vodflow.recs.routes import create_router

    router = create_router(env, MODEL, refresh_seconds=0.2, catalog_ttl=0.2)
    app = FastAPI()
    app.include_router(router)
    q = {"limit": 2, "region": "CA"}
    with TestClient(app, headers=admin) as c:
        old = c.get("/users/u-act/recommendations", params=q).json()["model_version"]
        assert router.service.ready()  # loaded: later requests are answered on the event loop
        version = publish_bundle(env, factor_model((1.0, 0.0)), tmp_path_factory.mktemp("bundle-bg"))
        assert version != old
        time.sleep(0.3)
        seen, deadline = [], time.monotonic() + 60
        while time.monotonic() < deadline:
            r = c.get("/users/u-act/recommendations", params={**q, "limit": 3})
            assert r.status_code == 200
            seen.append(r.json()["model_version"])
            if seen[-1] == version:
                break
            time.sleep(0.05)
        assert seen[0] == old and seen[-1] == version  # the due request got the old bundle, then the swap


def test_redis_cache_is_shared_by_replicas_and_dropped_on_a_new_champion(env, admin, redis_url, tmp_path_factory):
    from vodflow.recs.routes import create_router

    s = load({**env.values, "VODFLOW_REDIS_URL": redis_url})
    replicas = []
    for _ in range(2):                                    # two API processes behind one load balancer
        app = FastAPI()
        app.include_router(create_router(s, MODEL, refresh_seconds=0, catalog_ttl=0))
        replicas.append(TestClient(app, headers=admin))
    with replicas[0] as a, replicas[1] as b:
        q = {"limit": 3, "region": "CA"}
        first = a.get("/users/u-act/recommendations", params=q)
        shared = b.get("/users/u-act/recommendations", params=q)
        assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
        assert shared.headers["X-Cache"] == "hit" and shared.json() == first.json()
        version = publish_bundle(env, factor_model((1.0, 0.0)), tmp_path_factory.mktemp("bundle3"))
        after = b.get("/users/u-act/recommendations", params=q)
        assert after.headers["X-Cache"] == "miss" and after.json()["model_version"] == version


def test_api_app_serves_the_routes(env):
    from vodflow.api.app import create_app

    paths = {getattr(r, "path", None) for r in create_app(env).routes}
    assert {"/users/{user_id}/recommendations", "/videos/{video_id}/similar", "/recommendations/model"} <= paths
