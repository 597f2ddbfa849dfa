"""The checks view of one version: its suite's cases, the latest run, and running it.

``r`` runs the suite in a thread worker: the progress bar and the cases fill in as
answers are judged, the app stays responsive, and escape (or ``x``) cancels the run,
which then records nothing. ``e`` edits the suite as YAML and saves it with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, ProgressBar, Static, TextArea
from textual.widgets.data_table import ColumnKey

from promptdeck.display import visible
from promptdeck.errors import PromptDeckError
from promptdeck.tui.text import one_line

if TYPE_CHECKING:
    from promptdeck.checks.records import CheckRun, SuiteRevision
    from promptdeck.checks.runner import CancelToken, CaseResult, Progress, SuiteRun
    from promptdeck.tui.app import PromptDeckApp

STATUS_STYLES = {"passed": "bold green", "failed": "bold red", "error": "bold yellow"}
ANSWER_CHARS = 2000
CASE_WIDTH = 40  # the case column at least; wider where the terminal has room
CASE_ROOM_FOR_FAILURE = 80  # result, passes, cell padding, borders and 60 for the failure


class ChecksScreen(Screen[None]):
    """Cases, pass/fail, the answer beside the failed assertion, cost and time."""

    HELP_SECTION = "Checks"  # help opens at these keys
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="checks.back"),
        Binding("r", "run", "Run suite", id="checks.run"),
        Binding("x", "cancel", "Cancel run", id="checks.cancel"),
        Binding("e", "edit_suite", "Edit suite", id="checks.edit"),
    ]

    def __init__(self, feature: str, number: int) -> None:
        super().__init__()
        self.feature = feature
        self.number = number
        self.suite: SuiteRevision | None = None
        self.run_data: Mapping[str, Any] | None = None
        self.case_results: dict[str, CaseResult] = {}
        self.cancel_token: CancelToken | None = None

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    @property
    def running(self) -> bool:
        return self.cancel_token is not None

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="checks-body"):
            yield Static(id="checks-summary")
            yield ProgressBar(id="checks-progress", show_eta=False)
            table: DataTable[Text] = DataTable(id="checks-cases", cursor_type="row")
            table.border_title = f"Checks · {self.feature} v{self.number}"
            yield table
            with VerticalScroll(id="checks-detail-pane") as pane:
                pane.border_title = "Failed assertion and answer"
                yield Static(id="checks-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#checks-cases", DataTable)
        table.add_column("case", key="case", width=CASE_WIDTH)
        table.add_column("result", key="result", width=8)
        table.add_column("passes", key="passes", width=8)
        table.add_column("first failure", key="failure")
        self.query_one("#checks-progress", ProgressBar).display = False
        table.focus()
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running  # shown only while a run is going
        if action in ("run", "edit_suite"):
            return not self.running or None
        return True

    # -- loading ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="checks-load")
    def load(self) -> None:
        store = self.deck.store
        try:
            suite = store.checks.suite(self.feature)
            latest = store.checks.latest_run(self.feature, self.number) if suite else None
        except PromptDeckError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show, suite, latest)

    def _failed(self, message: str) -> None:
        self.notify(message, title="Checks", severity="error", markup=False)

    def _show(self, suite: SuiteRevision | None, latest: CheckRun | None) -> None:
        from promptdeck.checks.runner import SuiteRun

        self.suite = suite
        self.case_results = {}
        self.run_data = None
        if latest is not None:
            run = SuiteRun.from_data(latest.results)
            self.run_data = latest.results
            self.case_results = {case.name: case for case in run.cases}
            self._summarise(run, latest.runner)
        else:
            self._summarise(None, None)
        self._fill_cases()
        self.refresh_bindings()

    def _summarise(self, run: SuiteRun | None, runner: str | None) -> None:
        summary = self.query_one("#checks-summary", Static)
        if self.suite is None:
            summary.update(
                Text(f"{self.feature} has no suite: e writes one (YAML, saved with a reason)")
            )
            return
        cases = len(self.suite.body.get("cases") or [])
        head = Text.assemble((f"suite #{self.suite.number}", "bold"), f" · {cases} case(s) · ")
        if run is None:
            head.append("not run against this version: r runs it", style="dim")
        else:
            cost = "cost unknown" if run.cost is None else f"${run.cost:.4f}"
            head.append(run.status, style=STATUS_STYLES.get(run.status, ""))
            head.append(
                f" · {cost} · {run.duration_s:.1f} s · {run.finished_at:%Y-%m-%d %H:%M}"
                + (f" by {runner}" if runner else "")
            )
            for problem in run.static_problems:
                head.append(f"\nstatic: {visible(str(problem))}", style="red")
        summary.update(head)

    def _case_names(self) -> list[str]:
        return [str(c["name"]) for c in (self.suite.body.get("cases") or [])] if self.suite else []

    def _fill_cases(self) -> None:
        table = self.query_one("#checks-cases", DataTable)
        row = table.cursor_row
        table.clear()
        names = self._case_names()
        # Set before the rows go in: a row is rendered at its columns' widths.
        table.columns[ColumnKey("case")].width = self._case_width(names)
        for name in names:
            table.add_row(*self._cells(name), key=name)
        if names:
            table.move_cursor(row=min(max(row, 0), len(names) - 1), animate=False)
        self._show_detail()

    def _case_width(self, names: list[str]) -> int:
        """Case names get the room a wide terminal has (40 columns at least), keeping
        CASE_ROOM_FOR_FAILURE for the first failure."""
        room = self.size.width - CASE_ROOM_FOR_FAILURE
        longest = max((cell_len(visible(name)) for name in names), default=0)
        return max(CASE_WIDTH, min(longest, room))

    def on_resize(self) -> None:
        # Rows are rebuilt only when the case column's width changes, not on every
        # resize event (a height change, a width past the longest name).
        fitted = self.query_one("#checks-cases", DataTable).columns[ColumnKey("case")].width
        if self.suite is not None and self._case_width(self._case_names()) != fitted:
            self._fill_cases()

    def _cells(self, name: str) -> list[Text]:
        case = self.case_results.get(name)
        if case is None:
            waiting = "running" if self.running else "not run"
            return [Text(visible(name)), Text(waiting, style="dim"), Text(""), Text("")]
        failure = _first_failure(case)
        return [
            Text(visible(name), no_wrap=True, overflow="ellipsis"),
            Text(case.status, style=STATUS_STYLES.get(case.status, "")),
            Text(f"{case.passes}/{len(case.repeats)}"),
            Text(visible(failure), no_wrap=True, overflow="ellipsis"),
        ]

    @on(DataTable.RowHighlighted, "#checks-cases")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#checks-detail", Static)
        table = self.query_one("#checks-cases", DataTable)
        if table.row_count == 0:
            detail.update("")
            return
        name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        case = self.case_results.get(name)
        if case is None:
            detail.update(Text("No result yet for this case.", style="dim"))
            return
        text = Text()
        for repeat in case.repeats:
            text.append(f"#{repeat.repeat} {repeat.status}", STATUS_STYLES.get(repeat.status))
            text.append(f"  {repeat.latency_ms:.0f} ms\n", style="dim")
            if repeat.error:
                text.append(f"  {visible(repeat.error)}\n", style="yellow")
            for outcome in repeat.failed_assertions:
                text.append(f"  ✗ {visible(outcome.assertion.describe())}: ", style="red")
                text.append(f"{visible(outcome.result.reason)}\n")
            if repeat.answer is not None and (repeat.failed_assertions or case.status != "passed"):
                answer = repeat.answer[:ANSWER_CHARS]
                text.append("  answer: ", style="dim")
                text.append(visible(answer) + "\n")
        detail.update(text)

    # -- running -----------------------------------------------------------------------

    def action_back(self) -> None:
        if self.running:
            self.action_cancel()
        self.app.pop_screen()

    def action_cancel(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()

    def action_run(self) -> None:
        if self.running:
            return
        if self.suite is None:
            self.notify("no suite to run: e writes one", severity="warning", markup=False)
            return
        from promptdeck.checks.runner import CancelToken

        self.cancel_token = CancelToken()
        self.case_results = {}
        bar = self.query_one("#checks-progress", ProgressBar)
        bar.update(total=sum(int(c.get("repeat", 1)) for c in self.suite.body["cases"]), progress=0)
        bar.display = True
        self._fill_cases()
        self.refresh_bindings()
        self.run_suite(self.cancel_token)

    @work(thread=True, exclusive=True, group="checks-run")
    def run_suite(self, token: CancelToken) -> None:
        from promptdeck.checks import store_run
        from promptdeck.checks.runner import RunCancelled

        store = self.deck.store
        try:
            planned = store_run.plan(store, self.feature, self.number, self.deck.environment)
            _run, stored = store_run.run_and_record(
                store,
                planned,
                on_progress=lambda p: self.app.call_from_thread(self._progress, p),
                cancel=token,
            )
        except RunCancelled:
            self.app.call_from_thread(self._finished, "Run cancelled: nothing was recorded")
            return
        except PromptDeckError as exc:
            self.app.call_from_thread(self._finished, str(exc), True)
            return
        self.app.call_from_thread(self._finished, f"Checks {stored.describe()}")

    def _progress(self, progress: Progress) -> None:
        bar = self.query_one("#checks-progress", ProgressBar)
        bar.update(total=progress.total, progress=progress.done)
        if progress.case_result is not None:
            name = progress.case_result.name
            self.case_results[name] = progress.case_result
            table = self.query_one("#checks-cases", DataTable)
            for column, cell in zip(
                ("case", "result", "passes", "failure"), self._cells(name), strict=True
            ):
                table.update_cell(name, column, cell)
            self._show_detail()

    def _finished(self, message: str, failed: bool = False) -> None:
        self.cancel_token = None
        self.query_one("#checks-progress", ProgressBar).display = False
        self.notify(message, severity="error" if failed else "information", markup=False)
        self.refresh_bindings()
        self.load()

    # -- editing the suite ---------------------------------------------------------------

    def action_edit_suite(self) -> None:
        from promptdeck import yamlio

        start = (
            yamlio.dump_suite(self.suite.body)
            if self.suite is not None
            else "cases:\n  - name: first case\n    input: Hello\n    assert:\n"
            "      - type: max-chars\n        value: 500\n"
        )

        def saved(changed: bool | None) -> None:
            if changed:
                self.notify(f"Saved the suite of {self.feature}", markup=False)
                self.load()

        self.app.push_screen(SuiteEditor(self.feature, start), saved)

    def palette_commands(self) -> Iterable[tuple[str, str, str]]:
        yield ("Run suite", "Run the feature's suite against this version (r)", "run")
        yield ("Edit suite", "Change the feature's suite as YAML, with a reason (e)", "edit_suite")


def _first_failure(case: CaseResult) -> str:
    for repeat in case.repeats:
        if repeat.error:
            return f"error: {repeat.error}"
        for outcome in repeat.failed_assertions:
            return f"{outcome.assertion.describe()}: {outcome.result.reason}"
    return ""


class SuiteEditor(ModalScreen[bool]):
    """The suite as YAML in a text area, saved with a reason (ctrl+s); escape cancels.

    The save runs in a thread worker (a remote store can take a while): the status line
    says it is saving, ctrl+s and escape wait for it, a refusal is said in the status
    line and in a one-line notification, and the editor stays open with the text.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="suite-editor.cancel"),
        Binding("ctrl+s", "save", "Save", id="suite-editor.save"),
    ]

    def __init__(self, feature: str, text: str) -> None:
        super().__init__(classes="dialog")
        self.feature = feature
        self.text = text
        self.saving = False

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    def compose(self) -> ComposeResult:
        with Vertical(id="suite-editor") as box:
            box.border_title = f"Suite of {self.feature}"
            yield TextArea(self.text, language=None, id="suite-yaml", show_line_numbers=True)
            yield Input(placeholder="Reason for this change (required)", id="suite-reason")
            yield Static(id="suite-error")
            yield Footer(compact=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("save", "cancel") and self.saving:
            return None  # greyed while the save runs: it ends by closing or refusing
        return True

    def action_cancel(self) -> None:
        if not self.saving:
            self.dismiss(False)

    def action_save(self) -> None:
        if self.saving:
            return
        text = self.query_one("#suite-yaml", TextArea).text
        reason = self.query_one("#suite-reason", Input).value
        self.saving = True
        self.query_one("#suite-error", Static).update(
            Text(f"Saving the suite of {visible(self.feature)}…", style="dim")
        )
        self.refresh_bindings()
        self.save(text, reason)

    @work(thread=True, exclusive=True, group="suite-save")
    def save(self, text: str, reason: str) -> None:
        from promptdeck import yamlio

        try:
            data = yamlio.parse_suite_text(text, f"{self.feature} suite")
            self.deck.store.checks.save_suite(self.feature, data, reason=reason)
        except PromptDeckError as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        self.app.call_from_thread(self._saved)

    def _saved(self) -> None:
        self.saving = False
        self.dismiss(True)

    def _refused(self, message: str) -> None:
        self.saving = False
        self.query_one("#suite-error", Static).update(Text(visible(message), style="bold red"))
        self.notify(one_line(message, 200), title="Suite not saved", severity="error", markup=False)
        self.refresh_bindings()
