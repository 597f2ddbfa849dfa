"""Sync's records: what callers get back (status, results, conflicts, errors) and the
plain state the planner works on (each side's versions and pointers, the baselines, the
plan). Pure: no database, no UI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

from promptdeck.errors import GateError, PromptDeckError, ValidationError

Choice = Literal["local", "remote", "renumber"]
CHOICES: tuple[Choice, ...] = ("local", "remote", "renumber")
# A version conflict: "remote" keeps the remote's numbers, i.e. renumbers yours on top.
VERSION_CHOICES: tuple[Choice, ...] = ("renumber", "remote")
POINTER_CHOICES: tuple[Choice, ...] = ("local", "remote")
Direction = Literal["push", "pull"]
ConflictKind = Literal["version", "active", "canary"]
Component = Literal["active", "canary"]
COMPONENTS: tuple[Component, ...] = ("active", "canary")
# (phase, done, total): phases are "versions" and "events".
Progress = Callable[[str, int, int], None]

# Audit actions that move an active version or canary (by a user, not by sync).
POINTER_ACTIONS = frozenset({"activate", "rollback", "canary", "canary-off", "promote"})
ACTION_COMPONENTS: dict[str, tuple[Component, ...]] = {
    "activate": ("active",),
    "rollback": ("active",),
    "canary": ("canary",),
    "canary-off": ("canary",),
    "promote": ("active", "canary"),
}
# What sync writes on the side it moves a pointer of: that side's history only.
SYNC_MOVE_ACTIONS: dict[Component, str] = {"active": "sync-activate", "canary": "sync-canary"}
# Audit events that stay in the store they were written in: roles do not sync, and
# a pointer moved by sync is recorded on each side by that side's own sync.
LOCAL_ONLY_ACTIONS = frozenset({"role", *SYNC_MOVE_ACTIONS.values()})


def plural(count: int) -> str:
    return "" if count == 1 else "s"


def identity_notice(url: str) -> str:
    return (
        f"the remote at {url} is a different store than at the last sync (identity "
        "changed): treating this as a first sync"
    )


# --- what callers get back --------------------------------------------------------------


class SyncConflictError(PromptDeckError):
    """A sync left conflicts unresolved: the rest was synced, these were not."""

    def __init__(self, message: str, result: SyncResult) -> None:
        super().__init__(message)
        self.result = result


class SyncGateError(GateError):
    """A run would put live a version the target's activation gate refuses (missing
    approvals or checks): the whole run is refused, nothing written on that side."""


def gate_refusal(direction: Direction, blocked: Sequence[Sequence[str]], shown: int) -> str:
    """The one line a refused run prints: each blocked move's lines (the gate's own
    wording: version, feature, environment and what is missing), the first ``shown``
    moves named and the rest counted, and what to do instead."""
    where = "the remote's" if direction == "push" else "this store's"
    named = "; ".join(" and ".join(lines) for lines in blocked[:shown])
    more = f"; and {len(blocked) - shown} more" if len(blocked) > shown else ""
    hint = (
        "to send the versions without moving what is live, run "
        "`promptdeck sync push --versions-only`"
        if direction == "push"
        else "pull again once they pass: the remote serves them, but they have not "
        "passed this store's gate"
    )
    return (
        f"{direction} refused, nothing was {direction}ed: {where} activation gate refuses "
        f"{len(blocked)} pointer move{plural(len(blocked))}: {named}{more}; {hint}"
    )


class KeepLocalNumbersError(ValidationError):
    """``FEATURE=local`` for a version conflict: refused, nothing written anywhere."""

    def __init__(self, feature: str) -> None:
        super().__init__(
            f"{feature}: keeping your version numbers would renumber versions others "
            f"already pulled; use --resolve {feature}=renumber (your versions move on "
            "top, nothing is lost)"
        )
        self.feature = feature


# --- public records -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: ConflictKind
    feature: str
    environment: str | None  # pointer conflicts
    number: int | None  # version conflicts
    local: str  # what the local side holds, for people
    remote: str

    @property
    def key(self) -> str:
        """What ``--resolve`` names: FEATURE, or FEATURE:ENVIRONMENT for pointers."""
        return self.feature if self.environment is None else f"{self.feature}:{self.environment}"

    @property
    def choices(self) -> tuple[Choice, ...]:
        return VERSION_CHOICES if self.kind == "version" else POINTER_CHOICES

    def describe(self) -> str:
        if self.kind == "version":
            return f"{self.feature} version {self.number}: local {self.local}, remote {self.remote}"
        return (
            f"{self.feature} {self.kind} in {self.environment}: local {self.local}, "
            f"remote {self.remote}"
        )


@dataclass(frozen=True, slots=True)
class FeatureSyncStatus:
    feature: str
    ahead: tuple[int, ...] = ()  # version numbers only the local store has
    behind: tuple[int, ...] = ()  # version numbers only the remote has
    push_moves: tuple[str, ...] = ()  # pointer moves a push would make on the remote
    pull_moves: tuple[str, ...] = ()  # pointer moves a pull would make locally
    conflicts: tuple[Conflict, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not (
            self.ahead or self.behind or self.push_moves or self.pull_moves or self.conflicts
        )


@dataclass(frozen=True, slots=True)
class SyncStatus:
    remote: str  # redacted
    features: tuple[FeatureSyncStatus, ...]  # only the features with a difference
    unchanged: bool = False  # answered from the bookkeeping alone
    first_sync: bool = False
    identity_changed: bool = False  # the remote was re-created since the last sync
    to_push: int = 0  # local versions and pointer moves not on the remote (conflicts too)
    # Rows of environments, reviews, suites, check runs and metrics origins a push
    # (a pull) would copy.
    tables_ahead: int = 0
    tables_behind: int = 0

    @property
    def notice(self) -> str | None:
        return identity_notice(self.remote) if self.identity_changed else None

    @property
    def ahead(self) -> int:
        return sum(len(f.ahead) + len(f.push_moves) for f in self.features) + self.tables_ahead

    @property
    def behind(self) -> int:
        return sum(len(f.behind) + len(f.pull_moves) for f in self.features) + self.tables_behind

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        return tuple(c for f in self.features for c in f.conflicts)

    @property
    def in_sync(self) -> bool:
        return all(f.in_sync for f in self.features) and not (
            self.tables_ahead or self.tables_behind
        )


@dataclass(frozen=True, slots=True)
class SyncResult:
    direction: Direction
    remote: str  # redacted
    features_created: int = 0
    versions: int = 0
    events: int = 0
    moves: tuple[str, ...] = ()
    renumbered: tuple[str, ...] = ()
    remembered: tuple[str, ...] = ()  # choices kept for the sync in the other direction
    unresolved: tuple[Conflict, ...] = ()
    skipped_moves: tuple[str, ...] = ()  # --versions-only
    left_for_other_direction: int = 0  # e.g. what a pull would still bring after a push
    copied: tuple[tuple[str, int], ...] = ()  # environments, reviews, suites, runs, metrics
    refused: tuple[str, ...] = ()  # rows not copied, one line each
    notes: tuple[str, ...] = ()  # e.g. the remote failed after the local side committed
    noop: bool = False
    identity_changed: bool = False  # the remote was re-created since the last sync

    @property
    def notice(self) -> str | None:
        return identity_notice(self.remote) if self.identity_changed else None

    @property
    def changed(self) -> bool:
        return bool(
            self.features_created
            or self.versions
            or self.events
            or self.moves
            or self.renumbered
            or self.copied
        )

    def summary(self) -> str:
        if self.noop or not (self.changed or self.remembered):
            text = f"{self.direction}: nothing to {self.direction}"
        else:
            parts = [
                f"{self.versions} version{plural(self.versions)}",
                f"{self.events} audit event{plural(self.events)}",
                f"{len(self.moves)} pointer move{plural(len(self.moves))}",
            ]
            if self.features_created:
                parts.insert(
                    0, f"{self.features_created} new feature{plural(self.features_created)}"
                )
            if self.renumbered:
                parts.append(f"{len(self.renumbered)} renumbered")
            parts += [f"{count} {what}{plural(count)}" for what, count in self.copied]
            text = f"{self.direction}: " + ", ".join(parts)
        if self.unresolved:
            text += f"; {len(self.unresolved)} conflict{plural(len(self.unresolved))} unresolved"
        if self.left_for_other_direction:
            other = "pull" if self.direction == "push" else "push"
            n = self.left_for_other_direction
            text += f"; {n} change{plural(n)} left to {other}"
        for line in self.refused:
            text += f"; not synced: {line}"
        for note in self.notes:
            text += f"; note: {note}"
        return text


# --- the state the planner works on ----------------------------------------------------

PointerValue = tuple[str | None, int]  # (version uid or None, percent; 0 for active)


@dataclass(frozen=True, slots=True)
class PointerState:
    """Where a feature's active version and canary point in one environment (by uid)."""

    active: str | None = None
    canary: str | None = None
    percent: int = 0

    def value(self, component: Component) -> PointerValue:
        if component == "active":
            return (self.active, 0)
        return (self.canary, self.percent if self.canary is not None else 0)

    def with_value(self, component: Component, value: PointerValue) -> PointerState:
        if component == "active":
            return PointerState(value[0], self.canary, self.percent)
        return PointerState(self.active, value[0], value[1])


NO_POINTER = PointerState()
# A baseline value no real pointer has: "this side moved" (remembered choices).
MOVED_MARK: PointerValue = ("*", -1)


class Baseline(NamedTuple):
    """Both sides' pointers of one feature and environment at the last sync."""

    local: PointerState
    remote: PointerState


NO_BASELINE = Baseline(NO_POINTER, NO_POINTER)
Baselines = dict[tuple[str, str], Baseline]  # (feature, environment) -> baseline


@dataclass(frozen=True, slots=True)
class SideVersion:
    uid: str
    number: int
    author: str


@dataclass(slots=True)
class SideFeature:
    """One feature on one side: its versions (by uid and by number) and pointers."""

    name: str
    id: int
    versions_by_uid: dict[str, SideVersion] = field(default_factory=dict)
    versions_by_number: dict[int, SideVersion] = field(default_factory=dict)
    pointers: dict[str, PointerState] = field(default_factory=dict)  # by environment


class EventSummary(NamedTuple):
    feature: str | None
    environment: str | None
    action: str


@dataclass(slots=True)
class SideState:
    """What one store holds, as far as sync compares it."""

    revision: int
    identity: str
    max_audit_id: int
    features: dict[str, SideFeature]
    events: dict[str, EventSummary] | None = None  # by uid; read when a run sends events
    numbers: dict[str, int] = field(default_factory=dict)  # version uid -> number
    # Pointer events of this side that a sync overrode before they reached the other
    # side (listed by the sync-activate/sync-canary events): they never travel.
    superseded: set[str] = field(default_factory=set)
    tables: SideTables = field(default_factory=lambda: SideTables())

    def number_of(self, uid: str | None) -> int | None:
        return None if uid is None else self.numbers.get(uid)


@dataclass(frozen=True, slots=True)
class LastSync:
    """The local bookkeeping of one remote (a detached ``sync_remotes`` row)."""

    remote_uid: str
    local_revision: int
    remote_revision: int
    local_audit_id: int  # the newest local audit event accounted for in ``pending``
    pending: int
    clean: bool  # the sync left both sides equal

    def same_state(self, other: LastSync) -> bool:
        """Equal but for ``local_audit_id``: writing ``other`` would change nothing."""
        return replace(self, local_audit_id=0) == replace(other, local_audit_id=0)


PointerChangeState = Literal["push", "pull", "conflict"]


@dataclass(slots=True)
class PointerChange:
    """A pointer that differs between the sides, and which way it should travel."""

    environment: str
    component: Component
    local: PointerValue
    remote: PointerValue
    state: PointerChangeState


@dataclass(slots=True)
class FeatureComparison:
    """How one feature differs between the local store and the remote."""

    name: str
    local: SideFeature | None
    remote: SideFeature | None
    ahead: list[SideVersion] = field(default_factory=list)  # only local, number free there
    behind: list[SideVersion] = field(default_factory=list)  # only remote, number free here
    clashing_local: list[SideVersion] = field(default_factory=list)  # number taken remotely
    clashing_remote: list[SideVersion] = field(default_factory=list)  # number taken locally
    # The same version (uid) under different numbers: (local, remote).
    renumbered_apart: list[tuple[SideVersion, SideVersion]] = field(default_factory=list)
    pointers: list[PointerChange] = field(default_factory=list)

    @property
    def version_conflict(self) -> bool:
        return bool(self.clashing_local or self.clashing_remote or self.renumbered_apart)

    @property
    def local_only(self) -> list[SideVersion]:
        return self.ahead + self.clashing_local


PlannedMove = tuple[FeatureComparison, PointerChange]


@dataclass(slots=True)
class SyncPlan:
    """What one push or pull writes on its target side, and what it leaves."""

    features: list[str] = field(default_factory=list)  # to create
    versions: list[tuple[str, str]] = field(default_factory=list)  # (feature, uid)
    renumber: list[FeatureComparison] = field(default_factory=list)  # pull: local renumbering
    moves: list[PlannedMove] = field(default_factory=list)
    remembered: list[PlannedMove] = field(default_factory=list)  # for the other direction
    events: list[str] = field(default_factory=list)  # audit event uids to send
    unresolved: list[Conflict] = field(default_factory=list)
    skipped_features: set[str] = field(default_factory=set)
    skipped_moves: list[str] = field(default_factory=list)
    other_direction: int = 0
    # per (feature, environment) moved: the target's pointer events the source lacks
    superseded: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    move_reason: str = ""

    @property
    def writes(self) -> bool:
        return bool(self.features or self.versions or self.renumber or self.moves or self.events)


# --- the tables of schema 0003 (environments, reviews, suites, check runs, metrics) -----


@dataclass(frozen=True, slots=True)
class SideEnvironment:
    name: str
    protected: bool
    required_approvals: int
    require_checks: bool

    @property
    def settings(self) -> tuple[bool, int, bool]:
        return (self.protected, self.required_approvals, self.require_checks)


@dataclass(frozen=True, slots=True)
class SideSuite:
    uid: str
    feature: str
    number: int
    content_hash: str = ""  # the same feature, number and content is the same suite


class MetricDigest(NamedTuple):
    """What one store holds of one origin's metrics. Rows are only ever added to, so
    the copy holding more requests (then more rows) is the newer one."""

    requests: int
    rows: int


@dataclass(slots=True)
class SideTables:
    """One side's rows of the tables that travel by uid, name or origin."""

    environments: dict[str, SideEnvironment] = field(default_factory=dict)  # by name
    reviews: dict[str, str] = field(default_factory=dict)  # review uid -> version uid
    suites: dict[str, SideSuite] = field(default_factory=dict)  # by uid
    check_runs: dict[str, str] = field(default_factory=dict)  # run uid -> version uid
    metrics: dict[str, MetricDigest] = field(default_factory=dict)  # by origin


@dataclass(slots=True)
class TablesPlan:
    """What a run copies of those tables onto its target side."""

    create_environments: list[str] = field(default_factory=list)
    update_environments: list[str] = field(default_factory=list)  # source's settings win
    reviews: list[str] = field(default_factory=list)  # uids
    suites: list[str] = field(default_factory=list)  # uids
    check_runs: list[str] = field(default_factory=list)  # uids
    metric_origins: list[str] = field(default_factory=list)  # replaced on the target
    refused: list[str] = field(default_factory=list)  # one line each, for people

    @property
    def writes(self) -> bool:
        return bool(self.counts())

    def counts(self) -> tuple[tuple[str, int], ...]:
        """(what, how many) of each kind copied, for the summary."""
        named = (
            ("new environment", len(self.create_environments)),
            ("environment setting", len(self.update_environments)),
            ("review", len(self.reviews)),
            ("suite", len(self.suites)),
            ("check run", len(self.check_runs)),
            ("metrics origin", len(self.metric_origins)),
        )
        return tuple((what, count) for what, count in named if count)
