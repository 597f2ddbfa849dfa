"""Fixtures for the checks tests: the loopback LLM server, fake keys, fast settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from checks_helpers import ANTHROPIC_KEY, OPENAI_KEY, fast_config
from llm_server import LLMServer

from promptdeck.checks.providers import ProvidersConfig


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "OPENAI_API_KEY": OPENAI_KEY}


@pytest.fixture
def config(llm: LLMServer) -> ProvidersConfig:
    return fast_config(llm.url)
