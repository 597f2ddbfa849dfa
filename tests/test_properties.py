"""Property-based tests of the pure parts: diff, YAML round trip, templates, limits.

Each property runs PROMPTDECK_EXAMPLES examples (100 by default, enough for CI); set
the variable higher locally or in a bench run to search harder, e.g.
``PROMPTDECK_EXAMPLES=5000 pytest tests/test_properties.py``.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from promptdeck import limits, yamlio
from promptdeck.diff import diff_texts, split_lines
from promptdeck.errors import TemplateError, ValidationError
from promptdeck.records import FeatureDocument, VersionSpec
from promptdeck.templates import VARIABLE_RE, find_variables, render

EXAMPLES = int(os.environ.get("PROMPTDECK_EXAMPLES", "100"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a shared 2-core machine: time is asserted where it matters, in CPU
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any character, lone surrogates and NUL included.
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=200)
# Text that looks like prompts: line breaks of every kind, tabs, spaces, YAML syntax.
PROMPT_CHAR = st.one_of(
    ANY_CHAR,
    st.sampled_from(list("\n\r\t  -:#&*!|>'\"{}[]%@`\x85\u2028\u2029\ufeff\x1b\x00")),
)
PROMPT_TEXT = st.text(PROMPT_CHAR, max_size=300)

PATHS = [
    pytest.param(loader, dumper, id=f"{load_name}-load-{dump_name}-dump")
    for load_name, loader in (("c", yamlio.CLoader), ("python", yamlio.PythonLoader))
    for dump_name, dumper in (("c", yamlio.CDumper), ("python", yamlio.PythonDumper))
    if loader is not None and dumper is not None
]

LOADERS = [loader for loader in (yamlio.CLoader, yamlio.PythonLoader) if loader is not None]


# --- the diff engine ----------------------------------------------------------------------

LINE_POOL = st.sampled_from(["", "a", "b", "a b", "  a", "x\ty", "{{v}}", "中文", "\x1b[1m"])
SMALL_TEXT = st.lists(st.one_of(LINE_POOL, st.text(PROMPT_CHAR, max_size=12)), max_size=40).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(
        lambda end: end.join(lines) + ("" if not lines else end)
    )
)


def sides(result: Any, side: str) -> list[str]:
    number = "left_no" if side == "left" else "right_no"
    rows = [row for row in result.rows if getattr(row, number) is not None]
    assert [getattr(row, number) for row in rows] == list(range(1, len(rows) + 1))
    return ["".join(segment.text for segment in getattr(row, side)) for row in rows]


@PROPERTY
@given(old=st.one_of(SMALL_TEXT, PROMPT_TEXT), new=st.one_of(SMALL_TEXT, PROMPT_TEXT))
def test_the_diff_rows_rebuild_both_texts(old: str, new: str) -> None:
    for ignore_whitespace in (False, True):
        result = diff_texts(old, new, ignore_whitespace=ignore_whitespace)
        assert sides(result, "left") == split_lines(old)
        assert sides(result, "right") == split_lines(new)
        assert all(s.text for row in result.rows for s in (*row.left, *row.right))
        changed = [row for row in result.rows if row.kind != "equal"]
        assert result.removed == sum(row.left_no is not None for row in changed)
        assert result.added == sum(row.right_no is not None for row in changed)
        for index in result.hunks:
            assert result.rows[index].kind != "equal"
            assert index == 0 or result.rows[index - 1].kind == "equal"
        if not ignore_whitespace:
            assert result.identical == (split_lines(old) == split_lines(new))


@PROPERTY
@given(text=st.one_of(SMALL_TEXT, PROMPT_TEXT))
def test_a_text_against_itself_is_all_equal_rows(text: str) -> None:
    result = diff_texts(text, text)
    assert result.identical and not result.hunks
    assert all(row.kind == "equal" for row in result.rows)


ADVERSARIAL = st.builds(
    lambda pool, a, b: (
        "\n".join(pool[i % len(pool)] for i in a),
        "\n".join(pool[i % len(pool)] for i in b),
    ),
    st.lists(st.text("ab ", min_size=1, max_size=3), min_size=1, max_size=4),
    st.lists(st.integers(0, 3), min_size=500, max_size=4000),
    st.lists(st.integers(0, 3), min_size=500, max_size=4000),
)  # fmt: skip


@settings(PROPERTY, max_examples=max(10, EXAMPLES // 10))
@given(pair=ADVERSARIAL)
def test_the_diff_does_bounded_work_on_repetitive_texts(pair: tuple[str, str]) -> None:
    old, new = pair
    started = time.process_time()  # CPU time: other processes' load does not count
    result = diff_texts(old, new)
    spent = time.process_time() - started
    assert spent < 1.5, f"{spent:.2f} s of CPU for {len(old) + len(new)} characters"
    assert sides(result, "left") == split_lines(old)
    assert sides(result, "right") == split_lines(new)


# --- YAML export then import --------------------------------------------------------------

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
)
PARAMETERS = st.dictionaries(
    st.text(ANY_CHAR, max_size=12),
    st.recursive(
        JSON_LEAF,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    ),
    max_size=5,
)
NAME = st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,30}\Z"), ANY_TEXT)
USER = st.one_of(st.sampled_from(["maria", "José", "张伟"]), ANY_TEXT)
TIME = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2300, 1, 1), timezones=st.just(UTC)
)


@st.composite
def versions(draw: st.DrawFn) -> VersionSpec:
    return VersionSpec(
        number=draw(st.one_of(st.integers(1, 50), st.integers(-5, 2**40))),
        system_prompt=draw(PROMPT_TEXT),
        model=draw(st.one_of(st.just("claude-sonnet-4"), ANY_TEXT)),
        parameters=draw(PARAMETERS),
        uid=draw(st.one_of(st.none(), st.uuids().map(str), ANY_TEXT)),
        author=draw(st.one_of(st.none(), USER)),
        reason=draw(st.one_of(st.none(), ANY_TEXT)),
        created_at=draw(st.one_of(st.none(), TIME)),
    )


# Values the limits accept, so most examples reach the round trip.
STORABLE_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
STORABLE_TEXT = st.text(STORABLE_CHAR, max_size=200)
WORDY = st.text(st.characters(categories=("L", "N", "P", "Zs")), min_size=1, max_size=40)
STORABLE_PARAMETERS = st.dictionaries(
    WORDY,
    st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=False, allow_infinity=False),
            STORABLE_TEXT,
        ),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(WORDY, inner, max_size=4)
        ),
        max_leaves=20,
    ),
    max_size=5,
)
STORABLE_VERSION = st.builds(
    VersionSpec,
    number=st.integers(1, limits.MAX_VERSION),
    system_prompt=st.text(st.one_of(STORABLE_CHAR, PROMPT_CHAR), min_size=1, max_size=300),
    model=WORDY,
    parameters=STORABLE_PARAMETERS,
    uid=st.one_of(st.none(), st.uuids().map(str)),
    author=st.one_of(st.none(), WORDY),
    reason=st.one_of(st.none(), st.text(STORABLE_CHAR, min_size=1, max_size=200)),
    created_at=st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime(1970, 1, 2), max_value=datetime(2199, 1, 1), timezones=st.just(UTC)
        ),
    ),
)
VALID_NAME = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,30}\Z")


def acceptable(feature: str, spec: VersionSpec) -> bool:
    """What promptdeck.limits says of every field, as the store will check it."""
    try:
        limits.check_name(feature)
        limits.check_version_number(spec.number)
        limits.check_prompt(spec.system_prompt)
        limits.check_model(spec.model)
        limits.check_parameters(spec.parameters)
        if spec.uid is not None:
            limits.check_uid(spec.uid)
        if spec.author is not None:
            limits.check_author(spec.author.strip())
        if spec.reason is not None:
            limits.check_reason(spec.reason)
        if spec.created_at is not None:
            limits.check_timestamp(spec.created_at)
    except ValidationError as exc:
        assert "\n" not in str(exc)
        return False
    return True


def as_stored(spec: VersionSpec) -> VersionSpec:
    """The version as the store would keep it (stripped text fields, JSON parameters)."""
    return VersionSpec(
        number=spec.number,
        system_prompt=spec.system_prompt,
        model=spec.model.strip(),
        parameters=limits.check_parameters(spec.parameters),
        uid=spec.uid,
        author=spec.author.strip() if spec.author else None,
        reason=spec.reason.strip() if spec.reason else None,
        created_at=spec.created_at,
    )


@pytest.mark.parametrize(("loader", "dumper"), PATHS)
@PROPERTY
@given(feature=VALID_NAME, spec=STORABLE_VERSION)
def test_what_limits_accept_survives_export_and_import_exactly(
    loader: Any, dumper: Any, feature: str, spec: VersionSpec
) -> None:
    assume(acceptable(feature, spec))
    assume(spec.author is None or spec.author.strip())
    assume(spec.reason is None or spec.reason.strip())
    stored = as_stored(spec)
    text = yamlio.dump_document(FeatureDocument(feature, (stored,)), dumper=dumper)
    (back,) = yamlio.parse_text(text, "f.yaml", loader=loader).versions
    assert back == stored


def yaml_by_hand(feature: str, spec: VersionSpec) -> str:
    """A file as someone might write it: JSON-quoted scalars (YAML reads JSON escapes)."""

    def scalar(value: Any) -> str:
        if isinstance(value, datetime):
            return json.dumps(value.isoformat())
        return json.dumps(value, ensure_ascii=True, allow_nan=True)

    fields: dict[str, Any] = {
        "feature": feature,
        "version": spec.number,
        "model": spec.model,
        "system_prompt": spec.system_prompt,
        "id": spec.uid,
        "author": spec.author,
        "reason": spec.reason,
        "created_at": spec.created_at,
    }
    lines = [f"{key}: {scalar(value)}" for key, value in fields.items() if value is not None]
    lines.append("parameters: " + json.dumps(spec.parameters, ensure_ascii=True, allow_nan=True))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("loader", LOADERS)
@PROPERTY
@given(feature=NAME, spec=versions())
def test_any_hand_written_file_is_read_or_refused_in_one_line(
    loader: Any, feature: str, spec: VersionSpec
) -> None:
    text = yaml_by_hand(feature, spec)
    try:
        document = yamlio.parse_text(text, "f.yaml", loader=loader)
    except ValidationError as exc:
        message = str(exc)
        assert message.startswith("f.yaml")
        assert "\n" not in message
        return
    (back,) = document.versions
    # Whatever was accepted passes every limit, so the store can hold it on any backend.
    assert acceptable(document.feature, back)
    assert back.system_prompt == spec.system_prompt


@PROPERTY
@given(text=st.text(PROMPT_CHAR, max_size=400))
def test_no_text_makes_the_parser_raise_anything_but_a_validation_error(text: str) -> None:
    for loader in LOADERS:
        try:
            yamlio.parse_text(text, "f.yaml", loader=loader)
        except ValidationError as exc:
            assert "\n" not in str(exc)


def test_the_c_and_pure_loaders_agree_on_the_sample_prompts(samples: Any) -> None:
    if yamlio.CLoader is None:
        pytest.skip("PyYAML was built without libyaml")
    for path in sorted(samples.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert yamlio.parse_text(text, loader=yamlio.CLoader) == yamlio.parse_text(
            text, loader=yamlio.PythonLoader
        )
        assert yaml.safe_load(text) is not None


# --- templates ----------------------------------------------------------------------------

IDENTIFIER = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z")
LITERAL = st.text(st.characters(exclude_characters="{}"), max_size=20)


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, list[str]]:
    pieces: list[str] = []
    names: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        pieces.append(draw(LITERAL))
        name = draw(IDENTIFIER)
        pieces.append("{{" + draw(st.sampled_from(["", " ", "  "])) + name + " }}")
        names.append(name)
    pieces.append(draw(LITERAL))
    return "".join(pieces), names


@PROPERTY
@given(template=templates(), values=st.lists(LITERAL, min_size=6, max_size=6))
def test_templates_find_every_variable_and_render_them_all(
    template: tuple[str, list[str]], values: list[str]
) -> None:
    text, names = template
    assert find_variables(text) == tuple(dict.fromkeys(names))
    mapping = {name: values[i % len(values)] for i, name in enumerate(dict.fromkeys(names))}
    rendered = render(text, mapping)
    assert not VARIABLE_RE.search(rendered)
    assert rendered == VARIABLE_RE.sub(lambda m: mapping[m.group(1)], text)
    if names:
        missing = dict(mapping)
        missing.pop(names[0])
        with pytest.raises(TemplateError, match=re.escape(names[0])):
            render(text, missing)


@PROPERTY
@given(text=PROMPT_TEXT)
def test_find_variables_never_fails_on_any_text(text: str) -> None:
    found = find_variables(text)
    assert len(found) == len(set(found))
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in found)


# --- names and parameters -----------------------------------------------------------------


@PROPERTY
@given(name=NAME)
def test_names_are_accepted_exactly_when_they_fit_the_rule(name: str) -> None:
    fits = bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)) and len(name) <= 200
    try:
        assert limits.check_name(name) == name
        assert fits
    except ValidationError as exc:
        assert not fits
        assert "\n" not in str(exc)


@PROPERTY
@given(user=USER)
def test_a_refused_user_name_is_never_echoed_with_its_controls(user: str) -> None:
    try:
        assert limits.check_user(user) == user
    except ValidationError as exc:
        message = str(exc)
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", message)
        return
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", user)
    assert 0 < len(user) <= limits.MAX_USER


@PROPERTY
@given(parameters=PARAMETERS)
def test_parameters_are_copied_exactly_or_refused(parameters: dict[str, Any]) -> None:
    try:
        copied = limits.check_parameters(parameters)
    except ValidationError as exc:
        assert "\n" not in str(exc)
        return
    assert copied == json.loads(json.dumps(parameters))
    for value in copied.values():
        assert limits.parse_parameter_value(json.dumps(value, ensure_ascii=False)) == value


@PROPERTY
@given(text=st.one_of(ANY_TEXT, st.recursive(
    st.sampled_from(["1", '"a"', "9" * 30, "[]", "{}", "null", "1e999", '"\\ud800"']),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        inner.map(lambda item: '{"k": ' + item + "}"),
    ),
    max_leaves=40,
)))  # fmt: skip
def test_any_param_value_is_parsed_or_refused_in_one_line(text: str) -> None:
    try:
        value = limits.parse_parameter_value(text)
    except ValidationError as exc:
        assert "\n" not in str(exc)
        return
    assert limits.check_parameters({"k": value})
