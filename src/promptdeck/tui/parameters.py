"""The parameters field of the editor: a JSON object, and what is wrong with it in
words a prompt writer knows (the parser's own "Extra data: line 1 column 3 (char 2)"
means little to them)."""

from __future__ import annotations

import json
from typing import Any

from textual.validation import ValidationResult, Validator

PARAMETERS_EXAMPLE = '{"temperature": 0.2, "max_tokens": 800}'


def json_problem(value: str, error: json.JSONDecodeError) -> str:
    """What is wrong with the parameters, in words a prompt writer knows (the parser's
    own message, e.g. "Extra data: line 1 column 3 (char 2)", means little to them)."""
    where = f"at character {error.pos + 1}"
    found = value[error.pos : error.pos + 12]
    if "'" in value and '"' not in value:
        return 'use double quotes ("), not single quotes, around names and text'
    if error.msg == "Extra data":
        return (
            f"something follows the closing }} ({found!r} {where}): "
            "remove it, or put it inside the braces"
        )
    if error.msg.startswith("Expecting property name"):
        if value[: error.pos].rstrip().endswith(","):
            return f"remove the comma before }} {where}"
        return f'names need double quotes, e.g. "temperature" ({where})'
    if error.msg == "Expecting ',' delimiter":
        return f"a comma is missing between two settings {where}"
    if error.msg == "Expecting ':' delimiter":
        return f"a colon is missing after the name {where}"
    if error.msg.startswith("Unterminated string"):
        return f"a quote opened {where} is never closed"
    if error.msg == "Expecting value":
        if not value[error.pos :].strip():
            return "the text ends too early: is a value or a closing } missing?"
        return (
            f'{found!r} {where} is not a value: use a number, "text" in double quotes, '
            "true, false or null"
        )
    return f"not valid {where}"


def parse_parameters(value: str) -> dict[str, Any]:
    """The parameters field as a dict; ValueError says what is wrong in plain words."""
    try:
        parsed = json.loads(value.strip() or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{json_problem(value, exc)}. Write a JSON object, e.g. {PARAMETERS_EXAMPLE}"
        ) from None
    if not isinstance(parsed, dict):
        raise ValueError(f"parameters are a JSON object in braces, e.g. {PARAMETERS_EXAMPLE}")
    return parsed


class JsonObject(Validator):
    """A JSON object (the parameters), e.g. ``{"temperature": 0.2}``."""

    def validate(self, value: str) -> ValidationResult:
        try:
            parse_parameters(value)
        except ValueError as exc:
            return self.failure(f"Parameters: {exc}")
        return self.success()
