"""The checks view: a run in a thread worker with a progress bar, cases filling in as
they finish, the app responsive meanwhile; the check column; editing the suite."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AppFactory
from llm_server import LLMServer, answer
from textual.widgets import DataTable, ProgressBar, Static, TextArea
from textual.widgets.data_table import ColumnKey
from tui_helpers import WRITE_TIME, run_async, settle

from promptdeck import yamlio
from promptdeck.checks.assertions import JUDGE_SYSTEM_PROMPT
from promptdeck.checks.model_call import ModelReply, ModelRequest
from promptdeck.checks.runner import Target, run_suite
from promptdeck.store import PromptStore
from promptdeck.store.checks import Checks
from promptdeck.tui.screens.checks import ChecksScreen, SuiteEditor

MODEL = "claude-3-5-haiku-20241022"
# customer-support's answers for the snapshot: good ones, but a competitor is discussed.
SUPPORT_ANSWERS = {
    "Geld": "Hallo Jonas, das tut mir leid. Ich gebe Ihre Anfrage an unser Billing-Team weiter, "
    "eine Kollegin meldet sich in Kürze bei Ihnen.\nHANDOFF",
    "Excel": "Bonjour Jonas, ouvrez le tableau puis Board settings > Export to CSV. Le fichier "
    "s'ouvre ensuite directement dans Excel.",
    "contraseña": "Hola Jonas, puedes restablecer tu contraseña desde la página de inicio de "
    "sesión con el enlace «¿Olvidaste tu contraseña?». Recibirás un correo.",
    "Trello": "Honestly, Trello is simpler, but Taskly has automations your team will love.",
    "outage": "I am sorry the outage cost your team a day of work. I am passing your request to "
    "our billing team, and a colleague will take over from here.\nHANDOFF",
    "timed out": "This is a known issue: exports to CSV currently time out for large boards. "
    "Please follow https://status.taskly.example for updates.",
    "person": "I am sorry this is still not working. A colleague will take over now.\nHANDOFF",
}
PROMPT = "You greet {{name}}."
CASES = 6


def suite_data() -> dict[str, Any]:
    return {
        "cases": [
            {
                "name": f"case {i}",
                "vars": {"name": "Ana"},
                "input": f"question {i}",
                "assert": [{"type": "contains", "value": "Hello"}],
            }
            for i in range(CASES)
        ]
    }


@pytest.fixture
def llm(tui_db: Path) -> Iterator[LLMServer]:
    with LLMServer() as server:
        Path(os.environ["PROMPTDECK_CONFIG"]).write_text(
            f'[providers.anthropic]\nbase_url = "{server.url}"\nmax_retries = 0\n',
            encoding="utf-8",
        )
        with PromptStore(tui_db, user="alice") as store:
            store.create_feature("greeter", PROMPT, model=MODEL, reason="first")
            store.checks.save_suite("greeter", suite_data(), reason="cases")
        yield server


@run_async
async def test_running_the_suite_fills_in_cases_with_progress_and_stays_responsive(
    make_app: AppFactory, llm: LLMServer, tui_db: Path
) -> None:
    for i in range(CASES):  # answers arrive one after another, the last one failing
        text = "Bye" if i == CASES - 1 else "Hello Ana"
        llm.script(f"question {i}", answer(text, delay=0.25 * (i + 1)))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.push_screen(ChecksScreen("greeter", 1))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecksScreen)
        table = screen.query_one("#checks-cases", DataTable)
        assert table.row_count == CASES
        assert str(table.get_cell("case 0", "result")) == "not run"
        await pilot.press("r")
        bar = screen.query_one("#checks-progress", ProgressBar)
        for _ in range(100):  # some cases done, others not yet
            await pilot.pause(0.05)
            if 0 < (bar.progress or 0) < CASES:
                break
        assert bar.display and 0 < bar.progress < CASES
        results = [str(table.get_cell(f"case {i}", "result")) for i in range(CASES)]
        assert "passed" in results and "running" in results
        await pilot.press("down")  # the app answers keys during the run
        assert table.cursor_row == 1
        for _ in range(200):
            await pilot.pause(0.05)
            if not screen.running:
                break
        await settle(pilot)
        assert str(table.get_cell("case 5", "result")) == "failed"
        assert "contains" in str(table.get_cell("case 5", "failure"))
        summary = str(screen.query_one("#checks-summary", Static).render())
        assert "failed" in summary and "$" in summary and " s " in summary
        await pilot.press(*["down"] * (CASES - 2))
        await settle(pilot)
        assert table.cursor_row == CASES - 1
        detail = str(screen.query_one("#checks-detail", Static).render())
        assert "answer: Bye" in detail and 'contains "Hello"' in detail
    with PromptStore(tui_db, user="alice") as store:
        latest = store.checks.latest_run("greeter", 1)
        assert latest is not None and latest.status == "failed"


@run_async
async def test_cancelling_a_run_records_nothing(
    make_app: AppFactory, llm: LLMServer, tui_db: Path
) -> None:
    for i in range(CASES):
        llm.script(f"question {i}", answer("Hello", delay=5))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.push_screen(ChecksScreen("greeter", 1))
        await settle(pilot)
        await pilot.press("r")
        for _ in range(100):
            await pilot.pause(0.05)
            if len(llm.requests) == CASES:
                break
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert not app.screen.running  # type: ignore[attr-defined]
    with PromptStore(tui_db, user="alice") as store:
        assert store.checks.runs("greeter", 1) == []


@run_async
async def test_k_opens_the_checks_of_the_selected_version_and_the_column_shows_state(
    make_app: AppFactory, tui_db: Path
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down")  # customer-support, which has a suite
        await settle(pilot)
        versions = app.screen.query_one("#versions", DataTable)
        assert str(versions.get_row_at(0)[2]) == "not run"
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, ChecksScreen)
        assert app.screen.feature == "customer-support"
        assert app.screen.query_one("#checks-cases", DataTable).row_count == 7


@run_async
async def test_the_suite_is_edited_as_yaml_and_saved_with_a_reason(
    make_app: AppFactory, llm: LLMServer, tui_db: Path
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.push_screen(ChecksScreen("greeter", 1))
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, SuiteEditor)
        area = editor.query_one("#suite-yaml", TextArea)
        data = yaml.safe_load(area.text)
        data["cases"] = data["cases"][:2]
        area.text = yaml.safe_dump(data)
        await pilot.press("ctrl+s")  # no reason yet: refused, the editor stays
        await settle(pilot)
        assert "reason" in str(editor.query_one("#suite-error", Static).render()).lower()
        editor.query_one("#suite-reason").focus()
        await pilot.press(*"two cases are enough")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ChecksScreen)
        assert app.screen.query_one("#checks-cases", DataTable).row_count == 2
    with PromptStore(tui_db, user="alice") as store:
        current = store.checks.suite("greeter")
        assert current is not None and current.number == 2
        assert current.reason == "two cases are enough"


def test_snapshot_checks_view(make_app: AppFactory, tui_db: Path, snap_compare: Any) -> None:
    """customer-support v5 with a stored run: one case failed, its answer beside it."""
    with PromptStore(tui_db, user="alice") as store:
        suite = store.checks.suite("customer-support")
        assert suite is not None
        version = store.version("customer-support", 5)
        target = Target(version.system_prompt, version.model, version.parameters)

        async def complete(request: ModelRequest) -> ModelReply:
            last = request.messages[-1].content
            if request.system == JUDGE_SYSTEM_PROMPT:
                return ModelReply('{"pass": true, "reason": "Meets the rubric."}', 50, 9, MODEL)
            for key, text in SUPPORT_ANSWERS.items():
                if key in last:
                    return ModelReply(text, 900, 80, MODEL, 250.0)
            return ModelReply("?", 10, 1, MODEL, 250.0)

        run = asyncio.run(run_suite(target, suite.suite, complete=complete, grader=MODEL))
        run = dataclasses.replace(
            run, started_at=WRITE_TIME, finished_at=WRITE_TIME + timedelta(seconds=4.2)
        )
        store.checks.record_run("customer-support", 5, run, suite_uid=suite.uid)

    async def open_checks(pilot: Any) -> None:
        await settle(pilot)
        await pilot.app.push_screen(ChecksScreen("customer-support", 5))
        await settle(pilot)
        for _ in range(3):
            await pilot.press("down")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(110, 32), run_before=open_checks)


async def open_suite_editor(pilot: Any) -> SuiteEditor:
    await settle(pilot)
    await pilot.app.push_screen(ChecksScreen("customer-support", 5))
    await settle(pilot)
    await pilot.press("e")
    await settle(pilot)
    editor = pilot.app.screen
    assert isinstance(editor, SuiteEditor)
    return editor


@run_async
async def test_saving_the_suite_runs_in_a_worker_and_the_editor_waits_for_it(
    make_app: AppFactory, tui_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    on_ui_thread: list[bool] = []
    real_save = Checks.save_suite

    def slow_save(self: Checks, *args: Any, **kwargs: Any) -> Any:
        on_ui_thread.append(threading.current_thread() is threading.main_thread())
        assert release.wait(10)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Checks, "save_suite", slow_save)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_suite_editor(pilot)
        with PromptStore(tui_db, user="alice") as store:
            suite = store.checks.suite("customer-support")
        assert suite is not None
        shorter = {**suite.body, "cases": suite.body["cases"][:-1]}
        editor.query_one("#suite-yaml", TextArea).text = yamlio.dump_suite(shorter)
        editor.query_one("#suite-reason").focus()
        await pilot.press(*"one case fewer", "ctrl+s")
        await pilot.pause(0.2)
        # The save waits in its worker; the app still answers keys meanwhile.
        assert editor.saving and app.screen is editor
        assert "Saving the suite" in str(editor.query_one("#suite-error", Static).render())
        assert editor.check_action("save", ()) is None
        await pilot.press("escape")  # waits for the save rather than leaving it behind
        await pilot.pause(0.1)
        assert app.screen is editor
        release.set()
        await settle(pilot)
        assert isinstance(app.screen, ChecksScreen)
        assert any("Saved the suite of customer-support" in n.message for n in app._notifications)
    assert on_ui_thread == [False]
    with PromptStore(tui_db, user="alice") as store:
        saved = store.checks.suite("customer-support")
        assert saved is not None and saved.reason == "one case fewer"
        assert len(saved.body["cases"]) == len(suite.body["cases"]) - 1


@run_async
async def test_a_refused_suite_save_is_one_line_and_keeps_the_editor(
    make_app: AppFactory, tui_db: Path
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_suite_editor(pilot)
        editor.query_one("#suite-reason").focus()
        await pilot.press(*"no change", "ctrl+s")  # the suite as it is: nothing changed
        await settle(pilot)
        assert app.screen is editor and not editor.saving
        (said,) = [n for n in app._notifications if n.title == "Suite not saved"]
        assert "nothing changed" in said.message and "\n" not in said.message
        assert "nothing changed" in str(editor.query_one("#suite-error", Static).render())
        assert editor.check_action("save", ()) is True


@run_async
async def test_case_names_use_the_room_a_wide_terminal_has(make_app: AppFactory) -> None:
    longest = "export question in French keeps the UI labels in English"  # sample suite
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(ChecksScreen("customer-support", 5))
        await settle(pilot)
        table = app.screen.query_one("#checks-cases", DataTable)
        assert table.columns[ColumnKey("case")].width == 40
        # The fit follows the terminal: wider shows the whole name, narrower again 40.
        for size, width in (((200, 50), len(longest)), ((80, 24), 40)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            assert table.columns[ColumnKey("case")].width == width, size
