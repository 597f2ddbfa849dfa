"""Push and pull between a local store and a remote store, with conflict detection.

- records.py   what callers get back, and the plain state the planner works on
- planner.py   compare two sides, find conflicts, plan the moves (pure: no SQLAlchemy)
- reading.py   read one side (and the local bookkeeping of a remote)
- applying.py  write a plan through the target store's unit of work
- moving.py    pointer moves, rollback stacks and their events, in batches
- table_planner.py  environments, reviews, suites, check runs, metrics (pure)
- copying.py   write those tables' rows on the target, in batches
- row_limits.py  a row the other side cannot store is refused naming it
- runs.py      status, push and pull: read -> plan -> apply -> record

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
moved and the last sync left both sides equal (and both hold the same metrics, which
move no revision), status/push/pull answer without reading any rows.

Sync never creates a store: a remote without promptdeck's schema is refused, naming
the database and `promptdeck --db URL init`. Writes are batched: a run costs a constant
number of statements per batch of rows, however many features move.

The tables of schema 0003 travel too (rules in table_planner.py): environments by
name (created by admins; protection: the remote's wins on pull, an admin's push sends
yours), reviews and check runs by uid attached to their version's uid, suites by uid
per feature (a number both sides give to different suites is refused with a line),
and metrics by origin, replacing the receiving side's copy of another store's rows and
never sending a store its own, so nothing is counted twice.

Pointer moves pass the receiving side's activation gate (store/gates.py), as activate,
canary and promote do there: a version that a move puts live (a new active version or
canary) in a protected environment needs its approvals, and in one that requires checks
a passing run of the feature's current suite. Reviews, suites and check runs are copied
earlier in the same transaction, so those that travel with the run count. Protection
itself counts as that side held it before the run: settings that travel apply from the
next run (a fresh clone of a protected store takes what that store already serves). A rollback
(returning to the top of the target's rollback stack) is not gated. A refused move
refuses the whole run (SyncGateError, one line naming each blocked version, feature and
environment and what is missing): nothing is written on that side; a push can still
send the versions alone with ``versions_only``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptdeck.sync.reading import remote_key
    from promptdeck.sync.records import (
        CHOICES,
        POINTER_CHOICES,
        VERSION_CHOICES,
        Choice,
        Conflict,
        ConflictKind,
        Direction,
        FeatureSyncStatus,
        KeepLocalNumbersError,
        Progress,
        SyncConflictError,
        SyncGateError,
        SyncResult,
        SyncStatus,
        identity_notice,
    )
    from promptdeck.sync.runs import (
        open_remote,
        parse_resolution,
        pending_changes,
        pull,
        push,
        status,
        synced_before,
    )

# Loaded on first use, so that importing the pure planner (promptdeck.sync.planner)
# loads no database code through this package.
_HOME = {
    "remote_key": "reading",
    **{name: "runs" for name in ("open_remote", "parse_resolution", "pending_changes")},
    **{name: "runs" for name in ("pull", "push", "status", "synced_before")},
}
_SUBMODULES = frozenset({"applying", "planner", "reading", "records", "runs"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in __all__:
        module = importlib.import_module(f"{__name__}.{_HOME.get(name, 'records')}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHOICES",
    "POINTER_CHOICES",
    "VERSION_CHOICES",
    "Choice",
    "Conflict",
    "ConflictKind",
    "Direction",
    "FeatureSyncStatus",
    "KeepLocalNumbersError",
    "Progress",
    "SyncConflictError",
    "SyncGateError",
    "SyncResult",
    "SyncStatus",
    "identity_notice",
    "open_remote",
    "parse_resolution",
    "pending_changes",
    "pull",
    "push",
    "remote_key",
    "status",
    "synced_before",
]
