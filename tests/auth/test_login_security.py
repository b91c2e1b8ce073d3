"""Login rate limiting and sign-out on the real API app (docs/security.md).

The app is ``create_app`` over a private catalog, called over HTTP in-process (Starlette's
TestClient: the catalog, accounts and tokens are the real ones; no service is needed).
"""

from __future__ import annotations

import os

import pytest
from authkit import PASSWORD, make_user
from fastapi.testclient import TestClient

from vodflow.settings import load


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    db = tmp_path_factory.mktemp("login-security") / "catalog.db"
    return load({**os.environ, "VODFLOW_CATALOG_DB_URL": f"sqlite:///{db}", "VODFLOW_LOGIN_RATE_LIMIT": "3/minute",
                 "VODFLOW_REDIS_URL": ""})


@pytest.fixture(scope="module")
def app(s):
    from vodflow.api.app import create_app

    return create_app(s)  # one app = one API process: its clients share the process's login budgets


def _client(app, host: str = "203.0.113.7") -> TestClient:
    return TestClient(app, client=(host, 50000))


def _login(c: TestClient, email: str, password: str):
    return c.post("/auth/login", json={"email": email, "password": password})


def test_failed_logins_are_limited_per_address_and_per_email(s, app):
    victim = make_user(s)
    other = make_user(s)
    c = _client(app)
    assert _login(c, victim.email, PASSWORD).status_code == 200      # successes never count
    assert _login(c, victim.email, PASSWORD).status_code == 200
    for _ in range(3):
        assert _login(c, victim.email, "guess").status_code == 401
    r = _login(c, victim.email, PASSWORD)                            # the right password, past the budget
    assert r.status_code == 429 and "too many failed logins" in r.json()["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "access_token" not in r.text
    # the address's budget is spent for every account ...
    assert _login(c, other.email, PASSWORD).status_code == 429
    # ... and the email's budget from every address (many machines guessing one account)
    assert _login(_client(app, "198.51.100.9"), victim.email, PASSWORD).status_code == 429
    # another account from another address is untouched
    assert _login(_client(app, "198.51.100.10"), other.email, PASSWORD).status_code == 200


def test_a_bad_rate_limit_setting_names_the_fix(s):
    from vodflow.auth.ratelimit import LoginLimiter, RateLimitConfigError

    with pytest.raises(RateLimitConfigError, match="VODFLOW_LOGIN_RATE_LIMIT='often'.*10/minute"):
        LoginLimiter(load({**s.values, "VODFLOW_LOGIN_RATE_LIMIT": "often"}))


def test_sign_out_revokes_every_token_issued_before(s, app):
    user = make_user(s)
    c = _client(app, "192.0.2.44")
    first = _login(c, user.email, PASSWORD).json()["access_token"]
    second = _login(c, user.email, PASSWORD).json()["access_token"]      # another device
    h1, h2 = ({"Authorization": f"Bearer {t}"} for t in (first, second))
    assert c.get("/me", headers=h1).status_code == 200
    assert "token_epoch" not in c.get("/me", headers=h1).json()
    assert c.post("/auth/logout").status_code == 401                        # needs a token
    assert c.post("/auth/logout", headers=h1).status_code == 204
    for h in (h1, h2):
        r = c.get("/me", headers=h)
        assert r.status_code == 401 and "signed out" in r.json()["detail"]
        assert c.post("/auth/logout", headers=h).status_code == 401
    fresh = _login(c, user.email, PASSWORD).json()["access_token"]
    assert c.get("/me", headers={"Authorization": f"Bearer {fresh}"}).json()["id"] == user.id
