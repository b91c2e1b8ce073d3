"""Accounts: password hashing, the user store on a real (SQLite) catalog, and `vodflow users`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vodflow.accounts import AccountExists, AccountNotFound, InvalidAccountData, get_user_store
from vodflow.accounts import passwords
from vodflow.accounts.passwords import PasswordPolicyError
from vodflow.catalog.models import Role, SubscriptionStatus


# ----------------------------------------------------------------------------- passwords
def test_scrypt_hashes_are_salted_and_verify_in_constant_form():
    a, b = passwords.hash_password("s3cret-pass"), passwords.hash_password("s3cret-pass")
    assert a != b and a.startswith("scrypt$n=16384,r=8,p=1$") and len(a) <= 255
    assert passwords.verify_password("s3cret-pass", a) and passwords.verify_password("s3cret-pass", b)
    assert not passwords.verify_password("s3cret-pas", a)
    assert not passwords.verify_password("s3cret-pass", "garbage") and not passwords.verify_password("x", "")
    assert not passwords.needs_rehash(a)
    assert passwords.needs_rehash(a.replace("n=16384", "n=1024"))
    with pytest.raises(PasswordPolicyError, match="at least 8"):
        passwords.hash_password("short")


# ----------------------------------------------------------------------------- the store
def test_create_read_authenticate_update(accounts_settings, password):
    store = get_user_store(accounts_settings.catalog_db_url)
    rec = store.create("  Ann@Example.COM ", password, country="fr", plan="Premium")
    assert rec.email == "ann@example.com" and rec.country == "FR" and rec.plan == "premium"
    assert rec.role is Role.VIEWER and rec.subscription_status is SubscriptionStatus.ACTIVE
    assert rec.created_at.tzinfo is not None and "password_hash" not in rec.to_dict()
    assert store.get(rec.id) == rec and store.by_email("ANN@example.com") == rec
    assert store.get("no-such-id") is None and store.by_email("nobody@example.com") is None
    assert store.authenticate("ann@example.com", password) == rec
    assert store.authenticate("ann@example.com", password + "x") is None
    assert store.authenticate("nobody@example.com", password) is None
    assert store.authenticate("not an email", password) is None

    new = store.update("ann@example.com", subscription="canceled", country="de")
    assert new.subscription_status is SubscriptionStatus.CANCELED and new.country == "DE"
    assert new.updated_at >= rec.updated_at and not new.subscription_active
    store.update(rec.id, password="another-password")
    assert store.authenticate("ann@example.com", password) is None
    assert store.authenticate("ann@example.com", "another-password").id == rec.id
    assert rec.email in [u.email for u in store.list()]

    with pytest.raises(AccountExists, match="already exists"):
        store.create("ann@example.com", password, country="US")
    with pytest.raises(AccountNotFound, match="vodflow users add"):
        store.update("ghost@example.com", country="US")


@pytest.mark.parametrize("kw,needle", [
    ({"email": "not-an-email"}, "is not an email address"),
    ({"email": "a@b"}, "is not an email address"),
    ({"country": "USA"}, "ISO 3166-1 alpha-2"),
    ({"country": "1A"}, "ISO 3166-1 alpha-2"),
    ({"plan": "gold"}, "unknown plan 'gold'; choose one of basic, standard, premium"),
    ({"role": "root"}, "unknown role 'root'"),
    ({"subscription": "paused"}, "unknown subscription status 'paused'"),
    ({"user_id": "has spaces"}, "a user id is"),
])
def test_invalid_account_data_is_refused_with_what_is_accepted(accounts_settings, password, kw, needle):
    store = get_user_store(accounts_settings.catalog_db_url)
    args = {"email": "valid@example.com", "country": "US", **kw}
    with pytest.raises(InvalidAccountData, match=needle):
        store.create(args.pop("email"), password, **args)
    assert store.by_email("valid@example.com") is None


def test_ensure_admin_is_idempotent_and_keeps_the_password(accounts_settings):
    from vodflow.settings import load
    from vodflow.stack.bootstrap import ensure_admin

    s = load({**accounts_settings.values, "VODFLOW_ADMIN_EMAIL": "boss@vodflow.test",
              "VODFLOW_ADMIN_PASSWORD": "first-password"})
    assert ensure_admin(s) == ("boss@vodflow.test", True)
    again = load({**s.values, "VODFLOW_ADMIN_PASSWORD": "second-password"})
    assert ensure_admin(again) == ("boss@vodflow.test", False)
    store = get_user_store(s.catalog_db_url)
    boss = store.authenticate("boss@vodflow.test", "first-password")
    assert boss is not None and boss.role is Role.ADMIN and boss.subscription_active
    assert store.authenticate("boss@vodflow.test", "second-password") is None


# ----------------------------------------------------------------------------- CLI
@pytest.fixture
def cli(accounts_settings, monkeypatch):
    from vodflow.cli import app
    from vodflow.settings import get_settings

    monkeypatch.setenv("VODFLOW_CATALOG_DB_URL", accounts_settings.catalog_db_url)
    get_settings.cache_clear()
    yield lambda *args, **kw: CliRunner().invoke(app, list(args), **kw)
    get_settings.cache_clear()


def test_users_commands(cli, accounts_settings):
    from vodflow.auth.tokens import decode_access_token

    r = cli("users", "add", "cli@example.com", "--country", "us", "--plan", "basic", "--password-stdin",
            input="cli-password\n")
    assert r.exit_code == 0, r.output
    assert "created viewer cli@example.com" in r.output and "US" in r.output
    r = cli("users", "add", "cli@example.com", "--country", "US", "--password-stdin", input="cli-password\n")
    assert r.exit_code == 1 and "already exists" in r.output
    r = cli("users", "add", "x@example.com", "--country", "Germany", "--password-stdin", input="cli-password\n")
    assert r.exit_code == 1 and "ISO 3166-1 alpha-2" in r.output
    r = cli("users", "add", "p@example.com", "--country", "DE", "--password", input="pw-in-prompt\npw-in-prompt\n")
    assert r.exit_code != 0  # no --password option on add: the prompt is the default
    r = cli("users", "add", "p@example.com", "--country", "DE", input="pw-in-prompt\npw-in-prompt\n")
    assert r.exit_code == 0, r.output
    assert get_user_store(accounts_settings.catalog_db_url).authenticate("p@example.com", "pw-in-prompt")

    r = cli("users", "set", "cli@example.com", "--subscription", "canceled", "--country", "DE")
    assert r.exit_code == 0, r.output
    rec = get_user_store(accounts_settings.catalog_db_url).by_email("cli@example.com")
    assert rec.subscription_status is SubscriptionStatus.CANCELED and rec.country == "DE"
    r = cli("users", "set", "cli@example.com")
    assert r.exit_code == 1 and "nothing to change" in r.output
    r = cli("users", "set", "ghost@example.com", "--country", "US")
    assert r.exit_code == 1 and "no account" in r.output

    r = cli("users", "list")
    assert r.exit_code == 0 and "cli@example.com" in r.output and "canceled" in r.output
    r = cli("users", "token", "cli@example.com", "--ttl", "60")
    assert r.exit_code == 0, r.output
    claims = decode_access_token(accounts_settings, r.output.strip())
    assert claims.user_id == rec.id and claims.exp - claims.iat == 60 and claims.country == "DE"
    r = cli("users", "service-token", "gateway")
    assert r.exit_code == 0 and decode_access_token(accounts_settings, r.output.strip()).is_service
