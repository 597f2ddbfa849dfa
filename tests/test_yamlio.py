"""YAML import and export: both file shapes, malformed input, all-or-nothing, exact round trip."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from promptdeck import yamlio
from promptdeck.errors import NotFoundError, ValidationError
from promptdeck.limits import MAX_IMPORT_FILE_BYTES
from promptdeck.records import Deployment, FeatureDocument, VersionSpec
from promptdeck.store import PromptStore
from promptdeck.templates import find_variables

# Exactly the single-version file from the issue.
ISSUE_SINGLE = """\
feature: customer-support
version: 14
model: claude-sonnet-4-20250514
system_prompt: |
  You are a professional customer support agent for Acme Corp.
  ...
parameters:
  max_tokens: 1024
  temperature: 0.3
"""

FULL = """\
feature: summarizer
versions:
  - version: 1
    id: 0b5f8a52-8f0c-4c61-9d5a-111111111111
    model: model-a
    parameters: {max_tokens: 500, temperature: 0.2}
    author: maria
    reason: First version
    created_at: '2026-03-02T09:14:00.123456Z'
    parent: null
    system_prompt: |
      Summarise {{document}} in three bullet points.
  - version: 2
    model: model-a
    parameters: {max_tokens: 500, temperature: 0.2}
    author: sam
    reason: Bullets were too long; cap them at 15 words
    created_at: '2026-03-05T10:00:00Z'
    parent: 1
    system_prompt: |
      Summarise {{document}} in three bullet points of at most 15 words.
  - version: 3
    model: model-b
    parameters: {max_tokens: 400}
    author: sam
    reason: Try the cheaper model
    created_at: '2026-03-06T11:30:00+02:00'
    parent: 2
    system_prompt: |
      Summarise {{document}} in three short bullet points.
active:
  production: 2
  staging: 3
previous:
  production: [1]
canary:
  production: {version: 3, percent: 10}
"""

PATHS = {
    "c": (yamlio.CLoader, yamlio.CDumper),
    "python": (yamlio.PythonLoader, yamlio.PythonDumper),
}


@pytest.fixture(autouse=True, params=list(PATHS))
def yaml_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs through libyaml (C) and through the pure-Python parser."""
    loader, dumper = PATHS[request.param]
    if loader is None or dumper is None:
        pytest.skip("PyYAML was built without libyaml")
    monkeypatch.setattr(yamlio, "LOADER", loader)
    monkeypatch.setattr(yamlio, "DUMPER", dumper)
    return str(request.param)


TABLES = ("features", "versions", "deployments", "rollback_stack", "audit_events", "store_state")


def snapshot(store: PromptStore) -> dict[str, list[tuple[Any, ...]]]:
    with store.engine.connect() as connection:
        return {
            table: [
                tuple(r) for r in connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))
            ]
            for table in TABLES
        }


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_for(text: str, name: str = "bad.yaml") -> str:
    with pytest.raises(ValidationError) as caught:
        yamlio.parse_text(text, name)
    return str(caught.value)


# --- the two shapes ---------------------------------------------------------------------


def test_the_single_version_file_from_the_issue_parses() -> None:
    document = yamlio.parse_text(ISSUE_SINGLE, "customer-support.yaml")
    assert document.feature == "customer-support"
    assert document.single
    (spec,) = document.versions
    assert spec.number == 14
    assert spec.model == "claude-sonnet-4-20250514"
    assert spec.system_prompt == (
        "You are a professional customer support agent for Acme Corp.\n...\n"
    )
    assert spec.parameters == {"max_tokens": 1024, "temperature": 0.3}
    assert (spec.uid, spec.author, spec.reason, spec.created_at, spec.parent) == (None,) * 5


def test_the_single_version_file_imports_and_becomes_active(
    empty_store: PromptStore, tmp_path: Path
) -> None:
    path = write(tmp_path, "customer-support.yaml", ISSUE_SINGLE)
    result = empty_store.import_documents(yamlio.read_files([path]))
    assert result.versions_created == (("customer-support", 14),)
    version = empty_store.version("customer-support", 14)
    assert version.model == "claude-sonnet-4-20250514"
    assert version.parameters == {"max_tokens": 1024, "temperature": 0.3}
    assert version.system_prompt.startswith("You are a professional customer support agent")
    assert version.author == "alice"
    assert version.reason == "Imported from customer-support.yaml"
    assert empty_store.deployment("customer-support").active == 14
    # the next save continues the numbering of the file
    assert empty_store.save("customer-support", "edited", reason="r").number == 15


def test_a_file_saved_on_windows_with_bom_and_crlf_parses(tmp_path: Path) -> None:
    path = tmp_path / "windows.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + ISSUE_SINGLE.replace("\n", "\r\n").encode("utf-8"))
    (document,) = yamlio.read_files([path])
    assert document.feature == "customer-support"
    assert document.versions[0].system_prompt == (
        "You are a professional customer support agent for Acme Corp.\n...\n"
    )


def test_single_version_metadata_is_kept(empty_store: PromptStore, tmp_path: Path) -> None:
    text = ISSUE_SINGLE + (
        "author: maria\nreason: Copied from the repo\ncreated_at: '2026-01-02T03:04:05Z'\n"
        "id: 7f1c7c33-0000-4000-8000-000000000001\n"
    )
    path = write(tmp_path, "cs.yaml", text)
    empty_store.import_documents(yamlio.read_files([path]))
    version = empty_store.version("customer-support", 14)
    assert (version.author, version.reason, version.uid) == (
        "maria",
        "Copied from the repo",
        "7f1c7c33-0000-4000-8000-000000000001",
    )
    assert version.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_full_history_file_imports_everything(empty_store: PromptStore, tmp_path: Path) -> None:
    path = write(tmp_path, "summarizer.yaml", FULL)
    empty_store.import_documents(yamlio.read_files([path]))
    versions = {v.number: v for v in empty_store.versions("summarizer")}
    assert sorted(versions) == [1, 2, 3]
    one = empty_store.version("summarizer", 1)
    assert one.uid == "0b5f8a52-8f0c-4c61-9d5a-111111111111"
    assert one.created_at == datetime(2026, 3, 2, 9, 14, 0, 123456, tzinfo=UTC)
    assert (one.author, one.reason, one.parent) == ("maria", "First version", None)
    three = empty_store.version("summarizer", 3)
    assert three.created_at == datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
    assert (three.model, dict(three.parameters), three.parent) == (
        "model-b",
        {"max_tokens": 400},
        2,
    )
    production = empty_store.deployment("summarizer")
    assert (production.active, production.previous) == (2, (1,))
    assert (production.canary, production.canary_percent) == (3, 10)
    assert empty_store.deployment("summarizer", "staging").active == 3


# --- malformed files --------------------------------------------------------------------


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broken.yaml",
        "feature: x\nversion: 1\nmodel: m\nsystem_prompt: |\n  fine\n parameters: [unclosed\n",
    )
    with pytest.raises(ValidationError) as caught:
        yamlio.read_files([path])
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert re.match(rf"{re.escape(str(path))}:[56]: invalid YAML", message)


def test_a_tab_indented_file_names_its_line() -> None:
    message = error_for("feature: x\nversion: 1\nmodel: m\n\tsystem_prompt: hi\n")
    assert message.startswith("bad.yaml:4: invalid YAML")


@pytest.mark.parametrize("missing", ["feature", "version", "model", "system_prompt"])
def test_a_missing_field_is_named(missing: str) -> None:
    lines = [line for line in ISSUE_SINGLE.splitlines(keepends=True)]
    kept = "".join(
        line
        for line in lines
        if not line.startswith(f"{missing}:")
        and not (missing == "system_prompt" and line.startswith("  "))
    )
    message = error_for(kept)
    assert message.startswith("bad.yaml")
    assert f"missing {missing}" in message


@pytest.mark.parametrize(
    ("replace", "by", "line", "complaint"),
    [
        ("version: 14", 'version: "x"', 2, "version must be a whole number"),
        ("version: 14", "version: 1.5", 2, "version must be a whole number"),
        ("version: 14", "version: true", 2, "version must be a whole number"),
        ("version: 14", "version: 0", 2, "version must be 1 or more"),
        ("model: claude-sonnet-4-20250514", "model: 5", 3, "model must be non-empty text"),
        ("model: claude-sonnet-4-20250514", "model: ''", 3, "model must be non-empty text"),
        ("feature: customer-support", "feature: [a, b]", 1, "feature must be non-empty text"),
        ("feature: customer-support", "feature: 'bad name!'", 1, "invalid feature name"),
        ("parameters:\n  max_tokens: 1024\n  temperature: 0.3", "parameters: [1]", 7, "mapping"),
        ("parameters:\n  max_tokens: 1024\n  temperature: 0.3", "parameters: 7", 7, "mapping"),
    ],
)
def test_a_mistyped_field_names_file_line_and_problem(
    replace: str, by: str, line: int, complaint: str
) -> None:
    text = ISSUE_SINGLE.replace(replace, by)
    assert text != ISSUE_SINGLE
    message = error_for(text)
    assert message.startswith(f"bad.yaml:{line}: ")
    assert complaint in message


def test_a_prompt_that_is_not_text_is_refused() -> None:
    message = error_for("feature: x\nversion: 1\nmodel: m\nsystem_prompt: 12\n")
    assert message.startswith("bad.yaml:4: ")
    assert "system_prompt" in message


def test_an_unknown_key_is_named_with_its_line() -> None:
    message = error_for(ISSUE_SINGLE + "colour: blue\n")
    assert message == "bad.yaml:10: unknown key colour"
    message = error_for(FULL.replace("    author: sam\n", "    author: sam\n    tags: [x]\n", 1))
    assert "unknown key versions[1].tags" in message
    assert message.startswith("bad.yaml:")


def test_a_duplicate_key_is_named_with_its_line() -> None:
    message = error_for(ISSUE_SINGLE + "model: other\n")
    assert message.startswith("bad.yaml:10: ")
    assert "duplicate key 'model'" in message


def test_a_version_twice_in_one_file_is_refused() -> None:
    text = FULL.replace("  - version: 2\n", "  - version: 1\n")
    message = error_for(text)
    assert message.startswith("bad.yaml:")
    assert "version 1 appears twice" in message


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("production: 2\n  staging: 3", "production: 9\n  staging: 3"), "version 9"),
        (("production: [1]", "production: [8]"), "version 8"),
        (("{version: 3, percent: 10}", "{version: 3, percent: 101}"), "0-100"),
        (("{version: 3, percent: 10}", "{version: 3}"), "'version' and 'percent'"),
        (("{version: 3, percent: 10}", "{version: 2, percent: 10}"), "is the active version"),
        (("    parent: 2\n", "    parent: 7\n"), "parent 7"),
        (("created_at: '2026-03-05T10:00:00Z'", "created_at: 'last tuesday'"), "ISO-8601"),
    ],
)
def test_bad_references_and_metadata_are_refused(change: tuple[str, str], complaint: str) -> None:
    text = FULL.replace(*change)
    assert text != FULL
    message = error_for(text)
    assert message.startswith("bad.yaml:")
    assert complaint in message


@pytest.mark.parametrize("text", ["", "just a string\n", "- a\n- list\n"])
def test_a_file_that_is_not_a_mapping_is_refused(text: str) -> None:
    assert error_for(text).startswith("bad.yaml")


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(ISSUE_SINGLE.replace("Acme", "Acmé").encode("latin-1"))
    with pytest.raises(ValidationError, match="not UTF-8") as caught:
        yamlio.read_files([path])
    assert str(path) in str(caught.value)


def test_collect_files_finds_yaml_recursively_and_refuses_missing_paths(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", ISSUE_SINGLE)
    write(tmp_path, "deep/b.yml", ISSUE_SINGLE)
    write(tmp_path, "notes.txt", "not yaml")
    found = yamlio.collect_files([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.yaml", "deep/b.yml"]
    with pytest.raises(NotFoundError, match="no such file"):
        yamlio.collect_files([tmp_path / "nope"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotFoundError, match="no YAML files"):
        yamlio.collect_files([empty])


# --- duplicates across files and against the store --------------------------------------


def test_one_version_number_with_other_content_in_two_files_is_refused(
    empty_store: PromptStore, tmp_path: Path
) -> None:
    first = write(tmp_path, "a/cs.yaml", ISSUE_SINGLE)
    second = write(tmp_path, "b/cs.yaml", ISSUE_SINGLE.replace("Acme Corp", "Globex"))
    before = snapshot(empty_store)
    with pytest.raises(ValidationError) as caught:
        empty_store.import_documents(yamlio.read_files([first, second]))
    message = str(caught.value)
    assert str(second) in message
    assert str(first) in message
    assert "version 14" in message
    assert snapshot(empty_store) == before


def test_the_same_version_in_two_files_is_fine(empty_store: PromptStore, tmp_path: Path) -> None:
    first = write(tmp_path, "a/cs.yaml", ISSUE_SINGLE)
    second = write(tmp_path, "b/cs.yaml", ISSUE_SINGLE)
    result = empty_store.import_documents(yamlio.read_files([first, second]))
    assert result.versions_created == (("customer-support", 14),)


def test_a_version_number_the_store_holds_with_other_content_is_refused(
    empty_store: PromptStore, tmp_path: Path
) -> None:
    empty_store.import_documents(yamlio.read_files([write(tmp_path, "one.yaml", ISSUE_SINGLE)]))
    before = snapshot(empty_store)
    other = write(
        tmp_path, "other.yaml", ISSUE_SINGLE.replace("temperature: 0.3", "temperature: 1")
    )
    with pytest.raises(ValidationError) as caught:
        empty_store.import_documents(yamlio.read_files([other]))
    assert str(other) in str(caught.value)
    assert "version 14" in str(caught.value)
    assert snapshot(empty_store) == before


# --- all or nothing, and re-import --------------------------------------------------------


def test_a_directory_with_one_bad_file_imports_nothing(
    empty_store: PromptStore, tmp_path: Path, samples: Path
) -> None:
    directory = tmp_path / "prompts"
    for sample in sorted(samples.glob("*.yaml"))[:3]:
        write(directory, sample.name, sample.read_text(encoding="utf-8"))
    bad = write(directory, "zz-bad.yaml", ISSUE_SINGLE.replace("version: 14", "version: x"))
    before = snapshot(empty_store)
    with pytest.raises(ValidationError) as caught:
        empty_store.import_documents(yamlio.read_files([directory]))
    assert str(bad) in str(caught.value)
    assert snapshot(empty_store) == before
    assert empty_store.features() == []


def test_a_conflict_in_the_last_file_rolls_back_the_earlier_ones(
    store: PromptStore, tmp_path: Path, samples: Path
) -> None:
    directory = tmp_path / "prompts"
    write(directory, "a-new.yaml", ISSUE_SINGLE.replace("customer-support", "brand-new"))
    clash = (samples / "summarizer.yaml").read_text(encoding="utf-8")
    clash = clash.replace("- version: 1\n", "- version: 1\n    id: null\n", 1)
    clash = re.sub(r"(system_prompt: \|\n)", r"\1      CHANGED LINE\n", clash, count=1)
    bad = write(directory, "z-summarizer.yaml", clash)
    before = snapshot(store)
    with pytest.raises(ValidationError) as caught:
        store.import_documents(yamlio.read_files([directory]))
    assert str(bad) in str(caught.value)
    assert snapshot(store) == before
    assert "brand-new" not in {f.name for f in store.features()}


def test_reimporting_the_same_files_changes_nothing(store: PromptStore, samples: Path) -> None:
    before, revision, events = snapshot(store), store.revision(), len(store.history())
    result = store.import_documents(yamlio.read_files([samples]))
    assert not result.changed
    assert snapshot(store) == before
    assert store.revision() == revision
    assert len(store.history()) == events


def test_reimporting_a_single_version_file_changes_nothing(
    empty_store: PromptStore, tmp_path: Path
) -> None:
    path = write(tmp_path, "cs.yaml", ISSUE_SINGLE)
    empty_store.import_documents(yamlio.read_files([path]))
    before = snapshot(empty_store)
    assert not empty_store.import_documents(yamlio.read_files([path])).changed
    assert snapshot(empty_store) == before


def test_an_import_never_moves_what_is_live(store: PromptStore, samples: Path) -> None:
    store.activate("customer-support", 2, reason="hotfix: back to v2")
    store.clear_canary("customer-support", reason="stop the canary")
    before = snapshot(store)
    assert not store.import_documents(yamlio.read_files([samples])).changed
    assert snapshot(store) == before
    assert store.deployment("customer-support").active == 2


def test_an_import_adds_only_the_new_versions(store: PromptStore, tmp_path: Path) -> None:
    document = store.export_document("summarizer")
    latest = document.versions[-1]
    extra = VersionSpec(
        number=latest.number + 1,
        system_prompt=latest.system_prompt + "\nOne more rule.\n",
        model=latest.model,
        parameters=latest.parameters,
        author="zoe",
        reason="Another rule",
        created_at=datetime(2026, 5, 1, tzinfo=UTC),
        parent=latest.number,
    )
    grown = FeatureDocument(document.feature, (*document.versions, extra), document.deployments)
    path = tmp_path / "summarizer.yaml"
    path.write_text(yamlio.dump_document(grown), encoding="utf-8")
    result = store.import_documents(yamlio.read_files([path]))
    assert result.versions_created == (("summarizer", extra.number),)
    assert result.deployments_set == ()
    assert store.version("summarizer", extra.number).author == "zoe"


# --- export then import -------------------------------------------------------------------


def build_rich_store(store: PromptStore) -> None:
    """The samples plus awkward texts, environments, a rollback stack and canaries."""
    store.save(
        "customer-support",
        "  Leading spaces, trailing   \n\ttabs, CRLF\r\n中文 🎉 [bold]x[/bold] "
        "\x1b[31mred\x1b[0m\x01",
        reason="odd text",
        model="claude-sonnet-4-20250514",
        parameters={"max_tokens": 2048, "temperature": 0.1, "stop": ["###"], "meta": {"a": None}},
    )
    store.save("customer-support", "x" * 300_000 + " \n" + "y" * 10, reason="long")
    store.save("translator", "Translate {{text}} into {{language}}.\n", reason="simpler")
    store.activate("translator", 1, reason="staging one", environment="staging")
    store.activate("translator", 3, reason="staging two", environment="staging")
    store.set_canary("translator", 2, 35, reason="staging canary", environment="staging")
    store.activate("sql-assistant", 4, reason="ship 4")
    store.rollback("sql-assistant", reason="4 broke reports")


def assert_same_documents(a: FeatureDocument, b: FeatureDocument) -> None:
    assert a.feature == b.feature
    assert [s.number for s in a.versions] == [s.number for s in b.versions]
    for left, right in zip(a.versions, b.versions, strict=True):
        for field in (
            "number",
            "uid",
            "system_prompt",
            "model",
            "parameters",
            "author",
            "reason",
            "created_at",
            "parent",
        ):
            assert getattr(left, field) == getattr(right, field), (a.feature, left.number, field)
    assert a.deployments == b.deployments


@pytest.fixture
def exported(store: PromptStore, tmp_path: Path) -> Iterator[tuple[PromptStore, Path]]:
    build_rich_store(store)
    directory = tmp_path / "export"
    documents = [store.export_document(f.name) for f in store.features()]
    written = yamlio.write_documents(documents, directory)
    assert sorted(p.name for p in written) == sorted(f"{f.name}.yaml" for f in store.features())
    yield store, directory


def check_round_trip(source: PromptStore, target: PromptStore, directory: Path) -> None:
    target.import_documents(yamlio.read_files([directory]))
    assert [f.name for f in target.features()] == [f.name for f in source.features()]
    for environment in ("production", "staging"):
        assert target.features(environment) == source.features(environment)
    for feature in source.features():
        assert_same_documents(
            source.export_document(feature.name), target.export_document(feature.name)
        )
        for environment in ("production", "staging"):
            assert target.deployment(feature.name, environment) == source.deployment(
                feature.name, environment
            )


def test_export_then_import_into_an_empty_store_is_exact(
    exported: tuple[PromptStore, Path], tmp_path: Path
) -> None:
    source, directory = exported
    times = [s.created_at for s in source.export_document("customer-support").versions]
    assert any(t is not None and t.microsecond for t in times), "saved versions carry microseconds"
    with PromptStore(tmp_path / "copy.db", user="someone-else") as target:
        check_round_trip(source, target, directory)
        assert target.deployment("sql-assistant").active == 3
        assert (
            target.rollback("sql-assistant", reason="same stack").active
            == source.deployment("sql-assistant").previous[-1]
        )


@pytest.mark.postgres
def test_export_from_sqlite_then_import_into_postgresql_is_exact(
    exported: tuple[PromptStore, Path], pg_store_url: str
) -> None:
    source, directory = exported
    with PromptStore(pg_store_url, user="someone-else") as target:
        check_round_trip(source, target, directory)


def test_export_writes_one_file_per_feature_and_only_what_is_asked(
    store: PromptStore, tmp_path: Path
) -> None:
    written = yamlio.write_documents([store.export_document("translator")], tmp_path / "out")
    assert written == [tmp_path / "out" / "translator.yaml"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["translator.yaml"]
    document = yamlio.read_files(written)[0]
    assert document.feature == "translator"
    assert not document.single


ROUND_TRIP_TEXTS = {
    "trailing spaces": "line with trailing spaces   \nnext  \n",
    "tabs": "\tstarts with a tab\nmiddle\ttab\nends with tab\t\n",
    "crlf": "windows\r\nline\r\nendings\r\n",
    "lone cr": "old\rmac\r",
    "control characters": "bell\x07 escape\x1b[31m red\x1b[0m del\x7f vt\x0b ff\x0c\n",
    "leading spaces": "   indented first line\nsecond\n",
    "leading newlines": "\n\nafter two blank lines\n",
    "no final newline": "one\ntwo",
    "many final newlines": "one\n\n\n\n",
    "only one line": "a single line",
    "unicode": "中文 日本語 한국어 emoji 🎉👩‍💻🇫🇷 ü ß\n",
    "rich markup": "[bold red]not markup[/bold red] [/] \\[x]\n",
    "yaml lookalikes": "---\nkey: value\n- item\n# not a comment\n...\n&anchor *alias !tag\n",
    "yaml scalars": "null",
    "yaml bool": "yes",
    "quotes": "'single' \"double\" `back`\n",
    "separators": "line\u2028separator\u2029paragraph\n",
    "bom": "\ufeffbyte order mark\n",
    "template": "Hello {{customer_name}}, about {{ order_id }}\n",
    "spaces only lines": "a\n   \n\t\nb\n",
}


@pytest.mark.parametrize("text", list(ROUND_TRIP_TEXTS.values()), ids=list(ROUND_TRIP_TEXTS))
def test_any_text_round_trips_through_dump_and_parse(text: str) -> None:
    spec = VersionSpec(1, text, "m", {"k": text}, reason="r", author="a")
    document = FeatureDocument("f", (spec,))
    back = yamlio.parse_text(yamlio.dump_document(document), "f.yaml").versions[0]
    assert back.system_prompt == text
    assert back.parameters == {"k": text}


def test_a_megabyte_with_trailing_spaces_round_trips_through_dump_and_parse() -> None:
    text = ("a line with trailing spaces  \n" + "x" * 500 + " \t\r\n") * 100 + "中" * 340_000
    assert len(text.encode("utf-8")) > 1_000_000
    document = FeatureDocument("f", (VersionSpec(1, text, "m", {}),))
    assert yamlio.parse_text(yamlio.dump_document(document), "f.yaml").versions[
        0
    ].system_prompt == (text)


def test_text_with_a_next_line_character_round_trips() -> None:
    text = "before\x85after"
    document = FeatureDocument("f", (VersionSpec(1, text, "m", {}),))
    assert yamlio.parse_text(yamlio.dump_document(document), "f.yaml").versions[
        0
    ].system_prompt == (text)


def test_parameters_round_trip_with_their_types() -> None:
    parameters = {
        "max_tokens": 1024,
        "temperature": 0.3,
        "top_p": 1e-20,
        "stop": ["###", "\n\n"],
        "json": True,
        "seed": None,
        "big": 2**60,
        "date_like": "2024-01-01",
        "number_like": "0.3",
        "nested": {"a": [1, {"b": "c"}]},
    }
    document = FeatureDocument("f", (VersionSpec(1, "t", "m", parameters),))
    assert yamlio.parse_text(yamlio.dump_document(document), "f.yaml").versions[0].parameters == (
        parameters
    )


# --- errors that only the store sees must still name the file ----------------------------


def test_a_date_in_parameters_is_refused_naming_the_file(
    empty_store: PromptStore, tmp_path: Path
) -> None:
    path = write(tmp_path, "dated.yaml", ISSUE_SINGLE + "  stop: 2024-01-01\n")
    with pytest.raises(ValidationError) as caught:
        empty_store.import_documents(yamlio.read_files([path]))
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        ISSUE_SINGLE.replace("temperature: 0.3", "temperature: .nan"),
        'feature: cs\nversion: 1\nmodel: m\nsystem_prompt: "before\\0after"\n',
        ISSUE_SINGLE.replace("model: claude-sonnet-4-20250514", "model: " + "m" * 201),
    ],
    ids=["nan-parameter", "nul-in-prompt", "long-model"],
)
def test_store_side_refusals_on_import_name_the_file(
    empty_store: PromptStore, tmp_path: Path, text: str
) -> None:
    path = write(tmp_path, "refused.yaml", text)
    with pytest.raises(ValidationError) as caught:
        empty_store.import_documents(yamlio.read_files([path]))
    assert str(path) in str(caught.value)
    assert empty_store.features() == []


# --- sample_prompts -------------------------------------------------------------------------


def test_sample_prompts_are_realistic(samples: Path, empty_store: PromptStore) -> None:
    documents = yamlio.read_files([samples])
    assert len({d.feature for d in documents}) >= 6
    counts = [len(d.versions) for d in documents]
    assert sum(c >= 3 for c in counts) > len(counts) / 2, counts
    with_variables = [
        d.feature for d in documents if any(find_variables(s.system_prompt) for s in d.versions)
    ]
    assert len(with_variables) >= 2
    reasons = [s.reason for d in documents for s in d.versions if s.reason]
    assert len(reasons) == sum(counts), "every sample version says why it was made"
    assert all(len(r.split()) >= 3 for r in reasons), "reasons read like change notes"
    assert len(set(reasons)) == len(reasons)
    assert all(d.deployments for d in documents), "every sample has an active version"
    result = empty_store.import_documents(documents)
    assert len(result.versions_created) == sum(counts)


def test_sample_files_use_the_documented_full_history_shape(samples: Path) -> None:
    for path in sorted(samples.glob("*.yaml")):
        document = yamlio.read_files([path])[0]
        assert path.stem == document.feature
        for spec in document.versions:
            assert spec.author and spec.reason and spec.created_at
        text = path.read_text(encoding="utf-8")
        assert textwrap.dedent(text).startswith(f"feature: {document.feature}\n")


def test_deployment_in_a_file_is_a_deployment_record() -> None:
    document = yamlio.parse_text(FULL, "summarizer.yaml")
    assert Deployment("summarizer", "production", 2, 3, 10, (1,)) in document.deployments


# --- the C parser and the pure one say the same -------------------------------------------

MALFORMED = {
    "tab": "feature: x\nversion: 1\nmodel: m\n\tsystem_prompt: hi\n",
    "unclosed flow": "feature: x\nmodel: m\nsystem_prompt: |\n  fine\n parameters: [x\n",
    "colon": "feature: a: b\n",
    "bad indent": "feature: x\n  version: 1\n model: m\n",
    "unclosed quote": 'feature: x\nmodel: "abc\n',
    "bad escape": 'feature: x\nmodel: "\\q"\n',
    "flow": "feature: x\nparameters: {b: 1\n",
    "two documents": "feature: x\n---\nfeature: y\n",
    "undefined alias": "feature: x\nmodel: *m\n",
    "unknown tag": "feature: x\nmodel: !foo 1\n",
    "python tag": "feature: !!python/object/apply:os.system [ls]\n",
    "block": "feature: |\n  x\n y\n",
    "directive": "%FOO\n---\nfeature: x\n",
    "at": "feature: @x\n",
    "sequence in mapping": "feature: 1\n- b\n",
    "control character": "feature: x\nmodel: \x01\n",
    "bom in the middle": "feature: x\n\ufeffmodel: m\n",
    "empty flow entry": "feature: [,]\n",
}


@pytest.mark.parametrize("text", list(MALFORMED.values()), ids=list(MALFORMED))
def test_libyaml_and_the_pure_parser_give_the_same_message(text: str) -> None:
    if yamlio.CLoader is None:
        pytest.skip("PyYAML was built without libyaml")
    messages = []
    for loader in (yamlio.CLoader, yamlio.PythonLoader):
        with pytest.raises(ValidationError) as caught:
            yamlio.parse_text(text, "bad.yaml", loader=loader)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert re.match(r"bad\.yaml:\d+: ", messages[0]), messages[0]
    assert "\n" not in messages[0]


def test_a_lone_surrogate_in_the_text_itself_names_its_line() -> None:
    # read_files never yields one (UTF-8 cannot hold it), but parse_text takes any str
    message = error_for("feature: x\nversion: 1\nmodel: \ud800\n")
    assert message == (
        "bad.yaml:3: invalid YAML: unacceptable character #xd800: special characters are "
        "not allowed"
    )


def test_a_control_character_names_its_line_on_one_line() -> None:
    message = error_for("feature: x\nversion: 1\nmodel: \x01\n")
    assert message.startswith("bad.yaml:3: invalid YAML: unacceptable character #x0001")
    assert "\n" not in message


def test_the_default_path_is_libyaml_where_pyyaml_has_it() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    assert issubclass(yamlio.CLoader, yaml.CSafeLoader)  # type: ignore[arg-type]
    assert issubclass(yamlio.CDumper, yaml.CSafeDumper)  # type: ignore[arg-type]


PROMPT_BLOCK = (
    "system_prompt: |\n  You are a professional customer support agent for Acme Corp.\n  ...\n"
)

# --- hostile files ------------------------------------------------------------------------

# Nested anchors: 9 levels of 9 aliases each expand to 9**9 (387 million) strings.
ALIAS_BOMB = (
    "feature: bomb\nversion: 1\nmodel: m\nsystem_prompt: x\nparameters:\n"
    '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def test_an_alias_bomb_is_refused_at_once(empty_store: PromptStore, tmp_path: Path) -> None:
    assert len(ALIAS_BOMB) < 600
    path = write(tmp_path, "bomb.yaml", ALIAS_BOMB)
    started = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        empty_store.import_documents(yamlio.read_files([path]))
    assert time.perf_counter() - started < 2
    assert str(caught.value) == f"{path}:7: {yamlio.ALIAS_REFUSED}"
    assert empty_store.features() == []


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("feature: x\nversion: 1\nmodel: &m m\nsystem_prompt: *m\n", 4),
        ("feature: x\nversion: 1\nmodel: m\nsystem_prompt: p\nparameters:\n  a: &a [1]\n"
         "  b:\n  - *a\n", 8),
        ("feature: x\nversion: 1\nmodel: m\nsystem_prompt: p\nparameters: &p\n  a: [*p]\n", 6),
    ],
    ids=["scalar", "list item", "recursive"],
)  # fmt: skip
def test_aliases_are_refused_naming_a_line(text: str, line: int) -> None:
    message = error_for(text)
    assert message.startswith("bad.yaml:")
    assert message.endswith(yamlio.ALIAS_REFUSED)
    assert int(message.split(":")[1]) <= line


def test_merge_keys_are_refused() -> None:
    text = "feature: x\nversion: 1\nmodel: m\nsystem_prompt: p\nparameters:\n  <<: {a: 1}\n"
    assert error_for(text) == f"bad.yaml:6: {yamlio.MERGE_REFUSED}"


def test_the_export_never_writes_an_anchor_even_for_shared_values() -> None:
    shared = {"stop": ["###"]}
    specs = tuple(VersionSpec(n, "text\n", "m", {"a": shared, "b": shared}) for n in (1, 2))
    text = yamlio.dump_document(FeatureDocument("f", specs))
    assert "&" not in text and "*" not in text
    assert yamlio.parse_text(text).versions[1].parameters == {"a": shared, "b": shared}


@pytest.mark.parametrize(
    "text",
    [
        "feature: x\nversion: 1\nmodel: m\nsystem_prompt: p\nparameters:\n  w: "
        + "[" * 50_000
        + "]" * 50_000
        + "\n",
        "feature: x\nversion: 1\nmodel: m\nsystem_prompt: p\nparameters:\n  w: "
        + "[" * 600
        + "]" * 600
        + "\n",
        "feature: x\nversion: 1\nmodel: m\nsystem_prompt: p\nparameters:\n  w:\n"
        + "    " + "- " * 2000 + "x\n",
    ],
    ids=["flow-50000", "flow-600", "block-2000"],
)  # fmt: skip
def test_deep_nesting_is_refused_on_one_line(text: str) -> None:
    message = error_for(text)
    assert re.match(r"bad\.yaml:[67]: nested more than 32 levels deep$", message), message
    assert "\n" not in message


def test_parameters_nest_twenty_levels_and_no_more() -> None:
    def nested(levels: int) -> str:
        # parameters itself is level 1; `w` adds one list per level below it.
        return (
            "feature: x\nversion: 1\nmodel: m\nsystem_prompt: p\nparameters:\n  w: "
            + "[" * (levels - 1)
            + "1"
            + "]" * (levels - 1)
            + "\n"
        )

    assert yamlio.parse_text(nested(20)).versions[0].parameters["w"]
    message = error_for(nested(21))
    assert message.startswith("bad.yaml:5: parameters.w[0][0]")
    assert "nested more than 20 levels deep" in message


def test_a_file_over_the_size_limit_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # a sparse file: cheap to make at the real limit
        handle.truncate(MAX_IMPORT_FILE_BYTES + 1)
    with pytest.raises(ValidationError) as caught:
        yamlio.read_files([path])
    assert str(caught.value) == (
        f"{path}: the file is 64.0 MiB; promptdeck imports files of at most 64 MiB"
    )


@pytest.mark.parametrize(
    ("replace", "by", "line", "complaint"),
    [
        ("version: 14", "version: 99999999999999999999", 2, "version must be at most 2147483647"),
        ("version: 14", "version: 2147483648", 2, "version must be at most 2147483647"),
        ("version: 14", "version: " + "9" * 5000, 2, "is not a valid number"),
        ("version: 14", "version: 14\ncreated_at: '9999-12-31T23:59:59-14:00'", 3, "created_at"),
        ("version: 14", "version: 14\ncreated_at: 9999-12-31T23:59:59-14:00", 3, "created_at"),
        ("version: 14", "version: 14\ncreated_at: 2020-13-45", 3, "is not a valid time"),
        ("version: 14", "version: 14\ncreated_at: 1969-12-31", 3, "created_at must be between"),
        ("version: 14", 'version: 14\nreason: "a\\ud800b"', 3, "lone surrogate \\ud800"),
        ("version: 14", 'version: 14\nreason: "a\\0b"', 3, "reason contains a NUL"),
        ("version: 14", 'version: 14\nreason: "a\\eb"', 3, "control character \\x1b"),
        ("version: 14", 'version: 14\nauthor: "m\\e]0;OWNED\\a"', 3, "control character \\x1b"),
        ("version: 14", 'version: 14\nauthor: "m\\0"', 3, "NUL"),
        ("version: 14", "version: 14\nauthor: " + "a" * 300, 3, "longer than 100"),
        ("version: 14", "version: 14\nid: " + "a" * 60, 3, "invalid version id"),
        ("version: 14", "version: 14\nid: 'has spaces'", 3, "invalid version id"),
        (PROMPT_BLOCK, 'system_prompt: "a\\ud800b"\n', 4, "prompt text contains a lone surrogate"),
        (PROMPT_BLOCK, 'system_prompt: "a\\0b"\n', 4, "prompt text contains a NUL"),
        ("temperature: 0.3", 'temperature: "a\\ud800b"', 7, "lone surrogate \\ud800"),
        ("temperature: 0.3", "temperature: " + "1" * 5000, 9, "is not a valid number"),
        ("temperature: 0.3", "temperature: 9223372036854775808", 7, "64-bit"),
        ("model: claude-sonnet-4-20250514", 'model: "a\\tb"', 3, "control character \\t"),
    ],
)
def test_hostile_values_give_one_line_naming_file_and_line(
    replace: str, by: str, line: int, complaint: str
) -> None:
    text = ISSUE_SINGLE.replace(replace, by)
    assert text != ISSUE_SINGLE
    message = error_for(text)
    assert "\n" not in message
    assert message.startswith(f"bad.yaml:{line}: "), message
    assert complaint in message, message


def test_without_libyaml_the_pure_parser_and_emitter_are_used(tmp_path: Path) -> None:
    code = (
        "import yaml\n"
        "yaml.__with_libyaml__ = False\n"
        "del yaml.CSafeLoader, yaml.CSafeDumper, yaml.CLoader, yaml.CDumper\n"
        "from promptdeck import yamlio\n"
        "assert yamlio.CLoader is None and yamlio.LOADER is yamlio.PythonLoader\n"
        "assert yamlio.DUMPER is yamlio.PythonDumper\n"
        "from promptdeck.records import FeatureDocument, VersionSpec\n"
        "doc = FeatureDocument('f', (VersionSpec(1, 'a\\nb\\n', 'm', {'k': [1]}),))\n"
        "assert yamlio.parse_text(yamlio.dump_document(doc)).versions == doc.versions\n"
        "print('pure')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "pure", result.stderr


def test_deep_parameters_stored_before_the_limits_export_or_are_refused_by_name() -> None:
    def nested(levels: int) -> dict[str, Any]:
        value: Any = 1
        for _ in range(levels - 1):
            value = [value]
        return {"w": value}

    shallow = FeatureDocument("f", (VersionSpec(1, "t", "m", nested(150)),))
    assert "w:" in yamlio.dump_document(shallow)
    deep = FeatureDocument("f", (VersionSpec(7, "t", "m", nested(400)),))
    with pytest.raises(ValidationError) as caught:
        yamlio.dump_document(deep)
    assert str(caught.value).startswith("f version 7: parameters are nested more than 200")
