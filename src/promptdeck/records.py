"""Plain, frozen records that the store hands to its callers (never ORM objects)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Names and limits live in promptdeck.limits; these stay importable from here.
from promptdeck.limits import MAX_ENVIRONMENT as MAX_ENVIRONMENT
from promptdeck.limits import MAX_NAME as MAX_NAME
from promptdeck.limits import NAME_RE as NAME_RE
from promptdeck.limits import check_name as check_name
from promptdeck.templates import find_variables

# A ladder: each role may do everything the one before it may, and more.
Role = Literal["viewer", "editor", "reviewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "reviewer", "admin")
DEFAULT_ENVIRONMENT = "production"


def content_hash(system_prompt: str, model: str, parameters: Mapping[str, Any]) -> str:
    """A stable hash of what a version serves; equal hashes mean identical content."""
    canonical = json.dumps(
        {"system_prompt": system_prompt, "model": model, "parameters": parameters},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """A version without its text: cheap to list by the thousand."""

    uid: str
    feature: str
    number: int
    model: str
    author: str
    reason: str
    created_at: datetime
    parent: int | None
    content_hash: str


@dataclass(frozen=True, slots=True)
class Version:
    """One immutable revision of a feature's prompt."""

    uid: str
    feature: str
    number: int
    system_prompt: str
    model: str
    parameters: Mapping[str, Any]
    author: str
    reason: str
    created_at: datetime
    parent: int | None
    content_hash: str

    @property
    def variables(self) -> tuple[str, ...]:
        return find_variables(self.system_prompt)

    @property
    def summary(self) -> VersionSummary:
        return VersionSummary(
            uid=self.uid,
            feature=self.feature,
            number=self.number,
            model=self.model,
            author=self.author,
            reason=self.reason,
            created_at=self.created_at,
            parent=self.parent,
            content_hash=self.content_hash,
        )


@dataclass(frozen=True, slots=True)
class Deployment:
    """What one feature serves in one environment."""

    feature: str
    environment: str
    active: int | None = None
    canary: int | None = None
    canary_percent: int = 0
    previous: tuple[int, ...] = ()  # the rollback stack, oldest first


@dataclass(frozen=True, slots=True)
class FeatureSummary:
    """A row of the features list, for one environment."""

    name: str
    versions: int
    latest: int | None
    active: int | None
    canary: int | None
    canary_percent: int

    @property
    def has_newer(self) -> bool:
        """A version newer than the active one exists (a draft not yet activated)."""
        return self.latest is not None and (self.active is None or self.latest > self.active)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """An append-only record of one write."""

    uid: str
    at: datetime
    actor: str
    action: str
    feature: str | None
    environment: str | None
    from_version: int | None
    to_version: int | None
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServingEntry:
    """What the runtime library needs to serve one feature in one environment."""

    feature: str
    environment: str
    active: Version | None
    canary: Version | None
    canary_percent: int
    revision: int


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """A version as an import file describes it; unset metadata is filled on import."""

    number: int
    system_prompt: str
    model: str
    parameters: Mapping[str, Any]
    uid: str | None = None
    author: str | None = None
    reason: str | None = None
    created_at: datetime | None = None
    parent: int | None = None

    @property
    def content_hash(self) -> str:
        return content_hash(self.system_prompt, self.model, self.parameters)


@dataclass(frozen=True, slots=True)
class FeatureDocument:
    """One feature's versions and deployments, as read from or written to a file."""

    feature: str
    versions: tuple[VersionSpec, ...]
    deployments: tuple[Deployment, ...] = ()
    source: str = "<memory>"
    single: bool = False  # a single-version file, the shape teams keep beside their code
    # The feature's behavioural suite, canonical data (checks.suite.suite_to_data), if any.
    suite: Mapping[str, Any] | None = None


# --- governance: identity, environments, reviews -----------------------------------

IdentitySource = Literal["postgresql-login", "os-login", "declared"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this store's user is and why promptdeck believes it.

    ``postgresql-login``: the session user of a PostgreSQL store secured by ``init``;
    ``os-login``: the operating-system login (SQLite, or PostgreSQL not secured);
    ``declared``: ``--user``/PROMPTDECK_USER, believed only where no roles are set.
    """

    user: str
    source: IdentitySource
    role: Role


@dataclass(frozen=True, slots=True)
class Environment:
    """An environment that exists (created explicitly; production from the start)."""

    name: str
    protected: bool
    required_approvals: int
    require_checks: bool
    created_at: datetime
    created_by: str


ReviewKind = Literal["request", "approve", "reject"]


@dataclass(frozen=True, slots=True)
class Review:
    """One append-only review row: a request, an approval or a rejection."""

    uid: str
    feature: str
    version: int
    kind: ReviewKind
    actor: str
    comment: str
    at: datetime


ReviewStatus = Literal["none", "requested", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class ReviewState:
    """Where a version stands in review.

    ``approved_by``: the people whose latest word on the version is an approval;
    ``rejected_by``: those whose latest word is a rejection (a rejection blocks until
    that reviewer approves again). ``status``: rejected if anyone's latest word is a
    rejection, else approved if anyone approved, else requested if review was asked,
    else none.
    """

    feature: str
    version: int
    status: ReviewStatus
    approved_by: tuple[str, ...] = ()
    rejected_by: tuple[str, ...] = ()
    requested_by: str | None = None
    request_reason: str | None = None
    requested_at: datetime | None = None

    @property
    def approvals(self) -> int:
        return len(self.approved_by)


@dataclass(frozen=True, slots=True)
class ReviewQueueEntry:
    """A version waiting for review, with its diff summary against what is live."""

    feature: str
    version: int
    author: str
    reason: str
    created_at: datetime
    state: ReviewState
    environment: str  # where "live" was read
    live: int | None  # the active version there (None: nothing live yet)
    lines_added: int
    lines_removed: int
