"""store.metrics: batches added by upsert (never read-modify-write), read back merged.

Run on SQLite and PostgreSQL alike; concurrent adders to the same keys must end with
exact totals, and a metrics write must not move the store revision.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from promptdeck.errors import StoreError
from promptdeck.metrics.aggregate import Aggregate, AggregateRow, Moments, merge_rows
from promptdeck.metrics.outcome import Outcome
from promptdeck.store import PromptStore
from promptdeck.store import metrics as store_metrics

T0 = 1_800_000_000 // 60 * 60  # a minute boundary


def outcome(index: int, *, version_uid: str = "uid-a", version: int = 1) -> Outcome:
    return Outcome(
        feature="support",
        environment="production",
        version=version,
        version_uid=version_uid,
        model="claude-sonnet-4-20250514",
        tokens_in=100 + index % 7,
        tokens_out=20 + index % 5,
        latency_ms=200.0 + index % 50,
        cost=0.001 * (index % 3),
        success=index % 4 != 0,
        scores={"grader": (index % 10) / 10, **({"thumbs": 1.0} if index % 2 else {})},
        user_id=f"user-{index % 37}",
        at=T0 + (index % 3) * 60,
    )


def figures(rows: list[AggregateRow]) -> list[tuple[object, ...]]:
    """Rows as comparable values: counts exact, float sums to 9 significant digits
    (processes add in any order, and float addition is not associative)."""

    def rounded(value: object) -> object:
        return float(f"{value:.9g}") if isinstance(value, float) else value

    return [
        (
            tuple(rounded(value) for value in row.columns().values()),
            dict(row.latency_histogram),
            {
                name: tuple(map(rounded, (m.count, m.sum, m.sumsq)))
                for name, m in row.scores.items()
            },
        )
        for row in rows
    ]


def batch(start: int, count: int, **kwargs: object) -> list[AggregateRow]:
    aggregate = Aggregate()
    for index in range(start, start + count):
        aggregate.add(outcome(index, **kwargs), T0)  # type: ignore[arg-type]
    return aggregate.rows()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "metrics.db")
    else:
        yield request.getfixturevalue("pg_store_url")


@pytest.fixture
def store(url: str) -> Iterator[PromptStore]:
    with PromptStore(url, user="alice") as opened:
        yield opened


def test_rows_read_back_equal_what_was_added(store: PromptStore) -> None:
    first, second = batch(0, 300), batch(300, 200)
    store.metrics.add(first)
    store.metrics.add(second)
    assert figures(store.metrics.rows("support")) == figures(merge_rows(first + second))
    assert sum(row.count for row in store.metrics.rows("support")) == 500


def test_filters_by_version_environment_and_time(store: PromptStore) -> None:
    store.metrics.add(batch(0, 90) + batch(0, 30, version_uid="uid-b", version=2))
    metrics = store.metrics
    assert {row.version_uid for row in metrics.rows("support")} == {"uid-a", "uid-b"}
    only_b = metrics.rows("support", version_uids=["uid-b"])
    assert sum(row.count for row in only_b) == 30
    assert metrics.rows("support", version_uids=[]) == []
    assert metrics.rows("support", environment="staging") == []
    assert metrics.rows("other") == []
    middle = metrics.rows("support", since=T0 + 60, until=T0 + 120)
    assert {row.bucket_start for row in middle} == {T0 + 60}
    assert sum(row.count for row in middle) == 30 + 10  # a third of each uid


def test_a_metrics_write_does_not_move_the_revision(store: PromptStore) -> None:
    before = store.revision()
    store.metrics.add(batch(0, 10))
    assert store.revision() == before


def test_rows_carry_this_stores_origin(store: PromptStore) -> None:
    store.metrics.add(batch(0, 5))
    with store.engine.connect() as connection:
        origins = set(connection.execute(text("SELECT origin FROM metric_buckets")).scalars())
        identity = connection.execute(text("SELECT uid FROM store_identity")).scalar_one()
    assert origins == {identity}


def test_other_origins_add_up_on_reading(store: PromptStore) -> None:
    rows = batch(0, 40)
    store.metrics.add(rows)
    with store.engine.begin() as connection:  # what sync copies from another store
        for table in ("metric_buckets", "metric_latency", "metric_scores"):
            columns = list(connection.execute(text(f"SELECT * FROM {table}")).keys())
            listed = ", ".join(columns)
            chosen = ", ".join("'elsewhere'" if c == "origin" else c for c in columns)
            connection.execute(text(f"INSERT INTO {table} ({listed}) SELECT {chosen} FROM {table}"))
    assert figures(store.metrics.rows("support")) == figures(merge_rows(rows + rows))


def test_a_failed_batch_leaves_nothing(store: PromptStore) -> None:
    good = batch(0, 20)
    bad = AggregateRow(
        feature="x" * 500,  # longer than the column: PostgreSQL refuses; so does the check
        environment="production",
        version_uid="uid-z",
        bucket_start=T0,
        version=1,
        count=1,
    )
    if store.engine.dialect.name == "sqlite":
        # SQLite does not enforce lengths: make the second statement fail instead.
        bad = AggregateRow(
            feature="support",
            environment="production",
            version_uid="uid-z",
            bucket_start=T0,
            version=1,
            count=1,
            scores={"s": Moments(1, 1.0, 1.0)},
        )
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON metric_scores "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    with pytest.raises(StoreError):
        store.metrics.add([*good, bad])
    assert store.metrics.rows() == []


def _add_in_thread(store: PromptStore, start: int, count: int) -> None:
    for offset in range(0, count, 25):
        store.metrics.add(batch(start + offset, 25))


def test_concurrent_threads_add_exact_totals(store: PromptStore) -> None:
    threads = [
        threading.Thread(target=_add_in_thread, args=(store, index * 200, 200))
        for index in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert figures(store.metrics.rows("support")) == figures(merge_rows(batch(0, 1200)))


def _add_in_process(url: str, start: int, count: int) -> None:
    with PromptStore(url, user="recorder", create=False) as store:
        _add_in_thread(store, start, count)


def test_concurrent_processes_add_exact_totals(store: PromptStore, url: str) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_add_in_process, args=(url, index * 150, 150)) for index in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    expected = merge_rows(batch(0, 600))
    got = store.metrics.rows("support")
    assert [row.count for row in got] == [row.count for row in expected]
    assert figures(got) == figures(expected)


def _count_statements(store: PromptStore) -> list[str]:
    """Every metric-table write the store's engine runs from now on."""
    seen: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        words = statement.split()
        if words[:3] == ["WITH", "added_buckets", "AS"]:  # PostgreSQL: all three at once
            seen.append("all")
        elif words[:2] == ["INSERT", "INTO"] and words[2].startswith("metric_"):
            seen.append(words[2])

    event.listen(store.engine, "before_cursor_execute", note)
    return seen


def many_keys(keys: int, start: int = 0) -> list[AggregateRow]:
    aggregate = Aggregate(max_keys=3 * keys)  # outcome() spreads over three minutes
    for key in range(keys):
        for index in range(start, start + 5):
            aggregate.add(outcome(index + key, version_uid=f"uid-{key}", version=key + 1), T0)
    return aggregate.rows()


def test_a_flush_is_one_statement_per_table_whatever_the_keys(store: PromptStore) -> None:
    store.metrics.add(batch(0, 1))  # the origin is read once, before counting
    statements = _count_statements(store)
    rows = many_keys(300)
    assert sum(row.count for row in rows) == 1500
    store.metrics.add(rows)
    if store.engine.dialect.name == "postgresql":  # arrays: one statement for all three
        assert statements == ["all"]
    else:  # SQLite: multi-row VALUES per table, chunked below its parameter limit
        for table, values in store_metrics.table_rows("o", rows).items():
            chunk = store_metrics.rows_per_statement("sqlite", table)
            assert statements.count(table.name) == -(-len(values) // chunk), table.name
    assert figures(store.metrics.rows(version_uids=[f"uid-{k}" for k in range(300)])) == figures(
        merge_rows(rows)
    )


def test_chunks_add_up_to_the_whole_batch(
    store: PromptStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_metrics, "_PG_ROWS_PER_STATEMENT", 7)
    monkeypatch.setattr(store_metrics, "_SQLITE_ROWS_PER_STATEMENT", 7)
    statements = _count_statements(store)
    first, second = many_keys(30), many_keys(30, start=100)  # the same keys, added twice
    store.metrics.add(first)
    store.metrics.add(second)
    assert figures(store.metrics.rows()) == figures(merge_rows(first + second))
    for table in ("metric_buckets", "metric_latency", "metric_scores"):
        expected = sum(
            -(-len(store_metrics.table_rows("o", added)[getattr(store_metrics, table)]) // 7)
            for added in (first, second)
        )
        assert statements.count(table) == expected > 2, table


def _flush_at_once(url: str, barrier: Any, rounds: int) -> None:
    with PromptStore(url, user="recorder", create=False) as store:
        store.metrics.origin()  # connected and ready before the barrier
        for round_ in range(rounds):
            rows = many_keys(40, start=round_)
            barrier.wait(60)  # every process sends the same keys at the same moment
            store.metrics.add(rows)


def test_processes_flushing_the_same_keys_at_once_lose_nothing(
    store: PromptStore, url: str
) -> None:
    workers, rounds = 3, 4
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    processes = [
        context.Process(target=_flush_at_once, args=(url, barrier, rounds)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    expected = merge_rows(
        [row for round_ in range(rounds) for row in many_keys(40, start=round_)] * workers
    )
    got = store.metrics.rows()
    assert sum(row.count for row in got) == workers * rounds * 40 * 5
    assert figures(got) == figures(expected)


def test_whole_number_sums_beside_fractional_ones(store: PromptStore) -> None:
    """A score or measure summed from whole numbers is an int in Python; the rows of one
    batch mixing ints and floats in a column must still be written (PostgreSQL sends
    each column as one typed array)."""
    whole = AggregateRow(
        feature="support",
        environment="production",
        version_uid="uid-a",
        bucket_start=T0,
        version=1,
        count=2,
        tokens_in=Moments(2, 300, 45_000),  # type: ignore[arg-type]
        cost=Moments(2, 1, 1),  # type: ignore[arg-type]
        scores={"thumbs": Moments(2, 2, 2), "grader": Moments(2, 1.5, 1.25)},  # type: ignore[arg-type]
    )
    fractional = AggregateRow(
        feature="support",
        environment="production",
        version_uid="uid-b",
        bucket_start=T0,
        version=2,
        count=1,
        cost=Moments(1, 0.5, 0.25),
        scores={"thumbs": Moments(1, 0.5, 0.25)},
    )
    store.metrics.add([whole, fractional])
    got = {row.version_uid: row for row in store.metrics.rows("support")}
    assert got["uid-a"].tokens_in == Moments(2, 300.0, 45_000.0)
    assert got["uid-a"].scores["thumbs"] == Moments(2, 2.0, 2.0)
    assert got["uid-b"].cost == Moments(1, 0.5, 0.25)
