"""``experiment.arms_for``: which two versions a comparison takes, and from when."""

from __future__ import annotations

from datetime import datetime

import pytest

from promptdeck.errors import ValidationError
from promptdeck.experiment import arms_for
from promptdeck.store import PromptStore

FEATURE = "translator"  # active v2 in the samples, v3 newer, no canary yet


def canary_events(store: PromptStore) -> list[datetime]:
    return [e.at for e in store.history(FEATURE) if e.action == "canary"]  # newest first


def test_a_canary_is_compared_from_when_it_began(store: PromptStore) -> None:
    with pytest.raises(ValidationError, match="no canary"):
        arms_for(store, FEATURE, "production")
    store.set_canary(FEATURE, 3, 10, reason="try v3")
    began = canary_events(store)[0]
    store.set_canary(FEATURE, 3, 25, reason="more users")  # the same canary, widened
    arms = arms_for(store, FEATURE, "production")
    assert (arms.baseline, arms.candidate, arms.canary_percent) == (2, 3, 25)
    assert arms.since == began and arms.until is None
    assert (arms.baseline_label, arms.candidate_label) == ("active v2", "canary v3")

    store.clear_canary(FEATURE, reason="stop")
    store.set_canary(FEATURE, 3, 5, reason="again, from scratch")
    restarted = canary_events(store)[0]
    assert restarted != began
    assert arms_for(store, FEATURE, "production").since == restarted


def test_two_versions_are_compared_over_the_range_given(store: PromptStore) -> None:
    arms = arms_for(store, FEATURE, "production", versions=(3, 2))
    assert (arms.baseline, arms.candidate, arms.canary_percent, arms.since) == (3, 2, None, None)
    uids = {v.number: v.uid for v in store.versions(FEATURE)}
    assert (arms.baseline_uid, arms.candidate_uid) == (uids[3], uids[2])
    with pytest.raises(ValidationError, match="no version 9"):
        arms_for(store, FEATURE, "production", versions=(2, 9))
