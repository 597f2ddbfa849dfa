"""The command line, through click's runner and as a real subprocess.

Exit codes: 0 success; 1 refused or failed, with ONE line on stderr starting ``error:`` and no
traceback; 2 usage.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy import event

import promptdeck.store as store_module
from promptdeck.cli import main
from promptdeck.store import PromptStore, identity

PROMPTDECK = Path(sys.executable).with_name("promptdeck")

SINGLE = """\
feature: customer-support
version: 14
model: claude-sonnet-4-20250514
system_prompt: |
  You are a professional customer support agent for Acme Corp.
  ...
parameters:
  max_tokens: 1024
  temperature: 0.3
"""

# Text that a prompt may hold and the CLI must keep byte for byte.
AWKWARD = (
    "  leading spaces\r\n\ttab, trailing spaces   \r\n中文 🎉 [bold]not markup[/bold] "
    "\x1b[31mANSI red\x1b[0m {{customer_name}}\n\n"
)

JSON_KEYS = {
    "features": {"feature", "active", "latest", "versions", "canary"},
    "versions": {
        "version",
        "author",
        "reason",
        "created_at",
        "active",
        "canary",
        "model",
        "parent",
        "state",
    },
    "show": {
        "feature",
        "version",
        "model",
        "parameters",
        "system_prompt",
        "author",
        "reason",
        "created_at",
        "parent",
        "id",
        "variables",
    },
    "history": {
        "at",
        "actor",
        "action",
        "feature",
        "environment",
        "from",
        "to",
        "reason",
        "details",
    },
}


def cli(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    # Only the note that a command which adds content created the store it names.
    assert all(
        line.startswith("note: created a new store at ") for line in result.stderr.splitlines()
    )
    return result


def refused(result: Result, *fragments: str) -> str:
    """Exit 1, exactly one line on stderr starting 'error:', no traceback; returns the line."""
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert result.exc_info is not None and result.exc_info[0] is SystemExit, result.exc_info
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def usage(result: Result, *fragments: str) -> None:
    """Exit 2 (a missing argument, an unknown option or command), in one line too, naming
    the --help to read."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "--help`)" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


@pytest.fixture
def db(store_path: Path) -> list[str]:
    """Global options for the sample store, as alice."""
    return ["--db", str(store_path), "--user", "alice"]


def iso(value: str) -> datetime:
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None
    return parsed


# --- init, location, identity -------------------------------------------------------------


def test_init_creates_the_store_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.db"
    result = ok(cli("--db", str(path), "init"))
    assert "store ready" in result.stdout
    assert str(path) in result.stdout
    assert path.exists()
    ok(cli("--db", str(path), "init"))
    assert as_json(cli("--db", str(path), "features", "--json")) == []


def test_store_location_option_then_env_then_config_then_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = Path(platformdirs.user_data_dir("promptdeck")) / "promptdeck.db"
    assert str(default).startswith(os.environ["XDG_DATA_HOME"])
    ok(cli("init"))
    assert default.exists()
    configured = tmp_path / "configured.db"
    Path(os.environ["PROMPTDECK_CONFIG"]).write_text(f'db = "{configured}"\n', encoding="utf-8")
    ok(cli("init"))
    assert configured.exists()
    from_env = tmp_path / "env.db"
    ok(cli("init", env={"PROMPTDECK_DB": str(from_env)}))
    assert from_env.exists()
    option = tmp_path / "option.db"
    ok(cli("--db", str(option), "init", env={"PROMPTDECK_DB": str(tmp_path / "unused.db")}))
    assert option.exists()
    assert not (tmp_path / "unused.db").exists()
    url = f"sqlite:///{tmp_path / 'url.db'}"
    ok(cli("--db", url, "init"))
    assert (tmp_path / "url.db").exists()


def test_user_option_then_env_then_login_name(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity, "os_login", lambda: "login-name")
    prompt = tmp_path / "p.txt"
    base = ["--db", str(store_path)]
    for n, (extra, env, expected) in enumerate(
        [
            ([], None, "login-name"),
            ([], {"PROMPTDECK_USER": "env-user"}, "env-user"),
            (["--user", "option-user"], {"PROMPTDECK_USER": "env-user"}, "option-user"),
        ]
    ):
        prompt.write_text(f"text {n}", encoding="utf-8")
        ok(cli(*base, *extra, "save", "translator", "--file", str(prompt), "-m", "r", env=env))
        shown = as_json(cli(*base, "show", "translator", "latest", "--json"))
        assert shown["author"] == expected
        assert as_json(cli(*base, "history", "translator", "--json"))[0]["actor"] == expected


def test_global_options_go_before_the_command(db: list[str]) -> None:
    usage(cli("features", "--db", db[1]), "No such option")


@pytest.mark.postgres
def test_a_store_at_a_postgresql_url(pg_url: str, samples: Path) -> None:
    # On a PostgreSQL store made by `init`, the user is the database login.
    options = ["--db", pg_url]
    ok(cli(*options, "init"))
    ok(cli(*options, "import", str(samples)))
    rows = as_json(cli(*options, "features", "--json"))
    assert "customer-support" in {row["feature"] for row in rows}
    assert "promptdeck-test-password" not in ok(cli(*options, "init")).stdout


# --- import and export ----------------------------------------------------------------------


def test_import_files_and_directories_then_reimport_changes_nothing(
    tmp_path: Path, samples: Path
) -> None:
    options = ["--db", str(tmp_path / "s.db"), "--user", "alice"]
    single = tmp_path / "cs.yaml"
    single.write_text(SINGLE.replace("customer-support", "support-bot"), encoding="utf-8")
    result = ok(cli(*options, "import", str(samples), str(single)))
    assert "imported" in result.stdout
    features = {row["feature"]: row for row in as_json(cli(*options, "features", "--json"))}
    assert features["support-bot"]["latest"] == 14
    assert features["support-bot"]["active"] == 14
    assert len(features) >= 7
    with PromptStore(tmp_path / "s.db", user="x", create=False) as store:
        revision, events = store.revision(), len(store.history())
    result = ok(cli(*options, "import", str(samples), str(single)))
    assert "nothing to import" in result.stdout
    with PromptStore(tmp_path / "s.db", user="x", create=False) as store:
        assert (store.revision(), len(store.history())) == (revision, events)


def test_a_bad_file_imports_nothing(tmp_path: Path, samples: Path) -> None:
    options = ["--db", str(tmp_path / "s.db")]
    ok(cli(*options, "init"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(SINGLE.replace("version: 14", "version: fourteen"), encoding="utf-8")
    line = refused(cli(*options, "import", str(samples), str(bad)), str(bad), ":2:", "version")
    assert "whole number" in line
    assert as_json(cli(*options, "features", "--json")) == []


def test_export_then_import_reproduces_the_store(db: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ok(cli(*db, "export", str(out)))
    features = [row["feature"] for row in as_json(cli(*db, "features", "--json"))]
    assert f"exported {len(features)} feature(s)" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{f}.yaml" for f in features)
    copy = ["--db", str(tmp_path / "copy.db"), "--user", "bob"]
    ok(cli(*copy, "import", str(out)))
    assert as_json(cli(*copy, "features", "--json")) == as_json(cli(*db, "features", "--json"))
    for feature in features:
        versions = as_json(cli(*db, "versions", feature, "--json"))
        assert as_json(cli(*copy, "versions", feature, "--json")) == versions
        for row in versions:
            number = str(row["version"])
            assert as_json(cli(*copy, "show", feature, number, "--json")) == as_json(
                cli(*db, "show", feature, number, "--json")
            )


def test_export_only_the_features_named(db: list[str], tmp_path: Path) -> None:
    out = tmp_path / "some"
    ok(cli(*db, "export", str(out), "translator", "summarizer"))
    assert sorted(p.name for p in out.iterdir()) == ["summarizer.yaml", "translator.yaml"]
    refused(cli(*db, "export", str(tmp_path / "none"), "nope"), "nope")


# --- listing --------------------------------------------------------------------------------


def test_features_json_shape(db: list[str], store_path: Path) -> None:
    rows = as_json(cli(*db, "features", "--json"))
    assert all(set(row) == JSON_KEYS["features"] for row in rows)
    assert [row["feature"] for row in rows] == sorted(row["feature"] for row in rows)
    support = next(row for row in rows if row["feature"] == "customer-support")
    with PromptStore(store_path, user="x", create=False) as store:
        summary = store.feature("customer-support")
    assert (support["active"], support["latest"], support["versions"]) == (
        summary.active,
        summary.latest,
        summary.versions,
    )
    assert support["canary"] == {"version": summary.canary, "percent": summary.canary_percent}
    assert next(r for r in rows if r["feature"] == "translator")["canary"] is None
    table = ok(cli(*db, "features")).stdout
    assert table.splitlines()[0].split() == ["FEATURE", "ACTIVE", "LATEST", "VERSIONS", "CANARY"]


def test_features_per_environment(db: list[str]) -> None:
    ok(cli(*db, "activate", "translator", "1", "-m", "staging", "--env", "staging"))
    rows = {r["feature"]: r for r in as_json(cli(*db, "features", "--env", "staging", "--json"))}
    assert rows["translator"]["active"] == 1
    assert rows["summarizer"]["active"] is None


def test_versions_json_shape(db: list[str]) -> None:
    rows = as_json(cli(*db, "versions", "customer-support", "--json"))
    assert all(set(row) == JSON_KEYS["versions"] for row in rows)
    numbers = [row["version"] for row in rows]
    assert numbers == sorted(numbers, reverse=True)
    assert [row["version"] for row in rows if row["active"]] == [5]
    assert [row["version"] for row in rows if row["canary"]] == [6]
    for row in rows:
        iso(row["created_at"])
        assert row["author"] and row["reason"] and row["model"]
    assert rows[-1]["parent"] is None
    staging = as_json(cli(*db, "versions", "customer-support", "--env", "staging", "--json"))
    assert not any(row["active"] for row in staging)


def test_show_json_shape_and_version_refs(db: list[str]) -> None:
    active = as_json(cli(*db, "show", "customer-support", "--json"))
    assert set(active) == JSON_KEYS["show"]
    assert active["version"] == 5
    assert active["feature"] == "customer-support"
    assert isinstance(active["parameters"], dict)
    assert "customer_name" in active["variables"]
    iso(active["created_at"])
    assert as_json(cli(*db, "show", "customer-support", "active", "--json")) == active
    assert as_json(cli(*db, "show", "customer-support", "latest", "--json"))["version"] == 6
    three = as_json(cli(*db, "show", "customer-support", "3", "--json"))
    assert (three["version"], three["parent"]) == (3, 2)
    assert as_json(cli(*db, "show", "customer-support", "v3", "--json")) == three


def test_show_as_text(db: list[str]) -> None:
    text = ok(cli(*db, "show", "customer-support", "2")).stdout
    first = text.splitlines()[0]
    assert first.startswith("customer-support v2")
    assert "edited from v1" in text
    assert "{{customer_name}}" in text


def test_history_json_shape(db: list[str]) -> None:
    ok(cli(*db, "activate", "translator", "3", "-m", "ship v3"))
    rows = as_json(cli(*db, "history", "translator", "--json"))
    assert all(set(row) == JSON_KEYS["history"] for row in rows)
    first = rows[0]
    assert (first["actor"], first["action"], first["from"], first["to"], first["reason"]) == (
        "alice",
        "activate",
        2,
        3,
        "ship v3",
    )
    assert first["environment"] == "production"
    times = [iso(row["at"]) for row in rows]
    assert times == sorted(times, reverse=True)
    assert len(as_json(cli(*db, "history", "--limit", "2", "--json"))) == 2


# --- save -----------------------------------------------------------------------------------


def test_save_from_a_file_keeps_the_text_exactly(db: list[str], tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_bytes(AWKWARD.encode("utf-8"))
    result = ok(cli(*db, "save", "translator", "--file", str(prompt), "--reason", "awkward"))
    assert result.stdout.strip() == "saved translator v4 (from v3)"
    shown = as_json(cli(*db, "show", "translator", "4", "--json"))
    assert shown["system_prompt"] == AWKWARD
    assert (shown["author"], shown["reason"], shown["parent"]) == ("alice", "awkward", 3)
    assert shown["variables"] == ["customer_name"]


def test_save_from_stdin(db: list[str]) -> None:
    ok(cli(*db, "save", "translator", "-f", "-", "-m", "from stdin", input=AWKWARD.encode()))
    assert as_json(cli(*db, "show", "translator", "latest", "--json"))["system_prompt"] == AWKWARD


def test_save_params_take_json_values_or_text_and_keep_the_rest(db: list[str]) -> None:
    before = as_json(cli(*db, "show", "summarizer", "latest", "--json"))["parameters"]
    ok(
        cli(
            *db,
            "save",
            "summarizer",
            "-f",
            "-",
            "-m",
            "params",
            "--param",
            "temperature=0.7",
            "--param",
            "max_tokens=2048",
            "--param",
            'stop=["###", "END"]',
            "--param",
            "style=plain text, no quotes",
            "--param",
            "json_mode=true",
            "--param",
            "seed=null",
            "--param",
            'nested={"a": {"b": 1}}',
            input="new summarizer text",
        )
    )
    after = as_json(cli(*db, "show", "summarizer", "latest", "--json"))["parameters"]
    expected = {
        **before,
        "temperature": 0.7,
        "max_tokens": 2048,
        "stop": ["###", "END"],
        "style": "plain text, no quotes",
        "json_mode": True,
        "seed": None,
        "nested": {"a": {"b": 1}},
    }
    assert after == expected
    assert isinstance(after["max_tokens"], int)


def test_save_model_option(db: list[str]) -> None:
    ok(cli(*db, "save", "translator", "-f", "-", "-m", "model", "--model", "m-2", input="t"))
    assert as_json(cli(*db, "show", "translator", "latest", "--json"))["model"] == "m-2"


@pytest.mark.parametrize("param", ["novalue", "=5", " =5"])
def test_a_bad_param_is_refused_in_one_line(db: list[str], param: str) -> None:
    refused(
        cli(*db, "save", "translator", "-f", "-", "-m", "r", "--param", param, input="x"), param
    )
    assert as_json(cli(*db, "show", "translator", "latest", "--json"))["version"] == 3


def test_a_stale_base_is_refused_and_force_saves_on_top(db: list[str]) -> None:
    ok(cli("--db", db[1], "--user", "bob", "save", "translator", "-f", "-", "-m", "bob", input="b"))
    line = refused(
        cli(*db, "save", "translator", "-f", "-", "-m", "alice", "--base", "3", input="a"),
        "v4",
        "bob",
    )
    assert "--force" in line
    assert as_json(cli(*db, "show", "translator", "latest", "--json"))["version"] == 4
    result = cli(
        *db, "save", "translator", "-f", "-", "-m", "alice", "--base", "3", "--force", input="a"
    )
    assert result.exit_code == 0, result.stderr
    assert "v5 (from v3)" in result.stdout
    assert "does not contain v4's changes" in result.stderr  # said, as the app does
    latest = as_json(cli(*db, "show", "translator", "latest", "--json"))
    assert (latest["version"], latest["parent"], latest["system_prompt"]) == (5, 3, "a")


def test_save_refusals(db: list[str], tmp_path: Path) -> None:
    current = as_json(cli(*db, "show", "translator", "latest", "--json"))["system_prompt"]
    refused(cli(*db, "save", "translator", "-f", "-", "-m", "", input="x"), "reason")
    refused(cli(*db, "save", "translator", "-f", "-", "-m", "  \t", input="x"), "reason")
    refused(
        cli(*db, "save", "translator", "-f", "-", "-m", "same", input=current), "nothing changed"
    )
    refused(cli(*db, "save", "nope", "-f", "-", "-m", "r", input="x"), "unknown feature 'nope'")
    refused(cli(*db, "save", "translator", "-f", str(tmp_path / "missing.txt"), "-m", "r"))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Grüße".encode("latin-1"))
    refused(cli(*db, "save", "translator", "-f", str(latin1), "-m", "r"), "not UTF-8")
    usage(cli(*db, "save", "translator", "-f", "-", input="x"), "--reason")
    usage(cli(*db, "save", "translator", "-m", "r", input="x"), "--file")
    assert as_json(cli(*db, "show", "translator", "latest", "--json"))["version"] == 3


def test_new_creates_a_feature(db: list[str]) -> None:
    result = ok(
        cli(*db, "new", "greeter", "-f", "-", "-m", "first", "--model", "m", input="Hello {{name}}")
    )
    assert "created greeter v1" in result.stdout
    shown = as_json(cli(*db, "show", "greeter", "latest", "--json"))
    assert (shown["version"], shown["variables"]) == (1, ["name"])


# --- diff -----------------------------------------------------------------------------------


def test_diff_side_by_side(db: list[str]) -> None:
    result = ok(cli(*db, "diff", "translator", "1", "3", env={"COLUMNS": "120"}))
    lines = result.stdout.splitlines()
    assert lines[0] == "translator: v1 -> v3"
    assert "variables added: formality" in lines
    assert any("│" in line for line in lines)
    assert any("+ Address the reader" in line for line in lines)
    assert all(len(line) <= 120 for line in lines)


def test_diff_unified(db: list[str]) -> None:
    result = ok(cli(*db, "diff", "translator", "1", "3", "--unified"))
    lines = result.stdout.splitlines()
    assert lines[0] == "translator: v1 -> v3"
    assert "--- v1" in lines
    assert "+++ v3" in lines
    assert any(line.startswith("@@ -") for line in lines)
    assert any(line.startswith("+Address the reader") for line in lines)


def test_diff_defaults_active_to_latest(db: list[str]) -> None:
    assert ok(cli(*db, "diff", "customer-support", "-u")).stdout.startswith(
        "customer-support: v5 -> v6"
    )
    assert ok(cli(*db, "diff", "customer-support", "2", "-u")).stdout.startswith(
        "customer-support: v5 -> v2"
    )
    refused(cli(*db, "diff", "customer-support", "1", "99"), "no version 99")


def test_diff_shows_markup_and_escapes_literally(db: list[str]) -> None:
    ok(cli(*db, "save", "translator", "-f", "-", "-m", "odd", input=AWKWARD))
    result = ok(cli(*db, "diff", "translator", "3", "4", env={"COLUMNS": "200"}))
    assert "[bold]not markup[/bold]" in result.stdout
    assert "\x1b" not in result.stdout
    assert "␛[31m" in result.stdout


def test_diff_of_metadata(db: list[str]) -> None:
    ok(cli(*db, "save", "translator", "-f", "-", "-m", "m", "--model", "other", input="t"))
    result = ok(cli(*db, "diff", "translator", "3", "4", "-u"))
    assert "model: " in result.stdout
    assert "-> other" in result.stdout


# --- activate, rollback, canary, promote ---------------------------------------------------


def test_activate_and_rollback(db: list[str]) -> None:
    result = ok(cli(*db, "activate", "translator", "3", "--reason", "ship"))
    assert result.stdout.strip() == "translator: activated v3 in production"
    refused(cli(*db, "activate", "translator", "3", "-m", "again"), "already active")
    result = ok(cli(*db, "rollback", "translator", "-m", "bad"))
    assert result.stdout.strip() == "translator: rolled back to v2 in production"
    ok(cli(*db, "activate", "translator", "1", "-m", "s1", "--env", "staging"))
    ok(cli(*db, "activate", "translator", "3", "-m", "s3", "--env", "staging"))
    ok(cli(*db, "rollback", "translator", "-m", "back", "--env", "staging"))
    assert as_json(cli(*db, "show", "translator", "--env", "staging", "--json"))["version"] == 1
    assert as_json(cli(*db, "show", "translator", "--json"))["version"] == 2
    refused(cli(*db, "rollback", "translator", "-m", "empty", "--env", "staging"), "nothing to")
    refused(cli(*db, "activate", "translator", "3", "-m", ""), "reason")
    refused(cli(*db, "activate", "translator", "three", "-m", "r"), "three")


def test_canary_and_promote(db: list[str]) -> None:
    result = ok(cli(*db, "canary", "translator", "3", "--percent", "25", "-m", "try"))
    assert "v3 serves 25%" in result.stdout
    rows = {r["feature"]: r for r in as_json(cli(*db, "features", "--json"))}
    assert rows["translator"]["canary"] == {"version": 3, "percent": 25}
    ok(cli(*db, "canary", "translator", "--off", "-m", "stop"))
    refused(cli(*db, "canary", "translator", "--off", "-m", "stop again"), "no canary")
    ok(cli(*db, "canary", "translator", "3", "--percent", "50", "-m", "again"))
    result = ok(cli(*db, "promote", "translator", "-m", "good"))
    assert "v3" in result.stdout
    assert as_json(cli(*db, "show", "translator", "--json"))["version"] == 3
    refused(cli(*db, "promote", "translator", "-m", "nothing"), "no canary")
    usage(cli(*db, "canary", "translator", "2", "-m", "no percent"))
    refused(cli(*db, "canary", "translator", "2", "--percent", "101", "-m", "r"), "101")
    usage(cli(*db, "canary", "translator", "2", "--percent", "5", "--off", "-m", "r"))


# --- roles ----------------------------------------------------------------------------------


def test_roles(db: list[str]) -> None:
    path = db[1]
    assert "no roles set" in ok(cli(*db, "role")).stdout
    refused(cli(*db, "role", "bob", "editor"), "no admin")
    assert ok(cli(*db, "role", "alice", "admin")).stdout.strip() == "alice is now an admin"
    ok(cli(*db, "role", "ed", "editor"))
    assert ok(cli(*db, "role")).stdout.splitlines() == ["alice\tadmin", "ed\teditor"]
    assert ok(cli(*db, "role", "stranger")).stdout.strip() == "stranger\tviewer"
    viewer = ["--db", path, "--user", "stranger"]
    refused(cli(*viewer, "save", "translator", "-f", "-", "-m", "r", input="x"), "viewer")
    editor = ["--db", path, "--user", "ed"]
    ok(cli(*editor, "save", "translator", "-f", "-", "-m", "r", input="x"))
    refused(cli(*editor, "activate", "translator", "4", "-m", "r"), "admin")
    refused(cli(*editor, "role", "ed", "admin"), "admin")
    refused(cli(*db, "role", "alice", "viewer"), "no admin")
    refused(cli(*db, "role", "bob", "superuser"), "superuser")


# --- errors ---------------------------------------------------------------------------------


def make_newer(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE promptdeck_schema SET version_num = '9999'")
    connection.close()


def test_errors_are_one_line_without_traceback(
    db: list[str], store_path: Path, tmp_path: Path
) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("feature: x\nversion: 1: 2\nmodel: m\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9")
    cases: list[tuple[Sequence[str], tuple[str, ...]]] = [
        (["show", "nope"], ("unknown feature 'nope'",)),
        (["show", "translator", "99"], ("no version 99",)),
        (["versions", "nope"], ("nope",)),
        (["history", "nope"], ("nope",)),
        (["activate", "translator", "1", "--reason", ""], ("reason",)),
        (["rollback", "translator", "--reason", " "], ("reason",)),
        (["import", str(bad_yaml)], (str(bad_yaml), "bad.yaml:2")),
        (["import", str(tmp_path / "nothing-here")], ("no such file",)),
        (["save", "translator", "--file", str(latin1), "-m", "r"], ("not UTF-8",)),
    ]
    for args, fragments in cases:
        refused(cli(*db, *args), *fragments)
    missing = tmp_path / "missing.db"
    refused(cli("--db", str(missing), "features"), "no store at", "init")
    assert not missing.exists()
    make_newer(store_path)
    refused(cli(*db, "features"), "newer")


def test_a_locked_store_is_one_line(
    db: list[str], store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store_module.create_store_engine

    def quick_to_give_up(url: str) -> sa.Engine:
        engine = real(url)
        event.listen(engine, "connect", lambda conn, _r: conn.execute("PRAGMA busy_timeout = 100"))
        return engine

    monkeypatch.setattr(store_module, "create_store_engine", quick_to_give_up)
    locker = sqlite3.connect(store_path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        refused(cli(*db, "activate", "translator", "3", "-m", "r"), "locked", "try again")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    ok(cli(*db, "activate", "translator", "3", "-m", "r"))


def test_a_date_parameter_in_yaml_is_one_line(db: list[str], tmp_path: Path) -> None:
    path = tmp_path / "dated.yaml"
    path.write_text(SINGLE + "  stop: 2024-01-01\n", encoding="utf-8")
    refused(cli(*db, "import", str(path)), str(path))


def test_usage_errors_exit_2_and_bad_values_1_each_in_one_line(db: list[str]) -> None:
    usage(cli(*db, "no-such-command"), "No such command", "`promptdeck --help`")
    usage(cli(*db, "show"), "Missing argument", "`promptdeck show --help`")
    usage(cli(*db, "activate", "translator", "1"), "--reason")
    refused(cli(*db, "show", "translator", "three"), "three", "`promptdeck show --help`")


# --- as a real subprocess ------------------------------------------------------------------


def run(
    *args: str, input: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(PROMPTDECK), *args],
        input=input,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def check_refused(done: subprocess.CompletedProcess[bytes], *fragments: str) -> None:
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_the_console_script_end_to_end(tmp_path: Path, samples: Path) -> None:
    assert PROMPTDECK.exists(), "the promptdeck console script is installed"
    env = {"PROMPTDECK_DB": str(tmp_path / "e2e.db"), "PROMPTDECK_USER": "carol"}
    done = run("import", str(samples), env=env)
    assert done.returncode == 0 and b"imported" in done.stdout, done.stderr
    features = json.loads(run("features", "--json", env=env).stdout)
    assert {row["feature"] for row in features} >= {"customer-support", "translator"}
    done = run(
        "save", "translator", "--file", "-", "--reason", "stdin", input=AWKWARD.encode(), env=env
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(run("show", "translator", "latest", "--json", env=env).stdout)
    assert (shown["system_prompt"], shown["author"], shown["version"]) == (AWKWARD, "carol", 4)
    assert run("activate", "translator", "4", "-m", "ship", env=env).returncode == 0
    check_refused(run("activate", "translator", "4", "-m", "again", env=env), "already active")
    history = json.loads(run("history", "translator", "--json", env=env).stdout)
    assert [(e["action"], e["actor"], e["from"], e["to"]) for e in history[:2]] == [
        ("activate", "carol", 2, 4),
        ("create", "carol", 3, 4),
    ]
    assert set(history[0]) == JSON_KEYS["history"]


def test_the_console_script_reports_errors_in_one_line(store_path: Path, tmp_path: Path) -> None:
    options = ["--db", str(store_path), "--user", "alice"]
    check_refused(run(*options, "show", "nope"), "unknown feature 'nope'")
    check_refused(run(*options, "activate", "translator", "x", "-m", "r"), "'x'")
    done = run(*options, "activate", "translator")  # usage: one line too, exit 2
    assert done.returncode == 2 and done.stderr.decode().count("\n") == 1
    assert done.stderr.startswith(b"error: Missing argument")
    check_refused(run("--db", str(tmp_path / "missing.db"), "features"), "no store at")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9")
    check_refused(run(*options, "save", "translator", "-f", str(latin1), "-m", "r"), "not UTF-8")
    make_newer(store_path)
    content = store_path.read_bytes()
    check_refused(run(*options, "features"), "newer")
    assert store_path.read_bytes() == content


LOCKED_RUNNER = """
import sys
from sqlalchemy import event
import promptdeck.store as store_module
real = store_module.create_store_engine
def quick(url):
    engine = real(url)
    event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout = 100"))
    return engine
store_module.create_store_engine = quick
from promptdeck.cli import main
main(sys.argv[1:], prog_name="promptdeck")
"""


def test_a_locked_store_in_a_subprocess_is_one_line(store_path: Path) -> None:
    locker = sqlite3.connect(store_path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                LOCKED_RUNNER,
                "--db",
                str(store_path),
                "activate",
                "translator",
                "3",
                "-m",
                "r",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    check_refused(done, "locked")


def test_show_piped_prints_the_prompt_text_exactly(store_path: Path) -> None:
    options = ["--db", str(store_path), "--user", "alice"]
    ok(cli(*options, "save", "translator", "-f", "-", "-m", "r", input=AWKWARD.encode()))
    done = run(*options, "show", "translator", "latest")
    assert done.returncode == 0
    assert AWKWARD.encode() in done.stdout


# --- global --env before the command -----------------------------------------------------


def test_global_env_before_the_command_is_the_commands_environment(db: list[str]) -> None:
    result = ok(cli(*db, "--env", "staging", "activate", "translator", "1", "-m", "stage it"))
    assert result.stdout.strip() == "translator: activated v1 in staging"
    shown = json.loads(ok(cli(*db, "--env", "staging", "show", "translator", "--json")).stdout)
    assert shown["version"] == 1
    production = json.loads(ok(cli(*db, "show", "translator", "--json")).stdout)
    assert production["version"] == 2  # production did not move
    # The command's own --env wins over the global one.
    result = ok(cli(*db, "--env", "staging", "features", "--env", "production", "--json"))
    assert {f["feature"]: f["active"] for f in json.loads(result.stdout)}["translator"] == 2


def test_metadata_with_escape_sequences_is_shown_not_obeyed(db: list[str]) -> None:
    hostile = "eve\x1b]52;c;aGk=\x07"
    result = cli("--db", db[1], "--user", hostile, "save", "translator", "-f", "-", "-m", "x",
                 input="new text")  # fmt: skip
    assert result.exit_code == 1 and "control character" in result.stderr
    assert "\x1b" not in result.stderr
    # A name stored before the limits existed is still shown, never obeyed.
    ok(cli(*db, "save", "translator", "-f", "-", "-m", "x", input="new text"))
    with sqlite3.connect(db[1]) as connection:
        connection.execute("UPDATE versions SET author = ? WHERE number = 4", (hostile,))
        connection.execute("UPDATE audit_events SET actor = ?", (hostile,))
    for args in (("versions", "translator"), ("history", "translator")):
        result = ok(cli(*db, *args))
        assert "\x1b" not in result.stdout
        assert "eve␛]52" in result.stdout


def test_a_stored_control_character_in_a_name_is_pictured_in_errors_and_roles(
    db: list[str],
) -> None:
    hostile = "m\x1b]0;OWNED\x07\x1b[2J"
    ok(cli(*db, "save", "translator", "-f", "-", "-m", "x", input="new text"))
    with sqlite3.connect(db[1]) as connection:
        connection.execute("UPDATE versions SET author = ? WHERE number = 4", (hostile,))
        connection.execute("INSERT INTO roles (user, role) VALUES (?, 'viewer')", (hostile,))
        connection.execute("INSERT INTO roles (user, role) VALUES ('alice', 'admin')")
    result = cli(*db, "save", "translator", "--base", "3", "-f", "-", "-m", "y",
                 input="other text")  # fmt: skip
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "m␛]0;OWNED␇␛[2J saved v4" in result.stderr
    listing = ok(cli(*db, "role")).stdout
    assert "\x1b" not in listing and "m␛]0;OWNED" in listing
    refused = cli(*db, "role", hostile, "editor")
    assert refused.exit_code == 1 and "control character" in refused.stderr


def test_a_line_ending_change_is_not_called_identical(db: list[str]) -> None:
    text = json.loads(ok(cli(*db, "show", "translator", "3", "--json")).stdout)["system_prompt"]
    crlf = text.replace("\n", "\r\n")
    ok(cli(*db, "save", "translator", "-f", "-", "-m", "windows editor", input=crlf.encode()))
    result = ok(cli(*db, "diff", "translator", "3", "4", env={"COLUMNS": "120"}))
    assert "line endings LF -> CRLF" in result.stdout
    assert "the texts are identical" not in result.stdout
