"""Planning the tables of schema 0003 for one push or pull. Pure: plain records in,
a TablesPlan out (no SQLAlchemy), so the rules are tested from tables of cases.

- environments  by name: one the source has and the target lacks is created there,
                when the writer may (an admin: environments are created by admins);
                protection settings: on pull the remote's win; on push yours are sent
                only by an admin, and never when they would lower the remote's (fewer
                approvals, no protection, no required checks): a stale local copy
                would otherwise unprotect the remote in the very run whose pointer
                moves its gate checks. A line says what was not sent.
- reviews, check runs   append-only, union by uid; each is attached to a version by the
                version's uid, so it travels once that version is on the target (this
                run sends it, or it is there already).
- suites        append-only per feature, union by uid. Numbering conflicts are refused,
                not renumbered: a suite whose number the target already gives to a
                different suite of the feature is not copied, with a line naming it
                (suites are few and rarely edited on two stores at once; a check run
                names its suite by uid, so nothing else depends on the number). A suite
                with the same feature, number and content hash on both sides (each side
                imported the same files) is the same suite: nothing to copy, no conflict.
- metrics       keyed by origin (the store that recorded them). Another origin's rows
                are copied by replacing that origin's rows on the target, never added
                to them, and rows whose origin is the target itself never travel: so
                nothing is counted twice however often stores sync. A copy replaces the
                target's only when it is newer (the origin itself, or more requests).
"""

from __future__ import annotations

from collections.abc import Collection

from promptdeck.sync.records import (
    Direction,
    MetricDigest,
    SideEnvironment,
    SideTables,
    TablesPlan,
)

NO_METRICS = MetricDigest(0, 0)


def plan_tables(
    direction: Direction,
    source: SideTables,
    target: SideTables,
    *,
    source_identity: str,
    target_identity: str,
    target_versions: Collection[str],
    target_features: Collection[str],
    may_manage_environments: bool,
) -> TablesPlan:
    """What to copy from ``source`` to ``target``.

    ``target_versions``/``target_features``: version uids and feature names the target
    holds once this run's versions and features are written."""
    plan = TablesPlan()
    where = "the remote" if direction == "push" else "this store"
    for name, environment in sorted(source.environments.items()):
        theirs = target.environments.get(name)
        if theirs is None:
            if may_manage_environments:
                plan.create_environments.append(name)
            else:
                plan.refused.append(
                    f"environment {name} not created in {where}: only an admin may create one"
                )
        elif theirs.settings != environment.settings:
            if direction == "pull":
                plan.update_environments.append(name)
            elif not may_manage_environments:
                plan.refused.append(
                    f"protection of {name} differs from the remote's and was not pushed: "
                    "only an admin may change it"
                )
            elif lowers(environment, theirs):
                plan.refused.append(
                    f"protection of {name} is lower here than on the remote and was not "
                    "pushed: a push never lowers it (pull to take the remote's, or change "
                    f"it on the remote with `promptdeck env protect|unprotect {name}`)"
                )
            else:
                plan.update_environments.append(name)
    plan.reviews = _attached(source.reviews, target.reviews, target_versions)
    plan.check_runs = _attached(source.check_runs, target.check_runs, target_versions)
    taken = {(s.feature, s.number): s.content_hash for s in target.suites.values()}
    for uid, suite in sorted(source.suites.items(), key=lambda i: (i[1].feature, i[1].number)):
        if uid in target.suites or suite.feature not in target_features:
            continue
        if (suite.feature, suite.number) in taken:
            if suite.content_hash and taken[suite.feature, suite.number] == suite.content_hash:
                continue  # the same suite saved on both sides (say by an import): nothing to copy
            plan.refused.append(
                f"{suite.feature} suite {suite.number}: {where} holds a different suite "
                f"{suite.number}; save the suite again on one side to go on"
            )
            continue
        plan.suites.append(uid)
    for origin, digest in sorted(source.metrics.items()):
        if origin == target_identity:
            continue  # the target's own rows: it recorded them, a copy is never newer
        held = target.metrics.get(origin, NO_METRICS)
        if digest != held and (origin == source_identity or digest > held):
            plan.metric_origins.append(origin)
    return plan


def lowers(new: SideEnvironment, old: SideEnvironment) -> bool:
    """Whether settings ``new`` would let through what ``old`` keeps out."""
    return (
        (old.protected and not new.protected)
        or (old.protected and new.required_approvals < old.required_approvals)
        or (old.require_checks and not new.require_checks)
    )


def _attached(
    source: dict[str, str], target: dict[str, str], target_versions: Collection[str]
) -> list[str]:
    """Rows (uid -> version uid) the target lacks whose version it holds."""
    return sorted(
        uid for uid, version in source.items() if uid not in target and version in target_versions
    )
