"""Static checks: variables provided and used, a prompt that is not empty."""

from __future__ import annotations

from promptdeck.checks.static import StaticProblem, static_problems
from promptdeck.checks.suite import parse_suite

PROMPT = "You help {{customer_name}} with {{product_name}}. Be {{ tone }}."


def suite_with(*variables: dict[str, object]) -> object:
    return parse_suite(
        {
            "cases": [
                {"name": f"case {i}", "vars": v, "input": "hi", "assert": [{"type": "is-json"}]}
                for i, v in enumerate(variables, 1)
            ]
        }
    )


def test_a_suite_that_provides_exactly_the_prompts_variables_has_no_problem() -> None:
    suite = suite_with({"customer_name": "Ana", "product_name": "Taskly", "tone": "kind"})
    assert static_problems(PROMPT, suite) == ()  # type: ignore[arg-type]


def test_missing_and_unused_variables_are_named_per_case() -> None:
    suite = suite_with(
        {"customer_name": "Ana", "product_name": "Taskly", "tone": "kind"},
        {"customer_name": "Ana"},
        {"customer_name": "Ana", "product_name": "T", "tone": "x", "plan": "pro", "seats": 3},
    )
    problems = static_problems(PROMPT, suite)  # type: ignore[arg-type]
    assert [str(p) for p in problems] == [
        "case 'case 2': does not provide the prompt's variables product_name, tone",
        "case 'case 3': provides variables the prompt does not use: plan, seats",
    ]


def test_an_empty_prompt_is_a_problem_for_the_whole_suite() -> None:
    problems = static_problems("  \n", suite_with({}))  # type: ignore[arg-type]
    assert problems == (StaticProblem(None, "the prompt is empty"),)


def test_a_max_cost_assertion_needs_a_price_for_the_model() -> None:
    suite = parse_suite(
        {
            "cases": [
                {"name": "cheap", "input": "hi", "assert": [{"type": "max-cost", "value": 0.01}]}
            ]
        }
    )
    assert static_problems("Hi", suite) == ()
    (problem,) = static_problems("Hi", suite, unpriced_model="llama3.1:8b")
    assert problem.case == "cheap"
    assert '[prices."llama3.1:8b"]' in problem.message
