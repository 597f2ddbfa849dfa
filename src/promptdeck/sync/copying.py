"""Copying the tables of schema 0003 onto the target side, through its unit of work,
a batch at a time (the plan comes from table_planner.py).

Reviews and check runs are re-attached by version uid, suites by feature name;
metrics of an origin replace that origin's rows (delete, then insert the source's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from promptdeck.store import UnitOfWork
from promptdeck.store.rows import (
    CheckRunRow,
    EnvironmentRow,
    FeatureRow,
    ReviewRow,
    SuiteRow,
    VersionRow,
    metric_buckets,
    metric_latency,
    metric_scores,
)
from promptdeck.sync.moving import BATCH, chunks
from promptdeck.sync.records import TablesPlan

METRIC_TABLES = (metric_buckets, metric_latency, metric_scores)
_ENVIRONMENT_COLUMNS = ("protected", "required_approvals", "require_checks")


def copy_tables(
    work: UnitOfWork, plan: TablesPlan, source: Session, features: Mapping[str, int]
) -> None:
    """Write ``plan`` in ``work``, reading the rows from ``source``. Environments go
    first: pointer moves into them follow."""
    session = work.session
    _copy_environments(session, plan, source)
    if plan.reviews or plan.check_runs:
        wanted = sorted(
            {*_version_uids(source, ReviewRow, plan.reviews)}
            | {*_version_uids(source, CheckRunRow, plan.check_runs)}
        )
        version_ids = _version_ids(session, wanted)
        _copy_attached(session, source, ReviewRow, plan.reviews, version_ids)
        _copy_attached(session, source, CheckRunRow, plan.check_runs, version_ids)
    if plan.suites:
        _copy_suites(session, source, plan.suites, features)
    if plan.metric_origins:
        _replace_metrics(session, source, plan.metric_origins)
    session.flush()


def _copy_environments(session: Session, plan: TablesPlan, source: Session) -> None:
    names = sorted({*plan.create_environments, *plan.update_environments})
    if not names:
        return
    rows = {
        row["name"]: row
        for row in source.execute(
            select(EnvironmentRow.__table__).where(EnvironmentRow.name.in_(names))
        ).mappings()
    }
    created = [
        {k: v for k, v in rows[name].items() if k != "id"} for name in plan.create_environments
    ]
    for batch in chunks(created, BATCH):
        session.execute(insert(EnvironmentRow), list(batch))
    for name in plan.update_environments:  # rare: one small UPDATE per changed setting
        session.execute(
            update(EnvironmentRow)
            .where(EnvironmentRow.name == name)
            .values({column: rows[name][column] for column in _ENVIRONMENT_COLUMNS})
            .execution_options(synchronize_session=False)
        )


def _version_uids(
    source: Session, row_class: type[ReviewRow] | type[CheckRunRow], uids: Sequence[str]
) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(uids):
        found.update(
            source.scalars(
                select(VersionRow.uid)
                .join(row_class, row_class.version_id == VersionRow.id)
                .where(row_class.uid.in_(chunk))
            )
        )
    return found


def _version_ids(session: Session, uids: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in chunks(uids):
        for uid, version_id in session.execute(
            select(VersionRow.uid, VersionRow.id).where(VersionRow.uid.in_(chunk))
        ):
            ids[uid] = version_id
    return ids


def _copy_attached(
    session: Session,
    source: Session,
    row_class: type[ReviewRow] | type[CheckRunRow],
    uids: Sequence[str],
    version_ids: Mapping[str, int],
) -> None:
    """Reviews or check runs, each pointed at the target's row of the same version."""
    table = row_class.__table__
    assert isinstance(table, Table)
    rows: list[dict[str, Any]] = []
    for chunk in chunks(uids):
        for row in source.execute(
            select(table, VersionRow.uid.label("version_uid"))
            .join(VersionRow, VersionRow.id == table.c.version_id)
            .where(table.c.uid.in_(chunk))
            .order_by(table.c.id)
        ).mappings():
            values = {k: v for k, v in row.items() if k not in ("id", "version_uid")}
            values["version_id"] = version_ids[row["version_uid"]]
            rows.append(values)
    for batch in chunks(rows, BATCH):
        session.execute(insert(table), list(batch))


def _copy_suites(
    session: Session, source: Session, uids: Sequence[str], features: Mapping[str, int]
) -> None:
    table = SuiteRow.__table__
    assert isinstance(table, Table)
    rows: list[dict[str, Any]] = []
    for chunk in chunks(uids):
        for row in source.execute(
            select(table, FeatureRow.name.label("feature_name"))
            .join(FeatureRow, FeatureRow.id == table.c.feature_id)
            .where(table.c.uid.in_(chunk))
            .order_by(table.c.id)
        ).mappings():
            values = {k: v for k, v in row.items() if k not in ("id", "feature_name")}
            values["feature_id"] = features[row["feature_name"]]
            rows.append(values)
    for batch in chunks(rows, BATCH):
        session.execute(insert(table), list(batch))


def _replace_metrics(session: Session, source: Session, origins: Sequence[str]) -> None:
    """Each origin's rows on the target are replaced by the source's: never added to."""
    for table in METRIC_TABLES:
        session.execute(delete(table).where(table.c.origin.in_(origins)))
        rows = [
            dict(row)
            for row in source.execute(select(table).where(table.c.origin.in_(origins))).mappings()
        ]
        for batch in chunks(rows, BATCH):
            session.execute(insert(table), list(batch))
