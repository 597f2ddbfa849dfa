"""Alembic migrations: one head that the code knows, and a schema that matches the ORM."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from promptdeck.store import SCHEMA_HEAD, PromptStore
from promptdeck.store.rows import Base


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "promptdeck.store:migrations")
    return config


def upgrade(engine: sa.Engine, target: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def downgrade(engine: sa.Engine, target: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, target)


def schema_differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "version_table": "promptdeck_schema",
            },
        )
        return list(compare_metadata(context, Base.metadata))


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(
            connection, opts={"version_table": "promptdeck_schema"}
        ).get_current_revision()


def test_schema_head_is_the_alembic_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [SCHEMA_HEAD], "exactly one head, and store.py knows it"
    assert script.get_current_head() == SCHEMA_HEAD


def test_every_revision_has_a_downgrade_path_to_base() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(script.walk_revisions())
    assert revisions
    assert [r for r in revisions if r.down_revision is None] == [revisions[-1]]


def check_migrated(engine: sa.Engine) -> None:
    assert current_revision(engine) == SCHEMA_HEAD
    assert schema_differences(engine) == []
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT id, revision FROM store_state")).all() == [(1, 0)]


def test_migrations_build_an_empty_sqlite_database_matching_the_models(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        upgrade(engine)
        check_migrated(engine)
    finally:
        engine.dispose()
    with PromptStore(tmp_path / "fresh.db", user="alice", create=False) as store:
        assert store.schema_revision() == SCHEMA_HEAD
        store.create_feature("f", "text", model="m", reason="first")
        assert store.revision() == 1


def test_migrations_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        upgrade(engine)
        downgrade(engine, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"promptdeck_schema"}
        upgrade(engine)
        check_migrated(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migrations_build_an_empty_postgresql_database_matching_the_models(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        upgrade(engine)
        check_migrated(engine)
    finally:
        engine.dispose()
    with PromptStore(pg_url, user="alice", create=False) as store:
        assert store.schema_revision() == SCHEMA_HEAD
        store.create_feature("f", "text", model="m", reason="first")
        assert [v.number for v in store.versions("f")] == [1]


def test_opening_a_new_store_migrates_it_to_head(tmp_path: Path) -> None:
    with PromptStore(tmp_path / "new.db", user="alice") as store:
        assert store.schema_revision() == SCHEMA_HEAD
        assert schema_differences(store.engine) == []


@pytest.mark.postgres
def test_initializing_a_new_postgresql_store_migrates_it_to_head(pg_url: str) -> None:
    with PromptStore(pg_url, initialize=True) as store:
        assert store.schema_revision() == SCHEMA_HEAD
        assert schema_differences(store.engine) == []
