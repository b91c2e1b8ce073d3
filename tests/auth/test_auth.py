"""Login, access tokens, license tokens and the auth dependencies (real app, private catalog DB)."""

from __future__ import annotations

import base64
import json
import os
import stat
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from vodflow.auth import tokens
from vodflow.auth.tokens import (AccessTokenError, LicenseTokenError, decode_access_token, issue_access_token,
                                 issue_license_token, issue_service_token, verify_license_token)
from vodflow.settings import load


@pytest.fixture(scope="module")
def client(accounts_settings):
    from vodflow.api.app import create_app

    with TestClient(create_app(accounts_settings)) as c:
        yield c


def _tamper(token: str, **changes) -> str:
    """The token with its payload changed and the original signature kept."""
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    new = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{new}.{sig}"


# ----------------------------------------------------------------------------- login
def test_login_with_json_and_with_the_oauth2_form(client, viewer, password, accounts_settings):
    r = client.post("/auth/login", json={"email": viewer.email.upper(), "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900 == accounts_settings.access_token_ttl
    assert r.headers["cache-control"] == "no-store"
    claims = decode_access_token(accounts_settings, body["access_token"])
    assert claims.user_id == viewer.id and claims.role == "viewer" and claims.country == "US"
    assert claims.exp - claims.iat == 900 and len(claims.jti) == 32

    r = client.post("/auth/login", data={"username": viewer.email, "password": password, "grant_type": "password"})
    assert r.status_code == 200 and r.json()["access_token"]
    me = client.get("/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == viewer.id and me.json()["email"] == viewer.email
    assert "password_hash" not in me.json()


def test_bad_credentials_are_one_and_the_same_401(client, viewer, password):
    wrong = client.post("/auth/login", json={"email": viewer.email, "password": password + "!"})
    unknown = client.post("/auth/login", json={"email": "nobody@example.com", "password": password})
    for r in (wrong, unknown):
        assert r.status_code == 401 and r.json()["detail"] == "wrong email or password"
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert client.post("/auth/login", json={"email": viewer.email}).status_code == 400
    assert client.post("/auth/login", content=b"nope", headers={"content-type": "application/json"}).status_code == 400


def test_docs_authorize_button_uses_the_login(client):
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    (scheme,) = schemes.values()
    assert scheme["type"] == "oauth2" and scheme["flows"]["password"]["tokenUrl"] == "/auth/login"


# ----------------------------------------------------------------------------- access tokens
def test_missing_expired_tampered_and_foreign_tokens_are_401_with_the_fix(client, viewer, accounts_settings):
    r = client.get("/me")
    assert r.status_code == 401 and "missing access token" in r.json()["detail"]
    assert "log in at POST /auth/login" in r.json()["detail"]
    assert r.headers["www-authenticate"] == 'Bearer realm="vodflow"'

    expired = issue_access_token(accounts_settings, viewer, ttl_s=-60)
    r = client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"] and "log in again" in r.json()["detail"]
    assert 'error="invalid_token"' in r.headers["www-authenticate"]

    good = issue_access_token(accounts_settings, viewer)
    forged = _tamper(good, role="admin")
    r = client.get("/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and "signature is invalid" in r.json()["detail"]
    other_key = jwt.encode(jwt.decode(good, options={"verify_signature": False}), "x" * 64, algorithm="HS256")
    assert client.get("/me", headers={"Authorization": f"Bearer {other_key}"}).status_code == 401
    none_alg = jwt.encode(jwt.decode(good, options={"verify_signature": False}), None, algorithm="none")
    assert client.get("/me", headers={"Authorization": f"Bearer {none_alg}"}).status_code == 401
    assert client.get("/me", headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401
    assert client.get("/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_token_of_a_deleted_account_and_service_tokens(client, make_account, accounts_settings):
    import sqlalchemy as sa

    from vodflow.catalog import db

    gone = make_account(country="FR")
    token = issue_access_token(accounts_settings, gone)
    with db.transaction(accounts_settings.catalog_db_url) as s:
        s.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": gone.id})
    r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "no longer exists" in r.json()["detail"]
    service = issue_service_token(accounts_settings, "gateway")
    r = client.get("/me", headers={"Authorization": f"Bearer {service}"})
    assert r.status_code == 403 and "acts for no account" in r.json()["detail"]


# ----------------------------------------------------------------------------- license tokens
def test_license_token_binds_user_title_device_and_expiry(accounts_settings):
    s = accounts_settings
    lic = issue_license_token(s, user_id="u1", video_id="v1", device_id="dev-1")
    c = verify_license_token(s, lic, video_id="v1", device_id="dev-1")
    assert (c.user_id, c.video_id, c.device_id) == ("u1", "v1", "dev-1") and c.exp - c.iat == 3600
    cases = {
        "other_title": lambda: verify_license_token(s, lic, video_id="v2", device_id="dev-1"),
        "other_device": lambda: verify_license_token(s, lic, video_id="v1", device_id="dev-2"),
        "expired": lambda: verify_license_token(
            s, issue_license_token(s, user_id="u1", video_id="v1", device_id="dev-1", ttl_s=-60),
            video_id="v1", device_id="dev-1"),
        "bad_signature": lambda: verify_license_token(s, _tamper(lic, vid="v2"), video_id="v2", device_id="dev-1"),
        "malformed": lambda: verify_license_token(s, "not-a-jwt", video_id="v1", device_id="dev-1"),
    }
    for code, call in cases.items():
        with pytest.raises(LicenseTokenError) as e:
            call()
        assert e.value.code == code, (code, str(e.value))
        assert e.value.reason == str(e.value)


def test_access_and_license_tokens_never_stand_in_for_each_other(client, viewer, accounts_settings):
    s = accounts_settings
    access = issue_access_token(s, viewer)
    lic = issue_license_token(s, user_id=viewer.id, video_id="v1", device_id="d")
    with pytest.raises(LicenseTokenError) as e:
        verify_license_token(s, access, video_id="v1", device_id="d")
    assert e.value.code == "not_a_license_token"
    with pytest.raises(AccessTokenError) as e:
        decode_access_token(s, lic)
    assert e.value.code == "not_an_access_token"
    r = client.get("/me", headers={"Authorization": f"Bearer {lic}"})
    assert r.status_code == 401 and "not an access token" in r.json()["detail"]
    # issuer and audience differ too, and each kind is signed with its own derived key
    a, li = (jwt.decode(t, options={"verify_signature": False}) for t in (access, lic))
    assert a["iss"] != li["iss"] and a["aud"] != li["aud"]
    assert tokens.signing_key(s, "access") != tokens.signing_key(s, "license")
    # even re-signed with the other kind's key, the audience and type refuse it
    resigned = jwt.encode(a, tokens.signing_key(s, "license"), algorithm="HS256")
    with pytest.raises(LicenseTokenError):
        verify_license_token(s, resigned, video_id="v1", device_id="d")


# ----------------------------------------------------------------------------- keys and settings
def test_generated_secret_is_private_and_stable(tmp_path):
    s = load({**os.environ, "VODFLOW_HOME": str(tmp_path), "VODFLOW_JWT_SECRET": ""})
    k = tokens.signing_key(s, "access")
    f = tmp_path / "keys" / "jwt.secret"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and len(f.read_text().strip()) == 64
    tokens._keys.cache_clear()
    assert tokens.signing_key(s, "access") == k  # read back, not regenerated
    other = load({**os.environ, "VODFLOW_HOME": str(tmp_path), "VODFLOW_JWT_SECRET": "y" * 40})
    assert tokens.signing_key(other, "access") != k
    short = load({**os.environ, "VODFLOW_HOME": str(tmp_path), "VODFLOW_JWT_SECRET": "short"})
    with pytest.raises(RuntimeError, match="shorter than 32"):
        tokens.signing_key(short, "access")


def test_access_token_ttl_setting(accounts_settings, viewer):
    s = load({**accounts_settings.values, "VODFLOW_ACCESS_TOKEN_TTL": "120"})
    c = decode_access_token(s, issue_access_token(s, viewer))
    assert c.exp - c.iat == 120 and abs(c.iat - time.time()) < 5
