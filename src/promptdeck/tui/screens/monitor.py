"""The monitor view: one feature's metrics over time, per version, with the moves marked.

Four small charts (textual-plotext): success rate, mean cost, p95 latency and requests,
one line per version, over the last day, week or month (``t`` cycles). Activations,
rollbacks, promotions and canary changes from the audit history are vertical lines on
the time axis and listed below, so "the change on Tuesday doubled the cost" shows at a
glance. Data loads in a thread worker; times are the app's clock (fixed in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual_plotext import PlotextPlot

from promptdeck.errors import PromptDeckError

if TYPE_CHECKING:
    from promptdeck.experiment import Monitor
    from promptdeck.metrics.series import Point
    from promptdeck.tui.app import PromptDeckApp

# (label, hours shown, hours per step)
RANGES = (("last 24 hours", 24, 1), ("last 7 days", 24 * 7, 6), ("last 30 days", 24 * 30, 24))
CHARTS: tuple[tuple[str, str, Callable[[Point], float | None]], ...] = (
    (
        "success",
        "success rate (%)",
        lambda p: None if p.success_rate is None else p.success_rate * 100,
    ),
    ("cost", "mean cost (USD)", lambda p: p.cost),
    ("latency", "p95 latency (ms)", lambda p: p.latency_p95_ms),
    ("requests", "requests", lambda p: float(p.requests)),
)
COLORS = ("green", "orange", "cyan", "magenta", "blue", "red")


class MonitorScreen(Screen[None]):
    """Per version, metrics over time, with the pointer moves on the time axis."""

    HELP_SECTION = "Monitor"
    # Here rather than in app.tcss: this screen's layout only (kept beside it for merges).
    DEFAULT_CSS = """
    #monitor-title { height: 1; padding: 0 1; }
    #monitor-charts { grid-size: 2 2; height: 1fr; }
    #monitor-charts PlotextPlot { height: 1fr; }
    #monitor-moves { height: auto; max-height: 6; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="monitor.close"),
        Binding("t", "next_range", "Range", id="monitor.range"),
        Binding("R", "reload", "Reload", id="monitor.reload"),
    ]

    class Loaded(Message):
        def __init__(self, monitor: Monitor | None, problem: str | None) -> None:
            super().__init__()
            self.monitor = monitor
            self.problem = problem

    def __init__(self, feature: str, *, range_index: int = 1) -> None:
        super().__init__()
        self.feature = feature
        self.range_index = range_index

    @property
    def deck(self) -> PromptDeckApp:
        return cast("PromptDeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static(Text(f"Monitor · {self.feature}: loading…"), id="monitor-title")
        with Grid(id="monitor-charts"):
            for key, _label, _value in CHARTS:
                yield PlotextPlot(id=f"chart-{key}")
        yield Static(id="monitor-moves")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load()

    def action_next_range(self) -> None:
        self.range_index = (self.range_index + 1) % len(RANGES)
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="monitor")
    def load(self) -> None:
        from promptdeck.experiment import monitor

        _label, hours, step = RANGES[self.range_index]
        until = self.deck.now()
        try:
            result = monitor(
                self.deck.store,
                self.feature,
                self.deck.environment,
                since=until - timedelta(hours=hours),
                until=until,
                step_seconds=step * 3600,
            )
        except PromptDeckError as exc:
            self.post_message(self.Loaded(None, str(exc)))
            return
        self.post_message(self.Loaded(result, None))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        title = self.query_one("#monitor-title", Static)
        moves = self.query_one("#monitor-moves", Static)
        result = message.monitor
        if result is None:
            title.update(Text(f"Monitor · {self.feature}", style="bold"))
            moves.update(Text(message.problem or "", style="yellow"))
            return
        label = RANGES[self.range_index][0]
        versions = sorted({point.version for point in result.points})
        title.update(
            Text.assemble(
                (self.feature, "bold"),
                f" in {result.environment} · {label} · ",
                f"{sum(p.requests for p in result.points)} requests from "
                + (", ".join(f"v{v}" for v in versions) or "no version yet"),
            )
        )
        start = result.since.timestamp()
        hours = (result.until.timestamp() - start) / 3600
        for key, chart_label, value in CHARTS:
            self._draw(
                self.query_one(f"#chart-{key}", PlotextPlot),
                chart_label,
                result,
                value,
                start,
                hours,
            )
        lines = [Text("Moves (dotted lines): ", style="bold")]
        for marker in result.markers:
            lines.append(
                Text(
                    f"{marker.at:%m-%d %H:%M} {marker.label} by {marker.actor}: "
                    f"{marker.reason.splitlines()[0] if marker.reason else ''}"
                )
            )
        if not result.markers:
            lines.append(Text("none in this range", style="dim"))
        moves.update(Text("\n").join(lines))

    @staticmethod
    def _draw(
        chart: PlotextPlot,
        label: str,
        result: Monitor,
        value: Callable[[Point], float | None],
        start: float,
        hours: float,
    ) -> None:
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(label)
        by_version: dict[int, list[Point]] = {}
        for point in result.points:
            by_version.setdefault(point.version, []).append(point)
        for index, (version, points) in enumerate(sorted(by_version.items())):
            xs, ys = [], []
            for point in points:
                figure = value(point)
                if figure is not None:
                    xs.append((point.start - start) / 3600)
                    ys.append(figure)
            if xs:
                plt.plot(
                    xs, ys, label=f"v{version}", color=COLORS[index % len(COLORS)], marker="braille"
                )
        for marker in result.markers:
            plt.vline((marker.at.timestamp() - start) / 3600, "gray")
        plt.xlim(0, hours)
        ticks = [hours * i / 4 for i in range(5)]
        plt.xticks(ticks, [f"-{hours - tick:.0f}h" if tick < hours else "now" for tick in ticks])
        chart.refresh()
