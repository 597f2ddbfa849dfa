"""Helpers shared by the checks tests (a module, not conftest, so tests can import it)."""

from __future__ import annotations

from types import MappingProxyType

from promptdeck.checks.providers import ProvidersConfig, ProviderSettings

ANTHROPIC_KEY = "sk-ant-test-4f9c2e7b1d8a6035secret"
OPENAI_KEY = "sk-proj-test-9b3e5a1c7d2f8046secret"
ENV = {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "OPENAI_API_KEY": OPENAI_KEY}


def fast_config(base_url: str, *, timeout: float = 1.0, retries: int = 1,
                deadline: float = 30.0) -> ProvidersConfig:  # fmt: skip
    """Both providers on a loopback server (its base URL), with short timeouts."""

    def settings(url: str) -> ProviderSettings:
        return ProviderSettings(
            base_url=url, timeout_s=timeout, max_retries=retries, deadline_s=deadline
        )

    return ProvidersConfig(
        MappingProxyType({"anthropic": settings(base_url), "openai": settings(base_url + "/v1")})
    )
