"""The runtime's read: what one environment serves, as plain rows, in one statement.

``PromptStore.serving()`` (reads.serving_entries) hands out full
:class:`~promptdeck.records.Version` records: right for tools, too slow for a process
starting with 10,000 features (a Version per row, author, reason and times parsed, all
thrown away). The runtime library reads here instead: only the columns it serves, and
it builds its own immutable prompts from the tuples (runtime_types.served_from_row).
Core tables only (tables.py), so the runtime never loads the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Engine, Select, Text, and_, bindparam, cast, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from promptdeck.store.driver_errors import translated_errors
from promptdeck.store.tables import deployments, features, store_state, versions

__all__ = ["SERVING_VERSION_COLUMNS", "serving_rows", "serving_select"]

#: Each version in a row, active then canary: these columns in this order (parameters
#: as JSON text, decoded by the caller one row at a time so one bad row is isolated).
SERVING_VERSION_COLUMNS = ("uid", "number", "system_prompt", "model", "parameters")


def serving_select(
    columns: Callable[[Any], list[Any]], environment: Any, since: Any
) -> Select[Any]:
    """What ``environment`` serves, in one statement: the store revision, then per
    deployment changed after ``since`` the feature name, canary percent, deployment
    revision, ``columns(active)`` and ``columns(canary)`` (each version table alias,
    named "active" and "canary"). The store row alone when nothing moved.

    Shared by the runtime's read here and ``reads.serving_entries`` (full Versions)."""
    active, canary = versions.alias("active"), versions.alias("canary")
    return (
        select(
            store_state.c.revision,
            features.c.name,
            deployments.c.canary_percent,
            deployments.c.revision,
            *columns(active),
            *columns(canary),
        )
        .select_from(store_state)
        .outerjoin(
            deployments,
            and_(deployments.c.environment == environment, deployments.c.revision > since),
        )
        .outerjoin(features, features.c.id == deployments.c.feature_id)
        .outerjoin(active, active.c.id == deployments.c.active_version_id)
        .outerjoin(canary, canary.c.id == deployments.c.canary_version_id)
        .where(store_state.c.id == 1)
    )


@cache
def _statement() -> Select[Any]:
    """Built once; SQLAlchemy caches its compiled form per engine."""

    def columns(version: Any) -> list[Any]:
        found = [version.c[name] for name in SERVING_VERSION_COLUMNS]
        found[-1] = cast(version.c.parameters, Text)  # JSON text: decoded by the caller
        return found

    return serving_select(columns, bindparam("environment"), bindparam("since"))


@lru_cache(maxsize=16)
def _compiled(dialect: Dialect) -> SQLCompiler:
    """The statement compiled once per engine's dialect: executed as driver SQL, so no
    per-call compile-cache lookup and no per-row result processing."""
    compiled = _statement().compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled


def serving_rows(
    engine: Engine, url: str, environment: str, since_revision: int
) -> tuple[int, list[Sequence[Any]]]:
    """The store revision and one row per deployment of ``environment`` changed after
    ``since_revision``, read in one statement (one round trip), so a caller passing the
    revision back next time misses nothing and reloads nothing twice.

    Each row: the store revision (ignore it), feature name, canary percent, deployment
    revision, then the active and the canary version, each as
    :data:`SERVING_VERSION_COLUMNS` (all None where the deployment has no such version).
    """
    with translated_errors(url), engine.connect() as connection:
        compiled = _compiled(connection.dialect)
        values = compiled.construct_params({"environment": environment, "since": since_revision})
        parameters: Any = values
        if compiled.positiontup is not None:  # qmark (SQLite): by position
            parameters = tuple(values[name] for name in compiled.positiontup)
        rows = connection.exec_driver_sql(compiled.string, parameters).fetchall()
    revision = (rows[0][0] if rows else 0) or 0
    if len(rows) == 1 and rows[0][1] is None:
        return revision, []  # nothing moved: the store row alone
    return revision, list(rows)
