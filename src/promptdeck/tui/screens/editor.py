"""The editor: a new version from an existing one (or a new feature's first version).

Saving asks for a reason in a dialog that shows the diff of the change. Nothing is
overwritten: every save is a new version. The editor remembers the latest version it
knew of when the edit began: a version saved after that is a conflict, and the user
sees what changed and chooses to carry the edit onto it (a three-way merge that keeps
both changes, conflicting lines marked in the editor), to save on top without it, or
to go back to editing (the text is kept). Saving from an older version while a newer
one already existed is no conflict, but the save dialog says what it will not contain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Label, Static, TextArea

from promptdeck.display import editable, restore, visible
from promptdeck.errors import ConflictError, PromptDeckError
from promptdeck.merge import (
    START_MARKER,
    conflict_labels,
    count_conflict_markers,
    merge_parameters,
    merge_texts,
    merge_value,
)
from promptdeck.records import Version
from promptdeck.templates import find_variables
from promptdeck.tui.changes import describe_change
from promptdeck.tui.parameters import JsonObject, parse_parameters
from promptdeck.tui.screens.dialogs import (
    Alternative,
    ChangeDialog,
    ConfirmDialog,
    ConflictDialog,
)
from promptdeck.tui.text import plural
from promptdeck.tui.widgets.diff_view import DiffData
from promptdeck.tui.widgets.find_bar import FindBar

if TYPE_CHECKING:
    from promptdeck.tui.app import PromptDeckApp

VARIABLES_DELAY = 0.15


class PromptArea(TextArea):
    """The prompt text; its word-delete key (the TextArea's own) shows in the footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+w", "delete_word_left", "Del word", id="editor.delete-word"),
    ]


class EditorScreen(Screen[int | None]):
    """Edit a prompt; dismisses with the number of the saved version, or None."""

    HELP_SECTION = "Editor"  # help opens at these keys
    # q and ? type characters here: the app's footer shows ctrl+q and f1 instead.
    BINDINGS: ClassVar[list[BindingType]] = [
        # Not priority bindings: a priority key is handled before the keys typed just
        # ahead of it reach the text (ctrl+s right after typing would miss them).
        Binding("ctrl+s", "save", "Save", id="editor.save"),
        Binding("ctrl+f", "find", "Find", id="editor.find"),
        Binding("ctrl+r", "replace", "Replace", id="editor.replace"),
        Binding("ctrl+o", "carry", "Merge", id="editor.carry"),
        Binding("ctrl+z", "undo", "Undo", id="editor.undo"),
        Binding("ctrl+y", "redo", "Redo", show=False, id="editor.redo"),
        Binding("escape", "close", "Close", id="editor.close"),
    ]
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 (Textual reads it from the class)
        (0, "-narrow"),
        (120, "-wide"),
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
        # The latest version when the edit began: only versions saved after it conflict.
        self.seen_latest = latest if latest is not None else (base.number if base else None)
        # Set by a merge that left conflict markers: saving waits until they are gone.
        self._markers_to_resolve = False
        self._reason_draft = ""
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

    @property
    def newer(self) -> int | None:
        """The newest version this edit knows of, when it is newer than its base."""
        if self.base is None or self.seen_latest is None:
            return None
        return self.seen_latest if self.seen_latest > self.base.number else None

    def _title(self) -> Text:
        if self.base is None:
            return Text(f"New feature {self.feature}: write its first prompt", style="bold")
        title = Text(f"Editing {self.feature}: a new version from v{self.base.number}", "bold")
        if self.newer is not None:
            title.append(f" · v{self.newer} is newer (ctrl+o merges onto it)")
        return title

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static(self._title(), id="editor-title")
        # Two rows when narrow, so that both fields show what is typed in them.
        with Vertical(id="editor-meta"):
            with Horizontal(classes="field-row"):
                yield Label("model", classes="field-label")
                yield Input(self._model, id="model", select_on_focus=False)
            with Horizontal(classes="field-row"):
                yield Label("params", classes="field-label")
                yield Input(
                    json.dumps(self._parameters, ensure_ascii=False),
                    id="parameters",
                    validators=[JsonObject()],
                    select_on_focus=False,
                )
        with Horizontal(id="editor-body"):
            area = PromptArea(
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
        yield FindBar(area, id="find-bar")
        yield Static("", id="editor-status")
        yield Footer(compact=True, show_command_palette=False)  # room for the keys at 80

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "carry":
            return self.newer is not None  # hidden when nothing newer is known
        return True

    def palette_commands(self) -> Iterable[tuple[str, str, str]]:
        yield ("Save", "Save a new version: asks for the reason (ctrl+s)", "save")
        yield ("Find", "Find in the prompt (ctrl+f)", "find")
        yield ("Replace", "Find and replace in the prompt (ctrl+r)", "replace")
        if self.newer is not None:
            yield (
                f"Carry onto v{self.newer}",
                "Merge your edit into the latest version, keeping both changes (ctrl+o)",
                "carry",
            )

    def action_find(self) -> None:
        self.query_one(FindBar).open(replace=False)

    def action_replace(self) -> None:
        self.query_one(FindBar).open(replace=True)

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

    def _parameters_or_complain(self) -> dict[str, Any] | None:
        try:
            return parse_parameters(self.query_one("#parameters", Input).value)
        except ValueError as exc:
            self.notify(f"Parameters: {exc}", severity="error", markup=False)
            self.query_one("#parameters", Input).focus()
            return None

    def action_save(self) -> None:
        if self._saving:
            return
        if self._markers_to_resolve and count_conflict_markers(self.text):
            self._status(
                f"{plural(count_conflict_markers(self.text), 'place')} still marked "
                f"{START_MARKER}: keep what you want, delete the marker lines, then save"
            )
            self._show_first_marker()
            return
        parameters = self._parameters_or_complain()
        if parameters is None:
            return
        if self.base is not None and not self.dirty:
            self.notify("Nothing changed: edit the text, model or parameters first", markup=False)
            return
        self.ask_reason(self.text, self.model, parameters)

    def _without(self, base: int, newest: int) -> str:
        """``v6`` or ``v6–v8``: the versions a save from ``base`` will not contain."""
        return f"v{newest}" if newest == base + 1 else f"v{base + 1}–v{newest}"

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
        alternative = None
        newer = self.newer
        if base is None:
            title = f"Create {self.feature}"
        else:
            title = f"Save {self.feature}: new version from v{base.number}"
        if base is not None and newer is not None:
            # Not a conflict (the user saw the newer version), but say what is left out.
            without = self._without(base.number, newer)
            details.insert(
                0,
                Text(
                    f"v{newer + 1} will be based on v{base.number} and will not contain "
                    f"{without}'s changes. ctrl+o carries your edit onto v{newer} instead, "
                    "keeping both.",
                    style="bold yellow",
                ),
            )

            def carry(reason: str) -> None:
                self._reason_draft = reason
                self.action_carry()

            alternative = Alternative(f"carry onto v{newer}", carry)

        def answered(reason: str | None) -> None:
            if reason is not None:
                self._reason_draft = reason
                self.save(text, model, parameters, reason, force=False)

        def show() -> None:  # on the UI thread: workers never create or touch widgets
            self.app.push_screen(
                ChangeDialog(
                    title,
                    details,
                    confirm="save",
                    diff=data,
                    reason=self._reason_draft,
                    alternative=alternative,
                ),
                answered,
            )

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
                    seen_latest=self.seen_latest,
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
        base = self.base
        try:
            latest = self.deck.store.version(self.feature, exc.latest)
        except PromptDeckError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", markup=False)
            return
        data = DiffData.compute(base.system_prompt, latest.system_prompt)
        without = self._without(base.number, latest.number)
        # Our own words, not the store's (which speaks of the command line's --force).
        message = (
            f"{visible(latest.author)} saved v{latest.number} of {self.feature} after your "
            f"edit of v{base.number} began. Press m to carry your edit onto "
            f"v{latest.number}: both changes kept, lines you both changed marked for you "
            f"to resolve. Press f to save yours on top of it: v{latest.number + 1} will be "
            f"based on v{base.number} and will not contain {without}'s changes. "
            "b (or escape) goes back to editing."
        )
        label = (
            f"What {visible(latest.author)} changed, v{base.number} → v{latest.number}: "
            f"“{visible(latest.reason)}”"
        )

        def chosen(choice: str | None) -> None:
            if choice == "force":
                self.save(text, model, parameters, reason, force=True)
            elif choice == "merge":
                self.carry_onto_latest(text, model, parameters)
            else:
                self._status(
                    f"Not saved: v{latest.number} by {visible(latest.author)} is newer. "
                    "Your text is kept; ctrl+s then m carries it onto theirs, f saves on top."
                )

        def show() -> None:  # on the UI thread: workers never create or touch widgets
            self.app.push_screen(ConflictDialog(message, data, label, latest=latest.number), chosen)

        self.app.call_from_thread(show)

    # -- carrying the edit onto a newer version --------------------------------------

    def action_carry(self) -> None:
        if self.base is None:
            return
        parameters = self._parameters_or_complain()
        if parameters is not None:
            self.carry_onto_latest(self.text, self.model, parameters)

    @work(thread=True, exclusive=True, group="editor-carry")
    def carry_onto_latest(self, text: str, model: str, parameters: dict[str, Any]) -> None:
        """Three-way merge base -> this edit and base -> the latest version."""
        base = self.base
        assert base is not None
        try:
            latest = self.deck.store.version(self.feature, "latest")
        except PromptDeckError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        if latest.number == base.number:
            self.app.call_from_thread(
                self.notify,
                f"v{base.number} is the latest version: there is nothing to carry onto",
                markup=False,
            )
            return
        author = visible(latest.author)
        mine_label, theirs_label = conflict_labels(base.number, latest.number, author)
        merged = merge_texts(
            base.system_prompt,
            text,
            latest.system_prompt,
            mine_label=mine_label,
            theirs_label=theirs_label,
        )
        merged_model, model_clash = merge_value(base.model, model, latest.model)
        merged_parameters, clashes = merge_parameters(
            base.parameters, parameters, latest.parameters
        )
        notes: list[str] = []
        if model_clash:
            notes.append(f"you both changed the model: yours ({model}) is kept")
        if clashes:
            notes.append(f"you both changed {', '.join(clashes)}: yours kept")
        self.app.call_from_thread(
            self._carried,
            latest,
            merged.text,
            merged.conflicts,
            merged_model,
            merged_parameters,
            notes,
        )

    def _carried(
        self,
        latest: Version,
        text: str,
        conflicts: int,
        model: str,
        parameters: dict[str, Any],
        notes: list[str],
    ) -> None:
        """On the UI thread: the editor now edits from ``latest`` with the merged text."""
        self.base = latest
        self._text, self._model, self._parameters = (
            latest.system_prompt,
            latest.model,
            dict(latest.parameters),
        )
        self.seen_latest = max(self.seen_latest or 0, latest.number)
        self._shown_text, self._pictured = editable(text)
        area = self.query_one("#text", TextArea)
        # One edit: ctrl+z gives back the text as it was before the merge.
        area.replace(self._shown_text, (0, 0), area.document.end)
        self.query_one("#model", Input).value = model
        self.query_one("#parameters", Input).value = json.dumps(parameters, ensure_ascii=False)
        self.query_one("#editor-title", Static).update(self._title())
        self.refresh_bindings()
        who = visible(latest.author)
        extra = f" ({'; '.join(notes)})" if notes else ""
        if conflicts:
            self._markers_to_resolve = True
            self._status(
                f"Carried onto v{latest.number} by {who}. {plural(conflicts, 'place')} you both "
                f"changed: marked between {START_MARKER} yours and >>>>>>> theirs. Keep what "
                f"you want, delete the marker lines, then ctrl+s{extra}"
            )
            self._show_first_marker()
        else:
            self._markers_to_resolve = False
            self._status(
                f"Carried onto v{latest.number} by {who}: both changes kept. ctrl+s saves "
                f"v{latest.number + 1} from v{latest.number}{extra}"
            )
        area.focus()

    def _show_first_marker(self) -> None:
        area = self.query_one("#text", TextArea)
        for row, line in enumerate(area.text.split("\n")):
            if line == START_MARKER or line.startswith(START_MARKER + " "):
                area.move_cursor((row, 0), center=True)
                break
