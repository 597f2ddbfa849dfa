"""One set of limits for every backend, checked before anything is written. Pure.

SQLite stores almost anything; PostgreSQL refuses a version number past its ``integer``,
a name longer than its column, a NUL character or a lone surrogate. A store that accepted
such a value could never push again, so every writer (the store, YAML import, the CLI)
checks values here first. Each check returns the value to store, or raises a one-line
ValidationError naming the field.

| what | limit |
|---|---|
| version number | 1 .. 2**31-1 (PostgreSQL ``integer``) |
| feature name | 200 characters: letters, digits, ``.``, ``_``, ``-`` |
| environment name | 100 characters, same alphabet |
| user name (author, actor) | 100 characters, no control or bidi characters |
| version id | 36 characters, same alphabet as names (a UUID fits) |
| model | 200 characters, no control characters |
| reason | 10,000 characters; tab and line breaks allowed, other controls not |
| prompt text | 16 MiB of UTF-8; any character but NUL and lone surrogates |
| parameters | 1 MiB as JSON, 20 levels deep, 64-bit integers, finite numbers |
| canary percentage | 0 .. 100 (0 keeps a staged canary that serves nobody yet) |
| times | 1970-01-01 .. 2200-01-01 UTC |
| an imported file | 64 MiB |
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from promptdeck.errors import ValidationError

MAX_VERSION = 2**31 - 1  # PostgreSQL's integer
MAX_NAME = 200
MAX_ENVIRONMENT = 100
MAX_USER = 100
MAX_UID = 36
MAX_MODEL = 200
MAX_REASON = 10_000
MAX_PROMPT_BYTES = 16 * 1024 * 1024
MAX_PARAMETERS_BYTES = 1024 * 1024
MAX_PARAMETER_DEPTH = 20  # a mapping of mappings of lists... counted from the top mapping
MAX_PARAMETER_KEY = 200
MIN_PARAMETER_INT = -(2**63)  # what bigint columns and JSON parsers elsewhere hold
MAX_PARAMETER_INT = 2**63 - 1
MIN_PERCENT, MAX_PERCENT = 0, 100
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_IMPORT_FILE_BYTES = 64 * 1024 * 1024

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# C0 and C1 controls, DEL, line/paragraph separators and the bidi overrides and isolates
# that can make a name display as something else.
_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Prose (reasons) may hold tabs and line breaks, but no terminal escapes or other controls.
_PROSE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _picture(char: str) -> str:
    """A character as its escape, so an error never prints the control it complains of."""
    return ascii(char)[1:-1]


def check_unicode(text: str, what: str) -> str:
    """Refuse NUL and lone surrogates, which PostgreSQL (and UTF-8) cannot store."""
    position = text.find("\x00")
    if position >= 0:
        raise ValidationError(f"{what} contains a NUL character (at character {position + 1})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"{what} contains a lone surrogate {_picture(text[exc.start])} "
            f"(at character {exc.start + 1}), which is not valid Unicode text"
        ) from None
    return text


def _check_forbidden(text: str, what: str, pattern: re.Pattern[str]) -> None:
    found = pattern.search(text)
    if found:
        raise ValidationError(
            f"{what} contains the control character {_picture(found.group())} "
            f"(at character {found.start() + 1})"
        )


# --- names ---------------------------------------------------------------------------


def check_name(name: str, what: str = "feature", limit: int = MAX_NAME) -> str:
    """A feature or environment name: ASCII letters, digits, '.', '_', '-'."""
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > limit:
        shown = name[:40] + "..." if isinstance(name, str) and len(name) > 40 else name
        raise ValidationError(
            f"invalid {what} name {shown!r}: use letters, digits, '.', '_' and '-' "
            f"(at most {limit} characters, starting with a letter or digit)"
        )
    return name


def check_environment(name: str) -> str:
    return check_name(name, "environment", MAX_ENVIRONMENT)


def check_user(name: str, what: str = "user name") -> str:
    """A person's name as it is stored (author, actor): any script, no controls."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"the {what} is empty")
    check_unicode(name, f"the {what}")
    _check_forbidden(name, f"the {what}", _NAME_FORBIDDEN)
    if name != name.strip():
        raise ValidationError(f"the {what} {name!r} starts or ends with spaces")
    if len(name) > MAX_USER:
        raise ValidationError(f"the {what} is longer than {MAX_USER} characters")
    return name


def check_author(name: str) -> str:
    return check_user(name, "author")


def check_uid(uid: str) -> str:
    """A version id: a UUID, or any name-like id of at most 36 characters."""
    if not isinstance(uid, str) or not NAME_RE.match(uid) or len(uid) > MAX_UID:
        shown = uid[:40] + "..." if isinstance(uid, str) and len(uid) > 40 else uid
        raise ValidationError(
            f"invalid version id {shown!r}: at most {MAX_UID} letters, digits, '.', '_' "
            "and '-' (a UUID fits)"
        )
    return uid


# --- text ------------------------------------------------------------------------------


def check_reason(reason: str | None, what: str = "reason") -> str:
    """A reason, or a review's comment (``what``): prose, no controls, at most 10,000."""
    if reason is None or not isinstance(reason, str) or not reason.strip():
        raise ValidationError(f"a {what} is required: say why (it cannot be empty)")
    check_unicode(reason, f"the {what}")
    _check_forbidden(reason, f"the {what}", _PROSE_FORBIDDEN)
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise ValidationError(f"the {what} is longer than {MAX_REASON:,} characters")
    return reason


def check_prompt(system_prompt: str) -> str:
    """Prompt text is kept exactly (spaces, controls and all) up to 16 MiB of UTF-8."""
    if not isinstance(system_prompt, str) or not system_prompt.strip():
        raise ValidationError("the prompt text is empty")
    # Characters take 1-4 bytes: count bytes only when the length alone cannot decide.
    if len(system_prompt) > MAX_PROMPT_BYTES:
        raise ValidationError(_prompt_too_big(len(system_prompt)))
    check_unicode(system_prompt, "the prompt text")
    if len(system_prompt) * 4 > MAX_PROMPT_BYTES:
        size = len(system_prompt.encode("utf-8"))
        if size > MAX_PROMPT_BYTES:
            raise ValidationError(_prompt_too_big(size))
    return system_prompt


def _prompt_too_big(size: int) -> str:
    return (
        f"the prompt text is {size / 1024 / 1024:.1f} MiB; "
        f"at most {MAX_PROMPT_BYTES // 1024 // 1024} MiB can be stored"
    )


def check_model(model: str) -> str:
    if not isinstance(model, str) or not model.strip() or len(model.strip()) > MAX_MODEL:
        raise ValidationError(
            f"the model must be a non-empty name of at most {MAX_MODEL} characters"
        )
    check_unicode(model, "the model")
    _check_forbidden(model, "the model", _NAME_FORBIDDEN)
    return model.strip()


# --- numbers and times -----------------------------------------------------------------


def _is_whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_version_number(number: object, what: str = "version") -> int:
    if not _is_whole(number):
        raise ValidationError(f"{what} must be a whole number, not {_short(number)}")
    if number < 1:
        raise ValidationError(f"{what} must be 1 or more")
    if number > MAX_VERSION:
        raise ValidationError(f"{what} must be at most {MAX_VERSION}, not {_short(number)}")
    return number


def check_percent(percent: object) -> int:
    if _is_whole(percent) and MIN_PERCENT <= percent <= MAX_PERCENT:
        return percent
    raise ValidationError(
        f"canary percentage must be a whole number from {MIN_PERCENT} to {MAX_PERCENT}, "
        f"not {_short(percent)}"
    )


def check_timestamp(value: datetime, what: str = "created_at") -> datetime:
    """An aware UTC time within a sane range; a naive time is taken as UTC."""
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a time")
    given = value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the year 9999 in UTC
        value = LATEST
    if not EARLIEST <= value < LATEST:
        raise ValidationError(
            f"{what} must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC), "
            f"not {given.isoformat()}"
        )
    return value


def _short(value: object) -> str:
    if isinstance(value, int) and value.bit_length() > 128:  # repr() fails past 4,300 digits
        return f"a number of {int(value.bit_length() * 0.30103) + 1} digits"
    text = str(value) if isinstance(value, datetime) else repr(value)
    return text if len(text) <= 40 else text[:20] + f"... ({len(text)} characters)"


# --- parameters ------------------------------------------------------------------------


def check_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping of JSON values, bounded in depth, size and integer width, copied.

    Walks the value without recursion, so depth is refused before anything recurses,
    and stops as soon as the size passes the limit (shared sub-lists built in Python
    would otherwise expand without bound).
    """
    if not isinstance(parameters, Mapping):
        raise ValidationError("parameters must be a mapping of names to values")
    _walk_parameters(parameters, "parameters", 1)
    text = json.dumps(dict(parameters), ensure_ascii=False, allow_nan=False)
    if len(text.encode("utf-8")) > MAX_PARAMETERS_BYTES:
        raise ValidationError(_parameters_too_big())
    copied: dict[str, Any] = json.loads(text)
    return copied


def _parameters_too_big() -> str:
    return f"parameters are larger than {MAX_PARAMETERS_BYTES // 1024} KiB as JSON"


def _walk_parameters(top: Any, name: str, depth: int) -> None:
    size = 0
    stack: list[tuple[Any, str, int]] = [(top, name, depth)]
    while stack:
        value, where, depth = stack.pop()
        size += 2
        if size > MAX_PARAMETERS_BYTES:
            raise ValidationError(_parameters_too_big())
        if isinstance(value, Mapping):
            if depth > MAX_PARAMETER_DEPTH:
                raise ValidationError(_too_deep(where))
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValidationError(f"{where}: names must be text, not {_short(key)}")
                check_parameter_name(key, where)
                size += len(key) + 3
                stack.append((item, f"{where}.{key}", depth + 1))
        elif isinstance(value, list | tuple):
            if depth > MAX_PARAMETER_DEPTH:
                raise ValidationError(_too_deep(where))
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            check_unicode(value, where)
            size += len(value)
        elif isinstance(value, bool) or value is None:
            size += 4
        elif isinstance(value, int):
            if not MIN_PARAMETER_INT <= value <= MAX_PARAMETER_INT:
                raise ValidationError(f"{where} is too large a whole number (64-bit at most)")
            size += 20
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationError(f"{where} must be a finite number, not {value}")
            size += 20
        else:
            raise ValidationError(
                f"{where} must be text, a number, true/false, null, a list or a mapping, "
                f"not {type(value).__name__}"
            )


def _too_deep(where: str) -> str:
    shown = where if len(where) <= 60 else where[:60] + "..."
    return f"{shown} is nested more than {MAX_PARAMETER_DEPTH} levels deep"


def check_parameter_name(key: str, where: str = "parameters") -> str:
    check_unicode(key, f"{where}: a name")
    _check_forbidden(key, f"{where}: the name {key[:40]!r}", _NAME_FORBIDDEN)
    if len(key) > MAX_PARAMETER_KEY:
        raise ValidationError(f"{where}: a name is longer than {MAX_PARAMETER_KEY} characters")
    return key


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def parse_parameter_value(text: str) -> Any:
    """A ``--param`` value: JSON when it parses, else the text itself.

    Never raises RecursionError or the interpreter's digit-limit ValueError: depth is
    measured before parsing, integers are bounded while parsing.
    """
    if len(text) > MAX_PARAMETERS_BYTES:
        raise ValidationError(
            f"the parameter value is larger than {MAX_PARAMETERS_BYTES // 1024} KiB"
        )
    check_unicode(text, "the parameter value")
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        depth = depth + 1 if bracket in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    if deepest > MAX_PARAMETER_DEPTH - 1:  # the value sits one level below parameters
        raise ValidationError(
            f"the parameter value is nested more than {MAX_PARAMETER_DEPTH - 1} levels deep"
        )
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except json.JSONDecodeError:
        return text  # plain text needs no quotes
    _walk_parameters(value, "the parameter value", 2)
    return value


def _bounded_int(digits: str) -> int:
    # 19 digits and a sign cover every 64-bit integer; longer is refused before int().
    if len(digits.lstrip("-")) > 19 or not (MIN_PARAMETER_INT <= int(digits) <= MAX_PARAMETER_INT):
        raise ValidationError(
            f"the parameter value {_short(digits)} is too large a whole number (64-bit at most)"
        )
    return int(digits)


def _no_constant(name: str) -> Any:
    raise ValidationError(f"the parameter value must be a finite number, not {name}")
