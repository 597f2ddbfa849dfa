"""Evaluate an assertion against one answer.

Pure except for the libraries that do the work: ``jsonschema`` for schemas, ``lingua``
(offline, models shipped in the wheel) for languages, and, for ``judge``, a model call
made through whatever ``Complete`` function the runner hands in.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from promptdeck.checks.model_call import Complete, ModelRequest, ProviderError
from promptdeck.checks.suite import Assertion, Message


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the model with what it cost."""

    text: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cost: float | None  # USD, None when the model has no price


@dataclass(frozen=True, slots=True)
class AssertionResult:
    passed: bool
    reason: str  # why it passed or failed, one line, shown beside the answer

    def to_data(self) -> dict[str, object]:
        return {"passed": self.passed, "reason": self.reason}


def _quote(text: str, limit: int = 60) -> str:
    short = text if len(text) <= limit else text[: limit - 3] + "..."
    return json.dumps(short, ensure_ascii=False)


def check(assertion: Assertion, answer: Answer) -> AssertionResult:
    """Every kind except ``judge`` (which needs a model: see :func:`judge`)."""
    kind = assertion.kind
    text = answer.text
    if kind in ("contains", "not-contains"):
        return _contains(assertion, text)
    if kind == "regex":
        flags = re.IGNORECASE if assertion.ignore_case else 0
        pattern = assertion.values[0]
        found = re.search(pattern, text, flags)
        if found:
            return AssertionResult(True, f"matches /{pattern}/ at {_quote(found.group(0))}")
        return AssertionResult(False, f"does not match /{pattern}/")
    if kind in ("equals", "starts-with"):
        expected = assertion.values[0]
        got, want = (
            (text.casefold(), expected.casefold()) if assertion.ignore_case else (text, expected)
        )
        # equals ignores surrounding whitespace: models end answers with newlines
        ok = got.strip() == want.strip() if kind == "equals" else got.lstrip().startswith(want)
        verb, negated = (
            ("equals", "does not equal")
            if kind == "equals"
            else ("starts with", "does not start with")
        )
        if ok:
            return AssertionResult(True, f"{verb} {_quote(expected)}")
        return AssertionResult(
            False, f"{negated} {_quote(expected)}; got {_quote(text.strip(), 40)}"
        )
    if kind == "is-json":
        try:
            json.loads(text)
        except ValueError as exc:
            return AssertionResult(False, f"not JSON: {exc}")
        return AssertionResult(True, "valid JSON")
    if kind == "json-schema":
        return _json_schema(assertion, text)
    if kind in ("max-chars", "max-tokens", "max-latency-ms", "max-cost"):
        return _limit(assertion, answer)
    if kind == "language":
        return _language(assertion, text)
    raise ValueError(f"check() cannot evaluate {kind!r}")


def _contains(assertion: Assertion, text: str) -> AssertionResult:
    def norm(value: str) -> str:
        return value.casefold() if assertion.ignore_case else value

    haystack = norm(text)
    found = [value for value in assertion.values if norm(value) in haystack]
    missing = [value for value in assertion.values if norm(value) not in haystack]
    several = len(assertion.values) > 1
    if assertion.kind == "contains":
        ok = (not missing) if assertion.match == "all" else bool(found)
        if ok:
            return AssertionResult(True, "contains " + ", ".join(_quote(v) for v in found))
        if assertion.match == "all" and several:
            return AssertionResult(False, "missing " + ", ".join(_quote(v) for v in missing))
        return AssertionResult(False, "contains none of " + ", ".join(_quote(v) for v in missing))
    # not-contains any: none may appear; not-contains all: not every one may appear
    ok = (bool(missing) if assertion.match == "all" else not found) if several else not found
    if ok:
        return AssertionResult(
            True, "does not contain " + ", ".join(_quote(v) for v in assertion.values)
        )
    if assertion.match == "all" and several:
        return AssertionResult(False, "contains all of " + ", ".join(_quote(v) for v in found))
    return AssertionResult(False, "contains " + ", ".join(_quote(v) for v in found))


def _json_schema(assertion: Assertion, text: str) -> AssertionResult:
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from referencing.exceptions import Unresolvable

    try:
        document = json.loads(text)
    except ValueError as exc:
        return AssertionResult(False, f"not JSON: {exc}")
    schema: Any = assertion.schema
    validator = validator_for(schema)(schema)
    try:
        error = best_match(validator.iter_errors(document))  # the library's most relevant
    except Unresolvable as exc:  # remote $refs are never fetched: checks run offline
        return AssertionResult(False, f"the schema's $ref cannot be resolved offline: {exc}")
    if error is None:
        return AssertionResult(True, "matches the schema")
    path = "/".join(str(part) for part in error.absolute_path) or "(top)"
    return AssertionResult(False, f"does not match the schema at {path}: {error.message}")


def _limit(assertion: Assertion, answer: Answer) -> AssertionResult:
    limit = assertion.limit if assertion.limit is not None else 0.0
    kind = assertion.kind
    measured: float | None
    if kind == "max-chars":
        measured, unit = float(len(answer.text)), "characters"
    elif kind == "max-tokens":
        measured, unit = float(answer.output_tokens), "output tokens"
    elif kind == "max-latency-ms":
        measured, unit = answer.latency_ms, "ms"
    else:
        measured, unit = answer.cost, "USD"
    if measured is None:
        return AssertionResult(False, "cost unknown: the model has no price in the price table")
    shown = f"{measured:.6f}".rstrip("0").rstrip(".") if kind == "max-cost" else f"{measured:.0f}"
    limit_shown = f"{limit:g}"
    if measured <= limit:
        return AssertionResult(True, f"{shown} {unit} <= {limit_shown}")
    return AssertionResult(False, f"{shown} {unit} > {limit_shown}")


# --- language ------------------------------------------------------------------------

# The detector knows these languages, plus any a suite asks for. Restricting the set
# keeps it small and fast (low-accuracy mode: ~40 MB, built in well under a second) and
# makes close neighbours less likely to steal a verdict; the list covers the languages
# support teams meet most.
COMMON_LANGUAGES = (
    "ar", "bg", "ca", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "he",
    "hi", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "nb", "nl", "pl", "pt", "ro",
    "ru", "sk", "sl", "sr", "sv", "th", "tr", "uk", "vi", "zh",
)  # fmt: skip


@functools.lru_cache(maxsize=4)
def _detector(extra: frozenset[str]) -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    codes = sorted(set(COMMON_LANGUAGES) | extra)
    languages = [Language.from_iso_code_639_1(IsoCode639_1.from_str(code)) for code in codes]
    # low-accuracy mode: trigram models only, reliable on sentences, which answers are
    builder = LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode()
    return builder.with_preloaded_language_models().build()  # loaded now, not mid-run


def prepare_language_detector(codes: Iterable[str]) -> None:
    """Build the detector now (a fraction of a second), e.g. in a thread before a run."""
    _detector(frozenset(code for code in codes if code not in COMMON_LANGUAGES))


def detect_language(text: str, expected: Iterable[str] = ()) -> tuple[str, float] | None:
    """The most likely ISO 639-1 code of ``text`` and its confidence, or None if no text."""
    extra = frozenset(code for code in expected if code not in COMMON_LANGUAGES)
    values = _detector(extra).compute_language_confidence_values(text)
    if not values or not any(ch.isalpha() for ch in text):
        return None
    best = values[0]
    return best.language.iso_code_639_1.name.lower(), float(best.value)


def _language(assertion: Assertion, text: str) -> AssertionResult:
    expected = assertion.language or ""
    detected = detect_language(text, (expected,))
    if detected is None:
        return AssertionResult(False, "no text to detect a language in")
    code, confidence = detected
    if code == expected:
        return AssertionResult(True, f"in {code} (confidence {confidence:.2f})")
    return AssertionResult(False, f"in {code} (confidence {confidence:.2f}), expected {expected}")


# --- judge ---------------------------------------------------------------------------

JUDGE_SYSTEM_PROMPT = """\
You grade the answer of an AI assistant against a rubric. You are strict and fair: \
the answer passes only if it satisfies every requirement of the rubric.

Reply with one JSON object and nothing else:
{"pass": true or false, "reason": "one sentence explaining the verdict"}"""

JUDGE_PARAMETERS: dict[str, object] = {"max_tokens": 400, "temperature": 0}


def judge_request(
    assertion: Assertion, answer_text: str, conversation: tuple[Message, ...], model: str
) -> ModelRequest:
    """The grader's request: the rubric, what the user said, and the answer to grade."""
    said = "\n\n".join(f"[{m.role}]\n{m.content}" for m in conversation)
    user = (
        f"<rubric>\n{assertion.rubric}\n</rubric>\n\n"
        f"<conversation>\n{said}\n</conversation>\n\n"
        f"<answer>\n{answer_text}\n</answer>\n\n"
        "Does the answer satisfy the rubric? Reply with the JSON object only."
    )
    return ModelRequest(
        model=model,
        system=JUDGE_SYSTEM_PROMPT,
        messages=(Message("user", user),),
        parameters=JUDGE_PARAMETERS,
    )


_VERDICT_WORD = re.compile(r"\b(PASS(?:ED)?|FAIL(?:ED)?)\b", re.IGNORECASE)
_TRUTHY = {"true", "yes", "pass", "passed", "ok"}
_FALSY = {"false", "no", "fail", "failed"}


def parse_verdict(text: str) -> AssertionResult:
    """The grader's pass/fail and reason; ProviderError(kind="answer") when unreadable.

    Accepts the JSON object asked for, also inside a code fence or after some prose,
    with ``pass``/``passed``/``verdict``/``result`` keys; else a lone PASS or FAIL word.
    """
    for candidate in re.findall(r"\{.*?\}", text, re.DOTALL) + re.findall(
        r"\{.*\}", text, re.DOTALL
    ):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        verdict = next(
            (data[key] for key in ("pass", "passed", "verdict", "result") if key in data), None
        )
        passed = _as_verdict(verdict)
        if passed is not None:
            reason = str(data.get("reason") or data.get("explanation") or "").strip()
            return AssertionResult(
                passed, "judge: " + (reason or ("passed" if passed else "failed"))
            )
    # A JSON object without a readable verdict is not rescued by its key names.
    searched = "" if "{" in text else text
    words = {match.group(1).upper()[:4] for match in _VERDICT_WORD.finditer(searched)}
    if len(words) == 1:  # a bare PASS or FAIL, not both
        passed = words == {"PASS"}
        rest = _VERDICT_WORD.sub("", text, count=1).strip(" \n:-.")
        reason = rest.splitlines()[0] if rest else ("passed" if passed else "failed")
        return AssertionResult(passed, "judge: " + reason)
    raise ProviderError(
        f"the grader's answer has no pass/fail verdict: {_quote(text, 80)}", kind="answer"
    )


def _as_verdict(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUTHY:
            return True
        if word in _FALSY:
            return False
    return None


async def judge(
    assertion: Assertion,
    answer_text: str,
    conversation: tuple[Message, ...],
    *,
    complete: Complete,
    model: str,
) -> AssertionResult:
    """Grade with a model; a provider error or an unreadable verdict raises ProviderError."""
    reply = await complete(judge_request(assertion, answer_text, conversation, model))
    return parse_verdict(reply.text)
