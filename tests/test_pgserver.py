"""The PostgreSQL test server itself: connect, authenticate, survive a restart."""

# The fixtures are imported so this file also runs on its own; F811 is pytest's fixture idiom.

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from pgserver import PostgresServer
from sqlalchemy.exc import OperationalError

pytestmark = pytest.mark.postgres


def test_roundtrip(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'héllo'), (2, 'world')"))
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name FROM t ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, "héllo"), (2, "world")]
        assert engine.dialect.driver == "psycopg"
        assert engine.url.host == "127.0.0.1"
    finally:
        engine.dispose()


def test_wrong_password_is_refused(pg_server: PostgresServer, pg_url: str) -> None:
    dbname = sa.make_url(pg_url).database
    assert dbname
    engine = sa.create_engine(pg_server.url(dbname, password="not-the-password"))
    try:
        with (
            pytest.raises(OperationalError, match="password authentication failed"),
            engine.connect(),
        ):
            pass
    finally:
        engine.dispose()


def test_factory_gives_distinct_empty_databases(
    pg_server: PostgresServer, pg_url_factory: Callable[[], str]
) -> None:
    a, b = pg_url_factory(), pg_url_factory()
    assert a != b
    for url in (a, b):
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                current = conn.scalar(sa.text("SELECT current_database()"))
                assert current == sa.make_url(url).database
                assert sa.inspect(conn).get_table_names() == []
        finally:
            engine.dispose()


def test_data_survives_stop_and_start(pg_server: PostgresServer, pg_url: str) -> None:
    port = pg_server.port
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE kept (v text)"))
            conn.execute(sa.text("INSERT INTO kept VALUES ('still here')"))

        pg_server.stop()
        assert not pg_server.is_running()
        engine.dispose()  # pooled connections died with the server
        with pytest.raises(OperationalError), engine.connect():
            pass

        pg_server.start()
        assert pg_server.port == port
        engine.dispose()
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT v FROM kept")) == "still here"
    finally:
        engine.dispose()


def test_terminate_connections(pg_server: PostgresServer, pg_url: str) -> None:
    dbname = sa.make_url(pg_url).database
    assert dbname
    engine = sa.create_engine(pg_url)
    try:
        conn = engine.connect()
        conn.execute(sa.text("SELECT 1"))
        assert pg_server.terminate_connections(dbname) == 1
        with pytest.raises(OperationalError):
            conn.execute(sa.text("SELECT 1"))
        conn.close()
    finally:
        engine.dispose()


def test_a_second_server_runs_postgresql_16_from_the_pgserver_wheel(
    pg_server: PostgresServer, pg16_server: PostgresServer
) -> None:
    assert pg16_server.port != pg_server.port
    assert pg16_server.host == "127.0.0.1"
    url = pg16_server.create_database("second_server_check")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            version = int(conn.scalar(sa.text("SHOW server_version_num")))
            address = conn.scalar(sa.text("SELECT inet_server_addr()::text"))
        assert version // 10000 == 16
        assert address == "127.0.0.1/32"
    finally:
        engine.dispose()
        pg16_server.drop_database("second_server_check")
