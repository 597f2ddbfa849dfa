"""The promptdeck terminal app: browse, diff, edit with a reason, activate and roll back.

The app talks to a :class:`~promptdeck.store.PromptStore` only, and every store call
runs in a thread worker; results come back as messages or through ``call_from_thread``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, Protocol, runtime_checkable

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen

from promptdeck.errors import PromptDeckError
from promptdeck.permissions import Action, allowed, refusal
from promptdeck.records import DEFAULT_ENVIRONMENT, Role
from promptdeck.store import PromptStore

NO_REMOTE = "No remote configured: start with --remote URL or set PROMPTDECK_REMOTE"


def utcnow() -> datetime:
    return datetime.now(UTC)


@runtime_checkable
class Explains(Protocol):
    """A screen that says why a greyed-out action is not available."""

    def why_disabled(self, action: str) -> str | None: ...


@runtime_checkable
class OffersCommands(Protocol):
    """A screen whose actions also appear in the command palette."""

    def palette_commands(self) -> Iterable[tuple[str, str, str]]:
        """(title, help, action) triples."""
        ...


class PromptDeckApp(App[None]):
    """Browse features and versions, diff, edit, activate, roll back."""

    CSS_PATH = "app.tcss"
    TITLE = "promptdeck"
    ENABLE_COMMAND_PALETTE = True

    # While a text field has focus, q and ? type themselves: check_action hides them
    # from the footer then, and ctrl+q / f1 (which always work) are shown instead.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+q", "quit_anywhere", "Quit", priority=True, id="app.quit-anywhere"),
        Binding("f1", "help_anywhere", "Help", id="app.help-anywhere"),
        Binding("s", "sync", "Sync", show=False, id="app.sync"),
    ]

    def __init__(
        self,
        store: PromptStore,
        *,
        environment: str = DEFAULT_ENVIRONMENT,
        remote_url: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.environment = environment
        self.remote_url = remote_url
        self.user = store.user
        self.role: Role | None = None  # known after the first load
        self.unpushed: int | None = None  # local changes not pushed to the remote
        self.to_review: int | None = None  # versions in the review queue
        self.synced = True  # False: never synced with the remote, so no count is known
        # The clock used for relative ages; tests replace it for stable pictures.
        self.now: Callable[[], datetime] = utcnow

    # -- start -----------------------------------------------------------------------

    def on_mount(self) -> None:
        from promptdeck.tui.screens.main import MainScreen

        self.update_header()
        self.push_screen(MainScreen())

    def update_header(self) -> None:
        role = f" ({self.role})" if self.role else ""
        unpushed = f" · {self.unpushed} unpushed" if self.unpushed else ""
        to_review = f" · {self.to_review} to review" if self.to_review else ""
        if not self.synced:
            unpushed = " · not synced yet"
        self.sub_title = f"env: {self.environment} · {self.user}{role}{to_review}{unpushed}"

    @property
    def typing(self) -> bool:
        """True while a text field has focus (letter keys go into it)."""
        from textual.widgets import Input, TextArea

        return isinstance(self.focused, Input | TextArea)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("quit", "help"):
            return not self.typing  # the key types a character: do not show it
        if action in ("quit_anywhere", "help_anywhere"):
            return self.typing  # shown only while typing; q and ? serve otherwise
        return True

    # -- roles -----------------------------------------------------------------------

    # The same table the store checks every write against (promptdeck.permissions):
    # what is greyed out here is exactly what the store would refuse.

    def allows(self, action: Action) -> bool:
        if self.role is None:
            return True  # not known yet: the store refuses what is not allowed anyway
        return allowed(self.role, action)

    def refusal(self, action: Action) -> str:
        """The one line that explains a refused key, e.g. "victor is a viewer; to save
        a version you must be an editor"."""
        return refusal(self.user, self.role or "viewer", action)

    # -- writes ----------------------------------------------------------------------

    def attempt_write(
        self,
        done: str,
        call: Callable[[], object],
        refused: Callable[[str], None] | None = None,
    ) -> bool:
        """In a thread worker: one store write, then (on the UI thread) ``done`` as a
        notification, or the store's refusal: to ``refused`` if given, else notified.
        True when the write was done (the caller then reloads what it shows)."""
        try:
            call()
        except PromptDeckError as exc:
            if refused is not None:
                self.call_from_thread(refused, str(exc))
            else:
                self.call_from_thread(
                    self.notify, str(exc), title="Refused", severity="error", markup=False
                )
            return False
        self.call_from_thread(self.notify, done, markup=False)
        return True

    async def run_action(
        self,
        action: str | Any,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Run an action; a greyed-out one says why instead of doing nothing."""
        target, name, params = self._parse_action(
            action, self if default_namespace is None else default_namespace, namespaces
        )
        # None: greyed out; False: hidden from the footer (a key another one stands in
        # for). Either way, a reason to give is given instead of doing nothing.
        if isinstance(target, Explains) and not target.check_action(name, params):
            reason = target.why_disabled(name)
            if reason:
                self.notify(reason, title="Not available", severity="warning", markup=False)
                return True
        return await super().run_action(action, default_namespace, namespaces)

    # -- palette ---------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        if isinstance(screen, OffersCommands):
            for title, help_text, action in screen.palette_commands():
                yield SystemCommand(
                    title, help_text, partial(self.call_later, self.run_action, action, screen)
                )
        yield SystemCommand("Help", "Keys and what they do", self.action_help)
        yield SystemCommand("Sync", "Push and pull with the remote store", self.action_sync)
        yield SystemCommand("Quit", "Leave promptdeck", self.action_quit)
        yield from super().get_system_commands(screen)

    # -- app actions -----------------------------------------------------------------

    def action_help(self) -> None:
        """Help, opened at the keys of the screen the user is on."""
        from promptdeck.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(getattr(self.screen, "HELP_SECTION", None)))

    def action_help_anywhere(self) -> None:
        self.action_help()

    async def action_quit_anywhere(self) -> None:
        await self.action_quit()

    def action_sync(self) -> None:
        if self.remote_url is None:
            self.notify(NO_REMOTE, title="Sync", severity="warning", markup=False)
            return
        from promptdeck.tui.screens.main import MainScreen
        from promptdeck.tui.screens.sync import SyncScreen

        # Where the user was: the reload after the sync view goes back there (a pull
        # may add features before it, and the reload must not land on the first one).
        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        place = (main.feature, main.selected_number) if main is not None else (None, None)

        def synced(_changed: bool | None) -> None:
            # Reload either way: a push changes the unpushed count, a pull the lists.
            if main is not None:
                main.reload(keep=place[0], select=place[1])

        self.push_screen(SyncScreen(self.store, self.remote_url), synced)

    async def action_quit(self) -> None:
        from promptdeck.tui.screens.dialogs import ConfirmDialog
        from promptdeck.tui.screens.editor import EditorScreen

        dirty = [s for s in self.screen_stack if isinstance(s, EditorScreen) and s.dirty]
        if not dirty:
            self.exit()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.exit()

        self.push_screen(
            ConfirmDialog(
                "Quit with unsaved changes?",
                f"Your edit of {dirty[0].feature} is not saved. Quit and lose it?",
                confirm="Quit, discard edits",
                cancel="Keep editing",
            ),
            answered,
        )


def run_app(
    store: PromptStore,
    environment: str = DEFAULT_ENVIRONMENT,
    remote_url: str | None = None,
) -> None:
    """Open the terminal app on ``store`` (blocks until the user quits)."""
    PromptDeckApp(store, environment=environment, remote_url=remote_url).run()
