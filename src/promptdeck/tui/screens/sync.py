"""The sync view: ahead/behind/conflicts per feature, push, pull and conflict choices.

All database and network work runs in thread workers; results come back as messages.
Feature names, authors and conflict descriptions are user text: drawn as Text, never
markup.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from promptdeck import sync
from promptdeck.config import redact
from promptdeck.errors import PermissionDeniedError, PromptDeckError
from promptdeck.store import PromptStore

Resolutions = dict[str, sync.Choice]  # --resolve keys (FEATURE, FEATURE:ENV) -> choice

# Versions are never deleted: a version conflict has one resolution, moving your
# local-only versions on top of the remote's ("renumber"; the CLI also accepts "remote").
VERSION_LABELS: dict[sync.Choice, str] = {
    "renumber": "Renumber mine on top (keep the remote's numbers)",
}
POINTER_LABELS: dict[sync.Choice, str] = {
    "local": "Keep local active/canary — push moves the remote's (remembered on pull)",
    "remote": "Keep remote active/canary — pull moves yours (remembered on push)",
}


def choice_options(feature: sync.FeatureSyncStatus) -> list[tuple[str, str, Resolutions]]:
    """The dialog's options for one feature: (id, label, the resolutions it picks)."""
    name = feature.feature
    versions = any(c.kind == "version" for c in feature.conflicts)
    environments = sorted({c.environment for c in feature.conflicts if c.environment})
    if versions and environments:
        return [
            (
                "renumber+local",
                "Your versions move on top of the remote's; keep local active/canary",
                {name: "renumber", **{f"{name}:{env}": "local" for env in environments}},
            ),
            (
                "renumber+remote",
                "Your versions move on top of the remote's; keep remote active/canary",
                {name: "remote"},
            ),
        ]
    if versions:
        return [(c, label, {name: c}) for c, label in VERSION_LABELS.items()]
    return [(c, label, {name: c}) for c, label in POINTER_LABELS.items()]


class ChoiceDialog(ModalScreen["Resolutions | None"]):
    """How to resolve the conflicts of one feature."""

    DEFAULT_CSS = """
    ChoiceDialog { align: center middle; }
    ChoiceDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ChoiceDialog #choice-conflicts { height: auto; max-height: 10; margin-bottom: 1; }
    ChoiceDialog OptionList { height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="sync.choice.cancel"),
    ]

    def __init__(self, feature: sync.FeatureSyncStatus) -> None:
        super().__init__()
        self.feature = feature
        self.options = choice_options(feature)

    def compose(self) -> ComposeResult:
        text = Text()
        for conflict in self.feature.conflicts:
            text.append("• ", style="bold yellow")
            text.append(conflict.describe())
            text.append("\n")
        with Vertical() as box:
            box.border_title = f"Resolve {self.feature.feature}"
            yield Static(text, id="choice-conflicts")
            yield OptionList(
                *(Option(Text(label), id=key) for key, label, _picked in self.options),
                id="choice-list",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        for key, _label, picked in self.options:
            if key == message.option.id:
                self.dismiss(dict(picked))
                return

    def action_cancel(self) -> None:
        self.dismiss(None)


def _feature_of(key: str) -> str:
    return key.partition(":")[0]


class SyncScreen(Screen[bool]):
    """Compare with the remote, push, pull, and choose for conflicts.

    Dismissed with True when the local store changed (the caller reloads).
    """

    DEFAULT_CSS = """
    SyncScreen #sync-head { height: auto; padding: 0 1; }
    SyncScreen #sync-table { height: 1fr; }
    SyncScreen #sync-progress { height: 1; padding: 0 1; }
    SyncScreen #sync-progress.idle { display: none; }
    SyncScreen #sync-result-box { height: auto; max-height: 8; }
    SyncScreen #sync-result { height: auto; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "push", "Push", id="sync.push"),
        Binding("v", "push_versions", "Push versions only", id="sync.push_versions"),
        Binding("l", "pull", "Pull", id="sync.pull"),
        Binding("c", "choose", "Resolve", id="sync.choose"),
        Binding("r", "refresh", "Refresh", id="sync.refresh"),
        Binding("escape,q", "close", "Back", id="sync.close"),
    ]

    class StatusLoaded(Message):
        def __init__(self, status: sync.SyncStatus) -> None:
            super().__init__()
            self.status = status

    class Progressed(Message):
        def __init__(self, phase: str, done: int, total: int) -> None:
            super().__init__()
            self.phase, self.done, self.total = phase, done, total

    class Finished(Message):
        def __init__(self, result: sync.SyncResult, error: str | None) -> None:
            super().__init__()
            self.result = result
            self.error = error

    class Failed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(self, store: PromptStore, remote_url: str) -> None:
        super().__init__()
        self.store = store
        self.remote_url = remote_url
        self.status: sync.SyncStatus | None = None
        self.resolutions: Resolutions = {}
        self.busy = False
        self.changed = False
        self._note: Text | None = None  # the "working…" line, cleared when done

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static(Text(f"remote {redact(self.remote_url)}", style="bold"), id="sync-head")
        table: DataTable[Text] = DataTable(id="sync-table", cursor_type="row")
        table.border_title = "Sync"
        yield table
        yield ProgressBar(id="sync-progress", show_eta=False, classes="idle")
        with VerticalScroll(id="sync-result-box"):
            yield Static(id="sync-result")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.action_refresh()

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("push", "push_versions", "pull", "refresh", "choose") and self.busy:
            return None  # shown greyed out while a sync runs
        if action == "choose" and self._selected() is None:
            return None
        return True

    def action_refresh(self) -> None:
        self._set_busy(True, "comparing with the remote…")
        self.load_status()

    def action_push(self) -> None:
        self._start("push")

    def action_push_versions(self) -> None:
        """Send versions and audit events, move no active version or canary (what an
        editor on the remote may do while a move is pending)."""
        self._start("push", versions_only=True)

    def action_pull(self) -> None:
        self._start("pull")

    def action_choose(self) -> None:
        feature = self._selected()
        if feature is None:
            return

        def chosen(picked: Resolutions | None) -> None:
            if picked is None:
                return
            self.resolutions = {
                k: v for k, v in self.resolutions.items() if _feature_of(k) != feature.feature
            }
            self.resolutions.update(picked)
            self._fill_table()

        self.app.push_screen(ChoiceDialog(feature), chosen)

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(self.changed)

    # -- workers -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="sync")
    def load_status(self) -> None:
        try:
            with sync.open_remote(self.store, self.remote_url) as remote:
                status = sync.status(self.store, remote)
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.StatusLoaded(status))

    @work(thread=True, exclusive=True, group="sync")
    def run_sync(
        self, direction: sync.Direction, resolve: Resolutions, versions_only: bool = False
    ) -> None:
        def progress(phase: str, done: int, total: int) -> None:
            self.post_message(self.Progressed(phase, done, total))

        try:
            with sync.open_remote(self.store, self.remote_url) as remote:
                if direction == "push":
                    result = sync.push(
                        self.store,
                        remote,
                        resolve=resolve,
                        progress=progress,
                        versions_only=versions_only,
                    )
                else:
                    result = sync.pull(self.store, remote, resolve=resolve, progress=progress)
            self.post_message(self.Finished(result, None))
        except sync.SyncConflictError as exc:
            self.post_message(self.Finished(exc.result, str(exc)))
        except PermissionDeniedError as exc:
            self.post_message(self.Failed(app_wording(str(exc))))
            return
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        try:
            with sync.open_remote(self.store, self.remote_url) as remote:
                status = sync.status(self.store, remote)
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.StatusLoaded(status))

    # -- messages ----------------------------------------------------------------------

    @on(StatusLoaded)
    def _status_loaded(self, message: StatusLoaded) -> None:
        self.status = message.status
        known = {f.feature for f in message.status.features if f.conflicts}
        self.resolutions = {k: v for k, v in self.resolutions.items() if _feature_of(k) in known}
        self._fill_table()
        self._set_busy(False)
        if self._note is not None:  # "comparing with the remote…" is done
            self._show_result(Text())
        status = message.status
        head = Text(f"remote {status.remote}\n", style="bold")
        if status.notice:
            head.append(status.notice + "\n", style="yellow")
        if status.in_sync:
            head.append("in sync: nothing to push or pull", style="green")
        else:
            # The same count as the header's "unpushed" (sync.pending_changes).
            head.append(f"{status.to_push} local change{_s(status.to_push)} to push", style="cyan")
            head.append(" · ")
            head.append(f"{status.behind} to pull", style="magenta")
            head.append(" · ")
            conflicts = len(status.conflicts)
            head.append(
                f"{conflicts} conflict{_s(conflicts)}", style="bold yellow" if conflicts else ""
            )
        self.query_one("#sync-head", Static).update(head)

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        bar = self.query_one(ProgressBar)
        bar.remove_class("idle")
        bar.update(total=message.total, progress=message.done)
        self._show_result(Text(f"sending {message.phase}: {message.done}/{message.total}"))

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        result = message.result
        if result.direction == "pull" and result.changed:
            self.changed = True
        if result.direction == "push" and result.changed:
            self.changed = True  # the header's unpushed count changed: reload it
        text = Text()
        if result.notice:
            text.append(result.notice + "\n", style="yellow")
        text.append(result.summary(), style="bold green" if message.error is None else "bold")
        for title, lines in (
            ("moved", result.moves),
            ("renumbered", result.renumbered),
            ("remembered", result.remembered),
            ("not moved (versions only)", result.skipped_moves),
        ):
            for line in lines:
                text.append(f"\n{title}: ", style="dim")
                text.append(line)
        if message.error is not None:
            for conflict in result.unresolved:
                text.append("\nconflict: ", style="bold yellow")
                text.append(conflict.describe())
            text.append("\nchoose with c, then push or pull again", style="yellow")
        self._show_result(text)
        self.notify(
            Text(result.summary()).plain,
            severity="information" if message.error is None else "warning",
            markup=False,
        )

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self._set_busy(False)
        self._show_result(Text(message.message, style="bold red"))
        self.notify(message.message, severity="error", markup=False)

    # -- helpers -----------------------------------------------------------------------

    def _start(self, direction: sync.Direction, *, versions_only: bool = False) -> None:
        if self.busy:
            return
        self._set_busy(
            True, f"{direction}ing versions only…" if versions_only else f"{direction}ing…"
        )
        self.run_sync(direction, dict(self.resolutions), versions_only)

    def _set_busy(self, busy: bool, note: str | None = None) -> None:
        self.busy = busy
        bar = self.query_one(ProgressBar)
        if busy:
            bar.update(total=None, progress=0)
            bar.remove_class("idle")
            if note:
                self._show_result(Text(note, style="dim"))
                self._note = Text(note, style="dim")
        else:
            bar.add_class("idle")
        self.refresh_bindings()

    def _show_result(self, text: Text) -> None:
        self._note = None
        self.query_one("#sync-result", Static).update(text)
        self.query_one("#sync-result-box", VerticalScroll).scroll_home(animate=False)

    def _selected(self) -> sync.FeatureSyncStatus | None:
        if self.status is None:
            return None
        table = self.query_one(DataTable)
        index = table.cursor_row
        features = self.status.features
        if not 0 <= index < len(features) or not features[index].conflicts:
            return None
        return features[index]

    def _choice_cell(self, feature: str) -> str:
        parts = [
            choice if key == feature else f"{key.partition(':')[2]}={choice}"
            for key, choice in sorted(self.resolutions.items())
            if _feature_of(key) == feature
        ]
        return ", ".join(parts)

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        if self.status is None:
            table.clear()
            return
        rows = [
            (
                Text(feature.feature),
                Text(_cell(feature.ahead, len(feature.push_moves)), style="cyan"),
                Text(_cell(feature.behind, len(feature.pull_moves)), style="magenta"),
                Text(
                    str(len(feature.conflicts)) if feature.conflicts else "-",
                    style="bold yellow" if feature.conflicts else "dim",
                ),
                Text(self._choice_cell(feature.feature)),
            )
            for feature in self.status.features
        ]
        # The feature name has priority: the other columns give up their width first.
        table.clear(columns=True)
        widths = column_widths(
            [[len(cell.plain) for cell in cells] for cells in rows],
            (table.size.width or self.size.width or 80) - 2,
        )
        for (key, label), width in zip(COLUMNS, widths, strict=True):
            table.add_column(label, key=key, width=width)
        for cells in rows:
            table.add_row(*(_fit(cell, width) for cell, width in zip(cells, widths, strict=True)))
        n = len(self.status.features)
        table.border_subtitle = f"{n} feature{_s(n)} differ{'s' if n == 1 else ''}"
        if self.status.features:
            table.move_cursor(row=min(max(row, 0), len(self.status.features) - 1))
        self.refresh_bindings()


COLUMNS: tuple[tuple[str, str], ...] = (
    ("feature", "feature"),
    ("push", "only local (push)"),
    ("pull", "only remote (pull)"),
    ("conflicts", "conflicts"),
    ("choice", "choice"),
)
_PADDING = 2  # a DataTable cell's padding, left and right together
_MIN_WIDTH = 6


def column_widths(rows: list[list[int]], available: int) -> list[int]:
    """Column widths for ``rows`` (cell lengths) in ``available`` cells: every column
    as wide as its widest cell or label; when that does not fit, the columns after
    the feature name shrink first (down to a few cells), the name last."""
    natural = [
        max([len(label), *(cells[i] for cells in rows)]) for i, (_key, label) in enumerate(COLUMNS)
    ]
    room = available - _PADDING * len(natural)
    widths = list(natural)
    excess = sum(widths) - room
    for i in (4, 1, 2, 3):  # choice, push, pull, conflicts: the least needed first
        if excess <= 0:
            break
        give = min(excess, widths[i] - min(_MIN_WIDTH, widths[i]))
        widths[i] -= give
        excess -= give
    if excess > 0:
        widths[0] = max(_MIN_WIDTH, widths[0] - excess)
    return widths


def _fit(text: Text, width: int) -> Text:
    if text.cell_len <= width:
        return text
    fitted = text.copy()
    fitted.truncate(width, overflow="ellipsis")
    return fitted


def app_wording(message: str) -> str:
    """A refusal worded for the app: the CLI's flag becomes the view's key."""
    return message.replace(
        "push with --versions-only to send only the versions", "press v to push versions only"
    )


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _cell(numbers: tuple[int, ...], moves: int) -> str:
    parts = []
    if numbers:
        parts.append(", ".join(f"v{n}" for n in numbers[:4]) + ("…" if len(numbers) > 4 else ""))
    if moves:
        parts.append(f"{moves} move{'' if moves == 1 else 's'}")
    return "; ".join(parts) or "-"
