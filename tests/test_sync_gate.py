"""Sync's pointer moves pass the receiving side's activation gate (issues 9 and 10), on a
SQLite and a PostgreSQL remote (test_sync.py's ``team``: alice's and bob's stores and one
remote, all in sync to start with, nobody holding a role, so everyone is an admin).

A version a push or pull would put live (a new active version or canary) in a protected
environment needs its approvals there, and in one that requires checks a passing run of
the current suite; reviews and check runs travelling in the same run count; a rollback
is not gated; a refused move refuses the whole run, leaving that side as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from test_sync import Team, make_store
from test_sync import shared_remote_url as shared_remote_url
from test_sync import team as team
from test_sync_tables import add_check_run, add_suite

from promptdeck import sync
from promptdeck.cli.app import main
from promptdeck.store import PromptStore
from promptdeck.store.rows import (
    AuditEventRow,
    DeploymentRow,
    EnvironmentRow,
    FeatureRow,
    ReviewRow,
    VersionRow,
)


def snapshot(store: PromptStore) -> dict[str, Any]:
    """Everything a refused run must leave as it was, row for row."""
    with store.reading() as session:
        return {
            table.__table__.name: sorted(
                tuple(str(v) for v in row) for row in session.execute(select(table.__table__))
            )
            for table in (
                AuditEventRow,
                DeploymentRow,
                EnvironmentRow,
                FeatureRow,
                ReviewRow,
                VersionRow,
            )
        }


def protect(store: PromptStore, environment: str = "production", **options: Any) -> None:
    store.governance.protect_environment(environment, **options)


def save(store: PromptStore, feature: str = "summarizer", text: str = "Shorter.") -> int:
    return store.save(feature, text, reason=f"{store.user}'s change").number


def active(store: PromptStore, feature: str = "summarizer", env: str = "production") -> int | None:
    return store.deployment(feature, env).active


# --- push --------------------------------------------------------------------------------


def test_a_push_putting_an_unapproved_version_live_is_refused_whole(team: Team) -> None:
    protect(team.ra)
    number = save(team.a)
    team.a.activate("summarizer", number, reason="ship it")  # alice's production: unprotected
    other = save(team.a, "translator", "Translate tersely.")
    before = snapshot(team.ra)
    with pytest.raises(sync.SyncGateError) as refused:
        sync.push(team.a, team.ra)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("push refused, nothing was pushed")
    assert f"version {number} of summarizer needs 1 approval by someone other" in message
    assert "than its author (alice) to go live in production (protected); it has none" in message
    assert "promptdeck sync push --versions-only" in message
    assert snapshot(team.ra) == before  # not even the versions: one transaction
    # The versions alone go; the move waits for an approval on the remote.
    result = sync.push(team.a, team.ra, versions_only=True)
    assert result.versions == 2 and active(team.ra) == 4
    assert max(v.number for v in team.ra.versions("translator")) == other
    team.rb.governance.approve("summarizer", number, "reads well")  # bob, not the author
    assert sync.push(team.a, team.ra).moves
    assert active(team.ra) == number


def test_an_approval_that_travels_with_the_push_counts(team: Team) -> None:
    protect(team.ra)
    number = save(team.a)
    sync.push(team.a, team.ra, versions_only=True)
    sync.pull(team.b, team.rb)  # bob gets the version, and production's protection
    team.b.governance.approve("summarizer", number, "good")
    team.b.activate("summarizer", number, reason="approved")  # bob's store gates it too
    result = sync.push(team.b, team.rb)  # the approval is copied before the move
    assert result.moves and active(team.rb) == number
    assert [r.actor for r in team.ra.governance.reviews("summarizer", number)] == ["bob"]


def test_a_rejection_that_travels_with_the_push_blocks_it(team: Team) -> None:
    protect(team.ra)
    number = save(team.a)
    sync.push(team.a, team.ra, versions_only=True)
    team.rb.governance.approve("summarizer", number, "fine")
    sync.pull(team.b, team.rb)
    team.b.governance.reject("summarizer", number, "on second thought, no")
    team.a.activate("summarizer", number, reason="approved by bob")
    sync.push(team.b, team.rb)  # the rejection reaches the remote (no move of bob's)
    before = snapshot(team.ra)
    with pytest.raises(sync.SyncGateError, match="was rejected by bob"):
        sync.push(team.a, team.ra)
    assert snapshot(team.ra) == before


def test_a_new_canary_is_gated_and_a_rollback_is_not(team: Team) -> None:
    first = save(team.a)
    team.a.activate("summarizer", first, reason="ship")
    sync.push(team.a, team.ra)  # production unprotected yet: the move goes
    protect(team.ra)
    second = save(team.a, text="Shorter still.")
    team.a.set_canary("summarizer", second, 10, reason="try")
    with pytest.raises(sync.SyncGateError, match=f"version {second} of summarizer needs"):
        sync.push(team.a, team.ra)
    team.a.clear_canary("summarizer", reason="later")
    # Back to v4, which was live on the remote before: a rollback, not gated (v4 has
    # no approval at all).
    team.a.rollback("summarizer", reason="the old one was better")
    result = sync.push(team.a, team.ra)
    assert active(team.ra) == 4 and result.moves
    assert team.ra.governance.state("summarizer", 4).approvals == 0


def test_checks_required_by_the_remote_gate_the_push_and_a_run_that_travels_counts(
    team: Team,
) -> None:
    team.ra.checks.require("staging")
    number = save(team.a, "customer-support", "Write read-only SQL.")
    team.a.activate("customer-support", number, reason="try", environment="staging")
    with pytest.raises(sync.SyncGateError) as refused:
        sync.push(team.a, team.ra)
    assert "staging requires passing checks" in str(refused.value)
    assert f"v{number} of customer-support has no passing run" in str(refused.value)
    suite = team.a.checks.suite("customer-support")
    assert suite is not None  # the sample file carries one
    add_check_run(team.a, "customer-support", number, suite.uid)  # a passing run, recorded here
    sync.push(team.a, team.ra)
    assert active(team.ra, "customer-support", "staging") == number


def test_a_suite_that_travels_is_the_current_one_the_gate_asks_about(team: Team) -> None:
    team.ra.checks.require("staging")
    number = save(team.a, "customer-support", "Write read-only SQL.")
    team.a.activate("customer-support", number, reason="try", environment="staging")
    old = team.a.checks.suite("customer-support")
    assert old is not None
    add_check_run(team.a, "customer-support", number, old.uid)
    newer = add_suite(team.a, "customer-support", old.number + 1)  # travels: now current
    with pytest.raises(sync.SyncGateError, match=f"no passing run of suite #{old.number + 1}"):
        sync.push(team.a, team.ra)
    add_check_run(team.a, "customer-support", number, newer)
    sync.push(team.a, team.ra)
    assert active(team.ra, "customer-support", "staging") == number


def test_a_run_of_the_same_suite_imported_on_both_sides_counts(team: Team) -> None:
    # Each store imported the same sample file: the same suite, a uid of its own each.
    bobs, remotes = (
        team.b.checks.suite("customer-support"),
        team.ra.checks.suite("customer-support"),
    )
    assert bobs is not None and remotes is not None
    assert bobs.uid != remotes.uid and bobs.content_hash == remotes.content_hash
    team.ra.checks.require("staging")
    number = save(team.b, "customer-support", "Answer in the customer's language.")
    add_check_run(team.b, "customer-support", number, bobs.uid)  # passed, on bob's suite
    team.b.activate("customer-support", number, reason="checked", environment="staging")
    sync.push(team.b, team.rb)
    assert active(team.rb, "customer-support", "staging") == number
    (run,) = team.ra.checks.runs("customer-support", number)
    assert run.suite_uid == remotes.uid


# --- pull --------------------------------------------------------------------------------


def test_a_pull_putting_an_unapproved_version_live_is_refused_whole(team: Team) -> None:
    protect(team.a)  # alice's own store protects production; the remote does not
    number = save(team.b)
    team.b.activate("summarizer", number, reason="bob ships")
    sync.push(team.b, team.rb)
    before = snapshot(team.a)
    with pytest.raises(sync.SyncGateError) as refused:
        sync.pull(team.a, team.ra)
    message = str(refused.value)
    assert message.startswith("pull refused, nothing was pulled: this store's activation gate")
    assert f"version {number} of summarizer needs 1 approval" in message
    assert snapshot(team.a) == before
    team.ra.governance.approve("summarizer", number, "after the fact")  # alice, not bob
    sync.pull(team.a, team.ra)  # the approval travels with the pull and counts
    assert active(team.a) == number


def test_protection_that_travels_applies_from_the_next_run(team: Team, tmp_path: Path) -> None:
    number = save(team.b)
    team.b.activate("summarizer", number, reason="bob ships")
    sync.push(team.b, team.rb)  # live on the remote before production was protected
    protect(team.ra)
    # A fresh clone takes what the protected remote already serves...
    with (
        PromptStore(tmp_path / "clone.db", user="carol") as clone,
        sync.open_remote(clone, team.ra.url) as remote,
    ):
        sync.pull(clone, remote)
        assert active(clone) == number
        assert clone.governance.environment("production").protected
    # ... and so does a store that held no protection before this pull.
    sync.pull(team.a, team.ra)
    assert active(team.a) == number and team.a.governance.environment("production").protected
    # From then on its gate applies: bob's next unapproved version stops there.
    newer = save(team.b, text="Bob again.")
    team.b.activate("summarizer", newer, reason="bob ships again")  # bob's store: unprotected
    with pytest.raises(sync.SyncGateError, match=f"version {newer} of summarizer needs"):
        sync.push(team.b, team.rb)


# --- through the CLI -----------------------------------------------------------------------


def test_the_cli_refuses_in_one_line_and_exit_1(team: Team, tmp_path: Path) -> None:
    protect(team.ra)
    first = save(team.a)
    second = save(team.a, "translator", "Translate tersely.")
    team.a.activate("summarizer", first, reason="ship")
    team.a.activate("translator", second, reason="ship")
    before = snapshot(team.ra)
    result = CliRunner().invoke(
        main, ["--db", str(team.a.url), "sync", "push", "--remote", team.ra.url]
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: push refused"), result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert "refuses 2 pointer moves" in lines[0]
    assert f"version {first} of summarizer" in lines[0]
    assert f"version {second} of translator" in lines[0]
    assert snapshot(team.ra) == before


def test_a_refusal_names_three_moves_and_counts_the_rest(tmp_path: Path) -> None:
    PromptStore(tmp_path / "r.db").close()
    with make_store(tmp_path / "a.db") as a, sync.open_remote(a, str(tmp_path / "r.db")) as r:
        sync.push(a, r)
        protect(r)
        features = [f.name for f in a.features()]
        for name in features:
            a.activate(name, save(a, name, f"New {name}."), reason="all at once")
        with pytest.raises(sync.SyncGateError) as refused:
            sync.push(a, r)
        message = str(refused.value)
        assert f"refuses {len(features)} pointer moves" in message
        assert message.count("needs 1 approval") == 3
        assert f"and {len(features) - 3} more" in message
        with r.reading() as session:
            assert session.scalar(select(func.count()).select_from(VersionRow)) == sum(
                len(r.versions(name)) for name in features
            )
