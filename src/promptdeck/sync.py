"""Push and pull between a local store and a remote store, with conflict detection.

Part of the store layer: it reads and writes both stores through PromptStore's
units of work (each bumps the written side's revision) and its ORM rows.

How it works
------------
Versions and audit events are matched by their uid, features by name. A version
only one side has is sent to the other side; two different versions holding the
same number of a feature are a *version conflict*.

Active versions and canaries are compared with where both sides stood after the
last sync (the *baseline*, kept in the local store per remote, per feature and
environment: ``sync_pointers``). A pointer that moved on one side only is moved on
the other; a pointer moved on both sides (to different places) is a *pointer
conflict*. Nothing in conflict is ever changed until the user chooses.

Versions are immutable: sync never deletes a version row, on either side, and never
changes one except for the number (and parent number) of a local-only version that
is renumbered. So a version conflict has one resolution, named two ways:

- ``renumber`` / ``remote``  the remote (the shared store) keeps its numbers; the
               feature's local-only versions get new numbers above the remote's
               (text, author, reason, created_at and uid unchanged; parents follow;
               a ``renumber`` audit event records old and new numbers). Push does it
               in a local transaction before the remote one; pull in its own.
- ``local``    refused for a version conflict (KeepLocalNumbersError): others may
               already have pulled the remote's versions under those numbers.

A pointer conflict is resolved with:

- ``local``    the remote pointer is moved to the local one (push), or the choice is
               remembered so the next push applies it (pull).
- ``remote``   the local pointer is moved to the remote one (pull), or the choice is
               remembered so the next pull applies it (push).

Each push is one transaction on the remote (a local transaction first only when a
chosen resolution renumbers local versions) followed by a small local bookkeeping
transaction; each pull is one local transaction. A push killed before the remote
commits leaves the remote unchanged (renumbered local versions are plain local-only
versions: the next push sends them); one killed after the remote commit but before
the bookkeeping is completed by the next run, which finds the two sides already
equal.

Audit events travel by uid, except: role events (roles do not sync); the
``sync-activate``/``sync-canary`` events each side writes for a pointer sync moved
there (feature, environment, from/to numbers, "push from USER (store ID)" or "pull
from URL", and "conflict resolved" when a choice moved it), which stay on that side;
and pointer events (activate, rollback, canary, canary-off, promote) of a pointer the
run does not move on the other side: they wait for the run that moves it. Pointer
events a sync overrode before they were sent are listed in that sync's event and
never travel. ``sync_remotes`` keeps both store revisions at the last sync: when neither
moved and the last sync left both sides equal, status/push/pull answer without
reading any rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from promptdeck.config import redact, to_url
from promptdeck.errors import PromptDeckError, ValidationError
from promptdeck.permissions import Action
from promptdeck.store import PromptStore, UnitOfWork, utcnow
from promptdeck.store.rows import (
    AuditEventRow,
    DeploymentRow,
    FeatureRow,
    StoreIdentityRow,
    StoreStateRow,
    SyncPointerRow,
    SyncRemoteRow,
    VersionRow,
)

Choice = Literal["local", "remote", "renumber"]
CHOICES: tuple[Choice, ...] = ("local", "remote", "renumber")
# A version conflict: "remote" keeps the remote's numbers, i.e. renumbers yours on top.
VERSION_CHOICES: tuple[Choice, ...] = ("renumber", "remote")
POINTER_CHOICES: tuple[Choice, ...] = ("local", "remote")
Direction = Literal["push", "pull"]
ConflictKind = Literal["version", "active", "canary"]
Component = Literal["active", "canary"]
# (phase, done, total): phases are "versions" and "events".
Progress = Callable[[str, int, int], None]

# Audit actions that move an active version or canary (by a user, not by sync).
POINTER_ACTIONS = frozenset({"activate", "rollback", "canary", "canary-off", "promote"})
_ACTION_COMPONENTS: dict[str, tuple[Component, ...]] = {
    "activate": ("active",),
    "rollback": ("active",),
    "canary": ("canary",),
    "canary-off": ("canary",),
    "promote": ("active", "canary"),
}
# What sync writes on the side it moves a pointer of: that side's history only.
SYNC_MOVE_ACTIONS = {"active": "sync-activate", "canary": "sync-canary"}
# Audit events that stay in the store they were written in: roles do not sync, and
# a pointer moved by sync is recorded on each side by that side's own sync.
LOCAL_ONLY_ACTIONS = frozenset({"role", *SYNC_MOVE_ACTIONS.values()})
_BATCH = 1000
_IN_CHUNK = 2000
# A baseline value no real pointer has: "this side moved" (remembered choices).
_MOVED = "*"


class SyncConflictError(PromptDeckError):
    """A sync left conflicts unresolved: the rest was synced, these were not."""

    def __init__(self, message: str, result: SyncResult) -> None:
        super().__init__(message)
        self.result = result


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

    @property
    def notice(self) -> str | None:
        return identity_notice(self.remote) if self.identity_changed else None

    @property
    def ahead(self) -> int:
        return sum(len(f.ahead) + len(f.push_moves) for f in self.features)

    @property
    def behind(self) -> int:
        return sum(len(f.behind) + len(f.pull_moves) for f in self.features)

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        return tuple(c for f in self.features for c in f.conflicts)

    @property
    def in_sync(self) -> bool:
        return all(f.in_sync for f in self.features)


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
    noop: bool = False
    identity_changed: bool = False  # the remote was re-created since the last sync

    @property
    def notice(self) -> str | None:
        return identity_notice(self.remote) if self.identity_changed else None

    @property
    def changed(self) -> bool:
        return bool(
            self.features_created or self.versions or self.events or self.moves or self.renumbered
        )

    def summary(self) -> str:
        if self.noop or not (self.changed or self.remembered):
            text = f"{self.direction}: nothing to {self.direction}"
        else:
            parts = [
                f"{self.versions} version{_s(self.versions)}",
                f"{self.events} audit event{_s(self.events)}",
                f"{len(self.moves)} pointer move{_s(len(self.moves))}",
            ]
            if self.features_created:
                parts.insert(0, f"{self.features_created} new feature{_s(self.features_created)}")
            if self.renumbered:
                parts.append(f"{len(self.renumbered)} renumbered")
            text = f"{self.direction}: " + ", ".join(parts)
        if self.unresolved:
            text += f"; {len(self.unresolved)} conflict{_s(len(self.unresolved))} unresolved"
        if self.left_for_other_direction:
            other = "pull" if self.direction == "push" else "push"
            n = self.left_for_other_direction
            text += f"; {n} change{_s(n)} left to {other}"
        return text


def remote_key(remote_url: str) -> str:
    """The bookkeeping key of a remote: a hash of its URL without the password."""
    return hashlib.sha256(redact(to_url(remote_url)).encode("utf-8")).hexdigest()


def parse_resolution(text: str) -> tuple[str, Choice]:
    """``FEATURE=CHOICE`` or ``FEATURE:ENV=CHOICE`` -> (key, choice)."""
    key, sep, choice = text.partition("=")
    key, choice = key.strip(), choice.strip().lower()
    if not sep or not key or choice not in CHOICES:
        raise ValidationError(
            f"cannot read resolution {text!r}: write FEATURE=renumber|remote for a version "
            "conflict, FEATURE=local|remote (or FEATURE:ENVIRONMENT=local|remote) for an "
            "active/canary conflict"
        )
    return key, choice


def open_remote(local: PromptStore, remote_url: str) -> PromptStore:
    """Open (and migrate) the remote store as the local store's user.

    A missing SQLite remote is an error, not a new empty store: a typo in the path
    must not become a remote (create one with `promptdeck --db PATH init`)."""
    return PromptStore(to_url(remote_url), user=local.user, create=False)


# --- snapshots ------------------------------------------------------------------------

Value = tuple[str | None, int]  # (version uid or None, percent; 0 for active)


@dataclass(frozen=True, slots=True)
class _Pointer:
    active: str | None = None
    canary: str | None = None
    percent: int = 0

    def value(self, component: Component) -> Value:
        if component == "active":
            return (self.active, 0)
        return (self.canary, self.percent if self.canary is not None else 0)

    def with_value(self, component: Component, value: Value) -> _Pointer:
        if component == "active":
            return _Pointer(value[0], self.canary, self.percent)
        return _Pointer(self.active, value[0], value[1])


_COMPONENTS: tuple[Component, ...] = ("active", "canary")
_NONE = _Pointer()


@dataclass(frozen=True, slots=True)
class _V:
    uid: str
    number: int
    author: str


@dataclass(slots=True)
class _F:
    name: str
    id: int
    by_uid: dict[str, _V] = field(default_factory=dict)
    by_number: dict[int, _V] = field(default_factory=dict)
    pointers: dict[str, _Pointer] = field(default_factory=dict)


@dataclass(slots=True)
class _Side:
    revision: int
    identity: str
    max_audit_id: int
    features: dict[str, _F]
    # event uid -> (feature, environment, action)
    audit: dict[str, tuple[str | None, str | None, str]] | None = None
    numbers: dict[str, int] = field(default_factory=dict)  # version uid -> number
    # Pointer events of this side that a sync overrode before they reached the other
    # side (listed by the sync-activate/sync-canary events): they never travel.
    superseded: set[str] = field(default_factory=set)

    def number_of(self, uid: str | None) -> int | None:
        return None if uid is None else self.numbers.get(uid)


def _read_side(session: Session, *, events: bool) -> _Side:
    revision = session.scalar(select(StoreStateRow.revision).where(StoreStateRow.id == 1)) or 0
    identity = session.scalar(select(StoreIdentityRow.uid).where(StoreIdentityRow.id == 1)) or ""
    max_audit = session.scalar(select(func.max(AuditEventRow.id))) or 0
    features: dict[str, _F] = {}
    by_id: dict[int, _F] = {}
    numbers: dict[str, int] = {}
    for feature_id, name in session.execute(select(FeatureRow.id, FeatureRow.name)):
        features[name] = by_id[feature_id] = _F(name, feature_id)
    for uid, feature_id, number, author in session.execute(
        select(VersionRow.uid, VersionRow.feature_id, VersionRow.number, VersionRow.author)
    ):
        version = _V(uid, number, author)
        numbers[uid] = number
        owner = by_id[feature_id]
        owner.by_uid[uid] = version
        owner.by_number[number] = version
    active = aliased(VersionRow)
    canary = aliased(VersionRow)
    for feature_id, environment, active_uid, canary_uid, percent in session.execute(
        select(
            DeploymentRow.feature_id,
            DeploymentRow.environment,
            active.uid,
            canary.uid,
            DeploymentRow.canary_percent,
        )
        .outerjoin(active, active.id == DeploymentRow.active_version_id)
        .outerjoin(canary, canary.id == DeploymentRow.canary_version_id)
    ):
        pointer = _Pointer(active_uid, canary_uid, percent if canary_uid else 0)
        if pointer != _NONE:
            by_id[feature_id].pointers[environment] = pointer
    audit: dict[str, tuple[str | None, str | None, str]] | None = None
    superseded: set[str] = set()
    if events:
        audit = {
            uid: (feature, environment, action)
            for uid, feature, environment, action in session.execute(
                select(
                    AuditEventRow.uid,
                    AuditEventRow.feature,
                    AuditEventRow.environment,
                    AuditEventRow.action,
                )
            )
        }
        for details in session.scalars(
            select(AuditEventRow.details).where(
                AuditEventRow.action.in_(sorted(SYNC_MOVE_ACTIONS.values()))
            )
        ):
            superseded.update((details or {}).get("superseded", ()))
    return _Side(revision, identity, max_audit, features, audit, numbers, superseded)


def _head(store: PromptStore) -> tuple[int, str]:
    """The store's revision and identity: two one-row reads."""
    with store.reading() as session:
        revision = session.scalar(select(StoreStateRow.revision).where(StoreStateRow.id == 1))
        identity = session.scalar(select(StoreIdentityRow.uid).where(StoreIdentityRow.id == 1))
        return revision or 0, identity or ""


Bases = dict[tuple[str, str], tuple[_Pointer, _Pointer]]


@dataclass(frozen=True, slots=True)
class _Book:
    """A detached copy of one ``sync_remotes`` row."""

    remote_uid: str
    local_revision: int
    remote_revision: int
    local_audit_id: int
    pending: int
    clean: bool


def _read_bookkeeping(session: Session, key: str) -> tuple[_Book | None, Bases]:
    found = session.get(SyncRemoteRow, key)
    bases: Bases = {}
    row = None
    if found is not None:
        row = _Book(
            found.remote_uid,
            found.local_revision,
            found.remote_revision,
            found.local_audit_id,
            found.pending,
            found.clean,
        )
        for p in session.scalars(select(SyncPointerRow).where(SyncPointerRow.remote_key == key)):
            bases[(p.feature, p.environment)] = (
                _Pointer(p.local_active, p.local_canary, p.local_percent),
                _Pointer(p.remote_active, p.remote_canary, p.remote_percent),
            )
    return row, bases


# --- comparison -----------------------------------------------------------------------


@dataclass(slots=True)
class _PointerItem:
    environment: str
    component: Component
    local: Value
    remote: Value
    state: Literal["push", "pull", "conflict"]


@dataclass(slots=True)
class _Diff:
    name: str
    local: _F | None
    remote: _F | None
    ahead: list[_V] = field(default_factory=list)
    behind: list[_V] = field(default_factory=list)
    clash_local: list[_V] = field(default_factory=list)
    clash_remote: list[_V] = field(default_factory=list)
    mismatched: list[tuple[_V, _V]] = field(default_factory=list)  # same uid, other numbers
    pointers: list[_PointerItem] = field(default_factory=list)

    @property
    def version_conflict(self) -> bool:
        return bool(self.clash_local or self.clash_remote or self.mismatched)

    @property
    def local_only(self) -> list[_V]:
        return self.ahead + self.clash_local


def _compare(local: _Side, remote: _Side, bases: Bases) -> list[_Diff]:
    diffs: list[_Diff] = []
    for name in sorted(set(local.features) | set(remote.features)):
        lf, rf = local.features.get(name), remote.features.get(name)
        diff = _Diff(name, lf, rf)
        l_uid = lf.by_uid if lf else {}
        r_uid = rf.by_uid if rf else {}
        l_num = lf.by_number if lf else {}
        r_num = rf.by_number if rf else {}
        if l_uid.keys() != r_uid.keys() or any(
            r_uid[u].number != v.number for u, v in l_uid.items()
        ):
            for uid, version in sorted(l_uid.items(), key=lambda item: item[1].number):
                other = r_uid.get(uid)
                if other is not None:
                    if other.number != version.number:
                        diff.mismatched.append((version, other))
                elif version.number in r_num:
                    diff.clash_local.append(version)
                else:
                    diff.ahead.append(version)
            for uid, version in sorted(r_uid.items(), key=lambda item: item[1].number):
                if uid in l_uid:
                    continue
                if version.number in l_num:
                    diff.clash_remote.append(version)
                else:
                    diff.behind.append(version)
        environments = set(lf.pointers if lf else ()) | set(rf.pointers if rf else ())
        for environment in sorted(environments):
            lp = lf.pointers.get(environment, _NONE) if lf else _NONE
            rp = rf.pointers.get(environment, _NONE) if rf else _NONE
            base_l, base_r = bases.get((name, environment), (_NONE, _NONE))
            for component in _COMPONENTS:
                lv, rv = lp.value(component), rp.value(component)
                if lv == rv:
                    continue
                local_moved = lv != base_l.value(component)
                remote_moved = rv != base_r.value(component)
                state: Literal["push", "pull", "conflict"] = (
                    "push"
                    if local_moved and not remote_moved
                    else "pull"
                    if remote_moved and not local_moved
                    else "conflict"
                )
                diff.pointers.append(_PointerItem(environment, component, lv, rv, state))
        if (
            diff.ahead
            or diff.behind
            or diff.version_conflict
            or diff.pointers
            or (lf is None)
            or (rf is None)
        ):
            diffs.append(diff)
    return diffs


def _describe_value(side: _Side, component: Component, value: Value) -> str:
    uid, percent = value
    if uid is None:
        return "none"
    number = side.number_of(uid)
    label = f"v{number}" if number is not None else f"version {uid[:8]}"
    return f"{label} at {percent}%" if component == "canary" else label


def _describe_version(version: _V | None) -> str:
    if version is None:
        return "none"
    return f"v{version.number} by {version.author} ({version.uid[:8]})"


def _conflicts(diff: _Diff, local: _Side, remote: _Side) -> list[Conflict]:
    found: list[Conflict] = []
    l_num = diff.local.by_number if diff.local else {}
    r_num = diff.remote.by_number if diff.remote else {}
    numbers = sorted({v.number for v in diff.clash_local} | {v.number for v in diff.clash_remote})
    for number in numbers:
        found.append(
            Conflict(
                "version",
                diff.name,
                None,
                number,
                _describe_version(l_num.get(number)),
                _describe_version(r_num.get(number)),
            )
        )
    for mine, theirs in diff.mismatched:
        found.append(
            Conflict(
                "version",
                diff.name,
                None,
                mine.number,
                f"{mine.uid[:8]} is v{mine.number}",
                f"the same version is v{theirs.number}",
            )
        )
    for item in diff.pointers:
        if item.state == "conflict":
            found.append(
                Conflict(
                    item.component,
                    diff.name,
                    item.environment,
                    None,
                    _describe_value(local, item.component, item.local),
                    _describe_value(remote, item.component, item.remote),
                )
            )
    return found


def _move_text(diff: _Diff, item: _PointerItem, local: _Side, remote: _Side, to: str) -> str:
    if to == "remote":
        before, after = (
            _describe_value(remote, item.component, item.remote),
            _describe_value(local, item.component, item.local),
        )
    else:
        before, after = (
            _describe_value(local, item.component, item.local),
            _describe_value(remote, item.component, item.remote),
        )
    return f"{diff.name} {item.component} in {item.environment}: {before} -> {after}"


def _status_of(
    diffs: Sequence[_Diff], local: _Side, remote: _Side, url: str, first: bool
) -> SyncStatus:
    features = []
    for diff in diffs:
        entry = FeatureSyncStatus(
            feature=diff.name,
            ahead=tuple(v.number for v in diff.ahead),
            behind=tuple(v.number for v in diff.behind),
            push_moves=tuple(
                _move_text(diff, p, local, remote, "remote")
                for p in diff.pointers
                if p.state == "push"
            ),
            pull_moves=tuple(
                _move_text(diff, p, local, remote, "local")
                for p in diff.pointers
                if p.state == "pull"
            ),
            conflicts=tuple(_conflicts(diff, local, remote)),
        )
        if not entry.in_sync:
            features.append(entry)
    return SyncStatus(url, tuple(features), first_sync=first)


# --- status ---------------------------------------------------------------------------


def _unchanged(local: PromptStore, remote: PromptStore, key: str) -> bool:
    """True when neither store moved since a sync that left them equal (O(1))."""
    with local.reading() as session:
        row = session.get(SyncRemoteRow, key)
        if row is None or not row.clean:
            return False
        local_revision = session.scalar(select(StoreStateRow.revision).where(StoreStateRow.id == 1))
        recorded = (row.local_revision, row.remote_revision, row.remote_uid)
    if local_revision != recorded[0]:
        return False
    return _head(remote) == (recorded[1], recorded[2])


def status(local: PromptStore, remote: PromptStore) -> SyncStatus:
    """What a push and a pull would do, per feature, and the conflicts; changes nothing."""
    url = remote.display_url
    key = remote_key(remote.url)
    if _unchanged(local, remote, key):
        return SyncStatus(url, (), unchanged=True)
    with local.reading() as session:
        row, bases = _read_bookkeeping(session, key)
    with local.snapshot() as session:
        local_side = _read_side(session, events=False)
    with remote.snapshot() as session:
        remote_side = _read_side(session, events=False)
    identity_changed = row is not None and row.remote_uid != remote_side.identity
    if identity_changed:
        bases = {}
    diffs = _compare(local_side, remote_side, bases)
    found = _status_of(diffs, local_side, remote_side, url, row is None or identity_changed)
    to_push = sum(
        len(d.local_only) + sum(1 for p in d.pointers if p.state != "pull") for d in diffs
    )
    return replace(found, identity_changed=identity_changed, to_push=to_push)


def pending_changes(local: PromptStore, remote_url: str) -> int:
    """Local changes not pushed to ``remote_url``: reads local bookkeeping only.

    The same count as ``SyncStatus.to_push`` (what the sync view shows "to push"):
    local-only versions (those left unpushed at the last sync, plus those created
    since) and active versions/canaries moved locally since the last sync."""
    key = remote_key(remote_url)
    with local.reading() as session:
        row, bases = _read_bookkeeping(session, key)
        since = row.local_audit_id if row is not None else 0
        count = row.pending if row is not None else 0
        for action, details in session.execute(
            select(AuditEventRow.action, AuditEventRow.details).where(
                AuditEventRow.id > since,
                AuditEventRow.action.in_(("create", "create-feature", "import")),
            )
        ):
            count += len((details or {}).get("versions", ())) if action == "import" else 1
        active = aliased(VersionRow)
        canary = aliased(VersionRow)
        pointers: dict[tuple[str, str], _Pointer] = {}
        for name, environment, active_uid, canary_uid, percent in session.execute(
            select(
                FeatureRow.name,
                DeploymentRow.environment,
                active.uid,
                canary.uid,
                DeploymentRow.canary_percent,
            )
            .join(FeatureRow, FeatureRow.id == DeploymentRow.feature_id)
            .outerjoin(active, active.id == DeploymentRow.active_version_id)
            .outerjoin(canary, canary.id == DeploymentRow.canary_version_id)
        ):
            pointers[(name, environment)] = _Pointer(
                active_uid, canary_uid, percent if canary_uid else 0
            )
    for place in set(pointers) | set(bases):
        pointer = pointers.get(place, _NONE)
        base_local = bases.get(place, (_NONE, _NONE))[0]
        count += sum(1 for c in _COMPONENTS if pointer.value(c) != base_local.value(c))
    return count


# --- resolutions ----------------------------------------------------------------------


def _choice_for_versions(resolve: Mapping[str, Choice], feature: str) -> Choice | None:
    return resolve.get(feature)


def _choice_for_pointer(
    resolve: Mapping[str, Choice], feature: str, environment: str
) -> Choice | None:
    choice = resolve.get(f"{feature}:{environment}") or resolve.get(feature)
    return choice if choice in ("local", "remote") else None


def _check_resolutions(resolve: Mapping[str, Choice], names: set[str]) -> None:
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


def _refuse_keep_local(diffs: Sequence[_Diff], resolve: Mapping[str, Choice]) -> None:
    """``FEATURE=local`` for a version conflict is refused before anything is written:
    keeping the local numbers would replace versions the remote holds."""
    for diff in diffs:
        if diff.version_conflict and _choice_for_versions(resolve, diff.name) == "local":
            raise KeepLocalNumbersError(diff.name)


# --- writing --------------------------------------------------------------------------


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_VERSION_COLUMNS = (
    "uid",
    "number",
    "system_prompt",
    "model",
    "parameters",
    "author",
    "reason",
    "created_at",
    "parent_number",
    "content_hash",
)


def _fetch_versions(session: Session, uids: Sequence[str]) -> dict[str, dict[str, Any]]:
    columns = [getattr(VersionRow, name) for name in _VERSION_COLUMNS]
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(uids):
        for row in session.execute(select(*columns).where(VersionRow.uid.in_(chunk))):
            values = dict(zip(_VERSION_COLUMNS, row, strict=True))
            found[values["uid"]] = values
    return found


_EVENT_COLUMNS = (
    "uid",
    "at",
    "actor",
    "action",
    "feature",
    "environment",
    "from_version",
    "to_version",
    "reason",
    "details",
)


def _fetch_events(session: Session, uids: Sequence[str]) -> list[dict[str, Any]]:
    columns = [getattr(AuditEventRow, name) for name in _EVENT_COLUMNS]
    rows: list[tuple[int, dict[str, Any]]] = []
    for chunk in _chunks(uids):
        for row in session.execute(
            select(AuditEventRow.id, *columns).where(AuditEventRow.uid.in_(chunk))
        ):
            rows.append((row[0], dict(zip(_EVENT_COLUMNS, row[1:], strict=True))))
    rows.sort(key=lambda item: item[0])  # keep the source's order
    return [values for _id, values in rows]


def _insert_batches(
    session: Session,
    table: type[VersionRow] | type[AuditEventRow],
    rows: Sequence[dict[str, Any]],
    phase: str,
    progress: Progress | None,
) -> None:
    for start in range(0, len(rows), _BATCH):
        session.execute(insert(table), list(rows[start : start + _BATCH]))
        if progress is not None:
            progress(phase, min(start + _BATCH, len(rows)), len(rows))


@dataclass(slots=True)
class _Work:
    """What one push or pull writes on its target side."""

    features: list[str] = field(default_factory=list)  # to create
    versions: list[tuple[str, str]] = field(default_factory=list)  # (feature, uid)
    renumber: list[_Diff] = field(default_factory=list)  # pull: local renumbering
    moves: list[tuple[_Diff, _PointerItem]] = field(default_factory=list)
    remembered: list[tuple[_Diff, _PointerItem]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
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


def _plan_run(
    direction: Direction,
    local_side: _Side,
    remote_side: _Side,
    bases: Bases,
    resolve: Mapping[str, Choice],
    reason: str,
    *,
    versions_only: bool = False,
) -> tuple[_Work, list[_Diff]]:
    """Compare the two sides, refuse what cannot be done, and plan the writes and events."""
    diffs = _compare(local_side, remote_side, bases)
    _refuse_keep_local(diffs, resolve)
    work = _plan(direction, diffs, local_side, remote_side, resolve, versions_only=versions_only)
    source, target = (local_side, remote_side) if direction == "push" else (remote_side, local_side)
    work.events = _events_to_send(source, target, work, diffs)
    work.move_reason = reason
    return work, diffs


def _plan(
    direction: Direction,
    diffs: Sequence[_Diff],
    local: _Side,
    remote: _Side,
    resolve: Mapping[str, Choice],
    *,
    versions_only: bool = False,
    assume_renumbered: bool = False,
) -> _Work:
    """What to write on the target side (remote for push, local for pull).

    ``assume_renumbered``: plan a push as it will be once ``_prepare_local`` has
    renumbered the chosen version conflicts (to check roles before writing anything)."""
    work = _Work()
    for diff in diffs:
        src_f = diff.local if direction == "push" else diff.remote
        dst_f = diff.remote if direction == "push" else diff.local
        sending = diff.ahead if direction == "push" else diff.behind
        coming_back = diff.behind if direction == "push" else diff.ahead
        work.other_direction += len(coming_back)
        conflicts = _conflicts(diff, local, remote)
        choice = _choice_for_versions(resolve, diff.name)
        if diff.version_conflict:
            # Only a pull resolves one here (push renumbers locally first, in
            # _prepare_local): the local-only versions move on top, the remote's come in.
            # Nothing is ever deleted.
            ok = (
                not diff.mismatched
                and (direction == "pull" or assume_renumbered)
                and choice in VERSION_CHOICES
            )
            if not ok:
                # The whole feature waits for a choice; its other changes too.
                work.unresolved.extend(conflicts)
                work.skipped_features.add(diff.name)
                continue
            if direction == "push":
                sending = sending + diff.clash_local  # renumbered first, then sent
            else:
                work.renumber.append(diff)
                sending = sending + diff.clash_remote
        if src_f is not None and dst_f is None:
            work.features.append(diff.name)
        work.versions.extend((diff.name, v.uid) for v in sending)
        for item in diff.pointers:
            to = "remote" if direction == "push" else "local"
            if item.state == ("pull" if direction == "push" else "push"):
                work.other_direction += 1
                continue
            if item.state == "conflict":
                pointer_choice = _choice_for_pointer(resolve, diff.name, item.environment)
                conflict = next(
                    c
                    for c in conflicts
                    if c.kind == item.component and c.environment == item.environment
                )
                wins = "local" if direction == "push" else "remote"
                if pointer_choice is None:
                    work.unresolved.append(conflict)
                    continue
                if pointer_choice != wins:
                    work.remembered.append((diff, item))
                    work.other_direction += 1
                    continue
            if versions_only:
                work.skipped_moves.append(_move_text(diff, item, local, remote, to))
                continue
            work.moves.append((diff, item))
    return work


def _apply(
    work_unit: UnitOfWork,
    direction: Direction,
    work: _Work,
    source_session: Session,
    remote_url: str,
    progress: Progress | None,
) -> tuple[list[str], dict[tuple[str, str], _Pointer]]:
    """Write ``work`` on ``store`` (the target side). Returns what was renumbered and
    the target's pointers after the moves (per feature and environment that moved).

    Only inserts rows and moves pointers: no version row is ever deleted, and the only
    change to one is the renumbering of local-only versions (pull)."""
    session = work_unit.session
    if work.versions or work.features or work.events:
        work_unit.require(Action.PUSH_VERSIONS if direction == "push" else Action.PULL_VERSIONS)
    if work.moves:
        work_unit.require(Action.PUSH_POINTERS if direction == "push" else Action.PULL_POINTERS)
    renumbered: list[str] = []
    features = {name: fid for fid, name in session.execute(select(FeatureRow.id, FeatureRow.name))}

    # 1. Local renumbering (pull resolving a version conflict).
    for diff in work.renumber:
        renumbered.extend(_renumber(work_unit, diff, remote_url))

    # 2. Features, then versions, then audit events, in batches.
    if work.features:
        wanted = [n for n in work.features if n not in features]
        src_rows = {
            name: (created_at, created_by)
            for name, created_at, created_by in source_session.execute(
                select(FeatureRow.name, FeatureRow.created_at, FeatureRow.created_by).where(
                    FeatureRow.name.in_(wanted)
                )
            )
        }
        if wanted:
            session.execute(
                insert(FeatureRow),
                [
                    {"name": n, "created_at": src_rows[n][0], "created_by": src_rows[n][1]}
                    for n in wanted
                ],
            )
            features = {
                name: fid for fid, name in session.execute(select(FeatureRow.id, FeatureRow.name))
            }
    if work.versions:
        fetched = _fetch_versions(source_session, [uid for _name, uid in work.versions])
        rows = []
        for name, uid in work.versions:
            values = dict(fetched[uid])
            values["feature_id"] = features[name]
            rows.append(values)
        _insert_batches(session, VersionRow, rows, "versions", progress)
    if work.events:
        _insert_batches(
            session, AuditEventRow, _fetch_events(source_session, work.events), "events", progress
        )
    session.flush()

    # 3. Pointer moves, one deployment at a time, with the rollback stack kept sensible.
    after: dict[tuple[str, str], _Pointer] = {}
    if work.moves:
        needed = sorted(
            {
                uid
                for _diff, item in work.moves
                for uid in (item.local[0], item.remote[0])
                if uid is not None
            }
        )
        ids: dict[str, int] = {}
        numbers: dict[str, int] = {}
        for chunk in _chunks(needed):
            for version_uid, version_id, number in session.execute(
                select(VersionRow.uid, VersionRow.id, VersionRow.number).where(
                    VersionRow.uid.in_(chunk)
                )
            ):
                ids[version_uid] = version_id
                numbers[version_uid] = number
        grouped: dict[tuple[str, str], list[_PointerItem]] = {}
        for diff, item in work.moves:
            grouped.setdefault((diff.name, item.environment), []).append(item)
        for (name, environment), items in grouped.items():
            moved = _move_deployment(work_unit, features[name], environment, items, ids, direction)
            after[(name, environment)] = moved
            superseded = work.superseded.get((name, environment), [])
            for item in sorted(items, key=lambda i: i.component):
                before = item.remote if direction == "push" else item.local
                now = moved.value(item.component)
                details: dict[str, Any] = {"sync": direction, "component": item.component}
                if item.component == "canary":
                    details["percent"] = now[1]
                if item.state == "conflict":
                    details["conflict resolved"] = "local" if direction == "push" else "remote"
                if superseded:
                    details["superseded"] = sorted(superseded)
                    superseded = []
                work_unit.audit(
                    SYNC_MOVE_ACTIONS[item.component],
                    name,
                    environment=environment,
                    from_version=numbers.get(before[0]) if before[0] is not None else None,
                    to_version=numbers.get(now[0]) if now[0] is not None else None,
                    reason=work.move_reason,
                    details=details,
                )
    return renumbered, after


def _side_name(direction: Direction) -> str:
    return "the remote" if direction == "push" else "the local store"


def _move_deployment(
    work: UnitOfWork,
    feature_id: int,
    environment: str,
    items: Sequence[_PointerItem],
    ids: Mapping[str, int],
    direction: Direction,
) -> _Pointer:
    session = work.session
    feature_row = session.get(FeatureRow, feature_id)
    assert feature_row is not None
    deployment = work.deployment_for_change(feature_row, environment)
    uid_of = {v: k for k, v in ids.items()}
    for item in sorted(items, key=lambda i: i.component):  # active before canary
        value = item.local if direction == "push" else item.remote
        target = ids[value[0]] if value[0] is not None else None
        if item.component == "active":
            if deployment.active_version_id == target:
                continue
            stack = work.rollback_stack(deployment)
            if target is not None and stack and stack[-1].version_id == target:
                work.pop_rollback(stack[-1])  # the source rolled back: so does the target
                work.move(deployment, active=target)
                if deployment.canary_version_id == target:
                    work.move(deployment, canary=None, percent=0)
            else:
                work.activate(deployment, target)
        else:
            if target is not None and target == deployment.active_version_id:
                target = None  # a canary is never the active version
            work.move(deployment, canary=target, percent=value[1] if target else 0)
    session.flush()

    def uid(version_id: int | None) -> str | None:
        if version_id is None:
            return None
        known = uid_of.get(version_id)
        if known is not None:
            return known
        return session.scalar(select(VersionRow.uid).where(VersionRow.id == version_id))

    canary = uid(deployment.canary_version_id)
    return _Pointer(
        uid(deployment.active_version_id), canary, deployment.canary_percent if canary else 0
    )


def _renumber(work: UnitOfWork, diff: _Diff, remote_url: str) -> list[str]:
    """Give the feature's local-only versions numbers above the remote's."""
    local_only = sorted(diff.local_only, key=lambda v: v.number)
    if not local_only:
        return []
    only = {v.uid for v in local_only}
    shared = [
        v.number for v in (diff.local.by_uid.values() if diff.local else ()) if v.uid not in only
    ]
    remote_numbers = list(diff.remote.by_number) if diff.remote else []
    top = max([0, *shared, *remote_numbers])
    mapping = {v.number: top + i for i, v in enumerate(local_only, start=1)}
    if all(old == new for old, new in mapping.items()):
        return []
    session = work.session
    rows = list(session.scalars(select(VersionRow).where(VersionRow.uid.in_(sorted(only)))))
    for row in rows:  # two steps: the unique (feature, number) never sees a duplicate
        row.number = -mapping[row.number]
    session.flush()
    for row in rows:
        row.number = -row.number
        if row.parent_number in mapping:
            row.parent_number = mapping[row.parent_number]
    session.flush()
    moved = [{"uid": v.uid, "from": v.number, "to": mapping[v.number]} for v in local_only]
    work.audit(
        "renumber",
        diff.name,
        from_version=local_only[0].number,
        to_version=mapping[local_only[0].number],
        reason=f"local-only versions renumbered on top of {redact(remote_url)} to resolve a "
        "version conflict",
        details={"renumbered": moved},
    )
    return [f"{diff.name} v{m['from']} -> v{m['to']}" for m in moved]


# --- bookkeeping ----------------------------------------------------------------------


def _new_bases(
    diffs_by_name: Mapping[str, _Diff],
    local: _Side,
    remote: _Side,
    old: Bases,
    direction: Direction,
    after_target: Mapping[tuple[str, str], _Pointer],
    remembered: Sequence[tuple[_Diff, _PointerItem]],
) -> Bases:
    """Baselines after the sync: equal pointers become the baseline on both sides."""
    bases: Bases = {}
    remember = {(d.name, i.environment, i.component) for d, i in remembered}
    names = set(local.features) | set(remote.features)
    for name in names:
        lf, rf = local.features.get(name), remote.features.get(name)
        environments = set(lf.pointers if lf else ()) | set(rf.pointers if rf else ())
        environments |= {env for (feature, env) in old if feature == name}
        environments |= {env for (feature, env) in after_target if feature == name}
        for environment in environments:
            lp = lf.pointers.get(environment, _NONE) if lf else _NONE
            rp = rf.pointers.get(environment, _NONE) if rf else _NONE
            if (name, environment) in after_target:
                if direction == "push":
                    rp = after_target[(name, environment)]
                else:
                    lp = after_target[(name, environment)]
            base_l, base_r = old.get((name, environment), (_NONE, _NONE))
            for component in _COMPONENTS:
                lv, rv = lp.value(component), rp.value(component)
                if lv == rv:
                    base_l = base_l.with_value(component, lv)
                    base_r = base_r.with_value(component, rv)
                elif (name, environment, component) in remember:
                    if direction == "push":  # keep remote: the next pull takes it
                        base_l = base_l.with_value(component, lv)
                        if base_r.value(component) == rv:
                            base_r = base_r.with_value(component, (_MOVED, -1))
                    else:  # keep local: the next push sends it
                        base_r = base_r.with_value(component, rv)
                        if base_l.value(component) == lv:
                            base_l = base_l.with_value(component, (_MOVED, -1))
            if (base_l, base_r) != (_NONE, _NONE):
                bases[(name, environment)] = (base_l, base_r)
    del diffs_by_name
    return bases


def _record(
    session: Session,
    key: str,
    url: str,
    remote_uid: str,
    local_revision: int,
    remote_revision: int,
    local_audit_id: int,
    pending: int,
    clean: bool,
    bases: Bases,
    old: Bases,
) -> None:
    row = session.get(SyncRemoteRow, key)
    if row is None:
        row = SyncRemoteRow(key=key)
        session.add(row)
    row.url = url
    row.remote_uid = remote_uid
    row.local_revision = local_revision
    row.remote_revision = remote_revision
    row.local_audit_id = local_audit_id
    row.pending = pending
    row.clean = clean
    row.synced_at = utcnow()
    session.flush()
    gone = [k for k in old if k not in bases]
    for feature, environment in gone:
        session.execute(
            delete(SyncPointerRow).where(
                SyncPointerRow.remote_key == key,
                SyncPointerRow.feature == feature,
                SyncPointerRow.environment == environment,
            )
        )
    for (feature, environment), (base_l, base_r) in bases.items():
        if old.get((feature, environment)) == (base_l, base_r):
            continue
        values = {
            "local_active": base_l.active,
            "local_canary": base_l.canary,
            "local_percent": base_l.percent,
            "remote_active": base_r.active,
            "remote_canary": base_r.canary,
            "remote_percent": base_r.percent,
        }
        if (feature, environment) in old:
            session.execute(
                update(SyncPointerRow)
                .where(
                    SyncPointerRow.remote_key == key,
                    SyncPointerRow.feature == feature,
                    SyncPointerRow.environment == environment,
                )
                .values(**values)
            )
        else:
            session.add(
                SyncPointerRow(remote_key=key, feature=feature, environment=environment, **values)
            )
    session.flush()


def _bookkeeping_unchanged(
    row: _Book | None,
    remote_uid: str,
    local_revision: int,
    remote_revision: int,
    pending: int,
    clean: bool,
    bases: Bases,
    old: Bases,
) -> bool:
    return (
        row is not None
        and row.remote_uid == remote_uid
        and row.local_revision == local_revision
        and row.remote_revision == remote_revision
        and row.pending == pending
        and row.clean == clean
        and bases == old
    )


# --- push and pull --------------------------------------------------------------------


class _Rollback(Exception):
    """Internal: a write transaction that found nothing to write rolls back."""


def _pending_after(work: _Work, diffs: Sequence[_Diff], direction: Direction) -> int:
    """Local-only versions the next push would still have to send (pointer moves are
    counted from the baselines by pending_changes)."""
    if direction == "push":
        return sum(len(d.local_only) for d in diffs if d.name in work.skipped_features)
    return sum(len(d.local_only) for d in diffs)


def _finish(result: SyncResult, work: _Work) -> SyncResult:
    if work.unresolved:
        keys = sorted({c.key for c in work.unresolved})
        raise SyncConflictError(
            f"{len(work.unresolved)} conflict{_s(len(work.unresolved))} left unresolved "
            f"({', '.join(keys)}); the rest was {result.direction}ed. Choose with "
            "--resolve FEATURE=renumber for a version conflict (your versions move on top "
            "of the remote's; nothing is lost), FEATURE=local|remote or "
            "FEATURE:ENVIRONMENT=local|remote for an active/canary conflict",
            result,
        )
    return result


def push(
    local: PromptStore,
    remote: PromptStore,
    *,
    resolve: Mapping[str, Choice] | None = None,
    versions_only: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """Send what the remote lacks; move its pointers where only the local side moved.

    Raises SyncConflictError (after pushing everything else) when conflicts remain,
    and PermissionDeniedError, with nothing written, when the remote refuses a role.
    """
    resolve = dict(resolve or {})
    url = remote.display_url
    key = remote_key(remote.url)
    if not resolve and _unchanged(local, remote, key):
        return SyncResult("push", url, noop=True)

    # A local transaction first, only for resolutions that renumber local versions.
    fixed_locally: list[str] = []
    if resolve:
        fixed_locally = _prepare_local(local, remote, key, resolve, versions_only)

    with local.reading() as session:
        row, old_bases = _read_bookkeeping(session, key)
    with local.snapshot() as local_session:
        local_side = _read_side(local_session, events=True)
        with remote.snapshot() as session:
            remote_side = _read_side(session, events=True)
        identity_changed = row is not None and row.remote_uid != remote_side.identity
        bases = {} if identity_changed else old_bases
        push_reason = f"push from {local.user} (store {local_side.identity[:8]})"
        _check_resolutions(resolve, set(local_side.features) | set(remote_side.features))
        work, diffs = _plan_run(
            "push", local_side, remote_side, bases, resolve, push_reason,
            versions_only=versions_only,
        )  # fmt: skip
        after: dict[tuple[str, str], _Pointer] = {}
        remote_revision = remote_side.revision
        if work.writes:
            with remote.unit_of_work() as remote_work:
                session, revision = remote_work.session, remote_work.revision
                # Under the remote's write lock: plan again on what it holds now.
                fresh = _read_side(session, events=True)
                fresh.revision -= 1  # as it was before this transaction's bump
                if (fresh.revision, fresh.identity) != (
                    remote_side.revision,
                    remote_side.identity,
                ):
                    remote_side = fresh
                    work, diffs = _plan_run(
                        "push", local_side, remote_side, bases, resolve, push_reason,
                        versions_only=versions_only,
                    )  # fmt: skip
                try:
                    _renumbered, after = _apply(
                        remote_work, "push", work, local_session, url, progress
                    )
                except PromptDeckError as exc:
                    if fixed_locally:  # say what already happened locally
                        raise _with_note(exc, fixed_locally) from exc
                    raise
                remote_work.audit(
                    "push",
                    None,
                    reason=f"push from {local.user}: {_counts(work)}",
                    details={
                        "store": local_side.identity,
                        "features": len(work.features),
                        "versions": len(work.versions),
                        "events": len(work.events),
                        "moves": len(work.moves),
                    },
                )
                remote_revision = revision

    result = SyncResult(
        "push",
        url,
        features_created=len(work.features),
        versions=len(work.versions),
        events=len(work.events),
        moves=tuple(_move_text(d, i, local_side, remote_side, "remote") for d, i in work.moves),
        renumbered=tuple(fixed_locally),
        remembered=tuple(
            _remember_text(d, i, "push", local_side, remote_side) for d, i in work.remembered
        ),
        unresolved=tuple(work.unresolved),
        skipped_moves=tuple(work.skipped_moves),
        left_for_other_direction=work.other_direction,
        noop=not work.writes and not work.remembered,
        identity_changed=identity_changed,
    )
    new_bases = _new_bases(
        {d.name: d for d in diffs}, local_side, remote_side, bases, "push", after, work.remembered
    )
    clean = (
        not work.unresolved
        and not work.skipped_moves
        and work.other_direction == 0
        and not work.remembered
    )
    pending = _pending_after(work, diffs, "push")
    if not _bookkeeping_unchanged(
        row,
        remote_side.identity,
        local_side.revision,
        remote_revision,
        pending,
        clean,
        new_bases,
        old_bases,
    ):
        with local.unit_of_work() as local_work:
            session, revision = local_work.session, local_work.revision
            # Record our own bookkeeping write as seen, unless someone else wrote too.
            local_revision = (
                revision if local_side.revision == revision - 1 else local_side.revision
            )
            _record(
                session,
                key,
                url,
                remote_side.identity,
                local_revision,
                remote_revision,
                local_side.max_audit_id,
                pending,
                clean,
                new_bases,
                old_bases,
            )
    return _finish(result, work)


def _events_to_send(source: _Side, target: _Side, work: _Work, diffs: Sequence[_Diff]) -> list[str]:
    """Audit events the target lacks, except:

    - those of a feature held back by a version conflict (they wait);
    - pointer events (activate, rollback, canary, ...) of an active version or canary
      this run does not move on the target (unresolved conflict, a choice kept for the
      other direction, --versions-only, or a move only the other direction makes):
      they wait for the run that applies the move, so the target's history never
      claims a move that did not happen there;
    - role events and sync's own move events, which stay in their store;
    - pointer events a sync overrode on the source before they were sent.

    Also notes, per feature and environment this run moves, the target's pointer
    events the source lacks (the sync overrides them: they never travel back)."""
    assert source.audit is not None and target.audit is not None
    held_features = work.skipped_features
    applied = {id(item) for _diff, item in work.moves}
    held = {
        (d.name, item.environment, item.component)
        for d in diffs
        for item in d.pointers
        if id(item) not in applied
    }
    moved = {(d.name, item.environment) for d, item in work.moves}

    def waits(feature: str | None, environment: str | None, action: str) -> bool:
        if feature is None:
            return False
        if feature in held_features:
            return True
        components = _ACTION_COMPONENTS.get(action)
        if components is None:
            return False
        return any(
            (feature, env, c) in held
            for c in components
            for env in ([environment] if environment is not None else _envs(diffs, feature))
        )

    work.superseded = {}
    for uid, (feature, environment, action) in target.audit.items():
        if (
            action in POINTER_ACTIONS
            and feature is not None
            and environment is not None
            and (feature, environment) in moved
            and uid not in source.audit
        ):
            work.superseded.setdefault((feature, environment), []).append(uid)
    return sorted(
        uid
        for uid, (feature, environment, action) in source.audit.items()
        if uid not in target.audit
        and action not in LOCAL_ONLY_ACTIONS
        and uid not in source.superseded
        and not waits(feature, environment, action)
    )


def _envs(diffs: Sequence[_Diff], feature: str) -> list[str]:
    return sorted({i.environment for d in diffs if d.name == feature for i in d.pointers})


def _remember_text(
    diff: _Diff, item: _PointerItem, direction: Direction, local: _Side, remote: _Side
) -> str:
    if direction == "push":
        kept = _describe_value(remote, item.component, item.remote)
        return (
            f"{diff.name} {item.component} in {item.environment}: keeping the remote's "
            f"{kept}; pull to take it"
        )
    kept = _describe_value(local, item.component, item.local)
    return (
        f"{diff.name} {item.component} in {item.environment}: keeping the local {kept}; "
        "push to send it"
    )


def _prepare_local(
    local: PromptStore,
    remote: PromptStore,
    key: str,
    resolve: Mapping[str, Choice],
    versions_only: bool,
) -> list[str]:
    """Push resolving version conflicts: renumber the local-only versions first.

    Refuses ``FEATURE=local`` for a version conflict, and a push the remote's roles
    would refuse, before writing anything. Returns what was renumbered."""
    renumbered: list[str] = []
    if not any(":" not in k for k in resolve):
        return renumbered  # only per-environment pointer choices: nothing to fix here
    with local.reading() as session:
        _row, bases = _read_bookkeeping(session, key)
    with remote.snapshot() as remote_session:
        remote_side = _read_side(remote_session, events=False)
    if _row is not None and _row.remote_uid != remote_side.identity:
        bases = {}
    try:
        with local.unit_of_work() as local_work:
            session = local_work.session
            local_side = _read_side(session, events=False)
            _check_resolutions(resolve, set(local_side.features) | set(remote_side.features))
            diffs = _compare(local_side, remote_side, bases)
            _refuse_keep_local(diffs, resolve)
            # The remote's roles, as the push will meet them: refuse before any write.
            planned = _plan(
                "push",
                diffs,
                local_side,
                remote_side,
                resolve,
                versions_only=versions_only,
                assume_renumbered=True,
            )
            if planned.versions or planned.features:
                remote.require(Action.PUSH_VERSIONS)
            if planned.moves:
                remote.require(Action.PUSH_POINTERS)
            diffs = [
                d
                for d in diffs
                if _choice_for_versions(resolve, d.name) in VERSION_CHOICES
                and (d.clash_local or d.clash_remote)
                and not d.mismatched
            ]
            if not diffs:
                raise _Rollback()
            local_work.require(Action.RENUMBER)
            for diff in diffs:
                renumbered += _renumber(local_work, diff, remote.url)
    except _Rollback:
        pass
    return renumbered


def pull(
    local: PromptStore,
    remote: PromptStore,
    *,
    resolve: Mapping[str, Choice] | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Bring what the local store lacks, in one local transaction; move local pointers
    where only the remote moved. Conflicts without a choice are left for later."""
    resolve = dict(resolve or {})
    url = remote.display_url
    key = remote_key(remote.url)
    if not resolve and _unchanged(local, remote, key):
        return SyncResult("pull", url, noop=True)
    outcome: list[SyncResult] = []
    works: list[_Work] = []
    try:
        with remote.snapshot() as remote_session:
            remote_side = _read_side(remote_session, events=True)
            with local.unit_of_work() as local_work:
                session, revision = local_work.session, local_work.revision
                local_side = _read_side(session, events=True)
                row, old_bases = _read_bookkeeping(session, key)
                identity_changed = row is not None and row.remote_uid != remote_side.identity
                bases = {} if identity_changed else old_bases
                local_side.revision -= 1  # as it was before this transaction's bump
                names = set(local_side.features) | set(remote_side.features)
                _check_resolutions(resolve, names)
                work, diffs = _plan_run(
                    "pull", local_side, remote_side, bases, resolve, f"pull from {url}"
                )
                works.append(work)
                after: dict[tuple[str, str], _Pointer] = {}
                renumbered: list[str] = []
                if work.writes:
                    renumbered, after = _apply(
                        local_work, "pull", work, remote_session, url, progress
                    )
                    local_work.audit(
                        "pull",
                        None,
                        reason=f"pull from {url}: {_counts(work)}",
                        details={
                            "store": remote_side.identity,
                            "features": len(work.features),
                            "versions": len(work.versions),
                            "events": len(work.events),
                            "moves": len(work.moves),
                            "renumbered": renumbered,
                        },
                    )
                new_bases = _new_bases(
                    {d.name: d for d in diffs},
                    local_side,
                    remote_side,
                    bases,
                    "pull",
                    after,
                    work.remembered,
                )
                clean = (
                    not work.unresolved
                    and work.other_direction == 0
                    and not work.remembered
                    and not renumbered
                )
                pending = _pending_after(work, diffs, "pull")
                result = SyncResult(
                    "pull",
                    url,
                    features_created=len(work.features),
                    versions=len(work.versions),
                    events=len(work.events),
                    moves=tuple(
                        _move_text(d, i, local_side, remote_side, "local") for d, i in work.moves
                    ),
                    renumbered=tuple(renumbered),
                    remembered=tuple(
                        _remember_text(d, i, "pull", local_side, remote_side)
                        for d, i in work.remembered
                    ),
                    unresolved=tuple(work.unresolved),
                    left_for_other_direction=work.other_direction + len(renumbered),
                    noop=not work.writes and not work.remembered,
                    identity_changed=identity_changed,
                )
                outcome.append(result)
                max_audit = session.scalar(select(func.max(AuditEventRow.id))) or 0
                if not work.writes and _bookkeeping_unchanged(
                    row,
                    remote_side.identity,
                    local_side.revision,
                    remote_side.revision,
                    pending,
                    clean,
                    new_bases,
                    old_bases,
                ):
                    raise _Rollback()
                _record(
                    session,
                    key,
                    url,
                    remote_side.identity,
                    revision,
                    remote_side.revision,
                    max_audit,
                    pending,
                    clean,
                    new_bases,
                    old_bases,
                )
    except _Rollback:
        pass
    return _finish(outcome[0], works[0])


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _counts(work: _Work) -> str:
    v, e, m = len(work.versions), len(work.events), len(work.moves)
    return f"{v} version{_s(v)}, {e} audit event{_s(e)}, {m} pointer move{_s(m)}"


def _with_note(exc: PromptDeckError, renumbered: Sequence[str]) -> PromptDeckError:
    """The same error, saying which local versions were renumbered before it."""
    note = (
        f"{exc}; note: before the remote refused, your local-only versions were "
        f"renumbered on top of the remote's ({', '.join(renumbered)}); nothing was "
        "lost, and the next push sends them"
    )
    try:
        return type(exc)(note)
    except TypeError:
        return PromptDeckError(note)


def identity_notice(url: str) -> str:
    return (
        f"the remote at {url} is a different store than at the last sync (identity "
        "changed): treating this as a first sync"
    )


__all__ = [
    "CHOICES",
    "POINTER_CHOICES",
    "VERSION_CHOICES",
    "Choice",
    "Conflict",
    "Direction",
    "FeatureSyncStatus",
    "KeepLocalNumbersError",
    "Progress",
    "SyncConflictError",
    "SyncResult",
    "SyncStatus",
    "open_remote",
    "parse_resolution",
    "pending_changes",
    "pull",
    "push",
    "remote_key",
    "status",
]
