"""End to end: the real `promptdeck` command in tmux, driven by keys, read by capture-pane."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tui_helpers import SAMPLES

import promptdeck
from promptdeck import yamlio
from promptdeck.store import PromptStore

pytestmark = pytest.mark.tmux

COMMAND = Path(sys.executable).with_name("promptdeck")
NASTY = "Say [bold]hi[/] [/INST]\n\x1b[31mRED\x1b[0m \x1b]0;pwned\x07 漢字 🎉\n"


def skip_or_fail(reason: str) -> None:
    """CI sets PROMPTDECK_REQUIRE_TMUX=1: there a missing tmux is a failure, not a skip."""
    if os.environ.get("PROMPTDECK_REQUIRE_TMUX") == "1":
        pytest.fail(f"{reason} (PROMPTDECK_REQUIRE_TMUX=1)")
    pytest.skip(reason)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


class Terminal:
    def __init__(self, session: str) -> None:
        self.session = session

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout}s:\n{screen}")
            time.sleep(0.1)

    def until_keys_arrive(self, key: str, *, leaves: str, timeout: float = 30.0) -> str:
        """Press ``key`` until ``leaves`` is off the screen. Keys sent while the app
        starts (its start-up exchange with the terminal) can be dropped; a fixed sleep
        was not enough on a loaded machine. Presses are two seconds apart, so a key
        that was only late is seen before the next is sent."""
        deadline = time.monotonic() + timeout
        while True:
            self.keys(key)
            settle = time.monotonic() + 2.0
            while time.monotonic() < settle:
                screen = self.screen()
                if leaves not in screen:
                    return screen
                time.sleep(0.1)
            if time.monotonic() > deadline:
                raise AssertionError(f"{key} never reached the app:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        for key in keys:
            tmux("send-keys", "-t", self.session, key)
            time.sleep(0.05)

    def type(self, text: str) -> None:
        tmux("send-keys", "-t", self.session, "-l", text)
        time.sleep(0.1)


@contextmanager
def launched(tmp_path: Path, **extra_env: str) -> Iterator[tuple[Terminal, Path]]:
    """The real promptdeck command in a 100x30 tmux pane, on a store of the samples."""
    if shutil.which("tmux") is None:
        skip_or_fail("tmux is not installed")
    if not COMMAND.exists():
        skip_or_fail("the promptdeck command is not installed in this environment")
    db = tmp_path / "demo.db"
    with PromptStore(db, user="alice") as store:
        store.import_documents(yamlio.read_files([SAMPLES]))
        # Prompt text a terminal would obey if it were printed raw; sorts first.
        store.create_feature("aaa-nasty", NASTY, model="m", reason="[b]odd[/b]")
        # The store refuses controls in a reason now; one stored before that is shown.
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE versions SET reason = ? WHERE reason = ?",
                ("\x1b[2J [b]odd[/b]", "[b]odd[/b]"),
            )
    session = f"pd-{uuid.uuid4().hex[:8]}"
    # The session's shell inherits the tmux server's environment, and a server started
    # earlier (by another checkout's tests) carries its own PYTHONPATH and settings: give
    # the command this checkout's code and the test's settings explicitly.
    source = str(Path(promptdeck.__file__).resolve().parent.parent)
    passed = ("PROMPTDECK_TRUST_DECLARED_USER", "XDG_DATA_HOME", "XDG_CACHE_HOME")
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])),
        **{key: os.environ[key] for key in passed if key in os.environ},
        "PROMPTDECK_DB": str(db),
        "PROMPTDECK_USER": "alice",
        "PROMPTDECK_CONFIG": str(tmp_path / "config.toml"),
        "TERM": "xterm-256color",
        **extra_env,
    }
    exports = " ".join(shlex.quote(f"{key}={value}") for key, value in env.items())
    tmux(
        "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
        f"env -u COLORTERM {exports} {shlex.quote(str(COMMAND))}; sleep 5",
    )  # fmt: skip
    # A fresh tmux server may ignore -x/-y (window-size); make the size certain.
    subprocess.run(["tmux", "set-option", "-t", session, "window-size", "manual"], check=False)
    subprocess.run(["tmux", "resize-window", "-t", session, "-x", "100", "-y", "30"], check=False)
    try:
        yield Terminal(session), db
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[Terminal, Path]]:
    with launched(tmp_path) as opened:
        yield opened


def test_edit_save_and_activate_in_a_real_terminal(terminal: tuple[Terminal, Path]) -> None:
    term, db = terminal
    term.wait_for("Versions · aaa-nasty")
    term.until_keys_arrive("Down", leaves="Versions · aaa-nasty")
    term.keys("/")
    term.type("summarizer")
    term.keys("Enter")
    term.wait_for("Versions · summarizer")
    term.keys("e")
    term.wait_for("Editing summarizer")
    term.type("Be brief. ")
    term.keys("C-s")
    term.wait_for("Reason")
    term.keys("Enter")  # an empty reason is refused
    term.wait_for("A reason is required")
    term.type("shorter summaries")
    term.keys("Enter")
    term.wait_for("5 versions")
    term.wait_for("shorter summaries")
    term.keys("a")
    term.wait_for("Activate summarizer v5")
    term.type("ship it")
    term.keys("Enter")
    term.wait_for("Activated v5")
    term.keys("q")
    with PromptStore(db, user="alice", create=False) as store:
        version = store.version("summarizer", "active")
        assert version.number == 5
        assert version.reason == "shorter summaries"
        assert version.system_prompt.startswith("Be brief. ")
        assert store.history("summarizer")[0].reason == "ship it"


def test_escape_sequences_and_markup_show_literally_in_a_real_terminal(
    terminal: tuple[Terminal, Path],
) -> None:
    term, _db = terminal
    screen = term.wait_for("RED")  # the app opens on the first feature: aaa-nasty
    assert "Say [bold]hi[/] [/INST]" in screen
    assert "␛[31mRED␛[0m" in screen  # shown, not obeyed: the frame stays intact
    assert "[b]odd[/b]" in screen
    term.until_keys_arrive("Down", leaves="Versions · aaa-nasty")
    term.keys("Up")
    term.wait_for("Versions · aaa-nasty")
    term.keys("e")
    screen = term.wait_for("Editing aaa-nasty")
    screen = term.wait_for("RED")
    assert "␛[31mRED" in screen
    assert "Say [bold]hi[/] [/INST]" in screen
    # Obeyed escapes would clear the screen, recolour it or shift the frame: every
    # bordered row still ends with its border.
    framed = [line.rstrip() for line in screen.splitlines() if line.startswith("│")]
    assert framed and all(line.endswith("│") for line in framed)
    term.keys("Escape", "q")


SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*?([34]8;(?:5;\d+|2;\d+;\d+;\d+))")


def colours_of_a_diff(tmp_path: Path, **env: str) -> tuple[str, set[str]]:
    with launched(tmp_path, **env) as (term, _db):
        term.wait_for("Versions · aaa-nasty")
        # code-reviewer, whose v4 is active, is next in the list.
        term.until_keys_arrive("Down", leaves="Versions · aaa-nasty")
        term.wait_for("Versions · code-reviewer")
        term.keys("Tab", "Down", "d")  # diff v3 with the active v4
        term.wait_for("lines ·")
        term.keys("n")  # jump to the first change
        term.wait_for("change 1/")
        plain = term.screen()
        styled = tmux("capture-pane", "-e", "-p", "-t", term.session)
    return plain, {match.group(1) for match in SGR_COLOUR.finditer(styled)}


def test_with_no_color_the_app_is_greyscale_and_diffs_keep_their_gutters(
    tmp_path: Path,
) -> None:
    plain, colours = colours_of_a_diff(tmp_path, NO_COLOR="1")
    assert colours, "expected some (grey) styling"
    for colour in colours:
        _kind, _, value = colour.partition(";5;")
        assert (value and 232 <= int(value) <= 255) or value in ("0", "15", "16", "231"), colour
    # Changed rows are marked by +/- gutters beside their numbers, not by colour alone.
    assert re.search(r"\d+ [+-] ", plain), plain


def test_with_256_colours_no_true_colour_is_sent(tmp_path: Path) -> None:
    _plain, colours = colours_of_a_diff(tmp_path, TEXTUAL_COLOR_SYSTEM="256")
    assert colours
    assert not [c for c in colours if ";2;" in c], "true-colour sequences over a 256 terminal"
