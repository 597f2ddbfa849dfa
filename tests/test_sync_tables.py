"""Environments, reviews, suites, check runs and metrics travelling with sync, on a
SQLite and a PostgreSQL remote (test_sync.py's ``team``: alice's and bob's stores and
one remote, all in sync to start with). Rows are written straight into the tables, as
the governance, checks and metrics modules will: sync reads and writes the tables,
not those modules' APIs. The rules in isolation: test_sync_table_planner.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from test_sync import Team
from test_sync import shared_remote_url as shared_remote_url
from test_sync import team as team

from promptdeck import sync
from promptdeck.checks.records import canonical_suite, suite_hash
from promptdeck.store import PromptStore
from promptdeck.store.rows import (
    CheckRunRow,
    EnvironmentRow,
    FeatureRow,
    ReviewRow,
    StoreIdentityRow,
    SuiteRow,
    VersionRow,
    metric_buckets,
    metric_latency,
    metric_scores,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def identity(store: PromptStore) -> str:
    with store.reading() as session:
        uid = session.scalar(select(StoreIdentityRow.uid))
    assert uid
    return uid


def version_id(session: Any, feature: str, number: int) -> int:
    found = session.scalar(
        select(VersionRow.id)
        .join(FeatureRow, FeatureRow.id == VersionRow.feature_id)
        .where(FeatureRow.name == feature, VersionRow.number == number)
    )
    assert found is not None
    return int(found)


def version_uid(store: PromptStore, feature: str, number: int) -> str:
    with store.reading() as session:
        return str(
            session.scalar(
                select(VersionRow.uid).where(VersionRow.id == version_id(session, feature, number))
            )
        )


def add_environment(store: PromptStore, name: str, *, protected: bool = False) -> None:
    """Add an environment unless the store has it already (import creates the
    environments its files carry)."""
    with store.unit_of_work() as work:
        if work.session.scalar(select(EnvironmentRow.id).where(EnvironmentRow.name == name)):
            return
        work.session.execute(
            insert(EnvironmentRow),
            [
                {
                    "name": name,
                    "protected": protected,
                    "required_approvals": 1,
                    "require_checks": False,
                    "created_at": NOW,
                    "created_by": store.user,
                }
            ],
        )


def protect(store: PromptStore, name: str, approvals: int) -> None:
    with store.unit_of_work() as work:
        work.session.execute(
            update(EnvironmentRow)
            .where(EnvironmentRow.name == name)
            .values(protected=True, required_approvals=approvals)
        )


def environments(store: PromptStore) -> dict[str, tuple[bool, int]]:
    with store.reading() as session:
        return {
            name: (protected, approvals)
            for name, protected, approvals in session.execute(
                select(
                    EnvironmentRow.name, EnvironmentRow.protected, EnvironmentRow.required_approvals
                )
            )
        }


def add_review(store: PromptStore, feature: str, number: int, kind: str) -> str:
    uid = str(uuid.uuid4())
    with store.unit_of_work() as work:
        work.session.execute(
            insert(ReviewRow),
            [
                {
                    "uid": uid,
                    "version_id": version_id(work.session, feature, number),
                    "kind": kind,
                    "actor": store.user,
                    "comment": f"{kind} by {store.user}",
                    "created_at": NOW,
                }
            ],
        )
    return uid


def add_suite(store: PromptStore, feature: str, number: int) -> str:
    """Suite ``number``, as `suite set` stores one (a sync refuses a suite it would not)."""
    uid = str(uuid.uuid4())
    case = {"name": f"case by {store.user}", "input": "hi", "assert": [{"type": "is-json"}]}
    body = canonical_suite({"cases": [case]})
    with store.unit_of_work() as work:
        feature_id = work.feature(feature).id
        work.session.execute(
            insert(SuiteRow),
            [
                {
                    "uid": uid,
                    "feature_id": feature_id,
                    "number": number,
                    "body": body,
                    "content_hash": suite_hash(body),
                    "author": store.user,
                    "reason": "cases",
                    "created_at": NOW,
                }
            ],
        )
    return uid


def add_check_run(store: PromptStore, feature: str, number: int, suite: str) -> str:
    uid = str(uuid.uuid4())
    with store.unit_of_work() as work:
        work.session.execute(
            insert(CheckRunRow),
            [
                {
                    "uid": uid,
                    "version_id": version_id(work.session, feature, number),
                    "suite_uid": suite,
                    "model": "gpt-4o",
                    "status": "passed",
                    "runner": store.user,
                    "started_at": NOW,
                    "finished_at": NOW,
                    "summary": {"passed": 1},
                    "results": {"cases": []},
                }
            ],
        )
    return uid


def uids_with_versions(store: PromptStore, row_class: Any) -> dict[str, str]:
    with store.reading() as session:
        return {
            uid: v_uid
            for uid, v_uid in session.execute(
                select(row_class.uid, VersionRow.uid).join(
                    VersionRow, VersionRow.id == row_class.version_id
                )
            )
        }


def suites(store: PromptStore, feature: str | None = None) -> dict[str, tuple[str, int]]:
    """Suites by uid, of ``feature`` only when given (the sample files carry suites of
    other features, imported on each store)."""
    with store.reading() as session:
        return {
            uid: (name, number)
            for uid, name, number in session.execute(
                select(SuiteRow.uid, FeatureRow.name, SuiteRow.number).join(
                    FeatureRow, FeatureRow.id == SuiteRow.feature_id
                )
            )
            if feature is None or name == feature
        }


def record_metrics(store: PromptStore, requests: int, bucket: int = 0) -> None:
    """What the metrics module writes: rows of this store's origin, added up, in their
    own transaction (no revision bump)."""
    origin = identity(store)
    key = {
        "origin": origin,
        "feature": "summarizer",
        "environment": "production",
        "version_uid": version_uid(store, "summarizer", 1),
        "bucket_start": 1_700_000_000 + bucket * 60,
    }
    row: dict[str, Any] = {**key, "version": 1, "count": requests, "successes": requests}
    row["failures"] = 0
    for measure in ("cost", "tokens_in", "tokens_out", "latency_ms"):
        row |= {f"{measure}_count": requests, f"{measure}_sum": 1.0 * requests}
        row[f"{measure}_sumsq"] = 1.0 * requests
    row |= {f"users_{i}": 0 for i in range(16)}
    with store.engine.begin() as connection:
        connection.execute(insert(metric_buckets), [row])
        connection.execute(insert(metric_latency), [{**key, "bucket": 3, "count": requests}])
        connection.execute(
            insert(metric_scores),
            [{**key, "name": "stars", "count": requests, "sum": 4.0 * requests, "sumsq": 0.0}],
        )


def metric_totals(store: PromptStore) -> dict[str, tuple[int, int, int]]:
    """Per origin: requests in buckets, latency counts, score counts."""
    totals: dict[str, list[int]] = {}
    with store.reading() as session:
        for index, table in enumerate((metric_buckets, metric_latency, metric_scores)):
            for origin, total in session.execute(
                select(table.c.origin, func.sum(table.c.count)).group_by(table.c.origin)
            ):
                totals.setdefault(origin, [0, 0, 0])[index] = int(total)
    return {origin: (t[0], t[1], t[2]) for origin, t in totals.items()}


# --- environments --------------------------------------------------------------------------


def test_environments_are_created_and_protection_travels(team: Team) -> None:
    # "preview" is carried by no sample file, so only alice's store has it.
    before = environments(team.ra)
    assert "preview" not in before
    add_environment(team.a, "preview")
    protect(team.a, "production", 2)
    result = sync.push(team.a, team.ra)
    assert ("new environment", 1) in result.copied and "new environment" in result.summary()
    assert environments(team.ra) == {**before, "production": (True, 2), "preview": (False, 1)}
    sync.pull(team.b, team.rb)
    assert environments(team.b) == environments(team.ra)
    # The remote's settings win on pull.
    with team.ra.unit_of_work() as work:
        work.session.execute(
            update(EnvironmentRow)
            .where(EnvironmentRow.name == "preview")
            .values(protected=True, required_approvals=3)
        )
    protect(team.a, "preview", 1)  # a local change the pull overrides
    sync.pull(team.a, team.ra)
    assert environments(team.a)["preview"] == (True, 3)
    assert sync.push(team.a, team.ra).noop


def test_an_editor_neither_creates_environments_nor_changes_protection(team: Team) -> None:
    team.ra.set_role("alice", "admin")
    team.ra.set_role("bob", "editor")
    add_environment(team.b, "qa")
    protect(team.b, "production", 5)
    before = environments(team.ra)
    result = sync.push(team.b, team.rb)
    assert environments(team.ra) == before
    assert len(result.refused) == 2 and "only an admin" in result.summary()
    assert any("qa" in line for line in result.refused)
    # Pulling as bob takes the remote's settings back; qa stays local.
    sync.pull(team.b, team.rb)
    assert environments(team.b)["production"] == before["production"]
    assert "qa" in environments(team.b)


# --- reviews, suites, check runs ----------------------------------------------------------


def test_reviews_suites_and_check_runs_travel_by_uid_and_attach_by_version(team: Team) -> None:
    team.a.save("summarizer", "A new summarizer prompt.", reason="new")
    number = max(v.number for v in team.a.versions("summarizer"))
    review = add_review(team.a, "summarizer", number, "approve")
    older_review = add_review(team.a, "summarizer", 1, "request")
    suite = add_suite(team.a, "summarizer", 1)
    run = add_check_run(team.a, "summarizer", number, suite)
    status = sync.status(team.a, team.ra)
    assert not status.in_sync and status.tables_ahead == 4 and status.tables_behind == 0
    result = sync.push(team.a, team.ra)
    assert dict(result.copied) == {"review": 2, "suite": 1, "check run": 1}
    sync.pull(team.b, team.rb)
    for store in (team.ra, team.b):
        reviews = uids_with_versions(store, ReviewRow)
        assert reviews[review] == version_uid(team.a, "summarizer", number)
        assert reviews[older_review] == version_uid(team.a, "summarizer", 1)
        assert uids_with_versions(store, CheckRunRow) == {run: reviews[review]}
        assert suites(store, "summarizer") == {suite: ("summarizer", 1)}
    # Union, never doubled: bob adds his own, both directions twice each.
    bobs = add_review(team.b, "summarizer", number, "reject")
    for _ in range(2):
        sync.push(team.b, team.rb)
        sync.pull(team.a, team.ra)
        sync.push(team.a, team.ra)
    for store in (team.a, team.b, team.ra):
        assert set(uids_with_versions(store, ReviewRow)) == {review, older_review, bobs}
        assert len(suites(store, "summarizer")) == 1


def test_a_review_waits_for_its_version(team: Team) -> None:
    """A version in conflict is not sent, and neither is its review (until it is)."""
    team.a.save("summarizer", "Alice's.", reason="a")
    team.b.save("summarizer", "Bob's.", reason="b")
    number = max(v.number for v in team.b.versions("summarizer"))
    review = add_review(team.b, "summarizer", number, "request")
    sync.push(team.a, team.ra)
    with pytest.raises(sync.SyncConflictError):
        sync.push(team.b, team.rb)
    assert review not in uids_with_versions(team.ra, ReviewRow)
    sync.push(team.b, team.rb, resolve={"summarizer": "renumber"})
    assert review in uids_with_versions(team.ra, ReviewRow)


def test_a_suite_numbered_differently_on_both_sides_is_refused_with_a_line(team: Team) -> None:
    mine = add_suite(team.a, "summarizer", 1)
    theirs = add_suite(team.b, "summarizer", 1)
    sync.push(team.a, team.ra)
    result = sync.push(team.b, team.rb)
    assert result.refused == (
        "summarizer suite 1: the remote holds a different suite 1; save the suite again on "
        "one side to go on",
    )
    assert "not synced: summarizer suite 1" in result.summary()
    assert suites(team.ra, "summarizer") == {mine: ("summarizer", 1)}
    pulled = sync.pull(team.b, team.rb)
    assert suites(team.b, "summarizer") == {theirs: ("summarizer", 1)} and pulled.refused


# --- metrics by origin ---------------------------------------------------------------------


def test_metrics_are_copied_by_replacing_and_never_counted_twice(team: Team) -> None:
    a, b = identity(team.a), identity(team.b)
    record_metrics(team.a, 100)
    record_metrics(team.b, 7)
    for _ in range(2):
        sync.push(team.a, team.ra)
    for _ in range(2):
        sync.pull(team.b, team.rb)
    for _ in range(2):
        sync.push(team.b, team.rb)
    for _ in range(2):
        sync.pull(team.a, team.ra)
    expected = {a: (100, 100, 100), b: (7, 7, 7)}
    for store in (team.a, team.b, team.ra):
        assert metric_totals(store) == expected
    # More is recorded (no revision moves): the next push still sends it, replacing.
    revision = team.a.revision()
    record_metrics(team.a, 5, bucket=1)
    assert team.a.revision() == revision
    status = sync.status(team.a, team.ra)
    assert (status.tables_ahead, status.in_sync) == (1, False)
    pushed = sync.push(team.a, team.ra)
    assert ("metrics origin", 1) in pushed.copied
    assert metric_totals(team.ra)[a] == (105, 105, 105)
    for _ in range(2):
        sync.pull(team.b, team.rb)
        sync.push(team.b, team.rb)
    for store in (team.a, team.b, team.ra):
        assert metric_totals(store) == {a: (105, 105, 105), b: (7, 7, 7)}
    assert sync.push(team.a, team.ra).noop and sync.pull(team.b, team.rb).noop


def test_a_stale_copy_never_replaces_the_origins_own_rows(team: Team) -> None:
    a = identity(team.a)
    record_metrics(team.a, 10)
    sync.push(team.a, team.ra)
    sync.pull(team.b, team.rb)  # bob holds alice's 10
    record_metrics(team.a, 3, bucket=1)
    sync.push(team.a, team.ra)  # the remote holds alice's 13
    sync.push(team.b, team.rb)  # bob's older copy must not win
    sync.pull(team.a, team.ra)  # nor come home
    assert metric_totals(team.ra)[a][0] == 13 and metric_totals(team.a)[a][0] == 13
    sync.pull(team.b, team.rb)
    assert metric_totals(team.b)[a][0] == 13
