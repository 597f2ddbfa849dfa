"""Compare two versions: side by side or unified, change by change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from promptdeck.errors import PromptDeckError
from promptdeck.records import Version
from promptdeck.tui.changes import describe_versions
from promptdeck.tui.text import plural
from promptdeck.tui.widgets.diff_view import DiffData, DiffView

if TYPE_CHECKING:
    from promptdeck.tui.app import PromptDeckApp


class DiffScreen(Screen[None]):
    """``old`` → ``new`` of one feature; the diff is computed in a worker."""

    HELP_SECTION = "Diff"  # help opens at these keys
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="diff.close"),
        Binding("n,right_square_bracket", "next_change", "Next", id="diff.next"),
        Binding("p,left_square_bracket", "previous_change", "Prev", id="diff.previous"),
        Binding("u", "toggle_unified", "Unified", id="diff.unified"),
        Binding("w", "toggle_whitespace", "Whitespace", id="diff.whitespace"),
        Binding("l", "toggle_wrap", "Wrap", id="diff.wrap"),
    ]

    class Loaded(Message):
        def __init__(self, old: Version, new: Version, data: DiffData) -> None:
            super().__init__()
            self.old = old
            self.new = new
            self.data = data

    class Failed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(self, feature: str, old: int, new: int, *, active: int | None = None) -> None:
        super().__init__()
        self.feature = feature
        self.old_number = old
        self.new_number = new
        self._keep_line: int | None = None  # set by w: the line of the change to return to
        self.active = active
        self.ignore_whitespace = False
        self.old: Version | None = None
        self.new: Version | None = None
        self.position = (-1, 0)

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static(self._title(), id="diff-title")
        yield Static(Text("Comparing…", style="dim"), id="diff-summary")
        yield Static("", id="diff-meta")
        yield DiffView(id="diff")
        yield Footer(compact=True)

    def _label(self, number: int) -> str:
        return f"v{number} (active)" if number == self.active else f"v{number}"

    def _title(self) -> Text:
        return Text.assemble(
            (self.feature, "bold"),
            ": ",
            ("− ", "bold red"),
            self._label(self.old_number),
            "  →  ",
            ("+ ", "bold green"),
            self._label(self.new_number),
        )

    def on_mount(self) -> None:
        self.query_one(DiffView).focus()
        self.load()

    @work(thread=True, exclusive=True, group="diff")
    def load(self) -> None:
        store = self.deck.store
        try:
            old = self.old or store.version(self.feature, self.old_number)
            new = self.new or store.version(self.feature, self.new_number)
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        data = DiffData.compute(
            old.system_prompt, new.system_prompt, ignore_whitespace=self.ignore_whitespace
        )
        self.post_message(self.Loaded(old, new, data))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.old, self.new = message.old, message.new
        view = self.query_one(DiffView)
        view.set_data(message.data)
        lines = describe_versions(message.old, message.new, message.data)
        meta = Text("\n").join(lines[1:])
        self.query_one("#diff-meta", Static).update(meta)
        self.query_one("#diff-meta", Static).display = bool(lines[1:])
        self.position = (-1, len(message.data.result.hunks))
        self._update_summary()
        keep, self._keep_line = self._keep_line, None
        if keep is not None and view.hunks:
            starts = [view.change_line(index) for index in range(len(view.hunks))]
            index = next((i for i, line in enumerate(starts) if line >= keep), len(starts) - 1)
            view.call_after_refresh(view.go_to_change, index)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.notify(message.message, severity="error", markup=False)
        self.query_one("#diff-summary", Static).update(Text(message.message, style="bold red"))

    @on(DiffView.Moved)
    def _moved(self, message: DiffView.Moved) -> None:
        self.position = (message.index, message.total)
        self._update_summary()

    def _update_summary(self) -> None:
        view = self.query_one(DiffView)
        data = view.data
        if data is None:
            return
        result = data.result
        index, total = self.position
        summary = Text.assemble(
            (f"+{result.added}", "bold green"),
            " ",
            (f"−{result.removed}", "bold red"),
            f" {'line' if result.added + result.removed == 1 else 'lines'} · ",
            (f"change {index + 1}/{total}" if index >= 0 else plural(total, "change"), ""),
            " · ",
            ("unified" if view.unified else "side by side", "bold"),
            ", ",
            ("wrapped" if view.wrap else "not wrapped", "bold"),
            " · whitespace ",
            ("ignored" if self.ignore_whitespace else "shown", "bold"),
        )
        if result.identical:
            summary = Text("No text differences", style="bold")
            if self.ignore_whitespace:
                summary.append(" (whitespace ignored)")
        if not result.word_level:
            summary.append(" · line level (too large for word level)", "dim")
        self.query_one("#diff-summary", Static).update(summary)

    def palette_commands(self) -> Iterable[tuple[str, str, str]]:
        yield ("Next change", "Jump to the next change (n or ])", "next_change")
        yield ("Previous change", "Jump to the previous change (p or [)", "previous_change")
        yield ("Toggle unified", "Side by side or unified (u)", "toggle_unified")
        yield ("Toggle whitespace", "Ignore or show whitespace changes (w)", "toggle_whitespace")
        yield ("Toggle long lines", "Wrap long lines or scroll them sideways (l)", "toggle_wrap")
        yield ("Back", "Close the diff (escape)", "close")

    def action_next_change(self) -> None:
        self.query_one(DiffView).action_next_change()

    def action_previous_change(self) -> None:
        self.query_one(DiffView).action_previous_change()

    def action_toggle_unified(self) -> None:
        view = self.query_one(DiffView)
        view.unified = not view.unified
        self._update_summary()

    def action_toggle_wrap(self) -> None:
        view = self.query_one(DiffView)
        view.wrap = not view.wrap
        self._update_summary()

    def action_toggle_whitespace(self) -> None:
        view = self.query_one(DiffView)
        # Keep the place: after the new diff, go to the change at (or after) this line.
        self._keep_line = view.change_line(view.current) if view.current >= 0 else None
        self.ignore_whitespace = not self.ignore_whitespace
        self.query_one("#diff-summary", Static).update(Text("Comparing…", style="dim"))
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)
