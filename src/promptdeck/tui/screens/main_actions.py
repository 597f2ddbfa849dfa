"""The main screen's actions that write: edit (a new version), a new feature, and the
moves of what a feature serves: activate, roll back, and the canary (start, change,
stop, promote). Each loads what its dialog shows in a worker, asks on the UI thread,
then writes (through the editor or the screen's ``write``). Functions of the main
screen, kept apart so main.py stays readable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Input

from promptdeck.errors import PromptDeckError
from promptdeck.records import Deployment
from promptdeck.tui.changes import describe_versions
from promptdeck.tui.screens import main_governance
from promptdeck.tui.screens.dialogs import (
    CanaryDialog,
    CanaryOverrides,
    CanaryRequest,
    ChangeDialog,
    NewFeature,
    NewFeatureDialog,
)
from promptdeck.tui.widgets.diff_view import DiffData
from promptdeck.tui.widgets.feature_list import FeatureList

if TYPE_CHECKING:
    from promptdeck.store import PromptStore
    from promptdeck.tui.screens.main import MainScreen


def open_editor(screen: MainScreen, feature: str, number: int) -> None:
    """e: load the version to start from (in a worker), then open the editor on it."""
    from promptdeck.tui.screens.editor import EditorScreen

    def load() -> None:
        try:
            base = screen.cached_version(feature, number)
            latest = screen.deck.store.version(feature, "latest")
        except PromptDeckError as exc:
            screen.post_message(screen.Failed(str(exc)))
            return

        def saved(number: int | None) -> None:
            if number is not None:
                screen.reload(select=number)

        def show() -> None:  # on the UI thread: workers never create or touch widgets
            screen.app.push_screen(EditorScreen(feature, base=base, latest=latest.number), saved)

        screen.app.call_from_thread(show)

    screen.run_worker(load, thread=True, group="open")


def new_feature(screen: MainScreen) -> None:
    """n: ask for the name and model, then open the editor on an empty prompt."""
    from promptdeck.tui.screens.editor import EditorScreen

    names = frozenset(f.name for f in screen.query_one(FeatureList).rows)
    model = screen.last_model()

    def chosen(new: NewFeature | None) -> None:
        if new is None:
            return

        def created(saved: int | None) -> None:
            if saved is not None:
                screen.query_one("#filter", Input).value = ""
                screen.reload(keep=new.name, select=saved)

        screen.app.push_screen(EditorScreen(new.name, model=new.model), created)

    screen.app.push_screen(NewFeatureDialog(names, model), chosen)


def confirm_move(
    screen: MainScreen, kind: str, feature: str, current: int | None, target: int
) -> None:
    """a / r: load both versions (in a worker), describe the move, ask for a reason,
    then do it."""
    screen.run_worker(
        lambda: _confirm_move(screen, kind, feature, current, target),
        thread=True,
        group="confirm",
    )


def _confirm_move(
    screen: MainScreen, kind: str, feature: str, current: int | None, target: int
) -> None:
    deck = screen.deck
    env = deck.environment
    override: str | None = None  # missing checks the admin overrides by confirming
    if kind == "activate":
        passage = main_governance.gate(screen, feature, target, f"activate v{target}")
        if passage.refused:
            return
        override = passage.override
    try:
        new = screen.cached_version(feature, target)
        old = screen.cached_version(feature, current) if current is not None else None
        # With an override, the gate has named the missing checks: not read again.
        checks = checks_line(deck.store, feature, target, env) if override is None else None
    except PromptDeckError as exc:
        screen.post_message(screen.Failed(str(exc)))
        return
    data = DiffData.compute(old.system_prompt if old else "", new.system_prompt)
    deployment = screen.deployment
    ends_canary: list[Text] = []
    if deployment is not None and deployment.canary == target:
        # The store clears the canary when its version becomes active: say so.
        ends_canary.append(
            Text(
                f"v{target} is the canary at {deployment.canary_percent}%: "
                f"{'activating' if kind == 'activate' else 'rolling back to'} it "
                "ends the canary",
                style="bold yellow",
            )
        )
    elif deployment is not None and deployment.canary is not None:
        # Moving the active pointer leaves the canary alone: say who gets what.
        ends_canary.append(
            Text(
                f"The canary v{deployment.canary} keeps serving "
                f"{deployment.canary_percent}% of users; v{target} serves the other "
                f"{100 - deployment.canary_percent}%",
                style="bold yellow",
            )
        )
    overriding: list[Text] = []
    if override is not None:  # one paragraph: the dialog must fit 80x24
        overriding = [
            Text.assemble(
                ("Missing checks, overridden if you confirm ", "bold red"),
                ("(admins only; the history records it with your reason): ", "bold yellow"),
                override,
            )
        ]
    details = [
        *overriding,
        Text.assemble(
            ("from ", "dim"),
            (f"v{current}" if current is not None else "(none)", "bold"),
            ("  →  to ", "dim"),
            (f"v{target}", "bold"),
            (f"  in {env}", "dim"),
        ),
        *([checks] if checks is not None else []),  # else said in red above
        *ends_canary,
        *describe_versions(old, new, data),
    ]
    verb = "Activate" if kind == "activate" else "Roll back"
    title = (
        f"Activate {feature} v{target}"
        if kind == "activate"
        else f"Roll back {feature} to v{target}"
    )
    confirm = verb.lower()
    if override is not None:
        title, confirm = f"Override checks · {title}", "override checks and activate"
    store = deck.store

    def confirmed(reason: str | None) -> None:
        if reason is None:
            return
        if kind == "activate":
            overridden = " (checks overridden)" if override is not None else ""
            screen.write(
                f"Activated v{target} in {env}{overridden}",
                lambda: store.activate(
                    feature,
                    target,
                    reason=reason,
                    environment=env,
                    expect_active=current,
                    override_checks=override is not None,
                ),
                select=target,
            )
        else:
            screen.write(
                f"Rolled back to v{target} in {env}",
                lambda: store.rollback(
                    feature, reason=reason, environment=env, expect_target=target
                ),
                select=target,
            )

    def show() -> None:  # on the UI thread: workers never create or touch widgets
        screen.app.push_screen(ChangeDialog(title, details, confirm=confirm, diff=data), confirmed)

    screen.app.call_from_thread(show)


def canary_default(screen: MainScreen) -> int | None:
    """The version the canary dialog proposes: the selected one unless it is the
    active one (a canary must be another version), else the latest non-active one."""
    active = screen.deployment.active if screen.deployment else None
    selected = screen.selected_number
    if selected is not None and selected != active:
        return selected
    return next((v.number for v in screen.versions if v.number != active), None)


def check_canary(screen: MainScreen, feature: str, version: int | None, running: bool) -> None:
    """c: with no canary running, a version that may not go live is refused at once
    (in a worker); a running canary can always be stopped or promoted in the dialog.
    Missing checks alone: an admin's dialog names them and offers the override."""

    def check() -> None:
        overrides = CanaryOverrides()
        if version is not None and not running:
            passage = main_governance.gate(screen, feature, version, f"make v{version} the canary")
            if passage.refused:
                return
            if passage.override is not None:
                overrides = CanaryOverrides(version, passage.override)
        canary = screen.deployment.canary if screen.deployment else None
        if running and canary is not None:
            promote = main_governance.checks_to_override(screen, feature, canary)
            overrides = CanaryOverrides(promote=promote)
        screen.app.call_from_thread(open_canary, screen, feature, version, overrides=overrides)

    screen.run_worker(check, thread=True, group="confirm")


def open_canary(
    screen: MainScreen,
    feature: str,
    version: int | None,
    *,
    percent: int | None = None,
    reason: str = "",
    error: str = "",
    overrides: CanaryOverrides | None = None,
) -> None:
    """The canary dialog; a refused write opens it again with the user's input."""
    env, store = screen.deck.environment, screen.deck.store
    deployment = screen.deployment or Deployment(feature, env)

    def chosen(request: CanaryRequest | None) -> None:
        if request is None:
            return
        reason = request.reason

        def refused(message: str) -> None:
            open_canary(
                screen,
                feature,
                request.version or version,
                percent=request.percent if request.action == "set" else percent,
                reason=reason,
                error=message,
                overrides=overrides,
            )

        overridden = " (checks overridden)" if request.override_checks else ""
        if request.action == "set":
            screen.write(
                f"Canary v{request.version} at {request.percent}% in {env}{overridden}",
                lambda: store.set_canary(
                    feature,
                    request.version,
                    request.percent,
                    reason=reason,
                    environment=env,
                    override_checks=request.override_checks,
                ),
                refused=refused,
            )
        elif request.action == "stop":
            screen.write(
                f"Canary stopped in {env}",
                lambda: store.clear_canary(feature, reason=reason, environment=env),
                refused=refused,
            )
        else:
            screen.write(
                f"Canary promoted to active in {env}{overridden}",
                lambda: store.promote(
                    feature,
                    reason=reason,
                    environment=env,
                    override_checks=request.override_checks,
                ),
                refused=refused,
            )

    screen.app.push_screen(
        CanaryDialog(
            feature,
            env,
            version=version,
            current=deployment.canary,
            percent=deployment.canary_percent,
            active=deployment.active,
            versions=[summary.number for summary in screen.versions],
            new_percent=percent,
            reason=reason,
            error=error,
            overrides=overrides,
        ),
        chosen,
    )


def checks_line(store: PromptStore, feature: str, number: int, environment: str) -> Text:
    """The version's latest check result for the activation dialog (in a worker)."""
    required = store.checks.required(environment)
    needs = f" ({environment} requires passing checks)" if required else ""
    if store.checks.suite(feature) is None:
        return Text(f"Checks: {feature} has no suite{needs}", style="bold red" if needs else "dim")
    run = store.checks.latest_run(feature, number)
    if run is None:
        return Text(f"Checks: v{number} not run{needs}", style="bold red" if needs else "dim")
    style = "bold green" if run.passed else "bold red"
    return Text(f"Checks: v{number} {run.describe()}{needs}", style=style)
