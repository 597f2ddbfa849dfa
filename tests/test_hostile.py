"""The hostile-input corpus of issue 14, each input run through the real CLI.

Every case: exit code 1, exactly one line on stderr (``error: ...``), no traceback, no
raw terminal escape, and the store unchanged (every row of every table, compared by
``PromptStore.backup``). Files live in tests/hostile/; add the next one there (a YAML
file is picked up by itself) or to COMMAND_CASES. ``Prompts.record`` with absurd figures
(RECORD_CASES) never raises and stores nothing of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from promptdeck.runtime import Prompts
from promptdeck.store import PromptStore

PROMPTDECK = Path(sys.executable).with_name("promptdeck")
HOSTILE = Path(__file__).resolve().parent / "hostile"
BIG = str(2**63)
ESCAPE_USER = "m\x1b]0;OWNED\x07\x1b[2J"

# (id, arguments after --db, stdin). {suite:TEXT} is a scratch file holding TEXT.
COMMAND_CASES: list[tuple[str, list[str], str | None]] = [
    ("param-depth-600", ["save", "translator", "-f", "-", "-m", "x", "--param",
                         "w=" + "[" * 600 + "]" * 600], "new"),
    ("param-depth-50000", ["save", "translator", "-f", "-", "-m", "x", "--param",
                           "w=" + "[" * 50_000 + "]" * 50_000], "new"),
    ("param-4301-digits", ["save", "translator", "-f", "-", "-m", "x", "--param",
                           "w=" + "9" * 4_301], "new"),
    ("param-nan", ["save", "translator", "-f", "-", "-m", "x", "--param", "w=NaN"], "new"),
    ("param-surrogate", ["save", "translator", "-f", "-", "-m", "x", "--param",
                         "w=a\udcffb"], "new"),
    ("show-2^63", ["show", "translator", BIG], None),
    ("activate-2^63", ["activate", "translator", BIG, "-m", "x"], None),
    ("canary-2^63", ["canary", "translator", BIG, "--percent", "10", "-m", "x"], None),
    ("save-base-2^63", ["save", "translator", "--base", BIG, "-f", "-", "-m", "x"], "new"),
    ("diff-2^63", ["diff", "translator", "1", BIG], None),
    ("history-limit-2^63", ["history", "--limit", BIG], None),
    ("activate-2^31", ["activate", "translator", str(2**31), "-m", "x"], None),
    ("show-superscript", ["show", "translator", "²"], None),
    ("reason-escape", ["save", "translator", "-f", "-", "-m", "x\x1b[2J"], "new"),
    ("reason-10001", ["save", "translator", "-f", "-", "-m", "r" * 10_001], "new"),
    ("model-201", ["save", "translator", "-f", "-", "-m", "x", "--model", "m" * 201], "new"),
    ("user-escape-save", ["--user", ESCAPE_USER, "save", "translator", "-f", "-", "-m", "x"],
     "new"),
    ("user-escape-role", ["role", ESCAPE_USER, "editor"], None),
    ("user-101-role", ["role", "u" * 101, "editor"], None),
    ("canary-equals-active", ["canary", "customer-support", "5", "--percent", "10", "-m", "x"],
     None),
    ("feature-name-201", ["new", "f" * 201, "-f", "-", "-m", "x", "--model", "m"], "new"),
    ("prompt-not-utf8", ["save", "translator", "-f", "-", "-m", "x"], None),  # stdin: bytes
    ("stats-since-10^12d", ["stats", "translator", "--since", "1000000000000d"], None),
    ("stats-series-since-10^12d", ["stats", "translator", "--series", "--since",
                                   "1000000000000d"], None),
    ("stats-until-year-99999", ["stats", "translator", "--until", "99999-01-01T00:00"], None),
    ("stats-step-0", ["stats", "translator", "--series", "--step", "0m"], None),
    ("stats-step-negative", ["stats", "translator", "--series", "--step", "-1h"], None),
    ("stats-step-seconds", ["stats", "translator", "--series", "--step", "1s"], None),
    ("stats-step-1m-over-10y", ["stats", "translator", "--series", "--step", "1m", "--since",
                                "3650d"], None),
    ("stats-step-5000-digits", ["stats", "translator", "--series", "--step", "9" * 5_000 + "m"],
     None),  # int() refuses 4,301 digits: was a traceback
    ("stats-step-10^20w", ["stats", "translator", "--series", "--step", "9" * 20 + "w"], None),
    ("stats-step-arabic-digit", ["stats", "translator", "--series", "--step", "\u0663h"], None),
    ("stats-series-until-year-1", ["stats", "translator", "--series", "--until",
                                   "0001-01-01T00:00"], None),
    ("stats-since-control", ["stats", "translator", "--since", "7d\x01"], None),
    ("stats-unknown-env", ["stats", "translator", "--env", "nope"], None),
    ("stats-versions-2^63", ["stats", "translator", "--versions", "1", BIG], None),
    ("role-empty-user", ["role", "", "editor"], None),
    ("env-create-empty", ["env", "create", ""], None),
    ("env-create-escape", ["env", "create", "e\x1b[2J"], None),
    ("env-create-201", ["env", "create", "e" * 201], None),
    ("env-protect-unknown", ["env", "protect", "nope"], None),
    ("env-unprotect-unknown", ["env", "unprotect", "nope"], None),
    ("review-request-2^63", ["review", "request", "translator", BIG, "-m", "x"], None),
    ("review-request-empty", ["review", "request", "translator", "1", "-m", " "], None),
    ("review-request-10001", ["review", "request", "translator", "1", "-m", "r" * 10_001],
     None),
    ("review-request-escape", ["review", "request", "translator", "1", "-m", "x\x1b[2J"],
     None),
    ("review-approve-10001", ["--user", "bob", "review", "approve", "translator", "1", "-m",
                              "r" * 10_001], None),
    ("review-reject-control", ["--user", "bob", "review", "reject", "translator", "1", "-m",
                               "a\x01\x7fb"], None),
    ("review-approve-unknown", ["--user", "bob", "review", "approve", "nope", "1", "-m", "x"],
     None),
    ("check-2^63", ["check", "translator", BIG], None),
    ("activate-override-empty", ["activate", "translator", "1", "--override-checks", "-m",
                                 " "], None),
    ("activate-override-10001", ["activate", "translator", "1", "--override-checks", "-m",
                                 "r" * 10_001], None),
    ("activate-override-unknown-env", ["activate", "translator", "1", "--override-checks",
                                       "--env", "nope", "-m", "x"], None),
    ("suite-set-missing-file", ["suite", "set", "translator", "--file", "/dev/null/missing", "-m",
                                "x"], None),
    ("suite-set-empty-file", ["suite", "set", "translator", "--file", "/dev/null", "-m", "x"],
     None),
    ("suite-set-deep", ["suite", "set", "translator", "--file", "{suite:cases: "
                        + "[" * 600 + "]" * 600 + "}", "-m", "x"], None),
    ("suite-set-list", ["suite", "set", "translator", "--file", "{suite:- 1}", "-m", "x"],
     None),
    ("suite-show-unknown", ["suite", "show", "nope\x1b[2J"], None),
    ("restore-missing", ["restore", "/dev/null/missing"], None),
    # click's own checks (ranges, choices, numbers): one line and exit 1 as well
    ("env-protect-approvals-10^20", ["env", "protect", "production", "--approvals", "9" * 20],
     None),
    ("env-protect-approvals-0", ["env", "protect", "production", "--approvals", "0"], None),
    ("stats-versions-negative", ["stats", "translator", "--versions", "1", "-5"], None),
    ("canary-percent-500", ["canary", "translator", "1", "--percent", "500", "-m", "r"], None),
    ("history-limit-negative", ["history", "--limit", "-5"], None),
    ("role-superuser", ["role", "bob", "superuser"], None),
]  # fmt: skip


# (id, arguments after --db): out-of-range option values are usage errors, exit code 2
# with click's usage lines (as for `canary --percent 999`), the store unchanged.
def run(args: list[str], stdin: str | bytes | None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PROMPTDECK_USER": "alice"}
    data = stdin.encode("utf-8", "surrogateescape") if isinstance(stdin, str) else stdin
    return subprocess.run(
        [str(PROMPTDECK), *args], input=data or b"", capture_output=True, env=env, timeout=120
    )


def everything(path: Path) -> dict[str, Any]:
    with PromptStore(path, user="alice", create=False) as store:
        return store.backup()


def assert_refused(result: subprocess.CompletedProcess[bytes]) -> str:
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1, (result.returncode, stderr[-2000:])
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-2000:]
    assert lines[0].startswith("error: ")
    assert "\x1b" not in stderr and "\x07" not in stderr
    assert len(lines[0]) < 1000
    return lines[0]


@pytest.fixture
def hostile_store(store_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "hostile.db"
    shutil.copy(store_path, path)
    return path


@pytest.mark.parametrize(("args", "stdin"), [c[1:] for c in COMMAND_CASES],
                         ids=[c[0] for c in COMMAND_CASES])  # fmt: skip
def test_a_hostile_command_is_refused_in_one_line(
    hostile_store: Path, args: list[str], stdin: str | None
) -> None:
    if stdin is None and args[:2] == ["save", "translator"]:
        stdin = b"\xff\xfe not UTF-8"  # type: ignore[assignment]
    args = [_scratch(hostile_store, arg) for arg in args]
    before = everything(hostile_store)
    assert_refused(run(["--db", str(hostile_store), *args], stdin))
    assert everything(hostile_store) == before


def _scratch(store: Path, arg: str) -> str:
    """``{suite:TEXT}``: a scratch file holding TEXT (a suite for ``suite set --file``)."""
    if not (arg.startswith("{suite:") and arg.endswith("}")):
        return arg
    path = store.with_name("suite.yaml")
    path.write_text(arg[len("{suite:") : -1] + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("file", sorted(HOSTILE.glob("*.yaml")), ids=lambda p: p.stem)
def test_a_hostile_file_is_refused_in_one_line_naming_it(hostile_store: Path, file: Path) -> None:
    before = everything(hostile_store)
    line = assert_refused(run(["--db", str(hostile_store), "import", str(file)], None))
    assert file.name in line
    assert everything(hostile_store) == before


def test_a_file_past_the_size_limit_is_refused(hostile_store: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as stream:  # sparse: 65 MiB that takes no disk
        stream.truncate(65 * 1024 * 1024)
    before = everything(hostile_store)
    assert_refused(run(["--db", str(hostile_store), "import", str(big)], None))
    assert everything(hostile_store) == before


def test_an_empty_db_is_refused_not_the_default_store(tmp_path: Path) -> None:
    assert_refused(run(["--db", "", "features"], None))
    assert_refused(run(["--db", "", "init"], None))


def test_another_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('0001')")
        connection.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    connection.close()
    content = path.read_bytes()
    assert_refused(run(["--db", str(path), "init"], None))
    assert path.read_bytes() == content


# (id, Prompts.record keywords): each is dropped whole (counted as rejected, stored nowhere).
RECORD_CASES: list[tuple[str, dict[str, Any]]] = [
    ("tokens-negative", {"tokens_in": -1}),
    ("tokens-10^400", {"tokens_out": 10**400}),
    ("latency-nan", {"latency_ms": float("nan")}),
    ("latency-inf", {"latency_ms": float("inf")}),
    ("latency-10^400", {"latency_ms": 10**400}),
    ("latency-1e308", {"latency_ms": 1e308}),  # its square is inf
    ("cost-1e308", {"cost": 1e308}),
    ("cost-10^400", {"cost": 10**400}),
    ("score-nan", {"scores": {"grader": float("nan")}}),
    ("score-minus-inf", {"scores": {"grader": -float("inf")}}),
    ("score-10^400", {"scores": {"grader": 10**400}}),
    ("score-1e308", {"scores": {"grader": 1e308}}),
    ("score-bool", {"scores": {"grader": True}}),
    ("score-name-10MB", {"scores": {"g" * 10_000_000: 1.0}}),
    ("score-name-empty", {"scores": {"": 1.0}}),
    ("score-name-escape", {"scores": {"g\x1b[2J": 1.0}}),
    ("score-name-nul", {"scores": {"g\x00": 1.0}}),
    ("score-name-surrogate", {"scores": {"g\udcff": 1.0}}),  # failed the whole batch
    ("scores-not-a-mapping", {"scores": [1, 2]}),
    ("success-text", {"success": "yes"}),
    ("user-id-surrogate", {"user_id": "u\udcff"}),  # was counted, yet reported dropped
    ("user-id-str-raises", {"user_id": type("Unprintable", (), {"__str__": lambda _: 1 / 0})()}),
]


@pytest.mark.parametrize("measures", [c[1] for c in RECORD_CASES],
                         ids=[c[0] for c in RECORD_CASES])  # fmt: skip
def test_record_drops_an_absurd_outcome_whole_and_keeps_the_next(
    hostile_store: Path, measures: dict[str, Any]
) -> None:
    with Prompts(
        hostile_store, refresh_interval=None, snapshot_path=False, metrics_interval=None
    ) as prompts:
        prompt = prompts.get("translator")
        prompts.record(prompt, **measures)
        prompts.record(prompt, success=True, tokens_in=3, scores={"grader": 0.5})
        assert prompts.flush_metrics()
        status = prompts.status().metrics
        assert status is not None
        assert (status.recorded, status.rejected) == (1, 1)
    with PromptStore(hostile_store, user="alice", create=False) as store:
        (row,) = store.metrics.rows("translator")
    assert (row.count, row.failures) == (1, 0)
    assert row.tokens_in.sum == 3
    assert {name: (m.count, m.sum) for name, m in row.scores.items()} == {"grader": (1, 0.5)}


def test_record_keeps_the_first_score_names_of_thousands(hostile_store: Path) -> None:
    with Prompts(
        hostile_store, refresh_interval=None, snapshot_path=False, metrics_interval=None
    ) as prompts:
        prompts.record(prompts.get("translator"), scores={f"s{i:04}": 1.0 for i in range(5000)})
        assert prompts.flush_metrics()
        status = prompts.status().metrics
        assert status is not None and status.dropped_scores > 0
    with PromptStore(hostile_store, user="alice", create=False) as store:
        (row,) = store.metrics.rows("translator")
    assert row.count == 1
    assert 0 < len(row.scores) + status.dropped_scores == 5000
    assert all(m.count == 1 and m.sum == 1.0 for m in row.scores.values())


_ENV = "INSERT INTO environments VALUES (99, {name}, 1, {approvals}, 0, '2026-01-01', {by})"
_REVIEW = "INSERT INTO reviews VALUES (99, 'r99', 1, {kind}, {actor}, {comment}, '2026-01-01')"
_SUITE = "UPDATE suites SET {column} = {value} WHERE id = (SELECT min(id) FROM suites)"
_RUN = (
    "INSERT INTO check_runs VALUES (99, 'c99', 1, NULL, {model}, {status}, {runner}, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00', {summary}, '{{}}')"
)
_BUCKET = (
    "INSERT INTO metric_buckets SELECT 'o1', f.name, 'production', v.uid, {start}, 1, 3, 1, "
    "{failures}, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, {latency}, 0, 0, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
    "0, 0, 0, 0, 0 FROM versions v JOIN features f ON f.id = v.feature_id "
    "WHERE f.name = 'translator' AND v.number = 1"
)
_SCORE = (
    "INSERT INTO metric_scores SELECT origin, feature, environment, version_uid, "
    "bucket_start, {name}, 1, {total}, 0 FROM metric_buckets"
)
_GOOD_BUCKET = _BUCKET.format(start=1764460800, failures=0, latency=5)
ESC = "'x' || char(27) || '[2J'"
QUOTED_G = "'g'"
# (id, one statement making a remote hostile): a pull refuses it, naming the row.
REMOTE_CASES: list[tuple[str, str]] = [
    ("env-name-escape", _ENV.format(name=ESC, approvals=1, by="'bob'")),
    ("env-creator-escape", _ENV.format(name="'qa'", approvals=1, by=ESC)),
    ("env-approvals-negative", _ENV.format(name="'qa'", approvals=-7, by="'bob'")),
    ("env-approvals-2^31", _ENV.format(name="'qa'", approvals=2**31, by="'bob'")),
    ("review-actor-escape", _REVIEW.format(kind="'approve'", actor=ESC, comment="'ok'")),
    ("review-comment-escape", _REVIEW.format(kind="'approve'", actor="'bob'", comment=ESC)),
    ("review-comment-empty", _REVIEW.format(kind="'reject'", actor="'bob'", comment="''")),
    ("review-comment-10001", _REVIEW.format(kind="'reject'", actor="'bob'",
                                            comment=f"'{'r' * 10_001}'")),
    ("review-kind-unknown", _REVIEW.format(kind="'merge'", actor="'bob'", comment="'ok'")),
    ("suite-author-escape", _SUITE.format(column="author", value=ESC)),
    ("suite-reason-escape", _SUITE.format(column="reason", value=ESC)),
    ("suite-body-not-a-suite", _SUITE.format(column="body", value="""'{"cases": 5}'""")),
    ("suite-hash-not-its-content", _SUITE.format(column="content_hash", value="'abc'")),
    ("check-status-unknown", _RUN.format(model="'m'", status="'won'", runner="'bob'",
                                         summary="'{}'")),
    ("check-model-escape", _RUN.format(model=ESC, status="'passed'", runner="'bob'",
                                       summary="'{}'")),
    ("check-runner-escape", _RUN.format(model="'m'", status="'passed'", runner=ESC,
                                        summary="'{}'")),
    ("check-summary-text", _RUN.format(model="'m'", status="'passed'", runner="'bob'",
                                       summary="""'{"cases": "x"}'""")),
    ("metric-failures-negative", _BUCKET.format(start=1764460800, failures=-7, latency=5)),
    ("metric-latency-inf", _BUCKET.format(start=1764460800, failures=0, latency="9e999")),
    ("metric-start-year-3e9", _BUCKET.format(start=10**17, failures=0, latency=5)),
    ("metric-score-name-escape", f"{_GOOD_BUCKET}; {_SCORE.format(name=ESC, total=1)}"),
    ("metric-score-minus-inf", f"{_GOOD_BUCKET}; {_SCORE.format(name=QUOTED_G, total='-9e999')}"),
    ("check-summary-list", _RUN.format(model="'m'", status="'passed'", runner="'bob'",
                                       summary="'[1]'")),
]  # fmt: skip


@pytest.mark.parametrize("statement", [c[1] for c in REMOTE_CASES],
                         ids=[c[0] for c in REMOTE_CASES])  # fmt: skip
def test_a_pull_from_a_remote_holding_a_hostile_row_is_refused(
    hostile_store: Path, tmp_path: Path, statement: str
) -> None:
    import sqlite3

    with sqlite3.connect(hostile_store) as connection:
        connection.executescript(statement)
    connection.close()
    local = tmp_path / "local.db"
    PromptStore(local, user="alice").close()
    before = everything(local)
    line = assert_refused(run(["--db", str(local), "sync", "pull", "--remote",
                               str(hostile_store)], None))  # fmt: skip
    assert "nothing was synced" in line
    assert everything(local) == before
