"""The main screen: features, the selected feature's versions, and a preview.

Every key of the app starts here. The screen holds what is shown and loads it in
workers; its parts live beside it: the versions table (main_versions.py); the keys,
when each is available or shown, and the palette (main_keys.py); editing and the moves
of what is served (main_actions.py); the governance keys (main_governance.py); the
dialogs (dialogs.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from promptdeck.errors import PromptDeckError
from promptdeck.records import (
    Deployment,
    Environment,
    FeatureSummary,
    ReviewState,
    Role,
    Version,
    VersionSummary,
)
from promptdeck.tui.screens import main_actions, main_governance, main_keys
from promptdeck.tui.screens.main_versions import VersionsTable, preview_meta
from promptdeck.tui.text import highlight_prompt, plural
from promptdeck.tui.widgets.feature_list import FeatureList

if TYPE_CHECKING:
    from promptdeck.tui.app import PromptDeckApp

DEBOUNCE = 0.06  # seconds: rapid cursor moves load only where the cursor stops
# Seconds between looks at the store's revision (one indexed read): a save, activation
# or sync made elsewhere (the CLI, another app) reloads the lists and the header.
POLL_INTERVAL = 2.0
CACHE_SIZE = 64


class FilterInput(Input):
    """The features filter. Typing takes the letter keys, so the footer shows these."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Versions", id="filter.submit"),
        Binding("escape", "screen.clear_filter", "Clear filter", id="filter.clear"),
        Binding("down", "screen.focus_features", "List", id="filter.list"),
    ]


class MainScreen(Screen[None]):
    """Browse features and versions; every action is one key away."""

    HELP_SECTION = "Main screen"  # help opens at these keys
    BINDINGS = main_keys.BINDINGS

    # -- messages from workers --------------------------------------------------------

    @dataclass
    class FeaturesLoaded(Message):
        features: list[FeatureSummary]
        role: Role
        environments: list[Environment]
        keep: str | None  # the feature to stay on
        select: int | None  # the version to move to
        unpushed: int | None = None
        to_review: int | None = None
        revision: int | None = None  # the store revision read before the lists
        synced: bool = True  # False: never synced with the remote (count unknown)

    @dataclass
    class VersionsLoaded(Message):
        feature: str
        versions: list[VersionSummary]
        deployment: Deployment
        select: int | None
        reviews: dict[int, ReviewState]
        check_states: dict[int, str] = field(default_factory=dict)

    @dataclass
    class PreviewLoaded(Message):
        version: Version
        text: Text

    @dataclass
    class Failed(Message):
        message: str

    # -- state -----------------------------------------------------------------------

    def __init__(self) -> None:
        super().__init__()
        self.feature: str | None = None
        self.versions: list[VersionSummary] = []
        self.deployment: Deployment | None = None
        self.check_states: dict[int, str] = {}  # version -> passed / failed / not run
        self.marked: list[int] = []
        self.environments: list[Environment] = []
        self.reviews: dict[int, ReviewState] = {}  # of the shown feature's versions
        self._preview_for: tuple[str, int] | None = None
        self._cache: OrderedDict[tuple[str, int], tuple[Version, Text]] = OrderedDict()
        self._versions_timer: Timer | None = None
        self._preview_timer: Timer | None = None
        self._pending_select: int | None = None
        self._revision: int | None = None  # the store revision the lists show

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    @property
    def selected_number(self) -> int | None:
        table = self.query_one("#versions", DataTable)
        if not self.versions or table.row_count == 0 or self.versions[0].feature != self.feature:
            return None  # nothing shown, or still showing the previous feature's versions
        row = table.cursor_row
        return self.versions[row].number if 0 <= row < len(self.versions) else None

    # -- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="main"):
            with Vertical(id="features-pane") as pane:
                pane.border_title = "Features"
                yield FilterInput(placeholder="/ to filter", id="filter", select_on_focus=False)
                yield FeatureList(id="features")
            with Vertical(id="right-pane"):
                table = VersionsTable(id="versions", cursor_type="row", zebra_stripes=False)
                table.border_title = "Versions"
                yield table
                with VerticalScroll(id="preview-pane") as preview:
                    preview.border_title = "Preview"
                    yield Static(id="meta")
                    yield Static(id="preview")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.cursor_blink = False
        features = self.query_one(FeatureList)
        features.empty_text = "Loading…"
        features.focus()
        self.load_features()
        self.set_interval(POLL_INTERVAL, self._poll, name="poll-revision")

    # -- loading (workers) -----------------------------------------------------------

    def reload(self, keep: str | None = None, select: int | None = None) -> None:
        """Reload everything after a write, keeping (or moving to) a feature and version."""
        self._cache.clear()
        self.load_features(keep if keep is not None else self.feature, select)

    @work(thread=True, exclusive=True, group="features")
    def load_features(self, keep: str | None = None, select: int | None = None) -> None:
        store = self.deck.store
        try:
            revision = store.revision()  # read first: a write after it is seen by the poll
            features = store.features(self.deck.environment)
            role = store.role()
            environments = store.governance.environments()
            to_review = store.governance.pending_count(self.deck.environment)
            unpushed, synced = None, True
            if self.deck.remote_url is not None:
                # Local bookkeeping only, no network: the sync view's "to push" count.
                from promptdeck.sync import pending_changes, synced_before

                synced = synced_before(store, self.deck.remote_url)
                unpushed = pending_changes(store, self.deck.remote_url) if synced else None
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(
            self.FeaturesLoaded(
                features, role, environments, keep, select, unpushed, to_review, revision, synced
            )
        )

    def _busy(self) -> bool:
        """A load or a write of this screen is under way (it reloads by itself)."""
        return any(
            worker.group in ("features", "write", "poll") and not worker.is_finished
            for worker in self.app.workers
        )

    def _poll(self) -> None:
        if self._revision is not None and not self._busy():
            self.poll_revision()

    # Not exclusive: a slow look is never cancelled (a waiting caller would see the
    # cancellation); _poll starts none while one is under way.
    @work(thread=True, group="poll")
    def poll_revision(self) -> None:
        """Reload when someone else wrote to the store (the CLI, another app, a sync)."""
        try:
            revision = self.deck.store.revision()
        except PromptDeckError:
            return  # unreachable for now: the next look tries again
        self.app.call_from_thread(self._revision_read, revision)

    def _revision_read(self, revision: int) -> None:
        loading = any(
            worker.group in ("features", "write") and not worker.is_finished
            for worker in self.app.workers
        )
        if revision != self._revision and not loading:
            self._revision = revision  # one reload per change, however slow it is
            self.reload()

    @on(FeaturesLoaded)
    def _features_loaded(self, message: FeaturesLoaded) -> None:
        self.deck.role = message.role
        self.deck.unpushed = message.unpushed
        self.deck.to_review = message.to_review
        self.deck.synced = message.synced
        if message.revision is not None:
            self._revision = message.revision
        self.deck.update_header()
        self.environments = message.environments
        features = self.query_one(FeatureList)
        features.empty_text = "No features yet: press n to create one"
        self._pending_select = message.select
        if message.keep is not None and message.keep == self.feature:
            # Same feature: reload its versions explicitly (the highlight will not change).
            features.set_features(message.features, keep=message.keep)
            self.load_versions(message.keep, message.select)
        else:
            features.set_features(message.features, keep=message.keep)
        self.refresh_bindings()

    @on(FeatureList.Highlighted)
    def _feature_highlighted(self, message: FeatureList.Highlighted) -> None:
        name = message.feature.name if message.feature else None
        if name == self.feature and self.versions:
            return
        self.feature = name
        self.marked.clear()
        if self._versions_timer is not None:
            self._versions_timer.stop()
        if name is None:
            self._show_versions([], None)
            return
        select = self._pending_select
        self._pending_select = None
        self._versions_timer = self.set_timer(
            DEBOUNCE, lambda: self.load_versions(name, select), name="load-versions"
        )

    @work(thread=True, exclusive=True, group="versions")
    def load_versions(self, feature: str, select: int | None = None) -> None:
        store = self.deck.store
        try:
            versions = store.versions(feature)
            deployment = store.deployment(feature, self.deck.environment)
            reviews = store.governance.states(feature)
            # The checks column only for a feature with a suite: "not run" says nothing else.
            has_suite = store.checks.suite(feature) is not None
            checks: dict[int, str] = dict(store.checks.states(feature)) if has_suite else {}
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(
            self.VersionsLoaded(feature, versions, deployment, select, reviews, checks)
        )

    @on(VersionsLoaded)
    def _versions_loaded(self, message: VersionsLoaded) -> None:
        if message.feature != self.feature:
            return  # the cursor moved on meanwhile
        self.reviews = message.reviews
        self.check_states = message.check_states
        self._show_versions(message.versions, message.deployment, message.select)

    def _show_versions(
        self,
        versions: list[VersionSummary],
        deployment: Deployment | None,
        select: int | None = None,
    ) -> None:
        table = self.query_one("#versions", DataTable)
        previous = self.selected_number if self.versions else None
        same_feature = bool(
            self.versions and versions and self.versions[0].feature == versions[0].feature
        )
        self.versions = versions
        self.deployment = deployment
        # Where the cursor goes: the version asked for, else (same feature, after a
        # reload) where it was, else (another feature) the active version, else the top.
        target = select if select is not None else (previous if same_feature else None)
        if target is None and deployment is not None:
            target = deployment.active
        numbers = [summary.number for summary in versions]
        self._fill_table(row=numbers.index(target) if target in numbers else 0)
        table.border_title = f"Versions · {versions[0].feature}" if versions else "Versions"
        self._update_versions_subtitle()
        if not versions:
            self._preview_for = None
            filtered = bool(self.query_one("#filter", Input).value.strip())
            empty = "No feature matches the filter" if filtered else "No feature selected"
            self.query_one("#meta", Static).update(Text(empty, style="dim"))
            self.query_one("#preview", Static).update("")
            self.query_one("#preview-pane", VerticalScroll).border_subtitle = ""
        else:
            self._schedule_preview()
        self.refresh_bindings()

    def _update_versions_subtitle(self) -> None:
        table = self.query_one("#versions", DataTable)
        if not self.versions:
            table.border_subtitle = ""
        elif len(self.marked) == 2:
            table.border_subtitle = f"v{self.marked[0]} and v{self.marked[1]} marked: d diffs them"
        elif self.marked:
            table.border_subtitle = f"v{self.marked[0]} marked: mark one more to diff"
        else:
            table.border_subtitle = plural(len(self.versions), "version")

    def _fill_table(self, row: int | None = None) -> None:
        """(Re)build the versions table with the cursor on ``row`` (default: where it is)."""
        self.query_one(VersionsTable).fill(
            self.versions,
            deployment=self.deployment,
            reviews=self.reviews,
            check_states=self.check_states,
            marked=self.marked,
            now=self.deck.now(),
            row=row,
        )

    def on_resize(self) -> None:
        self.refresh_bindings()  # the footer shows more keys when wide
        if self.versions and self.query_one(VersionsTable).needs_refit:
            self.call_after_refresh(self._fill_table)

    @on(DataTable.RowHighlighted, "#versions")
    def _version_highlighted(self, _message: DataTable.RowHighlighted) -> None:
        self._schedule_preview()
        self.refresh_bindings()

    def _schedule_preview(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
        number = self.selected_number
        if self.feature is None or number is None:
            return
        key = (self.feature, number)
        if key in self._cache:
            version, text = self._cache[key]
            self._show_preview(version, text)
            return
        self._preview_timer = self.set_timer(
            DEBOUNCE, lambda: self.load_preview(*key), name="load-preview"
        )

    @work(thread=True, exclusive=True, group="preview")
    def load_preview(self, feature: str, number: int) -> None:
        try:
            version = self.deck.store.version(feature, number)
        except PromptDeckError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.PreviewLoaded(version, highlight_prompt(version.system_prompt)))

    @on(PreviewLoaded)
    def _preview_loaded(self, message: PreviewLoaded) -> None:
        version = message.version
        key = (version.feature, version.number)
        self._cache[key] = (version, message.text)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        if key == (self.feature, self.selected_number):
            self._show_preview(version, message.text)

    def _show_preview(self, version: Version, text: Text) -> None:
        key = (version.feature, version.number)
        if self._preview_for == key:
            return
        self._preview_for = key
        meta = preview_meta(version, self.deck.now())
        self.query_one("#meta", Static).update(meta)
        self.query_one("#preview", Static).update(text)
        pane = self.query_one("#preview-pane", VerticalScroll)
        pane.scroll_home(animate=False)
        pane.border_subtitle = f"v{version.number}"

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.notify(message.message, severity="error", markup=False)

    # -- filter ----------------------------------------------------------------------

    def action_filter(self) -> None:
        # Now, not through focus() (which waits its turn behind keys already queued):
        # a name typed right after / goes into the filter even while the app is busy.
        self.set_focus(self.query_one("#filter", Input))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(FeatureList).set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        """Enter in the filter: the feature is found, go to its versions."""
        self.query_one("#versions", DataTable).focus()

    def key_escape(self) -> None:
        self.action_clear_filter()

    def action_clear_filter(self) -> None:
        """Escape clears the filter (the feature under the cursor stays selected) and
        goes back to the features list."""
        filter_input = self.query_one("#filter", Input)
        if filter_input.has_focus or filter_input.value:
            filter_input.value = ""
            self.query_one(FeatureList).set_filter("")  # now, not when Changed arrives
            self.query_one(FeatureList).focus()

    @on(FeatureList.Selected)
    def _feature_selected(self) -> None:
        self.query_one("#versions", DataTable).focus()

    def action_focus_features(self) -> None:
        self.query_one(FeatureList).focus()

    def action_focus_versions(self) -> None:
        self.query_one("#versions", DataTable).focus()

    # -- enabling (tui/screens/main_keys.py) ------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return main_keys.check_action(self, action, parameters)

    def why_disabled(self, action: str) -> str | None:
        return main_keys.why_disabled(self, action)

    def palette_commands(self) -> Iterable[tuple[str, str, str]]:
        return main_keys.palette_commands()

    # -- actions ---------------------------------------------------------------------

    def action_mark(self) -> None:
        number = self.selected_number
        if number is None:
            return
        if number in self.marked:
            self.marked.remove(number)
        else:
            self.marked.append(number)
            del self.marked[:-2]
        self.query_one(VersionsTable).show_marks(self.versions, self.marked)
        # Said in the table's border, not in a toast that would cover the diff.
        self._update_versions_subtitle()

    def action_diff(self) -> None:
        from promptdeck.tui.screens.diff import DiffScreen

        feature, number = self.feature, self.selected_number
        if feature is None or number is None:
            return
        active = self.deployment.active if self.deployment else None
        if len(self.marked) == 2:
            old, new = sorted(self.marked)
        elif active is not None and active != number:
            old, new = active, number
        else:
            summary = next(s for s in self.versions if s.number == number)
            if summary.parent is None and number == self.versions[-1].number:
                self.notify("v1 has nothing before it to compare with", markup=False)
                return
            old, new = summary.parent or number - 1, number
        self.app.push_screen(DiffScreen(feature, old, new, active=active))

    def action_checks(self) -> None:
        if self.feature is None or self.selected_number is None:
            return
        from promptdeck.tui.screens.checks import ChecksScreen

        feature = self.feature

        def closed(_result: None) -> None:
            self.reload(feature, None)

        self.app.push_screen(ChecksScreen(feature, self.selected_number), closed)

    def action_history(self) -> None:
        from promptdeck.tui.screens.history import HistoryScreen

        if self.feature is not None:
            self.app.push_screen(HistoryScreen(self.feature))

    # Governance keys (environments, reviews, the gate): tui/screens/main_governance.py.

    def action_experiment(self) -> None:
        from promptdeck.tui.screens.experiment import ExperimentScreen

        if self.feature is not None:
            self.app.push_screen(ExperimentScreen(self.feature), lambda _: self.reload(None, None))

    def action_monitor(self) -> None:
        from promptdeck.tui.screens.monitor import MonitorScreen

        if self.feature is not None:
            self.app.push_screen(MonitorScreen(self.feature))

    def action_environment(self) -> None:
        main_governance.choose_environment(self)

    def action_reviews(self) -> None:
        from promptdeck.tui.screens.review import ReviewQueueScreen

        self.app.push_screen(ReviewQueueScreen(), lambda _: self.reload())

    async def action_wide(self, action: str) -> None:
        await self.run_action(action)

    def action_ask_review(self) -> None:
        self.action_request_review()

    def action_request_review(self) -> None:
        if self.feature is not None and self.selected_number is not None:
            main_governance.request_review(self, self.feature, self.selected_number)

    def action_edit(self) -> None:
        if self.feature is not None and self.selected_number is not None:
            main_actions.open_editor(self, self.feature, self.selected_number)

    def action_new_feature(self) -> None:
        main_actions.new_feature(self)

    def last_model(self) -> str:
        """The model of the version looked at last (a new feature's default)."""
        return self._cache[next(reversed(self._cache))][0].model if self._cache else ""

    def cached_version(self, feature: str, number: int) -> Version:
        """In a worker: the version from the preview cache, else from the store."""
        cached = self._cache.get((feature, number))
        return cached[0] if cached else self.deck.store.version(feature, number)

    # What is served (activate, roll back, canary), edits: tui/screens/main_actions.py.

    def action_activate(self) -> None:
        if self.feature is None or self.selected_number is None:
            return
        active = self.deployment.active if self.deployment else None
        main_actions.confirm_move(self, "activate", self.feature, active, self.selected_number)

    def action_rollback(self) -> None:
        if self.feature is None or self.deployment is None or not self.deployment.previous:
            return
        target = self.deployment.previous[-1]
        main_actions.confirm_move(self, "rollback", self.feature, self.deployment.active, target)

    def action_canary(self) -> None:
        if self.feature is None or self.selected_number is None:
            return
        running = self.deployment is not None and self.deployment.canary is not None
        main_actions.check_canary(self, self.feature, main_actions.canary_default(self), running)

    @work(thread=True, group="write")
    def write(
        self,
        done: str,
        call: Callable[[], object],
        select: int | None = None,
        refused: Callable[[str], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        """Run one store write; report the result; reload.

        ``refused``: called (on the UI thread) with the store's message when the write
        is refused, e.g. to open the dialog again with the user's input. ``after``:
        called (on the UI thread) instead of the reload once the write is done.
        """
        if not self.deck.attempt_write(done, call, refused):
            return
        if after is not None:
            self.app.call_from_thread(after)
        else:
            self.app.call_from_thread(self.reload, None, select)
