"""users (accounts and entitlements) and content_keys (DRM keys, encrypted at rest)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

users: one row per account; the password is stored as a salted scrypt hash, never in clear.
content_keys: one CENC key per title (and track label); the key is stored only as an
AES-GCM ciphertext under the master key from settings (VODFLOW_DRM_MASTER_KEY).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROLES = ("viewer", "admin")
SUBSCRIPTIONS = ("active", "past_due", "canceled", "none")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("subscription_status", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.CheckConstraint("role IN ({})".format(", ".join(f"'{r}'" for r in ROLES)), name=op.f("ck_users_role")),
        sa.CheckConstraint("subscription_status IN ({})".format(", ".join(f"'{r}'" for r in SUBSCRIPTIONS)),
                           name=op.f("ck_users_subscription_status")),
    )
    op.create_table(
        "content_keys",
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("kid", sa.String(32), nullable=False),
        sa.Column("key_ciphertext", sa.Text(), nullable=False),
        sa.Column("master_key_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("video_id", "label", name="pk_content_keys"),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], name="fk_content_keys_video_id_videos",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("kid", name="uq_content_keys_kid"),
    )


def downgrade() -> None:
    op.drop_table("content_keys")
    op.drop_table("users")
