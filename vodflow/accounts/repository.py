"""Accounts in the catalog database (table ``users``, migration 0002).

:class:`UserStore` is the one way in: create, read (by id or email), authenticate, update,
list. Reads return :class:`UserRecord` snapshots (frozen, no password hash). The read by id is a
single primary-key ``SELECT`` through SQLAlchemy Core with no ORM session, because every
authenticated request makes it (``vodflow.auth.deps``); the schema is upgraded once, when the
store is built, never per request.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from vodflow.accounts import passwords
from vodflow.accounts.validation import (InvalidAccountData, normalize_country, normalize_email, normalize_plan,
                                         normalize_role, normalize_subscription)
from vodflow.catalog import db
from vodflow.catalog.models import Role, SubscriptionStatus, User, utcnow

USERS = User.__table__
_PUBLIC_COLS = [USERS.c.id, USERS.c.email, USERS.c.role, USERS.c.plan, USERS.c.subscription_status,
                USERS.c.country, USERS.c.created_at, USERS.c.updated_at, USERS.c.token_epoch]
_BY_ID = sa.select(*_PUBLIC_COLS).where(USERS.c.id == sa.bindparam("uid"))
_BY_EMAIL = sa.select(*_PUBLIC_COLS, USERS.c.password_hash).where(USERS.c.email == sa.bindparam("email"))
_USER_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-")


class AccountError(Exception):
    """Base class of account errors."""


class AccountExists(AccountError):
    def __init__(self, email: str):
        super().__init__(f"an account with email {email!r} already exists; change it with `vodflow users set`")


class AccountNotFound(AccountError, LookupError):
    def __init__(self, who: str):
        super().__init__(f"no account {who!r}; create it with `vodflow users add {who} --country XX`")


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    role: Role
    plan: str
    subscription_status: SubscriptionStatus
    country: str
    created_at: datetime
    updated_at: datetime
    token_epoch: int = 0          # tokens issued in an older epoch are refused (sign-out)

    @classmethod
    def of(cls, row: Any) -> UserRecord:
        m = row._mapping
        return cls(m["id"], m["email"], Role(m["role"]), m["plan"], SubscriptionStatus(m["subscription_status"]),
                   m["country"], m["created_at"], m["updated_at"], int(m["token_epoch"] or 0))

    @classmethod
    def of_dbapi(cls, row: tuple) -> UserRecord:
        """From a raw DB-API row of ``_PUBLIC_COLS`` (timestamps: SQLite strings or naive datetimes, UTC)."""
        return cls(row[0], row[1], Role(row[2]), row[3], SubscriptionStatus(row[4]), row[5], _utc(row[6]),
                   _utc(row[7]), int(row[8] or 0))

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def subscription_active(self) -> bool:
        return self.subscription_status is SubscriptionStatus.ACTIVE

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["role"], d["subscription_status"] = self.role.value, self.subscription_status.value
        d["created_at"], d["updated_at"] = self.created_at.isoformat(), self.updated_at.isoformat()
        d.pop("token_epoch")  # internal: only compared with the tokens' ``ep`` claim
        return d


def _utc(value: Any) -> datetime:
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt.replace(tzinfo=timezone.utc)


def _user_id(user_id: str | None) -> str:
    if user_id is None:
        return str(uuid.uuid4())
    if not 1 <= len(user_id) <= 36 or not set(user_id) <= _USER_ID_CHARS:
        raise InvalidAccountData("a user id is 1-36 characters of letters, digits and '_.:@-'")
    return user_id


class UserStore:
    """The accounts at one catalog database URL; ``migrate=True`` upgrades the schema once per process."""

    def __init__(self, url: str, *, migrate: bool = True):
        self.url = db.normalize_url(url)
        if migrate:
            db.ensure_schema(self.url)
        self._engine = db.get_engine(self.url)
        # A local SQLite file: reads are cheap and, in WAL mode, never wait for a writer.
        self.local = self._engine.dialect.name == "sqlite"
        compiled = _BY_ID.compile(dialect=self._engine.dialect)
        self._by_id_sql = str(compiled)
        self._by_id_positional = compiled.positional

    # -- reads ---------------------------------------------------------------------
    def get(self, user_id: str) -> UserRecord | None:
        """The account with this id, or None: one primary-key ``SELECT`` on a pooled DB-API connection.

        This runs on every authenticated request, so it skips SQLAlchemy's Connection/Result layers
        (~40 us instead of ~400 us of CPU on SQLite); the statement is ``_BY_ID`` compiled once for
        the engine's dialect. The pool rolls the connection back when it is returned.
        """
        params: Any = (user_id,) if self._by_id_positional else {"uid": user_id}
        conn = self._engine.raw_connection()
        try:
            cur = conn.cursor()
            try:
                cur.execute(self._by_id_sql, params)
                row = cur.fetchone()
            finally:
                cur.close()
        finally:
            conn.close()
        return UserRecord.of_dbapi(tuple(row)) if row is not None else None

    def by_email(self, email: str) -> UserRecord | None:
        try:
            e = normalize_email(email)
        except InvalidAccountData:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(_BY_EMAIL, {"email": e}).first()
        return UserRecord.of(row) if row is not None else None

    def require(self, email_or_id: str) -> UserRecord:
        rec = self.by_email(email_or_id) if "@" in email_or_id else None
        rec = rec or self.get(email_or_id)
        if rec is None:
            raise AccountNotFound(email_or_id)
        return rec

    def authenticate(self, email: str, password: str) -> UserRecord | None:
        """The account if ``password`` is right, else None (same cost whether or not the email exists)."""
        try:
            e = normalize_email(email)
        except InvalidAccountData:
            e = None
        row = None
        if e is not None:
            with self._engine.connect() as conn:
                row = conn.execute(_BY_EMAIL, {"email": e}).first()
        stored = row._mapping["password_hash"] if row is not None else passwords.DUMMY_HASH
        ok = passwords.verify_password(password, stored)
        if not ok or row is None:
            return None
        if passwords.needs_rehash(stored):
            self.update(row._mapping["id"], password=password)
        return UserRecord.of(row)

    def list(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        q = sa.select(*_PUBLIC_COLS).order_by(USERS.c.created_at, USERS.c.email).limit(limit).offset(offset)
        with self._engine.connect() as conn:
            return [UserRecord.of(r) for r in conn.execute(q)]

    # -- writes --------------------------------------------------------------------
    def create(self, email: str, password: str, *, country: str, plan: str = "standard", role: str | Role = "viewer",
               subscription: str | SubscriptionStatus = "active", user_id: str | None = None) -> UserRecord:
        """A new account (validated; password hashed). :class:`AccountExists` if the email is taken."""
        values = {"id": _user_id(user_id), "email": normalize_email(email), "country": normalize_country(country),
                  "plan": normalize_plan(plan), "role": normalize_role(role).value,
                  "subscription_status": normalize_subscription(subscription).value}
        values["password_hash"] = passwords.hash_password(password)
        now = utcnow()
        values["created_at"] = values["updated_at"] = now
        try:
            with db.transaction(self.url) as s:
                s.execute(sa.insert(USERS).values(**values))
        except IntegrityError:
            if self.by_email(values["email"]) is not None:
                raise AccountExists(values["email"]) from None
            raise AccountError(f"an account with id {values['id']!r} already exists") from None
        rec = self.get(values["id"])
        assert rec is not None
        return rec

    def update(self, email_or_id: str, *, subscription: str | SubscriptionStatus | None = None,
               country: str | None = None, plan: str | None = None, role: str | Role | None = None,
               password: str | None = None) -> UserRecord:
        """Change some fields of an account; returns the new state."""
        rec = self.require(email_or_id)
        values: dict[str, Any] = {}
        if subscription is not None:
            values["subscription_status"] = normalize_subscription(subscription).value
        if country is not None:
            values["country"] = normalize_country(country)
        if plan is not None:
            values["plan"] = normalize_plan(plan)
        if role is not None:
            values["role"] = normalize_role(role).value
        if password is not None:
            values["password_hash"] = passwords.hash_password(password)
        if not values:
            return rec
        values["updated_at"] = utcnow()
        with db.transaction(self.url) as s:
            s.execute(sa.update(USERS).where(USERS.c.id == rec.id).values(**values))
        new = self.get(rec.id)
        assert new is not None
        return new

    def sign_out(self, user_id: str) -> UserRecord:
        """Revoke every access and license token issued to the account so far (its epoch + 1)."""
        with db.transaction(self.url) as s:
            done = s.execute(sa.update(USERS).where(USERS.c.id == user_id)
                             .values(token_epoch=USERS.c.token_epoch + 1, updated_at=utcnow())).rowcount
        if not done:
            raise AccountNotFound(user_id)
        new = self.get(user_id)
        assert new is not None
        return new

    def ensure(self, email: str, password: str, *, country: str = "US", plan: str = "premium",
               role: str | Role = "admin",
               subscription: str | SubscriptionStatus = "active") -> tuple[UserRecord, bool]:
        """The account with this email, created if missing: ``(record, created)``. An existing
        account is left as it is (its password is not reset)."""
        rec = self.by_email(email)
        if rec is not None:
            return rec, False
        try:
            return self.create(email, password, country=country, plan=plan, role=role,
                               subscription=subscription), True
        except AccountExists:  # created concurrently
            rec = self.by_email(email)
            assert rec is not None
            return rec, False


@lru_cache(maxsize=16)
def _store(url: str) -> UserStore:
    return UserStore(url)


def get_user_store(db_url: str | None = None) -> UserStore:
    """The store at ``db_url`` (default ``VODFLOW_CATALOG_DB_URL``), one per URL per process."""
    if db_url is None:
        from vodflow.settings import get_settings

        db_url = get_settings().catalog_db_url
    return _store(db.normalize_url(db_url))
