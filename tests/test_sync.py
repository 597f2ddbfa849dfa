"""Sync scenarios between two local SQLite stores and a shared remote.

Every scenario built on the ``team`` fixture runs twice: with a SQLite remote (fast, no
server) and with a PostgreSQL remote (marked ``postgres``). test_sync_pg.py keeps what
only a server can show: batching, a killed or stopped server, authentication.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from promptdeck import sync, yamlio
from promptdeck.errors import PermissionDeniedError, StoreError, ValidationError
from promptdeck.store import PromptStore, UnitOfWork
from promptdeck.store.rows import AuditEventRow, SyncRemoteRow, VersionRow

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"


def make_store(path: Path | str, user: str = "alice") -> PromptStore:
    store = PromptStore(path, user=user)
    store.import_documents(yamlio.read_files([SAMPLES]))
    return store


# --- versions are immutable: checked around every sync operation of these tests ---------

# Everything a version is, except its number: (uid, feature, text, model, parameters,
# author, reason, created_at, content hash).
VersionKey = tuple[Any, ...]


def version_rows(store: PromptStore) -> dict[str, tuple[int, VersionKey]]:
    """uid -> (number, everything else) for every version row of the store."""
    with store.reading() as session:
        return {
            row.uid: (
                row.number,
                (
                    row.uid,
                    row.feature_id,
                    row.system_prompt,
                    row.model,
                    repr(row.parameters),
                    row.author,
                    row.reason,
                    row.created_at,
                    row.content_hash,
                ),
            )
            for row in session.scalars(select(VersionRow))
        }


def assert_versions_kept(
    local_before: dict[str, tuple[int, VersionKey]],
    remote_before: dict[str, tuple[int, VersionKey]],
    local: PromptStore,
    remote: PromptStore,
) -> None:
    """Every version row still exists on the side it was on, byte-identical; only a
    local-only version may have a new number (renumbered on top of the remote's)."""
    for side, before, after in (
        ("local", local_before, version_rows(local)),
        ("remote", remote_before, version_rows(remote)),
    ):
        for uid, (number, kept) in before.items():
            assert uid in after, f"sync deleted {side} version {uid} (v{number})"
            new_number, now = after[uid]
            assert now == kept, f"sync changed {side} version {uid}"
            if new_number != number:
                assert side == "local" and uid not in remote_before, (
                    f"sync renumbered {side} version {uid} (v{number} -> v{new_number}), "
                    "which is not a local-only version"
                )
                assert new_number > number


def checking_immutability(run: Callable[..., sync.SyncResult]) -> Callable[..., sync.SyncResult]:
    def checked(local: PromptStore, remote: PromptStore, **options: Any) -> sync.SyncResult:
        local_before, remote_before = version_rows(local), version_rows(remote)
        try:
            return run(local, remote, **options)
        finally:  # refused, in conflict or done: nothing may be lost either way
            assert_versions_kept(local_before, remote_before, local, remote)

    return checked


@pytest.fixture(autouse=True)
def versions_are_immutable(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Wrap sync.push and sync.pull (as the tests, the CLI and the app call them)."""
    calls: list[int] = []

    def counted(run: Callable[..., sync.SyncResult]) -> Callable[..., sync.SyncResult]:
        checked = checking_immutability(run)

        def call(local: PromptStore, remote: PromptStore, **options: Any) -> sync.SyncResult:
            calls.append(1)
            return checked(local, remote, **options)

        return call

    monkeypatch.setattr(sync, "push", counted(sync.push))
    monkeypatch.setattr(sync, "pull", counted(sync.pull))
    yield calls


@dataclass
class Team:
    a: PromptStore  # alice's local store
    b: PromptStore  # bob's local store
    ra: PromptStore  # the remote, as alice opens it
    rb: PromptStore  # the remote, as bob opens it


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_remote_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The remote every team scenario runs against: a SQLite file, then PostgreSQL (a
    fresh database on the server of tests/pgserver.py)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_store_url")
        return url
    return f"sqlite:///{tmp_path / 'remote.db'}"


@pytest.fixture
def team(tmp_path: Path, shared_remote_url: str) -> Iterator[Team]:
    """Two local stores and one remote, all three in sync to start with."""
    a = make_store(tmp_path / "a.db", "alice")
    b = make_store(tmp_path / "b.db", "bob")
    remote_url = shared_remote_url
    PromptStore(remote_url).close()  # a remote is created on purpose, never by sync
    ra = sync.open_remote(a, remote_url)
    rb = sync.open_remote(b, remote_url)
    sync.push(a, ra)
    sync.pull(b, rb)
    sync.push(b, rb)
    sync.pull(a, ra)
    yield Team(a, b, ra, rb)
    for store in (a, b, ra, rb):
        store.close()


def count_events(store: PromptStore, action: str | None = None) -> int:
    with store.reading() as session:
        query = select(func.count()).select_from(AuditEventRow)
        if action is not None:
            query = query.where(AuditEventRow.action == action)
        return session.scalar(query) or 0


def numbers(store: PromptStore, feature: str) -> dict[int, str]:
    return {v.number: v.author for v in store.versions(feature)}


# --- the basic round trip --------------------------------------------------------------


def test_first_push_sends_everything_and_status_then_says_in_sync(tmp_path: Path) -> None:
    PromptStore(tmp_path / "r.db").close()
    with make_store(tmp_path / "a.db") as a, sync.open_remote(a, str(tmp_path / "r.db")) as r:
        before = sync.status(a, r)
        assert before.first_sync and before.ahead > 0 and before.behind == 0
        result = sync.push(a, r)
        assert result.features_created == len(a.features())
        assert result.versions == sum(f.versions for f in a.features())
        assert [(f.name, f.active, f.canary) for f in r.features()] == [
            (f.name, f.active, f.canary) for f in a.features()
        ]
        assert r.deployment("customer-support").canary_percent == 10
        assert count_events(r, "push") == 1
        after = sync.status(a, r)
        assert after.in_sync and after.unchanged


def test_edit_on_a_push_pull_on_b_sees_it(team: Team) -> None:
    team.a.save("summarizer", "Summarise in three bullet points.", reason="shorter")
    team.a.activate("summarizer", 5, reason="ship it")
    assert sync.status(team.b, team.rb).in_sync  # nothing pushed yet
    pushed = sync.push(team.a, team.ra)
    assert pushed.versions == 1 and len(pushed.moves) == 1
    status = sync.status(team.b, team.rb)
    assert [(f.feature, f.behind) for f in status.features] == [("summarizer", (5,))]
    pulled = sync.pull(team.b, team.rb)
    assert pulled.versions == 1 and len(pulled.moves) == 1
    version = team.b.version("summarizer", "active")
    assert (version.number, version.author, version.reason) == (5, "alice", "shorter")
    assert version.system_prompt == "Summarise in three bullet points."
    assert team.b.deployment("summarizer").previous[-1] == 4  # rollback goes back to v4
    assert sync.status(team.b, team.rb).in_sync
    assert sync.status(team.a, team.ra).in_sync


def test_status_changes_nothing(team: Team) -> None:
    team.a.save("summarizer", "Local only.", reason="draft")
    team.b.save("translator", "Remote only.", reason="draft")
    sync.push(team.b, team.rb)
    revisions = (team.a.revision(), team.ra.revision())
    events = (count_events(team.a), count_events(team.ra))
    status = sync.status(team.a, team.ra)
    assert {f.feature: (f.ahead, f.behind) for f in status.features} == {
        "summarizer": ((5,), ()),
        "translator": ((), (4,)),
    }
    assert (team.a.revision(), team.ra.revision()) == revisions
    assert (count_events(team.a), count_events(team.ra)) == events


def test_a_second_push_with_nothing_new_is_a_no_op(team: Team) -> None:
    team.a.save("summarizer", "Once.", reason="new")
    assert not sync.push(team.a, team.ra).noop
    revisions = (team.a.revision(), team.ra.revision())
    events = (count_events(team.a), count_events(team.ra))
    again = sync.push(team.a, team.ra)
    assert again.noop and not again.changed
    assert (team.a.revision(), team.ra.revision()) == revisions
    assert (count_events(team.a), count_events(team.ra)) == events
    assert sync.pull(team.a, team.ra).noop
    assert (team.a.revision(), team.ra.revision()) == revisions


def test_push_records_a_sync_audit_event_with_counts(team: Team) -> None:
    team.a.save("summarizer", "Counted.", reason="count me")
    sync.push(team.a, team.ra)
    event = next(e for e in team.ra.history() if e.action == "push")
    assert event.actor == "alice"
    assert event.details["versions"] == 1
    sync.pull(team.b, team.rb)
    assert any(e.action == "pull" and e.details["versions"] == 1 for e in team.b.history())


def test_audit_events_travel_by_uid(team: Team) -> None:
    team.a.save("summarizer", "Audited.", reason="audit trail")
    sync.push(team.a, team.ra)
    sync.pull(team.b, team.rb)
    created = [e for e in team.a.history("summarizer") if e.action == "create"]
    assert created[0].uid in {e.uid for e in team.b.history("summarizer")}


def test_canary_and_rollback_moves_travel(team: Team) -> None:
    team.a.save("summarizer", "Canary text.", reason="try")
    team.a.set_canary("summarizer", 5, 25, reason="try on a quarter")
    sync.push(team.a, team.ra)
    assert (
        team.ra.deployment("summarizer").canary,
        team.ra.deployment("summarizer").canary_percent,
    ) == (5, 25)
    team.a.promote("summarizer", reason="good")
    sync.push(team.a, team.ra)
    remote = team.ra.deployment("summarizer")
    assert (remote.active, remote.canary, remote.previous[-1]) == (5, None, 4)
    team.a.rollback("summarizer", reason="bad after all")
    sync.push(team.a, team.ra)
    remote = team.ra.deployment("summarizer")
    assert remote.active == 4
    assert 5 not in remote.previous[-1:]  # the remote's stack was popped, not grown
    sync.pull(team.b, team.rb)
    assert team.b.deployment("summarizer").active == 4


# --- pending changes (the app's header) --------------------------------------------------


def test_pending_changes_reads_local_bookkeeping_only(team: Team) -> None:
    url = team.ra.url
    assert sync.pending_changes(team.a, url) == 0
    team.a.save("summarizer", "Pending.", reason="one")
    team.a.activate("summarizer", 5, reason="two")
    assert sync.pending_changes(team.a, url) == 2
    team.ra.close()  # no network: the remote is not even open
    assert sync.pending_changes(team.a, url) == 2
    with sync.open_remote(team.a, url) as remote:
        sync.push(team.a, remote)
    assert sync.pending_changes(team.a, url) == 0
    sync.pull(team.b, team.rb)
    assert sync.pending_changes(team.b, url) == 0


def test_bookkeeping_is_keyed_without_the_password(team: Team) -> None:
    key = sync.remote_key("postgresql+psycopg://u:s3cret@h/db")
    assert key == sync.remote_key("postgresql+psycopg://u:other@h/db")
    with team.a.reading() as session:
        urls = list(session.scalars(select(SyncRemoteRow.url)))
    assert urls == [team.ra.display_url]


# --- version conflicts -------------------------------------------------------------------


def clash(team: Team) -> None:
    """Alice and Bob each save version 5 of summarizer; Bob pushes first."""
    team.a.save("summarizer", "Alice's five.", reason="alice's idea")
    team.b.save("summarizer", "Bob's five.", reason="bob's idea")
    team.a.save("translator", "Alice's translator.", reason="no clash here")
    sync.push(team.b, team.rb)


def test_same_number_different_versions_is_a_conflict_and_the_rest_is_pushed(team: Team) -> None:
    clash(team)
    status = sync.status(team.a, team.ra)
    (conflict,) = status.conflicts
    assert (conflict.kind, conflict.feature, conflict.number) == ("version", "summarizer", 5)
    assert "alice" in conflict.local and "bob" in conflict.remote
    with pytest.raises(sync.SyncConflictError, match="summarizer") as caught:
        sync.push(team.a, team.ra)
    assert caught.value.result.versions == 1  # translator went; summarizer waits
    assert team.ra.version("summarizer", 5).author == "bob"
    assert team.ra.version("translator").system_prompt == "Alice's translator."
    with pytest.raises(sync.SyncConflictError):
        sync.pull(team.a, team.ra)
    assert team.a.version("summarizer", 5).author == "alice"  # never silently replaced


def test_renumber_puts_local_versions_on_top(team: Team) -> None:
    clash(team)
    team.a.save("summarizer", "Alice's six.", reason="builds on five")
    result = sync.push(team.a, team.ra, resolve={"summarizer": "renumber"})
    assert result.versions == 3  # two of summarizer, one of translator
    authors = numbers(team.ra, "summarizer")
    assert (len(authors), authors[5], authors[6], authors[7]) == (7, "bob", "alice", "alice")
    six, seven = team.a.version("summarizer", 6), team.a.version("summarizer", 7)
    assert (six.system_prompt, six.author, six.reason) == ("Alice's five.", "alice", "alice's idea")
    assert seven.parent == 6  # parents follow the renumbering
    renumber = next(e for e in team.a.history("summarizer") if e.action == "renumber")
    assert [(m["from"], m["to"]) for m in renumber.details["renumbered"]] == [(5, 6), (6, 7)]
    assert "renumber" in {e.action for e in team.ra.history("summarizer")}
    sync.pull(team.a, team.ra)
    assert sync.status(team.a, team.ra).in_sync
    assert team.a.version("summarizer", 5).author == "bob"


def test_renumber_on_pull(team: Team) -> None:
    clash(team)
    result = sync.pull(team.a, team.ra, resolve={"summarizer": "renumber"})
    assert result.renumbered == ("summarizer v5 -> v6",)
    assert numbers(team.a, "summarizer")[5] == "bob"
    assert team.a.version("summarizer", 6).system_prompt == "Alice's five."
    sync.push(team.a, team.ra)
    assert sync.status(team.a, team.ra).in_sync


def sync_state(*stores: PromptStore) -> list[tuple[int, int, int]]:
    """Revision (bumped by any write, bookkeeping included), versions, audit events."""
    state = []
    for store in stores:
        with store.reading() as session:
            versions = session.scalar(select(func.count()).select_from(VersionRow)) or 0
        state.append((store.revision(), versions, count_events(store)))
    return state


def assert_both_versions_everywhere(*stores: PromptStore) -> None:
    for store in stores:
        five, six = store.version("summarizer", 5), store.version("summarizer", 6)
        assert (five.author, five.system_prompt, five.reason) == (
            "bob",
            "Bob's five.",
            "bob's idea",
        )
        assert (six.author, six.system_prompt, six.reason) == (
            "alice",
            "Alice's five.",
            "alice's idea",
        )
        assert "discard" not in {e.action for e in store.history()}


def test_keep_remote_on_pull_moves_local_versions_on_top_and_both_sides_keep_both(
    team: Team,
) -> None:
    clash(team)
    alices = team.a.version("summarizer", 5)
    result = sync.pull(team.a, team.ra, resolve={"summarizer": "remote"})
    assert result.renumbered == ("summarizer v5 -> v6",)
    six = team.a.version("summarizer", 6)
    assert (six.uid, six.created_at, six.author) == (alices.uid, alices.created_at, "alice")
    renumber = next(e for e in team.a.history("summarizer") if e.action == "renumber")
    assert [(m["from"], m["to"]) for m in renumber.details["renumbered"]] == [(5, 6)]
    sync.push(team.a, team.ra)
    sync.pull(team.b, team.rb)
    assert_both_versions_everywhere(team.a, team.ra, team.b)
    assert "renumber" in {e.action for e in team.ra.history("summarizer")}
    assert sync.status(team.a, team.ra).in_sync and sync.status(team.b, team.rb).in_sync


def test_keep_remote_on_push_moves_local_versions_on_top_and_both_sides_keep_both(
    team: Team,
) -> None:
    clash(team)
    result = sync.push(team.a, team.ra, resolve={"summarizer": "remote"})
    assert result.renumbered == ("summarizer v5 -> v6",)
    assert result.versions == 2  # alice's summarizer (now v6) and her translator
    assert team.ra.version("summarizer", 6).system_prompt == "Alice's five."
    sync.pull(team.a, team.ra)
    sync.pull(team.b, team.rb)
    assert_both_versions_everywhere(team.a, team.ra, team.b)
    assert sync.status(team.a, team.ra).in_sync


def test_keep_remote_renumbers_even_a_version_that_is_active(team: Team) -> None:
    clash(team)
    team.b.activate("summarizer", 5, reason="bob ships his")
    sync.push(team.b, team.rb)
    team.a.activate("summarizer", 5, reason="alice ships hers")
    sync.push(team.a, team.ra, resolve={"summarizer": "remote"})  # versions and pointer
    assert team.a.deployment("summarizer").active == 6  # the same version, renumbered
    assert team.a.version("summarizer", "active").system_prompt == "Alice's five."
    assert team.ra.deployment("summarizer").active == 5  # the remote's pointer kept
    sync.pull(team.a, team.ra)
    assert team.a.version("summarizer", "active").system_prompt == "Bob's five."
    assert_both_versions_everywhere(team.a, team.ra)


def test_a_version_and_an_active_conflict_are_resolved_in_one_push(team: Team) -> None:
    team.a.save("summarizer", "Alice's.", reason="a")
    team.b.save("summarizer", "Bob's.", reason="b")
    team.b.activate("summarizer", 2, reason="bob")
    team.a.activate("summarizer", 3, reason="alice")
    sync.push(team.b, team.rb)
    kinds = sorted(c.kind for c in sync.status(team.a, team.ra).conflicts)
    assert kinds == ["active", "version"]
    with pytest.raises(sync.SyncConflictError):
        sync.push(team.a, team.ra)
    sync.push(team.a, team.ra, resolve={"summarizer": "renumber", "summarizer:production": "local"})
    assert team.ra.version("summarizer", 5).author == "bob"
    assert team.ra.version("summarizer", 6).system_prompt == "Alice's."
    assert team.ra.deployment("summarizer").active == 3
    sync.pull(team.b, team.rb)
    assert team.b.deployment("summarizer").active == 3
    assert sync.status(team.b, team.rb).in_sync


def test_keep_local_for_a_version_conflict_is_refused_and_writes_nothing(team: Team) -> None:
    clash(team)
    # A second version conflict, resolvable: it must not be renumbered either.
    team.a.save("code-reviewer", "Alice's reviewer.", reason="a")
    team.b.save("code-reviewer", "Bob's reviewer.", reason="b")
    sync.push(team.b, team.rb)
    before = sync_state(team.a, team.ra)
    message = (
        r"^summarizer: keeping your version numbers would renumber versions others already "
        r"pulled; use --resolve summarizer=renumber \(your versions move on top, nothing "
        r"is lost\)$"
    )
    for resolve in (
        {"summarizer": "local"},
        {"summarizer": "local", "code-reviewer": "renumber"},
        {"summarizer": "local", "code-reviewer": "remote", "summarizer:production": "local"},
    ):
        for run in (sync.push, sync.pull):
            with pytest.raises(sync.KeepLocalNumbersError, match=message):
                run(team.a, team.ra, resolve=resolve)
            assert sync_state(team.a, team.ra) == before
    assert team.a.version("code-reviewer").system_prompt == "Alice's reviewer."
    assert team.ra.version("summarizer", 5).system_prompt == "Bob's five."


def test_a_push_the_remote_refuses_renumbers_nothing_locally(team: Team) -> None:
    clash(team)
    team.rb.set_role("bob", "admin")  # from now on alice is a viewer on the remote
    before = sync_state(team.a, team.ra)
    with pytest.raises(PermissionDeniedError, match="alice is a viewer"):
        sync.push(team.a, team.ra, resolve={"summarizer": "renumber"})
    assert sync_state(team.a, team.ra) == before  # refused before any local write
    assert team.a.version("summarizer", 5).system_prompt == "Alice's five."
    team.rb.set_role("alice", "editor")
    result = sync.push(team.a, team.ra, resolve={"summarizer": "renumber"})
    assert result.versions == 2 and not result.unresolved
    sync.pull(team.a, team.ra)
    assert_both_versions_everywhere(team.a, team.ra)
    assert sync.status(team.a, team.ra).in_sync


def test_an_editor_with_a_pending_move_is_refused_before_renumbering(team: Team) -> None:
    clash(team)
    team.rb.set_role("bob", "admin")
    team.rb.set_role("alice", "editor")
    team.a.activate("summarizer", 3, reason="alice moves production")
    before = sync_state(team.a, team.ra)
    with pytest.raises(PermissionDeniedError, match=r"alice is an editor.*--versions-only"):
        sync.push(team.a, team.ra, resolve={"summarizer": "renumber"})
    assert sync_state(team.a, team.ra) == before
    assert team.a.version("summarizer", 5).system_prompt == "Alice's five."  # not renumbered
    result = sync.push(team.a, team.ra, resolve={"summarizer": "renumber"}, versions_only=True)
    assert result.renumbered == ("summarizer v5 -> v6",) and result.skipped_moves


def test_a_refusal_known_only_after_renumbering_says_so(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    clash(team)
    real = sync.applying.apply_plan

    def refusing(work: UnitOfWork, *args: Any, **kwargs: Any) -> Any:
        raise PermissionDeniedError("alice is a viewer; to push you must be an editor")

    monkeypatch.setattr(sync.applying, "apply_plan", refusing)
    with pytest.raises(PermissionDeniedError, match=r"renumbered.*summarizer v5 -> v6"):
        sync.push(team.a, team.ra, resolve={"summarizer": "renumber"})
    monkeypatch.setattr(sync.applying, "apply_plan", real)
    assert sync.push(team.a, team.ra).versions == 2  # plain local-only versions now


def test_sync_deletes_no_version_row_anywhere() -> None:
    """Only sync/ and store/ write versions: neither deletes or updates one."""
    src = Path(sync.__file__).resolve().parent.parent
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "delete(VersionRow" not in text, path
        assert "update(VersionRow" not in text, path


def test_the_immutability_check_wraps_every_sync_call_and_catches_a_loss(
    versions_are_immutable: list[int], team: Team
) -> None:
    assert len(versions_are_immutable) >= 4  # the team fixture's syncs were checked too
    clash(team)
    local_before, remote_before = version_rows(team.a), version_rows(team.ra)
    uid = team.ra.version("summarizer", 5).uid
    with team.ra.unit_of_work() as work:  # what sync must never do
        session = work.session
        session.delete(session.scalars(select(VersionRow).where(VersionRow.uid == uid)).one())
    with pytest.raises(AssertionError, match="deleted remote version"):
        assert_versions_kept(local_before, remote_before, team.a, team.ra)


# --- pointer conflicts -------------------------------------------------------------------


def move_both(team: Team) -> None:
    """Both sides activate a different version of summarizer after the last sync."""
    team.b.activate("summarizer", 2, reason="bob prefers two")
    sync.push(team.b, team.rb)
    team.a.activate("summarizer", 3, reason="alice prefers three")


def test_active_moved_on_both_sides_is_a_conflict(team: Team) -> None:
    move_both(team)
    (conflict,) = sync.status(team.a, team.ra).conflicts
    assert (conflict.kind, conflict.environment, conflict.local, conflict.remote) == (
        "active",
        "production",
        "v3",
        "v2",
    )
    assert conflict.key == "summarizer:production"
    with pytest.raises(sync.SyncConflictError):
        sync.push(team.a, team.ra)
    assert team.ra.deployment("summarizer").active == 2
    with pytest.raises(sync.SyncConflictError):
        sync.pull(team.a, team.ra)
    assert team.a.deployment("summarizer").active == 3


def test_pointer_keep_local_on_push(team: Team) -> None:
    move_both(team)
    result = sync.push(team.a, team.ra, resolve={"summarizer:production": "local"})
    assert result.moves == ("summarizer active in production: v2 -> v3",)
    assert team.ra.deployment("summarizer").active == 3
    sync.pull(team.b, team.rb)
    assert team.b.deployment("summarizer").active == 3


def test_pointer_keep_remote_on_pull(team: Team) -> None:
    move_both(team)
    sync.pull(team.a, team.ra, resolve={"summarizer": "remote"})
    assert team.a.deployment("summarizer").active == 2
    assert sync.status(team.a, team.ra).in_sync


def test_pointer_keep_remote_on_push_is_remembered_for_the_next_pull(team: Team) -> None:
    move_both(team)
    result = sync.push(team.a, team.ra, resolve={"summarizer": "remote"})
    assert result.remembered and team.ra.deployment("summarizer").active == 2
    assert not sync.status(team.a, team.ra).conflicts
    sync.pull(team.a, team.ra)  # no --resolve needed any more
    assert team.a.deployment("summarizer").active == 2


def test_pointer_keep_local_on_pull_is_remembered_for_the_next_push(team: Team) -> None:
    move_both(team)
    sync.pull(team.a, team.ra, resolve={"summarizer:production": "local"})
    assert team.a.deployment("summarizer").active == 3
    sync.push(team.a, team.ra)
    assert team.ra.deployment("summarizer").active == 3


def test_same_move_on_both_sides_is_no_conflict(team: Team) -> None:
    team.a.activate("summarizer", 2, reason="same")
    team.b.activate("summarizer", 2, reason="same")
    sync.push(team.b, team.rb)
    assert not sync.status(team.a, team.ra).conflicts
    sync.push(team.a, team.ra)
    assert sync.status(team.a, team.ra).in_sync


def test_renumber_is_not_a_choice_for_a_pointer(team: Team) -> None:
    with pytest.raises(ValidationError, match="renumber applies to version conflicts"):
        sync.push(team.a, team.ra, resolve={"summarizer:production": "renumber"})
    with pytest.raises(ValidationError, match="unknown feature"):
        sync.push(team.a, team.ra, resolve={"nope": "local"})


# --- roles on the remote -----------------------------------------------------------------


def test_an_editor_cannot_move_the_remotes_active_version(team: Team) -> None:
    team.ra.set_role("alice", "admin")
    team.ra.set_role("bob", "editor")
    team.b.save("summarizer", "Bob's new one.", reason="mine")
    team.b.activate("summarizer", 5, reason="bob is admin locally")
    revision = team.rb.revision()
    with pytest.raises(PermissionDeniedError, match=r"bob is an? editor.*--versions-only"):
        sync.push(team.b, team.rb)
    assert team.rb.revision() == revision  # refused whole: nothing written
    result = sync.push(team.b, team.rb, versions_only=True)
    assert result.versions == 1 and result.skipped_moves
    assert team.rb.deployment("summarizer").active == 4
    assert sync.pending_changes(team.b, team.rb.url) >= 1  # the move is still to push


def test_a_viewer_cannot_push_at_all(team: Team) -> None:
    team.ra.set_role("alice", "admin")
    team.ra.set_role("bob", "viewer")
    team.b.save("summarizer", "Viewer's.", reason="try")
    with pytest.raises(PermissionDeniedError, match="bob is a viewer"):
        sync.push(team.b, team.rb)


# --- the command line --------------------------------------------------------------------


def cli(args: list[str]) -> tuple[int, str, str]:
    from promptdeck.cli import main

    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout, result.stderr


def test_cli_status_push_pull(tmp_path: Path) -> None:
    make_store(tmp_path / "a.db").close()
    make_store(tmp_path / "b.db", "bob").close()
    remote = str(tmp_path / "r.db")
    PromptStore(remote).close()
    code, out, _ = cli(["--db", str(tmp_path / "a.db"), "sync", "status", "--remote", remote])
    assert code == 0 and "only local" in out and "customer-support" in out
    code, out, _ = cli(["--db", str(tmp_path / "a.db"), "sync", "push", "--remote", remote])
    assert code == 0 and "push: 9 new features" in out
    code, out, _ = cli(["--db", str(tmp_path / "a.db"), "sync", "push", "--remote", remote])
    assert code == 0 and "nothing to push" in out
    code, out, _ = cli(
        ["--db", str(tmp_path / "b.db"), "sync", "pull", "--remote", remote, "--json"]
    )
    assert code == 0 and '"direction": "pull"' in out


def test_cli_remote_from_environment_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store(tmp_path / "a.db").close()
    db = ["--db", str(tmp_path / "a.db")]
    code, _out, err = cli([*db, "sync", "status"])
    assert code == 1 and "no remote" in err and "config.toml" in err
    for name in ("env.db", "file.db", "global.db"):
        PromptStore(tmp_path / name).close()

    def pushed_to(name: str) -> bool:
        with PromptStore(tmp_path / name, create=False) as remote:
            return bool(remote.features())

    monkeypatch.setenv("PROMPTDECK_REMOTE", str(tmp_path / "env.db"))
    assert cli([*db, "sync", "push"])[0] == 0
    assert pushed_to("env.db")
    monkeypatch.delenv("PROMPTDECK_REMOTE")
    config = tmp_path / "config.toml"
    config.write_text(f'remote = "{tmp_path / "file.db"}"\n', encoding="utf-8")
    monkeypatch.setenv("PROMPTDECK_CONFIG", str(config))
    assert cli([*db, "sync", "push"])[0] == 0
    assert pushed_to("file.db")
    # A global --remote before `sync` is the command's remote too.
    assert cli([*db, "--remote", str(tmp_path / "global.db"), "sync", "push"])[0] == 0
    assert pushed_to("global.db")


def test_cli_conflicts_exit_1_and_name_the_choice(team: Team) -> None:
    clash(team)
    db = ["--db", team.a.url, "--user", "alice"]
    code, out, err = cli([*db, "sync", "push", "--remote", team.ra.url])
    assert code == 1
    assert "summarizer version 5" in out and "summarizer=renumber|remote" in out
    assert err.startswith("error: 1 conflict left unresolved")
    for command in ("push", "pull"):
        code, out, err = cli(
            [*db, "sync", command, "--remote", team.ra.url, "--resolve", "summarizer=local"]
        )
        assert code == 1 and out == ""
        assert err == (
            "error: summarizer: keeping your version numbers would renumber versions others "
            "already pulled; use --resolve summarizer=renumber (your versions move on top, "
            "nothing is lost)\n"
        )
    code, out, _ = cli(
        [*db, "sync", "push", "--remote", team.ra.url, "--resolve", "summarizer=renumber"]
    )
    assert code == 0 and "renumbered" in out
    code, _out, err = cli([*db, "sync", "push", "--remote", team.ra.url, "--resolve", "summarizer"])
    assert code == 1 and "FEATURE=renumber|remote" in err


def test_sync_changes_no_version_rows_it_does_not_own(team: Team) -> None:
    """Sanity: a full round trip leaves both stores with the same version uids."""
    team.a.save("summarizer", "Round trip.", reason="rt")
    sync.push(team.a, team.ra)
    sync.pull(team.b, team.rb)
    uids = []
    for store in (team.a, team.b, team.ra):
        with store.reading() as session:
            uids.append(set(session.scalars(select(VersionRow.uid))))
    assert uids[0] == uids[1] == uids[2]


# --- the terminal app's sync view --------------------------------------------------------


def test_sync_screen_shows_conflicts_resolves_and_pushes(team: Team) -> None:
    asyncio.run(drive_sync_screen(team))


async def drive_sync_screen(team: Team) -> None:
    from textual.app import App
    from textual.widgets import DataTable, Static

    from promptdeck.tui.screens.sync import ChoiceDialog, SyncScreen

    clash(team)
    team.a.save("meeting-notes", "Notes [/INST] [bold]not markup[/bold]", reason="[red]x")

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(SyncScreen(team.a, team.ra.url))

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = screen.query_one(DataTable)
        assert table.row_count == 3  # meeting-notes, summarizer (conflict), translator
        head = str(screen.query_one("#sync-head", Static).render())
        assert "1 conflict" in head and "1 conflicts" not in head
        assert "comparing" not in str(screen.query_one("#sync-result", Static).render())
        table.move_cursor(row=1)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog)
        dialog = app.screen
        assert isinstance(dialog, ChoiceDialog)
        assert [label for _key, label, _picked in dialog.options] == [
            "Renumber mine on top (keep the remote's numbers)"
        ]
        await pilot.press("enter")  # renumber
        await pilot.pause()
        assert screen.resolutions == {"summarizer": "renumber"}
        await pilot.press("p")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = str(screen.query_one("#sync-result", Static).render())
        assert result.startswith("push: 3 versions")
        assert "renumbered" in result
    assert team.ra.version("meeting-notes").system_prompt.startswith("Notes [/INST]")
    assert team.ra.version("summarizer", 6).author == "alice"
    assert screen.changed  # a push changes the header's unpushed count: reload


def test_sync_screen_pushes_versions_only_for_an_editor(team: Team) -> None:
    asyncio.run(drive_versions_only(team))


async def drive_versions_only(team: Team) -> None:
    from textual.app import App
    from textual.containers import VerticalScroll
    from textual.widgets import DataTable, Static

    from promptdeck.tui.screens.sync import SyncScreen

    editor_alice(team)
    long_name = "a-rather-long-feature-name-for-the-table"
    team.a.create_feature(long_name, "Long.", model="gpt-4o-mini", reason="long")
    team.b.save("summarizer", "Bob's five.", reason="clash")
    team.a.save("summarizer", "Alice's five.", reason="clash")
    sync.push(team.b, team.rb)
    for n in range(12):  # a long result
        team.a.create_feature(f"extra-{n}", "x", model="gpt-4o-mini", reason="x")
        team.a.activate(f"extra-{n}", 1, reason="x")
    team.a.activate("translator", 1, reason="a move an editor may not push")

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(SyncScreen(team.a, team.ra.url))

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        head = str(screen.query_one("#sync-head", Static).render())
        to_push = sync.pending_changes(team.a, team.ra.url)
        assert f"{to_push} local changes to push" in head
        screen.resolutions = {"summarizer": "renumber"}
        screen._fill_table()
        table = screen.query_one(DataTable)
        assert table.columns[table.ordered_columns[0].key].width >= len(long_name)
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = str(screen.query_one("#sync-result", Static).render())
        assert "press v to push versions only" in result and "--versions-only" not in result
        assert team.a.version("summarizer", 5).reason == "clash"  # nothing renumbered
        await pilot.press("v")
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = str(screen.query_one("#sync-result", Static).render())
        assert result.startswith("push: 13 new features"), result
        assert "not moved (versions only)" in result
        box = screen.query_one("#sync-result-box", VerticalScroll)
        assert box.max_scroll_y > 0  # longer than the box: it scrolls
    assert team.ra.deployment("translator").active != 1
    assert team.ra.version(long_name).system_prompt == "Long."


def test_sync_screen_offers_renumber_for_versions_and_local_remote_for_pointers() -> None:
    from promptdeck.tui.screens.sync import choice_options

    def conflict(kind: sync.ConflictKind, environment: str | None) -> sync.Conflict:
        number = 5 if kind == "version" else None
        return sync.Conflict(kind, "summarizer", environment, number, "l", "r")

    def options(*conflicts: sync.Conflict) -> list[tuple[str, dict[str, str]]]:
        feature = sync.FeatureSyncStatus("summarizer", conflicts=conflicts)
        return [(key, dict(picked)) for key, _label, picked in choice_options(feature)]

    version, active = conflict("version", None), conflict("active", "production")
    assert options(version) == [("renumber", {"summarizer": "renumber"})]  # one option
    assert options(active) == [
        ("local", {"summarizer": "local"}),
        ("remote", {"summarizer": "remote"}),
    ]
    assert options(version, active) == [
        ("renumber+local", {"summarizer": "renumber", "summarizer:production": "local"}),
        ("renumber+remote", {"summarizer": "remote"}),
    ]
    assert version.choices == ("renumber", "remote") and active.choices == ("local", "remote")


def test_a_missing_remote_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "remote.db"
    with make_store(tmp_path / "a.db") as local, pytest.raises(StoreError, match="no store"):
        sync.open_remote(local, str(missing))
    assert not missing.exists()


# --- audit history of pointer moves --------------------------------------------------------


def events(store: PromptStore, feature: str | None = None, action: str | None = None) -> list[Any]:
    return [e for e in store.history(feature) if action is None or e.action == action]


def sync_moves(store: PromptStore, feature: str, since: set[str]) -> list[Any]:
    """The pointer moves sync wrote in ``store`` since the events ``since``."""
    return [
        e for e in store.history(feature) if e.action.startswith("sync-") and e.uid not in since
    ]


def uids(*stores: PromptStore) -> set[str]:
    return {e.uid for store in stores for e in store.history()}


def editor_alice(team: Team) -> None:
    team.ra.set_role("bob", "admin")  # no roles yet: alice may set them
    team.rb.set_role("alice", "editor")


def test_a_versions_only_push_holds_back_the_activation_event_until_the_move(
    team: Team,
) -> None:
    editor_alice(team)
    team.a.activate("summarizer", 2, reason="alice ships two")
    sync.push(team.a, team.ra, versions_only=True)
    assert team.ra.deployment("summarizer").active == 4
    assert not [e for e in events(team.ra, "summarizer") if e.reason == "alice ships two"]
    team.rb.set_role("alice", "admin")
    sync.push(team.a, team.ra)
    assert team.ra.deployment("summarizer").active == 2
    sent = [e for e in events(team.ra, "summarizer") if e.reason == "alice ships two"]
    assert [(e.action, e.from_version, e.to_version) for e in sent] == [("activate", 4, 2)]
    assert sync.push(team.a, team.ra).noop
    sync.pull(team.b, team.rb)
    assert len([e for e in events(team.b, "summarizer") if e.reason == "alice ships two"]) == 1


def test_an_unresolved_pointer_conflict_holds_back_its_events(team: Team) -> None:
    move_both(team)
    with pytest.raises(sync.SyncConflictError):
        sync.push(team.a, team.ra)
    assert not [e for e in events(team.ra) if e.reason == "alice prefers three"]
    # Keep the remote's: alice's activation never happened there, and never goes.
    sync.pull(team.a, team.ra, resolve={"summarizer": "remote"})
    sync.push(team.a, team.ra)
    sync.pull(team.b, team.rb)
    assert not [e for e in events(team.ra) if e.reason == "alice prefers three"]
    assert not [e for e in events(team.b) if e.reason == "alice prefers three"]
    assert sync.push(team.a, team.ra).noop and sync.pull(team.a, team.ra).noop


def test_keep_local_overrides_the_remotes_activation_which_does_not_come_back(
    team: Team,
) -> None:
    move_both(team)
    sync.push(team.a, team.ra, resolve={"summarizer": "local"})
    assert [e.to_version for e in events(team.ra) if e.reason == "alice prefers three"] == [3]
    sync.pull(team.a, team.ra)
    assert not [e for e in events(team.a) if e.reason == "bob prefers two"]
    # Later runs that do compare events (the remote changed since) keep it out too: the
    # remote's sync move names what it superseded.
    team.b.save("translator", "Translate, tersely.", reason="bob edits")
    sync.push(team.b, team.rb)
    assert not sync.pull(team.a, team.ra).noop
    assert not [e for e in events(team.a) if e.reason == "bob prefers two"]


def test_a_move_by_sync_is_in_the_history_of_the_side_written(team: Team) -> None:
    before = uids(team.a, team.b, team.ra)
    pushes = count_events(team.ra, "push")
    team.a.activate("summarizer", 2, reason="two")
    team.a.set_canary("summarizer", 3, 20, reason="try three")
    sync.push(team.a, team.ra)
    moved = sync_moves(team.ra, "summarizer", before)
    assert sorted((e.action, e.environment, e.from_version or 0, e.to_version) for e in moved) == [
        ("sync-activate", "production", 4, 2),
        ("sync-canary", "production", 0, 3),
    ]
    assert all(e.reason.startswith("push from alice (store ") for e in moved), moved
    assert all(e.actor == "alice" for e in moved)
    assert count_events(team.ra, "push") == pushes + 1  # the summary event is kept too
    sync.pull(team.b, team.rb)
    pulled = sync_moves(team.b, "summarizer", before)
    assert len(pulled) == 2
    assert all(e.reason == f"pull from {team.rb.display_url}" for e in pulled)
    assert all(e.actor == "bob" for e in pulled)
    # Sync's own events stay where they were written: nothing ping-pongs.
    for _round in range(2):
        sync.push(team.b, team.rb)
        sync.pull(team.a, team.ra)
        sync.push(team.a, team.ra)
        sync.pull(team.b, team.rb)
    for store in (team.a, team.b, team.ra):
        assert len(sync_moves(store, "summarizer", before)) == (0 if store is team.a else 2)
    assert sync.push(team.a, team.ra).noop and sync.pull(team.a, team.ra).noop
    assert sync.push(team.b, team.rb).noop and sync.pull(team.b, team.rb).noop


def test_a_move_by_a_conflict_choice_says_so(team: Team) -> None:
    before = uids(team.a, team.b, team.ra)
    move_both(team)
    sync.push(team.a, team.ra, resolve={"summarizer:production": "local"})
    (moved,) = [e for e in sync_moves(team.ra, "summarizer", before) if e.actor == "alice"]
    assert (moved.from_version, moved.to_version) == (2, 3)
    assert moved.details["conflict resolved"] == "local"
    sync.pull(team.b, team.rb)
    team.b.activate("summarizer", 1, reason="bob again")
    sync.push(team.b, team.rb)
    team.a.activate("summarizer", 4, reason="alice again")
    sync.pull(team.a, team.ra, resolve={"summarizer": "remote"})
    (pulled,) = [e for e in sync_moves(team.a, "summarizer", before) if e.actor == "alice"]
    assert (pulled.from_version, pulled.to_version) == (4, 1)
    assert pulled.details["conflict resolved"] == "remote"
    assert pulled.reason == f"pull from {team.ra.display_url}"


def test_role_events_do_not_sync(team: Team) -> None:
    team.a.set_role("alice", "admin")
    team.a.set_role("carol", "viewer")
    team.a.save("summarizer", "With roles.", reason="r")
    sync.push(team.a, team.ra)
    assert not events(team.ra, action="role")
    team.rb.set_role("bob", "admin")
    team.rb.set_role("dave", "editor")
    team.rb.set_role("alice", "admin")
    team.b.save("translator", "Bob's.", reason="b")
    sync.push(team.b, team.rb)
    sync.pull(team.a, team.ra)
    assert {e.reason for e in events(team.a, action="role")} == {
        e.reason for e in team.a.history() if e.action == "role" and e.actor == "alice"
    }
    assert not [e for e in events(team.a, action="role") if "dave" in e.reason]


# --- a re-created remote ------------------------------------------------------------------


def test_a_recreated_remote_is_reported_on_status_push_and_pull(tmp_path: Path) -> None:
    make_store(tmp_path / "a.db").close()
    remote = tmp_path / "r.db"
    PromptStore(remote).close()
    db = ["--db", str(tmp_path / "a.db")]
    assert cli([*db, "sync", "push", "--remote", str(remote)])[0] == 0
    remote.unlink()
    PromptStore(remote).close()  # a new store at the same URL
    with PromptStore(tmp_path / "a.db") as a, sync.open_remote(a, str(remote)) as r:
        found = sync.status(a, r)
        assert found.identity_changed and found.first_sync
        assert found.notice == (
            f"the remote at {r.display_url} is a different store than at the last sync "
            "(identity changed): treating this as a first sync"
        )
    line = "is a different store than at the last sync (identity changed)"
    code, out, _ = cli([*db, "sync", "status", "--remote", str(remote)])
    assert code == 0 and out.count(line) == 1
    code, out, _ = cli([*db, "sync", "pull", "--remote", str(remote)])
    assert code == 0 and out.count(line) == 1
    remote.unlink()
    PromptStore(remote).close()
    code, out, _ = cli([*db, "sync", "push", "--remote", str(remote), "--json"])
    assert code == 0 and '"identity_changed": true' in out and line in out
    remote.unlink()
    PromptStore(remote).close()
    code, out, _ = cli([*db, "sync", "push", "--remote", str(remote)])
    assert code == 0 and out.count(line) == 1
    code, out, _ = cli([*db, "sync", "push", "--remote", str(remote)])
    assert code == 0 and line not in out and "nothing to push" in out


# --- counts and wording ---------------------------------------------------------------------


def test_pending_changes_is_what_status_reports_to_push(team: Team) -> None:
    url = team.ra.url

    def both() -> tuple[int, int]:
        return sync.pending_changes(team.a, url), sync.status(team.a, team.ra).to_push

    assert both() == (0, 0)
    team.a.create_feature("brand-new", "First.", model="gpt-4o-mini", reason="new")
    team.a.save("summarizer", "Second.", reason="new")
    team.a.activate("summarizer", 2, reason="move")
    team.a.activate("summarizer", 3, reason="move again")
    assert both() == (3, 3)  # two versions, one active version moved (twice)
    team.a.activate("summarizer", 4, reason="back where it was")
    assert both() == (2, 2)
    sync.push(team.a, team.ra)
    assert both() == (0, 0)
    editor_alice(team)
    team.a.activate("summarizer", 1, reason="pending move")
    sync.push(team.a, team.ra, versions_only=True)
    assert both() == (1, 1)
    sync.pull(team.a, team.ra)
    assert both() == (1, 1)


def test_singular_wording(team: Team) -> None:
    team.a.save("summarizer", "One.", reason="one")
    result = sync.push(team.a, team.ra)
    assert result.summary() == "push: 1 version, 1 audit event, 0 pointer moves"
    (event,) = [e for e in team.ra.history() if e.action == "push"][:1]
    assert "1 version," in event.reason and "1 versions" not in event.reason
    assert "1 audit event," in event.reason


def test_versions_travel_in_batches_bounded_by_their_text(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run reads and writes versions a batch at a time, each batch bounded by its
    prompts' characters (16 MB prompts must not all be held at once): here 1,000."""
    from promptdeck.store import bulk

    monkeypatch.setattr(bulk, "CHARACTERS_PER_STATEMENT", 1_000)
    texts = [f"Version {n}: " + "words " * 50 for n in range(7)]  # 311-312 characters
    for text in texts:
        team.a.save("translator", text, reason="longer")
    reported: list[tuple[str, int, int]] = []
    sync.push(team.a, team.ra, progress=lambda *step: reported.append(step))
    assert [step for step in reported if step[0] == "versions"] == [
        ("versions", 3, 7), ("versions", 6, 7), ("versions", 7, 7)
    ]  # fmt: skip
    local, remote = version_rows(team.a), version_rows(team.ra)
    assert local.items() <= remote.items()  # every version, byte-identical, same number
