"""The store's rules (issue 2): each test fails if the rule it names breaks."""

from __future__ import annotations

import dataclasses
import inspect
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from promptdeck import yamlio
from promptdeck.errors import (
    AlreadyActiveError,
    ConflictError,
    NoChangeError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
    ValidationError,
)
from promptdeck.records import FeatureDocument, VersionSpec
from promptdeck.store import SCHEMA_HEAD, PromptStore, UnitOfWork, identity
from promptdeck.store.rows import AuditEventRow

TABLES = (
    "features",
    "versions",
    "deployments",
    "rollback_stack",
    "audit_events",
    "roles",
    "store_state",
)


def snapshot(store: PromptStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read straight from the database."""
    with store.engine.connect() as connection:
        return {
            table: [
                tuple(row)
                for row in connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))
            ]
            for table in TABLES
        }


def big_text() -> str:
    """More than 1 MB of awkward UTF-8: CJK, emoji, Rich markup, ANSI, CRLF, tabs."""
    chunk = (
        "Línea con acentos · 中文字符 · 日本語のテキスト · 한국어 · emoji 🎉👩‍💻🇫🇷 · "
        "[bold red]not markup[/bold red] [link=x]y[/link] · \x1b[31mANSI red\x1b[0m · "
        "tab\there · {{customer_name}} · trailing spaces   \r\n"
    )
    repeats = 1_100_000 // len(chunk.encode("utf-8")) + 1
    text = "  leading spaces\n\t" + chunk * repeats + "\n\n\nend without a newline"
    assert len(text.encode("utf-8")) > 1_048_576
    return text


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store location on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_store_url"))


@pytest.fixture
def st(url: str) -> Iterator[PromptStore]:
    """A store (SQLite and PostgreSQL) with one feature, 'greeting', at version 1."""
    with PromptStore(url, user="alice") as store:
        store.create_feature(
            "greeting",
            "Hello v1",
            model="model-a",
            reason="first version",
            parameters={"max_tokens": 100, "temperature": 0.5},
        )
        yield store


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[PromptStore]:
    """The same on SQLite only."""
    with PromptStore(tmp_path / "store.db", user="alice") as store:
        store.create_feature(
            "greeting",
            "Hello v1",
            model="model-a",
            reason="first version",
            parameters={"max_tokens": 100, "temperature": 0.5},
        )
        yield store


def prepare(store: PromptStore) -> None:
    """greeting v1..v3; production activated 1 then 2 (so the rollback stack holds 1)."""
    store.save("greeting", "Hello v2", reason="second")
    store.save("greeting", "Hello v3", reason="third")
    store.activate("greeting", 1, reason="go live")
    store.activate("greeting", 2, reason="better")


def as_user(store: PromptStore, user: str) -> PromptStore:
    return PromptStore(store.url, user=user, create=False)


# --- immutability ---------------------------------------------------------------------

FORBIDDEN = re.compile(
    r"update|delete|remove|edit|modify|purge|drop|truncate|rename|overwrite|replace|amend|"
    r"erase|prune|rewrite|squash|set_text|set_reason|set_prompt",
    re.IGNORECASE,
)


def test_no_public_api_updates_or_deletes_versions_or_audit_events() -> None:
    public = [name for name, _ in inspect.getmembers(PromptStore) if not name.startswith("_")]
    assert {"save", "history", "activate"} <= set(public)
    assert [name for name in public if FORBIDDEN.search(name)] == []


def test_returned_records_are_frozen_copies(lite: PromptStore) -> None:
    params = {"max_tokens": 10, "stop": ["###"]}
    version = lite.save("greeting", "Hello v2", reason="r", parameters=params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        version.system_prompt = "changed"  # type: ignore[misc]
    params["stop"].append("changed after save")
    version.parameters["max_tokens"] = 99999  # type: ignore[index]
    assert lite.version("greeting", 2).parameters == {"max_tokens": 10, "stop": ["###"]}


def test_no_write_ever_changes_an_earlier_version_or_audit_row(st: PromptStore) -> None:
    def rows() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        shot = snapshot(st)
        return shot["versions"], shot["audit_events"]

    st.governance.create_environment("staging")

    writes: list[Callable[[], object]] = [
        lambda: st.save("greeting", "Hello v2", reason="second"),
        lambda: st.save("greeting", "Hello v3", reason="third", model="model-b"),
        lambda: st.save("greeting", "Hello v4 forced", reason="forced", base=1, force=True),
        lambda: st.activate("greeting", 1, reason="live"),
        lambda: st.activate("greeting", 2, reason="better"),
        lambda: st.set_canary("greeting", 3, 10, reason="try"),
        lambda: st.promote("greeting", reason="good"),
        lambda: st.rollback("greeting", reason="bad"),
        lambda: st.activate("greeting", 4, reason="staging", environment="staging"),
        lambda: st.set_role("alice", "admin"),
        lambda: st.create_feature("other", "Other", model="m", reason="new"),
    ]
    for write in writes:
        versions_before, audit_before = rows()
        write()
        versions_after, audit_after = rows()
        assert versions_after[: len(versions_before)] == versions_before
        assert audit_after[: len(audit_before)] == audit_before
        assert len(audit_after) == len(audit_before) + 1


def test_the_database_itself_refuses_a_second_row_with_the_same_number(lite: PromptStore) -> None:
    with pytest.raises(IntegrityError), lite.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO versions (uid, feature_id, number, system_prompt, model, "
                "parameters, author, reason, created_at, parent_number, content_hash) "
                "SELECT 'another-uid', feature_id, number, 'x', 'm', '{}', 'eve', 'r', "
                "created_at, NULL, 'h' FROM versions WHERE number = 1"
            )
        )


# --- numbering --------------------------------------------------------------------------


def test_numbers_are_per_feature_increasing_and_contiguous(st: PromptStore) -> None:
    st.create_feature("other", "Other v1", model="m", reason="new feature")
    numbers: dict[str, list[int]] = {"greeting": [1], "other": [1]}
    for i in range(2, 5):
        for feature in ("greeting", "other"):
            version = st.save(feature, f"{feature} text {i}", reason=f"change {i}")
            numbers[feature].append(version.number)
    assert numbers == {"greeting": [1, 2, 3, 4], "other": [1, 2, 3, 4]}
    assert [v.number for v in st.versions("greeting")] == [4, 3, 2, 1]


def test_numbers_are_never_reused_after_refused_or_failed_saves(
    lite: PromptStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite.save("greeting", "Hello v2", reason="second")
    with pytest.raises(NoChangeError):
        lite.save("greeting", "Hello v2", reason="same again")
    with pytest.raises(ConflictError):
        lite.save("greeting", "stale", reason="stale", base=1)
    with monkeypatch.context() as patch:
        patch.setattr(UnitOfWork, "audit", _boom)
        with pytest.raises(RuntimeError):
            lite.save("greeting", "lost in a failure", reason="fails")
    assert lite.save("greeting", "Hello v3", reason="third").number == 3
    assert [v.number for v in lite.versions("greeting")] == [3, 2, 1]


def test_save_with_no_base_goes_on_top_of_the_latest(st: PromptStore) -> None:
    st.save("greeting", "Hello v2", reason="second")
    version = st.save("greeting", "Hello v3", reason="third")
    assert (version.number, version.parent) == (3, 2)
    assert version.model == "model-a"
    assert version.parameters == {"max_tokens": 100, "temperature": 0.5}


# --- reasons and empty versions ---------------------------------------------------------

REASON_WRITES: dict[str, Callable[[PromptStore, str], object]] = {
    "create_feature": lambda s, r: s.create_feature("other", "text", model="m", reason=r),
    "save": lambda s, r: s.save("greeting", "new text", reason=r),
    "activate": lambda s, r: s.activate("greeting", 3, reason=r),
    "rollback": lambda s, r: s.rollback("greeting", reason=r),
    "set_canary": lambda s, r: s.set_canary("greeting", 3, 10, reason=r),
    "promote": lambda s, r: s.promote("greeting", reason=r),
    "clear_canary": lambda s, r: s.clear_canary("greeting", reason=r),
}


@pytest.mark.parametrize("reason", ["", "   ", "\t\n \r\n"], ids=["empty", "spaces", "whitespace"])
@pytest.mark.parametrize("write", list(REASON_WRITES))
def test_a_reason_is_required_and_nothing_is_written_without_one(
    lite: PromptStore, write: str, reason: str
) -> None:
    prepare(lite)
    lite.set_canary("greeting", 3, 5, reason="canary for the promote and clear cases")
    before, revision = snapshot(lite), lite.revision()
    with pytest.raises(ValidationError, match="reason"):
        REASON_WRITES[write](lite, reason)
    assert snapshot(lite) == before
    assert lite.revision() == revision


def test_the_reason_is_stored(st: PromptStore) -> None:
    version = st.save("greeting", "Hello v2", reason="Customers asked for a warmer tone")
    assert st.version("greeting", version.number).reason == "Customers asked for a warmer tone"


def test_saving_identical_content_is_refused_and_writes_nothing(st: PromptStore) -> None:
    before = snapshot(st)
    with pytest.raises(NoChangeError, match="identical"):
        st.save("greeting", "Hello v1", reason="no change")
    with pytest.raises(NoChangeError):
        st.save(
            "greeting",
            "Hello v1",
            reason="same model and parameters given explicitly",
            model="model-a",
            parameters={"temperature": 0.5, "max_tokens": 100},
        )
    assert snapshot(st) == before


def test_a_change_of_model_or_parameters_alone_is_a_new_version(st: PromptStore) -> None:
    assert st.save("greeting", "Hello v1", reason="model", model="model-b").number == 2
    changed = st.save("greeting", "Hello v1", reason="params", parameters={"max_tokens": 5})
    assert (changed.number, changed.model, dict(changed.parameters)) == (
        3,
        "model-b",
        {"max_tokens": 5},
    )


def test_identity_is_checked_against_the_base_not_the_latest(st: PromptStore) -> None:
    st.save("greeting", "Hello v2", reason="second")
    with pytest.raises(NoChangeError):
        st.save("greeting", "Hello v1", reason="same as base", base=1, force=True)


@pytest.mark.parametrize("text", ["", "   \n\t "], ids=["empty", "whitespace"])
def test_empty_prompt_text_is_refused(st: PromptStore, text: str) -> None:
    with pytest.raises(ValidationError):
        st.save("greeting", text, reason="empty")
    assert [v.number for v in st.versions("greeting")] == [1]


@pytest.mark.parametrize(
    "metadata",
    [{"reason": "why\x00not"}, {"reason": "r", "model": "model\x00b"}],
    ids=["reason", "model"],
)
def test_nul_characters_in_metadata_are_refused_alike_on_every_backend(
    st: PromptStore, metadata: dict[str, str]
) -> None:
    before = snapshot(st)
    with pytest.raises(ValidationError):
        st.save("greeting", "new text", **metadata)
    assert snapshot(st) == before


# --- text -------------------------------------------------------------------------------


def test_a_megabyte_of_awkward_text_round_trips_exactly(st: PromptStore) -> None:
    text = big_text()
    saved = st.save("greeting", text, reason="a very long prompt")
    assert st.version("greeting", saved.number).system_prompt == text
    assert st.version("greeting", "latest").content_hash == saved.content_hash
    with PromptStore(st.url, user="bob") as reopened:
        assert reopened.version("greeting", saved.number).system_prompt == text


@pytest.mark.parametrize(
    "text",
    [
        "  leading spaces\n",
        "trailing spaces   \n\n\n",
        "tabs\tinside\n\tand at the start",
        "windows\r\nline endings\r\n",
        "lone\rcarriage return",
        "control \x01\x07\x1b[2J\x7f characters",
        "中文 日本語 한국어 🎉👩‍💻",
        "[bold]Rich[/bold] [red]markup[/] \\[escaped]",
        "\u2028line separator\u0085next line\ufeffbom",
    ],
)
def test_any_text_round_trips_exactly(st: PromptStore, text: str) -> None:
    saved = st.save("greeting", text, reason="odd text")
    assert st.version("greeting", saved.number).system_prompt == text


# --- conflicts --------------------------------------------------------------------------


def test_a_stale_base_is_refused_naming_the_newer_version_and_its_author(st: PromptStore) -> None:
    with as_user(st, "bob") as bob:
        bob.save("greeting", "Bob's edit", reason="bob was faster")
    before = snapshot(st)
    with pytest.raises(ConflictError) as caught:
        st.save("greeting", "Alice's edit of v1", reason="alice", base=1)
    assert caught.value.latest == 2
    assert caught.value.latest_author == "bob"
    message = str(caught.value)
    assert "version 2" in message
    assert "bob" in message
    assert snapshot(st) == before


def test_force_saves_on_top_with_the_base_as_parent(st: PromptStore) -> None:
    with as_user(st, "bob") as bob:
        bob.save("greeting", "Bob's edit", reason="bob was faster")
    version = st.save("greeting", "Alice's edit of v1", reason="on top", base=1, force=True)
    assert (version.number, version.parent, version.author) == (3, 1, "alice")
    event = st.history("greeting")[0]
    assert (event.from_version, event.to_version) == (1, 3)
    assert event.details.get("on_top_of") == 2


def test_the_latest_as_base_is_no_conflict(st: PromptStore) -> None:
    st.save("greeting", "Hello v2", reason="second")
    assert st.save("greeting", "Hello v3", reason="third", base=2).parent == 2


def test_an_unknown_base_or_feature_is_not_found(st: PromptStore) -> None:
    with pytest.raises(NotFoundError):
        st.save("greeting", "text", reason="r", base=7)
    with pytest.raises(NotFoundError, match="nope"):
        st.save("nope", "text", reason="r")


# --- activation and rollback ------------------------------------------------------------


def test_activation_moves_the_pointer_and_is_audited(st: PromptStore) -> None:
    st.save("greeting", "Hello v2", reason="second")
    assert st.deployment("greeting").active is None
    deployment = st.activate("greeting", 1, reason="go live")
    assert deployment.active == 1
    deployment = st.activate("greeting", 2, reason="ship v2")
    assert (deployment.active, deployment.previous) == (2, (1,))
    assert st.feature("greeting").active == 2
    assert st.version("greeting", "active").number == 2
    event = st.history("greeting")[0]
    assert (event.action, event.environment, event.from_version, event.to_version) == (
        "activate",
        "production",
        1,
        2,
    )
    assert event.reason == "ship v2"


def test_activating_the_active_version_is_refused(st: PromptStore) -> None:
    st.activate("greeting", 1, reason="go live")
    before = snapshot(st)
    with pytest.raises(AlreadyActiveError, match="already active"):
        st.activate("greeting", 1, reason="again")
    assert snapshot(st) == before


def test_rollback_is_a_stack_not_a_toggle(st: PromptStore) -> None:
    st.save("greeting", "Hello v2", reason="second")
    st.save("greeting", "Hello v3", reason="third")
    for number in (1, 2, 3):
        st.activate("greeting", number, reason=f"ship {number}")
    assert st.rollback("greeting", reason="v3 is bad").active == 2
    deployment = st.rollback("greeting", reason="v2 is bad too")
    assert (deployment.active, deployment.previous) == (1, ())
    events = st.history("greeting")[:2]
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("rollback", 2, 1),
        ("rollback", 3, 2),
    ]
    before = snapshot(st)
    with pytest.raises(ValidationError, match="nothing to roll back"):
        st.rollback("greeting", reason="and again")
    assert snapshot(st) == before


def test_rollback_without_any_activation_is_refused(st: PromptStore) -> None:
    with pytest.raises(ValidationError, match="nothing to roll back"):
        st.rollback("greeting", reason="nothing there")
    st.activate("greeting", 1, reason="go live")
    with pytest.raises(ValidationError, match="nothing to roll back"):
        st.rollback("greeting", reason="only one activation")


def test_environments_are_independent(st: PromptStore) -> None:
    st.governance.create_environment("staging")
    st.save("greeting", "Hello v2", reason="second")
    st.save("greeting", "Hello v3", reason="third")
    st.activate("greeting", 1, reason="prod")
    st.activate("greeting", 2, reason="staging", environment="staging")
    st.activate("greeting", 3, reason="staging next", environment="staging")
    assert st.deployment("greeting").active == 1
    assert st.deployment("greeting", "staging").active == 3
    assert st.feature("greeting", "staging").active == 3
    assert st.version("greeting", "active", "staging").number == 3
    assert st.rollback("greeting", reason="undo", environment="staging").active == 2
    assert st.deployment("greeting").active == 1
    with pytest.raises(ValidationError):
        st.rollback("greeting", reason="prod has no stack")
    assert st.environments() == ["production", "staging"]
    with pytest.raises(NotFoundError, match="unknown environment 'qa'"):
        st.deployment("greeting", "qa")


def test_an_environment_name_must_be_valid(st: PromptStore) -> None:
    with pytest.raises(ValidationError, match="environment"):
        st.activate("greeting", 1, reason="r", environment="bad env!")


def test_activating_an_unknown_version_is_not_found(st: PromptStore) -> None:
    with pytest.raises(NotFoundError, match="no version 9"):
        st.activate("greeting", 9, reason="r")


# --- canary -----------------------------------------------------------------------------


def test_canary_needs_an_active_version_and_another_version(lite: PromptStore) -> None:
    lite.save("greeting", "Hello v2", reason="second")
    with pytest.raises(ValidationError, match="no active version"):
        lite.set_canary("greeting", 2, 10, reason="too early")
    lite.activate("greeting", 1, reason="live")
    with pytest.raises(ValidationError, match="active version"):
        lite.set_canary("greeting", 1, 10, reason="same as active")
    deployment = lite.set_canary("greeting", 2, 10, reason="try v2")
    assert (deployment.active, deployment.canary, deployment.canary_percent) == (1, 2, 10)
    with pytest.raises(ValidationError, match="already the canary"):
        lite.set_canary("greeting", 2, 10, reason="same again")
    assert lite.set_canary("greeting", 2, 50, reason="widen").canary_percent == 50
    event = lite.history("greeting")[0]
    assert (event.action, event.to_version, event.details["percent"]) == ("canary", 2, 50)


@pytest.mark.parametrize("percent", [-1, 101, 1000, True])
def test_canary_percent_is_a_whole_number_from_0_to_100(lite: PromptStore, percent: Any) -> None:
    lite.save("greeting", "Hello v2", reason="second")
    lite.activate("greeting", 1, reason="live")
    with pytest.raises(ValidationError, match="0 to 100"):
        lite.set_canary("greeting", 2, percent, reason="bad percent")
    assert lite.deployment("greeting").canary is None


@pytest.mark.parametrize("percent", [0, 100])
def test_canary_percent_bounds_are_allowed(lite: PromptStore, percent: int) -> None:
    lite.save("greeting", "Hello v2", reason="second")
    lite.activate("greeting", 1, reason="live")
    assert lite.set_canary("greeting", 2, percent, reason="edge").canary_percent == percent


def test_clear_canary(lite: PromptStore) -> None:
    prepare(lite)
    with pytest.raises(ValidationError, match="no canary"):
        lite.clear_canary("greeting", reason="none yet")
    lite.set_canary("greeting", 3, 20, reason="try")
    deployment = lite.clear_canary("greeting", reason="stop")
    assert (deployment.active, deployment.canary, deployment.canary_percent) == (2, None, 0)
    event = lite.history("greeting")[0]
    assert (event.action, event.from_version) == ("canary-off", 3)


def test_promote_makes_the_canary_active_and_can_be_rolled_back(lite: PromptStore) -> None:
    prepare(lite)
    with pytest.raises(ValidationError, match="no canary"):
        lite.promote("greeting", reason="nothing to promote")
    lite.set_canary("greeting", 3, 20, reason="try")
    deployment = lite.promote("greeting", reason="good numbers")
    assert (deployment.active, deployment.canary, deployment.canary_percent) == (3, None, 0)
    assert deployment.previous == (1, 2)
    event = lite.history("greeting")[0]
    assert (event.action, event.from_version, event.to_version) == ("promote", 2, 3)
    assert lite.rollback("greeting", reason="bad after all").active == 2


def test_activating_or_rolling_back_to_the_canary_ends_it(lite: PromptStore) -> None:
    prepare(lite)
    lite.set_canary("greeting", 3, 20, reason="try")
    deployment = lite.activate("greeting", 3, reason="ship the canary")
    assert (deployment.active, deployment.canary) == (3, None)
    lite.set_canary("greeting", 2, 20, reason="try the previous one as canary")
    deployment = lite.rollback("greeting", reason="back to 2")
    assert (deployment.active, deployment.canary, deployment.canary_percent) == (2, None, 0)


def test_canaries_are_per_environment(lite: PromptStore) -> None:
    prepare(lite)
    lite.governance.create_environment("staging")
    lite.activate("greeting", 1, reason="staging", environment="staging")
    lite.set_canary("greeting", 3, 30, reason="staging canary", environment="staging")
    assert lite.deployment("greeting").canary is None
    assert lite.deployment("greeting", "staging").canary == 3
    assert lite.feature("greeting", "staging").canary_percent == 30


# --- roles ------------------------------------------------------------------------------


def test_with_no_roles_everyone_may_do_everything(lite: PromptStore) -> None:
    with as_user(lite, "anyone") as anyone:
        assert anyone.roles() == {}
        assert anyone.role() == "admin"
        anyone.save("greeting", "Hello v2", reason="anyone edits")
        anyone.activate("greeting", 2, reason="anyone ships")
        anyone.create_feature("theirs", "text", model="m", reason="anyone creates")


def test_the_first_role_set_must_leave_an_admin(lite: PromptStore) -> None:
    before = snapshot(lite)
    with pytest.raises(ValidationError, match="no admin"):
        lite.set_role("bob", "editor")
    assert snapshot(lite) == before
    lite.set_role("alice", "admin")
    assert lite.roles() == {"alice": "admin"}


def test_once_a_role_is_set_unknown_users_are_viewers(lite: PromptStore) -> None:
    lite.set_role("alice", "admin")
    with as_user(lite, "mallory") as mallory:
        assert mallory.role() == "viewer"
        assert not mallory.may("editor")
        before = snapshot(lite)
        with pytest.raises(PermissionDeniedError, match="viewer"):
            mallory.save("greeting", "sneaky", reason="r")
        with pytest.raises(PermissionDeniedError):
            mallory.create_feature("sneaky", "text", model="m", reason="r")
        with pytest.raises(PermissionDeniedError):
            mallory.activate("greeting", 1, reason="r")
        with pytest.raises(PermissionDeniedError):
            mallory.set_role("mallory", "admin")
        assert snapshot(lite) == before
        assert mallory.versions("greeting")  # viewers read


def test_an_editor_saves_but_does_not_activate_or_manage(lite: PromptStore) -> None:
    prepare(lite)
    lite.set_role("alice", "admin")
    lite.set_role("ed", "editor")
    with as_user(lite, "ed") as ed:
        assert ed.save("greeting", "ed's edit", reason="wording").author == "ed"
        before = snapshot(lite)
        for write in (
            lambda: ed.activate("greeting", 3, reason="r"),
            lambda: ed.rollback("greeting", reason="r"),
            lambda: ed.set_canary("greeting", 3, 10, reason="r"),
            lambda: ed.set_role("ed", "admin"),
        ):
            with pytest.raises(PermissionDeniedError, match="admin"):
                write()
        assert snapshot(lite) == before


def test_an_admin_activates_and_manages_roles(lite: PromptStore) -> None:
    lite.set_role("alice", "admin")
    lite.set_role("root", "admin")
    lite.save("greeting", "Hello v2", reason="second")
    with as_user(lite, "root") as root:
        root.activate("greeting", 2, reason="admin ships")
        root.set_role("viv", "viewer")
    assert lite.roles() == {"alice": "admin", "root": "admin", "viv": "viewer"}


def test_the_last_admin_cannot_be_removed(lite: PromptStore) -> None:
    lite.set_role("alice", "admin")
    before = snapshot(lite)
    with pytest.raises(ValidationError, match="no admin"):
        lite.set_role("alice", "editor")
    assert snapshot(lite) == before
    lite.set_role("bob", "admin")
    lite.set_role("alice", "viewer")
    assert lite.roles() == {"alice": "viewer", "bob": "admin"}
    with as_user(lite, "bob") as bob, pytest.raises(ValidationError, match="no admin"):
        bob.set_role("bob", "viewer")


def test_an_unknown_role_is_refused(lite: PromptStore) -> None:
    with pytest.raises(ValidationError, match="unknown role"):
        lite.set_role("bob", "superuser")


def test_a_viewer_cannot_import(lite: PromptStore, samples: Path) -> None:
    lite.set_role("alice", "admin")
    before = snapshot(lite)
    with as_user(lite, "viv") as viv, pytest.raises(PermissionDeniedError):
        viv.import_documents(yamlio.read_files([samples]))
    assert snapshot(lite) == before


# --- identity ---------------------------------------------------------------------------


def test_identity_argument_then_env_then_config_then_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    monkeypatch.setattr(identity, "os_login", lambda: "login-name")
    with PromptStore(path) as store:
        assert store.user == "login-name"
        assert store.create_feature("f", "t", model="m", reason="r").author == "login-name"
    config = Path(str(tmp_path / "config.toml"))
    config.write_text('user = "from-config"\n', encoding="utf-8")
    monkeypatch.setenv("PROMPTDECK_CONFIG", str(config))
    with PromptStore(path) as store:
        assert store.user == "from-config"
    monkeypatch.setenv("PROMPTDECK_USER", "from-env")
    with PromptStore(path) as store:
        assert store.user == "from-env"
        assert store.save("f", "t2", reason="r").author == "from-env"
    with PromptStore(path, user="from-argument") as store:
        assert store.user == "from-argument"
        assert store.history("f")[0].actor == "from-env"
        store.activate("f", 2, reason="r")
        assert store.history("f")[0].actor == "from-argument"


# --- audit ------------------------------------------------------------------------------

AUDITED: dict[str, tuple[Callable[[PromptStore], object], tuple[Any, ...]]] = {
    "create-feature": (
        lambda s: s.create_feature("other", "Other", model="m", reason="why: create-feature"),
        ("other", None, None, 1),
    ),
    "create": (
        lambda s: s.save("greeting", "Hello v4", reason="why: create"),
        ("greeting", None, 3, 4),
    ),
    "activate": (
        lambda s: s.activate("greeting", 3, reason="why: activate"),
        ("greeting", "production", 2, 3),
    ),
    "rollback": (
        lambda s: s.rollback("greeting", reason="why: rollback"),
        ("greeting", "production", 2, 1),
    ),
    "canary": (
        lambda s: s.set_canary("greeting", 3, 25, reason="why: canary"),
        ("greeting", "production", None, 3),
    ),
    "canary-off": (
        lambda s: (
            s.set_canary("greeting", 3, 25, reason="set up"),
            s.clear_canary("greeting", reason="why: canary-off"),
        ),
        ("greeting", "production", 3, None),
    ),
    "promote": (
        lambda s: (
            s.set_canary("greeting", 3, 25, reason="set up"),
            s.promote("greeting", reason="why: promote"),
        ),
        ("greeting", "production", 2, 3),
    ),
    "role": (lambda s: s.set_role("alice", "admin"), (None, None, None, None)),
}


@pytest.mark.parametrize("action", list(AUDITED))
def test_every_write_has_exactly_one_audit_event_saying_who_what_from_to_why(
    lite: PromptStore, action: str
) -> None:
    prepare(lite)
    write, (feature, environment, from_version, to_version) = AUDITED[action]
    set_up = 1 if action in ("canary-off", "promote") else 0
    count, revision = len(lite.history()), lite.revision()
    started = datetime.now(UTC)
    write(lite)
    events = lite.history()
    assert len(events) == count + 1 + set_up
    assert lite.revision() == revision + 1 + set_up
    event = events[0]
    assert event.action == action
    assert event.actor == "alice"
    assert (event.feature, event.environment) == (feature, environment)
    assert (event.from_version, event.to_version) == (from_version, to_version)
    if action == "role":
        assert event.details == {"user": "alice", "from": None, "to": "admin"}
    else:
        assert event.reason == f"why: {action}"
    assert event.at.tzinfo is not None
    assert started - timedelta(seconds=5) <= event.at <= datetime.now(UTC) + timedelta(seconds=5)


def test_history_is_newest_first_and_per_feature(lite: PromptStore) -> None:
    prepare(lite)
    lite.create_feature("other", "Other", model="m", reason="other feature")
    events = lite.history("greeting")
    assert [e.action for e in events] == [
        "activate",
        "activate",
        "create",
        "create",
        "create-feature",
    ]
    assert {e.feature for e in events} == {"greeting"}
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
    assert lite.history()[0].feature == "other"
    assert len(lite.history(limit=2)) == 2
    with pytest.raises(NotFoundError):
        lite.history("nope")


def test_import_is_audited_per_feature(empty_store: PromptStore, samples: Path) -> None:
    documents = yamlio.read_files([samples])
    empty_store.import_documents(documents)
    events = empty_store.history()
    imports = [e for e in events if e.action == "import"]
    assert sorted(e.feature for e in imports) == sorted(d.feature for d in documents)
    for event in imports:
        assert event.actor == "alice"
        assert event.reason.startswith("Imported from ")
        assert event.details["versions"]


def test_reads_and_refusals_do_not_change_the_revision(lite: PromptStore) -> None:
    revision = lite.revision()
    lite.features()
    lite.versions("greeting")
    lite.version("greeting")
    lite.history()
    lite.roles()
    with pytest.raises(NoChangeError):
        lite.save("greeting", "Hello v1", reason="same")
    assert lite.revision() == revision
    lite.save("greeting", "Hello v2", reason="second")
    assert lite.revision() == revision + 1


# --- atomicity --------------------------------------------------------------------------


def _boom(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("disk on fire")


FAILING_WRITES: dict[str, Callable[[PromptStore], object]] = {
    "create_feature": lambda s: s.create_feature("other", "text", model="m", reason="r"),
    "save": lambda s: s.save("greeting", "Hello v4", reason="r"),
    "activate": lambda s: s.activate("greeting", 3, reason="r"),
    "rollback": lambda s: s.rollback("greeting", reason="r"),
    "set_canary": lambda s: s.set_canary("greeting", 3, 10, reason="r"),
    "set_role": lambda s: s.set_role("alice", "admin"),
    "import": lambda s: s.import_documents(
        [
            FeatureDocument(
                "imported", (VersionSpec(1, "text", "m", {}),), source="imported.yaml", single=True
            )
        ]
    ),
}


@pytest.mark.parametrize("write", list(FAILING_WRITES))
def test_a_write_that_fails_after_its_insert_leaves_nothing(
    lite: PromptStore, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    prepare(lite)
    before = snapshot(lite)
    monkeypatch.setattr(UnitOfWork, "audit", _boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        FAILING_WRITES[write](lite)
    assert snapshot(lite) == before


def test_a_database_failure_mid_write_is_a_store_error_and_leaves_nothing(
    st: PromptStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    used_uid = st.history()[0].uid
    real_audit = UnitOfWork.audit

    def audit_twice(self: UnitOfWork, *args: Any, **kwargs: Any) -> None:
        real_audit(self, *args, **kwargs)
        self.session.add(
            AuditEventRow(
                uid=used_uid,  # a duplicate: the database refuses it at commit
                at=datetime.now(UTC),
                actor="x",
                action="x",
                reason="x",
                details={},
            )
        )

    before = snapshot(st)
    monkeypatch.setattr(UnitOfWork, "audit", audit_twice)
    with pytest.raises(StoreError):
        st.save("greeting", "Hello v2", reason="r")
    assert snapshot(st) == before
    monkeypatch.undo()
    assert st.save("greeting", "Hello v2", reason="r").number == 2


def test_reimporting_through_the_store_api_changes_nothing_without_raising(
    store: PromptStore, samples: Path
) -> None:
    before = snapshot(store)
    result = store.import_documents(yamlio.read_files([samples]))
    assert not result.changed
    assert snapshot(store) == before


# --- the database -----------------------------------------------------------------------


def test_sqlite_pragmas(lite: PromptStore) -> None:
    with lite.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_foreign_keys_are_enforced(lite: PromptStore) -> None:
    with pytest.raises(IntegrityError), lite.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO versions (uid, feature_id, number, system_prompt, model, "
                "parameters, author, reason, created_at, parent_number, content_hash) "
                "VALUES ('u', 999, 1, 'x', 'm', '{}', 'eve', 'r', '2026-01-01', NULL, 'h')"
            )
        )


def test_a_missing_store_is_not_created_when_create_is_false(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "store.db"
    with pytest.raises(StoreError, match="no store at") as caught:
        PromptStore(path, user="alice", create=False)
    assert "init" in str(caught.value)
    assert not path.exists()
    assert not path.parent.exists()


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    content = path.read_bytes()
    with pytest.raises(StoreError):
        PromptStore(path, user="alice", create=False)
    assert path.read_bytes() == content


def _set_schema(store_url: str, revision: str) -> None:
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE promptdeck_schema SET version_num = :v"), {"v": revision}
            )
    finally:
        engine.dispose()


def test_a_store_from_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with PromptStore(path, user="alice") as store:
        store.create_feature("f", "text", model="m", reason="r")
    _set_schema(f"sqlite:///{path}", "9999_from_the_future")
    files = sorted(p.name for p in tmp_path.iterdir())
    content = path.read_bytes()
    with pytest.raises(StoreError, match="newer") as caught:
        PromptStore(path, user="alice", create=False)
    assert "9999_from_the_future" in str(caught.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == files


@pytest.mark.postgres
def test_a_postgresql_store_from_a_newer_schema_is_refused(pg_store_url: str) -> None:
    pg_url = pg_store_url
    with PromptStore(pg_url, user="alice") as store:
        store.create_feature("f", "text", model="m", reason="r")
    _set_schema(pg_url, "9999_from_the_future")
    with pytest.raises(StoreError, match="newer"):
        PromptStore(pg_url, user="alice")
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT version_num FROM promptdeck_schema")) == (
                "9999_from_the_future"
            )
            assert connection.scalar(sa.text("SELECT count(*) FROM versions")) == 1
    finally:
        engine.dispose()


def test_the_current_schema_is_the_head(lite: PromptStore) -> None:
    assert lite.schema_revision() == SCHEMA_HEAD


def short_busy_timeout(store: PromptStore, milliseconds: int = 200) -> None:
    """Make the store give up on a lock quickly (the real timeout is 30 s)."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {milliseconds}")

    sa.event.listen(store.engine, "connect", on_connect)
    store.engine.dispose()


def test_a_locked_store_is_a_clear_store_error_and_writes_nothing(
    lite: PromptStore, tmp_path: Path
) -> None:
    short_busy_timeout(lite)
    before = snapshot(lite)
    locker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match="locked") as caught:
            lite.save("greeting", "Hello v2", reason="r")
        assert "try again" in str(caught.value)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert snapshot(lite) == before
    assert lite.save("greeting", "Hello v2", reason="r").number == 2


def test_a_short_lock_is_waited_for_not_reported(lite: PromptStore, tmp_path: Path) -> None:
    locked = threading.Event()

    def hold_the_lock() -> None:
        locker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(0.5)
        locker.execute("COMMIT")
        locker.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert locked.wait(10)
    started = time.monotonic()
    try:
        assert lite.save("greeting", "Hello v2", reason="r").number == 2
    finally:
        holder.join()
    assert time.monotonic() - started >= 0.3


def test_a_database_of_someone_else_is_refused_and_left_untouched(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a promptdeck store"):
        PromptStore(path, user="alice", create=False)
    assert path.read_bytes() == before
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_move_on_stale_information_is_refused(store: PromptStore) -> None:
    from promptdeck.errors import DeploymentMovedError

    # What the user was shown: translator v2 active, rollback would return to v1.
    other = PromptStore(store.url, user="bob")
    other.activate("translator", 3, reason="bob was faster")
    revision = store.revision()
    with pytest.raises(DeploymentMovedError, match="now v3"):
        store.activate("translator", 1, reason="from v2", expect_active=2)
    with pytest.raises(DeploymentMovedError, match="now v2"):
        store.rollback("translator", reason="back to v1", expect_target=1)
    assert store.revision() == revision
    assert store.deployment("translator").active == 3
    other.close()
