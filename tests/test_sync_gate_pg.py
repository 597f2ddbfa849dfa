"""The server's gate on sync, with real PostgreSQL logins (test_governance_pg's ``team``:
a store made by `promptdeck init`, the sample prompts, and an admin, an editor, a
reviewer and a viewer login, each given its role with `promptdeck role`). Each person
works in a local SQLite store of their own, named after their login, and syncs as that
login."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from test_governance_pg import Team, cli, refused
from test_governance_pg import server as server
from test_governance_pg import team as team
from test_sync_gate import snapshot

from promptdeck import sync
from promptdeck.store import PromptStore

pytestmark = pytest.mark.postgres


@contextmanager
def working_copy(team: Team, role: str, tmp_path: Path) -> Iterator[tuple[PromptStore, Any]]:
    """``role``'s local store (a fresh clone, pulled as that login) and the server."""
    with (
        PromptStore(tmp_path / f"{role}.db", user=team.logins[role]) as local,
        sync.open_remote(local, team.url(role)) as remote,
    ):
        sync.pull(local, remote)
        yield local, remote


def test_the_servers_gate_holds_for_an_admins_push_and_takes_an_approval_in_the_run(
    team: Team, tmp_path: Path
) -> None:
    admin = team.logins["admin"]
    assert cli("--db", team.url("admin"), "env", "protect", "production").exit_code == 0
    with working_copy(team, "editor", tmp_path) as (mine, server):
        wanted = mine.save("summarizer", "The editor's summary.", reason="tighter").number
        assert sync.push(mine, server, versions_only=True).versions == 1
    with working_copy(team, "admin", tmp_path) as (mine, server):
        assert mine.governance.environment("production").protected  # came with the clone
        # The admin's own version, made live in a copy where the admin lifted protection:
        # the server refuses the run whole, in one line, and keeps its protection.
        own = mine.save("translator", "Translate tersely.", reason="shorter").number
        mine.governance.unprotect_environment("production")
        mine.activate("translator", own, reason="mine")
        before = snapshot(server)
        line = refused(
            cli(
                "--db",
                str(mine.url),
                "--user",
                admin,
                "sync",
                "push",
                "--remote",
                team.url("admin"),
            ),
            "push refused, nothing was pushed",
            f"version {own} of translator needs 1 approval by someone other than its "
            f"author ({admin}) to go live in production (protected)",
            "--versions-only",
        )
        assert "Traceback" not in line
        with PromptStore(team.owner_url, create=False) as owner:
            assert snapshot(owner) == before
            assert owner.governance.environment("production").protected
        mine.rollback("translator", reason="not yet")  # back to what the server serves
        # The editor's version, approved by the admin in the admin's copy: the approval
        # is written as the admin's login (the server's review guard checks it), travels
        # with the push, and the server's gate counts it.
        mine.governance.protect_environment("production")
        mine.governance.approve("summarizer", wanted, "reads well")
        mine.activate("summarizer", wanted, reason="approved")
        assert sync.push(mine, server).moves
        assert server.deployment("summarizer").active == wanted
        assert [r.actor for r in server.governance.reviews("summarizer", wanted)] == [admin]
        assert server.deployment("translator").active != own
        # The reviewer's login approves the admin's version on the server; the approval
        # comes to the admin's copy with a pull, and then the move goes both ways.
        done = cli("--db", team.url("reviewer"), "review", "approve", "translator", str(own),
                   "--comment", "fine")  # fmt: skip
        assert done.exit_code == 0, done.output
        sync.pull(mine, server)
        mine.activate("translator", own, reason="approved by the reviewer")
        assert sync.push(mine, server).moves
        assert server.deployment("translator").active == own
