"""The rules for the tables of schema 0003 in sync, from tables of cases: the pure
table planner, no database at all (scenarios on real stores: test_sync_tables.py)."""

from __future__ import annotations

import pytest

from promptdeck.sync.records import (
    Direction,
    MetricDigest,
    SideEnvironment,
    SideSuite,
    SideTables,
    TablesPlan,
)
from promptdeck.sync.table_planner import plan_tables

PROD = SideEnvironment("production", False, 1, False)
PROD_PROTECTED = SideEnvironment("production", True, 2, False)
PROD_STRICTER = SideEnvironment("production", True, 3, True)
PROD_CHECKS = SideEnvironment("production", True, 4, False)  # more approvals, no checks
STAGING = SideEnvironment("staging", False, 1, False)


def plan(
    source: SideTables,
    target: SideTables,
    *,
    direction: Direction = "push",
    admin: bool = True,
    versions: tuple[str, ...] = ("v1", "v2"),
    features: tuple[str, ...] = ("faq",),
) -> TablesPlan:
    return plan_tables(
        direction,
        source,
        target,
        source_identity="SRC",
        target_identity="TGT",
        target_versions=set(versions),
        target_features=set(features),
        may_manage_environments=admin,
    )


def envs(*environments: SideEnvironment) -> SideTables:
    return SideTables(environments={e.name: e for e in environments})


@pytest.mark.parametrize(
    ("direction", "admin", "source", "target", "created", "updated", "refused"),
    [
        # missing on the target: created, by an admin only
        ("push", True, envs(PROD, STAGING), envs(PROD), ["staging"], [], 0),
        ("push", False, envs(PROD, STAGING), envs(PROD), [], [], 1),
        ("pull", True, envs(PROD, STAGING), envs(PROD), ["staging"], [], 0),
        ("pull", False, envs(PROD, STAGING), envs(PROD), [], [], 1),
        # the target has more: nothing (environments are never deleted)
        ("push", True, envs(PROD), envs(PROD, STAGING), [], [], 0),
        # protection differs: the remote's wins on pull whoever pulls...
        ("pull", False, envs(PROD_PROTECTED), envs(PROD), [], ["production"], 0),
        ("pull", True, envs(PROD), envs(PROD_PROTECTED), [], ["production"], 0),
        # ... and only an admin's push changes the remote's, never lowering it
        ("push", True, envs(PROD_PROTECTED), envs(PROD), [], ["production"], 0),
        ("push", True, envs(PROD_STRICTER), envs(PROD_PROTECTED), [], ["production"], 0),
        ("push", False, envs(PROD_PROTECTED), envs(PROD), [], [], 1),
        ("push", True, envs(PROD), envs(PROD_PROTECTED), [], [], 1),
        ("push", True, envs(PROD_PROTECTED), envs(PROD_STRICTER), [], [], 1),
        ("push", True, envs(PROD_CHECKS), envs(PROD_STRICTER), [], [], 1),
        # equal: nothing
        ("push", False, envs(PROD_PROTECTED), envs(PROD_PROTECTED), [], [], 0),
    ],
)
def test_environments(
    direction: Direction,
    admin: bool,
    source: SideTables,
    target: SideTables,
    created: list[str],
    updated: list[str],
    refused: int,
) -> None:
    planned = plan(source, target, direction=direction, admin=admin)
    assert planned.create_environments == created
    assert planned.update_environments == updated
    assert len(planned.refused) == refused
    assert all(
        "only an admin" in line if not admin else "a push never lowers it" in line
        for line in planned.refused
    )


@pytest.mark.parametrize("kind", ["reviews", "check_runs"])
@pytest.mark.parametrize(
    ("source", "target", "versions", "expected"),
    [
        ({"r1": "v1", "r2": "v2"}, {}, ("v1", "v2"), ["r1", "r2"]),  # union by uid
        ({"r1": "v1", "r2": "v2"}, {"r1": "v1"}, ("v1", "v2"), ["r2"]),
        ({"r1": "v1"}, {"r1": "v1", "r3": "v2"}, ("v1", "v2"), []),  # never removed
        ({"r1": "v1", "r2": "v9"}, {}, ("v1",), ["r1"]),  # v9 not there: waits
    ],
)
def test_reviews_and_check_runs_follow_their_version(
    kind: str,
    source: dict[str, str],
    target: dict[str, str],
    versions: tuple[str, ...],
    expected: list[str],
) -> None:
    planned = plan(SideTables(**{kind: source}), SideTables(**{kind: target}), versions=versions)
    assert getattr(planned, kind) == expected
    other = "check_runs" if kind == "reviews" else "reviews"
    assert getattr(planned, other) == []


def suites(*items: tuple[str, str, int] | tuple[str, str, int, str]) -> SideTables:
    """(uid, feature, number[, content hash])."""
    return SideTables(suites={item[0]: SideSuite(*item) for item in items})


@pytest.mark.parametrize(
    ("source", "target", "features", "expected", "refused"),
    [
        (suites(("s1", "faq", 1), ("s2", "faq", 2)), suites(), ("faq",), ["s1", "s2"], []),
        (
            suites(("s1", "faq", 1), ("s2", "faq", 2)),
            suites(("s1", "faq", 1)),
            ("faq",),
            ["s2"],
            [],
        ),
        # the feature is not on the target (not sent this run): the suite waits
        (suites(("s1", "faq", 1)), suites(), ("other",), [], []),
        # the same number, a different suite: refused with a line naming it
        (
            suites(("s1", "faq", 1), ("s2", "faq", 2)),
            suites(("s1", "faq", 1), ("t2", "faq", 2)),
            ("faq",),
            [],
            ["faq suite 2"],
        ),
        # the same number and content under two uids (each side imported the same
        # files): the same suite, nothing to copy and nothing refused
        (suites(("s1", "faq", 1, "h1")), suites(("t1", "faq", 1, "h1")), ("faq",), [], []),
        # the same number, different content: refused
        (
            suites(("s1", "faq", 1, "h1")),
            suites(("t1", "faq", 1, "h2")),
            ("faq",),
            [],
            ["faq suite 1"],
        ),
    ],
)
def test_suites_union_by_uid_and_numbering_conflicts_are_refused(
    source: SideTables,
    target: SideTables,
    features: tuple[str, ...],
    expected: list[str],
    refused: list[str],
) -> None:
    planned = plan(source, target, features=features)
    assert planned.suites == expected
    assert [line.split(":")[0] for line in planned.refused] == refused
    assert all("holds a different suite" in line for line in planned.refused)


def metrics(**digests: tuple[int, int]) -> SideTables:
    return SideTables(metrics={origin: MetricDigest(*d) for origin, d in digests.items()})


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        # the source's own rows: copied whenever the target's copy differs
        (metrics(SRC=(10, 2)), metrics(), ["SRC"]),
        (metrics(SRC=(10, 2)), metrics(SRC=(7, 2)), ["SRC"]),
        (metrics(SRC=(10, 2)), metrics(SRC=(10, 2)), []),
        # the target's own rows never come back to it, however they differ
        (metrics(TGT=(99, 9)), metrics(TGT=(1, 1)), []),
        (metrics(TGT=(1, 1)), metrics(), []),
        # a third store's rows: the newer copy (more requests, then more rows) wins
        (metrics(OTHER=(10, 2)), metrics(), ["OTHER"]),
        (metrics(OTHER=(10, 3)), metrics(OTHER=(10, 2)), ["OTHER"]),
        (metrics(OTHER=(5, 2)), metrics(OTHER=(10, 2)), []),
        (metrics(OTHER=(10, 2)), metrics(OTHER=(10, 2)), []),
        (metrics(SRC=(1, 1), OTHER=(3, 1), TGT=(4, 4)), metrics(), ["OTHER", "SRC"]),
    ],
)
def test_metrics_replace_by_origin_and_never_return_home(
    source: SideTables, target: SideTables, expected: list[str]
) -> None:
    for direction in ("push", "pull"):
        assert plan(source, target, direction=direction).metric_origins == expected


def test_nothing_to_copy_is_no_write() -> None:
    same = SideTables(
        environments={"production": PROD},
        reviews={"r1": "v1"},
        suites={"s1": SideSuite("s1", "faq", 1)},
        check_runs={"c1": "v1"},
        metrics={"SRC": MetricDigest(3, 1)},
    )
    planned = plan(same, same)
    assert not planned.writes and planned.counts() == () and planned.refused == []
