"""environments, reviews, suites, check runs, metrics and store settings

Revision ID: 0003
Revises: 0002

One migration for the tables that governance, checks and experiments write, so each
of them (and sync) builds on the same schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRIC_KEY = ("origin", "feature", "environment", "version_uid", "bucket_start")
MEASURES = ("cost", "tokens_in", "tokens_out", "latency_ms")
USER_SKETCH_WORDS = 16


def _metric_key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("origin", sa.String(length=36), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("version_uid", sa.String(length=36), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    environments = op.create_table(
        "environments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("require_checks", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
        sa.UniqueConstraint("name", name=op.f("uq_environments_name")),
    )
    # production exists from the start; every environment a deployment names exists too.
    bind = op.get_bind()
    names = {"production"} | {
        row[0] for row in bind.execute(sa.text("SELECT DISTINCT environment FROM deployments"))
    }
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(
        environments,
        [
            {
                "name": name,
                "protected": False,
                "required_approvals": 1,
                "require_checks": False,
                "created_at": now,
                "created_by": "promptdeck",
            }
            for name in sorted(names)
        ],
    )

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name=op.f("fk_reviews_version_id_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("uid", name=op.f("uq_reviews_uid")),
    )
    op.create_index(op.f("ix_reviews_version_id"), "reviews", ["version_id"])

    op.create_table(
        "suites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("feature_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feature_id"], ["features.id"], name=op.f("fk_suites_feature_id_features")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suites")),
        sa.UniqueConstraint("uid", name=op.f("uq_suites_uid")),
        sa.UniqueConstraint("feature_id", "number", name="uq_suites_feature_number"),
    )

    op.create_table(
        "check_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("suite_uid", sa.String(length=36), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("runner", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name=op.f("fk_check_runs_version_id_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_runs")),
        sa.UniqueConstraint("uid", name=op.f("uq_check_runs_uid")),
    )
    op.create_index(op.f("ix_check_runs_version_id"), "check_runs", ["version_id"])

    measure_columns: list[sa.Column[object]] = []
    for measure in MEASURES:
        measure_columns += [
            sa.Column(f"{measure}_count", sa.BigInteger(), nullable=False),
            sa.Column(f"{measure}_sum", sa.Float(), nullable=False),
            sa.Column(f"{measure}_sumsq", sa.Float(), nullable=False),
        ]
    op.create_table(
        "metric_buckets",
        *_metric_key_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("successes", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        *measure_columns,
        *[
            sa.Column(f"users_{i}", sa.BigInteger(), nullable=False)
            for i in range(USER_SKETCH_WORDS)
        ],
        sa.PrimaryKeyConstraint(*METRIC_KEY, name=op.f("pk_metric_buckets")),
    )
    op.create_index(
        "ix_metric_buckets_feature_bucket", "metric_buckets", ["feature", "bucket_start"]
    )
    op.create_table(
        "metric_latency",
        *_metric_key_columns(),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*METRIC_KEY, "bucket", name=op.f("pk_metric_latency")),
    )
    op.create_table(
        "metric_scores",
        *_metric_key_columns(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("sumsq", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(*METRIC_KEY, "name", name=op.f("pk_metric_scores")),
    )

    op.create_table(
        "store_settings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_settings")),
    )


def downgrade() -> None:
    for table in (
        "store_settings",
        "metric_scores",
        "metric_latency",
        "metric_buckets",
        "check_runs",
        "suites",
        "reviews",
        "environments",
    ):
        op.drop_table(table)
