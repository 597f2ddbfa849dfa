"""Roles enforced by PostgreSQL itself: real logins for an admin, an editor, a reviewer
and a viewer, each refusal shown through promptdeck and through raw SQL as that login."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from pgserver import PostgresServer
from psycopg import sql
from sqlalchemy.engine import make_url

from promptdeck import yamlio
from promptdeck.cli.app import main
from promptdeck.errors import NotFoundError, PermissionDeniedError, PromptDeckError, StoreError
from promptdeck.store import PromptStore
from promptdeck.store.gates import NotApprovedError
from promptdeck.store.pg_security import role_prefix

pytestmark = pytest.mark.postgres

SAMPLES = Path(__file__).resolve().parent.parent / "sample_prompts"
PASSWORD = "s3cret-pw"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def refused(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@dataclass
class Team:
    server: PostgresServer
    database: str
    owner_url: str
    logins: dict[str, str]  # role -> login name

    def url(self, role: str) -> str:
        return self.server.url(self.database, user=self.logins[role], password=PASSWORD)

    def store(self, role: str) -> PromptStore:
        return PromptStore(self.url(role), create=False)

    def raw(self, role: str) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.server.host,
            port=self.server.port,
            user=self.logins[role],
            password=PASSWORD,
            dbname=self.database,
            autocommit=True,
        )

    def add_login(self, name: str) -> None:
        with self.server.admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(PASSWORD)
                )
            )
        self.logins[name] = name

    def memberships(self, login: str) -> list[tuple[str, str]]:
        """(group, grantor) of every membership ``login`` holds, as the catalog has it."""
        with self.server.admin() as conn:
            rows = conn.execute(
                "SELECT g.rolname, gr.rolname FROM pg_auth_members m "
                "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
                "JOIN pg_roles gr ON gr.oid = m.grantor WHERE u.rolname = %s ORDER BY 1, 2",
                (login,),
            ).fetchall()
        return [(str(group), str(grantor)) for group, grantor in rows]


@pytest.fixture(params=["system", "pg16"])
def server(request: pytest.FixtureRequest) -> PostgresServer:
    """Each test on the installed PostgreSQL (15 on Debian bookworm, what CI installs)
    and on PostgreSQL 16 (the pgserver wheel), whose role memberships record a grantor."""
    fixture = "pg_server" if request.param == "system" else "pg16_server"
    found: PostgresServer = request.getfixturevalue(fixture)
    return found


@contextmanager
def made_team(server: PostgresServer, *, superuser_owner: bool = False) -> Iterator[Team]:
    """A store made by `promptdeck init`, the sample prompts, and four real logins given
    their roles with `promptdeck role` by the store's first admin.

    The owner running `init` is, as in the README, a login of its own with CREATEROLE
    that owns the database (not a superuser); ``superuser_owner`` runs it as the
    server's superuser instead."""
    suffix = uuid.uuid4().hex[:6]
    database = f"gov_{suffix}"
    owner = server.user if superuser_owner else f"owner_{suffix}"
    logins = {role: f"{role}_{suffix}" for role in ("admin", "editor", "reviewer", "viewer")}
    with server.admin() as conn:
        for login in [*logins.values(), *([] if superuser_owner else [owner])]:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(login), sql.Literal(PASSWORD)
                )
            )
        if not superuser_owner:
            conn.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(owner)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner)
            )
        )
    password = server.password if superuser_owner else PASSWORD
    owner_url = server.url(database, user=owner, password=password)
    team = Team(server, database, owner_url, dict(logins))
    try:
        result = cli("--db", owner_url, "init")
        assert result.exit_code == 0, result.output
        assert f"{owner} is admin" in result.stdout
        with PromptStore(owner_url, create=False) as store:
            store.import_documents(yamlio.read_files([SAMPLES]))
        done = cli("--db", owner_url, "role", logins["admin"], "admin")
        assert done.exit_code == 0, done.output
        for role, login in logins.items():  # the first admin gives the other roles
            done = cli("--db", team.url("admin"), "role", login, role)
            assert done.exit_code == 0, done.output
        yield team
    finally:
        server.drop_database(database)
        prefix = role_prefix(database)
        groups = [f"{prefix}_{role}" for role in ("admin", "reviewer", "editor", "viewer")]
        with server.admin() as conn:
            for name in [*team.logins.values(), *groups, *([] if superuser_owner else [owner])]:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def team(server: PostgresServer) -> Iterator[Team]:
    with made_team(server) as made:
        yield made


def sql_refused(team: Team, role: str, statement: str) -> str:
    with team.raw(role) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute(statement)
    return str(caught.value)


def test_each_login_is_who_it_is_and_has_the_role_its_group_gives(team: Team) -> None:
    for role, login in team.logins.items():
        with team.store(role) as store:
            identity = store.governance.identity()
            assert (identity.user, identity.source, identity.role) == (
                login,
                "postgresql-login",
                role,
            )
    with team.store("admin") as admin:
        assert {team.logins[r]: r for r in team.logins}.items() <= admin.roles().items()


def test_a_declared_user_other_than_the_login_is_refused(team: Team) -> None:
    with PromptStore(team.url("editor"), user=team.logins["admin"], create=False) as claimed:
        assert claimed.user == team.logins["editor"]  # reads happen as the login
        with pytest.raises(PermissionDeniedError, match="acts as the database login"):
            claimed.activate("summarizer", 1, reason="x")
    # The runtime library names no one the store would believe: it reads as its login.
    from promptdeck import Prompts

    with Prompts(team.url("viewer"), refresh_interval=None, snapshot_path=False) as prompts:
        assert prompts.get("summarizer").version == 4
    line = refused(
        cli("--db", team.url("editor"), "--user", team.logins["admin"], "features"),
        f"as {team.logins['editor']}",
    )
    assert PASSWORD not in line
    # Declaring the login itself is fine.
    with PromptStore(team.url("editor"), user=team.logins["editor"], create=False) as store:
        assert store.user == team.logins["editor"]


def test_an_editor_cannot_move_what_production_serves(team: Team) -> None:
    with team.store("editor") as editor:
        version = editor.save("summarizer", "An editor's change.", reason="try")
        with pytest.raises(PermissionDeniedError, match="must be an admin"):
            editor.activate("summarizer", version.number, reason="sneak")
        assert version.author == team.logins["editor"]
        assert editor.history("summarizer")[0].actor == team.logins["editor"]
    refused(
        cli("--db", team.url("editor"), "activate", "summarizer", "1", "-m", "x"),
        "must be an admin",
    )
    message = sql_refused(team, "editor", "UPDATE deployments SET active_version_id = NULL")
    assert "permission denied" in message
    message = sql_refused(team, "editor", "DELETE FROM rollback_stack")
    assert "permission denied" in message


def test_history_is_append_only_for_every_login_even_the_admin(team: Team) -> None:
    # GRANTs refuse first; where a privilege had to be given (locking a feature row,
    # sync renumbering a version) the trigger refuses; the table owner meets the trigger.
    for role in ("editor", "admin"):
        for statement in (
            "UPDATE versions SET system_prompt = 'x'",
            "UPDATE versions SET number = number + 100, author = 'me'",
            "DELETE FROM audit_events",
            "DELETE FROM reviews",
        ):
            message = sql_refused(team, role, statement)
            assert "permission denied" in message or "append-only" in message
        assert "append-only" in sql_refused(team, role, "UPDATE features SET name = 'renamed'")
    owner = psycopg.connect(team.server.conninfo(team.database), autocommit=True)
    with owner, pytest.raises(psycopg.Error, match="append-only"):
        owner.execute("UPDATE versions SET system_prompt = 'rewritten history'")
    assert "permission denied" in sql_refused(team, "viewer", "DELETE FROM versions")
    assert "permission denied" in sql_refused(
        team, "viewer", "INSERT INTO roles (\"user\", role) VALUES ('x', 'admin')"
    )


def test_a_viewer_reads_and_cannot_write(team: Team) -> None:
    with team.store("viewer") as viewer:
        assert viewer.version("summarizer", "active").system_prompt
        with pytest.raises(PermissionDeniedError, match="must be an editor"):
            viewer.save("summarizer", "No.", reason="no")
    assert "permission denied" in sql_refused(
        team, "viewer", "UPDATE store_state SET revision = revision + 1"
    )


def test_propose_approve_activate_on_a_protected_production(team: Team) -> None:
    with team.store("admin") as admin:
        admin.governance.protect_environment("production")
    with team.store("editor") as editor:
        number = editor.save("summarizer", "Proposed text.", reason="shorter").number
        editor.governance.request_review("summarizer", number, "please look")
        with pytest.raises(PermissionDeniedError, match="must be a reviewer"):
            editor.governance.approve("summarizer", number, "self")
    # The database refuses a self-approval written by hand, and a non-reviewer's one.
    with team.raw("editor") as conn, pytest.raises(psycopg.Error, match="reviewer role"):
        conn.execute(
            "INSERT INTO reviews (uid, version_id, kind, actor, comment, created_at) "
            "SELECT %s, v.id, 'approve', session_user, 'me', now() FROM versions v "
            "JOIN features f ON f.id = v.feature_id WHERE f.name = 'summarizer' "
            "AND v.number = %s",
            (str(uuid.uuid4()), number),
        )
    with team.raw("reviewer") as conn, pytest.raises(psycopg.Error, match="login it names"):
        conn.execute(
            "INSERT INTO reviews (uid, version_id, kind, actor, comment, created_at) "
            "SELECT %s, v.id, 'approve', 'someone_else', 'forged', now() FROM versions v "
            "WHERE v.number = %s LIMIT 1",
            (str(uuid.uuid4()), number),
        )
    with team.store("reviewer") as reviewer:
        own = reviewer.save("summarizer", "The reviewer's own text.", reason="mine").number
    with team.raw("reviewer") as conn, pytest.raises(psycopg.Error, match="their own version"):
        conn.execute(
            "INSERT INTO reviews (uid, version_id, kind, actor, comment, created_at) "
            "SELECT %s, v.id, 'approve', session_user, 'me', now() FROM versions v "
            "JOIN features f ON f.id = v.feature_id WHERE f.name = 'summarizer' "
            "AND v.number = %s",
            (str(uuid.uuid4()), own),
        )
    with team.store("admin") as admin:
        with pytest.raises(NotApprovedError, match="needs 1 approval"):
            admin.activate("summarizer", number, reason="go")
        refused(
            cli("--db", team.url("admin"), "activate", "summarizer", str(number), "-m", "go"),
            "needs 1 approval",
        )
    with team.store("reviewer") as reviewer:
        state = reviewer.governance.approve("summarizer", number, "reads well")
        assert state.approved_by == (team.logins["reviewer"],)
    with team.store("admin") as admin:
        assert admin.activate("summarizer", number, reason="go").active == number
        assert [e.actor for e in admin.history("summarizer")[:2]] == [
            team.logins["admin"],
            team.logins["reviewer"],
        ]
        # Rollback stays one step: it returns to a version that was live.
        assert admin.rollback("summarizer", reason="back").active != number


def test_an_admin_login_grants_roles_through_promptdeck_and_others_cannot(team: Team) -> None:
    extra = f"new_{uuid.uuid4().hex[:6]}"
    with team.server.admin() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(extra), sql.Literal(PASSWORD)
            )
        )
    try:
        done = cli("--db", team.url("admin"), "role", extra, "editor")
        assert done.exit_code == 0, done.output
        done = cli("--db", team.url("admin"), "role", extra, "admin")
        assert done.exit_code == 0, done.output
        with team.store("admin") as admin:
            assert admin.role(extra) == "admin"
        refused(cli("--db", team.url("reviewer"), "role", extra, "viewer"), "must be an admin")
        message = sql_refused(
            team,
            "editor",
            f'GRANT "{role_prefix(team.database)}_admin" TO "{team.logins["editor"]}"',
        )
        assert "permission denied" in message or "must have admin option" in message
        refused(
            cli("--db", team.url("admin"), "role", "nobody_here", "editor"), "no database login"
        )
    finally:
        with team.server.admin() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(extra)))


def test_a_database_without_a_store_is_never_made_one_by_opening_it(
    pg_url_factory: Callable[[], str],
) -> None:
    empty = pg_url_factory()
    name = make_url(empty).database
    # Not even by the library with its defaults (create=True makes SQLite files only),
    # nor by the commands that fill a local store.
    for create in (False, True):
        with pytest.raises(StoreError, match=f"'{name}' .* holds no promptdeck store.*init"):
            PromptStore(empty, create=create)
    refused(cli("--db", empty, "features"), "holds no promptdeck store", "init")
    refused(cli("--db", empty, "import", str(SAMPLES)), "holds no promptdeck store", "init")
    assert table_names(empty) == []


def table_names(url: str) -> list[str]:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_the_library_creates_a_shared_store_secured_or_not_at_all(
    server: PostgresServer,
) -> None:
    """PromptStore(url, initialize=True) is `init`: schema, roles, GRANTs and triggers in
    one transaction. A login that may not create roles gets a refusal and an empty
    database, never a store without its roles."""
    suffix = uuid.uuid4().hex[:6]
    database, weak, owner = f"lib_{suffix}", f"weak_{suffix}", f"owner_{suffix}"
    with server.admin() as conn:
        for login, extra in ((weak, ""), (owner, " CREATEROLE")):
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}" + extra).format(
                    sql.Identifier(login), sql.Literal(PASSWORD)
                )
            )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(weak)
            )
        )
    prefix = role_prefix(database)
    try:
        weak_url = server.url(database, user=weak, password=PASSWORD)
        with pytest.raises(PromptDeckError, match="permission denied to create role"):
            PromptStore(weak_url, initialize=True)
        assert table_names(weak_url) == []
        with server.admin() as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(database), sql.Identifier(owner)
                )
            )
        with PromptStore(
            server.url(database, user=owner, password=PASSWORD), initialize=True
        ) as store:
            identity = store.governance.identity()
            assert (identity.user, identity.source, identity.role) == (
                owner,
                "postgresql-login",
                "admin",
            )
            assert store.governance.roles_prefix() == prefix
        assert "versions" in table_names(weak_url)
        # The store is secured from its first moment: a login in none of its groups
        # cannot even read it.
        with pytest.raises(StoreError, match="has no role in the promptdeck store"):
            PromptStore(weak_url, create=False)
    finally:
        server.drop_database(database)
        with server.admin() as conn:
            for name in [f"{prefix}_{r}" for r in ("admin", "reviewer", "editor", "viewer")]:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
            for name in (weak, owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_an_unknown_environment_is_refused_with_a_suggestion(team: Team) -> None:
    with team.store("admin") as admin:
        admin.governance.create_environment("qa-lab")
        with pytest.raises(NotFoundError, match="did you mean qa-lab"):
            admin.activate("summarizer", 1, reason="x", environment="qa-lba")
    message = sql_refused(
        team,
        "editor",
        "INSERT INTO environments (name, protected, required_approvals, "
        "require_checks, created_at, created_by) VALUES ('x', false, 1, false, now(), 'me')",
    )
    assert "permission denied" in message


def _may_activate(team: Team, role: str) -> bool:
    """What the database itself lets ``role``'s login do to what production serves."""
    try:
        with team.raw(role) as conn:
            conn.execute("UPDATE deployments SET active_version_id = active_version_id")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


@pytest.mark.parametrize("superuser_owner", [False, True], ids=["owner-login", "superuser"])
def test_a_role_one_admin_gave_is_changed_and_taken_back_by_another(
    server: PostgresServer, superuser_owner: bool
) -> None:
    """PostgreSQL 16 records who granted each membership, and a plain REVOKE removes
    only the revoker's own (the rest stays, with a warning): promptdeck's role changes
    must hold whichever admin made them."""
    with made_team(server, superuser_owner=superuser_owner) as team:
        suffix = uuid.uuid4().hex[:6]
        second, newcomer = f"second_{suffix}", f"newcomer_{suffix}"
        team.add_login(second)
        team.add_login(newcomer)
        first = team.url("admin")
        assert cli("--db", team.owner_url, "role", second, "admin").exit_code == 0
        assert cli("--db", first, "role", newcomer, "admin").exit_code == 0
        assert _may_activate(team, newcomer)

        # The second admin takes back what the first gave, step by step.
        by_second = team.server.url(team.database, user=second, password=PASSWORD)
        for role in ("reviewer", "editor", "viewer"):
            done = cli("--db", by_second, "role", newcomer, role)
            assert done.exit_code == 0, done.output
            assert done.stdout.strip().endswith(
                f"is now a {role}" if role != "editor" else "is now an editor"
            )
            with team.store("admin") as admin:
                assert admin.role(newcomer) == role
            groups = [group for group, _grantor in team.memberships(newcomer)]
            assert groups == [f"{role_prefix(team.database)}_{role}"]
        assert not _may_activate(team, newcomer)
        with (
            PromptStore(
                team.server.url(team.database, user=newcomer, password=PASSWORD), create=False
            ) as demoted,
            pytest.raises(PermissionDeniedError, match="must be an editor"),
        ):
            demoted.save("summarizer", "No longer mine to write.", reason="try")

        # And the first admin loses admin at the second's hand, though the owner gave it.
        assert cli("--db", by_second, "role", team.logins["admin"], "editor").exit_code == 0
        assert not _may_activate(team, "admin")
        refused(cli("--db", first, "role", newcomer, "admin"), "must be an admin")
        # Nobody's role is ever left doubled: one membership each, all by one grantor.
        grantors = {
            grantor
            for login in (newcomer, second, team.logins["admin"])
            for _group, grantor in team.memberships(login)
        }
        assert len(grantors) == 1


def test_a_membership_granted_outside_promptdeck(team: Team) -> None:
    """A superuser's own GRANT in psql: PostgreSQL 15 lets any admin revoke it;
    PostgreSQL 16 only its grantor, so promptdeck names who must, in one line, and
    changes nothing."""
    outsider = f"outsider_{uuid.uuid4().hex[:6]}"
    team.add_login(outsider)
    editor_group = f"{role_prefix(team.database)}_editor"
    with team.server.admin() as conn:
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(editor_group), sql.Identifier(outsider))
        )
        version = conn.execute("SHOW server_version_num").fetchone()
    assert version is not None
    result = cli("--db", team.url("admin"), "role", outsider, "viewer")
    with team.store("admin") as admin:
        held = admin.role(outsider)
    if int(version[0]) >= 160000:
        refused(result, f"{outsider} got {editor_group} from {team.server.user}", "must revoke it")
        assert held == "editor"
    else:
        assert result.exit_code == 0, result.output
        assert held == "viewer"


def test_only_admins_may_call_the_role_function_even_in_psql(team: Team) -> None:
    for role in ("viewer", "editor", "reviewer"):
        message = sql_refused(
            team, role, f"SELECT promptdeck_set_role('{team.logins[role]}', 'admin')"
        )
        assert "permission denied for function promptdeck_set_role" in message
    with team.raw("admin") as conn:
        for statement, expected in (
            (f"SELECT promptdeck_set_role('{team.logins['viewer']}', 'root')", "unknown role"),
            ("SELECT promptdeck_set_role('nobody_at_all', 'viewer')", "no database login"),
            (f"SELECT promptdeck_set_role('{team.server.user}', 'viewer')", "always an admin"),
        ):
            with pytest.raises(psycopg.Error, match=expected):
                conn.execute(statement)


def test_two_databases_never_share_group_roles() -> None:
    assert role_prefix("prompts") == "pd_prompts"
    folded = {role_prefix(name) for name in ("my-prompts", "my_prompts", "My_Prompts")}
    assert len(folded) == 3
    long = "a_very_long_database_name_for_the_team_number_"
    assert role_prefix(long + "1") != role_prefix(long + "2")
    assert all(len(role_prefix(name)) + len("_reviewer") <= 63 for name in (long * 3, "x"))


def test_a_store_secured_by_an_older_promptdeck_is_told_to_run_init_once(team: Team) -> None:
    owner = psycopg.connect(
        host=team.server.host,
        port=team.server.port,
        user=make_url(team.owner_url).username,
        password=PASSWORD,
        dbname=team.database,
        autocommit=True,
    )
    with owner:
        owner.execute("DROP FUNCTION promptdeck_set_role(text, text)")  # as before this one
    viewer = team.logins["viewer"]
    refused(cli("--db", team.url("admin"), "role", viewer, "editor"), "older promptdeck", "init")
    assert cli("--db", team.owner_url, "init").exit_code == 0
    assert cli("--db", team.url("admin"), "role", viewer, "editor").exit_code == 0
    with team.store("admin") as admin:
        assert admin.role(viewer) == "editor"


def test_a_login_with_no_role_in_the_store_is_told_so_in_one_line(team: Team) -> None:
    outsider = f"outsider_{uuid.uuid4().hex[:6]}"
    team.add_login(outsider)  # a database login nobody gave a promptdeck role
    line = refused(cli("--db", team.url(outsider), "features"), "has no role")
    assert "promptdeck --db URL role LOGIN viewer" in line
    assert PASSWORD not in line
