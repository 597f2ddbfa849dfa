"""Sync logic between SQLite stores: fast, no server needed (PostgreSQL: test_sync_pg.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from promptdeck import sync, yamlio
from promptdeck.errors import PermissionDeniedError, ValidationError
from promptdeck.model import AuditEventRow, SyncRemoteRow, VersionRow
from promptdeck.store import PromptStore

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"


def make_store(path: Path | str, user: str = "alice") -> PromptStore:
    store = PromptStore(path, user=user)
    store.import_documents(yamlio.read_files([SAMPLES]))
    return store


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


def test_keep_remote_discards_the_local_version_but_the_audit_log_keeps_it(team: Team) -> None:
    clash(team)
    result = sync.pull(team.a, team.ra, resolve={"summarizer": "remote"})
    assert result.discarded == ("summarizer v5",)
    version = team.a.version("summarizer", 5)
    assert (version.author, version.system_prompt) == ("bob", "Bob's five.")
    discard = next(e for e in team.a.history("summarizer") if e.action == "discard")
    assert discard.details["version"]["system_prompt"] == "Alice's five."


def test_keep_remote_on_push_fixes_the_local_side_first(team: Team) -> None:
    clash(team)
    sync.push(team.a, team.ra, resolve={"summarizer": "remote"})
    assert "Alice's five." not in {team.a.version("summarizer", n).system_prompt for n in (4,)}
    sync.pull(team.a, team.ra)
    assert team.a.version("summarizer", 5).author == "bob"


def test_keep_local_replaces_the_remote_version_on_push(team: Team) -> None:
    clash(team)
    with pytest.raises(ValidationError, match="done by push"):
        sync.pull(team.a, team.ra, resolve={"summarizer": "local"})
    sync.push(team.a, team.ra, resolve={"summarizer": "local"})
    assert team.ra.version("summarizer", 5).system_prompt == "Alice's five."
    discard = next(e for e in team.ra.history("summarizer") if e.action == "discard")
    assert discard.details["version"]["system_prompt"] == "Bob's five."
    # Bob now holds a v5 the remote replaced: a conflict for him, until he chooses.
    assert [c.number for c in sync.status(team.b, team.rb).conflicts] == [5]
    sync.pull(team.b, team.rb, resolve={"summarizer": "remote"})
    assert team.b.version("summarizer", 5).system_prompt == "Alice's five."


def test_keep_local_refuses_to_replace_a_version_the_remote_serves(team: Team) -> None:
    clash(team)
    team.b.activate("summarizer", 5, reason="bob ships his")
    sync.push(team.b, team.rb)
    team.a.activate("summarizer", 5, reason="alice ships hers")
    with pytest.raises(ValidationError, match="renumber"):
        sync.push(team.a, team.ra, resolve={"summarizer": "local"})
    assert team.ra.version("summarizer", 5).author == "bob"


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
    monkeypatch.setenv("PROMPTDECK_REMOTE", str(tmp_path / "env.db"))
    assert cli([*db, "sync", "push"])[0] == 0
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("PROMPTDECK_REMOTE")
    config = tmp_path / "config.toml"
    config.write_text(f'remote = "{tmp_path / "file.db"}"\n', encoding="utf-8")
    monkeypatch.setenv("PROMPTDECK_CONFIG", str(config))
    assert cli([*db, "sync", "push"])[0] == 0
    assert (tmp_path / "file.db").exists()


def test_cli_conflicts_exit_1_and_name_the_choice(team: Team) -> None:
    clash(team)
    db = ["--db", team.a.url, "--user", "alice"]
    code, out, err = cli([*db, "sync", "push", "--remote", team.ra.url])
    assert code == 1
    assert "summarizer version 5" in out and "summarizer=local|remote|renumber" in out
    assert err.startswith("error: 1 conflict left unresolved")
    code, out, _ = cli(
        [*db, "sync", "push", "--remote", team.ra.url, "--resolve", "summarizer=renumber"]
    )
    assert code == 0 and "renumbered" in out
    code, _out, err = cli([*db, "sync", "push", "--remote", team.ra.url, "--resolve", "summarizer"])
    assert code == 1 and "FEATURE=local|remote|renumber" in err


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
        await pilot.press("down", "down", "enter")  # renumber
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
