"""Model calls through the official SDKs: Anthropic (messages) and OpenAI (chat completions).

The SDKs are optional extras, imported only when a call is made, so the runtime library
stays light. The OpenAI client also covers OpenAI-compatible servers (Ollama, vLLM,
llama.cpp) through a base URL in the config file::

    [providers.openai]
    base_url = "http://localhost:11434/v1"
    models = ["llama3.1:8b"]     # these models go to this provider
    timeout = 60                 # seconds per HTTP attempt
    max_retries = 2              # the SDK's own retries (429 with retry-after, 5xx)
    deadline = 180               # seconds for the whole call, retries included

Which provider answers a model: an explicit ``anthropic:`` / ``openai:`` prefix, else a
provider's ``models`` list in the config, else ``claude-*`` goes to Anthropic and every
other name to OpenAI.

API keys come only from the environment (ANTHROPIC_API_KEY, OPENAI_API_KEY). They are
handed to the SDK client and nowhere else: never stored, printed, or put in an error
(messages are scrubbed of them in case a server echoes one back).
"""

from __future__ import annotations

import asyncio
import importlib
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from promptdeck.checks.model_call import ModelReply, ModelRequest, ProviderError
from promptdeck.errors import ValidationError

ProviderName = Literal["anthropic", "openai"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("anthropic", "openai")
KEY_VARIABLES: dict[ProviderName, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
}
DEFAULT_MAX_TOKENS = 1024  # Anthropic requires max_tokens; used when a version has none
MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    base_url: str | None = None
    models: tuple[str, ...] = ()
    timeout_s: float = 60.0  # one HTTP attempt
    max_retries: int = 2  # the SDK retries 429 (honouring retry-after), 408, 409, 5xx
    # The whole call with its retries: the Anthropic SDK waits as long as a retry-after
    # asks, so a server saying "come back in an hour" must not hang the run.
    deadline_s: float = 180.0


@dataclass(frozen=True, slots=True)
class ProvidersConfig:
    settings: Mapping[ProviderName, ProviderSettings] = field(
        default_factory=lambda: MappingProxyType(
            {name: ProviderSettings() for name in PROVIDER_NAMES}
        )
    )

    def for_provider(self, name: ProviderName) -> ProviderSettings:
        return self.settings.get(name, ProviderSettings())

    def route(self, model: str) -> tuple[ProviderName, str]:
        """(provider, model name to send) for a version's model."""
        for name in PROVIDER_NAMES:
            if model.startswith(f"{name}:"):
                return name, model[len(name) + 1 :]
        for name in PROVIDER_NAMES:
            if model in self.for_provider(name).models:
                return name, model
        return ("anthropic" if model.startswith("claude") else "openai"), model

    @classmethod
    def from_config(cls, table: object, source: str = "config") -> ProvidersConfig:
        """From the config file's ``[providers.NAME]`` tables (None: the defaults)."""
        settings = {name: ProviderSettings() for name in PROVIDER_NAMES}
        if table is None:
            return cls(MappingProxyType(settings))
        if not isinstance(table, Mapping):
            raise ValidationError(f"{source}: 'providers' must be a table")
        for name, entry in table.items():
            where = f"{source}: [providers.{name}]"
            if name not in PROVIDER_NAMES:
                raise ValidationError(f"{where}: unknown provider (known: anthropic, openai)")
            settings[name] = _parse_settings(entry, where)
        return cls(MappingProxyType(settings))


def _parse_settings(entry: object, where: str) -> ProviderSettings:
    if not isinstance(entry, Mapping):
        raise ValidationError(f"{where} must be a table")
    known = {"base_url", "models", "timeout", "max_retries", "deadline"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ValidationError(
            f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})"
        )
    base_url = entry.get("base_url")
    if base_url is not None and (not isinstance(base_url, str) or "://" not in base_url):
        raise ValidationError(
            f"{where}: 'base_url' must be a URL such as http://localhost:11434/v1"
        )
    models = entry.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ValidationError(f"{where}: 'models' must be a list of model names")

    def seconds(key: str, default: float) -> float:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"{where}: '{key}' must be a number of seconds")
        if not 0 < value <= 3600 or not math.isfinite(value):
            raise ValidationError(f"{where}: '{key}' must be between 0 and 3600 seconds")
        return float(value)

    retries = entry.get("max_retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise ValidationError(f"{where}: 'max_retries' must be a whole number from 0 to 10")
    return ProviderSettings(
        base_url=base_url,
        models=tuple(models),
        timeout_s=seconds("timeout", 60.0),
        max_retries=retries,
        deadline_s=seconds("deadline", 180.0),
    )


def load_providers_config(path: Path | None = None) -> ProvidersConfig:
    """The ``[providers.*]`` tables of the config file."""
    from promptdeck.config import config_path, read_config_data

    path = path or config_path()
    return ProvidersConfig.from_config(
        read_config_data(path).get("providers"), f"config file {path}"
    )


class Providers:
    """The SDK clients of one run, created on first use; ``async with`` closes them.

    One async client per provider is shared by all concurrent calls (its connection
    pool is what makes concurrency cheap). Create it inside the event loop that uses it.
    """

    def __init__(
        self, config: ProvidersConfig | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.config = config or ProvidersConfig()
        self._environ = os.environ if environ is None else environ
        self._clients: dict[ProviderName, Any] = {}
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Providers:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()

    def _secrets(self) -> list[str]:
        values = (self._environ.get(variable) for variable in KEY_VARIABLES.values())
        return [value for value in values if value]

    def scrub(self, message: str) -> str:
        """``message`` without any API key in it (servers sometimes echo one back)."""
        for secret in sorted(self._secrets(), key=len, reverse=True):
            message = message.replace(secret, "***")
        return message

    async def _client(self, name: ProviderName) -> Any:
        async with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._clients[name] = await self._new_client(name)
            return client

    async def _new_client(self, name: ProviderName) -> Any:
        settings = self.config.for_provider(name)
        key = self._environ.get(KEY_VARIABLES[name]) or None
        if key is None and settings.base_url is None:
            raise ProviderError(
                f"{KEY_VARIABLES[name]} is not set: export it to run checks with {name} models",
                kind="auth",
            )
        options: dict[str, Any] = {
            "timeout": settings.timeout_s,
            "max_retries": settings.max_retries,
        }
        if settings.base_url is not None:
            options["base_url"] = settings.base_url
        try:
            # The SDKs take a second or two to import: not on the event loop's thread.
            sdk = await asyncio.to_thread(importlib.import_module, name)
        except ImportError:
            raise ProviderError(
                f"the {name} package is not installed: pip install 'promptdeck[{name}]'",
                kind="config",
            ) from None
        # A key is passed even for a base URL without auth, so that the SDK never looks
        # for credentials elsewhere (profiles on disk): keys come from the environment.
        if name == "anthropic":
            return sdk.AsyncAnthropic(api_key=key or "unused", **options)
        return sdk.AsyncOpenAI(api_key=key or "unused", **options)

    async def preflight(self, models: tuple[str, ...]) -> None:
        """Create the clients these models need: ProviderError for a missing key or SDK."""
        for model in models:
            await self._client(self.config.route(model)[0])

    async def complete(self, request: ModelRequest) -> ModelReply:
        """One answer; any failure to get one raises ProviderError with a safe message."""
        name, model = self.config.route(request.model)
        settings = self.config.for_provider(name)
        client = await self._client(name)
        began = time.perf_counter()
        try:
            async with asyncio.timeout(settings.deadline_s):
                if name == "anthropic":
                    reply = await _anthropic_call(client, model, request)
                else:
                    reply = await _openai_call(client, model, request)
            return replace(reply, latency_ms=(time.perf_counter() - began) * 1000)
        except ProviderError:
            raise
        except TimeoutError:
            raise ProviderError(
                f"{name} gave no answer within {settings.deadline_s:g} s (retries included)",
                kind="timeout",
            ) from None
        except Exception as exc:
            error = _translate(name, exc, settings)
            if error is None:
                raise
            raise ProviderError(self.scrub(str(error)), kind=error.kind) from None


def _split_parameters(
    parameters: Mapping[str, object],
) -> tuple[int, list[str] | None, dict[str, object]]:
    """(max_tokens, stop sequences, the other parameters) from a version's parameters."""
    rest = dict(parameters)
    max_tokens = rest.pop("max_tokens", None)
    if max_tokens is None:
        max_tokens = rest.pop("max_completion_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ProviderError(
            f"parameter max_tokens must be a positive whole number, not {max_tokens!r}",
            kind="config",
        )
    stop = rest.pop("stop_sequences", None)
    if stop is None:
        stop = rest.pop("stop", None)
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise ProviderError("parameter stop must be a text or a list of texts", kind="config")
    return max_tokens, stop, rest


async def _anthropic_call(client: Any, model: str, request: ModelRequest) -> ModelReply:
    max_tokens, stop, rest = _split_parameters(request.parameters)
    options: dict[str, Any] = {}
    if stop:
        options["stop_sequences"] = stop
    if request.system:
        options["system"] = request.system
    # temperature, top_p, top_k and anything newer travel in the body as the version
    # says: the SDK's keyword arguments differ between its major versions.
    message = await client.messages.create(
        model=model,
        max_tokens=max_tokens,
        messages=[{"role": m.role, "content": m.content} for m in request.messages],
        extra_body=rest or None,
        **options,
    )
    text = "".join(
        block.text for block in message.content if getattr(block, "type", None) == "text"
    )
    usage = message.usage
    return ModelReply(
        text=text,
        input_tokens=int(usage.input_tokens or 0),
        output_tokens=int(usage.output_tokens or 0),
        model=str(message.model),
    )


async def _openai_call(client: Any, model: str, request: ModelRequest) -> ModelReply:
    max_tokens, stop, rest = _split_parameters(request.parameters)
    body: dict[str, object] = dict(rest)
    token_key = (
        "max_completion_tokens" if "max_completion_tokens" in request.parameters else "max_tokens"
    )
    body[token_key] = max_tokens
    if stop:
        body["stop"] = stop
    messages: list[dict[str, str]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend({"role": m.role, "content": m.content} for m in request.messages)
    completion = await client.chat.completions.create(
        model=model, messages=messages, extra_body=body
    )
    if not completion.choices:
        raise ProviderError("openai answered without any choice", kind="answer")
    text = completion.choices[0].message.content or ""
    usage = completion.usage
    return ModelReply(
        text=text,
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        model=str(completion.model or model),
    )


def _translate(
    name: ProviderName, exc: Exception, settings: ProviderSettings
) -> ProviderError | None:
    """The SDK's exception as a ProviderError, or None for something that is not the SDK's."""
    module = type(exc).__module__.split(".")[0]
    if module not in ("anthropic", "openai", "httpx", "httpx2", "httpcore"):
        return None
    type_name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    retries = settings.max_retries
    where = _server(settings.base_url) if settings.base_url else name
    if type_name == "APITimeoutError":
        return ProviderError(
            f"{where} gave no answer within {settings.timeout_s:g} s ({retries} retries)",
            kind="timeout",
        )
    if type_name == "APIConnectionError":
        return ProviderError(f"cannot reach {where}: {_cause(exc)}", kind="connection")
    if isinstance(status, int):
        detail = _status_detail(exc)
        if status == 429:
            return ProviderError(
                f"{where} rate limit (HTTP 429) still hit after {retries} retries: {detail}",
                kind="rate-limit",
            )
        if status in (401, 403):
            return ProviderError(
                f"{where} refused the API key in {KEY_VARIABLES[name]} (HTTP {status}): {detail}",
                kind="auth",
            )
        return ProviderError(f"{where} answered HTTP {status}: {detail}", kind="status")
    return ProviderError(f"{where}: {_short(str(exc))}", kind="answer")


def _server(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url  # never a user:password part


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(cause) if cause is not None and str(cause) else str(exc)
    return _short(text)


def _status_detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return _short(error["message"])
        if isinstance(body.get("message"), str):
            return _short(body["message"])
    return _short(getattr(exc, "message", None) or str(exc))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."
