"""Governance on SQLite: identity rules, explicit environments, reviews and the gate of
protected environments, through the store and through the CLI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from promptdeck.cli.app import main
from promptdeck.errors import NotFoundError, PermissionDeniedError, ValidationError
from promptdeck.records import Deployment, FeatureDocument, Review, VersionSpec
from promptdeck.store import PromptStore, governance
from promptdeck.store.gates import NotApprovedError
from promptdeck.store.governance import fold_review_state

TEAM = {"alice": "admin", "bob": "reviewer", "carol": "reviewer", "ed": "editor", "vic": "viewer"}


@pytest.fixture
def team_path(store_path: Path) -> Path:
    with PromptStore(store_path, user="alice", create=False) as store:
        for user, role in TEAM.items():
            store.set_role(user, role)
    return store_path


@pytest.fixture
def opened(team_path: Path) -> Iterator[dict[str, PromptStore]]:
    stores = {user: PromptStore(team_path, user=user, create=False) for user in TEAM}
    yield stores
    for store in stores.values():
        store.close()


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def refused(result: Result, *fragments: str) -> str:
    """Exit 1, one line on stderr starting 'error:', no traceback."""
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


# --- identity ------------------------------------------------------------------------


def test_without_roles_a_declared_user_is_believed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(governance.TRUST_DECLARED_ENV)
    monkeypatch.setattr("promptdeck.store.identity.os_login", lambda: "maria")
    with PromptStore(tmp_path / "one.db", user="someone") as store:
        assert (store.user, store.identity_source) == ("someone", "declared")
        assert store.create_feature("f", "t", model="m", reason="r").author == "someone"
    with PromptStore(tmp_path / "one.db") as store:
        assert (store.user, store.identity_source) == ("maria", "os-login")


def test_once_roles_exist_only_the_os_login_acts(
    team_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(governance.TRUST_DECLARED_ENV)
    monkeypatch.setattr("promptdeck.store.identity.os_login", lambda: "ed")
    with PromptStore(team_path, user="alice", create=False) as claimed:
        # Reading is harmless and happens as the real login; every write is refused.
        assert claimed.user == "ed" and claimed.features()
        with pytest.raises(PermissionDeniedError, match=r"logged in as ed.*not as alice"):
            claimed.activate("summarizer", 1, reason="x")
    monkeypatch.setenv("PROMPTDECK_USER", "alice")
    line = refused(cli("--db", str(team_path), "activate", "summarizer", "1", "-m", "x"))
    assert "logged in as ed" in line and "PROMPTDECK_USER" in line
    monkeypatch.delenv("PROMPTDECK_USER")
    with PromptStore(team_path, create=False) as store:
        identity = store.governance.identity()
        assert (identity.user, identity.source, identity.role) == ("ed", "os-login", "editor")
        with pytest.raises(PermissionDeniedError, match="ed is an editor"):
            store.activate("summarizer", 1, reason="x")
    # Naming yourself is fine, and events record the login.
    with PromptStore(team_path, user="ed", create=False) as store:
        store.save("summarizer", "Ed's text.", reason="edit")
        assert store.history("summarizer")[0].actor == "ed"
    assert ok(cli("--db", str(team_path), "whoami")).startswith("ed (editor)")


# --- roles ---------------------------------------------------------------------------


def test_reviewer_sits_between_editor_and_admin(opened: dict[str, PromptStore]) -> None:
    bob = opened["bob"]
    assert bob.role() == "reviewer"
    assert bob.save("summarizer", "Bob edits too.", reason="r").author == "bob"
    with pytest.raises(PermissionDeniedError, match="bob is a reviewer; to activate"):
        bob.activate("summarizer", 1, reason="x")
    db = bob.url.removeprefix("sqlite:///")
    done = ok(cli("--db", db, "--user", "alice", "role", "dan", "reviewer"))
    assert "dan is now a reviewer" in done
    refused(cli("--db", db, "--user", "bob", "role", "dan", "admin"), "bob is a reviewer")


# --- environments --------------------------------------------------------------------


def test_environments_are_explicit_and_typos_are_refused(
    opened: dict[str, PromptStore], team_path: Path
) -> None:
    alice = opened["alice"]
    assert alice.environments() == ["production", "staging"]  # staging came with the import
    with pytest.raises(NotFoundError, match=r"unknown environment 'stagign' .did you mean staging"):
        alice.activate("summarizer", 3, reason="x", environment="stagign")
    with pytest.raises(NotFoundError, match="env create qa"):
        alice.set_canary("summarizer", 3, 10, reason="x", environment="qa")
    assert alice.deployment("summarizer").active == 4
    refused(
        cli(
            "--db",
            str(team_path),
            "--user",
            "alice",
            "activate",
            "summarizer",
            "3",
            "-m",
            "x",
            "--env",
            "stagign",
        ),
        "did you mean staging?",
    )
    refused(cli("--db", str(team_path), "--user", "ed", "env", "create", "qa"), "must be an admin")
    assert "qa created" in ok(cli("--db", str(team_path), "--user", "alice", "env", "create", "qa"))
    refused(cli("--db", str(team_path), "--user", "alice", "env", "create", "qa"), "already exists")
    assert alice.activate("summarizer", 3, reason="x", environment="qa").active == 3
    listing = ok(cli("--db", str(team_path), "env", "list"))
    assert [line.split()[0] for line in listing.splitlines()[1:]] == ["production", "qa", "staging"]


def test_import_brings_the_environments_its_files_carry(empty_store: PromptStore) -> None:
    document = FeatureDocument(
        feature="greeting",
        versions=(VersionSpec(number=1, system_prompt="Hi", model="m", parameters={}),),
        deployments=(Deployment(feature="greeting", environment="eu-west", active=1),),
    )
    empty_store.import_documents([document])
    assert "eu-west" in empty_store.environments()


# --- reviews -------------------------------------------------------------------------


def test_review_state_folds_each_reviewers_latest_word() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def word(kind: str, actor: str) -> Review:
        return Review("u", "f", 2, kind, actor, "c", at)  # type: ignore[arg-type]

    assert fold_review_state("f", 2, []).status == "none"
    assert fold_review_state("f", 2, [word("request", "ed")]).status == "requested"
    state = fold_review_state(
        "f", 2, [word("request", "ed"), word("approve", "bob"), word("reject", "carol")]
    )
    assert (state.status, state.approved_by, state.rejected_by) == (
        "rejected",
        ("bob",),
        ("carol",),
    )
    state = fold_review_state(
        "f", 2, [word("reject", "carol"), word("approve", "bob"), word("approve", "carol")]
    )
    assert (state.status, state.approvals) == ("approved", 2)


def test_propose_approve_reject_and_what_they_leave(opened: dict[str, PromptStore]) -> None:
    ed, bob, carol, vic = opened["ed"], opened["bob"], opened["carol"], opened["vic"]
    number = ed.save("summarizer", "Summarise in one line.\nBe kind.", reason="shorter").number
    state = ed.governance.request_review("summarizer", number, "please look")
    assert (state.status, state.requested_by) == ("requested", "ed")
    with pytest.raises(ValidationError, match="already requested"):
        ed.governance.request_review("summarizer", number, "again")
    with pytest.raises(PermissionDeniedError, match="ed is an editor; to approve"):
        ed.governance.approve("summarizer", number, "mine")
    with pytest.raises(PermissionDeniedError, match="vic is a viewer; to request a review"):
        vic.governance.request_review("summarizer", number, "x")
    with pytest.raises(ValidationError, match="comment is required"):
        bob.governance.approve("summarizer", number, "  ")
    (entry,) = bob.governance.queue()
    assert (entry.feature, entry.version, entry.live, entry.author) == (
        "summarizer",
        number,
        4,
        "ed",
    )
    assert entry.lines_added == 2 and entry.lines_removed >= 1
    assert bob.governance.pending_count() == 1
    assert carol.governance.reject("summarizer", number, "too terse").status == "rejected"
    assert bob.governance.approve("summarizer", number, "fine by me").status == "rejected"
    assert len(bob.governance.queue()) == 1  # rejected: still waiting for a reviewer's word
    state = carol.governance.approve("summarizer", number, "ok now")
    assert (state.status, state.approved_by) == ("approved", ("bob", "carol"))
    assert bob.governance.queue() == []
    kinds = [(r.kind, r.actor) for r in bob.governance.reviews("summarizer", number)]
    assert kinds == [
        ("request", "ed"),
        ("reject", "carol"),
        ("approve", "bob"),
        ("approve", "carol"),
    ]
    events = [(e.action, e.actor) for e in bob.history("summarizer")[:4]]
    assert events == [
        ("approve", "carol"),
        ("approve", "bob"),
        ("reject", "carol"),
        ("review-request", "ed"),
    ]
    assert bob.governance.states("summarizer")[number].status == "approved"
    # Nobody approves their own version, not even an admin.
    own = bob.save("summarizer", "Bob's own.", reason="mine").number
    with pytest.raises(PermissionDeniedError, match=r"bob wrote version .* someone else"):
        bob.governance.approve("summarizer", own, "self")


# --- the gate of protected environments ----------------------------------------------


def test_a_protected_environment_takes_only_approved_versions(
    opened: dict[str, PromptStore],
) -> None:
    alice, bob, carol, ed = opened["alice"], opened["bob"], opened["carol"], opened["ed"]
    alice.governance.protect_environment("production", approvals=2)
    number = ed.save("summarizer", "New text.", reason="edit").number
    with pytest.raises(NotApprovedError, match=r"needs 2 approvals .*author \(ed\).*has none"):
        alice.activate("summarizer", number, reason="go")
    assert alice.governance.blockers("summarizer", number, "production")
    assert alice.governance.blockers("summarizer", number, "staging") == []
    bob.governance.approve("summarizer", number, "ok")
    with pytest.raises(NotApprovedError, match="it has 1"):
        alice.set_canary("summarizer", number, 10, reason="go")
    carol.governance.approve("summarizer", number, "ok")
    assert alice.governance.blockers("summarizer", number, "production") == []
    assert alice.set_canary("summarizer", number, 10, reason="canary").canary == number
    carol.governance.reject("summarizer", number, "found a problem")
    with pytest.raises(NotApprovedError, match="rejected by carol"):
        alice.promote("summarizer", reason="go")
    carol.governance.approve("summarizer", number, "fixed upstream")
    assert alice.promote("summarizer", reason="go").active == number
    # Rollback goes back to what was live, reviewed or not.
    assert alice.rollback("summarizer", reason="back").active == 4
    alice.governance.unprotect_environment("production")
    assert alice.governance.environment("production").protected is False


@pytest.mark.parametrize("approvals", [0, -1, 21, 2**63, True, 1.5, "2"])
def test_an_absurd_approval_count_is_refused_and_protects_nothing(
    opened: dict[str, PromptStore], approvals: object
) -> None:
    """The store's own check (the TUI and the library call it without the CLI's range)."""
    alice = opened["alice"]
    before = (alice.governance.environments(), alice.history())
    with pytest.raises(ValidationError, match="approvals must be a whole number from 1 to 20"):
        alice.governance.protect_environment("production", approvals=approvals)  # type: ignore[arg-type]
    assert (alice.governance.environments(), alice.history()) == before


def test_cli_review_flow_and_one_line_refusals(team_path: Path) -> None:
    db = ["--db", str(team_path)]
    ok(cli(*db, "--user", "alice", "env", "protect", "production", "--approvals", "1"))
    refused(cli(*db, "--user", "ed", "env", "protect", "production"), "must be an admin")
    refused(cli(*db, "--user", "alice", "env", "protect", "prodution"), "did you mean production?")
    prompt = team_path.parent / "p.txt"
    prompt.write_text("A new summary prompt.", encoding="utf-8")
    ok(cli(*db, "--user", "ed", "save", "summarizer", "--file", str(prompt), "-m", "edit"))
    ok(cli(*db, "--user", "ed", "review", "request", "summarizer", "5", "--reason", "look"))
    listing = ok(cli(*db, "review", "list"))
    assert "summarizer" in listing and "v5" in listing and "requested by ed" in listing
    refused(
        cli(*db, "--user", "alice", "activate", "summarizer", "5", "-m", "go"), "needs 1 approval"
    )
    refused(cli(*db, "--user", "ed", "review", "approve", "summarizer", "5", "-m", "x"), "reviewer")
    refused(
        cli(*db, "--user", "bob", "review", "approve", "summarizer", "9", "-m", "x"), "no version 9"
    )
    assert "approved by bob" in ok(
        cli(*db, "--user", "bob", "review", "approve", "summarizer", "v5", "--comment", "good")
    )
    assert "nothing to review" in ok(cli(*db, "review", "list"))
    ok(cli(*db, "--user", "alice", "activate", "summarizer", "5", "-m", "go"))
    data = ok(cli(*db, "review", "list", "--json"))
    assert data.strip() == "[]"


def test_concurrent_reject_and_activate_never_leave_a_rejected_version_live(
    team_path: Path,
) -> None:
    """Two terminals: one reviewer rejects while an admin activates. The unit of work
    serialises them: either the activation came first (and the rejection after it), or
    the activation is refused."""
    with PromptStore(team_path, user="alice", create=False) as alice:
        alice.governance.protect_environment("production")
    outcomes: list[str] = []
    for round_ in range(6):
        with PromptStore(team_path, user="ed", create=False) as ed:
            number = ed.save("summarizer", f"Round {round_} text.", reason="edit").number
        with PromptStore(team_path, user="bob", create=False) as bob:
            bob.governance.approve("summarizer", number, "ok")
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def reject(number: int = number, start: threading.Barrier = start) -> None:
            with PromptStore(team_path, user="carol", create=False) as carol:
                start.wait()
                carol.governance.reject("summarizer", number, "no")

        def activate(
            number: int = number,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            with PromptStore(team_path, user="alice", create=False) as alice:
                start.wait()
                try:
                    alice.activate("summarizer", number, reason="go")
                except NotApprovedError as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=reject), threading.Thread(target=activate)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with PromptStore(team_path, user="alice", create=False) as alice:
            events = [e for e in alice.history("summarizer") if e.to_version == number]
            order = [e.action for e in reversed(events)]
            if errors:
                assert "activate" not in order
                outcomes.append("refused")
            else:
                assert order.index("activate") < order.index("reject")
                outcomes.append("activated first")
                alice.rollback("summarizer", reason="reset")
    assert len(outcomes) == 6


def test_import_into_a_protected_environment_takes_only_approved_versions(
    empty_store: PromptStore,
) -> None:
    empty_store.governance.protect_environment("production")
    spec = VersionSpec(number=1, system_prompt="Hi", model="m", parameters={})
    pointing = FeatureDocument(
        feature="greeting",
        versions=(spec,),
        deployments=(Deployment(feature="greeting", environment="production", active=1),),
    )
    with pytest.raises(NotApprovedError, match="needs 1 approval"):
        empty_store.import_documents([pointing])
    assert empty_store.features() == []  # all or nothing
    single = FeatureDocument(feature="greeting", versions=(spec,), single=True)
    result = empty_store.import_documents([single])
    assert result.versions_created and not result.deployments_set
    assert empty_store.deployment("greeting").active is None


def test_an_environment_made_by_requiring_checks_is_like_any_new_one(
    opened: dict[str, PromptStore],
) -> None:
    """checks.require on an unknown environment creates it as create_environment does
    (the same defaults, so sync and `env list` see no difference), requiring checks."""
    admin = opened["alice"]
    admin.checks.require("qa")
    made = admin.governance.create_environment("eu")
    qa = admin.governance.environment("qa")
    assert (qa.protected, qa.required_approvals, qa.require_checks) == (False, 1, True)
    assert (made.protected, made.required_approvals, made.require_checks) == (False, 1, False)
