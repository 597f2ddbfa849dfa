"""Sync's planner: compare two sides, find the conflicts, plan the writes. Pure.

It works on the plain records of records.py (what reading.py read from each store)
and returns plans that applying.py writes through the store's unit of work; it
imports no SQLAlchemy, so its rules are tested from tables of cases without any
database (tests/test_sync_planner.py). About 600 lines: every conflict rule of sync
in one place, so they are read and tested together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from promptdeck.errors import ValidationError
from promptdeck.sync.records import (
    ACTION_COMPONENTS,
    CHOICES,
    COMPONENTS,
    LOCAL_ONLY_ACTIONS,
    MOVED_MARK,
    NO_BASELINE,
    NO_POINTER,
    POINTER_ACTIONS,
    VERSION_CHOICES,
    Baseline,
    Baselines,
    Choice,
    Component,
    Conflict,
    Direction,
    FeatureComparison,
    FeatureSyncStatus,
    KeepLocalNumbersError,
    PlannedMove,
    PointerChange,
    PointerChangeState,
    PointerState,
    PointerValue,
    SideState,
    SideVersion,
    SyncConflictError,
    SyncPlan,
    SyncResult,
    SyncStatus,
    plural,
)

# --- comparing -------------------------------------------------------------------------


def compare(local: SideState, remote: SideState, baselines: Baselines) -> list[FeatureComparison]:
    """Every feature that differs between the sides (or exists on one side only)."""
    comparisons: list[FeatureComparison] = []
    for name in sorted(set(local.features) | set(remote.features)):
        local_feature, remote_feature = local.features.get(name), remote.features.get(name)
        comparison = FeatureComparison(name, local_feature, remote_feature)
        local_by_uid = local_feature.versions_by_uid if local_feature else {}
        remote_by_uid = remote_feature.versions_by_uid if remote_feature else {}
        local_by_number = local_feature.versions_by_number if local_feature else {}
        remote_by_number = remote_feature.versions_by_number if remote_feature else {}
        if local_by_uid.keys() != remote_by_uid.keys() or any(
            remote_by_uid[uid].number != version.number for uid, version in local_by_uid.items()
        ):
            for uid, version in sorted(local_by_uid.items(), key=lambda item: item[1].number):
                other = remote_by_uid.get(uid)
                if other is not None:
                    if other.number != version.number:
                        comparison.renumbered_apart.append((version, other))
                elif version.number in remote_by_number:
                    comparison.clashing_local.append(version)
                else:
                    comparison.ahead.append(version)
            for uid, version in sorted(remote_by_uid.items(), key=lambda item: item[1].number):
                if uid in local_by_uid:
                    continue
                if version.number in local_by_number:
                    comparison.clashing_remote.append(version)
                else:
                    comparison.behind.append(version)
        local_pointers = local_feature.pointers if local_feature else {}
        remote_pointers = remote_feature.pointers if remote_feature else {}
        for environment in sorted(set(local_pointers) | set(remote_pointers)):
            comparison.pointers.extend(
                compare_pointers(
                    environment,
                    local_pointers.get(environment, NO_POINTER),
                    remote_pointers.get(environment, NO_POINTER),
                    baselines.get((name, environment), NO_BASELINE),
                )
            )
        if (
            comparison.ahead
            or comparison.behind
            or comparison.version_conflict
            or comparison.pointers
            or local_feature is None
            or remote_feature is None
        ):
            comparisons.append(comparison)
    return comparisons


def compare_pointers(
    environment: str, local: PointerState, remote: PointerState, baseline: Baseline
) -> list[PointerChange]:
    """Per component that differs: the side that moved since the last sync wins; both
    moved is a conflict (neither moved yet they differ: also a conflict)."""
    changes: list[PointerChange] = []
    for component in COMPONENTS:
        local_value, remote_value = local.value(component), remote.value(component)
        if local_value == remote_value:
            continue
        local_moved = local_value != baseline.local.value(component)
        remote_moved = remote_value != baseline.remote.value(component)
        state: PointerChangeState = (
            "push"
            if local_moved and not remote_moved
            else "pull"
            if remote_moved and not local_moved
            else "conflict"
        )
        changes.append(PointerChange(environment, component, local_value, remote_value, state))
    return changes


# --- describing ------------------------------------------------------------------------


def describe_value(side: SideState, component: Component, value: PointerValue) -> str:
    uid, percent = value
    if uid is None:
        return "none"
    number = side.number_of(uid)
    label = f"v{number}" if number is not None else f"version {uid[:8]}"
    return f"{label} at {percent}%" if component == "canary" else label


def describe_version(version: SideVersion | None) -> str:
    if version is None:
        return "none"
    return f"v{version.number} by {version.author} ({version.uid[:8]})"


def conflicts_of(
    comparison: FeatureComparison, local: SideState, remote: SideState
) -> list[Conflict]:
    found: list[Conflict] = []
    local_by_number = comparison.local.versions_by_number if comparison.local else {}
    remote_by_number = comparison.remote.versions_by_number if comparison.remote else {}
    numbers = {v.number for v in comparison.clashing_local} | {
        v.number for v in comparison.clashing_remote
    }
    for number in sorted(numbers):
        found.append(
            Conflict(
                "version",
                comparison.name,
                None,
                number,
                describe_version(local_by_number.get(number)),
                describe_version(remote_by_number.get(number)),
            )
        )
    for mine, theirs in comparison.renumbered_apart:
        found.append(
            Conflict(
                "version",
                comparison.name,
                None,
                mine.number,
                f"{mine.uid[:8]} is v{mine.number}",
                f"the same version is v{theirs.number}",
            )
        )
    for change in comparison.pointers:
        if change.state == "conflict":
            found.append(
                Conflict(
                    change.component,
                    comparison.name,
                    change.environment,
                    None,
                    describe_value(local, change.component, change.local),
                    describe_value(remote, change.component, change.remote),
                )
            )
    return found


def move_text(
    comparison: FeatureComparison,
    change: PointerChange,
    local: SideState,
    remote: SideState,
    to: str,
) -> str:
    local_text = describe_value(local, change.component, change.local)
    remote_text = describe_value(remote, change.component, change.remote)
    before, after = (remote_text, local_text) if to == "remote" else (local_text, remote_text)
    return f"{comparison.name} {change.component} in {change.environment}: {before} -> {after}"


def remember_text(
    comparison: FeatureComparison,
    change: PointerChange,
    direction: Direction,
    local: SideState,
    remote: SideState,
) -> str:
    place = f"{comparison.name} {change.component} in {change.environment}"
    if direction == "push":
        kept = describe_value(remote, change.component, change.remote)
        return f"{place}: keeping the remote's {kept}; pull to take it"
    kept = describe_value(local, change.component, change.local)
    return f"{place}: keeping the local {kept}; push to send it"


def status_of(
    comparisons: Sequence[FeatureComparison],
    local: SideState,
    remote: SideState,
    url: str,
    *,
    first_sync: bool,
    identity_changed: bool,
) -> SyncStatus:
    features = []
    for comparison in comparisons:
        entry = FeatureSyncStatus(
            feature=comparison.name,
            ahead=tuple(v.number for v in comparison.ahead),
            behind=tuple(v.number for v in comparison.behind),
            push_moves=tuple(
                move_text(comparison, change, local, remote, "remote")
                for change in comparison.pointers
                if change.state == "push"
            ),
            pull_moves=tuple(
                move_text(comparison, change, local, remote, "local")
                for change in comparison.pointers
                if change.state == "pull"
            ),
            conflicts=tuple(conflicts_of(comparison, local, remote)),
        )
        if not entry.in_sync:
            features.append(entry)
    to_push = sum(
        len(c.local_only) + sum(1 for change in c.pointers if change.state != "pull")
        for c in comparisons
    )
    return SyncStatus(
        url,
        tuple(features),
        first_sync=first_sync,
        identity_changed=identity_changed,
        to_push=to_push,
    )


def unpushed_pointer_moves(
    pointers: Mapping[tuple[str, str], PointerState], baselines: Baselines
) -> int:
    """Active versions and canaries moved locally since the last sync."""
    count = 0
    for place in set(pointers) | set(baselines):
        pointer = pointers.get(place, NO_POINTER)
        base_local = baselines.get(place, NO_BASELINE).local
        count += sum(1 for c in COMPONENTS if pointer.value(c) != base_local.value(c))
    return count


# --- resolutions -----------------------------------------------------------------------


def choice_for_versions(resolve: Mapping[str, Choice], feature: str) -> Choice | None:
    return resolve.get(feature)


def choice_for_pointer(
    resolve: Mapping[str, Choice], feature: str, environment: str
) -> Choice | None:
    choice = resolve.get(f"{feature}:{environment}") or resolve.get(feature)
    return choice if choice in ("local", "remote") else None


def check_resolutions(resolve: Mapping[str, Choice], names: set[str]) -> None:
    for key, choice in resolve.items():
        feature, _sep, environment = key.partition(":")
        if choice not in CHOICES:
            raise ValidationError(f"unknown choice {choice!r}: use local, remote or renumber")
        if feature not in names:
            raise ValidationError(f"--resolve names unknown feature {feature!r}")
        if environment and choice == "renumber":
            raise ValidationError(
                f"{key}=renumber: renumber applies to version conflicts; for an active or "
                "canary conflict choose local or remote"
            )


def refuse_keep_local(
    comparisons: Sequence[FeatureComparison], resolve: Mapping[str, Choice]
) -> None:
    """``FEATURE=local`` for a version conflict is refused before anything is written:
    keeping the local numbers would replace versions the remote holds."""
    for comparison in comparisons:
        if comparison.version_conflict and choice_for_versions(resolve, comparison.name) == "local":
            raise KeepLocalNumbersError(comparison.name)


def to_renumber_before_push(
    comparisons: Sequence[FeatureComparison], resolve: Mapping[str, Choice]
) -> list[FeatureComparison]:
    """The features whose version conflict a push resolves by renumbering the local
    versions first (a same-uid-other-number mismatch cannot be resolved so)."""
    return [
        c
        for c in comparisons
        if choice_for_versions(resolve, c.name) in VERSION_CHOICES
        and (c.clashing_local or c.clashing_remote)
        and not c.renumbered_apart
    ]


# --- planning --------------------------------------------------------------------------


def plan(
    direction: Direction,
    comparisons: Sequence[FeatureComparison],
    local: SideState,
    remote: SideState,
    resolve: Mapping[str, Choice],
    *,
    versions_only: bool = False,
    assume_renumbered: bool = False,
) -> SyncPlan:
    """What to write on the target side (remote for push, local for pull).

    ``assume_renumbered``: plan a push as it will be once the chosen version
    conflicts are renumbered locally (to check roles before writing anything)."""
    result = SyncPlan()
    to = "remote" if direction == "push" else "local"
    other_way: PointerChangeState = "pull" if direction == "push" else "push"
    winner = "local" if direction == "push" else "remote"
    for comparison in comparisons:
        source = comparison.local if direction == "push" else comparison.remote
        target = comparison.remote if direction == "push" else comparison.local
        sending = comparison.ahead if direction == "push" else comparison.behind
        coming_back = comparison.behind if direction == "push" else comparison.ahead
        result.other_direction += len(coming_back)
        conflicts = conflicts_of(comparison, local, remote)
        if comparison.version_conflict:
            # Only a pull resolves one here (a push renumbers locally first): the
            # local-only versions move on top, the remote's come in. Nothing is deleted.
            resolvable = (
                not comparison.renumbered_apart
                and (direction == "pull" or assume_renumbered)
                and choice_for_versions(resolve, comparison.name) in VERSION_CHOICES
            )
            if not resolvable:
                # The whole feature waits for a choice; its other changes too.
                result.unresolved.extend(conflicts)
                result.skipped_features.add(comparison.name)
                continue
            if direction == "push":
                sending = sending + comparison.clashing_local  # renumbered first, then sent
            else:
                result.renumber.append(comparison)
                sending = sending + comparison.clashing_remote
        if source is not None and target is None:
            result.features.append(comparison.name)
        result.versions.extend((comparison.name, v.uid) for v in sending)
        for change in comparison.pointers:
            if change.state == other_way:
                result.other_direction += 1
                continue
            if change.state == "conflict":
                choice = choice_for_pointer(resolve, comparison.name, change.environment)
                if choice is None:
                    result.unresolved.append(
                        next(
                            c
                            for c in conflicts
                            if c.kind == change.component and c.environment == change.environment
                        )
                    )
                    continue
                if choice != winner:
                    result.remembered.append((comparison, change))
                    result.other_direction += 1
                    continue
            if versions_only:
                result.skipped_moves.append(move_text(comparison, change, local, remote, to))
                continue
            result.moves.append((comparison, change))
    return result


def plan_run(
    direction: Direction,
    local: SideState,
    remote: SideState,
    baselines: Baselines,
    resolve: Mapping[str, Choice],
    reason: str,
    *,
    versions_only: bool = False,
) -> tuple[SyncPlan, list[FeatureComparison]]:
    """Compare the two sides, refuse what cannot be done, plan the writes and events."""
    comparisons = compare(local, remote, baselines)
    refuse_keep_local(comparisons, resolve)
    result = plan(direction, comparisons, local, remote, resolve, versions_only=versions_only)
    source, target = (local, remote) if direction == "push" else (remote, local)
    result.events, result.superseded = events_to_send(source, target, result, comparisons)
    result.move_reason = reason
    return result, comparisons


def events_to_send(
    source: SideState,
    target: SideState,
    planned: SyncPlan,
    comparisons: Sequence[FeatureComparison],
) -> tuple[list[str], dict[tuple[str, str], list[str]]]:
    """Audit events the target lacks, except:

    - those of a feature held back by a version conflict (they wait);
    - pointer events (activate, rollback, canary, ...) of an active version or canary
      this run does not move on the target (unresolved conflict, a choice kept for the
      other direction, --versions-only, or a move only the other direction makes):
      they wait for the run that applies the move, so the target's history never
      claims a move that did not happen there;
    - role events and sync's own move events, which stay in their store;
    - pointer events a sync overrode on the source before they were sent.

    Also returns, per feature and environment this run moves, the target's pointer
    events the source lacks (the sync overrides them: they never travel back)."""
    assert source.events is not None and target.events is not None
    applied = {id(change) for _comparison, change in planned.moves}
    held = {
        (c.name, change.environment, change.component)
        for c in comparisons
        for change in c.pointers
        if id(change) not in applied
    }
    moved = {(c.name, change.environment) for c, change in planned.moves}

    def waits(feature: str | None, environment: str | None, action: str) -> bool:
        if feature is None:
            return False
        if feature in planned.skipped_features:
            return True
        components = ACTION_COMPONENTS.get(action)
        if components is None:
            return False
        environments = (
            [environment] if environment is not None else environments_of(comparisons, feature)
        )
        return any((feature, env, c) in held for c in components for env in environments)

    superseded: dict[tuple[str, str], list[str]] = {}
    for uid, event in target.events.items():
        if (
            event.action in POINTER_ACTIONS
            and event.feature is not None
            and event.environment is not None
            and (event.feature, event.environment) in moved
            and uid not in source.events
        ):
            superseded.setdefault((event.feature, event.environment), []).append(uid)
    to_send = sorted(
        uid
        for uid, event in source.events.items()
        if uid not in target.events
        and event.action not in LOCAL_ONLY_ACTIONS
        and uid not in source.superseded
        and not waits(event.feature, event.environment, event.action)
    )
    return to_send, superseded


def environments_of(comparisons: Sequence[FeatureComparison], feature: str) -> list[str]:
    return sorted(
        {change.environment for c in comparisons if c.name == feature for change in c.pointers}
    )


# --- after the run ---------------------------------------------------------------------


def new_baselines(
    local: SideState,
    remote: SideState,
    old: Baselines,
    direction: Direction,
    target_after: Mapping[tuple[str, str], PointerState],
    remembered: Sequence[PlannedMove],
) -> Baselines:
    """Baselines after the sync: equal pointers become the baseline on both sides; a
    choice kept for the other direction marks the kept side as moved."""
    baselines: Baselines = {}
    remember = {(c.name, change.environment, change.component) for c, change in remembered}
    known_places: dict[str, set[str]] = {}  # feature -> environments with a baseline or move
    for feature, env in [*old, *target_after]:
        known_places.setdefault(feature, set()).add(env)
    for name in set(local.features) | set(remote.features):
        local_feature, remote_feature = local.features.get(name), remote.features.get(name)
        environments = set(local_feature.pointers if local_feature else ())
        environments |= set(remote_feature.pointers if remote_feature else ())
        environments |= known_places.get(name, set())
        for environment in environments:
            local_pointer = (
                local_feature.pointers.get(environment, NO_POINTER) if local_feature else NO_POINTER
            )
            remote_pointer = (
                remote_feature.pointers.get(environment, NO_POINTER)
                if remote_feature
                else NO_POINTER
            )
            if (name, environment) in target_after:
                if direction == "push":
                    remote_pointer = target_after[(name, environment)]
                else:
                    local_pointer = target_after[(name, environment)]
            base_local, base_remote = old.get((name, environment), NO_BASELINE)
            for component in COMPONENTS:
                local_value = local_pointer.value(component)
                remote_value = remote_pointer.value(component)
                if local_value == remote_value:
                    base_local = base_local.with_value(component, local_value)
                    base_remote = base_remote.with_value(component, remote_value)
                elif (name, environment, component) in remember:
                    if direction == "push":  # keep remote: the next pull takes it
                        base_local = base_local.with_value(component, local_value)
                        if base_remote.value(component) == remote_value:
                            base_remote = base_remote.with_value(component, MOVED_MARK)
                    else:  # keep local: the next push sends it
                        base_remote = base_remote.with_value(component, remote_value)
                        if base_local.value(component) == local_value:
                            base_local = base_local.with_value(component, MOVED_MARK)
            baseline = Baseline(base_local, base_remote)
            if baseline != NO_BASELINE:
                baselines[(name, environment)] = baseline
    return baselines


def pending_after(
    planned: SyncPlan, comparisons: Sequence[FeatureComparison], direction: Direction
) -> int:
    """Local-only versions the next push would still have to send (pointer moves are
    counted from the baselines by pending_changes)."""
    if direction == "push":
        return sum(len(c.local_only) for c in comparisons if c.name in planned.skipped_features)
    return sum(len(c.local_only) for c in comparisons)


def counts_text(planned: SyncPlan) -> str:
    v, e, m = len(planned.versions), len(planned.events), len(planned.moves)
    return f"{v} version{plural(v)}, {e} audit event{plural(e)}, {m} pointer move{plural(m)}"


def result_of(
    direction: Direction,
    url: str,
    planned: SyncPlan,
    local: SideState,
    remote: SideState,
    *,
    renumbered: Sequence[str],
    identity_changed: bool,
) -> SyncResult:
    to = "remote" if direction == "push" else "local"
    left = planned.other_direction + (len(renumbered) if direction == "pull" else 0)
    return SyncResult(
        direction,
        url,
        features_created=len(planned.features),
        versions=len(planned.versions),
        events=len(planned.events),
        moves=tuple(move_text(c, change, local, remote, to) for c, change in planned.moves),
        renumbered=tuple(renumbered),
        remembered=tuple(
            remember_text(c, change, direction, local, remote) for c, change in planned.remembered
        ),
        unresolved=tuple(planned.unresolved),
        skipped_moves=tuple(planned.skipped_moves),
        left_for_other_direction=left,
        noop=not planned.writes and not planned.remembered,
        identity_changed=identity_changed,
    )


def finish(result: SyncResult, planned: SyncPlan) -> SyncResult:
    """The result, or SyncConflictError carrying it when conflicts were left."""
    if planned.unresolved:
        keys = sorted({c.key for c in planned.unresolved})
        count = len(planned.unresolved)
        raise SyncConflictError(
            f"{count} conflict{plural(count)} left unresolved "
            f"({', '.join(keys)}); the rest was {result.direction}ed. Choose with "
            "--resolve FEATURE=renumber for a version conflict (your versions move on top "
            "of the remote's; nothing is lost), FEATURE=local|remote or "
            "FEATURE:ENVIRONMENT=local|remote for an active/canary conflict",
            result,
        )
    return result
