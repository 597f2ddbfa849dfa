"""What goes to a model and what comes back, whatever the provider. Pure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from promptdeck.checks.suite import Message
from promptdeck.errors import PromptDeckError

ErrorKind = Literal["rate-limit", "timeout", "connection", "status", "auth", "config", "answer"]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    model: str  # may carry an explicit "anthropic:" / "openai:" prefix
    system: str
    messages: tuple[Message, ...]
    parameters: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelReply:
    text: str
    input_tokens: int
    output_tokens: int
    model: str  # the model the provider says answered
    latency_ms: float | None = None  # the call itself, retries included (None: not measured)


class ProviderError(PromptDeckError):
    """A call that did not produce an answer: an ERROR for the case, not a failure.

    The message is safe to show and store: it never holds an API key.
    """

    def __init__(self, message: str, *, kind: ErrorKind) -> None:
        super().__init__(message)
        self.kind = kind


# A provider's call, as the runner and the judge use it.
Complete = Callable[[ModelRequest], Awaitable[ModelReply]]
