"""One set of limits for every backend: each refusal is one line naming the field."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from promptdeck import limits
from promptdeck.errors import ValidationError


def short_id(value: object) -> str | None:
    """Test ids for huge inputs: a few characters and the length."""
    if isinstance(value, str) and len(value) > 30:
        return f"{value[:10]!r}...x{len(value)}"
    return None


def refusal(check: Any, *args: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        check(*args)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    return message


# --- version numbers, percentages, times --------------------------------------------------


@pytest.mark.parametrize("number", [1, 2, 2**31 - 1])
def test_version_numbers_fit_postgresql_integer(number: int) -> None:
    assert limits.check_version_number(number) == number


@pytest.mark.parametrize(
    ("number", "complaint"),
    [
        (0, "version must be 1 or more"),
        (-5, "version must be 1 or more"),
        (2**31, "at most 2147483647"),
        (2**63, "at most 2147483647"),
        (10**5000, "at most 2147483647, not a number of 5001 digits"),
        (True, "whole number"),
        (1.0, "whole number"),
        ("3", "whole number"),
    ],
    ids=lambda value: "huge" if isinstance(value, int) and value > 2**100 else None,
)
def test_version_numbers_out_of_range_are_refused(number: Any, complaint: str) -> None:
    assert complaint in refusal(limits.check_version_number, number)


def test_a_huge_version_number_is_shown_short() -> None:
    message = refusal(limits.check_version_number, 10**5000, "parent")
    assert message.startswith("parent must be at most")
    assert message.endswith("not a number of 5001 digits")


@pytest.mark.parametrize("percent", [0, 1, 50, 100])
def test_canary_percentages_from_0_to_100(percent: int) -> None:
    assert limits.check_percent(percent) == percent


@pytest.mark.parametrize("percent", [-1, 101, 2**70, True, 5.0, "5", None])
def test_other_percentages_are_refused(percent: Any) -> None:
    assert "canary percentage" in refusal(limits.check_percent, percent)


def test_times_are_kept_in_utc_and_naive_ones_taken_as_utc() -> None:
    aware = datetime(2026, 3, 6, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    assert limits.check_timestamp(aware) == datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
    assert limits.check_timestamp(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2200, 1, 1, tzinfo=UTC),
    ],
)
def test_times_outside_a_sane_range_are_refused(value: datetime) -> None:
    message = refusal(limits.check_timestamp, value)
    assert message.startswith("created_at must be between 1970-01-01 and 2200-01-01")
    assert value.isoformat() in message


# --- names and users --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "customer-support", "v1.2_beta", "x" * 200])
def test_feature_names(name: str) -> None:
    assert limits.check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a b", "a/b", "é", "x" * 201, "a\x00", None])
def test_bad_feature_names(name: Any) -> None:
    assert "invalid feature name" in refusal(limits.check_name, name)


def test_environment_names_stop_at_100() -> None:
    assert limits.check_environment("e" * 100)
    assert "invalid environment name" in refusal(limits.check_environment, "e" * 101)


@pytest.mark.parametrize("user", ["alice", "María José", "张伟", "bob@example.com", "a" * 100])
def test_user_names_in_any_script(user: str) -> None:
    assert limits.check_user(user) == user


@pytest.mark.parametrize(
    ("user", "complaint"),
    [
        ("m\x1b]0;OWNED\x07\x1b[2J", "control character \\x1b (at character 2)"),
        ("a\x00b", "NUL"),
        ("a\ud800b", "lone surrogate \\ud800"),
        ("a\nb", "control character \\n"),
        ("a\x9bb", "control character \\x9b"),
        ("evil\u202egnp.exe", "control character \\u202e"),
        ("a" * 101, "longer than 100"),
        ("", "empty"),
        ("   ", "empty"),
        (" alice", "starts or ends with spaces"),
        (None, "empty"),
    ],
)
def test_user_names_with_controls_or_too_long_are_refused(user: Any, complaint: str) -> None:
    message = refusal(limits.check_user, user)
    assert message.startswith("the user name ")
    assert complaint in message
    assert "\x1b" not in message and "\x07" not in message  # shown as a picture, not obeyed


def test_authors_are_named_as_authors() -> None:
    assert refusal(limits.check_author, "x\x1b").startswith("the author contains")


@pytest.mark.parametrize("uid", ["0b5f8a52-8f0c-4c61-9d5a-111111111111", "v1", "a" * 36])
def test_version_ids(uid: str) -> None:
    assert limits.check_uid(uid) == uid


@pytest.mark.parametrize("uid", ["a" * 37, "has space", "", "a\x00"])
def test_bad_version_ids(uid: str) -> None:
    assert "invalid version id" in refusal(limits.check_uid, uid)


# --- text -------------------------------------------------------------------------------


def test_reasons_are_stripped_and_may_hold_line_breaks() -> None:
    assert limits.check_reason("  why\n\tbecause\r\n ") == "why\n\tbecause"


@pytest.mark.parametrize(
    ("reason", "complaint"),
    [
        (None, "a reason is required"),
        (" \n ", "a reason is required"),
        ("a\x00", "the reason contains a NUL character (at character 2)"),
        ("a\ud800b", "the reason contains a lone surrogate"),
        ("red \x1b[31m", "the reason contains the control character \\x1b"),
        ("r" * 10_001, "the reason is longer than 10,000 characters"),
    ],
)
def test_bad_reasons(reason: Any, complaint: str) -> None:
    assert complaint in refusal(limits.check_reason, reason)


def test_prompts_keep_every_character_but_nul_and_surrogates() -> None:
    text = "  \t\x1b[31m\x01\x7f\u2028中文🎉\r\n"
    assert limits.check_prompt(text) == text
    assert "NUL" in refusal(limits.check_prompt, "a\x00")
    assert "lone surrogate \\udfff" in refusal(limits.check_prompt, "a\udfff")
    assert "empty" in refusal(limits.check_prompt, " \n")


def test_prompts_stop_at_16_mib_of_utf8() -> None:
    assert limits.check_prompt("a" * limits.MAX_PROMPT_BYTES)
    assert "at most 16 MiB" in refusal(limits.check_prompt, "a" * (limits.MAX_PROMPT_BYTES + 1))
    # 4 bytes a character: the byte count decides, not the length
    wide = "🎉" * (limits.MAX_PROMPT_BYTES // 4 + 1)
    assert "16.0 MiB; at most 16 MiB" in refusal(limits.check_prompt, wide)


def test_models() -> None:
    assert limits.check_model("  claude-sonnet-4  ") == "claude-sonnet-4"
    assert "at most 200" in refusal(limits.check_model, "m" * 201)
    assert "control character" in refusal(limits.check_model, "m\x1b")
    assert "NUL" in refusal(limits.check_model, "m\x00")


# --- parameters -------------------------------------------------------------------------


def nested(levels: int) -> dict[str, Any]:
    """Parameters `levels` deep, counting the parameters mapping itself as level 1."""
    value: Any = 1
    for _ in range(levels - 1):
        value = [value]
    return {"w": value}


def test_parameters_are_copied_json_values() -> None:
    given = {"max_tokens": 1024, "t": 0.3, "stop": ("###",), "x": None, "ok": True}
    copied = limits.check_parameters(given)
    assert copied == {"max_tokens": 1024, "t": 0.3, "stop": ["###"], "x": None, "ok": True}
    assert copied is not given


def test_parameters_nest_twenty_levels_and_no_more() -> None:
    assert limits.check_parameters(nested(20))
    message = refusal(limits.check_parameters, nested(21))
    assert "is nested more than 20 levels deep" in message
    assert message.startswith("parameters.w[0][0]")


def test_parameters_nested_600_or_50000_deep_give_no_recursion_error() -> None:
    for levels in (600, 50_000):
        assert "nested more than 20" in refusal(limits.check_parameters, nested(levels))


@pytest.mark.parametrize(
    ("parameters", "complaint"),
    [
        ({"n": 2**63}, "parameters.n is too large a whole number"),
        ({"n": -(2**63) - 1}, "too large a whole number"),
        ({"n": 10**5000}, "too large a whole number"),
        ({"f": float("nan")}, "finite"),
        ({"f": float("inf")}, "finite"),
        ({"s": "a\x00"}, "parameters.s contains a NUL"),
        ({"s": ["ok", "a\ud800"]}, "parameters.s[1] contains a lone surrogate"),
        ({"k\ud800": 1}, "lone surrogate"),
        ({"k\x1b": 1}, "control character \\x1b"),
        ({"k" * 201: 1}, "longer than 200"),
        ({1: 1}, "names must be text"),
        ({"d": datetime(2020, 1, 1)}, "must be text, a number"),
        ({"b": b"bytes"}, "must be text, a number"),
        ({"s": "x" * (limits.MAX_PARAMETERS_BYTES + 1)}, "larger than 1024 KiB"),
    ],
)
def test_bad_parameters_are_refused_naming_the_path(parameters: Any, complaint: str) -> None:
    assert complaint in refusal(limits.check_parameters, parameters)


def test_64_bit_integers_are_the_bounds() -> None:
    assert limits.check_parameters({"a": 2**63 - 1, "b": -(2**63)}) == {
        "a": 2**63 - 1,
        "b": -(2**63),
    }


def test_shared_lists_cannot_expand_without_bound() -> None:
    # 20 levels of 10 references to one list: 10**19 leaves if walked naively.
    value: Any = ["x" * 10] * 10
    for _ in range(18):
        value = [value] * 10
    started = time.perf_counter()
    assert "larger than" in refusal(limits.check_parameters, {"bomb": value})
    assert time.perf_counter() - started < 2


def test_a_serialised_size_over_the_limit_is_refused() -> None:
    # many small escaped characters: the JSON text is larger than the sum of lengths
    parameters = {"s": "\x01" * (limits.MAX_PARAMETERS_BYTES // 3)}
    assert "larger than 1024 KiB" in refusal(limits.check_parameters, parameters)


# --- --param values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1024", 1024),
        ("0.3", 0.3),
        ('["###", "\\n\\n"]', ["###", "\n\n"]),
        ('{"a": {"b": null}}', {"a": {"b": None}}),
        ("true", True),
        ("plain text", "plain text"),
        ("[not json", "[not json"),
        ('"quoted"', "quoted"),
        ("9223372036854775807", 2**63 - 1),
        ('"[[[[[[[[[[[[[[[[[[[[[[[[[["', "[" * 26),
    ],
)
def test_parameter_values_are_json_or_text(text: str, value: Any) -> None:
    assert limits.parse_parameter_value(text) == value


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[" * 50_000 + "]" * 50_000, "nested more than 19 levels deep"),
        ("[" * 600 + "]" * 600, "nested more than 19 levels deep"),
        ("[" * 20 + "]" * 20, "nested more than 19 levels deep"),
        ("1" * 4301, "too large a whole number"),
        ("[" + "9" * 100_000 + "]", "too large a whole number"),
        ("9223372036854775808", "too large a whole number"),
        ("1e400", "finite"),
        ("NaN", "finite"),
        ("-Infinity", "finite"),
        ('"a\\ud800b"', "lone surrogate"),
        ('"a\\u0000b"', "NUL"),
        ("a\x00b", "NUL"),
        ("x" * (limits.MAX_PARAMETERS_BYTES + 1), "larger than"),
    ],
    ids=short_id,
)
def test_hostile_parameter_values_give_one_line(text: str, complaint: str) -> None:
    message = refusal(limits.parse_parameter_value, text)
    assert complaint in message
    assert message.startswith("the parameter value")


def test_nineteen_levels_is_the_deepest_parameter_value() -> None:
    text = "[" * 19 + "]" * 19
    value = limits.parse_parameter_value(text)
    assert limits.check_parameters({"w": value})
