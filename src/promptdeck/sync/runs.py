"""status, push and pull: read both sides, plan, apply through the unit of work, record.

Each push is one transaction on the remote (a local transaction first only when a
chosen resolution renumbers local versions) followed by a small local bookkeeping
transaction; each pull is one local transaction.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import TypeVar

from sqlalchemy.engine import make_url

import promptdeck.store as store_package
from promptdeck.config import redact, to_url
from promptdeck.errors import PromptDeckError, StoreError, ValidationError
from promptdeck.gc_pause import collector_paused
from promptdeck.permissions import Action
from promptdeck.store import PromptStore, sqlite_path, translated_errors
from promptdeck.store.schema import read_schema_revision
from promptdeck.sync import applying, planner, table_planner
from promptdeck.sync.reading import (
    max_audit_id,
    read_bookkeeping,
    read_pointers,
    read_side,
    remote_key,
    unchanged_since_last_sync,
    versions_created_since,
)
from promptdeck.sync.records import (
    CHOICES,
    Choice,
    Direction,
    LastSync,
    PointerState,
    Progress,
    SideState,
    SyncPlan,
    SyncResult,
    SyncStatus,
    TablesPlan,
)

T = TypeVar("T")


def parse_resolution(text: str) -> tuple[str, Choice]:
    """``FEATURE=CHOICE`` or ``FEATURE:ENV=CHOICE`` -> (key, choice)."""
    key, sep, choice = text.partition("=")
    key, choice = key.strip(), choice.strip().lower()
    if not sep or not key or choice not in CHOICES:
        raise ValidationError(
            f"cannot read resolution {text!r}: write FEATURE=renumber|remote for a version "
            "conflict, FEATURE=local|remote (or FEATURE:ENVIRONMENT=local|remote) for an "
            "active/canary conflict"
        )
    return key, choice


def open_remote(local: PromptStore, remote_url: str) -> PromptStore:
    """Open (and migrate) the remote store as the local store's user.

    Sync never creates a store: a missing SQLite file, or a database without
    promptdeck's schema (an empty PostgreSQL database, a typo in its name), is refused
    untouched, naming the database and the command that creates a store there."""
    url = to_url(remote_url)
    path = sqlite_path(url)
    if path is None or path.exists():  # a missing file: PromptStore says so below
        engine = store_package.create_store_engine(url)
        try:
            with translated_errors(url), engine.connect() as connection:
                revision = read_schema_revision(connection)
        finally:
            engine.dispose()
        if revision is None:
            database = make_url(url).database or url
            raise StoreError(
                f"no promptdeck store in database {database} ({redact(url)}): sync never "
                f"creates one; to create it, run `promptdeck --db URL init` with that URL"
            )
    remote = PromptStore(remote_url, user=local.user, create=False)
    if path is None and remote.identity_refusal is not None:
        # A secured server store acts as the database login, whatever the local name.
        remote.close()
        remote = PromptStore(remote_url, create=False)
    return remote


def status(local: PromptStore, remote: PromptStore) -> SyncStatus:
    """What a push and a pull would do, per feature, and the conflicts; changes nothing."""
    url = remote.display_url
    key = remote_key(remote.url)
    if unchanged_since_last_sync(local, remote, key):
        return SyncStatus(url, (), unchanged=True)
    with local.reading() as session:
        last, baselines = read_bookkeeping(session, key)
    with local.snapshot() as session:
        local_side = read_side(session, events=False)
    with remote.snapshot() as session:
        remote_side = read_side(session, events=False)
    identity_changed = last is not None and last.remote_uid != remote_side.identity
    comparisons = planner.compare(local_side, remote_side, {} if identity_changed else baselines)
    found = planner.status_of(
        comparisons,
        local_side,
        remote_side,
        url,
        first_sync=last is None or identity_changed,
        identity_changed=identity_changed,
    )
    # What the tables would copy, sent with the versions the same run would send.
    push_plan = planner.plan("push", comparisons, local_side, remote_side, {})
    pull_plan = planner.plan("pull", comparisons, local_side, remote_side, {})
    to_remote = plan_tables("push", local_side, remote_side, push_plan, True)
    to_local = plan_tables("pull", remote_side, local_side, pull_plan, True)
    return replace(
        found,
        tables_ahead=sum(n for _what, n in to_remote.counts()),
        tables_behind=sum(n for _what, n in to_local.counts()),
    )


def pending_changes(local: PromptStore, remote_url: str) -> int:
    """Local changes not pushed to ``remote_url``: reads local bookkeeping only.

    The same count as ``SyncStatus.to_push`` (what the sync view shows "to push"):
    local-only versions (those left unpushed at the last sync, plus those created
    since) and active versions/canaries moved locally since the last sync."""
    with local.reading() as session:
        last, baselines = read_bookkeeping(session, remote_key(remote_url))
        count = last.pending if last is not None else 0
        count += versions_created_since(session, last.local_audit_id if last else 0)
        pointers = read_pointers(session)
    return count + planner.unpushed_pointer_moves(pointers, baselines)


def synced_before(local: PromptStore, remote_url: str) -> bool:
    """Whether the local store has synced with ``remote_url`` (local bookkeeping only).

    Before the first sync ``pending_changes`` cannot know what the remote already
    holds (it may hold every local version, by uid): callers say "not synced yet"."""
    with local.reading() as session:
        last, _baselines = read_bookkeeping(session, remote_key(remote_url))
    return last is not None


@collector_paused()
def pull(
    local: PromptStore,
    remote: PromptStore,
    *,
    resolve: Mapping[str, Choice] | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Bring what the local store lacks, in one local transaction; move local pointers
    where only the remote moved. Conflicts without a choice are left for later."""
    resolve = dict(resolve or {})
    url = remote.display_url
    key = remote_key(remote.url)
    if not resolve and unchanged_since_last_sync(local, remote, key):
        return SyncResult("pull", url, noop=True)
    after_commit: list[str] = []  # what went wrong once the local side had committed
    with (
        _ended_quietly(remote.snapshot(), after_commit) as remote_session,
        local.unit_of_work() as work,
    ):
        # read
        remote_side = read_side(remote_session, events=True)
        local_side = read_side(work.session, events=True)
        local_side.revision = work.revision_before
        last, old_baselines = read_bookkeeping(work.session, key)
        identity_changed = last is not None and last.remote_uid != remote_side.identity
        baselines = {} if identity_changed else old_baselines
        planner.check_resolutions(resolve, set(local_side.features) | set(remote_side.features))
        # plan
        planned, comparisons = planner.plan_run(
            "pull", local_side, remote_side, baselines, resolve, f"pull from {url}"
        )
        tables = plan_tables(
            "pull", remote_side, local_side, planned, work.may(Action.PULL_POINTERS)
        )
        # apply
        renumbered: list[str] = []
        after: dict[tuple[str, str], PointerState] = {}
        if planned.writes or tables.writes:
            renumbered, after = applying.apply_plan(
                work, "pull", planned, remote_session, url, progress, tables
            )
            work.audit(
                "pull",
                None,
                reason=f"pull from {url}: {planner.counts_text(planned)}",
                details={
                    "store": remote_side.identity,
                    "features": len(planned.features),
                    "versions": len(planned.versions),
                    "events": len(planned.events),
                    "moves": len(planned.moves),
                    "renumbered": renumbered,
                },
            )
        # record
        new_baselines = planner.new_baselines(
            local_side, remote_side, baselines, "pull", after, planned.remembered
        )
        now_synced = LastSync(
            remote_uid=remote_side.identity,
            local_revision=work.revision,
            remote_revision=remote_side.revision,
            local_audit_id=max_audit_id(work.session),
            pending=planner.pending_after(planned, comparisons, "pull"),
            clean=not (
                planned.unresolved
                or planned.other_direction
                or planned.remembered
                or renumbered
                or tables.refused
            ),
        )
        unchanged = (
            last is not None
            and last.same_state(replace(now_synced, local_revision=local_side.revision))
            and new_baselines == old_baselines
        )
        if not (planned.writes or tables.writes) and unchanged:
            work.discard()  # nothing to write and nothing new to remember
        else:
            applying.record_bookkeeping(
                work.session, key, url, now_synced, new_baselines, old_baselines
            )
    result = planner.result_of(
        "pull",
        url,
        planned,
        local_side,
        remote_side,
        renumbered=renumbered,
        identity_changed=identity_changed,
    )
    result = with_tables(result, tables)
    if after_commit:
        result = replace(result, notes=(*result.notes, *after_commit))
    return planner.finish(result, planned)


@contextmanager
def _ended_quietly(manager: AbstractContextManager[T], notes: list[str]) -> Iterator[T]:
    """The remote's read transaction, whose end cannot undo a pull: the local side has
    committed by then. A failure while ending it (the server stopped) becomes a note
    saying so, not an error claiming the pull failed (issue 14)."""
    value = manager.__enter__()
    try:
        yield value
    except BaseException:
        if not manager.__exit__(*sys.exc_info()):
            raise
        return
    try:
        manager.__exit__(None, None, None)
    except PromptDeckError as exc:
        notes.append(
            "the pull was committed in full to the local store; the remote's connection "
            f"failed afterwards, while ending its read ({exc})"
        )


@collector_paused()
def push(
    local: PromptStore,
    remote: PromptStore,
    *,
    resolve: Mapping[str, Choice] | None = None,
    versions_only: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """Send what the remote lacks; move its pointers where only the local side moved.

    Raises SyncConflictError (after pushing everything else) when conflicts remain,
    and PermissionDeniedError, with nothing written, when the remote refuses a role.
    """
    resolve = dict(resolve or {})
    url = remote.display_url
    key = remote_key(remote.url)
    if not resolve and unchanged_since_last_sync(local, remote, key):
        return SyncResult("push", url, noop=True)
    # A local transaction first, only for resolutions that renumber local versions.
    renumbered = renumber_before_push(local, remote, key, resolve, versions_only) if resolve else []

    # read
    with local.reading() as session:
        last, old_baselines = read_bookkeeping(session, key)
    with local.snapshot() as local_session:
        local_side = read_side(local_session, events=True)
        with remote.snapshot() as session:
            remote_side = read_side(session, events=True)
        identity_changed = last is not None and last.remote_uid != remote_side.identity
        baselines = {} if identity_changed else old_baselines
        reason = f"push from {local.user} (store {local_side.identity[:8]})"
        planner.check_resolutions(resolve, set(local_side.features) | set(remote_side.features))
        # plan
        planned, comparisons = planner.plan_run(
            "push", local_side, remote_side, baselines, resolve, reason, versions_only=versions_only
        )
        tables = plan_tables("push", local_side, remote_side, planned, True)
        # apply
        after: dict[tuple[str, str], PointerState] = {}
        remote_revision = remote_side.revision
        if planned.writes or tables.writes:
            with remote.unit_of_work() as work:
                # Under the remote's write lock: plan again on what it holds now.
                fresh = read_side(work.session, events=True)
                fresh.revision = work.revision_before
                if (fresh.revision, fresh.identity) != (remote_side.revision, remote_side.identity):
                    remote_side = fresh
                    planned, comparisons = planner.plan_run(
                        "push", local_side, remote_side, baselines, resolve, reason,
                        versions_only=versions_only,
                    )  # fmt: skip
                remote_side.tables = fresh.tables  # metrics move without a revision
                tables = plan_tables(
                    "push", local_side, remote_side, planned, work.may(Action.PUSH_POINTERS)
                )
                if not (planned.writes or tables.writes):
                    work.discard()
                try:
                    _renumbered, after = applying.apply_plan(
                        work, "push", planned, local_session, url, progress, tables
                    )
                except PromptDeckError as exc:
                    if renumbered:  # say what already happened locally
                        raise _with_note(exc, renumbered) from exc
                    raise
                work.audit(
                    "push",
                    None,
                    reason=f"push from {local.user}: {planner.counts_text(planned)}",
                    details={
                        "store": local_side.identity,
                        "features": len(planned.features),
                        "versions": len(planned.versions),
                        "events": len(planned.events),
                        "moves": len(planned.moves),
                    },
                )
                if not work.discarded:
                    remote_revision = work.revision

    # record
    new_baselines = planner.new_baselines(
        local_side, remote_side, baselines, "push", after, planned.remembered
    )
    now_synced = LastSync(
        remote_uid=remote_side.identity,
        local_revision=local_side.revision,
        remote_revision=remote_revision,
        local_audit_id=local_side.max_audit_id,
        pending=planner.pending_after(planned, comparisons, "push"),
        clean=not (
            planned.unresolved
            or planned.skipped_moves
            or planned.other_direction
            or planned.remembered
            or tables.refused
        ),
    )
    if last is None or not last.same_state(now_synced) or new_baselines != old_baselines:
        with local.unit_of_work() as work:
            # Record our own bookkeeping write as seen, unless someone else wrote too.
            if local_side.revision == work.revision_before:
                now_synced = replace(now_synced, local_revision=work.revision)
            applying.record_bookkeeping(
                work.session, key, url, now_synced, new_baselines, old_baselines
            )
    result = planner.result_of(
        "push",
        url,
        planned,
        local_side,
        remote_side,
        renumbered=renumbered,
        identity_changed=identity_changed,
    )
    return planner.finish(with_tables(result, tables), planned)


def plan_tables(
    direction: Direction,
    source: SideState,
    target: SideState,
    planned: SyncPlan,
    may_manage_environments: bool,
) -> TablesPlan:
    """What this run copies of environments, reviews, suites, check runs and metrics."""
    return table_planner.plan_tables(
        direction,
        source.tables,
        target.tables,
        source_identity=source.identity,
        target_identity=target.identity,
        target_versions=set(target.numbers) | {uid for _name, uid in planned.versions},
        target_features=set(target.features) | set(planned.features),
        may_manage_environments=may_manage_environments,
    )


def with_tables(result: SyncResult, tables: TablesPlan) -> SyncResult:
    return replace(
        result,
        copied=tables.counts(),
        refused=tuple(tables.refused),
        noop=result.noop and not tables.writes and not tables.refused,
    )


def renumber_before_push(
    local: PromptStore,
    remote: PromptStore,
    key: str,
    resolve: Mapping[str, Choice],
    versions_only: bool,
) -> list[str]:
    """Push resolving version conflicts: renumber the local-only versions first.

    Refuses ``FEATURE=local`` for a version conflict, and a push the remote's roles
    would refuse, before writing anything. Returns what was renumbered."""
    if not any(":" not in k for k in resolve):
        return []  # only per-environment pointer choices: nothing to renumber
    with local.reading() as session:
        last, baselines = read_bookkeeping(session, key)
    with remote.snapshot() as remote_session:
        remote_side = read_side(remote_session, events=False)
    if last is not None and last.remote_uid != remote_side.identity:
        baselines = {}
    renumbered: list[str] = []
    with local.unit_of_work() as work:
        local_side = read_side(work.session, events=False)
        planner.check_resolutions(resolve, set(local_side.features) | set(remote_side.features))
        comparisons = planner.compare(local_side, remote_side, baselines)
        planner.refuse_keep_local(comparisons, resolve)
        # The remote's roles, as the push will meet them: refuse before any write.
        planned = planner.plan(
            "push",
            comparisons,
            local_side,
            remote_side,
            resolve,
            versions_only=versions_only,
            assume_renumbered=True,
        )
        if planned.versions or planned.features:
            remote.require(Action.PUSH_VERSIONS)
        if planned.moves:
            remote.require(Action.PUSH_POINTERS)
        to_renumber = planner.to_renumber_before_push(comparisons, resolve)
        if to_renumber:
            work.require(Action.RENUMBER)
        for comparison in to_renumber:
            renumbered += applying.renumber_local_only(work, comparison, remote.url)
        if not renumbered:
            work.discard()
    return renumbered


def _with_note(exc: PromptDeckError, renumbered: Sequence[str]) -> PromptDeckError:
    """The same error, saying which local versions were renumbered before it."""
    note = (
        f"{exc}; note: before the remote refused, your local-only versions were "
        f"renumbered on top of the remote's ({', '.join(renumbered)}); nothing was "
        "lost, and the next push sends them"
    )
    try:
        return type(exc)(note)
    except TypeError:
        return PromptDeckError(note)
