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
            ("a", "activate the selected version (admin; may override missing checks)"),
            ("r", "roll back to the previously active version (admin)"),
            ("c", "canary: start, stop or promote (admin)"),
            ("h", "history: the feature's audit log"),
            ("k", "checks: the selected version's suite results; run, edit the suite"),
            ("x", "experiment: the canary against the active version, with the evidence"),
            ("m", "monitor: the feature's metrics over time, per version"),
            ("n", "new feature"),
            ("v", "review queue: versions waiting for a reviewer"),
            ("p", "request review of the selected version (editor)"),
            ("E", "switch environment; ctrl+n there creates one (admin, asks first)"),
            ("s", "sync with the remote store"),
        ],
    ),
    (
        "Editor",
        [
            ("ctrl+s", "save: asks for the reason, shows the diff"),
            ("ctrl+f", "find: enter or ↓ next match, ↑ previous, escape back to the text"),
            ("ctrl+r", "replace: enter replaces this match, ctrl+a replaces all"),
            ("ctrl+w", "delete the word left of the cursor"),
            ("ctrl+o", "carry your edit onto the latest version (a three-way merge)"),
            ("ctrl+z / ctrl+y", "undo / redo"),
            ("tab", "next field (model, parameters as JSON)"),
            ("escape", "close (asks first when there are unsaved edits)"),
            ("ctrl+q / f1", "quit / help (q and ? type themselves here)"),
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
            ("escape or q", "back"),
        ],
    ),
    (
        "Review queue",
        [
            ("↑ ↓", "move through the versions waiting for review"),
            ("enter or d", "diff the version against what is live"),
            ("a", "approve, with a comment (reviewer or admin; not your own version)"),
            ("x", "reject, with a comment (reviewer or admin; not your own version)"),
            ("escape or q", "back"),
        ],
    ),
    (
        "Checks",
        [
            ("↑ ↓", "move through the cases; the answer and what failed show below"),
            ("r", "run the suite against this version (records the run)"),
            ("x", "cancel the run (nothing is recorded)"),
            ("e", "edit the suite as YAML; ctrl+s saves it with a reason"),
            ("escape", "back"),
        ],
    ),
    (
        "Experiment",
        [
            ("p", "promote the canary to active, with a reason"),
            ("x", "stop the canary, with a reason"),
            ("R", "reload the figures"),
            ("escape or q", "back"),
        ],
    ),
    (
        "Monitor",
        [
            ("t", "next time range"),
            ("R", "reload the figures"),
            ("escape or q", "back"),
        ],
    ),
    (
        "History",
        [
            ("↑ ↓", "move through the feature's audit log"),
            ("escape, q or h", "back"),
        ],
    ),
    (
        "Everywhere",
        [
            ("? or f1", "this help (f1 while typing in a field)"),
            ("ctrl+p", "command palette: every action by name"),
            ("q or ctrl+q", "quit (ctrl+q while typing; asks first about unsaved edits)"),
        ],
    ),
    (
        "Marks",
        [
            ("v3", "features list: v3 is active in this environment"),
            ("*", "features list: a version newer than the active one exists"),
            ("c4", "features list: v4 is the canary"),
            ("active", "versions: served in this environment"),
            ("canary 10%", "versions: served to 10% of users instead of the active one"),
            ("rollback", "versions: where r (roll back) goes"),
            ("newer", "versions: newer than the active one"),
            ("previous", "versions: was active before (deeper on the rollback stack)"),
            ("●", "versions: marked for diff"),
            ("requested", "versions: review asked for, no approval yet"),
            ("approved", "versions: approved; may go live in a protected environment"),
            ("rejected", "versions: a reviewer rejected it (blocks until they approve)"),
            ("passed", "versions, checks: the latest run of the current suite passed"),
            ("failed", "versions, checks: the latest run failed"),
            ("error", "versions, checks: the model could not answer (timeout, rate limit)"),
            ("not run", "versions, checks: no run of the current suite yet"),
            ("- / +", "diff: removed / added line; changed words highlighted"),
        ],
    ),
]


def help_table(first: str | None = None) -> Table:
    """Every section; ``first``: the section of the screen help was opened from."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    sections = sorted(SECTIONS, key=lambda section: section[0] != first)
    for number, (section, rows) in enumerate(sections):
        if number:
            table.add_row("", "")
        table.add_row(Text(section, style="bold underline"), "")
        for key, description in rows:
            table.add_row(Text(key), Text(description))
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and marks, the keys of the screen it was opened from first; escape, q or ?
    closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, section: str | None = None) -> None:
        super().__init__()
        self.section = section

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = (
                f"promptdeck help · {self.section}" if self.section else "promptdeck help"
            )
            box.border_subtitle = "escape to close"
            yield Static(help_table(self.section), id="help")

    def action_close(self) -> None:
        self.dismiss(None)
