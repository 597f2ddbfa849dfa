"""sync bookkeeping: store identity, per-remote state and pointer baselines

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    identity = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_identity")),
    )
    op.bulk_insert(identity, [{"id": 1, "uid": str(uuid.uuid4())}])
    op.create_table(
        "sync_remotes",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("remote_uid", sa.String(length=36), nullable=False),
        sa.Column("local_revision", sa.Integer(), nullable=False),
        sa.Column("remote_revision", sa.Integer(), nullable=False),
        sa.Column("local_audit_id", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("clean", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sync_remotes")),
    )
    op.create_table(
        "sync_pointers",
        sa.Column("remote_key", sa.String(length=64), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("local_active", sa.String(length=36), nullable=True),
        sa.Column("local_canary", sa.String(length=36), nullable=True),
        sa.Column("local_percent", sa.Integer(), nullable=False),
        sa.Column("remote_active", sa.String(length=36), nullable=True),
        sa.Column("remote_canary", sa.String(length=36), nullable=True),
        sa.Column("remote_percent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["remote_key"],
            ["sync_remotes.key"],
            name=op.f("fk_sync_pointers_remote_key_sync_remotes"),
        ),
        sa.PrimaryKeyConstraint(
            "remote_key", "feature", "environment", name=op.f("pk_sync_pointers")
        ),
    )


def downgrade() -> None:
    op.drop_table("sync_pointers")
    op.drop_table("sync_remotes")
    op.drop_table("store_identity")
