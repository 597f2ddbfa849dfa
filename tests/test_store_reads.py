"""The store's Core reads (store/reads.py) hand out exactly what the ORM lookups do.

PromptStore's read methods select from the Core tables without loading the ORM; the
unit of work still reads through ORM rows (store/lookups.py). Both must agree on every
record, on SQLite and PostgreSQL, including canaries, rollback stacks, several
environments and history.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from promptdeck.errors import NotFoundError, ValidationError
from promptdeck.store import PromptStore, identity, lookups, pg_security, reads, tables
from promptdeck.store.rows import AuditEventRow, Base, DeploymentRow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PromptStore]:
    """greeting v1..v4: production active v3 (v1, v2 on its rollback stack), canary v4
    at 20 %; staging active v1; farewell v1 never activated."""
    url = (
        str(tmp_path / "store.db")
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_store_url"))
    )
    with PromptStore(url, user="alice") as st:
        st.create_feature("greeting", "Hello v1", model="m", reason="first", parameters={"t": 1})
        for n in (2, 3, 4):
            st.save("greeting", f"Hello v{n}", reason=f"v{n}", parameters={"t": n})
        for n in (1, 2, 3):
            st.activate("greeting", n, reason=f"live {n}")
        st.set_canary("greeting", 4, 20, reason="try")
        st.governance.create_environment("staging")
        st.activate("greeting", 1, reason="staging", environment="staging")
        st.create_feature("farewell", "Bye", model="m", reason="first")
        yield st


def test_versions_and_deployments_agree_with_the_orm_lookups(store: PromptStore) -> None:
    with store.reading() as session:
        feature = lookups.feature_row(session, "greeting")
        numbered = {n: lookups.version_row(session, feature, n) for n in (1, 2, 3, 4)}
        refs = {**{n: n for n in numbered}, "3": 3, "latest": 4, "active": 3}
        for ref, number in refs.items():
            expected_version = reads.version_record(numbered[number], "greeting")
            assert store.version("greeting", ref) == expected_version
        assert lookups.latest_version_row(session, feature).number == 4
        assert store.version("greeting", "active", "staging").number == 1
        rows = session.scalars(
            select(DeploymentRow)
            .where(DeploymentRow.feature_id == feature.id)
            .order_by(DeploymentRow.environment)
        ).all()
        expected = [lookups.to_deployment(session, "greeting", r.environment, r) for r in rows]
        events = [
            reads.audit_event(row)
            for row in session.scalars(
                select(AuditEventRow).order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc())
            )
        ]
    assert store.deployments("greeting") == expected
    production = store.deployment("greeting")
    assert (production.active, production.canary, production.canary_percent) == (3, 4, 20)
    assert production.previous == (1, 2)
    assert store.deployment("greeting", "staging") == expected[1]
    assert store.deployment("farewell").active is None
    assert store.deployments("farewell") == []
    assert store.history() == events
    assert store.history("greeting", limit=2) == [e for e in events if e.feature == "greeting"][:2]


def test_listings_agree_with_what_each_version_says(store: PromptStore) -> None:
    summaries = {f.name: f for f in store.features()}
    assert summaries["greeting"].versions == 4 and summaries["greeting"].latest == 4
    assert (summaries["greeting"].active, summaries["greeting"].canary) == (3, 4)
    assert summaries["greeting"].canary_percent == 20
    assert summaries["farewell"].active is None and summaries["farewell"].canary_percent == 0
    assert store.features("staging")[1].active == 1
    listed = store.versions("greeting")
    assert [v.number for v in listed] == [4, 3, 2, 1]
    for summary in listed:
        full = store.version("greeting", summary.number)
        assert (summary.uid, summary.created_at, summary.content_hash, summary.parent) == (
            full.uid,
            full.created_at,
            full.content_hash,
            full.parent,
        )
        assert full.created_at.tzinfo is not None
    revision, entries = store.serving()
    assert revision == store.revision() > 0
    assert [(e.feature, e.active.number if e.active else None) for e in entries] == [
        ("greeting", 3)
    ]


def test_refusals_read_as_before(store: PromptStore) -> None:
    with pytest.raises(NotFoundError, match="unknown feature 'greting'"):
        store.version("greting")
    with pytest.raises(NotFoundError, match="greeting has no version 9"):
        store.version("greeting", 9)
    with pytest.raises(NotFoundError, match="farewell has no active version in production"):
        store.version("farewell", "active")
    with pytest.raises(ValidationError, match="not a version"):
        store.version("greeting", "newest")
    with pytest.raises(NotFoundError, match=r"unknown environment 'stagign' \(did you mean"):
        store.features("stagign")
    with pytest.raises(NotFoundError, match="unknown environment 'qa'"):
        store.deployment("greeting", "qa")
    with pytest.raises(NotFoundError, match="unknown feature"):
        store.history("nope")


def test_the_core_tables_are_the_orm_tables() -> None:
    assert Base.metadata is tables.metadata
    assert {t.name for t in tables.metadata.sorted_tables} >= {"features", "metric_scores"}
    assert identity.ROLE_PREFIX_SETTING == pg_security.ROLE_PREFIX_SETTING


def test_the_moved_reads_still_work_on_an_orm_session(store: PromptStore) -> None:
    """lookups.feature_summaries and serving_entries (now in reads.py) keep taking the
    session other code may pass them."""
    with store.reading() as session:
        assert lookups.feature_summaries(session, "production") == store.features()
        assert lookups.serving_entries(session, "production", 0) == store.serving()


def test_the_runtime_serves_and_records_without_loading_the_orm(tmp_path: Path) -> None:
    """The runtime reads through store/serving.py's Core statement and records through
    store/metrics.py's Core tables: importing it, opening a store, serving a prompt and
    flushing a recorded outcome never import sqlalchemy.orm."""
    db = tmp_path / "store.db"
    with PromptStore(str(db), user="ada", create=True) as store:
        store.create_feature("greeting", "Hello", model="m", reason="first")
        store.activate("greeting", 1, reason="live")
    script = (
        "import sys\n"
        "from promptdeck.runtime import Prompts\n"
        f"prompts = Prompts({str(db)!r}, refresh_interval=None, snapshot_path=False)\n"
        "prompt = prompts.get('greeting')\n"
        "print(prompt.system_prompt)\n"
        "prompts.record(prompt, latency_ms=12.5, success=True)\n"
        "prompts.close()  # flushes the outcome to the store\n"
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.orm')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == ["Hello", "[]"], result.stderr
    with PromptStore(str(db), user="ada") as store:
        (row,) = store.metrics.rows("greeting")
    assert (row.count, row.successes) == (1, 1)
