"""The main screen's governance keys: the environment switch (existing environments;
a new one only when an admin asks for it and confirms), review requests, and the gate
read before activate and canary so that what is missing is said before a reason is
typed (missing checks alone: an admin's explicit override). Functions of the main
screen, kept apart so main.py stays readable."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from typing import TYPE_CHECKING

from rich.text import Text

from promptdeck.errors import PromptDeckError
from promptdeck.permissions import Action, article
from promptdeck.tui.screens.dialogs import (
    ChangeDialog,
    ConfirmDialog,
    EnvironmentChoice,
    EnvironmentDialog,
)
from promptdeck.tui.screens.review import against_live

if TYPE_CHECKING:
    from promptdeck.tui.screens.main import MainScreen


def choose_environment(screen: MainScreen) -> None:
    """E: pick one of the environments that exist; ctrl+n in the dialog creates one."""
    deck = screen.deck
    names = [environment.name for environment in screen.environments]
    create = Action.CREATE_ENVIRONMENT

    def chosen(choice: EnvironmentChoice | None) -> None:
        if choice is None:
            return
        if choice.create:
            confirm_new_environment(screen, choice.name, names)
        else:
            switch_environment(screen, choice.name)

    screen.app.push_screen(
        EnvironmentDialog(
            names,
            deck.environment,
            protected=frozenset(e.name for e in screen.environments if e.protected),
            refused=None if deck.allows(create) else deck.refusal(create),
        ),
        chosen,
    )


def switch_environment(screen: MainScreen, environment: str) -> None:
    deck = screen.deck
    if environment != deck.environment:
        deck.environment = environment
        deck.update_header()
        screen.versions = []
        screen.reload()


def confirm_new_environment(screen: MainScreen, name: str, existing: list[str]) -> None:
    """Creating an environment is asked once more, naming any close existing one: a
    typo must not become an environment nobody serves from."""
    close = get_close_matches(name, existing, n=1, cutoff=0.6)
    question = f"Create the environment {name!r}? It starts empty and unprotected."
    if close:
        question = f"Did you mean {close[0]!r}? " + question
    governance = screen.deck.store.governance

    def answered(create: bool | None) -> None:
        if create:
            screen.write(
                f"Created the environment {name}",
                lambda: governance.create_environment(name),
                after=lambda: switch_environment(screen, name),
            )

    screen.app.push_screen(
        ConfirmDialog("New environment", question, confirm=f"Create {name}", cancel="Back"),
        answered,
    )


def request_review(screen: MainScreen, feature: str, number: int) -> None:
    """p: show the version against live (in a worker), ask why, then request review."""
    screen.run_worker(
        lambda: _open_request_review(screen, feature, number),
        thread=True,
        group="confirm",
    )


def _open_request_review(screen: MainScreen, feature: str, number: int) -> None:
    env, store = screen.deck.environment, screen.deck.store
    heading = Text(f"Reviewers will see v{number} against what is live in {env}", style="dim")
    try:
        shown = against_live(store, feature, number, env, heading=heading)
    except PromptDeckError as exc:
        screen.post_message(screen.Failed(str(exc)))
        return

    def confirmed(reason: str | None) -> None:
        if reason is not None:
            screen.write(
                f"Review of {feature} v{number} requested",
                lambda: store.governance.request_review(feature, number, reason),
                select=number,
            )

    def show() -> None:  # on the UI thread: workers never create or touch widgets
        screen.app.push_screen(
            ChangeDialog(
                f"Request review of {feature} v{number}",
                shown.details,
                confirm="request review",
                diff=shown.data,
            ),
            confirmed,
        )

    screen.app.call_from_thread(show)


@dataclass(frozen=True, slots=True)
class Passage:
    """The gate as read before a move's dialog opens."""

    refused: bool  # True: said why in a notification; no dialog opens
    override: str | None = None  # missing checks the admin's dialog offers to override


def gate(screen: MainScreen, feature: str, number: int, move: str) -> Passage:
    """In a worker: may ``number`` go live in the app's environment? What is missing is
    said before a reason is typed, not after. Missing checks alone do not refuse an
    admin: the dialog then names them and offers the override (an audit event); anyone
    else is told that only an admin may override. ``move`` completes "Cannot ... in
    production yet"."""
    deck = screen.deck
    env = deck.environment
    try:
        found = deck.store.governance.gate(feature, number, env)
    except PromptDeckError as exc:
        screen.post_message(screen.Failed(str(exc)))
        return Passage(refused=True)
    if not found.blockers:
        return Passage(refused=False)
    if found.only_checks and deck.role == "admin":
        return Passage(refused=False, override=found.checks)
    lines = list(found.blockers)
    if found.only_checks:
        lines.append(
            f"{deck.user} is {article(deck.role or 'viewer')} {deck.role or 'viewer'}: "
            "only an admin may override missing checks"
        )
    screen.app.call_from_thread(
        screen.notify,
        "\n".join(lines),
        title=f"Cannot {move} in {env} yet",
        severity="warning",
        markup=False,
    )
    return Passage(refused=True)


def checks_to_override(screen: MainScreen, feature: str, number: int) -> str | None:
    """In a worker, quietly: the missing checks an admin may override for ``number``
    (the running canary, before promote), else None."""
    deck = screen.deck
    if deck.role != "admin":
        return None
    try:
        found = deck.store.governance.gate(feature, number, deck.environment)
    except PromptDeckError:
        return None  # the dialog opens anyway; the store says what it refuses
    return found.checks if found.only_checks else None
