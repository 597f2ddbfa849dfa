"""Template variables: ``{{name}}`` found, compared and rendered (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promptdeck.errors import PromptDeckError, TemplateError
from promptdeck.records import Version
from promptdeck.templates import find_variables, render, variable_changes


def test_variables_in_order_of_first_use_without_repeats() -> None:
    text = "Hi {{customer_name}}, about {{product}}. Bye {{customer_name}}! {{ ticket_id }}"
    assert find_variables(text) == ("customer_name", "product", "ticket_id")


@pytest.mark.parametrize(
    "text",
    [
        "no variables at all",
        "{single} braces",
        "{{ 1abc }} starts with a digit",
        "{{with-dash}} is no identifier",
        "{{}} empty",
        "{{ two words }}",
    ],
)
def test_things_that_are_not_variables(text: str) -> None:
    assert find_variables(text) == ()


def test_spaces_inside_the_braces_are_allowed() -> None:
    assert find_variables("{{name}} {{ name }} {{  other\t}}") == ("name", "other")


def test_variable_changes_lists_added_and_removed() -> None:
    old = "Hello {{customer_name}} from {{product}}"
    new = "Hello {{ customer_name }}, ticket {{ticket_id}}"
    assert variable_changes(old, new) == (("ticket_id",), ("product",))
    assert variable_changes(old, old) == ((), ())


def test_render_fills_every_variable() -> None:
    text = "Dear {{customer_name}}, your {{ product }} order #{{order}} ({{customer_name}})"
    assert render(text, {"customer_name": "Ada", "product": "Deck", "order": 42}) == (
        "Dear Ada, your Deck order #42 (Ada)"
    )


def test_render_is_one_pass_values_are_not_templates() -> None:
    assert render("{{a}} {{b}}", {"a": "{{b}}", "b": "x"}) == "{{b}} x"


def test_render_keeps_text_without_variables_exactly() -> None:
    text = "  keep\r\n\ttabs {single} and [bold]markup[/bold] \x1b[31m \n"
    assert render(text, {}) == text


def test_missing_variable_raises_naming_every_missing_one() -> None:
    with pytest.raises(TemplateError, match="missing template variables: customer_name, order"):
        render("{{customer_name}} {{product}} {{order}}", {"product": "x"})
    with pytest.raises(TemplateError, match=r"missing template variable: b$"):
        render("{{a}}{{b}}", {"a": 1})


def test_template_error_is_a_promptdeck_error() -> None:
    assert issubclass(TemplateError, PromptDeckError)


def test_version_lists_its_variables() -> None:
    version = Version(
        uid="u",
        feature="f",
        number=1,
        system_prompt="Translate {{text}} into {{ language }}; {{text}} again",
        model="m",
        parameters={},
        author="a",
        reason="r",
        created_at=datetime.now(UTC),
        parent=None,
        content_hash="h",
    )
    assert version.variables == ("text", "language")
