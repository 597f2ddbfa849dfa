"""Roles and history protection enforced by PostgreSQL itself.

On a shared PostgreSQL store, promptdeck's roles are database group roles, so that
what a login may do holds even for someone who opens psql with the same login:

- ``<prefix>_viewer``   reads everything; records runtime metrics.
- ``<prefix>_editor``   + adds features, versions, suites, check runs, review requests.
- ``<prefix>_reviewer`` + approves or rejects other people's versions.
- ``<prefix>_admin``    + moves what is live (active, canary, rollback), manages
                          environments, grants roles.

Each group is a member of the one below, so privileges add up. History (versions,
audit events, reviews, suites, check runs) is append-only for everyone through
triggers, the table owner included; only a superuser (or the owner disabling the
triggers on purpose) can get around them, and such a change is outside promptdeck.

The creating login (``promptdeck init``) owns the tables and becomes the first admin.

Who may give roles, on PostgreSQL 15 and 16 alike: since PostgreSQL 16 every membership
records its grantor, a plain REVOKE removes only the memberships granted by the role
doing it (others stay, with a mere warning), and CREATEROLE no longer makes a login
admin of every role. So nobody but the owner grants memberships: an admin asks the
function ``promptdeck_set_role`` (SECURITY DEFINER, owned by the owner, EXECUTE for the
admin group only), which checks that the caller's login is an admin, revokes the login's
other memberships whoever granted them, and grants the one role. Every membership then
has one grantor, and any admin can change or take back what another admin gave.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from promptdeck.errors import PermissionDeniedError, StoreError, ValidationError
from promptdeck.records import ROLES, Role
from promptdeck.store.rows import StoreSettingRow

#: store_settings key: the group-role prefix ``init`` chose (absent: not secured).
ROLE_PREFIX_SETTING = "pg_role_prefix"
#: The one way memberships change (see the module's docstring).
SET_ROLE_FUNCTION = "promptdeck_set_role"

# Tables by what each role may do to them, on top of SELECT for everyone.
HISTORY_TABLES = ("features", "versions", "audit_events", "reviews", "suites", "check_runs")
EDITOR_INSERT = ("features", "versions", "audit_events", "reviews", "suites", "check_runs")
EDITOR_UPDATE = ("store_state", "sync_remotes", "sync_pointers")
EDITOR_ALL = ("sync_remotes", "sync_pointers")
ADMIN_ALL = ("deployments", "rollback_stack", "environments", "roles")
METRIC_TABLES = ("metric_buckets", "metric_latency", "metric_scores")


def role_prefix(database: str) -> str:
    """``pd_<database>``, folded to what a role name allows (63 bytes in all).

    Roles belong to the whole server: two databases must never share groups, so a
    name that had to be folded or cut gets a hash of the real one."""
    cleaned = re.sub(r"[^a-z0-9_]", "_", database.lower())
    if cleaned != database or len(cleaned) > 40:
        digest = hashlib.sha256(database.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[:31]}_{digest}"
    return f"pd_{cleaned}"


def group_name(prefix: str, role: str) -> str:
    return f"{prefix}_{role}"


def stored_prefix(session: Session) -> str | None:
    """The group-role prefix of a PostgreSQL store secured by ``init``; else None."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return session.scalar(
        select(StoreSettingRow.value).where(StoreSettingRow.key == ROLE_PREFIX_SETTING)
    )


def _login_exists(session: Session, login: str) -> bool:
    found = session.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": login})
    return found is not None


def role_of_login(session: Session, prefix: str, login: str) -> Role:
    """The highest promptdeck group ``login`` belongs to (superusers: admin)."""
    if not _login_exists(session, login):
        return "viewer"
    for role in reversed(ROLES):
        member = session.scalar(
            text("SELECT pg_has_role(:login, :group, 'MEMBER')"),
            {"login": login, "group": group_name(prefix, role)},
        )
        if member:
            return role
    return "viewer"


def logins_with_roles(session: Session, prefix: str) -> dict[str, Role]:
    """Every login that belongs to one of the store's groups, with its highest role."""
    logins = session.scalars(
        text(
            "SELECT rolname FROM pg_roles WHERE rolcanlogin "
            "AND pg_has_role(rolname, :viewer, 'MEMBER') ORDER BY rolname"
        ),
        {"viewer": group_name(prefix, "viewer")},
    ).all()
    return {str(login): role_of_login(session, prefix, str(login)) for login in logins}


def grant_role(session: Session, prefix: str, login: str, role: Role) -> None:
    """Make ``login`` a member of the group of ``role`` only, through the store's
    ``promptdeck_set_role`` (see the module's docstring), then check that it took.

    The database decides whether the current login may: a refusal becomes one line."""
    from sqlalchemy.exc import DBAPIError

    if not _login_exists(session, login):
        raise ValidationError(
            f"no database login {login!r} on this server: create it first "
            f"(CREATE ROLE \"{login}\" LOGIN PASSWORD '...'), then give it a role"
        )
    if session.scalar(text(f"SELECT to_regprocedure('{SET_ROLE_FUNCTION}(text, text)')")) is None:
        raise StoreError(
            "this store's database roles were set up by an older promptdeck: its owner "
            "runs `promptdeck --db URL init` once to update them"
        )
    try:
        with session.begin_nested():
            session.execute(
                text(f"SELECT {SET_ROLE_FUNCTION}(:login, :role)"), {"login": login, "role": role}
            )
    except DBAPIError as exc:
        detail = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        raise PermissionDeniedError(
            f"the database refused to make {login} {role}: {detail.removeprefix('promptdeck: ')}"
        ) from None
    held = role_of_login(session, prefix, login)
    if held != role:  # e.g. through another role of theirs that is in a higher group
        raise PermissionDeniedError(
            f"{login} is still {held} after the change: a membership outside promptdeck "
            "gives it that role (see \\du in psql)"
        )


def install(connection: Connection, prefix: str, tables: Sequence[str]) -> None:
    """Create the groups, GRANTs and triggers; make the current login the first admin;
    record the prefix in store_settings (which turns on login identity and group roles).

    Idempotent: running it again (a second ``init``) changes nothing.
    """
    groups = {role: group_name(prefix, role) for role in ROLES}
    previous: str | None = None
    for role in ROLES:
        name = groups[role]
        exists = connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name})
        if not exists:
            connection.execute(text(f'CREATE ROLE "{name}" NOLOGIN'))
        if previous is not None:
            connection.execute(text(f'GRANT "{previous}" TO "{name}"'))
        previous = name
    # The owner is the first admin. On PostgreSQL 16 a CREATEROLE login is already a
    # member (WITH ADMIN OPTION) of the groups it just created, and may not grant itself
    # more; a superuser is a member of every role.
    admin = groups["admin"]
    if not connection.scalar(text("SELECT pg_has_role(session_user, :g, 'MEMBER')"), {"g": admin}):
        connection.execute(text(f'GRANT "{admin}" TO SESSION_USER'))
    connection.execute(text(_SET_ROLE_FUNCTION.replace("__PREFIX__", prefix)))
    signature = f"{SET_ROLE_FUNCTION}(text, text)"
    connection.execute(text(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC"))
    connection.execute(text(f'GRANT EXECUTE ON FUNCTION {signature} TO "{admin}"'))

    present = set(tables)
    quoted = ", ".join(f'"{t}"' for t in sorted(present))
    connection.execute(text(f"REVOKE ALL ON {quoted} FROM PUBLIC"))
    connection.execute(text(f'GRANT SELECT ON {quoted} TO "{groups["viewer"]}"'))
    connection.execute(
        text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{groups["viewer"]}"')
    )

    def grant(privileges: str, names: Sequence[str], group: str) -> None:
        chosen = [f'"{t}"' for t in names if t in present]
        if chosen:
            connection.execute(text(f'GRANT {privileges} ON {", ".join(chosen)} TO "{group}"'))

    grant("INSERT, UPDATE", METRIC_TABLES, groups["viewer"])
    grant("INSERT", EDITOR_INSERT, groups["editor"])
    grant("UPDATE", EDITOR_UPDATE, groups["editor"])
    grant("INSERT, UPDATE, DELETE", EDITOR_ALL, groups["editor"])
    grant("INSERT, UPDATE, DELETE", ADMIN_ALL, groups["admin"])
    # Renumbering local-only versions (sync) changes only `number`; the trigger checks.
    grant("UPDATE (number)", ("versions",), groups["editor"])
    # Writers lock a feature row (SELECT ... FOR UPDATE needs an UPDATE privilege); the
    # append-only trigger still refuses any actual change to it.
    grant("UPDATE (name)", ("features",), groups["editor"])

    connection.execute(text(_APPEND_ONLY_FUNCTION))
    connection.execute(text(_VERSIONS_FUNCTION))
    connection.execute(text(_REVIEWS_FUNCTION.replace("__REVIEWER__", groups["reviewer"])))
    for table in HISTORY_TABLES:
        if table not in present:
            continue
        function = "promptdeck_versions_guard" if table == "versions" else "promptdeck_append_only"
        connection.execute(text(f'DROP TRIGGER IF EXISTS promptdeck_append_only ON "{table}"'))
        connection.execute(
            text(
                f'CREATE TRIGGER promptdeck_append_only BEFORE UPDATE OR DELETE ON "{table}" '
                f"FOR EACH ROW EXECUTE FUNCTION {function}()"
            )
        )
        connection.execute(text(f'DROP TRIGGER IF EXISTS promptdeck_no_truncate ON "{table}"'))
        connection.execute(
            text(
                f'CREATE TRIGGER promptdeck_no_truncate BEFORE TRUNCATE ON "{table}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION promptdeck_append_only()"
            )
        )
    connection.execute(
        text(
            "INSERT INTO store_settings (key, value) VALUES (:k, :v) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ),
        {"k": ROLE_PREFIX_SETTING, "v": prefix},
    )
    if "reviews" in present:
        connection.execute(text('DROP TRIGGER IF EXISTS promptdeck_review_guard ON "reviews"'))
        connection.execute(
            text(
                'CREATE TRIGGER promptdeck_review_guard BEFORE INSERT ON "reviews" '
                "FOR EACH ROW EXECUTE FUNCTION promptdeck_review_guard()"
            )
        )


# Runs as the owner (SECURITY DEFINER): every membership it grants has the owner (or, for
# a superuser owner, the bootstrap superuser) as grantor. On PostgreSQL 16 it revokes
# each membership GRANTED BY whoever granted it, where the owner holds that role's
# privileges, and says who must revoke the others; on 15 one REVOKE removes any.
_SET_ROLE_FUNCTION = """
CREATE OR REPLACE FUNCTION promptdeck_set_role(login text, wanted text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    prefix constant text := '__PREFIX__';
    per_grantor constant boolean := current_setting('server_version_num')::int >= 160000;
    other text;
    held record;
BEGIN
    IF NOT pg_has_role(session_user, prefix || '_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'promptdeck: % may not give roles: admin role needed', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF wanted IS NULL OR wanted NOT IN ('viewer', 'editor', 'reviewer', 'admin') THEN
        RAISE EXCEPTION 'promptdeck: unknown role %', wanted
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login AND rolcanlogin) THEN
        RAISE EXCEPTION 'promptdeck: no database login %', login
            USING ERRCODE = 'undefined_object';
    END IF;
    IF login = current_user OR EXISTS (
        SELECT 1 FROM pg_roles WHERE rolname = login AND rolsuper
    ) THEN
        RAISE EXCEPTION 'promptdeck: % owns this store or is a superuser: it is always an admin',
            login USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOREACH other IN ARRAY ARRAY['viewer', 'editor', 'reviewer', 'admin'] LOOP
        CONTINUE WHEN other = wanted;
        FOR held IN
            SELECT grantor.rolname AS grantor
            FROM pg_auth_members m
            JOIN pg_roles grp ON grp.oid = m.roleid
            JOIN pg_roles who ON who.oid = m.member
            JOIN pg_roles grantor ON grantor.oid = m.grantor
            WHERE grp.rolname = prefix || '_' || other AND who.rolname = login
        LOOP
            IF NOT per_grantor THEN
                EXECUTE format('REVOKE %I FROM %I', prefix || '_' || other, login);
            ELSIF pg_has_role(current_user, held.grantor, 'USAGE') THEN
                EXECUTE format('REVOKE %I FROM %I GRANTED BY %I',
                               prefix || '_' || other, login, held.grantor);
            ELSE
                RAISE EXCEPTION 'promptdeck: % got % from %, outside promptdeck: %',
                    login, prefix || '_' || other, held.grantor,
                    held.grantor || ' or a superuser must revoke it'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
    END LOOP;
    -- PostgreSQL 16: inherit the group's privileges whatever the login's default is.
    EXECUTE format('GRANT %I TO %I', prefix || '_' || wanted, login)
        || CASE WHEN per_grantor THEN ' WITH INHERIT TRUE' ELSE '' END;
END
$$
"""

_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION promptdeck_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'promptdeck: % is append-only: history is never changed or deleted',
        TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$
"""

_VERSIONS_FUNCTION = """
CREATE OR REPLACE FUNCTION promptdeck_versions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'number') = (to_jsonb(OLD) - 'number') THEN
        RETURN NEW;  -- sync renumbering a local-only version: content untouched
    END IF;
    RAISE EXCEPTION 'promptdeck: versions are append-only: a version is never changed or deleted'
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# An approval counts only when the login that wrote it is the reviewer it names, holds
# the reviewer role, and is not the version's author.
_REVIEWS_FUNCTION = """
CREATE OR REPLACE FUNCTION promptdeck_review_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    version_author text;
BEGIN
    IF NEW.actor IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'promptdeck: a review must be written by the login it names (%, not %)',
            session_user, NEW.actor USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.kind IN ('approve', 'reject') THEN
        IF NOT pg_has_role(session_user, '__REVIEWER__', 'MEMBER') THEN
            RAISE EXCEPTION 'promptdeck: % may not approve or reject: reviewer role needed',
                session_user USING ERRCODE = 'insufficient_privilege';
        END IF;
        SELECT author INTO version_author FROM versions WHERE id = NEW.version_id;
        IF version_author = session_user THEN
            RAISE EXCEPTION 'promptdeck: % may not review their own version', session_user
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    RETURN NEW;
END
$$
"""
