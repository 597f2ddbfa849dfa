"""store/bulk.insert_rows stores exactly what SQLAlchemy's own insert stores, on SQLite and
PostgreSQL, in a constant number of statements."""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.exc import DBAPIError

from promptdeck.store import PromptStore, bulk
from promptdeck.store.bulk import ROWS_PER_STATEMENT, insert_rows, one_of
from promptdeck.store.tables import audit_events, deployments, features

# Text a store accepts: any character but NUL and lone surrogates.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
MOMENT = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
EVENT = st.fixed_dictionaries(
    {
        "uid": st.uuids().map(str),
        "at": MOMENT,
        "actor": TEXT,
        "action": st.sampled_from(["activate", "sync-activate", "save"]),
        "feature": st.none() | TEXT,
        "environment": st.none() | st.text(string.ascii_lowercase, min_size=1, max_size=10),
        "from_version": st.none() | st.integers(1, 2**31 - 1),
        "to_version": st.none() | st.integers(1, 2**31 - 1),
        "reason": TEXT,
        "details": st.dictionaries(TEXT, JSON_VALUE, max_size=4),
    }
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        target: str | Path = tmp_path / "bulk.db"
        store = PromptStore(target, user="alice")
    else:
        target = request.getfixturevalue("pg_store_url")
        store = PromptStore(target, user="alice")
    with store:
        yield store.engine


def stored(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(audit_events).order_by(audit_events.c.id)).mappings()
        return [{k: v for k, v in row.items() if k != "id"} for row in rows]


def clear(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(audit_events.delete())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(EVENT, min_size=1, max_size=6, unique_by=lambda row: row["uid"]))
def test_bulk_insert_stores_what_sqlalchemy_stores(
    engine: Engine, rows: list[dict[str, Any]]
) -> None:
    clear(engine)
    with engine.begin() as connection:
        connection.execute(insert(audit_events), rows)
    expected = stored(engine)
    clear(engine)
    with engine.begin() as connection:
        insert_rows(connection, audit_events, rows)
    assert stored(engine) == expected
    assert [row["uid"] for row in expected] == [row["uid"] for row in rows]


def test_a_column_left_out_takes_its_default(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        insert_rows(connection, features, [{"name": "f", "created_at": now, "created_by": "alice"}])
        feature_id = connection.execute(select(features.c.id)).scalar_one()
        insert_rows(
            connection,
            deployments,
            [{"feature_id": feature_id, "environment": "production", "revision": 1,
              "updated_at": now}],
        )  # fmt: skip
        row = connection.execute(select(deployments)).mappings().one()
    assert row["canary_percent"] == 0 and row["active_version_id"] is None
    assert row["updated_at"] == now


def test_many_rows_take_a_constant_number_of_statements(engine: Engine) -> None:
    count = [0]

    def one(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        count[0] += statement.startswith("INSERT")

    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {"name": f"feature-{n}", "created_at": start + timedelta(seconds=n), "created_by": "b"}
        for n in range(ROWS_PER_STATEMENT + 1)
    ]
    event.listen(engine, "before_cursor_execute", one)
    try:
        with engine.begin() as connection:
            insert_rows(connection, features, rows)
    finally:
        event.remove(engine, "before_cursor_execute", one)
    with engine.connect() as connection:
        names = list(connection.scalars(select(features.c.name).order_by(features.c.id)))
    assert names == [row["name"] for row in rows]
    # PostgreSQL: one statement per chunk; SQLite: one executemany.
    assert count[0] == (2 if engine.dialect.name == "postgresql" else 1)


def test_postgresql_refuses_an_over_long_value_rather_than_truncating(
    pg_store_url: str,
) -> None:
    with (
        PromptStore(pg_store_url, user="alice") as store,
        store.engine.connect() as connection,
        pytest.raises(DBAPIError, match="too long"),
    ):
        insert_rows(
            connection,
            features,
            [{"name": "x" * 201, "created_at": datetime.now(UTC), "created_by": "b"}],
        )


def test_one_of_selects_what_in_selects_and_never_truncates(engine: Engine) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    names = [f"feature-{n}" for n in range(3000)] + ["f" * 200]  # the longest a name may be
    with engine.begin() as connection:
        insert_rows(
            connection,
            features,
            [{"name": name, "created_at": start, "created_by": "b"} for name in names],
        )
    wanted = [*names[:3000:7], "f" * 201, "nobody"]  # cut to 200, "f" * 201 would match
    statements: list[str] = []

    def seen(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.connect() as connection:
            found = set(
                connection.scalars(
                    select(features.c.name).where(one_of(connection, features.c.name, wanted))
                )
            )
            ids = list(connection.scalars(select(features.c.id).order_by(features.c.id)))
            by_id = set(
                connection.scalars(
                    select(features.c.id).where(one_of(connection, features.c.id, ids[:5]))
                )
            )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert found == set(names[:3000:7])
    assert by_id == set(ids[:5])
    if engine.dialect.name == "postgresql":  # one array parameter, not 431 placeholders
        assert "ANY" in statements[0] and statements[0].count("%(") == 1


@given(
    sizes=st.lists(st.integers(0, 50), max_size=60),
    limit=st.integers(1, 120),
    most_rows=st.integers(1, 10),
)
def test_spans_cover_every_row_within_both_bounds(
    sizes: list[int], limit: int, most_rows: int
) -> None:
    spans = bulk.spans(sizes, most_rows, limit)
    assert [start for start, _end in spans] == [0] + [end for _start, end in spans[:-1]]
    assert spans[-1][1] == len(sizes)
    for start, end in spans:
        assert end - start <= most_rows or (start, end) == (0, 0)
        assert sum(sizes[start:end]) <= limit or end - start == 1
        if end < len(sizes) and end - start < most_rows:  # cut only when the next won't fit
            assert sum(sizes[start : end + 1]) > limit


def test_postgresql_splits_a_statement_by_its_text(
    pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large prompts go in statements bounded by their text (PostgreSQL refuses a message
    over 1 GB), here with the bound made small: 150 characters a row, 1,000 a statement."""
    monkeypatch.setattr(bulk, "CHARACTERS_PER_STATEMENT", 1_000)
    rows = [
        {"name": f"{n:03d}" + "n" * 147, "created_at": datetime.now(UTC), "created_by": ""}
        for n in range(20)
    ]
    inserts: list[str] = []

    def seen(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT"):
            inserts.append(statement)

    with PromptStore(pg_store_url, user="alice") as store:
        event.listen(store.engine, "before_cursor_execute", seen)
        with store.engine.begin() as connection:
            insert_rows(connection, features, rows)
        with store.engine.connect() as connection:
            names = list(connection.scalars(select(features.c.name).order_by(features.c.id)))
    assert names == [row["name"] for row in rows]
    assert len(inserts) == 4  # 6 + 6 + 6 + 2 rows
