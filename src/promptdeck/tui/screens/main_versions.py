"""The main screen's right pane: the versions table (its columns, their widths and
each version's cells) and the preview's heading for the selected version.

The screen owns what is shown (versions, deployment, reviews, check states, marks);
this table turns it into rows, fitting the columns to its width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from promptdeck.display import (
    STATE_ACTIVE,
    STATE_CANARY,
    STATE_NEWER,
    STATE_PREVIOUS,
    STATE_ROLLBACK,
    version_state,
    visible,
)
from promptdeck.records import Deployment, ReviewState, Version, VersionSummary
from promptdeck.tui.screens.review import review_cell
from promptdeck.tui.text import age, one_line, parameters_text

# Fixed widths of the versions table; the reason takes what is left. The author gets
# more room when the table is wide (WIDE_TABLE columns or more).
VERSION_COLUMNS = {"number": 4, "state": 10, "review": 9, "checks": 7, "author": 8, "age": 4}
# The review and checks columns are shown once a feature has reviews or a suite; in a
# narrow table they then take the author's place (the preview names the author).
CHECK_STYLES = {"passed": "green", "failed": "bold red", "error": "yellow", "not run": "dim"}
WIDE_AUTHOR = 16
WIDE_TABLE = 90

STATE_STYLES = {
    STATE_ACTIVE: "bold green",
    STATE_CANARY: "bold yellow",
    STATE_ROLLBACK: "bold magenta",  # also named in words: colour is never the only mark
    STATE_NEWER: "yellow",
    STATE_PREVIOUS: "dim",
}


def number_cell(number: int, marked: Sequence[int]) -> Text:
    """The first column: a dot for a version marked for diffing, then its number."""
    return Text.assemble(("●" if number in marked else " ", "bold"), f"v{number}")


class VersionsTable(DataTable[Text]):
    """The versions: home and end move the cursor to the first and last version."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First", show=False, id="versions.first"),
        Binding("end", "scroll_bottom", "Last", show=False, id="versions.last"),
    ]

    filled_width = 0  # the width the columns were last fitted to

    @property
    def needs_refit(self) -> bool:
        """The table's width changed since the columns were fitted."""
        return self.scrollable_content_region.width != self.filled_width

    def fill(
        self,
        versions: Sequence[VersionSummary],
        *,
        deployment: Deployment | None,
        reviews: Mapping[int, ReviewState],
        check_states: Mapping[int, str],
        marked: Sequence[int],
        now: datetime,
        row: int | None = None,
    ) -> None:
        """(Re)build the table with the cursor on ``row`` (default: where it is).

        The reason column takes the width that is left.
        """
        row = self.cursor_row if row is None else row
        self.clear(columns=True)
        available = self.scrollable_content_region.width
        widths = dict(VERSION_COLUMNS)
        if available >= WIDE_TABLE:
            widths["author"] = WIDE_AUTHOR
        if not reviews:
            del widths["review"]
        if not any(check_states.values()):
            del widths["checks"]
        if available < WIDE_TABLE and ("review" in widths or "checks" in widths):
            del widths["author"]
        fixed = sum(widths.values()) + 2 * self.cell_padding * (len(widths) + 1)
        reason_width = max(10, available - fixed - 1)
        self.filled_width = available
        for key, width in widths.items():
            self.add_column(key if key != "number" else "#", key=key, width=width)
        self.add_column("reason", key="reason", width=reason_width)
        author_width = widths.get("author", WIDE_AUTHOR)
        for summary in versions:
            cells = version_cells(
                summary,
                deployment=deployment,
                review=reviews.get(summary.number),
                check_state=check_states.get(summary.number, ""),
                marked=marked,
                now=now,
                author_width=author_width,
            )
            self.add_row(*(cells[key] for key in (*widths, "reason")), key=str(summary.number))
        if 0 <= row < len(versions):
            self.move_cursor(row=row, animate=False)

    def show_marks(self, versions: Sequence[VersionSummary], marked: Sequence[int]) -> None:
        """Redraw the first column after a version was marked or unmarked."""
        for index, summary in enumerate(versions):
            self.update_cell_at(Coordinate(index, 0), number_cell(summary.number, marked))


def version_cells(
    summary: VersionSummary,
    *,
    deployment: Deployment | None,
    review: ReviewState | None,
    check_state: str,
    marked: Sequence[int],
    now: datetime,
    author_width: int = WIDE_AUTHOR,
) -> dict[str, Text]:
    """Every column's cell, by column key."""
    state = ""
    if deployment is not None:
        state = version_state(
            summary.number,
            active=deployment.active,
            canary=deployment.canary,
            canary_percent=deployment.canary_percent,
            previous=deployment.previous,
        )
    style = STATE_STYLES.get(state.split(" ")[0], "")
    return {
        "number": number_cell(summary.number, marked),
        "state": Text(state, style=style),
        "review": review_cell(review),
        "checks": Text(check_state, style=CHECK_STYLES.get(check_state, "")),
        "author": Text(one_line(summary.author, author_width), no_wrap=True, overflow="ellipsis"),
        "age": Text(age(summary.created_at, now, short=True), style="dim"),
        "reason": Text(one_line(summary.reason, 300), no_wrap=True, overflow="ellipsis"),
    }


def preview_meta(version: Version, now: datetime) -> Text:
    """The preview's heading: model and parameters, who wrote it when and why, and
    the variables the prompt names."""
    return Text.assemble(
        (f"v{version.number}", "bold"),
        " · ",
        (visible(version.model), "bold"),
        " · ",
        (parameters_text(version.parameters), ""),
        "\n",
        ("by ", "dim"),
        visible(one_line(version.author, 40)),
        (f", {age(version.created_at, now)}", "dim"),
        (f" (from v{version.parent})" if version.parent else "", "dim"),
        ": ",
        one_line(version.reason, 300),
        "\n",
        ("variables: ", "dim"),
        (" ".join(f"{{{{{name}}}}}" for name in version.variables) or "none", "green"),
    )
