"""The review queue's count (the app's "N to review" header, read on every reload):
always the length of the queue, without building the queue or computing a diff."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promptdeck.errors import NotFoundError
from promptdeck.store import PromptStore, governance

TEAM = {"alice": "admin", "bob": "reviewer", "carol": "reviewer", "ed": "editor"}


@pytest.fixture
def team(store_path: Path) -> Iterator[dict[str, PromptStore]]:
    with PromptStore(store_path, user="alice", create=False) as store:
        for user, role in TEAM.items():
            store.set_role(user, role)
    stores = {user: PromptStore(store_path, user=user, create=False) for user in TEAM}
    yield stores
    for store in stores.values():
        store.close()


def counts(store: PromptStore) -> dict[str, tuple[int, int]]:
    """Per environment: (pending_count, the queue's length)."""
    return {
        env: (store.governance.pending_count(env), len(store.governance.queue(env)))
        for env in ("production", "staging")
    }


def test_the_count_is_the_queue_through_every_review_state(
    team: dict[str, PromptStore],
) -> None:
    ed, bob, carol, alice = team["ed"], team["bob"], team["carol"], team["alice"]
    assert counts(bob) == {"production": (0, 0), "staging": (0, 0)}
    first = ed.save("summarizer", "One line.", reason="shorter").number
    second = ed.save("code-reviewer", "Review kindly.", reason="kinder").number
    third = ed.save("code-reviewer", "Review kindly, in bullets.", reason="bullets").number
    ed.governance.request_review("summarizer", first, "please")
    ed.governance.request_review("code-reviewer", second, "please")
    ed.governance.request_review("code-reviewer", third, "please")
    assert counts(bob) == {"production": (3, 3), "staging": (3, 3)}
    carol.governance.reject("summarizer", first, "too short")
    assert counts(bob)["production"] == (3, 3)  # rejected: still waits for a word
    bob.governance.approve("summarizer", first, "fine")
    assert counts(bob)["production"] == (3, 3)  # carol's rejection still stands
    carol.governance.approve("summarizer", first, "ok now")
    assert counts(bob)["production"] == (2, 2)
    bob.governance.approve("code-reviewer", second, "good")
    assert counts(bob)["production"] == (1, 1)
    bob.governance.reject("code-reviewer", second, "on second thought")
    assert counts(bob)["production"] == (2, 2)  # the latest word of each reviewer counts
    # Live in staging: no longer waiting there, still waiting in production.
    alice.activate("code-reviewer", third, reason="try it", environment="staging")
    assert counts(bob) == {"production": (2, 2), "staging": (1, 1)}


def test_the_count_loads_no_version_and_computes_no_diff(
    team: dict[str, PromptStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    ed = team["ed"]
    for n in range(3):
        number = ed.save("summarizer", f"Version {n}.", reason=f"try {n}").number
        ed.governance.request_review("summarizer", number, "please")

    def no_diff(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("pending_count computed a diff")

    monkeypatch.setattr(governance, "diff_texts", no_diff)
    monkeypatch.setattr(governance, "review_state", no_diff)
    assert team["bob"].governance.pending_count() == 3


def test_an_unknown_environment_is_refused_as_by_the_queue(
    team: dict[str, PromptStore],
) -> None:
    with pytest.raises(NotFoundError, match="did you mean staging"):
        team["bob"].governance.pending_count("stagign")
