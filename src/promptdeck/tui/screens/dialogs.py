"""Modal dialogs: a reason for every change, confirmations, conflicts, choices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Function, Integer, ValidationResult, Validator
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from promptdeck.records import NAME_RE
from promptdeck.tui.widgets.diff_view import DiffData, DiffView

REASON_REQUIRED = "A reason is required: say why (it cannot be empty)"


def required_message(field: str) -> str:
    """What an empty required field says: the reason's wording, or "A comment is required"."""
    return REASON_REQUIRED if field == "Reason" else f"A {field.lower()} is required"


class NotBlank(Validator):
    """Refuses empty and whitespace-only values."""

    def __init__(self, message: str = REASON_REQUIRED) -> None:
        super().__init__(failure_description=message)

    def validate(self, value: str) -> ValidationResult:
        return self.success() if value.strip() else self.failure()


def reason_input(placeholder: str = "Why? (required)", message: str = REASON_REQUIRED) -> Input:
    return Input(
        placeholder=placeholder,
        validators=[NotBlank(message)],
        validate_on=["changed", "submitted"],
        id="reason",
        select_on_focus=False,
    )


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another way out of a dialog, on ctrl+o: ``run`` gets the reason typed so far."""

    label: str
    run: Callable[[str], None]


class ChangeDialog(ModalScreen[str | None]):
    """Confirm a change with a reason: shows what changes, refuses an empty reason.

    Enter confirms (with a reason), escape cancels. Dismisses with the reason or None.
    The diff opens at the first change. ``alternative``: a second choice on ctrl+o.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "confirm", "Confirm", show=False, id="dialog.confirm"),
        Binding("ctrl+o", "alternative", "Other choice", show=False, id="dialog.alternative"),
    ]

    def __init__(
        self,
        title: str,
        details: list[Text],
        *,
        confirm: str,
        diff: DiffData | None = None,
        reason: str = "",
        alternative: Alternative | None = None,
        field: str = "Reason",
    ) -> None:
        super().__init__(classes="dialog")
        self._field = field
        self._title = title
        self._details = details
        self._confirm = confirm
        self._diff = diff
        self._reason = reason
        self._alternative = alternative

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box") as box:
            box.border_title = self._title
            for line in self._details:
                yield Static(line, classes="dialog-line")
            if self._diff is not None:
                yield DiffView(self._diff, id="dialog-diff", open_at_first_change=True)
            yield Label(self._field, classes="dialog-label")
            yield reason_input(
                "Why? (required)" if self._field == "Reason" else f"{self._field} (required)",
                required_message(self._field),
            )
            yield Static("", id="dialog-error")
            hint = Text.assemble(("enter", "bold"), f" {self._confirm} · ")
            if self._alternative is not None:
                hint.append_text(
                    Text.assemble(("ctrl+o", "bold"), f" {self._alternative.label} · ")
                )
            hint.append_text(Text.assemble(("escape", "bold"), " cancel"))
            yield Static(hint, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#dialog-error").display = False
        reason = self.query_one("#reason", Input)
        reason.cursor_blink = False
        if self._reason:
            reason.value = self._reason
        reason.focus()

    @on(Input.Submitted, "#reason")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        value = self.query_one("#reason", Input).value
        if not value.strip():
            error = self.query_one("#dialog-error", Static)
            error.update(Text(required_message(self._field)))
            error.display = True
            return
        self.dismiss(value.strip())

    def action_alternative(self) -> None:
        alternative = self._alternative
        if alternative is not None:
            reason = self.query_one("#reason", Input).value
            self.dismiss(None)
            alternative.run(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question for losing work: y confirms; escape, n, or enter on the
    focused cancel button (the safe default) cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel", id="confirm.no"),
        Binding("y", "answer(True)", "Confirm", id="confirm.yes"),
    ]

    def __init__(self, title: str, message: str, *, confirm: str, cancel: str) -> None:
        super().__init__(classes="dialog")
        self._title = title
        self._message = message
        self._confirm = confirm
        self._cancel = cancel

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box", classes="small") as box:
            box.border_title = self._title
            yield Static(Text(self._message), classes="dialog-line")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._confirm} (y)", id="yes", variant="error")
                yield Button(f"{self._cancel} (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


ConflictChoice = Literal["force", "merge", "back"]


class ConflictDialog(ModalScreen[ConflictChoice]):
    """Someone saved meanwhile: see what changed, then carry the edit onto their
    version (a three-way merge), save on top without their change, or go back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,b", "choose('back')", "Back to editing", id="conflict.back"),
        Binding("m", "choose('merge')", "Carry onto theirs", id="conflict.merge"),
        Binding("f", "choose('force')", "Save on top", id="conflict.force"),
    ]

    def __init__(self, message: str, diff: DiffData, label: str, *, latest: int) -> None:
        super().__init__(classes="dialog")
        self._message = message
        self._diff = diff
        self._label = label
        self._latest = latest

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box") as box:
            box.border_title = "Someone saved a newer version"
            yield Static(Text(self._message), classes="dialog-line")
            yield Static(Text(self._label, style="bold"), classes="dialog-line")
            yield DiffView(self._diff, id="dialog-diff", open_at_first_change=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"Carry onto v{self._latest} (m)", id="merge", variant="success")
                yield Button("Save on top (f)", id="force", variant="warning")
                yield Button("Back (b)", id="back", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#back", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        choices: dict[str | None, ConflictChoice] = {"force": "force", "merge": "merge"}
        self.dismiss(choices.get(event.button.id, "back"))

    def action_choose(self, choice: ConflictChoice) -> None:
        self.dismiss(choice)


@dataclass(frozen=True, slots=True)
class CanaryRequest:
    action: Literal["set", "stop", "promote"]
    reason: str
    version: int = 0
    percent: int = 0
    override_checks: bool = False  # the admin chose the labelled override


@dataclass(frozen=True, slots=True)
class CanaryOverrides:
    """Missing checks the canary dialog offers an admin to override: for a new canary
    of ``version`` (``set``) and for promoting the running one (``promote``)."""

    version: int | None = None
    set: str | None = None
    promote: str | None = None


class CanaryDialog(ModalScreen[CanaryRequest | None]):
    """Start or change a canary, stop it, or promote it to active.

    What the store would refuse (the active version, a version that does not exist,
    stopping or promoting when no canary runs) is refused here, in the error line,
    and the dialog stays open with the user's input.

    ``overrides``: checks the environment requires and the version lacks; the dialog
    names them, and the button that goes ahead says it overrides them (an admin's
    choice, recorded with the reason).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="canary.cancel"),
    ]

    def __init__(
        self,
        feature: str,
        environment: str,
        *,
        version: int | None,
        current: int | None,
        percent: int,
        active: int | None = None,
        versions: list[int] | None = None,
        new_percent: int | None = None,
        reason: str = "",
        error: str = "",
        overrides: CanaryOverrides | None = None,
    ) -> None:
        super().__init__(classes="dialog")
        self._overrides = overrides or CanaryOverrides()
        self._feature = feature
        self._environment = environment
        self._version = version
        self._current = current
        self._percent = percent
        self._active = active
        self._versions = versions
        self._new_percent = new_percent
        self._reason = reason
        self._error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box", classes="medium") as box:
            box.border_title = f"Canary · {self._feature} · {self._environment}"
            active = f"v{self._active}" if self._active is not None else "none"
            now = (
                f"Active: {active}. Canary: v{self._current} at {self._percent}% "
                f"(promote makes v{self._current} active, replacing {active})."
                if self._current is not None
                else f"Active: {active}. No canary running."
            )
            yield Static(Text(now), classes="dialog-line")
            overrides = self._overrides
            missing = (
                (f"v{overrides.version}", overrides.set),
                (f"promoting v{self._current}", overrides.promote),
            )
            for move, checks in missing:
                if checks is not None:
                    yield Static(
                        Text.assemble((f"Missing for {move}: ", "bold red"), checks),
                        classes="dialog-line",
                    )
            if overrides.set is not None or overrides.promote is not None:
                yield Static(
                    Text(
                        "A button marked 'override checks' goes ahead without them "
                        "(admins only; the history records it with your reason)",
                        style="bold yellow",
                    ),
                    classes="dialog-line",
                )
            with Horizontal(classes="dialog-row"):
                yield Label("Version", classes="dialog-label")
                yield Input(
                    str(self._version) if self._version is not None else "",
                    placeholder="number",
                    id="canary-version",
                    validators=[Integer(minimum=1)],
                    type="integer",
                )
                yield Label("Percent", classes="dialog-label")
                yield Input(
                    str(
                        self._new_percent if self._new_percent is not None else self._percent or 10
                    ),
                    id="canary-percent",
                    validators=[Integer(minimum=0, maximum=100)],
                    type="integer",
                )
            yield Label("Reason", classes="dialog-label")
            yield reason_input()
            yield Static("", id="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                if overrides.set is not None:
                    yield Button("Set · override checks", id="set", variant="error")
                else:
                    yield Button("Set canary", id="set", variant="primary")
                yield Button("Stop canary", id="stop", disabled=self._current is None)
                if overrides.promote is not None:
                    yield Button("Promote · override checks", id="promote", variant="error")
                else:
                    yield Button("Promote", id="promote", disabled=self._current is None)

    def on_mount(self) -> None:
        for widget in self.query(Input):
            widget.cursor_blink = False
        reason = self.query_one("#reason", Input)
        reason.value = self._reason
        self._show_error(self._error)
        reason.focus()

    def _show_error(self, message: str) -> None:
        error = self.query_one("#dialog-error", Static)
        error.update(Text(message))
        error.display = bool(message)

    def _version_problem(self, version: int, percent: int) -> str | None:
        """Why the store would refuse this canary, or None."""
        env = self._environment
        if self._versions is not None and version not in self._versions:
            return f"There is no v{version} of {self._feature}"
        if self._active is None:
            return f"Nothing is active in {env}: activate a version before starting a canary"
        if version == self._active:
            return f"v{version} is the active version: a canary must be another version"
        if version == self._current and percent == self._percent:
            return f"v{version} is already the canary at {percent}%"
        return None

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish("set")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "stop":
            self._finish("stop")
        elif event.button.id == "promote":
            self._finish("promote")
        else:
            self._finish("set")

    def _finish(self, action: Literal["set", "stop", "promote"]) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if action != "set" and self._current is None:
            self._show_error(f"No canary is running in {self._environment}")
            return
        if not reason:
            self._show_error(REASON_REQUIRED)
            self.query_one("#reason", Input).focus()
            return
        if action != "set":
            override = action == "promote" and self._overrides.promote is not None
            self.dismiss(CanaryRequest(action, reason, override_checks=override))
            return
        try:
            version = int(self.query_one("#canary-version", Input).value)
            percent = int(self.query_one("#canary-percent", Input).value)
        except ValueError:
            self._show_error("Version and percent must be whole numbers")
            return
        if not 0 <= percent <= 100:
            self._show_error("Percent must be from 0 to 100")
            self.query_one("#canary-percent", Input).focus()
            return
        problem = self._version_problem(version, percent)
        if problem is not None:
            self._show_error(problem)
            self.query_one("#canary-version", Input).focus()
            return
        # The override is for the version whose missing checks the dialog named.
        overrides = self._overrides
        override = overrides.set is not None and version == overrides.version
        self.dismiss(CanaryRequest("set", reason, version, percent, override_checks=override))

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True, slots=True)
class NewFeature:
    name: str
    model: str


class NewFeatureDialog(ModalScreen[NewFeature | None]):
    """Name and model of a new feature; its first prompt is written in the editor next."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="new.cancel")]

    def __init__(self, names: frozenset[str], model: str) -> None:
        super().__init__(classes="dialog")
        self._names = names
        self._model = model

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box", classes="medium") as box:
            box.border_title = "New feature"
            yield Label("Name (letters, digits, '.', '_', '-')", classes="dialog-label")
            yield Input(
                placeholder="e.g. churn-email",
                id="new-name",
                validators=[
                    Function(lambda v: bool(NAME_RE.match(v)) and len(v) <= 200, "Invalid name"),
                    Function(lambda v: v not in self._names, "That feature exists already"),
                ],
            )
            yield Label("Model", classes="dialog-label")
            yield Input(self._model, id="new-model", validators=[NotBlank("A model is required")])
            yield Static("", id="dialog-error")
            yield Static(
                Text.assemble(
                    ("enter", "bold"), " write its prompt · ", ("escape", "bold"), " cancel"
                ),
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#dialog-error").display = False
        for widget in self.query(Input):
            widget.cursor_blink = False
        self.query_one("#new-name", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = self.query_one("#new-name", Input)
        model = self.query_one("#new-model", Input)
        error = self.query_one("#dialog-error", Static)
        for field in (name, model):
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                error.update(Text("; ".join(result.failure_descriptions)))
                error.display = True
                field.focus()
                return
        self.dismiss(NewFeature(name.value.strip(), model.value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True, slots=True)
class EnvironmentChoice:
    """An environment picked from the list, or (``create``) a new one to create first."""

    name: str
    create: bool = False


class EnvironmentDialog(ModalScreen[EnvironmentChoice | None]):
    """Pick one of the environments the store knows. Creating a new one is a separate,
    explicit step (ctrl+n, admins only) so that a typo never becomes an environment.

    ``refused``: why this user may not create one (None: they may).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="env.cancel"),
        Binding("ctrl+n", "create", "New environment", id="env.create"),
    ]

    def __init__(
        self,
        environments: list[str],
        current: str,
        *,
        protected: frozenset[str] = frozenset(),
        refused: str | None = None,
    ) -> None:
        super().__init__(classes="dialog")
        self._environments = environments
        self._current = current
        self._protected = protected
        self._refused = refused

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box", classes="medium") as box:
            box.border_title = "Environment"
            yield OptionList(
                *[Option(self._label(name), id=name) for name in self._environments],
                id="env-list",
            )
            yield Label("New environment (letters, digits, '.', '_', '-')", id="env-new-label")
            yield Input(
                placeholder="e.g. staging",
                id="env-new",
                validators=[
                    Function(lambda v: bool(NAME_RE.match(v.strip())), "Invalid name"),
                    Function(
                        lambda v: v.strip() not in self._environments,
                        "That environment exists already: pick it in the list",
                    ),
                ],
            )
            yield Static("", id="dialog-error")
            yield Static(
                Text.assemble(
                    ("enter", "bold"),
                    " switch · ",
                    ("ctrl+n", "bold"),
                    " new environment" + (" (admins)" if self._refused else "") + " · ",
                    ("escape", "bold"),
                    " cancel",
                ),
                classes="dialog-hint",
                id="env-hint",
            )

    def _label(self, name: str) -> Text:
        return Text.assemble(
            ("● " if name == self._current else "  ", "bold"),
            name,
            ("  protected: reviewed versions only" if name in self._protected else "", "dim"),
        )

    def on_mount(self) -> None:
        for widget in (
            self.query_one("#env-new-label"),
            self.query_one("#env-new"),
            self.query_one("#dialog-error"),
        ):
            widget.display = False
        options = self.query_one(OptionList)
        if self._current in self._environments:
            options.highlighted = self._environments.index(self._current)
        options.focus()
        self.query_one(Input).cursor_blink = False

    def _show_error(self, message: str) -> None:
        error = self.query_one("#dialog-error", Static)
        error.update(Text(message))
        error.display = bool(message)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(EnvironmentChoice(event.option.id))

    def action_create(self) -> None:
        if self._refused is not None:
            self._show_error(self._refused)
            return
        self.query_one("#env-new-label").display = True
        name = self.query_one("#env-new", Input)
        name.display = True
        name.focus()
        self.query_one("#env-hint", Static).update(
            Text.assemble(
                ("enter", "bold"), " create (asks first) · ", ("escape", "bold"), " cancel"
            )
        )

    @on(Input.Submitted, "#env-new")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        result = event.validation_result
        if result is not None and not result.is_valid:
            self._show_error("; ".join(result.failure_descriptions))
            return
        self.dismiss(EnvironmentChoice(event.value.strip(), create=True))

    def action_cancel(self) -> None:
        self.dismiss(None)
