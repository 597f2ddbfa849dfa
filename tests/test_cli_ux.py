"""The CLI saying what the app says (states, history), carrying an edit onto a newer
version (``save --merge``), and the one rule for creating a store."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from promptdeck.cli import main
from promptdeck.display import audit_move, version_state
from promptdeck.store import PromptStore


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def refused(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def db(store_path: Path) -> list[str]:
    return ["--db", str(store_path), "--user", "alice"]


def states(db: list[str], feature: str) -> dict[str, str]:
    """VERSION -> STATE from the `versions` table."""
    lines = ok(cli(*db, "versions", feature)).stdout.splitlines()
    start = lines[0].index("STATE")
    end = lines[0].index("AUTHOR")
    return {line.split()[0]: line[start:end].strip() for line in lines[1:]}


# --- one word per state, the same as the app ----------------------------------------------


def test_versions_names_the_rollback_target_like_the_app(db: list[str], store: PromptStore) -> None:
    # customer-support: v5 active, v6 the canary at 10%, v1-v3 on the rollback stack.
    assert states(db, "customer-support") == {
        "v6": "canary 10%",
        "v5": "active",
        "v4": "",
        "v3": "rollback",
        "v2": "previous",
        "v1": "previous",
    }
    # After promoting an older canary the rollback target is NEWER than the active
    # version: it is named as the rollback target, not "newer".
    ok(cli(*db, "activate", "customer-support", "6", "-m", "six"))
    ok(cli(*db, "canary", "customer-support", "4", "--percent", "20", "-m", "try four"))
    ok(cli(*db, "promote", "customer-support", "-m", "four is fine"))
    shown = states(db, "customer-support")
    assert shown["v4"] == "active"
    assert shown["v6"] == "rollback"
    deployment = store.deployment("customer-support")
    for version, word in shown.items():
        assert word == version_state(
            int(version[1:]),
            active=deployment.active,
            canary=deployment.canary,
            canary_percent=deployment.canary_percent,
            previous=deployment.previous,
        )
    rows = {
        row["version"]: row["state"]
        for row in _json(cli(*db, "versions", "customer-support", "--json"))
    }
    assert rows[6] == "rollback" and rows[4] == "active"


def _json(result: Result) -> list[dict[str, object]]:
    import json

    data = json.loads(ok(result).stdout)
    assert isinstance(data, list)
    return data


# --- history shows canary shares ------------------------------------------------------------


def test_history_shows_canary_percentages(db: list[str]) -> None:
    ok(cli(*db, "canary", "customer-support", "6", "--percent", "25", "-m", "more"))
    ok(cli(*db, "canary", "customer-support", "--off", "-m", "stop"))
    out = ok(cli(*db, "history", "customer-support", "--limit", "2")).stdout
    lines = out.splitlines()
    assert "FROM → TO" in lines[0]
    assert "v6 → off" in lines[1]
    assert "v6 10% → v6 25%" in lines[2]


def test_history_words_are_shared_with_the_app() -> None:
    from promptdeck.tui.screens import history

    assert audit_move("canary", 6, 6, {"percent": 0, "previous_percent": 10}) == "v6 10% → v6 0%"
    assert audit_move("sync-canary", 6, 6, {"percent": 0, "sync": "pull"}) == "v6 → v6 0%"
    assert audit_move("canary", None, 6, {"percent": 10, "previous_percent": 0}) == "— → v6 10%"
    assert audit_move("create", 5, 7, {"on_top_of": 6}) == "v5 → v7 (on top of v6)"
    assert audit_move("activate", None, 5, {"canary": 6, "percent": 10}) == (
        "— → v5 (canary v6 10%)"
    )
    assert audit_move("rollback", 5, 3, {}) == "v5 → v3"
    assert history.audit_move is audit_move  # the app's history screen uses the same words


# --- save --base N onto a newer latest: --merge, --seen-latest --------------------------------

BASE = "Line one.\nLine two.\nLine three.\nLine four.\nLine five.\n"


@pytest.fixture
def bot(tmp_path: Path) -> list[str]:
    """A feature `bot`: v1 by alice, then v2 by bob changing the last line and a parameter."""
    path = tmp_path / "bot.db"
    with PromptStore(path, user="alice") as store:
        store.create_feature(
            "bot", BASE, model="m-1", reason="first", parameters={"temperature": 0.3}
        )
    with PromptStore(path, user="bob") as store:
        store.save(
            "bot",
            BASE.replace("Line five.", "Line five, by Bob."),
            reason="bob's ending",
            parameters={"temperature": 0.3, "max_tokens": 800},
        )
    return ["--db", str(path), "--user", "alice"]


def show(db: list[str], version: str = "latest") -> dict[str, object]:
    import json

    data = json.loads(ok(cli(*db, "show", "bot", version, "--json")).stdout)
    assert isinstance(data, dict)
    return data


def test_a_stale_base_is_refused_in_the_apps_words(bot: list[str], tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text(BASE.replace("Line one.", "Line one, by Alice."))
    line = refused(
        cli(*bot, "save", "bot", "--file", str(mine), "--base", "1", "-m", "mine"),
        "bob saved v2 of bot after v1, which your edit started from",
        "--merge carries your edit onto v2 (both changes kept)",
        "--force saves v3 from v1 without v2's changes",
    )
    assert "version 2" not in line  # one way of writing versions: v2
    assert show(bot)["version"] == 2


def test_merge_carries_the_edit_onto_the_newer_version(bot: list[str], tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text(BASE.replace("Line one.", "Line one, by Alice."))
    result = ok(
        cli(*bot, "save", "bot", "--file", str(mine), "--base", "v1", "--merge", "-m", "mine",
            "--param", "temperature=0.2")
    )  # fmt: skip
    assert result.stdout.startswith("saved bot v3 (from v2): your edit of v1 carried onto v2")
    saved = show(bot)
    assert saved["system_prompt"] == (
        BASE.replace("Line one.", "Line one, by Alice.").replace("Line five.", "Line five, by Bob.")
    )
    assert (saved["version"], saved["parent"], saved["model"]) == (3, 2, "m-1")
    assert saved["parameters"] == {"temperature": 0.2, "max_tokens": 800}  # both kept


def test_merge_where_both_changed_the_same_lines_refuses_and_writes_them_marked(
    bot: list[str], tmp_path: Path
) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text(BASE.replace("Line five.", "Line five, by Alice."))
    line = refused(
        cli(*bot, "save", "bot", "--file", str(mine), "--base", "1", "--merge", "-m", "mine"),
        "not saved: you and bob (v2) both changed the same lines in 1 place",
        f"in {mine}.merged",
        f"promptdeck save bot --file {mine}.merged --base 2",
    )
    assert "--param 'max_tokens" not in line  # theirs: nothing to repeat
    assert show(bot)["version"] == 2  # nothing saved
    marked = Path(f"{mine}.merged").read_text()
    assert marked == (
        "Line one.\nLine two.\nLine three.\nLine four.\n"
        "<<<<<<< yours (your edit of v1)\nLine five, by Alice.\n=======\n"
        "Line five, by Bob.\n>>>>>>> v2 by bob (theirs)\n"
    )
    # Saving the file with the marks still in is refused; resolved, it saves onto v2.
    refused(
        cli(*bot, "save", "bot", "--file", f"{mine}.merged", "--base", "2", "-m", "r"),
        "still has 1 place(s) marked",
    )
    Path(f"{mine}.merged").write_text(BASE.replace("Line five.", "Line five, by both."))
    ok(cli(*bot, "save", "bot", "--file", f"{mine}.merged", "--base", "2", "-m", "resolved"))
    assert (show(bot)["version"], show(bot)["parent"]) == (3, 2)


def test_merge_from_stdin_prints_the_marked_text(bot: list[str], tmp_path: Path) -> None:
    edited = BASE.replace("Line five.", "Line five, by Alice.")
    result = cli(*bot, "save", "bot", "-f", "-", "--base", "1", "--merge", "-m", "x", input=edited)
    refused(result, "on stdout", "--file FILE --base 2")
    assert "<<<<<<< yours (your edit of v1)\nLine five, by Alice.\n=======\n" in result.stdout
    out = tmp_path / "out.txt"
    result = cli(*bot, "save", "bot", "-f", "-", "--base", "1", "--merge", "--merged-out",
                 str(out), "-m", "x", input=edited)  # fmt: skip
    refused(result, f"in {out}")
    assert ">>>>>>> v2 by bob (theirs)" in out.read_text()


def test_merge_with_nothing_newer_is_a_plain_save(bot: list[str]) -> None:
    result = ok(cli(*bot, "save", "bot", "-f", "-", "--base", "2", "--merge", "-m", "x", input="y"))
    assert result.stdout.strip() == "saved bot v3 (from v2)"


def test_merge_options_that_do_not_go_together(bot: list[str]) -> None:
    for extra in (["--merge", "--force"], ["--merged-out", "x.txt"]):
        result = cli(*bot, "save", "bot", "-f", "-", "--base", "1", "-m", "x", *extra, input="y")
        assert result.exit_code == 2, result.stderr


def test_seen_latest_only_later_versions_conflict(bot: list[str]) -> None:
    # The user began editing v1 while v2 existed (and had seen it): no conflict, but the
    # save says what it leaves out, as the app's save dialog does.
    result = cli(*bot, "save", "bot", "-f", "-", "--base", "1", "--seen-latest", "v2", "-m", "x",
                 input="Mine.\n")  # fmt: skip
    assert ok(result).stdout.strip() == "saved bot v3 (from v1)"
    assert "does not contain v2's changes" in result.stderr
    assert "--base 1 --merge" in result.stderr
    # A version saved after v2 (here v3) does stop it.
    refused(
        cli(
            *bot,
            "save",
            "bot",
            "-f",
            "-",
            "--base",
            "1",
            "--seen-latest",
            "2",
            "-m",
            "x",
            input="Again.\n",
        ),
        "alice saved v3 of bot after v2, the newest you had seen",
    )


# --- one rule for creating a store -------------------------------------------------------------


def test_commands_that_add_content_create_a_missing_store_and_say_so(
    tmp_path: Path, samples: Path
) -> None:
    for args in (
        ["init"],
        ["import", str(samples)],
        ["new", "greeter", "-f", "-", "--model", "m", "-m", "first"],
    ):
        path = tmp_path / f"{args[0]}" / "store.db"
        result = ok(cli("--db", str(path), *args, input="Hello"))
        assert path.exists()
        if args[0] != "init":  # init says "store ready" on stdout
            assert f"created a new store at {path}" in result.stderr


def test_read_commands_refuse_a_missing_store_and_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    for args in (
        ["features"],
        ["versions", "bot"],
        ["history"],
        ["export", str(tmp_path / "out")],
        ["save", "bot", "-f", "-", "-m", "r"],
        ["activate", "bot", "1", "-m", "r"],
    ):
        refused(cli("--db", str(missing), *args, input="x"), f"no store at {missing}", "init")
        assert not missing.exists()


def test_a_failed_command_leaves_no_store_it_created(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    refused(cli("--db", str(path), "new", "Bad Name!", "-f", "-", "--model", "m", "-m", "r",
                input="x"))  # fmt: skip
    assert not path.exists()
    assert not list(tmp_path.iterdir())  # no -wal or -shm left either


def test_pull_creates_the_missing_local_store(tmp_path: Path, store_path: Path) -> None:
    local = tmp_path / "fresh" / "local.db"
    result = ok(cli("--db", str(local), "sync", "pull", "--remote", str(store_path)))
    assert f"created a new store at {local}" in result.stderr
    with PromptStore(local, create=False) as store:
        assert store.deployment("customer-support").active == 5
    # A remote that is not there: refused, and no local store is left behind.
    other = tmp_path / "other.db"
    refused(
        cli("--db", str(other), "sync", "pull", "--remote", str(tmp_path / "nope.db")),
        "no store at",
    )
    assert not other.exists()


def test_the_app_refuses_a_missing_store_unless_the_user_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import promptdeck.cli.app as app_module
    import promptdeck.tui.app as tui_app

    opened: list[str] = []
    monkeypatch.setattr(tui_app, "run_app", lambda store, **_: opened.append(store.url))
    missing = tmp_path / "missing.db"
    # Not on a terminal: one line with the init hint, nothing created.
    refused(cli("--db", str(missing)), f"no store at {missing}", "init")
    assert not missing.exists() and not opened
    # On a terminal the app asks; "no" creates nothing.
    monkeypatch.setattr(app_module, "interactive", lambda: True)
    result = cli("--db", str(missing), input="n\n")
    assert result.exit_code == 1 and "Create a new, empty one there?" in result.stdout
    assert not missing.exists() and not opened
    result = ok(cli("--db", str(missing), input="y\n"))
    assert missing.exists() and len(opened) == 1
    # An existing store opens without a question.
    ok(cli("--db", str(missing)))
    assert len(opened) == 2
