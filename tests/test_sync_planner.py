"""Sync's conflict rules, from tables of cases: the pure planner, no database at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from promptdeck.errors import ValidationError
from promptdeck.sync import planner
from promptdeck.sync.records import (
    MOVED_MARK,
    NO_BASELINE,
    NO_POINTER,
    Baseline,
    Baselines,
    Choice,
    Direction,
    EventSummary,
    KeepLocalNumbersError,
    PointerState,
    SideFeature,
    SideState,
    SideVersion,
)

# A side, written compactly: feature -> {"versions": {number: uid}, "pointers": {env:
# PointerState}}; version uids double as authors' initials in the descriptions.
FeatureSpec = Mapping[str, Any]


def side(
    features: Mapping[str, FeatureSpec], events: Mapping[str, EventSummary] | None = None
) -> SideState:
    built: dict[str, SideFeature] = {}
    numbers: dict[str, int] = {}
    for index, (name, spec) in enumerate(sorted(features.items()), start=1):
        feature = SideFeature(name, index)
        for number, uid in spec.get("versions", {}).items():
            version = SideVersion(uid, number, "someone")
            feature.versions_by_uid[uid] = version
            feature.versions_by_number[number] = version
            numbers[uid] = number
        feature.pointers.update(spec.get("pointers", {}))
        built[name] = feature
    return SideState(1, "store-id", 0, built, dict(events or {}), numbers)


def active(uid: str | None) -> PointerState:
    return PointerState(active=uid)


def canary(active_uid: str, canary_uid: str | None, percent: int) -> PointerState:
    return PointerState(active_uid, canary_uid, percent if canary_uid else 0)


SHARED = {1: "u1", 2: "u2"}


# --- which way a pointer travels ------------------------------------------------------

POINTER_CASES = [
    # (case, local, remote, baseline, expected state per component)
    ("equal pointers: nothing", active("u1"), active("u1"), NO_BASELINE, {}),
    (
        "only local moved: push",
        active("u2"),
        active("u1"),
        Baseline(active("u1"), active("u1")),
        {"active": "push"},
    ),
    (
        "only remote moved: pull",
        active("u1"),
        active("u2"),
        Baseline(active("u1"), active("u1")),
        {"active": "pull"},
    ),
    (
        "both moved, to different versions: conflict",
        active("u2"),
        active("u3"),
        Baseline(active("u1"), active("u1")),
        {"active": "conflict"},
    ),
    (
        "first sync, both have one: conflict",
        active("u1"),
        active("u2"),
        NO_BASELINE,
        {"active": "conflict"},
    ),
    (
        "first sync, only remote has one: pull",
        NO_POINTER,
        active("u2"),
        NO_BASELINE,
        {"active": "pull"},
    ),
    (
        "first sync, only local has one: push",
        active("u1"),
        NO_POINTER,
        NO_BASELINE,
        {"active": "push"},
    ),
    (
        "canary share changed locally: push the canary only",
        canary("u1", "u2", 30),
        canary("u1", "u2", 10),
        Baseline(canary("u1", "u2", 10), canary("u1", "u2", 10)),
        {"canary": "push"},
    ),
    (
        "canary started remotely while the active moved locally: one each way",
        canary("u2", None, 0),
        canary("u1", "u2", 10),
        Baseline(active("u1"), active("u1")),
        {"active": "push", "canary": "pull"},
    ),
    (
        "a choice kept for the pull: the remote counts as moved",
        active("u1"),
        active("u2"),
        Baseline(active("u1"), PointerState().with_value("active", MOVED_MARK)),
        {"active": "pull"},
    ),
]


@pytest.mark.parametrize(
    ("local", "remote", "baseline", "expected"),
    [case[1:] for case in POINTER_CASES],
    ids=[case[0] for case in POINTER_CASES],
)
def test_a_pointer_travels_from_the_side_that_moved(
    local: PointerState, remote: PointerState, baseline: Baseline, expected: dict[str, str]
) -> None:
    changes = planner.compare_pointers("production", local, remote, baseline)
    assert {c.component: c.state for c in changes} == expected


# --- versions: ahead, behind, or in conflict -------------------------------------------

VERSION_CASES = [
    # (case, local versions, remote versions, expected numbers per kind; None: no difference)
    ("identical", SHARED, SHARED, None),
    ("local has a new version", {**SHARED, 3: "l3"}, SHARED, {"ahead": [3]}),
    ("remote has a new version", SHARED, {**SHARED, 3: "r3"}, {"behind": [3]}),
    (
        "both saved version 3: a version conflict",
        {**SHARED, 3: "l3"},
        {**SHARED, 3: "r3"},
        {"clashing_local": [3], "clashing_remote": [3]},
    ),
    (
        "both saved 3, local also 4: 3 clashes, 4 is ahead",
        {**SHARED, 3: "l3", 4: "l4"},
        {**SHARED, 3: "r3"},
        {"ahead": [4], "clashing_local": [3], "clashing_remote": [3]},
    ),
    (
        "the same version under two numbers",
        {**SHARED, 3: "x"},
        {**SHARED, 4: "x"},
        {"renumbered_apart": [3]},
    ),
]


@pytest.mark.parametrize(
    ("local_versions", "remote_versions", "expected"),
    [case[1:] for case in VERSION_CASES],
    ids=[case[0] for case in VERSION_CASES],
)
def test_versions_are_matched_by_uid_and_clash_by_number(
    local_versions: dict[int, str],
    remote_versions: dict[int, str],
    expected: dict[str, list[int]] | None,
) -> None:
    comparisons = planner.compare(
        side({"f": {"versions": local_versions}}), side({"f": {"versions": remote_versions}}), {}
    )
    if expected is None:
        assert comparisons == []
        return
    (comparison,) = comparisons
    found = {
        kind: [v.number for v in getattr(comparison, kind)]
        for kind in ("ahead", "behind", "clashing_local", "clashing_remote")
        if getattr(comparison, kind)
    }
    if comparison.renumbered_apart:
        found["renumbered_apart"] = [mine.number for mine, _theirs in comparison.renumbered_apart]
    assert found == expected
    conflict_expected = any(kind not in ("ahead", "behind") for kind in expected)
    assert comparison.version_conflict == conflict_expected


def test_a_feature_on_one_side_only_is_sent_whole() -> None:
    local = side({"f": {"versions": SHARED}, "new": {"versions": {1: "n1", 2: "n2"}}})
    remote = side({"f": {"versions": SHARED}})
    plan, _ = planner.plan_run("push", local, remote, {}, {}, "push")
    assert plan.features == ["new"]
    assert plan.versions == [("new", "n1"), ("new", "n2")]
    assert not plan.unresolved


# --- a version conflict: what each run does with each choice ---------------------------

CLASH_LOCAL = side({"f": {"versions": {**SHARED, 3: "l3"}}, "g": {"versions": {1: "g1"}}})
CLASH_REMOTE = side({"f": {"versions": {**SHARED, 3: "r3"}}, "g": {"versions": {1: "g1", 2: "g2"}}})

VERSION_CONFLICT_CASES = [
    # (case, direction, resolve, assume_renumbered, unresolved keys, versions written, renumber)
    ("pull without a choice: f waits, g still comes", "pull", {}, False, ["f"], [("g", "g2")], []),
    ("push without a choice: f waits", "push", {}, False, ["f"], [], []),
    (
        "pull with renumber: the remote's 3 comes in, yours move on top",
        "pull",
        {"f": "renumber"},
        False,
        [],
        [("f", "r3"), ("g", "g2")],
        ["f"],
    ),
    (
        "pull with remote: the same as renumber",
        "pull",
        {"f": "remote"},
        False,
        [],
        [("f", "r3"), ("g", "g2")],
        ["f"],
    ),
    (
        "push with renumber, before the local renumbering: still waits",
        "push",
        {"f": "renumber"},
        False,
        ["f"],
        [],
        [],
    ),
    (
        "push with renumber, once renumbered: sends yours",
        "push",
        {"f": "renumber"},
        True,
        [],
        [("f", "l3")],
        [],
    ),
]


@pytest.mark.parametrize(
    ("direction", "resolve", "assume_renumbered", "unresolved", "versions", "renumber"),
    [case[1:] for case in VERSION_CONFLICT_CASES],
    ids=[case[0] for case in VERSION_CONFLICT_CASES],
)
def test_a_version_conflict_is_resolved_only_by_moving_local_versions_on_top(
    direction: Direction,
    resolve: dict[str, Choice],
    assume_renumbered: bool,
    unresolved: list[str],
    versions: list[tuple[str, str]],
    renumber: list[str],
) -> None:
    comparisons = planner.compare(CLASH_LOCAL, CLASH_REMOTE, {})
    plan = planner.plan(
        direction,
        comparisons,
        CLASH_LOCAL,
        CLASH_REMOTE,
        resolve,
        assume_renumbered=assume_renumbered,
    )
    assert sorted({c.key for c in plan.unresolved}) == unresolved
    assert plan.versions == versions
    assert [c.name for c in plan.renumber] == renumber
    assert plan.skipped_features == set(unresolved)


def test_keeping_local_numbers_in_a_version_conflict_is_refused_before_any_write() -> None:
    with pytest.raises(KeepLocalNumbersError, match="renumber"):
        planner.plan_run("pull", CLASH_LOCAL, CLASH_REMOTE, {}, {"f": "local"}, "pull")


def test_the_same_version_under_two_numbers_cannot_be_resolved() -> None:
    local = side({"f": {"versions": {**SHARED, 3: "x"}}})
    remote = side({"f": {"versions": {**SHARED, 4: "x"}}})
    plan, _ = planner.plan_run("pull", local, remote, {}, {"f": "renumber"}, "pull")
    assert [c.kind for c in plan.unresolved] == ["version"]
    assert not plan.renumber and not plan.versions


# --- a pointer conflict: what each run does with each choice ---------------------------

POINTER_LOCAL = side({"f": {"versions": {**SHARED, 3: "u3"}, "pointers": {"prod": active("u2")}}})
POINTER_REMOTE = side({"f": {"versions": {**SHARED, 3: "u3"}, "pointers": {"prod": active("u3")}}})
POINTER_BASE: Baselines = {("f", "prod"): Baseline(active("u1"), active("u1"))}

POINTER_CONFLICT_CASES = [
    # (case, direction, resolve, moves, remembered, unresolved, left for the other way)
    ("push without a choice", "push", {}, 0, 0, 1, 0),
    ("pull without a choice", "pull", {}, 0, 0, 1, 0),
    ("push choosing local: moves the remote", "push", {"f": "local"}, 1, 0, 0, 0),
    ("pull choosing remote: moves the local one", "pull", {"f": "remote"}, 1, 0, 0, 0),
    ("push choosing remote: kept for the pull", "push", {"f": "remote"}, 0, 1, 0, 1),
    ("pull choosing local: kept for the push", "pull", {"f": "local"}, 0, 1, 0, 1),
    ("a choice per environment", "push", {"f:prod": "local"}, 1, 0, 0, 0),
    ("a choice for another environment", "push", {"f:staging": "local"}, 0, 0, 1, 0),
    (
        "the environment's choice wins over the feature's",
        "push",
        {"f": "remote", "f:prod": "local"},
        1,
        0,
        0,
        0,
    ),
    ("renumber says nothing about pointers", "push", {"f": "renumber"}, 0, 0, 1, 0),
]


@pytest.mark.parametrize(
    ("direction", "resolve", "moves", "remembered", "unresolved", "other_direction"),
    [case[1:] for case in POINTER_CONFLICT_CASES],
    ids=[case[0] for case in POINTER_CONFLICT_CASES],
)
def test_a_pointer_conflict_moves_only_with_a_choice(
    direction: Direction,
    resolve: dict[str, Choice],
    moves: int,
    remembered: int,
    unresolved: int,
    other_direction: int,
) -> None:
    comparisons = planner.compare(POINTER_LOCAL, POINTER_REMOTE, POINTER_BASE)
    plan = planner.plan(direction, comparisons, POINTER_LOCAL, POINTER_REMOTE, resolve)
    assert (len(plan.moves), len(plan.remembered), len(plan.unresolved)) == (
        moves,
        remembered,
        unresolved,
    )
    assert plan.other_direction == other_direction
    assert all(c.kind == "active" and c.key == "f:prod" for c in plan.unresolved)


@pytest.mark.parametrize(
    ("direction", "moves", "other_direction"),
    [("push", 1, 0), ("pull", 0, 1)],
    ids=["a push makes a move only the local side made", "a pull leaves it for the push"],
)
def test_a_one_sided_move_goes_one_way(
    direction: Direction, moves: int, other_direction: int
) -> None:
    base: Baselines = {("f", "prod"): Baseline(active("u1"), active("u3"))}
    comparisons = planner.compare(POINTER_LOCAL, POINTER_REMOTE, base)
    plan = planner.plan(direction, comparisons, POINTER_LOCAL, POINTER_REMOTE, {})
    assert (len(plan.moves), plan.other_direction, plan.unresolved) == (moves, other_direction, [])


def test_versions_only_lists_the_moves_it_skips() -> None:
    base: Baselines = {("f", "prod"): Baseline(active("u1"), active("u3"))}
    comparisons = planner.compare(POINTER_LOCAL, POINTER_REMOTE, base)
    plan = planner.plan("push", comparisons, POINTER_LOCAL, POINTER_REMOTE, {}, versions_only=True)
    assert plan.moves == []
    assert plan.skipped_moves == ["f active in prod: v3 -> v2"]


# --- resolutions that cannot be read ---------------------------------------------------

BAD_RESOLUTIONS = [
    ({"nope": "local"}, "unknown feature 'nope'"),
    ({"f:prod": "renumber"}, "renumber applies to version conflicts"),
    ({"f": "mine"}, "unknown choice 'mine'"),
]


@pytest.mark.parametrize(("resolve", "message"), BAD_RESOLUTIONS)
def test_a_resolution_that_cannot_apply_is_refused(resolve: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        planner.check_resolutions(resolve, {"f"})


# --- which audit events travel ---------------------------------------------------------

EVENT_CASES = [
    # (case, event, sent?)
    ("a save travels", EventSummary("g", None, "create"), True),
    ("roles stay in their store", EventSummary(None, None, "role"), False),
    ("sync's own move events stay", EventSummary("f", "prod", "sync-activate"), False),
    (
        "events of a feature held by a version conflict wait",
        EventSummary("c", None, "create"),
        False,
    ),
    (
        "an activation that this run does not apply waits",
        EventSummary("f", "prod", "activate"),
        False,
    ),
    ("a canary change of an unchanged canary travels", EventSummary("g", "prod", "canary"), True),
]


@pytest.mark.parametrize(
    ("event", "sent"), [case[1:] for case in EVENT_CASES], ids=[case[0] for case in EVENT_CASES]
)
def test_audit_events_travel_unless_their_change_waits(event: EventSummary, sent: bool) -> None:
    local = side(
        {
            "f": {"versions": {**SHARED, 3: "u3"}, "pointers": {"prod": active("u2")}},
            "g": {"versions": SHARED},
            "c": {"versions": {1: "c1", 2: "l2"}},
        },
        events={"e1": event},
    )
    remote = side(
        {
            "f": {"versions": {**SHARED, 3: "u3"}, "pointers": {"prod": active("u3")}},
            "g": {"versions": SHARED},
            "c": {"versions": {1: "c1", 2: "r2"}},
        }
    )
    plan, _ = planner.plan_run("push", local, remote, POINTER_BASE, {}, "push")
    assert (plan.events == ["e1"]) is sent


def test_an_event_a_sync_overrode_never_travels() -> None:
    local = side({"g": {"versions": SHARED}}, events={"e1": EventSummary("g", "prod", "activate")})
    local.superseded.add("e1")
    plan, _ = planner.plan_run("push", local, side({"g": {"versions": SHARED}}), {}, {}, "push")
    assert plan.events == []


# --- the baselines a run leaves ---------------------------------------------------------


def test_after_a_move_both_sides_agree_and_that_is_the_new_baseline() -> None:
    after = {("f", "prod"): active("u2")}
    bases = planner.new_baselines(POINTER_LOCAL, POINTER_REMOTE, POINTER_BASE, "push", after, [])
    assert bases == {("f", "prod"): Baseline(active("u2"), active("u2"))}


KEPT_CASES = [
    # (case, baseline before, remote baseline after)
    (
        "both moved: the remote's own move already tells the next pull",
        Baseline(active("u1"), active("u1")),
        active("u1"),
    ),
    (
        "neither moved since a choice: the remote is marked as moved",
        Baseline(active("u2"), active("u3")),
        PointerState().with_value("active", MOVED_MARK),
    ),
]


@pytest.mark.parametrize(
    ("before", "remote_after"),
    [case[1:] for case in KEPT_CASES],
    ids=[case[0] for case in KEPT_CASES],
)
def test_a_choice_kept_for_the_pull_lets_the_next_pull_take_it_without_asking(
    before: Baseline, remote_after: PointerState
) -> None:
    base: Baselines = {("f", "prod"): before}
    comparisons = planner.compare(POINTER_LOCAL, POINTER_REMOTE, base)
    plan = planner.plan("push", comparisons, POINTER_LOCAL, POINTER_REMOTE, {"f": "remote"})
    assert len(plan.remembered) == 1
    bases = planner.new_baselines(POINTER_LOCAL, POINTER_REMOTE, base, "push", {}, plan.remembered)
    assert bases[("f", "prod")] == Baseline(active("u2"), remote_after)
    (change,) = planner.compare(POINTER_LOCAL, POINTER_REMOTE, bases)[0].pointers
    assert change.state == "pull"
