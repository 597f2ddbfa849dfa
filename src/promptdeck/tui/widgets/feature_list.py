"""The features list: a virtual list that draws only visible rows, for 10,000+ features."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from promptdeck.display import visible
from promptdeck.records import FeatureSummary


def feature_status(feature: FeatureSummary) -> str:
    """``v3`` active, ``*`` a newer version exists, ``c4`` canary (plain text, no colour)."""
    status = f"v{feature.active}" if feature.active is not None else "—"
    if feature.has_newer:
        status += "*"
    if feature.canary is not None:
        status += f" c{feature.canary}"
    return status


class FeatureList(ScrollView, can_focus=True):
    """Feature names with their state; filterable; keyboard and mouse."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "feature-list--cursor",
        "feature-list--status",
        "feature-list--newer",
        "feature-list--empty",
    }

    DEFAULT_CSS = """
    FeatureList {
        background: $surface;
        overflow-x: hidden;
        & > .feature-list--cursor { background: $block-cursor-blurred-background; }
        &:focus > .feature-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: bold;
        }
        & > .feature-list--status { color: $text-muted; }
        & > .feature-list--newer { color: $warning; }
        & > .feature-list--empty { color: $text-muted; text-style: italic; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="features.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="features.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="features.page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="features.page-down"),
        Binding("home", "jump(0)", "First", show=False, id="features.first"),
        Binding("end", "jump(-1)", "Last", show=False, id="features.last"),
    ]

    cursor: reactive[int] = reactive(0, init=False)

    class Highlighted(Message):
        """The feature under the cursor changed (None: the list is empty)."""

        def __init__(self, feature: FeatureSummary | None) -> None:
            super().__init__()
            self.feature = feature

    class Selected(Message):
        """Enter (or a click) on a feature."""

        def __init__(self, feature: FeatureSummary) -> None:
            super().__init__()
            self.feature = feature

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._all: list[FeatureSummary] = []
        self._rows: list[FeatureSummary] = []
        self._filter = ""
        self.empty_text = "No features"

    # -- data ------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[FeatureSummary]:
        return self._rows

    @property
    def highlighted(self) -> FeatureSummary | None:
        return self._rows[self.cursor] if 0 <= self.cursor < len(self._rows) else None

    def set_features(self, features: list[FeatureSummary], keep: str | None = None) -> None:
        """Replace the list; the cursor stays on ``keep`` (a name) when it is still shown."""
        keep = keep if keep is not None else (self.highlighted.name if self.highlighted else None)
        self._all = features
        self._apply(keep)

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        current = self.highlighted
        self._apply(current.name if current else None)

    def _apply(self, keep: str | None) -> None:
        needle = self._filter
        self._rows = [f for f in self._all if needle in f.name.lower()] if needle else self._all
        self.virtual_size = Size(0, len(self._rows))
        index = 0
        if keep is not None:
            index = next((i for i, f in enumerate(self._rows) if f.name == keep), 0)
        self.set_reactive(FeatureList.cursor, index)
        self._reveal()
        self.refresh()
        self.post_message(self.Highlighted(self.highlighted))

    # -- cursor ----------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._rows) - 1)) if self._rows else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._reveal()
        width = self.scrollable_content_region.width
        scroll_y = int(self.scroll_y)
        for line in (old, new):
            self.refresh(Region(0, line - scroll_y, width, 1))
        self.post_message(self.Highlighted(self.highlighted))

    def _reveal(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self.cursor += step

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height - 1)

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self._rows) - 1

    def key_enter(self) -> None:
        if self.highlighted is not None:
            self.post_message(self.Selected(self.highlighted))

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_y) + event.y
        if 0 <= index < len(self._rows):
            self.cursor = index
            self.focus()

    # -- drawing ---------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = int(self.scroll_y) + y
        base = self.rich_style
        if not self._rows:
            # Wrapped, not cut: the hint ends with the key to press.
            text = self.empty_text if not self._filter else f"No match for {self._filter!r}"
            lines = textwrap.wrap(visible(text), max(1, width - 2)) or [""]
            if y < len(lines):
                style = self.get_component_rich_style("feature-list--empty")
                return Strip([Segment(" " + lines[y], style)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if index >= len(self._rows):
            return Strip.blank(width, base)
        feature = self._rows[index]
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("feature-list--cursor")
        status = feature_status(feature)
        status_style = self.get_component_rich_style(
            "feature-list--newer" if feature.has_newer else "feature-list--status"
        )
        name_width = max(1, width - len(status) - 3)
        name = feature.name
        if len(name) > name_width:
            name = name[: name_width - 1] + "…"
        return Strip(
            [
                Segment(" " + name.ljust(name_width) + " ", style),
                Segment(status, style + status_style if index != self.cursor else style),
                Segment(" ", style),
            ]
        ).crop_extend(0, width, style)
