"""Checks on what a user hands the store, each refusing with one clear line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from promptdeck.errors import ValidationError


def check_reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise ValidationError("a reason is required: say why (it cannot be empty)")
    if "\x00" in reason:  # PostgreSQL cannot store it; refuse alike on every backend
        raise ValidationError("the reason contains a NUL character")
    return reason.strip()


def check_prompt(system_prompt: str) -> str:
    if not isinstance(system_prompt, str) or not system_prompt.strip():
        raise ValidationError("the prompt text is empty")
    if "\x00" in system_prompt:
        raise ValidationError("the prompt text contains a NUL character")
    try:
        system_prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("the prompt text is not valid UTF-8") from None
    return system_prompt


def check_model(model: str) -> str:
    if not isinstance(model, str) or not model.strip() or len(model) > 200 or "\x00" in model:
        raise ValidationError("the model must be a non-empty name of at most 200 characters")
    return model.strip()


def check_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(parameters, Mapping):
        raise ValidationError("parameters must be a mapping of names to values")
    try:
        # A round trip through JSON proves the value is storable and copies it.
        copied: dict[str, Any] = json.loads(json.dumps(dict(parameters), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"parameters must be JSON values: {exc}") from None
    return copied


def check_percent(percent: int) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ValidationError(
            f"canary percentage must be a whole number from 0 to 100, not {percent}"
        )
    return percent
