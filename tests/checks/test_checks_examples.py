"""The sample suites (the ``suite:`` key of two sample_prompts files) parse, fit their
prompts, and tell a good model from a bad one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from checks_helpers import ENV, fast_config
from llm_server import LLMServer, Reply, Seen, answer

from promptdeck.checks.assertions import JUDGE_SYSTEM_PROMPT
from promptdeck.checks.runner import SuiteRun, Target, run_suite_blocking
from promptdeck.checks.static import static_problems
from promptdeck.checks.suite import Suite, parse_suite, suite_to_data

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_prompts"


def load_suite(feature: str) -> Suite:
    path = SAMPLES / f"{feature}.yaml"
    return parse_suite(yaml.safe_load(path.read_text(encoding="utf-8"))["suite"], str(path))


def sample(feature: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{feature}.yaml").read_text(encoding="utf-8"))
    return data


def version(feature: str, number: int | None = None) -> dict[str, Any]:
    """A sample version: the given number, else the latest."""
    versions = sample(feature)["versions"]
    if number is None:
        return dict(versions[-1])
    return dict(next(v for v in versions if v["version"] == number))


@pytest.mark.parametrize("feature", ["customer-support", "ticket-classifier"])
def test_the_example_suites_fit_the_active_and_latest_prompts(feature: str) -> None:
    suite = load_suite(feature)
    active = sample(feature)["active"]["production"]
    for number in (active, None):
        assert static_problems(version(feature, number)["system_prompt"], suite) == ()
    assert parse_suite(suite_to_data(suite)) == suite


def test_an_older_prompt_without_the_suites_variables_is_caught() -> None:
    problems = static_problems(
        version("customer-support", 1)["system_prompt"], load_suite("customer-support")
    )
    assert problems
    assert "provides variables the prompt does not use: pricing_url, status_page_url" in str(
        problems[0]
    )


def test_the_suites_travel_inside_their_features_files() -> None:
    from promptdeck import yamlio

    documents = {d.feature: d for d in yamlio.read_files([SAMPLES])}
    with_suites = sorted(name for name, d in documents.items() if d.suite is not None)
    assert with_suites == ["customer-support", "ticket-classifier"]


SUPPORT_ANSWERS = {
    "Geld": "Hallo Jonas, das tut mir leid. Ich gebe Ihre Anfrage an unser Billing-Team weiter, "
    "eine Kollegin meldet sich in Kürze bei Ihnen.\nHANDOFF",
    "Excel": "Bonjour Jonas, ouvrez le tableau puis Board settings > Export to CSV. Le fichier "
    "s'ouvre ensuite directement dans Excel.",
    "contraseña": "Hola Jonas, puedes restablecer tu contraseña desde la página de inicio de "
    "sesión con el enlace «¿Olvidaste tu contraseña?». Recibirás un correo con las instrucciones.",
    "Trello": "I can only help with Taskly. Taskly lets your team plan work on boards with "
    "automations; the current plans are at https://taskly.example/pricing.",
    "outage": "I am sorry the outage cost your team a day of work. I am passing your request to "
    "our billing team, and a colleague will take over from here.\nHANDOFF",
    "timed out": "This is a known issue: exports to CSV currently time out for large boards. "
    "Please follow https://status.taskly.example for updates.",
    "person": "I am sorry this is still not working. A colleague will take over now.\nHANDOFF",
}


def support_model(promises_refunds: bool) -> Any:
    def respond(seen: Seen) -> Reply:
        if seen.system == JUDGE_SYSTEM_PROMPT:
            graded = seen.last_user.split("<answer>")[1]
            if "erstatten" in graded or "refund you" in graded:
                return answer('{"pass": false, "reason": "It promises a refund."}')
            return answer('{"pass": true, "reason": "Meets the rubric."}')
        for key, text in SUPPORT_ANSWERS.items():
            if key in seen.last_user:
                if promises_refunds and key == "Geld":
                    text = (
                        "Hallo Jonas, selbstverständlich erstatten wir Ihnen den doppelten Betrag."
                    )
                return answer(text, input_tokens=900, output_tokens=80)
        return answer("?")

    return respond


def run_support(promises_refunds: bool) -> SuiteRun:
    latest = version("customer-support")
    with LLMServer(support_model(promises_refunds)) as server:
        target = Target(latest["system_prompt"], latest["model"], latest["parameters"])
        return run_suite_blocking(
            target, load_suite("customer-support"), providers=fast_config(server.url), environ=ENV
        )


def test_customer_support_suite_passes_a_good_model_and_catches_a_refund_promise() -> None:
    good = run_support(promises_refunds=False)
    assert good.status == "passed", [
        (r.case, [o.result.reason for o in r.failed_assertions], r.error)
        for r in good.repeats
        if r.status != "passed"
    ]
    assert good.cost is not None and good.cost > 0

    bad = run_support(promises_refunds=True)
    assert bad.status == "failed"
    failed = {c.name: c for c in bad.cases if c.status != "passed"}
    assert list(failed) == ["refund request in German"]
    reasons = {
        o.result.reason for o in failed["refund request in German"].repeats[0].failed_assertions
    }
    assert 'contains "erstatten wir"' in reasons
    assert "judge: It promises a refund." in reasons
    assert any(reason.startswith("missing") or "HANDOFF" in reason for reason in reasons)


def classifier(fenced: bool) -> Any:
    verdicts = {
        "taskly-login": ("security", "urgent", "en", True),
        "card payment": ("billing", "high", "en", False),
        "Petra": ("how_to", "low", "de", False),
        "Okta": ("account", "urgent", "en", True),
        "dark mode": ("feature_request", "low", "en", False),
    }

    def respond(seen: Seen) -> Reply:
        for key, (category, priority, language, human) in verdicts.items():
            if key in seen.system:
                text = json.dumps(
                    {
                        "category": category,
                        "priority": priority,
                        "language": language,
                        "summary": "A ticket.",
                        "needs_human": human,
                        "confidence": 0.9,
                    }
                )
                return answer(f"```json\n{text}\n```" if fenced else text)
        return answer("{}")

    return respond


@pytest.mark.parametrize("fenced", [False, True])
def test_ticket_classifier_suite_checks_the_json_answer(fenced: bool) -> None:
    latest = version("ticket-classifier")
    with LLMServer(classifier(fenced)) as server:
        target = Target(latest["system_prompt"], latest["model"], latest["parameters"])
        result = run_suite_blocking(
            target, load_suite("ticket-classifier"), providers=fast_config(server.url), environ=ENV
        )
    if not fenced:
        assert result.status == "passed"
        return
    assert result.status == "failed"
    assert {c.status for c in result.cases} == {"failed"}
    dark_mode = result.cases[-1].repeats[0]
    reasons = [o.result.reason for o in dark_mode.failed_assertions]
    assert reasons[0].startswith('does not start with "{"; got "```json')
    assert reasons[1] == 'contains "```"'
    assert all(r.startswith("not JSON") for r in reasons[2:]) and len(reasons) == 4
