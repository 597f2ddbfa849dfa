"""The audit log of one feature: who, when, what, from and to, why."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from promptdeck.display import audit_move, visible
from promptdeck.errors import PromptDeckError
from promptdeck.records import AuditEvent
from promptdeck.tui.text import age, one_line, plural

if TYPE_CHECKING:
    from promptdeck.tui.app import PromptDeckApp

ACTION_STYLES = {
    "activate": "bold green",
    "rollback": "bold red",
    "promote": "bold green",
    "canary": "yellow",
    "canary-off": "yellow",
    "create": "cyan",
    "create-feature": "cyan",
}


def _move(event: AuditEvent) -> str:
    return audit_move(event.action, event.from_version, event.to_version, event.details)


class HistoryScreen(Screen[None]):
    """Every create, activation, rollback, canary change and import of a feature."""

    HELP_SECTION = "History"  # help opens at these keys
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,h", "close", "Back", id="history.close"),
    ]

    class Loaded(Message):
        def __init__(self, events: list[AuditEvent]) -> None:
            super().__init__()
            self.events = events

    class Failed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(self, feature: str) -> None:
        super().__init__()
        self.feature = feature
        self.events: list[AuditEvent] = []

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        table: DataTable[Text] = DataTable(id="history", cursor_type="row")
        table.border_title = f"History of {self.feature}"
        yield table
        with VerticalScroll(id="event-pane") as pane:
            pane.border_title = "Event"
            yield Static(id="event")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (
            ("when", "when"),
            ("who", "who"),
            ("action", "action"),
            ("env", "env"),
            ("move", "from → to"),
            ("reason", "reason"),
        ):
            table.add_column(label, key=key)
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, group="history")
    def load(self) -> None:
        try:
            events = self.deck.store.history(self.feature)
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Loaded(events))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.events = message.events
        table = self.query_one(DataTable)
        now = self.deck.now()
        for event in message.events:
            table.add_row(
                Text(age(event.at, now), style="dim"),
                Text(one_line(event.actor, 16)),
                Text(event.action, style=ACTION_STYLES.get(event.action, "")),
                Text(one_line(event.environment or "", 12)),
                Text(_move(event)),
                Text(one_line(event.reason, 80)),
            )
        table.border_subtitle = plural(len(message.events), "event")
        if not message.events:
            self.query_one("#event", Static).update(Text("No events yet", style="dim"))

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.notify(message.message, severity="error", markup=False)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, message: DataTable.RowHighlighted) -> None:
        index = message.cursor_row
        if not 0 <= index < len(self.events):
            return
        event = self.events[index]
        details = Text.assemble(
            (event.action, ACTION_STYLES.get(event.action, "bold")),
            f" by {visible(event.actor)} at {event.at:%Y-%m-%d %H:%M} UTC",
            f" in {visible(event.environment)}" if event.environment else "",
            f": {_move(event)}\n",
            ("why: ", "dim"),
            visible(event.reason),
        )
        if event.details:
            details.append("\n")
            details.append("details: ", "dim")
            details.append(visible(json.dumps(dict(event.details), ensure_ascii=False)))
        self.query_one("#event", Static).update(details)

    def action_close(self) -> None:
        self.dismiss(None)
