"""videos and renditions

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Portable between SQLite and Postgres: status is VARCHAR + CHECK (no native enum type), JSON
columns become JSONB on Postgres, timestamps are naive UTC.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STATUSES = ("uploaded", "processing", "ready", "failed")


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("source_key", sa.String(1024), nullable=False),
        sa.Column("source_props", JSON, nullable=True),
        sa.Column("hls_master_key", sa.String(1024), nullable=True),
        sa.Column("dash_mpd_key", sa.String(1024), nullable=True),
        sa.Column("thumbnails", JSON, nullable=True),
        sa.Column("regions", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("ready_at", sa.DateTime(), nullable=True),
        sa.Column("ingest_attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_run_id", sa.String(250), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_videos"),
        sa.CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in STATUSES)),
                           name=op.f("ck_videos_video_status")),
    )
    op.create_index("ix_videos_status", "videos", ["status"])
    op.create_index("ix_videos_created_at", "videos", ["created_at"])

    op.create_table(
        "renditions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("codecs", sa.String(255), nullable=False),
        sa.Column("bandwidth", sa.BigInteger(), nullable=False),
        sa.Column("average_bandwidth", sa.BigInteger(), nullable=True),
        sa.Column("measured_avg_bitrate", sa.BigInteger(), nullable=True),
        sa.Column("measured_peak_bitrate", sa.BigInteger(), nullable=True),
        sa.Column("playlist_key", sa.String(1024), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_renditions"),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], name="fk_renditions_video_id_videos",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("video_id", "name", name="uq_renditions_video_id_name"),
    )
    op.create_index("ix_renditions_video_id", "renditions", ["video_id"])


def downgrade() -> None:
    op.drop_index("ix_renditions_video_id", table_name="renditions")
    op.drop_table("renditions")
    op.drop_index("ix_videos_created_at", table_name="videos")
    op.drop_index("ix_videos_status", table_name="videos")
    op.drop_table("videos")
