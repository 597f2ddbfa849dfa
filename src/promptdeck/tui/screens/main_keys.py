"""The main screen's keys: the bindings, when each is available (and why not, or
hidden from the footer), and the command palette's list of them. Functions of the
main screen, kept apart so main.py stays readable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType
from textual.widgets import Input

from promptdeck.permissions import Action

if TYPE_CHECKING:
    from promptdeck.tui.screens.main import MainScreen

# From this width on, the footer also shows c, h, x, m, n and E.
WIDE_FOOTER = 140

BINDINGS: list[BindingType] = [
    Binding("slash", "filter", "Filter", show=False, id="main.filter"),
    Binding("e", "edit", "Edit", id="main.edit"),
    Binding("d", "diff", "Diff", id="main.diff"),
    Binding("space", "mark", "Mark", show=False, id="main.mark"),
    Binding("a", "activate", "Activate", id="main.activate"),
    Binding("r", "rollback", "Rollback", id="main.rollback"),
    # Shown instead of a and r to those who may ask for a review but not activate
    # (the footer has no room for both at 80 columns); p below does the work.
    Binding("p", "ask_review", "Ask review", id="main.ask-review"),
    # In a wide terminal the footer has room for more keys: these show them there
    # (wide(...) runs the key's action; narrow, the hidden binding below serves).
    Binding("c", "wide('canary')", "Canary", id="main.wide-canary"),
    Binding("h", "wide('history')", "History", id="main.wide-history"),
    Binding("c", "canary", "Canary", show=False, id="main.canary"),
    Binding("h", "history", "History", show=False, id="main.history"),
    Binding("k", "checks", "Checks", id="main.checks"),
    Binding("x", "wide('experiment')", "Experiment", id="main.wide-experiment"),
    Binding("m", "wide('monitor')", "Monitor", id="main.wide-monitor"),
    Binding("x", "experiment", "Experiment", show=False, id="main.experiment"),
    Binding("m", "monitor", "Monitor", show=False, id="main.monitor"),
    Binding("v", "reviews", "Reviews", id="main.reviews"),
    Binding("n", "wide('new_feature')", "New", id="main.wide-new"),
    Binding("n", "new_feature", "New", show=False, id="main.new"),
    Binding("E", "wide('environment')", "Env", id="main.wide-environment"),
    Binding("p", "request_review", "Ask review", show=False, id="main.request-review"),
    Binding("E", "environment", "Env", show=False, id="main.environment"),
    Binding("tab", "app.focus_next", "Next pane", show=False, id="main.next-pane"),
    Binding("left", "focus_features", "Features", show=False, id="main.features"),
    Binding("right", "focus_versions", "Versions", show=False, id="main.versions"),
]

# The screen's actions -> the store's action they lead to (promptdeck.permissions
# holds the role each needs and the wording of a refusal).
NEEDS: dict[str, Action] = {
    "edit": Action.SAVE,
    "new_feature": Action.CREATE_FEATURE,
    "activate": Action.ACTIVATE,
    "rollback": Action.ROLLBACK,
    "canary": Action.SET_CANARY,
    "request_review": Action.REQUEST_REVIEW,
}


def check_action(screen: MainScreen, action: str, parameters: tuple[object, ...]) -> bool | None:
    """Enabled (True), greyed out (None) or hidden from the footer (False)."""
    if action == "focus_features" and screen.focused is screen.query_one("#filter"):
        return True  # down from the filter goes to the list
    if action in ("focus_features", "focus_versions"):
        return not isinstance(screen.focused, Input)
    if action == "wide":
        if screen.size.width < WIDE_FOOTER:
            return False  # hidden: the key's own binding serves
        return check_action(screen, str(parameters[0]), ())
    if action in ("activate", "rollback", "ask_review"):
        asks = asks_instead(screen)
        if action == "ask_review" and not asks:
            return False  # hidden: p (request_review) serves
        if action != "ask_review" and asks:
            return False  # hidden; pressing the key still says why (app.run_action)
    return None if why_disabled(screen, action) else True


def asks_instead(screen: MainScreen) -> bool:
    """The user may ask for a review but not activate (an editor, a reviewer): the
    footer offers p (Ask review) in place of a and r."""
    deck = screen.deck
    return deck.allows(Action.REQUEST_REVIEW) and not deck.allows(Action.ACTIVATE)


def why_disabled(screen: MainScreen, action: str) -> str | None:
    """Why ``action`` is not available now (None: it is)."""
    if action == "ask_review":  # the footer's p: the same as request_review
        return why_disabled(screen, "request_review") if asks_instead(screen) else None
    if action in NEEDS and not screen.deck.allows(NEEDS[action]):
        return screen.deck.refusal(NEEDS[action])
    if action in ("edit", "diff", "mark", "activate", "canary", "request_review") and (
        screen.selected_number is None
    ):
        return "Select a version first"
    if action == "request_review":
        state = screen.reviews.get(screen.selected_number or 0)
        if state is not None and state.status in ("requested", "approved"):
            return f"v{screen.selected_number} is already {state.status}"
    env = screen.deck.environment
    active = screen.deployment.active if screen.deployment else None
    if action == "request_review" and active is not None and active == screen.selected_number:
        return f"v{active} is already live in {env}: there is nothing to review"
    if action == "activate" and active is not None and active == screen.selected_number:
        return f"v{screen.selected_number} is already active in {env}"
    if action == "rollback":
        if screen.feature is None:
            return "Select a feature first"
        if screen.deployment is None or not screen.deployment.previous:
            return f"Nothing to roll back to: no earlier active version in {env}"
    if action in ("history", "experiment", "monitor") and screen.feature is None:
        return "Select a feature first"
    return None


def palette_commands() -> Iterator[tuple[str, str, str]]:
    """(title, help, action) of every key, for the command palette."""
    yield ("Filter features", "Type to narrow the features list (/)", "filter")
    yield ("Edit version", "Edit a new version from the selected one (e)", "edit")
    yield ("Diff", "Compare with the active version or the two marked ones (d)", "diff")
    yield ("Mark version", "Mark a version to diff two versions (space)", "mark")
    yield ("Activate version", "Make the selected version active (a)", "activate")
    yield ("Roll back", "Return to the previously active version (r)", "rollback")
    yield ("Canary", "Start, stop or promote a canary (c)", "canary")
    yield ("History", "The feature's audit log (h)", "history")
    yield (
        "Checks",
        "The selected version's checks: results, run, edit the suite (k)",
        "checks",
    )
    yield (
        "Experiment",
        "The canary against the active version, with the evidence (x)",
        "experiment",
    )
    yield ("Monitor", "The feature's metrics over time, per version (m)", "monitor")
    yield ("New feature", "Create a feature with its first prompt (n)", "new_feature")
    yield ("Switch environment", "production, staging, ... (E)", "environment")
    yield ("Review queue", "Versions waiting for review: diff, approve, reject (v)", "reviews")
    yield (
        "Request review",
        "Ask reviewers to approve the selected version (p)",
        "request_review",
    )
