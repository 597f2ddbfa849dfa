"""Issue 14, store and CLI side: the store's boundary, lost updates, forged history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from promptdeck import limits
from promptdeck.cli import main
from promptdeck.errors import ConflictError, ValidationError
from promptdeck.records import Deployment, FeatureDocument, VersionSpec
from promptdeck.store import PromptStore


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def refused(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


DEEP: Any = []
for _ in range(25):
    DEEP = [DEEP]


# --- the store's boundary is limits.py's ------------------------------------------------


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda s: s.save("translator", "x", reason="r" * 10_001), "longer than"),
        (lambda s: s.save("translator", "x", reason="why\x1b[2J"), "control character"),
        (lambda s: s.save("translator", "x", reason="ok", model="m" * 201), "model"),
        (lambda s: s.save("translator", "x", reason="ok", base=2**31), "at most"),
        (
            lambda s: s.save("translator", "x", reason="ok", parameters={"w": DEEP}),
            "levels deep",
        ),
        (lambda s: s.save("translator", "x", reason="ok", parameters={"n": 2**64}), "64-bit"),
        (lambda s: s.save("translator", "a\ud800b", reason="ok"), "surrogate"),
        (lambda s: s.activate("translator", 2**31, reason="ok"), "at most"),
        (lambda s: s.set_canary("translator", 1, 101, reason="ok"), "canary percentage"),
        (lambda s: s.set_role("m\x1b]0;OWNED\x07", "editor"), "control character"),
        (lambda s: s.set_role("x" * 101, "editor"), "longer than"),
        (lambda s: s.create_feature("f" * 201, "x", model="m", reason="ok"), "invalid feature"),
    ],
)
def test_every_write_path_checks_the_limits(store: PromptStore, call: Any, fragment: str) -> None:
    before = store.revision()
    with pytest.raises(ValidationError, match=None) as refused_with:
        call(store)
    assert fragment in str(refused_with.value)
    assert store.revision() == before


def test_a_user_name_with_controls_cannot_write(store_path: Path) -> None:
    with PromptStore(store_path, user="m\x1b]0;OWNED\x07", create=False) as hostile:
        assert hostile.features()  # reading is fine
        with pytest.raises(ValidationError, match="control character"):
            hostile.save("translator", "new text", reason="ok")


# --- the CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("[" * 600 + "]" * 600, "nested"),
        ("[" * 50_000 + "]" * 50_000, "nested"),
        ("1" * 4_301, "64-bit"),
        ("NaN", "finite"),
    ],
)
def test_param_values_are_refused_in_one_line(store_path: Path, value: str, fragment: str) -> None:
    result = cli("--db", str(store_path), "save", "translator", "-f", "-", "-m", "x",
                 "--param", f"w={value}", input="new")  # fmt: skip
    refused(result, fragment)


def test_an_empty_db_option_is_refused_not_the_default_store() -> None:
    refused(cli("--db", "", "features"), "--db is empty")
    refused(cli("--db", "  ", "init"), "--db is empty")


def test_save_with_param_names_the_version_it_merged_from(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two saves interleaved: bob saves between the CLI's read and its write."""
    original = PromptStore.version
    interleaved: list[int] = []

    def version_then_bob_saves(self: PromptStore, *args: Any, **kwargs: Any) -> Any:
        read = original(self, *args, **kwargs)
        if not interleaved:
            with PromptStore(store_path, user="bob", create=False) as bob:
                saved = bob.save(
                    "translator",
                    read.system_prompt,
                    reason="bob raises max_tokens",
                    parameters={**read.parameters, "max_tokens": 4097},
                )
                interleaved.append(saved.number)
        return read

    monkeypatch.setattr(PromptStore, "version", version_then_bob_saves)
    result = cli("--db", str(store_path), "--user", "alice", "save", "translator", "-f", "-",
                 "-m", "alice's", "--param", "temperature=0.9", input="new")  # fmt: skip
    assert interleaved, (result.stderr, result.exception)
    line = refused(result, f"bob saved v{interleaved[0]}")
    assert "--force" in line
    with PromptStore(store_path, create=False) as store:
        assert store.version("translator").parameters["max_tokens"] == 4097


def test_store_save_with_a_stale_base_conflicts(store: PromptStore) -> None:
    latest = store.version("translator")
    store.save("translator", "bob's", reason="bob", parameters={"max_tokens": 1})
    with pytest.raises(ConflictError):
        store.save("translator", "alice's", reason="alice", base=latest.number)


# --- import: authorship, canaries, file names ---------------------------------------------


def _document(**deployment: Any) -> FeatureDocument:
    spec = VersionSpec(
        number=99,
        system_prompt="forged",
        model="m",
        parameters={},
        author="maria",
        reason="Reviewed by legal",
        created_at=limits.EARLIEST.replace(year=2020),
    )
    deployments = (Deployment("forged", "production", **deployment),) if deployment else ()
    return FeatureDocument(
        feature="forged", versions=(spec,), deployments=deployments, source="forged.yaml"
    )


def test_an_editor_cannot_forge_authorship_through_import(store_path: Path) -> None:
    with PromptStore(store_path, user="alice", create=False) as admin:
        admin.set_role("alice", "admin")
        admin.set_role("eve", "editor")
    with PromptStore(store_path, user="eve", create=False) as editor:
        editor.import_documents([_document()])
        version = editor.version("forged", 99)
        assert version.author == "eve"
        assert version.created_at.year >= 2026
        assert editor.history("forged")[0].actor == "eve"


def test_an_admin_imports_history_as_it_was(store_path: Path) -> None:
    with PromptStore(store_path, user="alice", create=False) as admin:
        admin.set_role("alice", "admin")
        admin.import_documents([_document()])
        version = admin.version("forged", 99)
        assert (version.author, version.created_at.year) == ("maria", 2020)


def test_import_refuses_a_canary_equal_to_the_active_version(empty_store: PromptStore) -> None:
    document = _document(active=99, canary=99, canary_percent=10)
    with pytest.raises(ValidationError, match=r"forged.yaml: .*both the active version and"):
        empty_store.import_documents([document])
    assert empty_store.features() == []


def test_import_checks_versions_and_ids_before_writing(empty_store: PromptStore) -> None:
    spec = VersionSpec(number=2**31, system_prompt="x", model="m", parameters={})
    document = FeatureDocument(feature="big", versions=(spec,), source="big.yaml")
    with pytest.raises(ValidationError, match=r"big.yaml: version must be at most"):
        empty_store.import_documents([document])
    spec = VersionSpec(number=1, system_prompt="x", model="m", parameters={}, uid="u" * 60)
    document = FeatureDocument(feature="long", versions=(spec,), source="long.yaml")
    with pytest.raises(ValidationError, match=r"long.yaml: invalid version id"):
        empty_store.import_documents([document])
    assert empty_store.features() == []
