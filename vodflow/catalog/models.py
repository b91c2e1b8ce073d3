"""SQLAlchemy 2.0 models of the video catalog.

The schema itself is owned by the Alembic migrations in ``vodflow/catalog/migrations``;
these classes must match them (``tests/catalog/test_catalog.py`` checks that the migrated
schema and the models agree). Column types are chosen to be portable between SQLite
(local stack) and Postgres (production):

* the status is a ``VARCHAR`` + ``CHECK`` constraint, not a native Postgres enum, so adding
  a state later is a plain migration;
* JSON columns are ``JSON`` (``JSONB`` on Postgres);
* timestamps are stored as naive UTC and read back as timezone-aware UTC (SQLite has no
  time zones), see :class:`UTCDateTime`.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC, returns aware UTC; rejects naive datetimes on the way in."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("catalog timestamps must be timezone-aware")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class VideoStatus(str, enum.Enum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[VideoStatus] = mapped_column(
        sa.Enum(VideoStatus, name="video_status", native_enum=False, create_constraint=True, length=16,
                values_callable=lambda e: [m.value for m in e]),
        index=True)
    error: Mapped[str | None] = mapped_column(sa.Text)
    source_key: Mapped[str] = mapped_column(sa.String(1024))
    source_props: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    hls_master_key: Mapped[str | None] = mapped_column(sa.String(1024))
    dash_mpd_key: Mapped[str | None] = mapped_column(sa.String(1024))
    thumbnails: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    regions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ingest_attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default=sa.text("0"))
    last_run_id: Mapped[str | None] = mapped_column(sa.String(250))

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True,
        order_by="(Rendition.height.desc(), Rendition.bandwidth.desc())")


class Rendition(Base):
    __tablename__ = "renditions"
    __table_args__ = (sa.UniqueConstraint("video_id", "name", name="uq_renditions_video_id_name"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    fps: Mapped[float] = mapped_column(sa.Float)
    codecs: Mapped[str] = mapped_column(sa.String(255))
    bandwidth: Mapped[int] = mapped_column(sa.BigInteger)
    average_bandwidth: Mapped[int | None] = mapped_column(sa.BigInteger)
    measured_avg_bitrate: Mapped[int | None] = mapped_column(sa.BigInteger)
    measured_peak_bitrate: Mapped[int | None] = mapped_column(sa.BigInteger)
    playlist_key: Mapped[str | None] = mapped_column(sa.String(1024))

    video: Mapped[Video] = relationship(back_populates="renditions")


class Role(str, enum.Enum):
    VIEWER = "viewer"
    ADMIN = "admin"


class SubscriptionStatus(str, enum.Enum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    NONE = "none"


class User(Base):
    """An account: plan, subscription status and country decide what it may play."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(
        sa.Enum(Role, name="role", native_enum=False, create_constraint=True, length=16,
                values_callable=lambda e: [m.value for m in e]))
    plan: Mapped[str] = mapped_column(sa.String(32))
    subscription_status: Mapped[SubscriptionStatus] = mapped_column(
        sa.Enum(SubscriptionStatus, name="subscription_status", native_enum=False, create_constraint=True, length=16,
                values_callable=lambda e: [m.value for m in e]))
    country: Mapped[str] = mapped_column(sa.String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # tokens carry the epoch they were issued in; sign-out increments it (migration 0003)
    token_epoch: Mapped[int] = mapped_column(sa.Integer, default=0, server_default=sa.text("0"))


class ContentKey(Base):
    """A title's CENC content key; only the AES-GCM ciphertext under the master key is stored."""

    __tablename__ = "content_keys"

    video_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("videos.id", ondelete="CASCADE"),
                                          primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    kid: Mapped[str] = mapped_column(sa.String(32), unique=True)
    key_ciphertext: Mapped[str] = mapped_column(sa.Text)
    master_key_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
