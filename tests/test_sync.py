"""Sync logic between SQLite stores: fast, no server needed (PostgreSQL: test_sync_pg.py)."""

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
from promptdeck.model import AuditEventRow, SyncRemoteRow, VersionRow
from promptdeck.store import PromptStore

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
    with store._read() as session:
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


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """Two local stores and one remote, all three in sync to start with."""
    a = make_store(tmp_path / "a.db", "alice")
    b = make_store(tmp_path / "b.db", "bob")
    remote_url = f"sqlite:///{tmp_path / 'remote.db'}"
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
    with store._read() as session:
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
    with team.a._read() as session:
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
        with store._read() as session:
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


def test_a_push_refused_by_the_remote_after_renumbering_locally_completes_when_run_again(
    team: Team,
) -> None:
    clash(team)
    team.rb.set_role("bob", "admin")  # from now on alice is a viewer on the remote
    remote_before = sync_state(team.ra)
    with pytest.raises(PermissionDeniedError):
        sync.push(team.a, team.ra, resolve={"summarizer": "renumber"})
    assert sync_state(team.ra) == remote_before  # the remote transaction rolled back
    assert team.a.version("summarizer", 6).system_prompt == "Alice's five."  # renumbered
    team.rb.set_role("alice", "editor")
    result = sync.push(team.a, team.ra)  # plain local-only versions now: no --resolve
    assert result.versions == 2 and not result.unresolved
    sync.pull(team.a, team.ra)
    assert_both_versions_everywhere(team.a, team.ra)
    assert sync.status(team.a, team.ra).in_sync


def test_sync_deletes_no_version_row_anywhere() -> None:
    """Only sync.py and store.py write versions: neither deletes or updates one."""
    src = Path(sync.__file__).resolve().parent
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
    with team.ra._write() as (session, _revision):  # what sync must never do
        uid = team.ra.version("summarizer", 5).uid
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
        with store._read() as session:
            uids.append(set(session.scalars(select(VersionRow.uid))))
    assert uids[0] == uids[1] == uids[2]


# --- the terminal app's sync view --------------------------------------------------------


def test_sync_screen_shows_conflicts_resolves_and_pushes(team: Team) -> None:
    asyncio.run(drive_sync_screen(team))


async def drive_sync_screen(team: Team) -> None:
    from textual.app import App
    from textual.widgets import DataTable, Static

    from promptdeck.tui.sync_screen import ChoiceDialog, SyncScreen

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
        assert "1 conflicts" in head
        table.move_cursor(row=1)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog)
        dialog = app.screen
        assert isinstance(dialog, ChoiceDialog)
        assert [key for key, _label, _picked in dialog.options] == ["renumber", "remote"]
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


def test_sync_screen_offers_renumber_for_versions_and_local_remote_for_pointers() -> None:
    from promptdeck.tui.sync_screen import choice_options

    def conflict(kind: sync.ConflictKind, environment: str | None) -> sync.Conflict:
        number = 5 if kind == "version" else None
        return sync.Conflict(kind, "summarizer", environment, number, "l", "r")

    def options(*conflicts: sync.Conflict) -> list[tuple[str, dict[str, str]]]:
        feature = sync.FeatureSyncStatus("summarizer", conflicts=conflicts)
        return [(key, dict(picked)) for key, _label, picked in choice_options(feature)]

    version, active = conflict("version", None), conflict("active", "production")
    assert options(version) == [
        ("renumber", {"summarizer": "renumber"}),
        ("remote", {"summarizer": "remote"}),
    ]
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
