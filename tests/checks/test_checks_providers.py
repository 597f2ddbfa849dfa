"""The real SDK clients against the loopback server: wire formats, parameters, errors."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import anthropic  # noqa: F401  imported up front: timings measure calls, not imports
import openai  # noqa: F401
import pytest
from checks_helpers import ANTHROPIC_KEY, ENV, OPENAI_KEY, fast_config
from llm_server import LLMServer, answer, error, hang

from promptdeck.checks.model_call import ModelReply, ModelRequest, ProviderError
from promptdeck.checks.providers import (
    Providers,
    ProvidersConfig,
    ProviderSettings,
    load_providers_config,
)
from promptdeck.checks.suite import Message
from promptdeck.errors import ValidationError


def call(
    config: ProvidersConfig,
    model: str,
    text: str = "hi",
    parameters: dict[str, object] | None = None,
    environ: dict[str, str] | None = None,
) -> ModelReply:
    async def main() -> ModelReply:
        async with Providers(config, ENV if environ is None else environ) as providers:
            request = ModelRequest(
                model, "You are terse.", (Message("user", text),), parameters or {}
            )
            return await providers.complete(request)

    return asyncio.run(main())


def test_routing_by_prefix_config_and_name() -> None:
    config = ProvidersConfig.from_config({"openai": {"models": ["claude-lookalike"]}})
    assert config.route("claude-sonnet-4-20250514") == ("anthropic", "claude-sonnet-4-20250514")
    assert config.route("gpt-4o") == ("openai", "gpt-4o")
    assert config.route("llama3.1:8b") == ("openai", "llama3.1:8b")
    assert config.route("anthropic:my-proxy-model") == ("anthropic", "my-proxy-model")
    assert config.route("openai:claude-via-gateway") == ("openai", "claude-via-gateway")
    assert config.route("claude-lookalike") == ("openai", "claude-lookalike")


def test_anthropic_messages_wire_format_and_parameters(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    llm.script("hi", answer("Hello!", input_tokens=31, output_tokens=3))
    parameters = {"max_tokens": 800, "temperature": 0.2, "top_p": 0.9, "stop": ["HANDOFF"]}
    reply = call(config, "claude-sonnet-4-20250514", parameters=parameters)
    assert (reply.text, reply.input_tokens, reply.output_tokens) == ("Hello!", 31, 3)
    assert reply.latency_ms is not None and reply.latency_ms > 0
    (seen,) = llm.requests
    assert seen.path == "/v1/messages"
    assert seen.body == {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 800,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "hi"}],
        "stop_sequences": ["HANDOFF"],
        "temperature": 0.2,
        "top_p": 0.9,
    }
    assert seen.api_key == ANTHROPIC_KEY  # x-api-key or a bearer token, by SDK version


def test_openai_chat_completions_wire_format_and_parameters(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    llm.script("hi", answer("Hello!", input_tokens=12, output_tokens=2))
    reply = call(config, "gpt-4o", parameters={"max_tokens": 300, "temperature": 0, "seed": 7})
    assert (reply.text, reply.input_tokens, reply.output_tokens) == ("Hello!", 12, 2)
    (seen,) = llm.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.body == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
        ],
        "max_tokens": 300,
        "temperature": 0,
        "seed": 7,
    }
    assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_anthropic_gets_a_default_max_tokens(llm: LLMServer, config: ProvidersConfig) -> None:
    call(config, "claude-3-5-haiku-20241022")
    assert llm.requests[0].body["max_tokens"] == 1024


def test_a_429_with_retry_after_is_retried_by_the_sdk(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    for model in ("claude-3-5-haiku-20241022", "gpt-4o-mini"):
        text = f"busy {model}"
        llm.script(text, error(429, "rate limited", retry_after=0.3), answer("finally"))
        began = time.perf_counter()
        assert call(config, model, text).text == "finally"
        assert time.perf_counter() - began >= 0.3  # the retry-after was honoured
        assert len(llm.requests_for(text)) == 2


@pytest.mark.parametrize("model", ["claude-3-5-haiku-20241022", "gpt-4o-mini"])
def test_a_lasting_rate_limit_is_a_rate_limit_error(
    llm: LLMServer, config: ProvidersConfig, model: str
) -> None:
    llm.script("hi", error(429, "slow down", retry_after=0.05))
    with pytest.raises(ProviderError) as caught:
        call(config, model)
    assert caught.value.kind == "rate-limit"
    assert "HTTP 429" in str(caught.value) and "slow down" in str(caught.value)
    assert len(llm.requests) == 2  # one try and the configured retry


@pytest.mark.parametrize("model", ["claude-3-5-haiku-20241022", "gpt-4o-mini"])
def test_a_server_error_is_retried_then_reported(
    llm: LLMServer, config: ProvidersConfig, model: str
) -> None:
    llm.script("hi", error(500, "database on fire"))
    with pytest.raises(ProviderError) as caught:
        call(config, model)
    assert caught.value.kind == "status"
    assert (
        str(caught.value)
        == f"{llm.url.removeprefix('http://')} answered HTTP 500: database on fire"
    )

    llm.script("again", error(500, "blip"), answer("recovered"))
    assert call(config, model, "again").text == "recovered"


@pytest.mark.parametrize("model", ["claude-3-5-haiku-20241022", "gpt-4o-mini"])
def test_no_answer_in_time_is_a_timeout(llm: LLMServer, model: str) -> None:
    llm.script("hi", hang(5))
    config = fast_config(llm.url, timeout=0.3, retries=1)
    began = time.perf_counter()
    with pytest.raises(ProviderError) as caught:
        call(config, model)
    assert caught.value.kind == "timeout"
    assert "no answer within 0.3 s" in str(caught.value)
    assert time.perf_counter() - began < 4


def test_the_whole_call_has_a_deadline_even_when_retry_after_is_long(llm: LLMServer) -> None:
    llm.script("hi", error(429, "come back in an hour", retry_after=3600))
    config = fast_config(llm.url, deadline=0.5)
    began = time.perf_counter()
    with pytest.raises(ProviderError) as caught:
        call(config, "claude-3-5-haiku-20241022")
    assert caught.value.kind in ("timeout", "rate-limit")
    assert time.perf_counter() - began < 3


def test_a_slow_answer_within_the_timeout_is_an_answer(
    llm: LLMServer, config: ProvidersConfig
) -> None:
    llm.script("hi", answer("worth the wait", delay=0.4))
    reply = call(config, "gpt-4o")
    assert reply.text == "worth the wait"
    assert reply.latency_ms is not None and reply.latency_ms >= 400


def test_nothing_listening_is_a_connection_error() -> None:
    with LLMServer() as gone:
        config = fast_config(gone.url, retries=0)
    with pytest.raises(ProviderError) as caught:
        call(config, "gpt-4o")
    assert caught.value.kind == "connection"
    assert "cannot reach 127.0.0.1" in str(caught.value)


def test_a_missing_key_is_named_without_calling_anyone() -> None:
    with pytest.raises(ProviderError) as caught:
        call(ProvidersConfig(), "claude-sonnet-4-20250514", environ={})
    assert caught.value.kind == "auth"
    assert str(caught.value) == (
        "ANTHROPIC_API_KEY is not set: export it to run checks with anthropic models"
    )


def test_a_local_server_needs_no_key(llm: LLMServer) -> None:
    config = fast_config(llm.url)
    assert call(config, "llama3.1:8b", environ={}).text == "OK"


@pytest.mark.parametrize("model", ["claude-3-5-haiku-20241022", "gpt-4o-mini"])
def test_a_refused_key_echoed_by_the_server_is_scrubbed(model: str) -> None:
    with LLMServer(required_key="the-right-key") as server, pytest.raises(ProviderError) as caught:
        call(fast_config(server.url), model)
    message = str(caught.value)
    assert caught.value.kind == "auth"
    assert "refused the API key" in message
    assert ANTHROPIC_KEY not in message and OPENAI_KEY not in message
    assert "***" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_provider_settings_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[providers.openai]\nbase_url = "http://localhost:11434/v1"\nmodels = ["llama3.1:8b"]\n'
        "timeout = 30\nmax_retries = 4\ndeadline = 90\n",
        encoding="utf-8",
    )
    config = load_providers_config(path)
    assert config.for_provider("openai") == ProviderSettings(
        base_url="http://localhost:11434/v1",
        models=("llama3.1:8b",),
        timeout_s=30.0,
        max_retries=4,
        deadline_s=90.0,
    )
    assert config.for_provider("anthropic") == ProviderSettings()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[providers.mistral]\nbase_url = 'http://x'\n", "[providers.mistral]: unknown provider"),
        ("[providers.openai]\nbase_url = 'localhost'\n", "'base_url' must be a URL"),
        ("[providers.openai]\ntimeout = 0\n", "'timeout' must be between 0 and 3600 seconds"),
        ("[providers.openai]\nmax_retries = -1\n", "'max_retries' must be a whole number"),
        ("[providers.openai]\napi_key = 'sk-...'\n", "unknown key 'api_key'"),
    ],
)
def test_bad_provider_settings_are_one_clear_line(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_providers_config(path)
