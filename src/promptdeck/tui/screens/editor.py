"""The editor: a new version from an existing one (or a new feature's first version).

Saving asks for a reason in a dialog that shows the diff of the change. Nothing is
overwritten: every save is a new version. If someone saved meanwhile, the user sees
what changed and chooses to save on top or go back to editing (the text is kept).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.validation import ValidationResult, Validator
from textual.widgets import Footer, Header, Input, Label, Static, TextArea

from promptdeck.display import editable, restore, visible
from promptdeck.errors import ConflictError, PromptDeckError
from promptdeck.records import Version
from promptdeck.templates import find_variables
from promptdeck.tui.changes import describe_change
from promptdeck.tui.screens.dialogs import ChangeDialog, ConfirmDialog, ConflictDialog
from promptdeck.tui.widgets.diff_view import DiffData

if TYPE_CHECKING:
    from promptdeck.tui.app import PromptDeckApp

VARIABLES_DELAY = 0.15


class JsonObject(Validator):
    """A JSON object (the parameters), e.g. ``{"temperature": 0.2}``."""

    def validate(self, value: str) -> ValidationResult:
        try:
            parsed = json.loads(value or "{}")
        except json.JSONDecodeError as exc:
            return self.failure(f"Parameters: not JSON ({exc.msg})")
        if not isinstance(parsed, dict):
            return self.failure("Parameters must be a JSON object: {...}")
        return self.success()


def parse_parameters(value: str) -> dict[str, Any]:
    parsed = json.loads(value or "{}")
    if not isinstance(parsed, dict):
        raise ValueError("parameters must be a JSON object")
    return parsed


class EditorScreen(Screen[int | None]):
    """Edit a prompt; dismisses with the number of the saved version, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="editor.save", priority=True),
        Binding("escape", "close", "Close", id="editor.close"),
        Binding("ctrl+z", "undo", "Undo", id="editor.undo"),
        Binding("ctrl+y", "redo", "Redo", id="editor.redo"),
    ]

    def __init__(
        self,
        feature: str,
        *,
        base: Version | None = None,
        latest: int | None = None,
        model: str = "",
    ) -> None:
        super().__init__()
        self.feature = feature
        self.base = base
        self.latest = latest
        self._model = base.model if base else model
        self._parameters = dict(base.parameters) if base else {}
        self._text = base.system_prompt if base else ""
        # Control characters (ANSI escapes) are edited as visible pictures, never sent
        # to the terminal, and saved as the characters they were.
        self._shown_text, self._pictured = editable(self._text)
        self._variables_timer: Timer | None = None
        self._saving = False

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        if self.base is None:
            title = f"New feature {self.feature}: write its first prompt"
        else:
            title = f"Editing {self.feature}: a new version from v{self.base.number}"
            if self.latest is not None and self.latest != self.base.number:
                title += f" (latest is v{self.latest})"
        yield Static(Text(title, style="bold"), id="editor-title")
        with Horizontal(id="editor-meta"):
            yield Label("model", classes="field-label")
            yield Input(self._model, id="model", select_on_focus=False)
            yield Label("params", classes="field-label")
            yield Input(
                json.dumps(self._parameters, ensure_ascii=False),
                id="parameters",
                validators=[JsonObject()],
                select_on_focus=False,
            )
        with Horizontal(id="editor-body"):
            area = TextArea(
                self._shown_text,
                id="text",
                soft_wrap=True,
                show_line_numbers=True,
                tab_behavior="focus",
            )
            area.cursor_blink = False
            yield area
            with Vertical(id="variables-pane") as pane:
                pane.border_title = "Variables"
                yield Static(id="variables")
        yield Static("", id="editor-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for widget in self.query(Input):
            widget.cursor_blink = False
        self._update_variables()
        self.query_one("#editor-status").display = False
        self.query_one("#text", TextArea).focus()

    # -- state -----------------------------------------------------------------------

    @property
    def text(self) -> str:
        shown = self.query_one("#text", TextArea).text
        return restore(shown) if self._pictured else shown

    @property
    def model(self) -> str:
        return self.query_one("#model", Input).value.strip()

    @property
    def dirty(self) -> bool:
        """True when the text, model or parameters differ from where the edit started."""
        if self.text != self._text or self.model != self._model:
            return True
        try:
            return parse_parameters(self.query_one("#parameters", Input).value) != self._parameters
        except ValueError:
            return True

    # -- live variables --------------------------------------------------------------

    @on(TextArea.Changed)
    def _text_changed(self) -> None:
        if self._variables_timer is not None:
            self._variables_timer.stop()
        self._variables_timer = self.set_timer(VARIABLES_DELAY, self._update_variables)

    def _update_variables(self) -> None:
        names = find_variables(self.text)
        before = set(find_variables(self._text))
        lines = Text()
        for name in names:
            marker = "  " if name in before else "+ "
            lines.append(marker, "bold green" if marker == "+ " else "")
            lines.append(f"{{{{{name}}}}}\n", "green")
        for name in sorted(before - set(names)):
            lines.append("− ", "bold red")
            lines.append(f"{{{{{name}}}}}\n", "red strike")
        if not names and not before:
            lines.append("none yet: write {{name}} to add one", "dim")
        self.query_one("#variables", Static).update(lines)

    # -- actions ---------------------------------------------------------------------

    def action_undo(self) -> None:
        self.query_one("#text", TextArea).undo()

    def action_redo(self) -> None:
        self.query_one("#text", TextArea).redo()

    def action_close(self) -> None:
        if not self.dirty:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmDialog(
                "Discard unsaved changes?",
                f"Your edit of {self.feature} is not saved.",
                confirm="Discard",
                cancel="Keep editing",
            ),
            answered,
        )

    def _status(self, message: str) -> None:
        status = self.query_one("#editor-status", Static)
        status.update(Text(message, style="bold"))
        status.display = bool(message)

    def action_save(self) -> None:
        if self._saving:
            return
        try:
            parameters = parse_parameters(self.query_one("#parameters", Input).value)
        except ValueError as exc:
            self.notify(f"Parameters: {exc}", severity="error", markup=False)
            self.query_one("#parameters", Input).focus()
            return
        if not self.model:
            self.notify("A model is required", severity="error", markup=False)
            self.query_one("#model", Input).focus()
            return
        if not self.text.strip():
            self.notify("The prompt text is empty", severity="error", markup=False)
            return
        if self.base is not None and not self.dirty:
            self.notify("Nothing changed: edit the text, model or parameters first", markup=False)
            return
        self.ask_reason(self.text, self.model, parameters)

    @work(thread=True, exclusive=True, group="editor-diff")
    def ask_reason(self, text: str, model: str, parameters: dict[str, Any]) -> None:
        base = self.base
        old_text = base.system_prompt if base else ""
        data = DiffData.compute(old_text, text)
        details = describe_change(
            old_text,
            base.model if base else model,
            base.parameters if base else {},
            text,
            model,
            parameters,
            data,
        )
        if base is None:
            title = f"Create {self.feature}"
        else:
            title = f"Save {self.feature}: new version from v{base.number}"

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.save(text, model, parameters, reason, force=False)

        def show() -> None:  # on the UI thread: workers never create or touch widgets
            self.app.push_screen(ChangeDialog(title, details, confirm="save", diff=data), answered)

        self.app.call_from_thread(show)

    @work(thread=True, exclusive=True, group="editor-save")
    def save(
        self, text: str, model: str, parameters: dict[str, Any], reason: str, *, force: bool
    ) -> None:
        store = self.deck.store
        self._saving = True
        try:
            if self.base is None:
                version = store.create_feature(
                    self.feature, text, model=model, reason=reason, parameters=parameters
                )
            else:
                version = store.save(
                    self.feature,
                    text,
                    reason=reason,
                    model=model,
                    parameters=parameters,
                    base=self.base.number,
                    force=force,
                )
        except ConflictError as exc:
            self._conflict(exc, text, model, parameters, reason)
            return
        except PromptDeckError as exc:
            self.app.call_from_thread(
                self.notify, str(exc), title="Not saved", severity="error", markup=False
            )
            return
        finally:
            self._saving = False
        self.app.call_from_thread(
            self.notify, f"Saved {self.feature} v{version.number}", markup=False
        )
        self._text = text  # nothing unsaved any more
        self.app.call_from_thread(self.dismiss, version.number)

    def _conflict(
        self,
        exc: ConflictError,
        text: str,
        model: str,
        parameters: dict[str, Any],
        reason: str,
    ) -> None:
        """In the save worker: show what the other save changed, then let the user choose."""
        assert self.base is not None
        try:
            latest = self.deck.store.version(self.feature, exc.latest)
        except PromptDeckError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", markup=False)
            return
        data = DiffData.compute(self.base.system_prompt, latest.system_prompt)
        # Our own words, not the store's (which speaks of the command line's --force).
        message = (
            f"{visible(latest.author)} saved v{latest.number} of {self.feature} after "
            f"v{self.base.number}, which your edit started from. Press f to save yours "
            "on top of it, or b (or escape) to go back to editing."
        )
        label = (
            f"What {visible(latest.author)} changed, v{self.base.number} → v{latest.number}: "
            f"“{visible(latest.reason)}”"
        )

        def chosen(choice: str | None) -> None:
            if choice == "force":
                self.save(text, model, parameters, reason, force=True)
            else:
                self._status(
                    f"Not saved: v{latest.number} by {visible(latest.author)} is newer. "
                    "Your text is kept; ctrl+s then f saves it on top."
                )

        def show() -> None:  # on the UI thread: workers never create or touch widgets
            self.app.push_screen(ConflictDialog(message, data, label), chosen)

        self.app.call_from_thread(show)
