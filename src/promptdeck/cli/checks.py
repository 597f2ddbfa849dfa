"""Behavioural checks: ``check`` (run a suite against a version) and ``suite``.

Exit codes of ``check``: 0 every run passed, 1 a run failed or errored (or something
was refused), 2 usage, 130 interrupted (nothing recorded). API keys come from the
environment only and never appear in what is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from promptdeck.cli.common import (
    ENV_OPTION,
    JSON_OPTION,
    REASON_OPTION,
    CliState,
    VersionType,
    emit_json,
    fail,
    feature_argument,
    shown,
    when,
)

if TYPE_CHECKING:
    from promptdeck.checks.records import CheckRun
    from promptdeck.checks.runner import SuiteRun
    from promptdeck.checks.store_run import PlannedRun
    from promptdeck.store import PromptStore

ANSWER_CHARS = 300  # of a failing answer, in the text output (--json has it whole)


@click.command()
@feature_argument(required=False)
@click.argument("version", type=VersionType(names=True), required=False)
@click.option("--all", "run_all", is_flag=True, help="Every feature's active and newer versions.")
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=16, show_default=True,
    help="Model calls in flight at once.",
)  # fmt: skip
@ENV_OPTION
@JSON_OPTION
@click.pass_obj
def check(
    state: CliState,
    feature: str | None,
    version: int | str | None,
    run_all: bool,
    concurrency: int,
    environment: str,
    as_json: bool,
) -> None:
    """Run FEATURE's suite against VERSION (a number, 'active' in --env, or 'latest',
    the default) and store the run. With --all: every feature's active version in --env
    and every newer one (the nightly job).

    Exits 0 when every run passed, 1 when one failed or errored.
    """
    from promptdeck.checks import store_run
    from promptdeck.checks.runner import RunCancelled

    if run_all == (feature is not None):
        raise click.UsageError("give FEATURE [VERSION], or --all")
    store = state.store()
    if run_all:
        plans: list[PlannedRun | str] = list(store_run.plan_all(store, environment))
    else:
        assert feature is not None
        plans = [store_run.plan(store, feature, version or "latest", environment)]
    reports: list[dict[str, Any]] = []
    all_passed = True
    try:
        for planned in plans:
            if isinstance(planned, str):
                if not as_json:
                    click.echo(planned)
                continue
            if not as_json:
                click.echo(_heading(planned))
            run, stored = store_run.run_and_record(store, planned, concurrency=concurrency)
            all_passed = all_passed and run.passed
            if as_json:
                reports.append(_json_report(planned, run, stored))
            else:
                _print_run(run, stored)
    except RunCancelled as exc:
        click.echo(f"interrupted: {exc}", err=True)
        sys.exit(130)
    if as_json:
        emit_json(reports if run_all else reports[0])
    sys.exit(0 if all_passed else 1)


def _heading(planned: PlannedRun) -> str:
    version, suite = planned.version, planned.suite
    cases = len(suite.body.get("cases") or [])
    return (
        f"{version.feature} v{version.number} ({version.model}) against suite "
        f"#{suite.number}: {cases} case(s)"
    )


def _print_run(run: SuiteRun, stored: CheckRun) -> None:
    for problem in run.static_problems:
        click.echo(f"  STATIC  {shown(str(problem))}")
    for case in run.cases:
        mark = {"passed": "PASS ", "failed": "FAIL ", "error": "ERROR"}[case.status]
        click.echo(
            f"  {mark}  {shown(case.name)}  "
            f"({case.passes}/{len(case.repeats)} passed, needs {case.threshold})"
        )
        if case.status == "passed":
            continue
        for repeat in case.repeats:
            if repeat.status == "error":
                click.echo(f"         #{repeat.repeat} error: {shown(repeat.error or '')}")
                continue
            failed = repeat.failed_assertions
            if not failed:
                continue
            for outcome in failed:
                click.echo(
                    f"         #{repeat.repeat} {shown(outcome.assertion.describe())}: "
                    f"{shown(outcome.result.reason)}"
                )
            click.echo(f"            answer: {shown(_short(repeat.answer or ''))}")
    totals = run.to_data()["totals"]
    assert isinstance(totals, dict)
    cost = "cost unknown" if run.cost is None else f"${run.cost:.4f}"
    click.echo(
        f"{stored.status}: {totals['cases_passed']}/{totals['cases']} cases passed, "
        f"{totals['answers']} answer(s), {cost}, {run.duration_s:.1f} s "
        f"(stored as run {stored.uid[:8]})"
    )


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ANSWER_CHARS else flat[: ANSWER_CHARS - 1] + "…"


def _json_report(planned: PlannedRun, run: SuiteRun, stored: CheckRun) -> dict[str, Any]:
    return {
        "feature": planned.version.feature,
        "version": planned.version.number,
        "suite": planned.suite.number,
        "suite_uid": planned.suite.uid,
        "run": stored.uid,
        "status": run.status,
        "passed": run.passed,
        "runner": stored.runner,
        "result": run.to_data(),
    }


# --- the suite --------------------------------------------------------------------------


@click.group()
def suite() -> None:
    """Show, edit or set a feature's behavioural suite (every change needs a reason)."""


@suite.command("show")
@feature_argument()
@click.option("--history", is_flag=True, help="List every revision instead.")
@JSON_OPTION
@click.pass_obj
def suite_show(state: CliState, feature: str, history: bool, as_json: bool) -> None:
    """Print FEATURE's current suite as YAML (what `suite set --file` takes)."""
    store = state.store()
    if history:
        revisions = store.checks.suite_history(feature)
        if as_json:
            emit_json(
                [
                    {"suite": r.number, "id": r.uid, "author": r.author, "reason": r.reason,
                     "created_at": r.created_at, "cases": len(r.body.get("cases") or [])}
                    for r in revisions
                ]
            )  # fmt: skip
            return
        if not revisions:
            click.echo(f"{feature} has no suite")
        for r in revisions:
            click.echo(f"#{r.number}  {when(r.created_at)}  {r.author}  {shown(r.reason)}")
        return
    current = store.checks.suite(feature)
    if current is None:
        fail(f"{feature} has no suite: add one with `promptdeck suite set {feature} --file F`")
    if as_json:
        emit_json({"suite": current.number, "id": current.uid, "body": current.body})
        return
    click.echo(_suite_yaml(current.body), nl=False)


def _suite_yaml(body: Any) -> str:
    from promptdeck import yamlio

    return yamlio.dump_suite(body)


def _load_suite_file(path: Path) -> dict[str, object]:
    """The suite in a YAML file: a bare suite, or a feature file's ``suite:`` key."""
    from promptdeck import yamlio

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    return yamlio.parse_suite_text(text, str(path))


def _save(store: PromptStore, feature: str, data: Any, reason: str, source: str) -> None:
    revision = store.checks.save_suite(feature, data, reason=reason, source=source)
    cases = len(revision.body.get("cases") or [])
    click.echo(f"{feature}: saved suite #{revision.number} ({cases} case(s))")


@suite.command("set")
@feature_argument()
@click.option("--file", "path", required=True, type=click.Path(path_type=Path),
              help="A YAML suite (or a feature file with a suite: key).")  # fmt: skip
@REASON_OPTION
@click.pass_obj
def suite_set(state: CliState, feature: str, path: Path, reason: str) -> None:
    """Make the suite in --file FEATURE's current suite."""
    store = state.store()
    _save(store, feature, _load_suite_file(path), reason, str(path))


@suite.command("edit")
@feature_argument()
@REASON_OPTION
@click.pass_obj
def suite_edit(state: CliState, feature: str, reason: str) -> None:
    """Edit FEATURE's suite in $EDITOR, then save it with --reason."""
    from promptdeck import yamlio

    store = state.store()
    current = store.checks.suite(feature)
    start = _suite_yaml(current.body) if current is not None else "cases:\n  - name: \n"
    edited = click.edit(start, extension=".yaml", require_save=True)
    if edited is None:
        fail("nothing saved: the editor was closed without saving")
    _save(store, feature, yamlio.parse_suite_text(edited, f"{feature} suite"), reason, "")
