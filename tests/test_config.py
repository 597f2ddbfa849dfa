"""Configuration: where things are, and passwords that never show."""

from __future__ import annotations

import pytest

from promptdeck.config import redact, scrub


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql+psycopg://app:s3cret@db.internal:5432/prompts", "s3cret"),
        ("postgresql+psycopg://app:p@ss@word@db/prompts", "p@ss@word"),
        ("postgresql://app:a:b/c@db/prompts", "a:b/c"),
        ("postgresql://app:%40encoded@db/prompts", "%40encoded"),
        ("postgresql://app:pw-x@db:notaport/prompts", "pw-x"),
        ("postgresql+psycopg://app@db/prompts?password=q-s3cret", "q-s3cret"),
        ("postgresql+psycopg://app@db/prompts?sslmode=disable&password=q-s3cret&x=1", "q-s3cret"),
        ("postgresql://db/prompts?user=app&PASSWORD=q-s3cret", "q-s3cret"),
        ("postgresql+psycopg://app:one@db/prompts?password=q-s3cret", "q-s3cret"),
    ],
)
def test_passwords_never_show(url: str, password: str) -> None:
    shown = redact(url)
    assert password not in shown
    assert "***" in shown
    assert shown.startswith(url.split(":", 2)[0])
    assert password not in scrub(f"connection failed for {url}: auth {password}", url)


def test_urls_without_a_password_are_unchanged() -> None:
    for url in ("sqlite:////tmp/store.db", "postgresql://app@db/prompts"):
        assert redact(url) == url
