"""users.token_epoch: sign-out revokes every token of an account

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

Access and license tokens carry the account's token epoch (claim ``ep``) at issue time; POST
/auth/logout increments it, after which every token issued before is refused (GET /me, /play,
POST /license/clearkey). Existing rows start at 0, the epoch of tokens without the claim.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_epoch", sa.Integer(), nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_epoch")
