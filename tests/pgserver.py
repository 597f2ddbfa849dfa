"""A throwaway PostgreSQL server for the test suite, on loopback only.

``PostgresServer`` runs ``initdb`` into a temporary directory and starts ``postgres`` on a free
TCP port of 127.0.0.1, with password (SCRAM) authentication and durability switched off for
speed. It can be stopped and started again on the same port and data directory, so tests can
check what happens when the remote database goes away mid-operation.

As root (CI), PostgreSQL refuses to run, so the server binaries are run as the ``postgres``
system user (or ``nobody``) via ``runuser``/``su``, and the temporary directory is theirs.

Fixtures (import them into ``conftest.py``)::

    from pgserver import pg_server, pg_url, pg_url_factory  # noqa: F401

- ``pg_server`` (session): the running ``PostgresServer``.
- ``pg_url`` (function): URL of a fresh, empty database, dropped after the test.
- ``pg_url_factory`` (function): ``make() -> url``, one fresh database per call.
- ``pg_store_url`` (function): a fresh database holding a promptdeck store made without
  `init` (no database roles), for tests of what the store does rather than who may do it.
- ``pg16_server`` (session): a second server, from the PostgreSQL 16 binaries the ``pgserver``
  wheel ships (a test dependency), run the same way: PostgreSQL 16 changed role membership
  (a grantor per membership, CREATEROLE no longer admin of every role), and the governance
  tests run on both.

When the binaries are missing or the server cannot start, the tests that use these fixtures
are skipped, unless ``PROMPTDECK_REQUIRE_PG=1`` is set: then they fail.

``PgBouncer`` runs the Debian package's ``pgbouncer`` (``apt-get install pgbouncer``) in front
of a ``PostgresServer``, on another free loopback port, in transaction pooling mode, with SCRAM
authentication from an ``auth_file``. Fixtures:

- ``pg_bouncer`` (session): the running ``PgBouncer`` in front of ``pg_server``.
- ``pgbouncer_url`` (function): ``(direct_url, pooled_url)`` of one fresh database, the second
  through PgBouncer.

Skipped when ``pgbouncer`` is not installed, unless ``PROMPTDECK_REQUIRE_PGBOUNCER=1``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import importlib.metadata
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

__all__ = [
    "PgBouncer",
    "PostgresServer",
    "PostgresServerError",
    "find_bindir",
    "find_pgserver_bindir",
    "make_unsecured_store",
    "pg16_server",
    "pg_bouncer",
    "pg_server",
    "pg_store_url",
    "pg_url",
    "pg_url_factory",
    "pgbouncer_url",
]

REQUIRE_ENV = "PROMPTDECK_REQUIRE_PG"
BINDIR_ENV = "PROMPTDECK_PG_BINDIR"
DEFAULT_USER = "promptdeck"
DEFAULT_PASSWORD = "promptdeck-test-password"
_NEEDED = ("initdb", "pg_ctl", "postgres")


class PostgresServerError(RuntimeError):
    """The server could not be initialised, started or stopped."""


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None when not installed.

    ``$PROMPTDECK_PG_BINDIR`` overrides the search.
    """
    override = os.environ.get(BINDIR_ENV)
    if override:
        return Path(override)

    def complete(d: Path) -> bool:
        return all(os.access(d / name, os.X_OK) for name in _NEEDED)

    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and complete(Path(out)):
            return Path(out)

    def version(p: str) -> tuple[int, ...]:
        m = re.search(r"/postgresql/([\d.]+)/bin$", p)
        return tuple(int(x) for x in m.group(1).split(".") if x) if m else ()

    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if complete(Path(cand)):
            return Path(cand)

    found = [shutil.which(name) for name in _NEEDED]
    if all(found):
        # Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
        # so initdb finds its sibling postgres binary.
        d = Path(os.path.realpath(str(found[0]))).parent
        if complete(d):
            return d
        return Path(str(found[0])).parent
    return None


def find_pgserver_bindir() -> Path | None:
    """The PostgreSQL 16 binaries of the ``pgserver`` wheel, or None when not installed.

    Found through the installed distribution's files: importing ``pgserver`` by name would
    find this very module (tests/ comes first on the path).
    """
    try:
        distribution = importlib.metadata.distribution("pgserver")
    except importlib.metadata.PackageNotFoundError:
        return None
    bindir = Path(str(distribution.locate_file("pgserver/pginstall/bin")))
    return bindir if all(os.access(bindir / name, os.X_OK) for name in _NEEDED) else None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _run_as_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, when we are root; else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresServerError("running as root but neither 'postgres' nor 'nobody' user exists")


def _traversable_by_others(path: Path) -> bool:
    p = path.resolve()
    return all(os.stat(d).st_mode & 0o001 for d in [p, *p.parents])


def _default_base_dir() -> Path:
    """Where to put the cluster: /dev/shm (tmpfs: CREATE DATABASE ~10x faster) when it is
    world-writable and has room, else the usual temporary directory."""
    shm = Path("/dev/shm")
    try:
        roomy = shutil.disk_usage(shm).free >= 1 << 30
        if roomy and os.access(shm, os.W_OK) and os.stat(shm).st_mode & 0o1777 == 0o1777:
            return shm
    except OSError:
        pass
    return Path(tempfile.gettempdir())


class PostgresServer:
    """A private PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only.

    ``start()`` initialises the cluster on first use; ``stop()`` keeps the data so a later
    ``start()`` brings the same databases back on the same port; ``destroy()`` stops the
    server and removes the directory.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        bindir: Path | str | None = None,
        *,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        port: int | None = None,
        base_dir: Path | str | None = None,
        max_connections: int = 100,
        start_timeout: float = 60.0,
        synchronous_commit: bool = True,
    ) -> None:
        """``synchronous_commit`` stays on by default: with ``fsync=off`` it costs only a
        write() per commit, and it keeps committed data across ``stop(mode="immediate")``
        (with it off, the last ~0.6 s of commits are lost on an immediate stop).
        """
        found = Path(bindir) if bindir is not None else find_bindir()
        if found is None:
            raise PostgresServerError(
                "PostgreSQL server binaries not found (no pg_config, "
                "/usr/lib/postgresql/*/bin or initdb/pg_ctl on PATH)"
            )
        missing = [n for n in _NEEDED if not os.access(found / n, os.X_OK)]
        if missing:
            raise PostgresServerError(f"missing in {found}: {', '.join(missing)}")
        self.bindir: Path = found
        self.user = user
        self.password = password
        self.max_connections = max_connections
        self.synchronous_commit = "on" if synchronous_commit else "off"
        self.start_timeout = start_timeout
        self._fixed_port = port
        self.port: int = port or 0
        self._base_dir = Path(base_dir) if base_dir is not None else None
        self._os_user = _run_as_user()
        self.tmpdir: Path | None = None
        self._initialised = False
        self._started_once = False
        self._atexit_registered = False
        self._lock = threading.RLock()

    # -- paths --------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        return self._tmp / "data"

    @property
    def socket_dir(self) -> Path:
        return self._tmp

    @property
    def logfile(self) -> Path:
        return self._tmp / "postgres.log"

    @property
    def _tmp(self) -> Path:
        if self.tmpdir is None:
            raise PostgresServerError("server directory not created yet (call start())")
        return self.tmpdir

    # -- process helpers ----------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env.pop("LANG", None)
        return env

    def _cmd(self, args: list[str]) -> list[str]:
        if self._os_user is None:
            return args
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", self._os_user.pw_name, "--", *args]
        su = shutil.which("su") or "su"
        return [su, "-s", "/bin/sh", self._os_user.pw_name, "-c", shlex.join(args)]

    def _run(self, args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        # stdout/stderr go to files, not pipes: the postmaster started by pg_ctl must not
        # inherit a pipe we wait on.
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.run(
                self._cmd(args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=str(self._tmp),
                env=self._env(),
                text=True,
                timeout=timeout,
                check=False,
            )
            out.seek(0)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), "")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ----------------------------------------------------------------------------

    def _make_tmpdir(self) -> Path:
        base = self._base_dir or _default_base_dir()
        # The unix socket path must stay short (107 bytes), and the server user must be able
        # to reach the directory when we run as root.
        if len(str(base)) > 60 or (self._os_user is not None and not _traversable_by_others(base)):
            base = Path("/tmp")
        tmp = Path(tempfile.mkdtemp(prefix="promptdeck-pg-", dir=str(base)))
        if self._os_user is not None:
            os.chown(tmp, self._os_user.pw_uid, self._os_user.pw_gid)
        return tmp

    def _reachable_bindir(self) -> Path:
        """The binaries, where the server's OS user can run them. Run as root, binaries
        inside a checkout under an unreadable home (a wheel's, in a virtualenv) are copied
        into the server's own directory, with the wheel's libraries at the same relative
        place (its binaries find them through an $ORIGIN-relative run path)."""
        if self._os_user is None or _traversable_by_others(self.bindir):
            return self.bindir
        install = self.bindir.parent  # .../pgserver/pginstall
        package = install.parent
        copy = self._tmp / "bin-copy"
        shutil.copytree(install, copy / package.name / install.name, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy / libs.name, symlinks=True)
        for path in [copy, *copy.rglob("*")]:
            os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid, follow_symlinks=False)
        return copy / package.name / install.name / self.bindir.name

    def _initdb(self) -> None:
        self.tmpdir = self._make_tmpdir()
        self.bindir = self._reachable_bindir()
        pwfile = self._tmp / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._os_user is not None:
            os.chown(pwfile, self._os_user.pw_uid, self._os_user.pw_gid)
        try:
            res = self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    self.user,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise PostgresServerError(f"initdb failed ({res.returncode}):\n{res.stdout}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": str(self.max_connections),
            "fsync": "off",
            "synchronous_commit": self.synchronous_commit,
            "full_page_writes": "off",
            "password_encryption": "'scram-sha-256'",
            "shared_buffers": "32MB",
            "max_wal_size": "256MB",
            "min_wal_size": "32MB",
            "log_min_messages": "warning",
            "log_connections": "off",
        }
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# promptdeck test server\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")
        self._initialised = True

    def _pg_ctl_start(self) -> subprocess.CompletedProcess[str]:
        return self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-o",
                f"-p {self.port}",
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "start",
            ],
            timeout=self.start_timeout + 30,
        )

    def start(self) -> PostgresServer:
        """Start the server (initialising the cluster on first call); no-op if running."""
        with self._lock:
            if not self._initialised:
                self._initdb()
            if self.is_running():
                return self
            if not self._atexit_registered:
                atexit.register(self.destroy)
                self._atexit_registered = True
            # On the first start, retry on another port if the chosen one was taken in the
            # meantime (e.g. by another xdist worker). Restarts must keep the same port.
            attempts = 1 if (self._started_once or self._fixed_port) else 5
            last = ""
            for _ in range(attempts):
                if not self.port:
                    self.port = _free_port(self.host)
                res = self._pg_ctl_start()
                if res.returncode == 0:
                    self._started_once = True
                    return self
                last = f"{res.stdout}\n{self._log_tail()}"
                if self._started_once or self._fixed_port:
                    break
                self.port = 0
            raise PostgresServerError(f"pg_ctl start failed:\n{last}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data. ``mode``: smart, fast or immediate."""
        with self._lock:
            if self.tmpdir is None or not self._initialised or not self.is_running():
                return
            res = self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]
            )
            if res.returncode != 0 and self.is_running():
                raise PostgresServerError(f"pg_ctl stop failed:\n{res.stdout}")

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the server and delete its directory. The object cannot be started again."""
        with self._lock:
            try:
                self.stop(mode="immediate")
            finally:
                if self.tmpdir is not None:
                    shutil.rmtree(self.tmpdir, ignore_errors=True)
                self.tmpdir = None
                self._initialised = False

    def is_running(self) -> bool:
        """Whether the postmaster of this data directory is alive."""
        if self.tmpdir is None:
            return False
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()

    # -- connecting ---------------------------------------------------------------------------

    def url(
        self, dbname: str = "postgres", *, password: str | None = None, user: str | None = None
    ) -> str:
        """SQLAlchemy URL ``postgresql+psycopg://USER:PASSWORD@127.0.0.1:PORT/DB``."""
        return URL.create(
            "postgresql+psycopg",
            username=user if user is not None else self.user,
            password=password if password is not None else self.password,
            host=self.host,
            port=self.port,
            database=dbname,
        ).render_as_string(hide_password=False)

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string, for psycopg.connect()."""
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=10,
        )

    @contextlib.contextmanager
    def admin(self) -> Iterator[psycopg.Connection[Any]]:
        """An autocommit superuser connection to the ``postgres`` database."""
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            yield conn

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URL."""
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def terminate_connections(self, dbname: str) -> int:
        """Kill every session connected to ``dbname``; returns how many were killed."""
        with self.admin() as conn:
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchone()
        return int(row[0]) if row else 0

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, terminating its connections first."""
        with self.admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force)
            )


# -- pytest fixtures ------------------------------------------------------------------------

# One server of each kind per process (per xdist worker), started on first use: "system"
# (the installed PostgreSQL, 15 on Debian bookworm) and "pg16" (the pgserver wheel's).
_servers: dict[str, PostgresServer] = {}
_users: dict[str, int] = {}
_errors: dict[str, str] = {}
_shared_lock = threading.Lock()


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(
            f"PostgreSQL required ({REQUIRE_ENV}=1) but unavailable: {reason}", pytrace=False
        )
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _bindir_of(kind: str) -> Path | None:
    if kind == "system":
        return None  # PostgresServer looks for it
    found = find_pgserver_bindir()
    if found is None:
        raise PostgresServerError(
            "the PostgreSQL 16 binaries of the pgserver wheel are not installed "
            "(pip install pgserver: a test dependency)"
        )
    return found


def _acquire(kind: str = "system") -> PostgresServer:
    """The process-wide server of ``kind``, started on first use."""
    with _shared_lock:
        if kind not in _servers and kind not in _errors:
            server: PostgresServer | None = None
            try:
                server = PostgresServer(_bindir_of(kind))
                server.start()
                _servers[kind] = server
            except (PostgresServerError, OSError, subprocess.SubprocessError) as exc:
                _errors[kind] = str(exc)
                if server is not None:
                    server.destroy()
        if kind not in _servers:
            _unavailable(_errors.get(kind) or "unknown error")
        _users[kind] = _users.get(kind, 0) + 1
        return _servers[kind]


def _release(kind: str = "system") -> None:
    with _shared_lock:
        _users[kind] -= 1
        if _users[kind] <= 0 and kind in _servers:
            _servers.pop(kind).destroy()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A running PostgresServer for the whole session (per xdist worker)."""
    server = _acquire()
    try:
        yield server
    finally:
        _release()


@pytest.fixture(scope="session")
def pg16_server() -> Iterator[PostgresServer]:
    """A second server, PostgreSQL 16 from the pgserver wheel, for the whole session."""
    server = _acquire("pg16")
    try:
        yield server
    finally:
        _release("pg16")


def _db_name(request: pytest.FixtureRequest) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    return f"t_{slug}_{uuid.uuid4().hex[:8]}"


def _drop_database_and_roles(server: PostgresServer, name: str) -> None:
    """Drop the database and the group roles `promptdeck init` made for it: roles belong
    to the whole server and would outlive the database."""
    from promptdeck.store.pg_security import role_prefix

    server.drop_database(name)
    prefix = role_prefix(name)
    with server.admin() as conn:
        for role in ("admin", "reviewer", "editor", "viewer"):
            conn.execute(
                sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(f"{prefix}_{role}"))
            )


def _ensure_running(server: PostgresServer) -> None:
    # A test that stopped the server and failed before restarting it must not break the rest.
    if not server.is_running():
        server.start()


@pytest.fixture
def pg_url(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh empty database on ``pg_server``; dropped after the test."""
    _ensure_running(pg_server)
    name = _db_name(request)
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        _ensure_running(pg_server)
        _drop_database_and_roles(pg_server, name)


def make_unsecured_store(url: str) -> None:
    """promptdeck's schema in the (empty) database at ``url``, without `init`'s database
    roles: a shared store as the library made them before only `init` could."""
    from promptdeck.store import create_store_engine
    from promptdeck.store.schema import migrate

    engine = create_store_engine(url)
    try:
        migrate(engine, url)
    finally:
        engine.dispose()


@pytest.fixture
def pg_store_url(pg_url: str) -> str:
    """A fresh database holding an unsecured promptdeck store (``make_unsecured_store``):
    such stores still open, with roles kept in the store. Tests of what the store does
    use it; tests of who may do it run `init` (tests/test_governance_pg.py)."""
    make_unsecured_store(pg_url)
    return pg_url


@pytest.fixture
def pg_url_factory(
    pg_server: PostgresServer, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """``make() -> url``: each call creates another fresh database; all dropped afterwards."""
    names: list[str] = []

    def make() -> str:
        _ensure_running(pg_server)
        name = _db_name(request)
        names.append(name)
        return pg_server.create_database(name)

    try:
        yield make
    finally:
        if names:
            _ensure_running(pg_server)
            for name in names:
                _drop_database_and_roles(pg_server, name)


# -- PgBouncer ------------------------------------------------------------------------------

REQUIRE_BOUNCER_ENV = "PROMPTDECK_REQUIRE_PGBOUNCER"


def find_pgbouncer() -> Path | None:
    """The pgbouncer binary (the Debian package puts it in /usr/sbin), or None."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")
    return Path(found) if found else None


def _pgbouncer_version(binary: Path) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"PgBouncer (\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else ()


class PgBouncer:
    """PgBouncer in transaction pooling mode in front of ``server``, on 127.0.0.1 only.

    Clients log in with the server's user and password (SCRAM); PgBouncer logs in to
    PostgreSQL with the same. Any database name is passed through. ``pool_size`` server
    connections at most per database.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        server: PostgresServer,
        *,
        binary: Path | None = None,
        pool_mode: str = "transaction",
        pool_size: int = 3,
        max_client_conn: int = 2000,
    ) -> None:
        found = binary or find_pgbouncer()
        if found is None:
            raise PostgresServerError("pgbouncer not found (apt-get install pgbouncer)")
        self.binary = found
        self.server = server
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.port = 0
        self.tmpdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._os_user = _run_as_user()  # pgbouncer refuses to run as root

    def _write_config(self) -> Path:
        tmp = Path(tempfile.mkdtemp(prefix="promptdeck-pgb-", dir="/tmp"))
        self.tmpdir = tmp
        auth = tmp / "userlist.txt"
        auth.write_text(f'"{self.server.user}" "{self.server.password}"\n')
        settings = {
            "listen_addr": self.host,
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": str(auth),
            "pool_mode": self.pool_mode,
            "default_pool_size": str(self.pool_size),
            "max_client_conn": str(self.max_client_conn),
            "admin_users": self.server.user,
            "stats_users": self.server.user,
            "ignore_startup_parameters": "extra_float_digits,options",
            "logfile": str(tmp / "pgbouncer.log"),
            "pidfile": str(tmp / "pgbouncer.pid"),
            "server_login_retry": "1",
        }
        if _pgbouncer_version(self.binary) >= (1, 21):
            # Newer versions can track protocol-level prepared statements: switch that
            # off, so that tests see what a stock older pooler does with them.
            settings["max_prepared_statements"] = "0"
        config = tmp / "pgbouncer.ini"
        lines = [
            "[databases]",
            f"* = host={self.server.host} port={self.server.port}",
            "",
            "[pgbouncer]",
            *(f"{key} = {value}" for key, value in settings.items()),
        ]
        config.write_text("\n".join(lines) + "\n")
        if self._os_user is not None:
            for path in (tmp, auth, config):
                os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)
        auth.chmod(0o600)
        return config

    def start(self, timeout: float = 20.0) -> PgBouncer:
        if self._process is not None and self._process.poll() is None:
            return self
        self.port = _free_port(self.host)
        config = self._write_config()
        user = self._os_user
        self._process = subprocess.Popen(
            [str(self.binary), str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            cwd=str(self.tmpdir),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PostgresServerError(f"pgbouncer exited:\n{self._log_tail()}")
            try:
                with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
                    conn.execute("SELECT 1")
                atexit.register(self.stop)
                return self
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.stop()
        raise PostgresServerError(f"pgbouncer did not accept connections:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        if self.tmpdir is None:
            return ""
        try:
            text = (self.tmpdir / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of ``dbname`` through PgBouncer."""
        return URL.create(
            "postgresql+psycopg",
            username=self.server.user,
            password=self.server.password,
            host=self.host,
            port=self.port,
            database=dbname,
        ).render_as_string(hide_password=False)

    def conninfo(self, dbname: str = "postgres") -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.server.user,
            password=self.server.password,
            dbname=dbname,
            connect_timeout=5,
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def admin_command(self, command: str) -> None:
        """A command on the admin console (KILL db, RESUME db, RECONNECT...)."""
        with psycopg.connect(self.conninfo("pgbouncer"), autocommit=True) as conn:
            conn.execute(command, prepare=False)

    def show(self, what: str) -> list[dict[str, Any]]:
        """``SHOW <what>`` on the admin console (POOLS, SERVERS, CLIENTS, STATS...)."""
        with psycopg.connect(self.conninfo("pgbouncer"), autocommit=True) as conn:
            cursor = conn.execute(f"SHOW {what}", prepare=False)
            names = [column.name for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


_bouncer: PgBouncer | None = None
_bouncer_error: str | None = None


@pytest.fixture(scope="session")
def pg_bouncer(pg_server: PostgresServer) -> Iterator[PgBouncer]:
    """A running PgBouncer (transaction pooling) in front of ``pg_server``."""
    global _bouncer, _bouncer_error
    if _bouncer is None and _bouncer_error is None:
        try:
            _bouncer = PgBouncer(pg_server).start()
        except (PostgresServerError, OSError, subprocess.SubprocessError) as exc:
            _bouncer_error = str(exc)
    if _bouncer is None:
        reason = f"PgBouncer unavailable: {_bouncer_error}"
        if os.environ.get(REQUIRE_BOUNCER_ENV) == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    yield _bouncer  # stopped at exit (atexit), after every test of this worker


@pytest.fixture
def pgbouncer_url(pg_bouncer: PgBouncer, pg_url: str) -> tuple[str, str]:
    """(direct URL, URL through PgBouncer) of one fresh database."""
    name = make_url(pg_url).database or "postgres"
    return pg_url, pg_bouncer.url(name)


def _main() -> None:  # pragma: no cover - manual smoke test: python tests/pgserver.py
    t0 = time.monotonic()
    with PostgresServer() as server:
        print(f"started in {time.monotonic() - t0:.2f}s on port {server.port}: {server.url()}")
        t1 = time.monotonic()
        server.create_database("smoke")
        print(f"create_database in {time.monotonic() - t1:.3f}s")
        server.drop_database("smoke")
        t2 = time.monotonic()
        server.stop()
        server.start()
        print(f"restart in {time.monotonic() - t2:.2f}s")


if __name__ == "__main__":  # pragma: no cover
    _main()
