"""Approvals under concurrency and faults, with real PostgreSQL logins: an approval and
an activation racing from two processes never put an unapproved version live, and a
process killed in the middle of approving leaves the approval whole or absent."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pgserver import PostgresServer
from sqlalchemy import select
from test_governance_pg import PASSWORD, Team, made_team

from promptdeck.store import PromptStore
from promptdeck.store.gates import NotApprovedError
from promptdeck.store.rows import AuditEventRow, FeatureRow, ReviewRow, VersionRow

pytestmark = pytest.mark.postgres

FEATURE = "summarizer"
# Writers wait at most this long on a lock: a transaction left open by a dead process
# would fail the test instead of hanging it.
LOCK_TIMEOUT = {"connect_args": {"options": "-c lock_timeout=20000"}}


@pytest.fixture
def team(pg_server: PostgresServer) -> Iterator[Team]:
    with made_team(pg_server) as made:
        with made.store("admin") as admin:
            admin.governance.protect_environment("production")
        yield made


def proposed(editor: PromptStore, text: str) -> int:
    """A new version of FEATURE by the editor, with its review requested."""
    number = editor.save(FEATURE, text, reason="proposal").number
    editor.governance.request_review(FEATURE, number, "please look")
    return number


def approvals_and_events(admin: PromptStore, number: int) -> tuple[list[int], list[int]]:
    """Ids of the approvals of ``number`` and of their audit events, in commit order."""
    with admin.reading() as session:
        reviews = session.scalars(
            select(ReviewRow.id)
            .join(VersionRow, VersionRow.id == ReviewRow.version_id)
            .join(FeatureRow, FeatureRow.id == VersionRow.feature_id)
            .where(FeatureRow.name == FEATURE, VersionRow.number == number)
            .where(ReviewRow.kind == "approve")
        ).all()
        events = session.scalars(
            select(AuditEventRow.id).where(
                AuditEventRow.feature == FEATURE,
                AuditEventRow.to_version == number,
                AuditEventRow.action == "approve",
            )
        ).all()
    return list(reviews), list(events)


def activation_event(admin: PromptStore, number: int) -> int | None:
    with admin.reading() as session:
        return session.scalar(
            select(AuditEventRow.id).where(
                AuditEventRow.feature == FEATURE,
                AuditEventRow.to_version == number,
                AuditEventRow.action == "activate",
            )
        )


# -- an approval still open when the activation comes ------------------------------------


def _open_approval(team: Team, number: int) -> psycopg.Connection[Any]:
    """The reviewer's login, by hand, as promptdeck writes an approval: bump the
    revision (the writers' lock), insert the approval; left uncommitted."""
    conn = psycopg.connect(
        host=team.server.host,
        port=team.server.port,
        user=team.logins["reviewer"],
        password=PASSWORD,
        dbname=team.database,
    )
    conn.execute("UPDATE store_state SET revision = revision + 1 WHERE id = 1")
    conn.execute(
        "INSERT INTO reviews (uid, version_id, kind, actor, comment, created_at) "
        "SELECT gen_random_uuid()::text, v.id, 'approve', session_user, 'ok', now() "
        "FROM versions v JOIN features f ON f.id = v.feature_id "
        "WHERE f.name = %s AND v.number = %s",
        (FEATURE, number),
    )
    return conn


def _activate_in_thread(team: Team, number: int) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        with PromptStore(team.url("admin"), create=False, engine_options=LOCK_TIMEOUT) as admin:
            try:
                outcome.append(admin.activate(FEATURE, number, reason="go").active)
            except NotApprovedError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("ending", ["rollback", "commit"])
def test_an_activation_waits_for_an_open_approval_and_counts_it_only_once_committed(
    team: Team, ending: str
) -> None:
    with team.store("editor") as editor:
        number = proposed(editor, "Shorter summaries.")
    approval = _open_approval(team, number)
    try:
        thread, outcome = _activate_in_thread(team, number)
        thread.join(1.0)
        assert thread.is_alive(), outcome  # it waits on the writers' lock, not guesses
        if ending == "commit":
            approval.commit()
        else:
            approval.rollback()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        approval.close()
    with team.store("admin") as admin:
        live = admin.deployment(FEATURE).active
    if ending == "commit":
        assert outcome == [number] and live == number
    else:
        assert isinstance(outcome[0], NotApprovedError) and live != number


# -- approve and activate from two processes at once ---------------------------------------

WORKER = r"""
import json, random, sys, time
from promptdeck.errors import PromptDeckError
from promptdeck.store import PromptStore
url, seed = sys.argv[1], int(sys.argv[2])
jitter = random.Random(seed)
# A lock never released fails a command (lock_timeout) instead of hanging the test.
store = PromptStore(
    url, create=False, engine_options={"connect_args": {"options": "-c lock_timeout=20000"}}
)
print("ready", flush=True)
for line in sys.stdin:
    command, feature, version = line.split()
    time.sleep(jitter.random() * 0.03)  # either may come first
    try:
        if command == "approve":
            store.governance.approve(feature, int(version), "reads well")
        elif command == "reject":
            store.governance.reject(feature, int(version), "not yet")
        else:
            store.activate(feature, int(version), reason="go")
        print(json.dumps({"ok": True}), flush=True)
    except PromptDeckError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}), flush=True)
"""


class Worker:
    """A long-lived promptdeck process acting as one login, one command per line."""

    def __init__(self, url: str, seed: int) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.read_line() == "ready"

    def read_line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"worker exited ({self.process.poll()})"
        return line.strip()

    def send(self, command: str, number: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command} {FEATURE} {number}\n")
        self.process.stdin.flush()

    def result(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.read_line())
        return found

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def test_approve_and_activate_racing_never_put_an_unapproved_version_live(team: Team) -> None:
    rounds = random.Random(9)
    reviewer = Worker(team.url("reviewer"), seed=1)
    admin = Worker(team.url("admin"), seed=2)
    outcomes: dict[str, int] = {}
    with team.store("editor") as editor, team.store("admin") as store:
        first_live = store.deployment(FEATURE).active  # imported before protection
        try:
            for index in range(12):
                number = proposed(editor, f"Summaries, take {index}.")
                decision = "approve" if rounds.random() < 0.6 else "reject"
                reviewer.send(decision, number)
                admin.send("activate", number)
                reviewed, activated = reviewer.result(), admin.result()
                assert reviewed["ok"], reviewed
                approvals, events = approvals_and_events(store, number)
                assert len(approvals) == len(events) == (1 if decision == "approve" else 0)
                if activated["ok"]:
                    # Live only after an approval, committed before the activation began.
                    moved = activation_event(store, number)
                    assert decision == "approve" and moved is not None and events[0] < moved
                    outcome = "activated after the approval"
                else:
                    assert "protected" in activated["error"], activated
                    outcome = f"refused ({decision})"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                live = store.deployment(FEATURE).active
                assert live is not None
                approved = store.governance.state(FEATURE, live).status == "approved"
                assert approved or live == first_live
        finally:
            reviewer.close()
            admin.close()
    # Both orders happened, or the race proved nothing.
    assert outcomes.get("activated after the approval", 0) >= 1, outcomes
    assert outcomes.get("refused (approve)", 0) + outcomes.get("refused (reject)", 0) >= 1


# -- a reviewer's process killed while approving --------------------------------------------

KILLED = r"""
import os, signal, sys
from promptdeck.store import PromptStore
url, feature, version, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = PromptStore(url, create=False)
calls = 0
def hook(frame, event, arg):
    global calls
    if event in ("call", "c_call"):
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
sys.setprofile(hook)
store.governance.approve(feature, version, "reads well")
sys.setprofile(None)
print(calls)
"""


def _approve_until(team: Team, number: int, kill_at: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", KILLED, team.url("reviewer"), FEATURE, str(number), str(kill_at)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_process_killed_while_approving_leaves_the_approval_whole_or_absent(
    team: Team,
) -> None:
    with team.store("editor") as editor:
        numbers = [proposed(editor, f"Attempt {index}.") for index in range(6)]
    whole = _approve_until(team, numbers.pop(), kill_at=0)
    assert whole.returncode == 0, whole.stderr
    total = int(whole.stdout.strip())
    # Random points, and the last call (approve has returned: committed) for certain.
    points = [*sorted(random.Random(4).sample(range(1, total), 4)), total]
    seen: set[bool] = set()
    with PromptStore(team.url("admin"), create=False, engine_options=LOCK_TIMEOUT) as admin:
        for point, number in zip(points, numbers, strict=True):
            run = _approve_until(team, number, kill_at=point)
            assert run.returncode == -9, (point, run.stderr)
            approvals, events = approvals_and_events(admin, number)
            assert len(approvals) == len(events) <= 1, point  # both or neither
            approved = len(approvals) == 1
            seen.add(approved)
            # Nothing is left locked, and the gate agrees with what is stored.
            if approved:
                assert admin.activate(FEATURE, number, reason="go").active == number
            else:
                with pytest.raises(NotApprovedError):
                    admin.activate(FEATURE, number, reason="go")
    assert seen == {False, True}, (seen, points, total)
