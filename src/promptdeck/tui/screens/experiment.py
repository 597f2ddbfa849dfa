"""The experiment view: a feature's canary against its active version, with the evidence.

Both arms side by side, each metric with its 95 % interval, the difference and a
verdict (``promptdeck.metrics.stats``), traffic and sample so far; ``p`` promotes and
``x`` stops the canary right here, through the confirmation dialog with the evidence
summarised in it. Data loads in a thread worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from promptdeck.errors import PromptDeckError
from promptdeck.permissions import Action

if TYPE_CHECKING:
    from promptdeck.experiment import Arms
    from promptdeck.metrics.stats import Comparison
    from promptdeck.tui.app import PromptDeckApp

VERDICT_STYLES = {
    "better": "bold green",
    "worse": "bold red",
    "no detectable difference": "",
    "not enough data": "dim",
}


@dataclass(frozen=True, slots=True)
class Evidence:
    arms: Arms
    comparison: Comparison


def evidence_lines(evidence: Evidence) -> list[Text]:
    """What a promote or stop dialog shows: the sample, then one line per metric."""
    from promptdeck.experiment_text import difference_text, estimate_text, metric_name

    comparison = evidence.comparison
    base, cand = comparison.baseline, comparison.candidate
    lines = [
        Text(
            f"Evidence so far: {cand.label} {cand.requests} requests (~{cand.users} users), "
            f"{base.label} {base.requests} (~{base.users} users)."
        )
    ]
    for metric in comparison.metrics:
        difference, interval = difference_text(metric)
        lines.append(
            Text.assemble(
                f"{metric_name(metric.metric)}: ",
                f"{estimate_text(metric.candidate, metric.metric)} against "
                f"{estimate_text(metric.baseline, metric.metric)}, {difference} {interval}: ",
                (metric.verdict, VERDICT_STYLES[metric.verdict]),
            )
        )
    return lines


def _quantiles(p50: float | None, p95: float | None) -> str:
    return "no data" if p50 is None or p95 is None else f"{p50:.0f} / {p95:.0f} ms"


class ExperimentScreen(Screen[None]):
    """One feature's canary (candidate) against its active version (baseline)."""

    HELP_SECTION = "Experiment"
    # Here rather than in app.tcss: this screen's layout only (kept beside it for merges).
    DEFAULT_CSS = """
    #experiment-title { height: auto; padding: 0 1; }
    #experiment-table { height: auto; max-height: 1fr; }
    #experiment-note { height: auto; padding: 1 1 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="experiment.close"),
        Binding("p", "promote", "Promote", id="experiment.promote"),
        Binding("x", "stop", "Stop canary", id="experiment.stop"),
        Binding("R", "reload", "Reload", id="experiment.reload"),
    ]

    class Loaded(Message):
        def __init__(self, evidence: Evidence | None, problem: str | None) -> None:
            super().__init__()
            self.evidence = evidence
            self.problem = problem

    def __init__(self, feature: str) -> None:
        super().__init__()
        self.feature = feature
        self.evidence: Evidence | None = None

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static(Text(f"Experiment · {self.feature}: loading…"), id="experiment-title")
        table: DataTable[Text] = DataTable(id="experiment-table", cursor_type="row")
        table.border_title = "Canary against active"
        yield table
        yield Static(id="experiment-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    @work(thread=True, exclusive=True, group="experiment")
    def load(self) -> None:
        from promptdeck.experiment import NoCanaryError, arms_for, compare_arms

        store = self.deck.store
        try:
            arms = arms_for(store, self.feature, self.deck.environment)
            comparison = compare_arms(store, arms)
        except NoCanaryError:
            feature, environment = self.feature, self.deck.environment
            self.post_message(
                self.Loaded(
                    None,
                    f"{feature} has no canary in {environment}.\n\n"
                    "To start one: on the main screen, select a version and press c "
                    "(Canary), then give the share of users it serves.\n"
                    "To compare two versions by what they recorded, run\n"
                    f"  promptdeck stats {feature} --versions A B",
                )
            )
            return
        except PromptDeckError as exc:
            self.post_message(self.Loaded(None, str(exc)))
            return
        self.post_message(self.Loaded(Evidence(arms, comparison), None))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.evidence = message.evidence
        self.refresh_bindings()
        table = self.query_one(DataTable)
        table.clear(columns=True)
        title = self.query_one("#experiment-title", Static)
        note = self.query_one("#experiment-note", Static)
        if message.evidence is None:
            title.update(Text(f"Experiment · {self.feature}", style="bold"))
            note.update(Text(message.problem or "", style="yellow"))
            return
        self._show(message.evidence, table, title, note)

    def _show(
        self, evidence: Evidence, table: DataTable[Text], title: Static, note: Static
    ) -> None:
        from promptdeck.experiment_text import compact_difference, compact_estimate, metric_name

        arms, comparison = evidence.arms, evidence.comparison
        base, cand = comparison.baseline, comparison.candidate
        since = f"since {arms.since:%Y-%m-%d %H:%M} UTC" if arms.since else "all recorded"
        title.update(
            Text.assemble(
                (f"{self.feature}", "bold"),
                f" in {arms.environment}: {cand.label} serves {arms.canary_percent} % of "
                f"users, {base.label} the rest · {since}",
            )
        )
        for key, label in (
            ("metric", "metric"),
            ("base", base.label),
            ("cand", cand.label),
            ("diff", "difference [95 %]"),
            ("verdict", "verdict"),
        ):
            table.add_column(label, key=key)
        table.add_row(
            Text("requests"), Text(str(base.requests)), Text(str(cand.requests)), Text(""), Text("")
        )
        table.add_row(
            Text("users (estimate)"), Text(f"~{base.users}"), Text(f"~{cand.users}"),
            Text(""), Text(""),
        )  # fmt: skip
        for metric in comparison.metrics:
            table.add_row(
                Text(metric_name(metric.metric)),
                Text(compact_estimate(metric.baseline, metric.metric)),
                Text(compact_estimate(metric.candidate, metric.metric)),
                Text(compact_difference(metric)),
                Text(metric.verdict, style=VERDICT_STYLES[metric.verdict]),
            )
            if metric.metric == "latency_ms":
                table.add_row(
                    Text("latency p50 / p95"),
                    Text(_quantiles(base.latency_p50_ms, base.latency_p95_ms)),
                    Text(_quantiles(cand.latency_p50_ms, cand.latency_p95_ms)),
                    Text(""),
                    Text(""),
                )
        short = [
            f"{arm.label} has {arm.requests} of {comparison.min_sample}"
            for arm in (base, cand)
            if arm.requests < comparison.min_sample
        ]
        sample = (
            "Sample: " + "; ".join(short) + " needed before any verdict."
            if short
            else f"Sample: both arms past the minimum of {comparison.min_sample}."
        )
        note.update(
            Text.assemble(
                (sample, "bold"),
                " Success rate: two-proportion z-test (Wilson intervals); means: Welch's t-test. ",
                ("Peeking: ", "bold yellow"),
                comparison.note,
            )
        )

    # -- actions ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("promote", "stop"):
            if self.evidence is None:
                return None  # greyed: no canary (or not loaded yet)
            needed = Action.PROMOTE if action == "promote" else Action.CLEAR_CANARY
            return True if self.deck.allows(needed) else None
        return True

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_promote(self) -> None:
        self._confirm("promote")

    def action_stop(self) -> None:
        self._confirm("stop")

    def _confirm(self, kind: str) -> None:
        from promptdeck.tui.screens.dialogs import ChangeDialog

        evidence = self.evidence
        if evidence is None:
            return
        arms, store, env = evidence.arms, self.deck.store, self.deck.environment
        if kind == "promote":
            title = f"Promote {self.feature} canary v{arms.candidate} to active"
            head = Text(
                f"v{arms.candidate} becomes active in {arms.environment} for every user; "
                f"v{arms.baseline} goes on the rollback stack."
            )
        else:
            title = f"Stop the canary v{arms.candidate} of {self.feature}"
            head = Text(f"Every user gets the active v{arms.baseline} again.")
        details = [head, *evidence_lines(evidence)]
        feature = self.feature

        def confirmed(reason: str | None) -> None:
            if reason is None:
                return
            if kind == "promote":
                self.write(
                    f"Canary promoted to active in {env}",
                    lambda: store.promote(feature, reason=reason, environment=env),
                )
            else:
                self.write(
                    f"Canary stopped in {env}",
                    lambda: store.clear_canary(feature, reason=reason, environment=env),
                )

        self.app.push_screen(ChangeDialog(title, details, confirm=kind), confirmed)

    @work(thread=True, group="write")
    def write(self, done: str, call: Callable[[], object]) -> None:
        if self.deck.attempt_write(done, call):
            self.app.call_from_thread(self.load)
