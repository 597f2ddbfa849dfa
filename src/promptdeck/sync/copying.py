"""Copying the tables of schema 0003 onto the target side, through its unit of work,
a batch at a time (the plan comes from table_planner.py).

Reviews and check runs are re-attached by version uid, suites by feature name;
metrics of an origin replace that origin's rows (delete, then insert the source's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from promptdeck.store import UnitOfWork, bulk
from promptdeck.store.bulk import chunks
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
from promptdeck.sync import row_limits
from promptdeck.sync.moving import BATCH
from promptdeck.sync.records import TablesPlan

METRIC_TABLES = (metric_buckets, metric_latency, metric_scores)
REVIEWS = cast(Table, ReviewRow.__table__)
CHECK_RUNS = cast(Table, CheckRunRow.__table__)
SUITES = cast(Table, SuiteRow.__table__)
_ENVIRONMENT_COLUMNS = ("protected", "required_approvals", "require_checks")


def copy_tables(
    work: UnitOfWork, plan: TablesPlan, source: Session, features: Mapping[str, int]
) -> None:
    """Write ``plan`` in ``work``, reading the rows from ``source``. Environments go
    first: pointer moves into them follow."""
    session = work.session
    _copy_environments(session, plan, source)
    if plan.suites:  # before the check runs that name them
        suites = _read_attached(source, SUITES, plan.suites, TO_FEATURE)
        for feature, suite in suites:
            row_limits.refuse_unfit_suite(suite, feature)
        _insert_attached(session, SUITES, suites, TO_FEATURE, features)
    if plan.reviews or plan.check_runs:
        reviews = _read_attached(source, REVIEWS, plan.reviews, TO_VERSION)
        for _key, review in reviews:
            row_limits.refuse_unfit_review(review)
        runs = _read_attached(source, CHECK_RUNS, plan.check_runs, TO_VERSION)
        for _key, run in runs:
            row_limits.refuse_unfit_check_run(run)
        _name_target_suites(session, source, runs)
        version_ids = _version_ids(session, sorted({key for key, _row in (*reviews, *runs)}))
        _insert_attached(session, REVIEWS, reviews, TO_VERSION, version_ids)
        _insert_attached(session, CHECK_RUNS, runs, TO_VERSION, version_ids)
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
    for row in rows.values():
        row_limits.refuse_unfit_environment(dict(row))
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


SuiteKey = tuple[str, int, str]  # (feature name, number, content hash)


def _suite_keys(session: Session, where: ColumnElement[bool]) -> dict[str, SuiteKey]:
    return {
        uid: (name, number, digest)
        for uid, name, number, digest in session.execute(
            select(SuiteRow.uid, FeatureRow.name, SuiteRow.number, SuiteRow.content_hash)
            .join(FeatureRow, FeatureRow.id == SuiteRow.feature_id)
            .where(where)
        )
    }


def _name_target_suites(session: Session, source: Session, runs: Attached) -> None:
    """A run names its suite by uid. A suite both sides saved alike (same feature,
    number and content: each imported the same file) keeps a uid of its own on each
    side and is not copied (table_planner.py), so a run of the source's is pointed at
    the target's uid: the target's gate then finds the run for its current suite."""
    named = sorted({row["suite_uid"] for _key, row in runs if row["suite_uid"]})
    theirs: dict[str, SuiteKey] = {}
    held: set[str] = set()
    for chunk in chunks(named):
        theirs.update(_suite_keys(source, SuiteRow.uid.in_(chunk)))
        held.update(session.scalars(select(SuiteRow.uid).where(SuiteRow.uid.in_(chunk))))
    missing = {uid: key for uid, key in theirs.items() if uid not in held}
    if not missing:
        return
    names = sorted({name for name, _number, _digest in missing.values()})
    ours = {key: uid for uid, key in _suite_keys(session, FeatureRow.name.in_(names)).items()}
    for _key, row in runs:
        same = ours.get(missing.get(row["suite_uid"], ("", 0, "")))
        if same is not None:
            row["suite_uid"] = same


def _version_ids(session: Session, uids: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in chunks(uids):
        for uid, version_id in session.execute(
            select(VersionRow.uid, VersionRow.id).where(bulk.one_of(session, VersionRow.uid, chunk))
        ):
            ids[uid] = version_id
    return ids


@dataclass(frozen=True, slots=True)
class _Link:
    """How a copied row hangs on its parent: its foreign key column, the parent's id,
    and the key both sides share for the parent (a version's uid, a feature's name)."""

    column: str
    parent_id: InstrumentedAttribute[int]
    parent_key: InstrumentedAttribute[str]


TO_VERSION = _Link("version_id", VersionRow.id, VersionRow.uid)
TO_FEATURE = _Link("feature_id", FeatureRow.id, FeatureRow.name)


Attached = list[tuple[str, dict[str, Any]]]  # (the parent's shared key, the row's values)


def _read_attached(source: Session, table: Table, uids: Sequence[str], link: _Link) -> Attached:
    """Rows of ``table`` by uid (reviews, check runs, suites), in the source's order,
    each with its parent's shared key and without its ids."""
    rows: Attached = []
    for chunk in chunks(uids):
        for row in source.execute(
            select(table, link.parent_key.label("parent_key"))
            .join(link.parent_id.class_, link.parent_id == table.c[link.column])
            .where(bulk.one_of(source, table.c.uid, chunk))
            .order_by(table.c.id)
        ).mappings():
            values = {k: v for k, v in row.items() if k not in ("id", link.column, "parent_key")}
            rows.append((row["parent_key"], values))
    return rows


def _insert_attached(
    session: Session, table: Table, rows: Attached, link: _Link, target_ids: Mapping[str, int]
) -> None:
    """Insert ``rows``, each pointed at the target's row of its parent (key -> id)."""
    values = [{**row, link.column: target_ids[key]} for key, row in rows]
    bulk.insert_rows(session.connection(), table, values)


def _replace_metrics(session: Session, source: Session, origins: Sequence[str]) -> None:
    """Each origin's rows on the target are replaced by the source's: never added to."""
    for table in METRIC_TABLES:
        session.execute(delete(table).where(table.c.origin.in_(origins)))
        rows = [
            dict(row)
            for row in source.execute(select(table).where(table.c.origin.in_(origins))).mappings()
        ]
        for row in rows:
            row_limits.refuse_unfit_metric(table, row)
        bulk.insert_rows(session.connection(), table, rows)
