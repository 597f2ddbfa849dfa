"""Suites parse from plain data, refuse bad input in one line, and export round-trip."""

from __future__ import annotations

import pytest

from promptdeck.checks.suite import (
    MAX_CASES,
    MAX_REPEAT,
    Assertion,
    Message,
    parse_suite,
    suite_to_data,
)
from promptdeck.errors import ValidationError

FULL = {
    "grader": "claude-3-5-haiku-20241022",
    "cases": [
        {
            "name": "refund in German",
            "vars": {"customer_name": "Jonas", "seats": 12, "vip": True},
            "input": "Ich will mein Geld zurück!",
            "repeat": 3,
            "threshold": 2,
            "assert": [
                {"type": "contains", "value": ["Kollege", "HANDOFF"], "match": "all"},
                {
                    "type": "not-contains",
                    "value": ["refund", "Rückerstattung"],
                    "ignore_case": True,
                },
                {"type": "regex", "value": "^Hallo", "ignore_case": True},
                {"type": "equals", "value": "x"},
                {"type": "starts-with", "value": "Hallo"},
                {"type": "is-json"},
                {"type": "json-schema", "schema": {"type": "object", "required": ["a"]}},
                {"type": "max-chars", "value": 800},
                {"type": "max-tokens", "value": 300},
                {"type": "max-latency-ms", "value": 5000},
                {"type": "max-cost", "value": 0.002},
                {"type": "language", "value": "de"},
                {"type": "judge", "rubric": "Does not promise a refund.", "grader": "gpt-4o"},
            ],
        },
        {
            "name": "follow-up",
            "messages": [
                {"role": "user", "content": "My board is gone"},
                {"role": "assistant", "content": "Which board?"},
                {"role": "user", "content": "Roadmap"},
            ],
            "assert": [{"type": "judge", "rubric": "Asks nothing twice."}],
        },
    ],
}


def test_a_full_suite_parses_and_round_trips_exactly() -> None:
    suite = parse_suite(FULL, "suite.yaml")
    assert suite.grader == "claude-3-5-haiku-20241022"
    first, second = suite.cases
    assert (first.repeat, first.threshold) == (3, 2)
    assert first.messages == (Message("user", "Ich will mein Geld zurück!"),)
    assert first.variables == {"customer_name": "Jonas", "seats": 12, "vip": True}
    assert [a.kind for a in first.assertions][-2:] == ["language", "judge"]
    assert second.messages[-1] == Message("user", "Roadmap")
    assert (second.repeat, second.threshold) == (1, 1)
    assert suite_to_data(suite) == FULL
    assert parse_suite(suite_to_data(suite)) == suite
    assert suite.total_runs == 4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"type": "icontains", "value": "Hi"}, Assertion("contains", ("Hi",), ignore_case=True)),
        (
            {"type": "icontains-all", "value": ["a", "b"]},
            Assertion("contains", ("a", "b"), match="all", ignore_case=True),
        ),
        ({"type": "contains-any", "value": ["a", "b"]}, Assertion("contains", ("a", "b"))),
        (
            {"type": "not-icontains", "value": "x"},
            Assertion("not-contains", ("x",), ignore_case=True),
        ),
        ({"type": "llm-rubric", "value": "polite"}, Assertion("judge", rubric="polite")),
        ({"type": "latency", "threshold": 2000}, Assertion("max-latency-ms", limit=2000.0)),
        ({"type": "cost", "threshold": 0.01}, Assertion("max-cost", limit=0.01)),
        ({"type": "contains", "value": 42}, Assertion("contains", ("42",))),
        ({"type": "language", "value": "DE"}, Assertion("language", language="de")),
        (
            {"type": "json-schema", "value": '{"type": "array"}'},
            Assertion("json-schema", schema={"type": "array"}),
        ),
    ],
)
def test_promptfoo_spellings_are_accepted_and_exported_canonically(
    raw: dict[str, object], expected: Assertion
) -> None:
    data = {"cases": [{"name": "c", "input": "hi", "assert": [raw]}]}
    suite = parse_suite(data)
    assert suite.cases[0].assertions == (expected,)
    assert parse_suite(suite_to_data(suite)) == suite


def one_case(**case: object) -> dict[str, object]:
    base: dict[str, object] = {"name": "greeting", "input": "hi", "assert": [{"type": "is-json"}]}
    base.update(case)
    return {"cases": [base]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "s.yaml: suite: must be a mapping, not a list"),
        ({"cases": []}, "s.yaml: suite: 'cases' must be a non-empty list of cases"),
        ({"cases": [{"input": "x", "assert": []}]}, "s.yaml: case #1: needs a 'name'"),
        (one_case(promt="x"), "s.yaml: case 'greeting': unknown key 'promt'"),
        (one_case(input=None), "s.yaml: case 'greeting': needs either 'input'"),
        (
            one_case(messages=[{"role": "user", "content": "a"}]),
            "case 'greeting': needs either 'input' (one user message) or 'messages', not both",
        ),
        (one_case(repeat=0), "s.yaml: case 'greeting': repeat: must be between 1 and 20, not 0"),
        (one_case(repeat=MAX_REPEAT + 1), "repeat: must be between 1 and 20"),
        (
            one_case(repeat=3, threshold=4),
            "case 'greeting': threshold: must be between 1 and 3, not 4",
        ),
        (
            one_case(repeat=3, threshold=0.5),
            "case 'greeting': threshold: is a count of passing repeats",
        ),
        (one_case(repeat=True), "case 'greeting': repeat: must be a whole number, not true/false"),
        (one_case(vars={"a b": 1}), "case 'greeting': vars: 'a b' is not a variable name"),
        (
            one_case(vars={"a": [1]}),
            "case 'greeting': vars: a: must be text or a number, not a list",
        ),
        (one_case(assert_=1), "unknown key 'assert_'"),
        (one_case(**{"assert": []}), "case 'greeting': assert: must be a non-empty list"),
        (
            one_case(**{"assert": [{"type": "contain", "value": "x"}]}),
            "case 'greeting': assert #1: unknown type 'contain'",
        ),
        (
            one_case(**{"assert": [{"type": "contains"}]}),
            "case 'greeting': assert #1 (contains): needs a 'value'",
        ),
        (
            one_case(**{"assert": [{"type": "contains", "value": "x", "match": "most"}]}),
            "assert #1 (contains): match: must be any or all, not 'most'",
        ),
        (
            one_case(**{"assert": [{"type": "regex", "value": "(unclosed"}]}),
            "assert #1 (regex): value: is not a valid regular expression",
        ),
        (
            one_case(**{"assert": [{"type": "json-schema", "schema": {"type": "objekt"}}]}),
            "assert #1 (json-schema): schema: is not a valid JSON Schema at type",
        ),
        (
            one_case(**{"assert": [{"type": "max-chars", "value": -3}]}),
            "assert #1 (max-chars): value: must be a positive number, not -3",
        ),
        (
            one_case(**{"assert": [{"type": "max-tokens", "value": 2.5}]}),
            "assert #1 (max-tokens): value: must be a whole number, not 2.5",
        ),
        (
            one_case(**{"assert": [{"type": "language", "value": "xx"}]}),
            "assert #1 (language): value: 'xx' is not an ISO 639-1 language code",
        ),
        (
            one_case(**{"assert": [{"type": "judge"}]}),
            "assert #1 (judge): needs a 'rubric'",
        ),
        (
            one_case(**{"assert": [{"type": "is-json", "value": "x"}]}),
            "assert #1 (is-json): unknown key 'value'",
        ),
        (
            one_case(messages=[{"role": "system", "content": "x"}], input=None),
            "case 'greeting': messages #1: role: must be user or assistant, not 'system'",
        ),
        (
            one_case(
                input=None,
                messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            ),
            "case 'greeting': messages: must end with a user message",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line_naming_case_and_field(data: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_suite(data, "s.yaml")
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_case_names_are_unique() -> None:
    case = {"name": "same", "input": "hi", "assert": [{"type": "is-json"}]}
    with pytest.raises(ValidationError, match="case 'same': the name is used by another case"):
        parse_suite({"cases": [case, dict(case)]})


def test_sizes_are_limited() -> None:
    cases = [
        {"name": f"c{i}", "input": "hi", "assert": [{"type": "is-json"}]}
        for i in range(MAX_CASES + 1)
    ]
    with pytest.raises(ValidationError, match=f"at most {MAX_CASES}"):
        parse_suite({"cases": cases})
    many = [
        {"name": f"c{i}", "input": "hi", "repeat": 20, "assert": [{"type": "is-json"}]}
        for i in range(51)
    ]
    with pytest.raises(
        ValidationError, match=r"asks for 1020 answers \(cases x repeat\), at most 1000"
    ):
        parse_suite({"cases": many})
    with pytest.raises(ValidationError, match="input: is too long"):
        parse_suite(one_case(input="x" * 50_001))


def test_the_schema_is_a_private_copy() -> None:
    schema = {"type": "object"}
    suite = parse_suite(one_case(**{"assert": [{"type": "json-schema", "schema": schema}]}))
    schema["type"] = "array"
    assert suite.cases[0].assertions[0].schema == {"type": "object"}


def test_descriptions_read_well() -> None:
    suite = parse_suite(FULL)
    labels = [a.describe() for a in suite.cases[0].assertions]
    assert labels[0] == 'contains all of "Kollege", "HANDOFF"'
    assert labels[1] == 'not-contains any of "refund", "Rückerstattung" (ignoring case)'
    assert labels[10] == "max-cost 0.002"
    assert labels[11] == "language de"
    assert labels[12] == "judge: Does not promise a refund."
