"""PromptStore: the one place that writes. Every rule of the store lives here.

Versions are immutable and numbered per feature; a reason is required for every
change; activation and rollback move a pointer and keep a rollback stack; roles are
enforced; every write is one transaction together with its audit event.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Engine,
    String,
    Text,
    and_,
    cast,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.pool import StaticPool

from promptdeck.config import redact, resolve_user, scrub, to_url
from promptdeck.errors import (
    AlreadyActiveError,
    ConflictError,
    DeploymentMovedError,
    NoChangeError,
    NotFoundError,
    PermissionDeniedError,
    PromptDeckError,
    StoreError,
    ValidationError,
)
from promptdeck.model import (
    AuditEventRow,
    DeploymentRow,
    FeatureRow,
    RoleRow,
    RollbackEntryRow,
    StoreStateRow,
    VersionRow,
)
from promptdeck.records import (
    DEFAULT_ENVIRONMENT,
    MAX_ENVIRONMENT,
    ROLES,
    AuditEvent,
    Deployment,
    FeatureDocument,
    FeatureSummary,
    Role,
    ServingEntry,
    Version,
    VersionSpec,
    VersionSummary,
    check_name,
    content_hash,
)

# PostgreSQL stores NOTIFY this channel with the new revision after every write.
NOTIFY_CHANNEL = "promptdeck"
# The newest migration this code knows. A test checks it against migrations/.
SCHEMA_HEAD = "0002"

VersionRef = int | str  # a number, "active" or "latest"
_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
# Deterministic ids for versions imported from single-version files: re-imports match.
_IMPORT_NAMESPACE = uuid.UUID("8f0e6f2a-5d1c-4c9b-9a55-0c1f4b7d2e10")


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise ValidationError("a reason is required: say why (it cannot be empty)")
    if "\x00" in reason:  # PostgreSQL cannot store it; refuse alike on every backend
        raise ValidationError("the reason contains a NUL character")
    return reason.strip()


def check_prompt(system_prompt: str) -> str:
    if not isinstance(system_prompt, str) or not system_prompt.strip():
        raise ValidationError("the prompt text is empty")
    if "\x00" in system_prompt:
        raise ValidationError("the prompt text contains a NUL character")
    try:
        system_prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("the prompt text is not valid UTF-8") from None
    return system_prompt


def check_model(model: str) -> str:
    if not isinstance(model, str) or not model.strip() or len(model) > 200 or "\x00" in model:
        raise ValidationError("the model must be a non-empty name of at most 200 characters")
    return model.strip()


def check_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(parameters, Mapping):
        raise ValidationError("parameters must be a mapping of names to values")
    try:
        # A round trip through JSON proves the value is storable and copies it.
        copied: dict[str, Any] = json.loads(json.dumps(dict(parameters), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"parameters must be JSON values: {exc}") from None
    return copied


def check_percent(percent: int) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ValidationError(
            f"canary percentage must be a whole number from 0 to 100, not {percent}"
        )
    return percent


@dataclass(frozen=True, slots=True)
class ImportResult:
    features_created: tuple[str, ...]
    versions_created: tuple[tuple[str, int], ...]
    deployments_set: tuple[tuple[str, str], ...]

    @property
    def changed(self) -> bool:
        return bool(self.features_created or self.versions_created or self.deployments_set)


# --- the store ----------------------------------------------------------------------


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None  # create_store_engine reports the bad URL
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_store_engine(url: str, options: Mapping[str, Any] | None = None) -> Engine:
    """An engine with promptdeck's connection settings for the URL's backend.

    ``options`` (keyword arguments of ``create_engine``) override the defaults on
    server databases, e.g. the runtime's single connection and no prepared statements
    behind PgBouncer.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError(f"not a database URL or path: {redact(url)}") from None
    if parsed.get_backend_name() == "sqlite":
        in_memory = sqlite_path(url) is None
        engine = create_engine(
            parsed,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=StaticPool if in_memory else None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transactions over from pysqlite so BEGIN is ours (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not in_memory:
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Writers take the lock before reading the next version number.
            immediate = connection.get_execution_options().get("promptdeck_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    try:
        return create_engine(parsed, **{"pool_pre_ping": True, **(options or {})})
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database {redact(url)}: {exc}") from None


class PromptStore:
    """A prompt store at a SQLAlchemy URL or a SQLite path.

    ``create=False`` refuses to create a missing SQLite file. The schema is migrated
    on open (``migrate=False``, for read-only clients such as the runtime library,
    refuses an out-of-date schema instead); a store from a newer promptdeck is
    refused and left untouched.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        user: str | None = None,
        create: bool = True,
        migrate: bool = True,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = to_url(location)
        self.user = resolve_user(user)
        path = sqlite_path(self.url)
        if path is not None:
            if not path.exists() and not create:
                raise StoreError(
                    f"no store at {path}; create it with `promptdeck --db {path} init`"
                )
            if create:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create store directory {path.parent}: {exc}"
                    ) from None
        # Without options, called as before (tests replace create_store_engine(url)).
        self._engine = (
            create_store_engine(self.url, engine_options)
            if engine_options
            else create_store_engine(self.url)
        )
        try:
            self._migrate(upgrade=migrate)
        except BaseException:
            self._engine.dispose()
            raise

    # -- plumbing ----------------------------------------------------------------

    @property
    def display_url(self) -> str:
        return redact(self.url)

    @property
    def engine(self) -> Engine:
        """For sync and tests: the store's engine. UIs call the methods instead."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> PromptStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except PromptDeckError:
            raise
        except IntegrityError as exc:
            raise StoreError(
                "another writer changed the store at the same moment; try again "
                f"({_first_line(exc)})"
            ) from None
        except OperationalError as exc:
            message = _first_line(exc)
            if "locked" in message or "busy" in message:
                raise StoreError(
                    f"the store {self.display_url} is locked by another process; try again"
                ) from None
            raise StoreError(
                f"cannot use store {self.display_url}: {scrub(message, self.url)}"
            ) from None
        except DBAPIError as exc:
            raise StoreError(
                f"database error on {self.display_url}: {scrub(_first_line(exc), self.url)}"
            ) from None

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._translate_errors(), Session(self._engine) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[tuple[Session, int]]:
        """One write transaction; yields the session and the store's new revision.

        Bumping the revision row first serialises writers on every backend, so the
        next version number read afterwards is final until commit.
        """
        with self._translate_errors(), self._engine.connect() as connection:
            connection.execution_options(promptdeck_write=True)
            with connection.begin():
                session = Session(bind=connection, autoflush=True)
                try:
                    session.execute(
                        update(StoreStateRow)
                        .where(StoreStateRow.id == 1)
                        .values(revision=StoreStateRow.revision + 1)
                    )
                    revision = session.scalar(
                        select(StoreStateRow.revision).where(StoreStateRow.id == 1)
                    )
                    assert revision is not None
                    yield session, revision
                    session.flush()
                    if connection.dialect.name == "postgresql":
                        # Delivered on commit: runtime clients listening refresh at once.
                        session.execute(
                            text("SELECT pg_notify(:channel, :revision)"),
                            {"channel": NOTIFY_CHANNEL, "revision": str(revision)},
                        )
                finally:
                    session.close()

    def _migrate(self, *, upgrade: bool = True) -> None:
        with self._translate_errors():
            current = self._schema_revision()
            if current == SCHEMA_HEAD:
                return
            # Imported here: opening an up-to-date store (the common case, and the
            # runtime library's) does not pay for loading Alembic.
            from alembic import command
            from alembic.config import Config
            from alembic.script import ScriptDirectory

            config = Config()
            config.set_main_option("script_location", "promptdeck:migrations")
            script = ScriptDirectory.from_config(config)
            if not upgrade:
                known = {rev.revision for rev in script.walk_revisions()}
                if current is not None and current not in known:
                    raise StoreError(
                        f"the store {self.display_url} has schema {current}, newer than this "
                        f"promptdeck knows ({SCHEMA_HEAD}); upgrade promptdeck to read it"
                    )
                raise StoreError(
                    f"the store {self.display_url} has schema {current or 'none'}, not "
                    f"{SCHEMA_HEAD}; migrate it with `promptdeck --db URL init`"
                )
            if current is None:
                self._refuse_foreign_database()
                self._enable_wal()
            with self._engine.connect() as connection:
                connection.execution_options(promptdeck_write=True)
                with connection.begin():
                    current = _read_schema_revision(connection)
                    if current is not None and current not in {
                        rev.revision for rev in script.walk_revisions()
                    }:
                        raise StoreError(
                            f"the store {self.display_url} has schema {current}, newer than this "
                            f"promptdeck knows ({SCHEMA_HEAD}); upgrade promptdeck to use it"
                        )
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")

    def _refuse_foreign_database(self) -> None:
        """A database with tables but no promptdeck schema is someone else's: leave it."""
        with self._engine.connect() as connection:
            tables = inspect(connection).get_table_names()
        # alembic_version present: another process has just created the schema.
        if tables and "alembic_version" not in tables:
            raise StoreError(
                f"{self.display_url} is not a promptdeck store: it holds other tables "
                f"({', '.join(sorted(tables)[:3])}{', ...' if len(tables) > 3 else ''})"
            )

    def _enable_wal(self) -> None:
        # WAL is a property of the file: set once, when promptdeck creates its schema,
        # outside any transaction (SQLite cannot switch journal mode inside one).
        if sqlite_path(self.url) is None:
            return
        raw = self._engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA journal_mode = WAL")  # type: ignore[union-attr]
        finally:
            raw.close()

    def _schema_revision(self) -> str | None:
        with self._engine.connect() as connection:
            return _read_schema_revision(connection)

    def schema_revision(self) -> str | None:
        with self._translate_errors():
            return self._schema_revision()

    # -- identity and roles --------------------------------------------------------

    def _role_of(self, session: Session, user: str) -> Role:
        if session.scalar(select(func.count()).select_from(RoleRow)) == 0:
            return "admin"  # one person's store: no roles configured, everything allowed
        role = session.scalar(select(RoleRow.role).where(RoleRow.user == user))
        return role if role in _RANK else "viewer"  # type: ignore[return-value]

    def _require(self, session: Session, needed: Role, action: str) -> None:
        _require_role(self._role_of(session, self.user), needed, self.user, action)

    def role(self, user: str | None = None) -> Role:
        """The effective role of ``user`` (default: this store's user)."""
        with self._read() as session:
            return self._role_of(session, user or self.user)

    def may(self, needed: Role) -> bool:
        return _RANK[self.role()] >= _RANK[needed]

    def roles(self) -> dict[str, Role]:
        with self._read() as session:
            rows = session.execute(select(RoleRow.user, RoleRow.role).order_by(RoleRow.user))
            return {user: role for user, role in rows}  # type: ignore[misc]

    def set_role(self, user: str, role: str) -> None:
        if role not in _RANK:
            raise ValidationError(f"unknown role {role!r}: use viewer, editor or admin")
        if not user or not user.strip():
            raise ValidationError("a user name is required")
        with self._write() as (session, _revision):
            self._require(session, "admin", "manage roles")
            current = session.get(RoleRow, user)
            before = current.role if current else None
            if before == role:
                raise ValidationError(f"{user} is already {_article(role)} {role}")
            if current is None:
                session.add(RoleRow(user=user, role=role))
            else:
                current.role = role
            session.flush()
            admins = session.scalar(
                select(func.count()).select_from(RoleRow).where(RoleRow.role == "admin")
            )
            if not admins:
                raise ValidationError(
                    "the store would have no admin: make someone admin first "
                    f"(e.g. `promptdeck role {self.user} admin`)"
                )
            self._audit(
                session,
                "role",
                None,
                reason=f"{user}: {before or 'none'} -> {role}",
                details={"user": user, "from": before, "to": role},
            )

    # -- reads -----------------------------------------------------------------------

    def revision(self) -> int:
        """A counter bumped by every write: cheap to poll."""
        with self._read() as session:
            return session.scalar(select(StoreStateRow.revision).where(StoreStateRow.id == 1)) or 0

    def features(
        self, environment: str = DEFAULT_ENVIRONMENT, *, name: str | None = None
    ) -> list[FeatureSummary]:
        """Every feature (or the one called ``name``) with its state in ``environment``."""
        stats = (
            select(
                VersionRow.feature_id,
                func.count().label("count"),
                func.max(VersionRow.number).label("latest"),
            )
            .group_by(VersionRow.feature_id)
            .subquery()
        )
        active = aliased(VersionRow)
        canary = aliased(VersionRow)
        query = (
            select(
                FeatureRow.name,
                stats.c.count,
                stats.c.latest,
                active.number,
                canary.number,
                DeploymentRow.canary_percent,
            )
            .outerjoin(stats, stats.c.feature_id == FeatureRow.id)
            .outerjoin(
                DeploymentRow,
                and_(
                    DeploymentRow.feature_id == FeatureRow.id,
                    DeploymentRow.environment == environment,
                ),
            )
            .outerjoin(active, active.id == DeploymentRow.active_version_id)
            .outerjoin(canary, canary.id == DeploymentRow.canary_version_id)
            .order_by(FeatureRow.name)
        )
        if name is not None:
            query = query.where(FeatureRow.name == name)
        with self._read() as session:
            return [
                FeatureSummary(
                    name=name,
                    versions=count or 0,
                    latest=latest,
                    active=active_number,
                    canary=canary_number,
                    canary_percent=(percent or 0) if canary_number is not None else 0,
                )
                for name, count, latest, active_number, canary_number, percent in session.execute(
                    query
                )
            ]

    def feature(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> FeatureSummary:
        for summary in self.features(environment, name=name):
            return summary
        raise NotFoundError(_unknown_feature(name))

    def versions(self, feature: str) -> list[VersionSummary]:
        """The feature's versions without their texts, newest first."""
        with self._read() as session:
            row = self._feature_row(session, feature)
            rows = session.execute(
                select(
                    VersionRow.uid,
                    VersionRow.number,
                    VersionRow.model,
                    VersionRow.author,
                    VersionRow.reason,
                    VersionRow.created_at,
                    VersionRow.parent_number,
                    VersionRow.content_hash,
                )
                .where(VersionRow.feature_id == row.id)
                .order_by(VersionRow.number.desc())
            )
            return [
                VersionSummary(
                    uid=uid,
                    feature=feature,
                    number=number,
                    model=model,
                    author=author,
                    reason=reason,
                    created_at=created_at,
                    parent=parent,
                    content_hash=digest,
                )
                for uid, number, model, author, reason, created_at, parent, digest in rows
            ]

    def version(
        self, feature: str, ref: VersionRef = "latest", environment: str = DEFAULT_ENVIRONMENT
    ) -> Version:
        """One version with its text: a number, ``"active"`` or ``"latest"``."""
        with self._read() as session:
            feature_row = self._feature_row(session, feature)
            row = self._resolve(session, feature_row, ref, environment)
            return _to_version(row, feature)

    def deployment(self, feature: str, environment: str = DEFAULT_ENVIRONMENT) -> Deployment:
        with self._read() as session:
            feature_row = self._feature_row(session, feature)
            row = self._deployment_row(session, feature_row, environment, create=False)
            return self._to_deployment(session, feature, environment, row)

    def deployments(self, feature: str) -> list[Deployment]:
        with self._read() as session:
            feature_row = self._feature_row(session, feature)
            rows = session.scalars(
                select(DeploymentRow)
                .where(DeploymentRow.feature_id == feature_row.id)
                .order_by(DeploymentRow.environment)
            ).all()
            return [self._to_deployment(session, feature, r.environment, r) for r in rows]

    def environments(self) -> list[str]:
        """Every environment the store knows, production first."""
        with self._read() as session:
            names = set(session.scalars(select(DeploymentRow.environment).distinct()))
        names.discard(DEFAULT_ENVIRONMENT)
        return [DEFAULT_ENVIRONMENT, *sorted(names)]

    def history(self, feature: str | None = None, limit: int | None = None) -> list[AuditEvent]:
        """Audit events, newest first; for one feature or the whole store."""
        with self._read() as session:
            # Newest first by time: events pulled from a remote keep their own times.
            query = select(AuditEventRow).order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc())
            if feature is not None:
                self._feature_row(session, feature)
                query = query.where(AuditEventRow.feature == feature)
            if limit is not None:
                query = query.limit(limit)
            return [_to_event(row) for row in session.scalars(query)]

    def serving(
        self,
        environment: str = DEFAULT_ENVIRONMENT,
        since_revision: int = 0,
        *,
        on_bad_entry: Callable[[str, Exception], None] | None = None,
    ) -> tuple[int, list[ServingEntry]]:
        """What the runtime serves: deployments changed after ``since_revision``.

        One statement, one round trip: the store revision and, joined to it, the
        deployments that moved with their versions; when nothing moved, one row. The
        revision is read in the same statement, so a caller that passes it back next
        time misses nothing and reloads nothing twice. (One round trip matters: a
        runtime thread waits for the GIL after each one while the application's
        threads run.)

        A deployment whose version cannot be decoded (parameters too deeply nested, not
        an object) raises, unless ``on_bad_entry(feature, error)`` is given: then that
        feature is reported to it and left out, and the others are still returned.
        """
        with self._read() as session:
            sqlite = session.get_bind().dialect.name == "sqlite"
            active, canary = aliased(VersionRow), aliased(VersionRow)
            rows = session.execute(
                select(
                    StoreStateRow.revision,
                    FeatureRow.name,
                    DeploymentRow.canary_percent,
                    DeploymentRow.revision,
                    *_serving_columns(active, "active", sqlite),
                    *_serving_columns(canary, "canary", sqlite),
                )
                .select_from(StoreStateRow)
                .outerjoin(
                    DeploymentRow,
                    and_(
                        DeploymentRow.environment == environment,
                        DeploymentRow.revision > since_revision,
                    ),
                )
                .outerjoin(FeatureRow, FeatureRow.id == DeploymentRow.feature_id)
                .outerjoin(active, active.id == DeploymentRow.active_version_id)
                .outerjoin(canary, canary.id == DeploymentRow.canary_version_id)
                .where(StoreStateRow.id == 1)
            ).all()
        revision = (rows[0][0] if rows else 0) or 0
        width = len(_SERVING_FIELDS)
        entries: list[ServingEntry] = []
        for row in rows:
            name = row[1]
            if name is None:  # nothing moved: the store row alone
                continue
            try:
                canary_version = _serving_version(row[4 + width : 4 + 2 * width], name)
                entries.append(
                    ServingEntry(
                        feature=name,
                        environment=environment,
                        active=_serving_version(row[4 : 4 + width], name),
                        canary=canary_version,
                        canary_percent=row[2] if canary_version is not None else 0,
                        revision=row[3],
                    )
                )
            except (RecursionError, ValueError, TypeError) as exc:
                if on_bad_entry is None:
                    raise
                on_bad_entry(name, exc)
        return revision, entries

    # -- writes ----------------------------------------------------------------------

    def create_feature(
        self,
        name: str,
        system_prompt: str,
        *,
        model: str,
        reason: str,
        parameters: Mapping[str, Any] | None = None,
    ) -> Version:
        """A new feature with its first version."""
        check_name(name)
        reason = check_reason(reason)
        system_prompt = check_prompt(system_prompt)
        model = check_model(model)
        params = check_parameters(parameters or {})
        with self._write() as (session, _revision):
            self._require(session, "editor", "create a feature")
            if session.scalar(select(FeatureRow.id).where(FeatureRow.name == name)) is not None:
                raise ValidationError(f"feature {name!r} already exists")
            feature_row = FeatureRow(name=name, created_at=utcnow(), created_by=self.user)
            session.add(feature_row)
            session.flush()
            row = self._add_version(
                session, feature_row, 1, system_prompt, model, params, reason, parent=None
            )
            self._audit(session, "create-feature", name, to_version=1, reason=reason)
            return _to_version(row, name)

    def save(
        self,
        feature: str,
        system_prompt: str,
        *,
        reason: str,
        model: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        base: int | None = None,
        force: bool = False,
    ) -> Version:
        """Save a new version edited from ``base`` (default: the latest version).

        If a version newer than ``base`` exists, the save is refused with a
        ConflictError naming it, unless ``force`` asks to save on top anyway.
        """
        reason = check_reason(reason)
        system_prompt = check_prompt(system_prompt)
        with self._write() as (session, _revision):
            self._require(session, "editor", "save a version")
            feature_row = self._feature_row(session, feature, lock=True)
            latest = session.scalars(
                select(VersionRow)
                .where(VersionRow.feature_id == feature_row.id)
                .order_by(VersionRow.number.desc())
                .limit(1)
            ).first()
            if latest is None:  # pragma: no cover - every feature has a first version
                raise NotFoundError(f"feature {feature!r} has no versions")
            base_row = latest if base is None else self._version_row(session, feature_row, base)
            if latest.number > base_row.number and not force:
                raise ConflictError(
                    f"{latest.author} saved version {latest.number} of {feature} after version "
                    f"{base_row.number}, which this edit started from; review it, then save on "
                    f"top of it (--force)",
                    latest=latest.number,
                    latest_author=latest.author,
                )
            new_model = check_model(model) if model is not None else base_row.model
            new_params = (
                check_parameters(parameters) if parameters is not None else base_row.parameters
            )
            if content_hash(system_prompt, new_model, new_params) == base_row.content_hash:
                raise NoChangeError(
                    f"nothing changed: text, model and parameters are identical to version "
                    f"{base_row.number}"
                )
            row = self._add_version(
                session,
                feature_row,
                latest.number + 1,
                system_prompt,
                new_model,
                new_params,
                reason,
                parent=base_row.number,
            )
            self._audit(
                session,
                "create",
                feature,
                from_version=base_row.number,
                to_version=row.number,
                reason=reason,
                details={"on_top_of": latest.number} if latest.number != base_row.number else {},
            )
            return _to_version(row, feature)

    def activate(
        self,
        feature: str,
        number: int,
        *,
        reason: str,
        environment: str = DEFAULT_ENVIRONMENT,
        expect_active: int | None = None,
    ) -> Deployment:
        """Make ``number`` the active version; the one before goes on the rollback stack.

        ``expect_active``: the active version the caller showed its user; if another
        one is active by now, the move is refused (DeploymentMovedError).
        """
        reason = check_reason(reason)
        check_name(environment, "environment", MAX_ENVIRONMENT)
        with self._write() as (session, revision):
            self._require(session, "admin", "activate a version")
            feature_row = self._feature_row(session, feature, lock=True)
            target = self._version_row(session, feature_row, number)
            deployment = self._deployment_row(session, feature_row, environment, create=True)
            assert deployment is not None
            if deployment.active_version_id == target.id:
                raise AlreadyActiveError(
                    f"version {number} of {feature} is already active in {environment}"
                )
            previous = self._number_of(session, deployment.active_version_id)
            _check_expected(feature, environment, "active", expect_active, previous)
            details: dict[str, Any] = {}
            if deployment.active_version_id is not None:
                self._push(session, deployment, deployment.active_version_id)
            if deployment.canary_version_id == target.id:
                details["canary_cleared"] = True
                deployment.canary_version_id = None
                deployment.canary_percent = 0
            self._move(deployment, revision, active=target.id)
            self._audit(
                session,
                "activate",
                feature,
                environment=environment,
                from_version=previous,
                to_version=number,
                reason=reason,
                details=details,
            )
            return self._to_deployment(session, feature, environment, deployment)

    def rollback(
        self,
        feature: str,
        *,
        reason: str,
        environment: str = DEFAULT_ENVIRONMENT,
        expect_target: int | None = None,
    ) -> Deployment:
        """Return to the version that was active before the current one.

        ``expect_target``: the version the caller told its user it would return to;
        if the stack says otherwise by now, the move is refused (DeploymentMovedError).
        """
        reason = check_reason(reason)
        with self._write() as (session, revision):
            self._require(session, "admin", "roll back")
            feature_row = self._feature_row(session, feature, lock=True)
            deployment = self._deployment_row(session, feature_row, environment, create=False)
            top = self._stack(session, deployment)[-1:] if deployment else []
            if deployment is None or not top:
                raise ValidationError(
                    f"nothing to roll back to: {feature} has no earlier active version "
                    f"in {environment}"
                )
            entry = top[0]
            current = self._number_of(session, deployment.active_version_id)
            target = session.get(VersionRow, entry.version_id)
            assert target is not None
            _check_expected(feature, environment, "rollback target", expect_target, target.number)
            session.delete(entry)
            self._move(deployment, revision, active=target.id)
            if deployment.canary_version_id == target.id:
                deployment.canary_version_id = None
                deployment.canary_percent = 0
            self._audit(
                session,
                "rollback",
                feature,
                environment=environment,
                from_version=current,
                to_version=target.number,
                reason=reason,
            )
            return self._to_deployment(session, feature, environment, deployment)

    def set_canary(
        self,
        feature: str,
        number: int,
        percent: int,
        *,
        reason: str,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> Deployment:
        """Serve ``number`` to ``percent`` % of users (chosen by user id) in ``environment``."""
        reason = check_reason(reason)
        percent = check_percent(percent)
        check_name(environment, "environment", MAX_ENVIRONMENT)
        with self._write() as (session, revision):
            self._require(session, "admin", "set a canary")
            feature_row = self._feature_row(session, feature, lock=True)
            target = self._version_row(session, feature_row, number)
            deployment = self._deployment_row(session, feature_row, environment, create=True)
            assert deployment is not None
            if deployment.active_version_id is None:
                raise ValidationError(
                    f"{feature} has no active version in {environment}; activate one before "
                    "starting a canary"
                )
            if deployment.active_version_id == target.id:
                raise ValidationError(
                    f"version {number} is the active version; a canary must be another version"
                )
            if deployment.canary_version_id == target.id and deployment.canary_percent == percent:
                raise ValidationError(
                    f"version {number} is already the canary at {percent}% in {environment}"
                )
            before = self._number_of(session, deployment.canary_version_id)
            before_percent = deployment.canary_percent
            self._move(deployment, revision, canary=target.id, percent=percent)
            self._audit(
                session,
                "canary",
                feature,
                environment=environment,
                from_version=before,
                to_version=number,
                reason=reason,
                details={"percent": percent, "previous_percent": before_percent},
            )
            return self._to_deployment(session, feature, environment, deployment)

    def clear_canary(
        self, feature: str, *, reason: str, environment: str = DEFAULT_ENVIRONMENT
    ) -> Deployment:
        reason = check_reason(reason)
        with self._write() as (session, revision):
            self._require(session, "admin", "stop a canary")
            feature_row = self._feature_row(session, feature, lock=True)
            deployment = self._deployment_row(session, feature_row, environment, create=False)
            if deployment is None or deployment.canary_version_id is None:
                raise ValidationError(f"{feature} has no canary in {environment}")
            before = self._number_of(session, deployment.canary_version_id)
            self._move(deployment, revision, canary=None, percent=0)
            self._audit(
                session,
                "canary-off",
                feature,
                environment=environment,
                from_version=before,
                reason=reason,
            )
            return self._to_deployment(session, feature, environment, deployment)

    def promote(
        self, feature: str, *, reason: str, environment: str = DEFAULT_ENVIRONMENT
    ) -> Deployment:
        """The canary becomes the active version (the old one goes on the rollback stack)."""
        reason = check_reason(reason)
        with self._write() as (session, revision):
            self._require(session, "admin", "promote a canary")
            feature_row = self._feature_row(session, feature, lock=True)
            deployment = self._deployment_row(session, feature_row, environment, create=False)
            if deployment is None or deployment.canary_version_id is None:
                raise ValidationError(f"{feature} has no canary to promote in {environment}")
            before = self._number_of(session, deployment.active_version_id)
            target = deployment.canary_version_id
            if deployment.active_version_id is not None:
                self._push(session, deployment, deployment.active_version_id)
            self._move(deployment, revision, active=target, canary=None, percent=0)
            self._audit(
                session,
                "promote",
                feature,
                environment=environment,
                from_version=before,
                to_version=self._number_of(session, target),
                reason=reason,
            )
            return self._to_deployment(session, feature, environment, deployment)

    # -- import and export -----------------------------------------------------------

    def import_documents(self, documents: Sequence[FeatureDocument]) -> ImportResult:
        """Import all documents in one transaction: all of them, or nothing.

        Documents the store already holds change nothing: the result is empty, and no
        audit event or revision bump is written.
        """
        _check_documents_agree(documents)
        try:
            return self._import(documents)
        except _NothingToImport:
            return ImportResult((), (), ())

    def _import(self, documents: Sequence[FeatureDocument]) -> ImportResult:
        created_features: list[str] = []
        created_versions: list[tuple[str, int]] = []
        deployments_set: list[tuple[str, str]] = []
        with self._write() as (session, revision):
            role = self._role_of(session, self.user)
            for document in documents:
                try:
                    changes = self._import_document(session, document, revision, role)
                except ValidationError as exc:
                    message = str(exc)
                    if not message.startswith(document.source):
                        message = f"{document.source}: {message}"
                    raise ValidationError(message) from None
                if changes.features_created:
                    created_features.append(document.feature)
                created_versions.extend(changes.versions_created)
                deployments_set.extend(changes.deployments_set)
            if not (created_features or created_versions or deployments_set):
                raise _NothingToImport()  # rolls back the revision bump
        return ImportResult(
            tuple(created_features), tuple(created_versions), tuple(deployments_set)
        )

    def _import_document(
        self, session: Session, document: FeatureDocument, revision: int, role: Role
    ) -> ImportResult:
        feature_row = session.scalars(
            select(FeatureRow).where(FeatureRow.name == document.feature)
        ).first()
        created_feature = feature_row is None
        if feature_row is None:
            _require_role(role, "editor", self.user, "import prompts")
            first = min(
                (spec.created_at for spec in document.versions if spec.created_at),
                default=None,
            )
            feature_row = FeatureRow(
                name=document.feature,
                created_at=first or utcnow(),
                created_by=next((s.author for s in document.versions if s.author), self.user),
            )
            session.add(feature_row)
            session.flush()
        new_numbers = self._import_versions(session, feature_row, document, role)
        if new_numbers:
            self._audit(
                session,
                "import",
                document.feature,
                to_version=max(new_numbers),
                reason=f"Imported from {Path(document.source).name}",
                details={"versions": new_numbers, "source": document.source},
            )
        deployments = document.deployments
        if document.single and not deployments and _RANK[role] >= _RANK["admin"]:
            # A file kept beside the code serves in production once imported, where
            # nothing is active yet and the importer may activate; editors import only.
            spec = document.versions[0]
            deployments = (Deployment(document.feature, DEFAULT_ENVIRONMENT, active=spec.number),)
        moved = tuple(
            (document.feature, wanted.environment)
            for wanted in deployments
            if self._import_deployment(session, feature_row, wanted, document, revision, role)
        )
        return ImportResult(
            (document.feature,) if created_feature else (),
            tuple((document.feature, n) for n in new_numbers),
            moved,
        )

    def _import_versions(
        self, session: Session, feature_row: FeatureRow, document: FeatureDocument, role: Role
    ) -> list[int]:
        existing: dict[int, str] = dict(
            session.execute(
                select(VersionRow.number, VersionRow.content_hash).where(
                    VersionRow.feature_id == feature_row.id
                )
            ).all()
        )
        specs = sorted(document.versions, key=lambda s: s.number)
        uids = {
            spec.number: spec.uid
            or str(uuid.uuid5(_IMPORT_NAMESPACE, f"{document.feature}:{spec.content_hash}"))
            for spec in specs
        }
        # One query for every id this document would add, not one per version.
        taken = set(
            session.scalars(select(VersionRow.uid).where(VersionRow.uid.in_(set(uids.values()))))
        )
        created: list[int] = []
        for spec in specs:
            digest = spec.content_hash
            uid = uids[spec.number]
            found = existing.get(spec.number)
            if found is not None:
                if found != digest:
                    raise ValidationError(
                        f"{document.source}: version {spec.number} of {document.feature} already "
                        "exists in the store with other content"
                    )
                continue
            if uid in taken:
                if spec.uid is None:  # same content under a new number: keep the number apart
                    uid = str(uuid.uuid4())
                else:
                    raise ValidationError(
                        f"{document.source}: version id {uid} is already used by another version"
                    )
            taken.add(uid)
            _require_role(role, "editor", self.user, "import prompts")
            row = VersionRow(
                uid=uid,
                feature_id=feature_row.id,
                number=spec.number,
                system_prompt=check_prompt(spec.system_prompt),
                model=check_model(spec.model),
                parameters=check_parameters(spec.parameters),
                author=spec.author or self.user,
                reason=check_reason(spec.reason or f"Imported from {Path(document.source).name}"),
                created_at=spec.created_at or utcnow(),
                parent_number=spec.parent,
                content_hash=digest,
            )
            session.add(row)
            existing[spec.number] = digest
            created.append(spec.number)
        session.flush()
        return created

    def _import_deployment(
        self,
        session: Session,
        feature_row: FeatureRow,
        wanted: Deployment,
        document: FeatureDocument,
        revision: int,
        role: Role,
    ) -> bool:
        """Set a deployment from a file, only where the store has none yet."""
        current = self._deployment_row(session, feature_row, wanted.environment, create=False)
        if current is not None and (current.active_version_id or current.canary_version_id):
            return False
        if wanted.active is None and wanted.canary is None:
            return False
        _require_role(role, "admin", self.user, "import active versions")
        ids = {
            row.number: row.id
            for row in session.scalars(
                select(VersionRow).where(VersionRow.feature_id == feature_row.id)
            )
        }

        def version_id(number: int) -> int:
            if number not in ids:
                raise ValidationError(
                    f"{document.source}: {wanted.environment} refers to version {number}, "
                    "which the file does not define"
                )
            return ids[number]

        deployment = self._deployment_row(session, feature_row, wanted.environment, create=True)
        assert deployment is not None
        for number in wanted.previous:
            self._push(session, deployment, version_id(number))
        self._move(
            deployment,
            revision,
            active=version_id(wanted.active) if wanted.active is not None else None,
            canary=version_id(wanted.canary) if wanted.canary is not None else None,
            percent=wanted.canary_percent if wanted.canary is not None else 0,
        )
        self._audit(
            session,
            "activate",
            feature_row.name,
            environment=wanted.environment,
            to_version=wanted.active,
            reason=f"Imported from {Path(document.source).name}",
            details={"canary": wanted.canary, "percent": wanted.canary_percent}
            if wanted.canary is not None
            else {},
        )
        return True

    def export_document(self, feature: str) -> FeatureDocument:
        """Everything needed to rebuild the feature exactly in another store."""
        with self._read() as session:
            feature_row = self._feature_row(session, feature)
            rows = session.scalars(
                select(VersionRow)
                .where(VersionRow.feature_id == feature_row.id)
                .order_by(VersionRow.number)
            ).all()
            specs = tuple(
                VersionSpec(
                    number=row.number,
                    system_prompt=row.system_prompt,
                    model=row.model,
                    parameters=row.parameters,
                    uid=row.uid,
                    author=row.author,
                    reason=row.reason,
                    created_at=row.created_at,
                    parent=row.parent_number,
                )
                for row in rows
            )
            deployments = tuple(
                self._to_deployment(session, feature, r.environment, r)
                for r in session.scalars(
                    select(DeploymentRow)
                    .where(DeploymentRow.feature_id == feature_row.id)
                    .order_by(DeploymentRow.environment)
                )
            )
            return FeatureDocument(feature=feature, versions=specs, deployments=deployments)

    # -- helpers -----------------------------------------------------------------------

    def _feature_row(self, session: Session, name: str, *, lock: bool = False) -> FeatureRow:
        query = select(FeatureRow).where(FeatureRow.name == name)
        if lock:
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            raise NotFoundError(_unknown_feature(name))
        return row

    def _version_row(self, session: Session, feature_row: FeatureRow, number: int) -> VersionRow:
        row = session.scalars(
            select(VersionRow).where(
                VersionRow.feature_id == feature_row.id, VersionRow.number == number
            )
        ).first()
        if row is None:
            raise NotFoundError(f"{feature_row.name} has no version {number}")
        return row

    def _resolve(
        self, session: Session, feature_row: FeatureRow, ref: VersionRef, environment: str
    ) -> VersionRow:
        if isinstance(ref, int) and not isinstance(ref, bool):
            return self._version_row(session, feature_row, ref)
        if isinstance(ref, str) and ref.isdigit():
            return self._version_row(session, feature_row, int(ref))
        if ref == "latest":
            row = session.scalars(
                select(VersionRow)
                .where(VersionRow.feature_id == feature_row.id)
                .order_by(VersionRow.number.desc())
                .limit(1)
            ).first()
            if row is None:  # pragma: no cover - every feature has a first version
                raise NotFoundError(f"{feature_row.name} has no versions")
            return row
        if ref == "active":
            deployment = self._deployment_row(session, feature_row, environment, create=False)
            if deployment is None or deployment.active_version_id is None:
                raise NotFoundError(f"{feature_row.name} has no active version in {environment}")
            row = session.get(VersionRow, deployment.active_version_id)
            assert row is not None
            return row
        raise ValidationError(f"not a version: {ref!r} (use a number, 'active' or 'latest')")

    def _deployment_row(
        self, session: Session, feature_row: FeatureRow, environment: str, *, create: bool
    ) -> DeploymentRow | None:
        row = session.scalars(
            select(DeploymentRow).where(
                DeploymentRow.feature_id == feature_row.id,
                DeploymentRow.environment == environment,
            )
        ).first()
        if row is None and create:
            row = DeploymentRow(
                feature_id=feature_row.id,
                environment=environment,
                canary_percent=0,
                revision=0,
                updated_at=utcnow(),
            )
            session.add(row)
            session.flush()
        return row

    def _stack(self, session: Session, deployment: DeploymentRow) -> list[RollbackEntryRow]:
        return list(
            session.scalars(
                select(RollbackEntryRow)
                .where(RollbackEntryRow.deployment_id == deployment.id)
                .order_by(RollbackEntryRow.position)
            )
        )

    def _push(self, session: Session, deployment: DeploymentRow, version_id: int) -> None:
        top = session.scalar(
            select(func.max(RollbackEntryRow.position)).where(
                RollbackEntryRow.deployment_id == deployment.id
            )
        )
        session.add(
            RollbackEntryRow(
                deployment_id=deployment.id,
                position=(top or 0) + 1,
                version_id=version_id,
            )
        )
        session.flush()

    _UNSET: Any = object()

    def _move(
        self,
        deployment: DeploymentRow,
        revision: int,
        *,
        active: int | None = _UNSET,
        canary: int | None = _UNSET,
        percent: int | None = None,
    ) -> None:
        if active is not self._UNSET:
            deployment.active_version_id = active
        if canary is not self._UNSET:
            deployment.canary_version_id = canary
        if percent is not None:
            deployment.canary_percent = percent
        deployment.revision = revision
        deployment.updated_at = utcnow()

    def _number_of(self, session: Session, version_id: int | None) -> int | None:
        if version_id is None:
            return None
        return session.scalar(select(VersionRow.number).where(VersionRow.id == version_id))

    def _to_deployment(
        self,
        session: Session,
        feature: str,
        environment: str,
        row: DeploymentRow | None,
    ) -> Deployment:
        if row is None:
            return Deployment(feature=feature, environment=environment)
        previous = tuple(
            n
            for n in (
                self._number_of(session, entry.version_id) for entry in self._stack(session, row)
            )
            if n is not None
        )
        canary = self._number_of(session, row.canary_version_id)
        return Deployment(
            feature=feature,
            environment=environment,
            active=self._number_of(session, row.active_version_id),
            canary=canary,
            canary_percent=row.canary_percent if canary is not None else 0,
            previous=previous,
        )

    def _add_version(
        self,
        session: Session,
        feature_row: FeatureRow,
        number: int,
        system_prompt: str,
        model: str,
        parameters: dict[str, Any],
        reason: str,
        *,
        parent: int | None,
    ) -> VersionRow:
        row = VersionRow(
            uid=str(uuid.uuid4()),
            feature_id=feature_row.id,
            number=number,
            system_prompt=system_prompt,
            model=model,
            parameters=parameters,
            author=self.user,
            reason=reason,
            created_at=utcnow(),
            parent_number=parent,
            content_hash=content_hash(system_prompt, model, parameters),
        )
        session.add(row)
        session.flush()
        return row

    def _audit(
        self,
        session: Session,
        action: str,
        feature: str | None,
        *,
        reason: str,
        environment: str | None = None,
        from_version: int | None = None,
        to_version: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        session.add(
            AuditEventRow(
                uid=str(uuid.uuid4()),
                at=utcnow(),
                actor=self.user,
                action=action,
                feature=feature,
                environment=environment,
                from_version=from_version,
                to_version=to_version,
                reason=reason,
                details=dict(details or {}),
            )
        )


class _NothingToImport(Exception):
    """Internal: an import that would change nothing rolls back its revision bump."""


def _check_expected(
    feature: str, environment: str, what: str, expected: int | None, actual: int | None
) -> None:
    if expected is not None and expected != actual:
        shown = f"v{actual}" if actual is not None else "none"
        raise DeploymentMovedError(
            f"{feature} moved in {environment} meanwhile: the {what} is now {shown}, "
            f"not v{expected}; look again before you move it"
        )


def _require_role(role: Role, needed: Role, user: str, action: str) -> None:
    if _RANK[role] < _RANK[needed]:
        raise PermissionDeniedError(
            f"{user} is {_article(role)} {role}; "
            f"to {action} you must be {_article(needed)} {needed}"
        )


def _check_documents_agree(documents: Iterable[FeatureDocument]) -> None:
    """Two files giving the same version number different content is an error."""
    seen: dict[tuple[str, int], tuple[str, str]] = {}
    for document in documents:
        for spec in document.versions:
            key = (document.feature, spec.number)
            digest = spec.content_hash
            if key in seen and seen[key][0] != digest:
                raise ValidationError(
                    f"{document.source}: version {spec.number} of {document.feature} differs "
                    f"from version {spec.number} in {seen[key][1]}"
                )
            seen[key] = (digest, document.source)


def _read_schema_revision(connection: Any) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None


def _to_version(row: VersionRow, feature: str) -> Version:
    return Version(
        uid=row.uid,
        feature=feature,
        number=row.number,
        system_prompt=row.system_prompt,
        model=row.model,
        parameters=dict(row.parameters),
        author=row.author,
        reason=row.reason,
        created_at=row.created_at,
        parent=row.parent_number,
        content_hash=row.content_hash,
    )


_SERVING_FIELDS = (
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


def _serving_columns(version: Any, prefix: str, sqlite: bool) -> list[Any]:
    """The version columns serving() reads, in _SERVING_FIELDS order.

    Parameters come as JSON text, decoded one row at a time so that one bad row is
    isolated; on SQLite, times come as ISO text, parsed by fromisoformat (C), 10x faster
    than the DateTime type's per-row regex.
    """
    columns = [getattr(version, name) for name in _SERVING_FIELDS]
    columns[4] = cast(version.parameters, Text)
    if sqlite:
        columns[7] = type_coerce(version.created_at, String)
    return [
        column.label(f"{prefix}_{name}")
        for column, name in zip(columns, _SERVING_FIELDS, strict=True)
    ]


def _serving_version(row: Sequence[Any], feature: str) -> Version | None:
    """A Version from the columns of _serving_columns(); None for an outer join's NULLs."""
    uid, number, system_prompt, model, parameters, author, reason, created_at, parent, hash_ = row
    if uid is None:
        return None
    if isinstance(parameters, str):
        parameters = json.loads(parameters)
    if not isinstance(parameters, dict):
        raise ValueError(f"parameters of version {number} are not an object")
    if isinstance(created_at, str):  # SQLite: naive UTC as ISO text
        created_at = datetime.fromisoformat(created_at).replace(tzinfo=UTC)
    return Version(
        uid=uid,
        feature=feature,
        number=number,
        system_prompt=system_prompt,
        model=model,
        parameters=parameters,
        author=author,
        reason=reason,
        created_at=created_at,
        parent=parent,
        content_hash=hash_,
    )


def _to_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        uid=row.uid,
        at=row.at,
        actor=row.actor,
        action=row.action,
        feature=row.feature,
        environment=row.environment,
        from_version=row.from_version,
        to_version=row.to_version,
        reason=row.reason,
        details=dict(row.details or {}),
    )


def _unknown_feature(name: str) -> str:
    return f"unknown feature {name!r}"


def _article(word: str) -> Literal["a", "an"]:
    return "an" if word[:1] in "aeiou" else "a"


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__
