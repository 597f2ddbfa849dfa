"""Who acts on a store, resolved on every open (``resolve_identity``).

Core only, like reads.py: opening a store to read never loads the ORM. Re-exported by
store/governance.py, which holds the rest of governance.
"""

from __future__ import annotations

import getpass
import os

from sqlalchemy import Engine, func, select, text

from promptdeck.errors import PermissionDeniedError
from promptdeck.records import IdentitySource
from promptdeck.store.tables import roles, store_settings

#: Tests and one-person demos only: on SQLite, believe ``--user`` even when roles
#: exist. It grants nothing that write access to the SQLite file does not already give
#: (such a user can edit the roles table with sqlite3); PostgreSQL never honours it.
TRUST_DECLARED_ENV = "PROMPTDECK_TRUST_DECLARED_USER"

#: store_settings key: the group-role prefix ``init`` chose on PostgreSQL (absent: not
#: secured). The same name as pg_security.ROLE_PREFIX_SETTING (a test checks).
ROLE_PREFIX_SETTING = "pg_role_prefix"


def os_login() -> str:
    """The operating-system login of this process (its uid's name, not $USER, which
    anyone can set)."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, OSError):  # Windows, or a uid without a passwd entry
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


def resolve_identity(
    engine: Engine, database: str, declared: str | None
) -> tuple[str, IdentitySource]:
    """Who acts on this store: (user, how promptdeck knows).

    - PostgreSQL secured by ``init``: the session user; a declared name that differs
      is refused (the database would not believe it either).
    - Otherwise the operating-system login; a declared name (``--user``,
      PROMPTDECK_USER, the config file) is believed only while no roles are set, or
      when TRUST_DECLARED_ENV is set on SQLite (documented: it adds nothing to what
      write access to the file gives).
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection, connection.begin():
            login = str(connection.scalar(text("SELECT session_user")))
            prefix = connection.scalar(
                select(store_settings.c.value).where(store_settings.c.key == ROLE_PREFIX_SETTING)
            )
        if prefix is not None:
            if declared and declared != login:
                raise PermissionDeniedError(
                    f"you are connected to {database} as {login}: promptdeck acts as "
                    f"the database login there, not as {declared} (drop --user or "
                    "PROMPTDECK_USER, or connect as that login)"
                )
            return login, "postgresql-login"
        # Not secured (created by the library, not by `init`): roles are advice here.
        return (declared, "declared") if declared else (login, "postgresql-login")
    login = os_login()
    if not declared or declared == login:
        return login, "os-login"
    with engine.connect() as connection, connection.begin():
        has_roles = bool(connection.scalar(select(func.count()).select_from(roles)))
    if has_roles and not os.environ.get(TRUST_DECLARED_ENV):
        raise PermissionDeniedError(
            f"you are logged in as {login}: this store has roles, so promptdeck acts "
            f"as your login here, not as {declared} (drop --user or PROMPTDECK_USER)"
        )
    return declared, "declared"
