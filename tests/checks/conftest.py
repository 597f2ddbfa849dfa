"""Fixtures for the checks tests: the loopback LLM server, fake keys, fast settings."""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType

import pytest
from llm_server import LLMServer

from promptdeck.checks.providers import ProvidersConfig, ProviderSettings

ANTHROPIC_KEY = "sk-ant-test-4f9c2e7b1d8a6035secret"
OPENAI_KEY = "sk-proj-test-9b3e5a1c7d2f8046secret"


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "OPENAI_API_KEY": OPENAI_KEY}


def fast_config(server: LLMServer, *, timeout: float = 1.0, retries: int = 1,
                deadline: float = 30.0) -> ProvidersConfig:  # fmt: skip
    """Both providers on the loopback server, with short timeouts for tests."""
    return ProvidersConfig(
        MappingProxyType(
            {
                "anthropic": ProviderSettings(
                    base_url=server.url, timeout_s=timeout, max_retries=retries, deadline_s=deadline
                ),
                "openai": ProviderSettings(
                    base_url=server.openai_url,
                    timeout_s=timeout,
                    max_retries=retries,
                    deadline_s=deadline,
                ),
            }
        )
    )


@pytest.fixture
def config(llm: LLMServer) -> ProvidersConfig:
    return fast_config(llm)
