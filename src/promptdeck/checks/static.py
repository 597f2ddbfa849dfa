"""Checks that need no model: they run first, always, and cost nothing. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from promptdeck.checks.suite import Suite
from promptdeck.errors import TemplateError
from promptdeck.templates import find_variables, render


@dataclass(frozen=True, slots=True)
class StaticProblem:
    """One thing wrong before any model is called; ``case`` is None for the whole suite."""

    case: str | None
    message: str

    def __str__(self) -> str:
        return f"case '{self.case}': {self.message}" if self.case else self.message

    def to_data(self) -> dict[str, object]:
        return {"case": self.case, "message": self.message}


def static_problems(
    system_prompt: str, suite: Suite, *, unpriced_model: str | None = None
) -> tuple[StaticProblem, ...]:
    """Everything wrong with running ``suite`` against ``system_prompt``, in case order.

    ``unpriced_model``: the version's model when the price table does not know it, so a
    case with a ``max-cost`` assertion is reported here instead of failing every repeat.
    """
    problems: list[StaticProblem] = []
    if not system_prompt.strip():
        problems.append(StaticProblem(None, "the prompt is empty"))
    used = find_variables(system_prompt)
    for case in suite.cases:
        missing = [name for name in used if name not in case.variables]
        if missing:
            names = ", ".join(missing)
            plural = "s" if len(missing) > 1 else ""
            problems.append(
                StaticProblem(case.name, f"does not provide the prompt's variable{plural} {names}")
            )
        unused = [name for name in case.variables if name not in used]
        if unused:
            names = ", ".join(unused)
            plural = "s" if len(unused) > 1 else ""
            problems.append(
                StaticProblem(
                    case.name, f"provides variable{plural} the prompt does not use: {names}"
                )
            )
        if not missing:
            try:
                render(system_prompt, case.variables)
            except TemplateError as exc:  # defensive: render and find_variables must agree
                problems.append(StaticProblem(case.name, str(exc)))
        if unpriced_model and any(a.kind == "max-cost" for a in case.assertions):
            problems.append(
                StaticProblem(
                    case.name,
                    f"has a max-cost assertion but model {unpriced_model} has no price "
                    f'(add [prices."{unpriced_model}"] input/output to the config)',
                )
            )
    return tuple(problems)
