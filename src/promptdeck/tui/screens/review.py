"""Reviews: the queue of versions waiting for a reviewer, approve / reject with a
comment, and the request for review that editors send from the main screen."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, cast

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from promptdeck.display import visible
from promptdeck.errors import PromptDeckError
from promptdeck.permissions import Action
from promptdeck.records import Environment, ReviewQueueEntry, ReviewState
from promptdeck.tui.changes import describe_versions
from promptdeck.tui.screens.dialogs import ChangeDialog
from promptdeck.tui.text import age, one_line, plural
from promptdeck.tui.widgets.diff_view import DiffData

if TYPE_CHECKING:
    from promptdeck.store import PromptStore
    from promptdeck.tui.app import PromptDeckApp

# The short word a version's review state shows as, and its colour (the word is the
# mark; colour only repeats it).
REVIEW_WORDS: dict[str, tuple[str, str]] = {
    "requested": ("requested", "yellow"),
    "approved": ("approved", "green"),
    "rejected": ("rejected", "bold red"),
}


QUEUE_COLUMNS = {
    "feature": "feature",
    "version": "#",
    "author": "author",
    "lines": "+/−",
    "live": "live",
    "state": "review",
    "age": "age",
    "reason": "reason",
}


def review_cell(state: ReviewState | None) -> Text:
    """The review column of the versions table: requested, approved, rejected or blank."""
    if state is None or state.status not in REVIEW_WORDS:
        return Text("")
    word, style = REVIEW_WORDS[state.status]
    return Text(word, style=style)


def nothing_to_review(environment: Environment) -> Text:
    """The empty queue's explanation (what it lists, how a review is asked for)."""
    name = environment.name
    text = Text.assemble(
        (f"Nothing to review in {name}.", "bold"),
        "\n\nThe queue lists the versions an editor asked to have reviewed that are not "
        f"approved yet and not live in {name}.\n\nTo ask for a review: on the main "
        "screen, select a version and press ",
        ("p", "bold"),
        " (Ask review), or run\n  ",
        ("promptdeck review request FEATURE VERSION --reason ...", "bold"),
        "\n\n",
    )
    if environment.protected:
        needed = plural(environment.required_approvals, "approval")
        text.append(
            f"{name} is protected: a version goes live there only with {needed} by "
            "someone other than its author."
        )
    else:
        text.append(
            f"{name} is not protected: versions go live there without review (an admin "
            f"protects it with `promptdeck env protect {name}`).",
            style="dim",
        )
    return text


@dataclass(frozen=True, slots=True)
class AgainstLive:
    """A version beside what is live in one environment: what a reviewer reads."""

    details: list[Text]
    data: DiffData


def against_live(
    store: PromptStore, feature: str, number: int, environment: str, *, heading: Text
) -> AgainstLive:
    """In a worker: ``number`` of ``feature`` compared with the active version of
    ``environment`` (nothing live: with an empty prompt)."""
    new = store.version(feature, number)
    live_number = store.deployment(feature, environment).active
    old = store.version(feature, live_number) if live_number is not None else None
    data = DiffData.compute(old.system_prompt if old else "", new.system_prompt)
    move = Text.assemble(
        ("live ", "dim"),
        (f"v{live_number}" if live_number is not None else "(none)", "bold"),
        ("  →  ", "dim"),
        (f"v{number}", "bold"),
        (f"  in {environment}", "dim"),
    )
    return AgainstLive([heading, move, *describe_versions(old, new, data)], data)


class ReviewQueueScreen(Screen[None]):
    """Versions whose review was requested and that are not approved yet, newest first;
    the diff against what is live; approve or reject with a comment."""

    HELP_SECTION = "Review queue"  # help opens at these keys
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="review.close"),
        Binding("d", "diff", "Diff vs live", id="review.diff"),  # enter too (RowSelected)
        Binding("a", "approve", "Approve", id="review.approve"),
        Binding("x", "reject", "Reject", id="review.reject"),
    ]

    class Loaded(Message):
        def __init__(self, entries: list[ReviewQueueEntry], environment: Environment) -> None:
            super().__init__()
            self.entries = entries
            self.environment = environment  # protected or not: the empty queue says

    class Failed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[ReviewQueueEntry] = []
        self.loaded = False
        self._table_width = 0

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    @property
    def selected(self) -> ReviewQueueEntry | None:
        table = self.query_one("#queue", DataTable)
        row = table.cursor_row
        return self.entries[row] if self.entries and 0 <= row < len(self.entries) else None

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        table: DataTable[Text] = DataTable(id="queue", cursor_type="row")
        table.border_title = f"To review · against what is live in {self.deck.environment}"
        yield table
        with VerticalScroll(id="queue-empty-pane") as empty:
            empty.border_title = table.border_title
            yield Static(id="queue-empty")
        with VerticalScroll(id="review-detail-pane") as pane:
            pane.border_title = "Request"
            yield Static(id="review-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#queue", DataTable).focus()
        self.load()

    @work(thread=True, exclusive=True, group="review-queue")
    def load(self) -> None:
        try:
            governance = self.deck.store.governance
            entries = governance.queue(self.deck.environment)
            environment = governance.environment(self.deck.environment)
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Loaded(entries, environment))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        previous = self.selected
        self.entries = message.entries
        self.loaded = True
        self.deck.to_review = len(message.entries)
        self.deck.update_header()
        self._fill_table()
        table = self.query_one("#queue", DataTable)
        table.border_subtitle = plural(len(message.entries), "version")
        if previous is not None:
            keys = [(e.feature, e.version) for e in message.entries]
            if (previous.feature, previous.version) in keys:
                table.move_cursor(row=keys.index((previous.feature, previous.version)))
        self._show_detail()
        self._show_empty(message.environment)
        self.refresh_bindings()

    def _show_empty(self, environment: Environment) -> None:
        """An empty queue says so in place of the table: what the queue holds, how an
        editor asks for a review, and whether review gates this environment."""
        empty = not self.entries
        self.query_one("#queue", DataTable).display = not empty
        self.query_one("#review-detail-pane").display = not empty
        self.query_one("#queue-empty-pane").display = empty
        if empty:
            self.query_one("#queue-empty", Static).update(nothing_to_review(environment))
        elif self.focused is None:
            self.query_one("#queue", DataTable).focus()

    def _fill_table(self) -> None:
        """(Re)build the table: each column as wide as its content, and the reason
        the width that is left (the pane below shows it whole), so nothing scrolls
        sideways at 80 columns."""
        table = self.query_one("#queue", DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        now = self.deck.now()
        rows = [self._cells(entry, now) for entry in self.entries]
        widths = {
            key: max([cell_len(label), *(cell_len(r[key].plain) for r in rows)])
            for key, label in QUEUE_COLUMNS.items()
        }
        others = sum(w + 2 * table.cell_padding for key, w in widths.items() if key != "reason")
        widths["reason"] = max(10, table.scrollable_content_region.width - others - 2)
        self._table_width = table.scrollable_content_region.width
        for key, label in QUEUE_COLUMNS.items():
            table.add_column(label, key=key, width=widths[key])
        for cells in rows:
            table.add_row(*cells.values())
        if 0 <= row < len(rows):
            table.move_cursor(row=row, animate=False)

    def _cells(self, entry: ReviewQueueEntry, now: datetime) -> dict[str, Text]:
        word, style = REVIEW_WORDS.get(entry.state.status, (entry.state.status, ""))
        if entry.state.approvals and entry.state.status != "approved":
            word = f"{word} ({entry.state.approvals}✓)"  # of several approvals needed
        return {
            "feature": Text(one_line(entry.feature, 28), style="bold"),
            "version": Text(f"v{entry.version}"),
            "author": Text(one_line(entry.author, 14)),
            "lines": Text.assemble(
                (f"+{entry.lines_added}", "green"), " ", (f"−{entry.lines_removed}", "red")
            ),
            "live": Text(f"v{entry.live}" if entry.live is not None else "—", style="dim"),
            "state": Text(word, style=style),
            "age": Text(age(entry.created_at, now, short=True), style="dim"),
            "reason": Text(one_line(entry.reason, 300), no_wrap=True, overflow="ellipsis"),
        }

    def on_resize(self) -> None:
        table = self.query_one("#queue", DataTable)
        if self.entries and table.scrollable_content_region.width != self._table_width:
            self.call_after_refresh(self._fill_table)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.notify(message.message, severity="error", markup=False)

    @on(DataTable.RowHighlighted, "#queue")
    def _highlighted(self) -> None:
        self._show_detail()
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#queue")
    def _selected(self) -> None:
        self.action_diff()

    def _show_detail(self) -> None:
        detail = self.query_one("#review-detail", Static)
        entry = self.selected
        if entry is None:
            env = self.deck.environment
            detail.update(
                Text(f"Nothing waits for review (live read in {env})", style="dim")
                if self.loaded
                else Text("Loading…", style="dim")
            )
            return
        state = entry.state
        text = Text.assemble(
            (f"{entry.feature} v{entry.version}", "bold"),
            f" by {visible(one_line(entry.author, 40))}: ",
            one_line(entry.reason, 200),
        )
        if state.requested_by is not None:
            text.append("\n")
            text.append("review asked by ", "dim")
            text.append(visible(one_line(state.requested_by, 40)))
            text.append(": ")
            text.append(one_line(state.request_reason or "", 200))
        for label, people in (
            ("approved by ", state.approved_by),
            ("rejected by ", state.rejected_by),
        ):
            if people:
                text.append("\n")
                text.append(label, "dim")
                text.append(visible(", ".join(people)))
        detail.update(text)

    # -- enabling --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if self.why_disabled(action) else True

    def why_disabled(self, action: str) -> str | None:
        if action not in ("diff", "approve", "reject"):
            return None
        needed = {"approve": Action.APPROVE, "reject": Action.REJECT}.get(action)
        if needed is not None and not self.deck.allows(needed):
            return self.deck.refusal(needed)
        entry = self.selected
        if entry is None:
            return "Nothing to review"
        if needed is not None and entry.author == self.deck.user:
            verb = "approve" if action == "approve" else "reject"
            return f"You wrote v{entry.version} of {entry.feature}: someone else must {verb} it"
        if action == "approve" and self.deck.user in entry.state.approved_by:
            return f"You already approved v{entry.version} of {entry.feature}"
        if action == "reject" and self.deck.user in entry.state.rejected_by:
            return f"You already rejected v{entry.version} of {entry.feature}"
        return None

    def palette_commands(self) -> Iterable[tuple[str, str, str]]:
        yield ("Diff against live", "What the selected version changes (enter or d)", "diff")
        yield ("Approve", "Approve the selected version, with a comment (a)", "approve")
        yield ("Reject", "Reject the selected version, with a comment (x)", "reject")
        yield ("Back", "Close the review queue (escape)", "close")

    # -- actions ---------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_diff(self) -> None:
        from promptdeck.tui.screens.diff import DiffScreen

        entry = self.selected
        if entry is None:
            return
        if entry.live is not None:
            old = entry.live
        elif entry.version > 1:
            old = entry.version - 1  # nothing live yet: what came before it
        else:
            self.notify(
                f"Nothing is live in {self.deck.environment} and v1 has nothing before it: "
                "a (approve) shows the whole prompt",
                markup=False,
            )
            return
        self.app.push_screen(DiffScreen(entry.feature, old, entry.version, active=entry.live))

    def action_approve(self) -> None:
        if (entry := self.selected) is not None:
            self.open_verdict(entry, approve=True)

    def action_reject(self) -> None:
        if (entry := self.selected) is not None:
            self.open_verdict(entry, approve=False)

    @work(thread=True, group="review-open")
    def open_verdict(self, entry: ReviewQueueEntry, *, approve: bool) -> None:
        """Load the version against live, then ask for the required comment."""
        verb = "Approve" if approve else "Reject"
        heading = Text.assemble(
            ("asked by ", "dim"),
            visible(one_line(entry.state.requested_by or entry.author, 30)),
            ": ",
            one_line(entry.state.request_reason or entry.reason, 200),
        )
        store = self.deck.store
        try:
            shown = against_live(
                store, entry.feature, entry.version, self.deck.environment, heading=heading
            )
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        governance = store.governance
        decide = governance.approve if approve else governance.reject
        feature, number = entry.feature, entry.version

        def commented(comment: str | None) -> None:
            if comment is not None:
                self.record(
                    f"{'Approved' if approve else 'Rejected'} {feature} v{number}",
                    lambda: decide(feature, number, comment),
                )

        def show() -> None:  # on the UI thread: workers never create or touch widgets
            self.app.push_screen(
                ChangeDialog(
                    f"{verb} {feature} v{number}",
                    shown.details,
                    confirm=verb.lower(),
                    diff=shown.data,
                    field="Comment",
                ),
                commented,
            )

        self.app.call_from_thread(show)

    @work(thread=True, group="review-write")
    def record(self, done: str, call: Callable[[], object]) -> None:
        if self.deck.attempt_write(done, call):
            self.app.call_from_thread(self.load)
