"""Each assertion kind passes and fails on real answers, with a reason a user can read."""

from __future__ import annotations

import asyncio

import pytest

from promptdeck.checks.assertions import (
    Answer,
    AssertionResult,
    check,
    detect_language,
    judge,
    judge_request,
    parse_verdict,
)
from promptdeck.checks.model_call import ModelReply, ModelRequest, ProviderError
from promptdeck.checks.suite import Assertion, Message, parse_assertion

CLASSIFIER_SCHEMA = {
    "type": "object",
    "required": ["category", "priority"],
    "properties": {
        "category": {"enum": ["billing", "bug", "other"]},
        "priority": {"enum": ["low", "high"]},
    },
    "additionalProperties": False,
}


def answer(text: str, **measures: float) -> Answer:
    values = {"input_tokens": 100, "output_tokens": 20, "latency_ms": 850.0, "cost": 0.0004}
    values.update(measures)
    return Answer(text=text, **values)  # type: ignore[arg-type]


def parsed(raw: dict[str, object]) -> Assertion:
    return parse_assertion(raw, "assert")


CASES = [
    # (assertion, passing answer, failing answer, words in the failure reason)
    (
        {"type": "contains", "value": "HANDOFF"},
        "A colleague takes over.\nHANDOFF",
        "Bye",
        "HANDOFF",
    ),
    ({"type": "icontains", "value": "handoff"}, "HANDOFF", "hand off", "handoff"),
    (
        {"type": "contains", "value": ["invoice", "billing"]},
        "See your billing page",
        "See your account",
        "contains none of",
    ),
    (
        {"type": "contains", "value": ["invoice", "billing"], "match": "all"},
        "Your invoice is on the billing page",
        "Your invoice is ready",
        'missing "billing"',
    ),
    (
        {"type": "not-contains", "value": ["refund", "credit"], "ignore_case": True},
        "The billing team will decide.",
        "You will get a Refund.",
        'contains "refund"',
    ),
    (
        {"type": "not-contains", "value": ["refund", "credit"], "match": "all"},
        "No refund here",
        "A refund or a credit",
        "contains all of",
    ),
    (
        {"type": "regex", "value": r"https://status\.\w+\.com"},
        "See https://status.taskly.com",
        "See status",
        "does not match",
    ),
    (
        {"type": "regex", "value": "^hallo", "ignore_case": True},
        "Hallo Jonas",
        "Hi Jonas",
        "does not match",
    ),
    ({"type": "equals", "value": "billing"}, "billing\n", "Billing", 'does not equal "billing"'),
    (
        {"type": "equals", "value": "billing", "ignore_case": True},
        "BILLING",
        "bill",
        "does not equal",
    ),
    (
        {"type": "starts-with", "value": "Hi Ana"},
        "  Hi Ana, sure.",
        "Hello Ana",
        'does not start with "Hi Ana"',
    ),
    ({"type": "is-json"}, '{"a": 1}', '```json\n{"a": 1}\n```', "not JSON"),
    (
        {"type": "json-schema", "schema": CLASSIFIER_SCHEMA},
        '{"category": "bug", "priority": "high"}',
        '{"category": "bug", "priority": "urgent"}',
        "at priority: 'urgent' is not one of",
    ),
    (
        {"type": "json-schema", "schema": CLASSIFIER_SCHEMA},
        '{"category": "bug", "priority": "low"}',
        "bug, low",
        "not JSON",
    ),
    ({"type": "max-chars", "value": 10}, "Short.", "This is far too long", "20 characters > 10"),
]


@pytest.mark.parametrize(("raw", "good", "bad", "why"), CASES)
def test_text_kinds_pass_and_fail(raw: dict[str, object], good: str, bad: str, why: str) -> None:
    assertion = parsed(raw)
    passed = check(assertion, answer(good))
    failed = check(assertion, answer(bad))
    assert passed.passed, passed.reason
    assert not failed.passed
    assert why in failed.reason


@pytest.mark.parametrize(
    ("raw", "good", "bad", "why"),
    [
        (
            {"type": "max-tokens", "value": 50},
            {"output_tokens": 50},
            {"output_tokens": 51},
            "51 output tokens > 50",
        ),
        (
            {"type": "max-latency-ms", "value": 1000},
            {"latency_ms": 999.0},
            {"latency_ms": 1250.4},
            "1250 ms > 1000",
        ),
        (
            {"type": "max-cost", "value": 0.001},
            {"cost": 0.0009},
            {"cost": 0.0042},
            "0.0042 USD > 0.001",
        ),
        ({"type": "max-cost", "value": 0.001}, {"cost": 0.0001}, {"cost": None}, "cost unknown"),
    ],
)
def test_measured_limits_pass_and_fail(
    raw: dict[str, object], good: dict[str, float], bad: dict[str, float], why: str
) -> None:
    assertion = parsed(raw)
    assert check(assertion, answer("x", **good)).passed
    failed = check(assertion, answer("x", **bad))
    assert not failed.passed
    assert why in failed.reason


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (
            "de",
            "Hallo Jonas, danke für deine Nachricht. Eine Kollegin aus dem Billing-Team übernimmt.",
        ),
        (
            "fr",
            "Bonjour Claire, vous pouvez exporter votre tableau depuis Board settings.",
        ),
        ("es", "Hola Ana, un compañero del equipo de facturación revisará tu solicitud hoy mismo."),
        ("en", "Hi Sam, you can reset your password from the sign-in page."),
        ("ja", "こんにちは。請求チームの担当者が引き継ぎます。"),
    ],
)
def test_language_is_detected_offline(code: str, text: str) -> None:
    assert check(parsed({"type": "language", "value": code}), answer(text)).passed
    other = "en" if code != "en" else "de"
    failed = check(parsed({"type": "language", "value": other}), answer(text))
    assert not failed.passed
    assert f"in {code} (confidence" in failed.reason
    assert f"expected {other}" in failed.reason


def test_a_language_outside_the_common_set_is_added_to_the_detector() -> None:
    text = "Sawubona, umngane wami uzokusiza ngokushesha ngemali yakho."
    assert detect_language(text, ["zu"]) is not None
    assert check(parsed({"type": "language", "value": "zu"}), answer(text)).passed


def test_no_letters_means_no_language() -> None:
    result = check(parsed({"type": "language", "value": "en"}), answer("12345 !!!"))
    assert result == AssertionResult(False, "no text to detect a language in")


def test_judge_is_not_a_local_check() -> None:
    with pytest.raises(ValueError):
        check(parsed({"type": "judge", "rubric": "x"}), answer("x"))


@pytest.mark.parametrize(
    ("text", "passed", "reason"),
    [
        ('{"pass": true, "reason": "Polite and correct."}', True, "judge: Polite and correct."),
        (
            '```json\n{"pass": false, "reason": "Promises a refund."}\n```',
            False,
            "judge: Promises a refund.",
        ),
        ('Let me think. The answer is fine.\n{"passed": "yes", "reason": "ok"}', True, "judge: ok"),
        (
            '{"verdict": "FAIL", "explanation": "Mentions Trello."}',
            False,
            "judge: Mentions Trello.",
        ),
        ('{"pass": false}', False, "judge: failed"),
        ("PASS: the answer hands over to a human", True, "judge: the answer hands over to a human"),
        ("FAIL", False, "judge: failed"),
    ],
)
def test_the_graders_verdict_is_read_robustly(text: str, passed: bool, reason: str) -> None:
    assert parse_verdict(text) == AssertionResult(passed, reason)


@pytest.mark.parametrize(
    "text", ["I am not sure.", "PASS or FAIL, hard to say", '{"pass": "maybe"}']
)
def test_an_unreadable_verdict_is_an_error_not_a_failure(text: str) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_verdict(text)
    assert caught.value.kind == "answer"


def test_judge_sends_rubric_conversation_and_answer_to_the_grader() -> None:
    seen: list[ModelRequest] = []

    async def complete(request: ModelRequest) -> ModelReply:
        seen.append(request)
        return ModelReply('{"pass": false, "reason": "It promises money back."}', 50, 10, "g")

    assertion = parsed({"type": "judge", "rubric": "Never promises a refund."})
    conversation = (Message("user", "I want my money back"),)
    result = asyncio.run(
        judge(
            assertion, "Sure, refund on its way!", conversation, complete=complete, model="grader-1"
        )
    )
    assert result == AssertionResult(False, "judge: It promises money back.")
    (request,) = seen
    assert request == judge_request(assertion, "Sure, refund on its way!", conversation, "grader-1")
    assert request.model == "grader-1"
    user = request.messages[0].content
    assert "Never promises a refund." in user
    assert "I want my money back" in user
    assert "Sure, refund on its way!" in user
    assert request.parameters["temperature"] == 0
