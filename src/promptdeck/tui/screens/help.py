"""Help: every key, and what the marks in the lists mean."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Main screen",
        [
            ("/", "filter the features list (escape clears)"),
            ("↑ ↓ ← → tab", "move; ← features, → versions"),
            ("home / end", "first / last feature or version"),
            ("e", "edit: a new version from the selected one"),
            ("d", "diff the selected version with the active one, or the two marked"),
            ("space", "mark a version for diff (two at most)"),
            ("a", "activate the selected version (admin)"),
            ("r", "roll back to the previously active version (admin)"),
            ("c", "canary: start, stop or promote (admin)"),
            ("h", "history: the feature's audit log"),
            ("n", "new feature"),
            ("E", "switch environment (production, staging, …)"),
            ("s", "sync with the remote store"),
        ],
    ),
    (
        "Editor",
        [
            ("ctrl+s", "save: asks for the reason, shows the diff"),
            ("ctrl+z / ctrl+y", "undo / redo"),
            ("tab", "next field (model, parameters as JSON)"),
            ("escape", "close (asks first when there are unsaved edits)"),
        ],
    ),
    (
        "Diff",
        [
            ("n or ]", "next change"),
            ("p or [", "previous change"),
            ("u", "side by side / unified"),
            ("w", "ignore / show whitespace changes"),
            ("l", "long lines: wrap / scroll them sideways"),
            ("← →", "scroll long lines sideways (when not wrapped)"),
            ("escape", "back"),
        ],
    ),
    (
        "Everywhere",
        [
            ("?", "this help"),
            ("ctrl+p", "command palette: every action by name"),
            ("q / ctrl+q", "quit (asks first when there are unsaved edits)"),
        ],
    ),
    (
        "Marks",
        [
            ("v3", "features list: v3 is active in this environment"),
            ("*", "features list: a version newer than the active one exists"),
            ("c4", "features list: v4 is the canary"),
            ("active / new", "versions: active here / newer than the active one"),
            ("●", "versions: marked for diff"),
            ("- / +", "diff: removed / added line; changed words highlighted"),
        ],
    ),
]


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for number, (section, rows) in enumerate(SECTIONS):
        if number:
            table.add_row("", "")
        table.add_row(Text(section, style="bold underline"), "")
        for key, description in rows:
            table.add_row(Text(key), Text(description))
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and marks; escape, q or ? closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "promptdeck help"
            box.border_subtitle = "escape to close"
            yield Static(help_table(), id="help")

    def action_close(self) -> None:
        self.dismiss(None)
