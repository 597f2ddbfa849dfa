"""A feature's behavioural test suite, parsed and validated from plain data. Pure.

The data is what YAML gives (mappings, lists, strings, numbers), in promptfoo's
vocabulary where one exists::

    grader: claude-3-5-haiku-20241022      # optional default model for `judge`
    cases:
      - name: refund request in German
        vars: {customer_name: Jonas, product_name: Taskly}
        input: Ich will mein Geld zurück!   # or `messages:` [{role, content}, ...]
        repeat: 3                           # ask 3 times (answers vary)
        threshold: 2                        # pass when at least 2 of the 3 pass
        assert:
          - type: language
            value: de
          - type: not-contains
            value: [Rückerstattung, refund]
            ignore_case: true

``threshold`` is a COUNT of passing repeats (1..repeat, default: every repeat). A
count, not a fraction, because fractions round surprisingly (0.67 of 3 needs 3).

Assertion kinds and their options (aliases accepted on input, the canonical kind on
export):

| kind | value | options |
|---|---|---|
| contains, not-contains | text or list of texts | match: any/all, ignore_case |
| regex | a Python regular expression | ignore_case |
| equals, starts-with | text | ignore_case |
| is-json | (none) | |
| json-schema | a JSON Schema (checked at parse time) | |
| max-chars, max-tokens, max-latency-ms | a positive integer | |
| max-cost | USD, a positive number | |
| language | ISO 639-1 code | |
| judge | a rubric (`rubric:` or `value:`) | grader: model |

Aliases: icontains, contains-any, contains-all, icontains-any, icontains-all,
not-icontains, icontains, iequals -> the canonical kind with options; llm-rubric -> judge;
latency -> max-latency-ms; cost -> max-cost (promptfoo's `threshold` is the limit).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from promptdeck.errors import ValidationError

# --- limits: a suite is user input -------------------------------------------------

MAX_CASES = 200
MAX_REPEAT = 20
MAX_RUNS_PER_SUITE = 1000  # cases x repeats, the model calls one run makes
MAX_ASSERTIONS_PER_CASE = 30
MAX_MESSAGES_PER_CASE = 50
MAX_VARIABLES_PER_CASE = 100
MAX_NAME_CHARS = 120
MAX_TEXT_CHARS = 50_000  # an input message, a variable value, a rubric
MAX_VALUE_CHARS = 10_000  # one assertion text value or regex
MAX_VALUES = 100  # texts in one contains list
MAX_SCHEMA_CHARS = 50_000  # a JSON Schema, as JSON

ASSERTION_KINDS = (
    "contains",
    "not-contains",
    "regex",
    "equals",
    "starts-with",
    "is-json",
    "json-schema",
    "max-chars",
    "max-tokens",
    "max-latency-ms",
    "max-cost",
    "language",
    "judge",
)
TEXT_KINDS = ("contains", "not-contains", "regex", "equals", "starts-with")
LIMIT_KINDS = ("max-chars", "max-tokens", "max-latency-ms", "max-cost")

# alias -> (canonical kind, options it implies)
_ALIASES: dict[str, tuple[str, dict[str, object]]] = {
    "icontains": ("contains", {"ignore_case": True}),
    "contains-any": ("contains", {"match": "any"}),
    "contains-all": ("contains", {"match": "all"}),
    "icontains-any": ("contains", {"match": "any", "ignore_case": True}),
    "icontains-all": ("contains", {"match": "all", "ignore_case": True}),
    "not-icontains": ("not-contains", {"ignore_case": True}),
    "iequals": ("equals", {"ignore_case": True}),
    "starts_with": ("starts-with", {}),
    "llm-rubric": ("judge", {}),
    "latency": ("max-latency-ms", {}),
    "cost": ("max-cost", {}),
}

Match = Literal["any", "all"]
Role = Literal["user", "assistant"]
VariableValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Assertion:
    """One check on an answer. Only the fields its ``kind`` uses are set."""

    kind: str
    values: tuple[str, ...] = ()  # text kinds: the text(s) or the regex
    match: Match = "any"  # contains / not-contains with several values
    ignore_case: bool = False
    limit: float | None = None  # max-* kinds
    schema: Mapping[str, object] | None = None  # json-schema
    language: str | None = None  # language: ISO 639-1 code, lower case
    rubric: str | None = None  # judge
    grader: str | None = None  # judge: model that grades (default: the suite's)

    def describe(self) -> str:
        """A short human label, e.g. ``not-contains any of "refund", "credit"``."""
        if self.kind in TEXT_KINDS:
            quoted = ", ".join(json.dumps(v, ensure_ascii=False) for v in self.values)
            several = len(self.values) > 1
            which = f"{self.match} of " if several else ""
            case = " (ignoring case)" if self.ignore_case else ""
            return f"{self.kind} {which}{quoted}{case}"
        if self.kind in LIMIT_KINDS:
            return f"{self.kind} {_format_number(self.limit)}"
        if self.kind == "language":
            return f"language {self.language}"
        if self.kind == "judge":
            rubric = self.rubric or ""
            short = rubric if len(rubric) <= 60 else rubric[:57] + "..."
            return f"judge: {short}"
        return self.kind


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    variables: Mapping[str, VariableValue]
    messages: tuple[Message, ...]  # ends with a user message
    assertions: tuple[Assertion, ...]
    repeat: int = 1
    threshold: int = 1  # passing repeats needed, 1..repeat

    @property
    def single_input(self) -> bool:
        """Whether the case was written as one ``input`` string."""
        return len(self.messages) == 1


@dataclass(frozen=True, slots=True)
class Suite:
    cases: tuple[Case, ...]
    grader: str | None = None  # default model for judge assertions

    @property
    def total_runs(self) -> int:
        """Model calls for the answers (judges not counted)."""
        return sum(case.repeat for case in self.cases)


def _format_number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else repr(value)


# --- parsing -------------------------------------------------------------------------


class _Where:
    """Builds the one-line error messages: ``source: case 'x': assert #2 (regex): ...``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ValidationError:
        prefix = f"{self.source}: " if self.source else ""
        return ValidationError(f"{prefix}{where}: {message}" if where else f"{prefix}{message}")


def _mapping(value: object, where: str, at: _Where) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise at.fail(where, f"must be a mapping, not {_type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise at.fail(where, f"keys must be text, not {_type_name(key)}")
    return value


def _type_name(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _text(value: object, where: str, at: _Where, *, limit: int, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise at.fail(where, f"must be text, not {_type_name(value)}")
    if not empty_ok and not value.strip():
        raise at.fail(where, "must not be empty")
    if len(value) > limit:
        raise at.fail(where, f"is too long ({len(value)} characters, at most {limit})")
    return value


def _unknown_keys(data: Mapping[str, object], allowed: set[str], where: str, at: _Where) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise at.fail(where, f"unknown key '{unknown[0]}' (known: {known})")


def _positive_int(value: object, where: str, at: _Where, *, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise at.fail(where, f"must be a whole number, not {_type_name(value)}")
    if not 1 <= value <= maximum:
        raise at.fail(where, f"must be between 1 and {maximum}, not {value}")
    return value


def parse_suite(data: object, source: str = "") -> Suite:
    """A validated Suite from plain data; a ValidationError names the case and field."""
    at = _Where(source)
    top = _mapping(data, "suite", at)
    _unknown_keys(top, {"cases", "grader"}, "suite", at)
    grader = None
    if top.get("grader") is not None:
        grader = _text(top["grader"], "suite: grader", at, limit=MAX_NAME_CHARS).strip()
    raw_cases = top.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise at.fail("suite", "'cases' must be a non-empty list of cases")
    if len(raw_cases) > MAX_CASES:
        raise at.fail("suite", f"has {len(raw_cases)} cases, at most {MAX_CASES}")
    cases: list[Case] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_cases, 1):
        case = _parse_case(raw, index, at)
        if case.name in seen:
            raise at.fail(f"case '{case.name}'", "the name is used by another case")
        seen.add(case.name)
        cases.append(case)
    runs = sum(case.repeat for case in cases)
    if runs > MAX_RUNS_PER_SUITE:
        raise at.fail(
            "suite", f"asks for {runs} answers (cases x repeat), at most {MAX_RUNS_PER_SUITE}"
        )
    return Suite(cases=tuple(cases), grader=grader)


_CASE_KEYS = {"name", "vars", "input", "messages", "repeat", "threshold", "assert"}


def _parse_case(raw: object, index: int, at: _Where) -> Case:
    data = _mapping(raw, f"case #{index}", at)
    name_value = data.get("name")
    if name_value is None:
        raise at.fail(f"case #{index}", "needs a 'name'")
    name = _text(name_value, f"case #{index}: name", at, limit=MAX_NAME_CHARS).strip()
    where = f"case '{name}'"
    _unknown_keys(data, _CASE_KEYS, where, at)

    variables = _parse_variables(data.get("vars"), where, at)
    messages = _parse_messages(data, where, at)

    repeat = 1
    if data.get("repeat") is not None:
        repeat = _positive_int(data["repeat"], f"{where}: repeat", at, maximum=MAX_REPEAT)
    threshold = repeat
    if data.get("threshold") is not None:
        value = data["threshold"]
        if isinstance(value, float):
            raise at.fail(
                f"{where}: threshold",
                f"is a count of passing repeats (1..{repeat}), e.g. 2 for 2 of 3, not {value}",
            )
        threshold = _positive_int(value, f"{where}: threshold", at, maximum=repeat)

    raw_assertions = data.get("assert")
    if not isinstance(raw_assertions, list) or not raw_assertions:
        raise at.fail(f"{where}: assert", "must be a non-empty list of assertions")
    if len(raw_assertions) > MAX_ASSERTIONS_PER_CASE:
        raise at.fail(
            f"{where}: assert",
            f"has {len(raw_assertions)} assertions, at most {MAX_ASSERTIONS_PER_CASE}",
        )
    assertions = tuple(
        parse_assertion(item, f"{where}: assert #{number}", source=at.source)
        for number, item in enumerate(raw_assertions, 1)
    )
    return Case(
        name=name,
        variables=variables,
        messages=messages,
        assertions=assertions,
        repeat=repeat,
        threshold=threshold,
    )


def _parse_variables(raw: object, where: str, at: _Where) -> dict[str, VariableValue]:
    if raw is None:
        return {}
    data = _mapping(raw, f"{where}: vars", at)
    if len(data) > MAX_VARIABLES_PER_CASE:
        raise at.fail(
            f"{where}: vars", f"has {len(data)} variables, at most {MAX_VARIABLES_PER_CASE}"
        )
    variables: dict[str, VariableValue] = {}
    for key, value in data.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise at.fail(f"{where}: vars", f"'{key}' is not a variable name (letters, digits, _)")
        if not isinstance(value, str | int | float | bool):
            raise at.fail(
                f"{where}: vars: {key}", f"must be text or a number, not {_type_name(value)}"
            )
        if isinstance(value, str):
            _text(value, f"{where}: vars: {key}", at, limit=MAX_TEXT_CHARS, empty_ok=True)
        variables[key] = value
    return variables


def _parse_messages(data: Mapping[str, object], where: str, at: _Where) -> tuple[Message, ...]:
    has_input, has_messages = data.get("input") is not None, data.get("messages") is not None
    if has_input == has_messages:
        raise at.fail(where, "needs either 'input' (one user message) or 'messages', not both")
    if has_input:
        text = _text(data["input"], f"{where}: input", at, limit=MAX_TEXT_CHARS)
        return (Message("user", text),)
    raw = data["messages"]
    if not isinstance(raw, list) or not raw:
        raise at.fail(f"{where}: messages", "must be a non-empty list of {role, content}")
    if len(raw) > MAX_MESSAGES_PER_CASE:
        raise at.fail(
            f"{where}: messages", f"has {len(raw)} messages, at most {MAX_MESSAGES_PER_CASE}"
        )
    messages: list[Message] = []
    for number, item in enumerate(raw, 1):
        here = f"{where}: messages #{number}"
        entry = _mapping(item, here, at)
        _unknown_keys(entry, {"role", "content"}, here, at)
        role = entry.get("role")
        if role not in ("user", "assistant"):
            raise at.fail(f"{here}: role", f"must be user or assistant, not {role!r}")
        content = _text(entry.get("content"), f"{here}: content", at, limit=MAX_TEXT_CHARS)
        messages.append(Message("user" if role == "user" else "assistant", content))
    if messages[-1].role != "user":
        raise at.fail(f"{where}: messages", "must end with a user message (the one answered)")
    return tuple(messages)


_ASSERTION_KEYS: dict[str, set[str]] = {
    "contains": {"value", "match", "ignore_case"},
    "not-contains": {"value", "match", "ignore_case"},
    "regex": {"value", "ignore_case"},
    "equals": {"value", "ignore_case"},
    "starts-with": {"value", "ignore_case"},
    "is-json": set(),
    "json-schema": {"value", "schema"},
    "max-chars": {"value", "threshold"},
    "max-tokens": {"value", "threshold"},
    "max-latency-ms": {"value", "threshold"},
    "max-cost": {"value", "threshold"},
    "language": {"value"},
    "judge": {"value", "rubric", "grader"},
}


def parse_assertion(raw: object, where: str, source: str = "") -> Assertion:
    """One assertion from ``{type: ..., value: ..., options}``."""
    at = _Where(source)
    data = _mapping(raw, where, at)
    kind_value = data.get("type")
    if not isinstance(kind_value, str) or not kind_value.strip():
        raise at.fail(where, "needs a 'type' (one of " + ", ".join(ASSERTION_KINDS) + ")")
    kind, implied = _ALIASES.get(kind_value.strip(), (kind_value.strip(), {}))
    if kind not in ASSERTION_KINDS:
        raise at.fail(where, f"unknown type '{kind_value}' (known: {', '.join(ASSERTION_KINDS)})")
    where = f"{where} ({kind})"
    _unknown_keys(data, _ASSERTION_KEYS[kind] | {"type"}, where, at)
    options = {**implied, **{k: v for k, v in data.items() if k in ("match", "ignore_case")}}
    ignore_case = options.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise at.fail(f"{where}: ignore_case", "must be true or false")

    if kind in TEXT_KINDS:
        values = _parse_text_values(data.get("value"), kind, where, at)
        match = options.get("match", "any")
        if match not in ("any", "all"):
            raise at.fail(f"{where}: match", f"must be any or all, not {match!r}")
        if kind == "regex":
            flags = re.IGNORECASE if ignore_case else 0
            try:
                re.compile(values[0], flags)
            except re.error as exc:
                raise at.fail(
                    f"{where}: value", f"is not a valid regular expression: {exc}"
                ) from None
        return Assertion(
            kind=kind,
            values=values,
            # with one value, any and all agree: keep one spelling so exports round-trip
            match="all" if match == "all" and len(values) > 1 else "any",
            ignore_case=ignore_case,
        )
    if kind == "is-json":
        return Assertion(kind=kind)
    if kind == "json-schema":
        return Assertion(kind=kind, schema=_parse_schema(data, where, at))
    if kind in LIMIT_KINDS:
        return Assertion(kind=kind, limit=_parse_limit(data, kind, where, at))
    if kind == "language":
        return Assertion(kind=kind, language=_parse_language(data.get("value"), where, at))
    # judge
    if data.get("rubric") is not None and data.get("value") is not None:
        raise at.fail(where, "give the rubric as 'rubric' or 'value', not both")
    rubric_value = data.get("rubric", data.get("value"))
    if rubric_value is None:
        raise at.fail(where, "needs a 'rubric' (what a good answer does)")
    rubric = _text(rubric_value, f"{where}: rubric", at, limit=MAX_TEXT_CHARS).strip()
    grader = None
    if data.get("grader") is not None:
        grader = _text(data["grader"], f"{where}: grader", at, limit=MAX_NAME_CHARS).strip()
    return Assertion(kind=kind, rubric=rubric, grader=grader)


def _parse_text_values(raw: object, kind: str, where: str, at: _Where) -> tuple[str, ...]:
    if raw is None:
        raise at.fail(where, "needs a 'value'")
    several = kind in ("contains", "not-contains")
    items = raw if isinstance(raw, list) and several else [raw]
    if not items:
        raise at.fail(f"{where}: value", "must not be an empty list")
    if len(items) > MAX_VALUES:
        raise at.fail(f"{where}: value", f"has {len(items)} texts, at most {MAX_VALUES}")
    values = []
    for item in items:
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)  # `contains: 42` means the text 42
        values.append(_text(item, f"{where}: value", at, limit=MAX_VALUE_CHARS))
    return tuple(values)


def _parse_schema(data: Mapping[str, object], where: str, at: _Where) -> dict[str, object]:
    if data.get("schema") is not None and data.get("value") is not None:
        raise at.fail(where, "give the schema as 'schema' or 'value', not both")
    raw = data.get("schema", data.get("value"))
    if isinstance(raw, str):  # a schema written as a JSON string
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise at.fail(f"{where}: schema", f"is not valid JSON: {exc}") from None
    schema = _mapping(raw, f"{where}: schema", at)
    try:
        encoded = json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise at.fail(f"{where}: schema", f"must be plain JSON data: {exc}") from None
    if len(encoded) > MAX_SCHEMA_CHARS:
        raise at.fail(f"{where}: schema", f"is too large ({len(encoded)} characters as JSON)")
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(dict(schema)).check_schema(dict(schema))
    except SchemaError as exc:
        path = "/".join(str(part) for part in exc.path) or "(top)"
        raise at.fail(
            f"{where}: schema", f"is not a valid JSON Schema at {path}: {exc.message}"
        ) from None
    result: dict[str, object] = json.loads(encoded)  # a private, plain copy
    return result


def _parse_limit(data: Mapping[str, object], kind: str, where: str, at: _Where) -> float:
    if data.get("threshold") is not None and data.get("value") is not None:
        raise at.fail(where, "give the limit as 'value' or 'threshold', not both")
    raw = data.get("value", data.get("threshold"))
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise at.fail(f"{where}: value", f"must be a number, not {_type_name(raw)}")
    if not raw > 0 or raw != raw or raw == float("inf"):
        raise at.fail(f"{where}: value", f"must be a positive number, not {raw}")
    if kind != "max-cost" and not float(raw).is_integer():
        raise at.fail(f"{where}: value", f"must be a whole number, not {raw}")
    return float(raw)


def _parse_language(raw: object, where: str, at: _Where) -> str:
    code = _text(raw, f"{where}: value", at, limit=8).strip().lower()
    from lingua import IsoCode639_1

    try:
        IsoCode639_1.from_str(code)
    except ValueError:
        raise at.fail(
            f"{where}: value", f"'{code}' is not an ISO 639-1 language code the detector knows"
        ) from None
    return code


# --- export --------------------------------------------------------------------------


def suite_to_data(suite: Suite) -> dict[str, object]:
    """Plain data for YAML/JSON: ``parse_suite(suite_to_data(s)) == s``; defaults left out."""
    data: dict[str, object] = {}
    if suite.grader is not None:
        data["grader"] = suite.grader
    data["cases"] = [_case_to_data(case) for case in suite.cases]
    return data


def _case_to_data(case: Case) -> dict[str, object]:
    data: dict[str, object] = {"name": case.name}
    if case.variables:
        data["vars"] = dict(case.variables)
    if case.single_input and case.messages[0].role == "user":
        data["input"] = case.messages[0].content
    else:
        data["messages"] = [{"role": m.role, "content": m.content} for m in case.messages]
    if case.repeat != 1:
        data["repeat"] = case.repeat
    if case.threshold != case.repeat:
        data["threshold"] = case.threshold
    data["assert"] = [assertion_to_data(a) for a in case.assertions]
    return data


def assertion_to_data(assertion: Assertion) -> dict[str, object]:
    data: dict[str, object] = {"type": assertion.kind}
    kind = assertion.kind
    if kind in TEXT_KINDS:
        several = kind in ("contains", "not-contains") and len(assertion.values) > 1
        data["value"] = list(assertion.values) if several else assertion.values[0]
        if several and assertion.match != "any":
            data["match"] = assertion.match
        if assertion.ignore_case:
            data["ignore_case"] = True
    elif kind == "json-schema":
        data["schema"] = json.loads(json.dumps(assertion.schema))
    elif kind in LIMIT_KINDS:
        limit = assertion.limit
        data["value"] = int(limit) if limit is not None and limit.is_integer() else limit
    elif kind == "language":
        data["value"] = assertion.language
    elif kind == "judge":
        data["rubric"] = assertion.rubric
        if assertion.grader is not None:
            data["grader"] = assertion.grader
    return data
