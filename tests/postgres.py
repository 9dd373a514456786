"""A real PostgreSQL server for the tests, and a fresh database for each test that asks.

GONGKAI_TEST_PG_URL names a running server (`.ci/postgres run pytest …` sets it); without
it, the first test that needs one starts a throwaway cluster with `.ci/postgres start` for
the session (each xdist worker its own) and stops it at the end. A test run never installs
PostgreSQL: where psycopg or the server programs are missing, the `postgres` tests are
deselected at collection and one line of the terminal summary says why and how to get them
(`not_run_here`; without the driver, the test_postgres_* modules that import it on loading are
skipped whole, a line each); a server that is there but fails to start fails the tests that need it.

Each test gets a database of its own, copied from an empty template, and dropped after it.

Both backends, one place. conftest.py's autouse `isolated_env` asks for `backend`, and
conftest's `pytest_generate_tests` parametrizes that fixture for every test: `sqlite` (a new
file in the test's tmp_path) and `postgres` (marked `postgres`, so `-m "not postgres"` drops
it: a fresh database on the test server). GONGKAI_DB names that database, so the in-process
CLI, `Ledger.open()` and every subprocess the test starts work on the backend under test.
`ledger_db` is the same database as a string, for tests that hand it to a subprocess, and
`other_ledger` a second one on the same backend (another file, or another database).

Both is the default because a test reaches its ledger through GONGKAI_DB, in-process or in
a subprocess, without asking for any fixture: nothing in its signature says it never opens
one, so the test says so. A test runs once, on SQLite only, when its module (a module of pure
functions: `pytestmark = pytest.mark.no_ledger`) or itself is marked:
- `no_ledger`: it never opens a ledger (dates, text, columns, models, renderers…), so a second
  run would test nothing new;
- `sqlite_only("reason")`: what it checks exists only for a file (the file opened with sqlite3,
  WAL, file modes, read-only directories, file backups, SQLite's query plans, a path in a
  message…); the reason says which;
- `postgres`: the test_postgres_* modules, which ask for `pg_url` themselves.
`sqlite_only` on one parameter set (`pytest.param(..., marks=...)`) drops that set's postgres
run at collection (`deselect_sqlite_only`). A test that edits a ledger behind gongkai's back
or reads what a command left uses `query` and `snapshot` below, which speak to either backend.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from gongkai_cli.store.postgres_schema import SCHEMA

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "postgres"
TEMPLATE = "gongkai_test_template"


class Server(NamedTuple):
    url: str  # the owner's connection to the server's main database

    def database_url(self, database: str, *, user: str | None = None, password: str | None = None) -> str:
        """The same server, another database (and login)."""
        parts = urlsplit(self.url)
        netloc = parts.netloc
        if user is not None:
            host = netloc.rsplit("@", 1)[-1]
            netloc = f"{user}:{password}@{host}" if password is not None else f"{user}@{host}"
        return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))

    def connect(self, database: str | None = None, **kwargs: Any) -> Any:
        import psycopg

        return psycopg.connect(self.database_url(database) if database else self.url, autocommit=True, **kwargs)


def _start() -> tuple[dict[str, str], str | None]:
    """Variables of a server started by the script, and its directory to stop (None: not ours)."""
    if url := os.environ.get("GONGKAI_TEST_PG_URL"):
        return {"GONGKAI_TEST_PG_URL": url}, None
    result = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-5:] or [f"exit {result.returncode}"]
        pytest.fail("PostgreSQL is installed, but .ci/postgres could not start it: " + " | ".join(reason))
    variables = exports(result.stdout)
    return variables, variables["GONGKAI_TEST_PG_DIR"]


def exports(text: str) -> dict[str, str]:
    """The variables of the script's `export NAME='value'` lines."""
    variables = {}
    for line in text.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        variables[name] = shlex.split(value)[0]
    return variables


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    variables, directory = _start()
    server = Server(variables["GONGKAI_TEST_PG_URL"])
    try:
        with server.connect() as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).fetchone()
            if not exists:
                # Several xdist workers may share one server: only one of them creates it.
                try:
                    conn.execute(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0 ENCODING 'UTF8'")
                except Exception as err:
                    if "already exists" not in str(err):
                        raise
        yield server
    finally:
        if directory is not None:
            subprocess.run([str(SCRIPT), "stop", directory], check=False, timeout=120)


@pytest.fixture
def pg_url(pg_server: Server) -> Iterator[str]:
    """A fresh, empty database on the test server, owned by the test role; dropped afterwards."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture
def other_ledger(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second ledger, not yet made, on the backend under test: a file beside the test's own,
    or another fresh database on the test server."""
    if backend == "sqlite":
        yield str(tmp_path / "other.db")
        return
    with fresh_database(request.getfixturevalue("pg_server")) as url:
        yield url


@contextlib.contextmanager
def fresh_database(server: Server) -> Iterator[str]:
    """A new database on `server`, copied from the empty template; dropped when the block ends."""
    name = f"gongkai_test_{secrets.token_hex(6)}"
    with server.connect() as conn:
        # PostgreSQL 15's default copies the template page by page through the WAL (about 150 ms
        # here); copying its files is about 25 ms, and the test server has fsync off anyway.
        strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}{strategy}")
    try:
        yield server.database_url(name)
    finally:
        _drop(server, name)


def _drop(server: Server, name: str) -> None:
    """Drop a test's database. FORCE may meet a backend it may not end (a loaded machine's
    autovacuum, seen once in a full run); that one ends soon, so try again, and at worst leave
    the database to the throwaway cluster."""
    import time

    import psycopg

    for attempt in range(5):
        try:
            with server.connect() as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            return
        except psycopg.errors.InsufficientPrivilege:
            time.sleep(0.5 * (attempt + 1))


def with_query(url: str, **params: str) -> str:
    """`url` with these connection parameters added to its query string."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# A test marked with one of these runs once, on SQLite (see the module's docstring).
ONE_BACKEND = ("no_ledger", "sqlite_only", "postgres")


def parametrize_backend(metafunc: pytest.Metafunc) -> None:
    """Run a test that uses a ledger on both backends, unless it is marked to run once."""
    if "backend" not in metafunc.fixturenames:
        return
    if any(metafunc.definition.get_closest_marker(name) for name in ONE_BACKEND):
        return
    metafunc.parametrize("backend", BACKENDS, indirect=True)


def deselect_sqlite_only(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the `postgres` runs of parameter sets marked `sqlite_only` (the marker on a whole
    test is seen before parametrizing; on one of its parameter sets, only after)."""
    dropped = [item for item in items if isinstance(item, pytest.Function) and item.get_closest_marker("sqlite_only")
               and getattr(item, "callspec", None) is not None and item.callspec.params.get("backend") == "postgres"]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in set(dropped)]


def not_run_here() -> str | None:
    """Why the `postgres` tests cannot run on this machine, and how to make them (None: they
    can): the driver is missing, or there is neither a server in GONGKAI_TEST_PG_URL nor the
    programs to start one."""
    try:
        import psycopg  # noqa: F401
    except ImportError as err:
        return f"psycopg cannot be imported ({err}); pip install '.[test]' installs it"
    if os.environ.get("GONGKAI_TEST_PG_URL"):
        return None
    found = subprocess.run([str(SCRIPT), "bindir"], capture_output=True, text=True, check=False, timeout=60)
    if found.returncode == 0:
        return None
    return found.stderr.strip().removeprefix("postgres: ") or f".ci/postgres bindir: exit {found.returncode}"


# How many `postgres` tests were deselected, and why: the process's own, or (xdist) its workers'.
NOT_RUN = pytest.StashKey[tuple[int, str]]()


def deselect_postgres_where_it_cannot_run(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the `postgres` tests at collection where they cannot run, rather than skip each one:
    a skip line for each of several hundred tests would bury the rest of the summary."""
    needing = [item for item in items if item.get_closest_marker("postgres")]
    if not needing or (reason := not_run_here()) is None:
        return
    config.hook.pytest_deselected(items=needing)
    dropped = set(needing)
    items[:] = [item for item in items if item not in dropped]
    config.stash[NOT_RUN] = (len(needing), reason)
    if hasattr(config, "workeroutput"):
        config.workeroutput["postgres_not_run"] = [len(needing), reason]


def collect_not_run(config: pytest.Config, workeroutput: dict[str, Any]) -> None:
    """An xdist worker's count and reason; every worker collects the same tests, so one's is all's."""
    if "postgres_not_run" in workeroutput:
        count, reason = workeroutput["postgres_not_run"]
        config.stash[NOT_RUN] = (count, reason)


def report_not_run(terminalreporter: Any, config: pytest.Config) -> None:
    """The one line that says the `postgres` tests did not run, why, and how to run them."""
    if hasattr(config, "workerinput") or NOT_RUN not in config.stash:
        return
    count, reason = config.stash[NOT_RUN]
    terminalreporter.write_line(f"{count} PostgreSQL (team-mode) tests did not run: {reason}", yellow=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """`sqlite` or `postgres`: which database GONGKAI_DB names for this test."""
    name: str = getattr(request, "param", "sqlite")
    return name


@pytest.fixture
def ledger_db() -> str:
    """What GONGKAI_DB names (a file path or a server's URL), for a test that hands it to a
    subprocess; conftest.py's `isolated_env` has set it for the backend under test."""
    return os.environ["GONGKAI_DB"]


def is_server(database: str | Path) -> bool:
    return str(database).startswith(("postgresql://", "postgres://"))


def query(database: str | Path, sql: str, params: tuple[Any, ...] = (), *, named: bool = False) -> list[Any]:
    """The rows of one statement (with `?` placeholders), committed, on a SQLite file or a
    server's database: what a command left behind, or an edit made behind gongkai's back.
    `named`: rows whose columns are read by name."""
    if is_server(database):
        import psycopg
        from psycopg.rows import dict_row, tuple_row

        with psycopg.connect(str(database), autocommit=True) as conn:
            conn.execute(f"SET search_path = {SCHEMA}")
            cursor = conn.cursor(row_factory=dict_row if named else tuple_row)
            cursor.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description is not None else []
    import sqlite3

    conn = sqlite3.connect(database)
    if named:
        conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def snapshot(database: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in order, of a SQLite file or a server's database: "unchanged" is
    this, equal before and after."""
    text = str(database)
    if is_server(text):
        import psycopg

        with psycopg.connect(text, autocommit=True) as conn:
            conn.execute(f"SET search_path = {SCHEMA}")
            tables = [name for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
                " AND table_type = 'BASE TABLE' ORDER BY table_name", (SCHEMA,))]
            assert tables, f"no gongkai tables in {text}"
            return {table: conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall() for table in tables}
    import sqlite3

    conn = sqlite3.connect(text)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall() for table in tables}
    finally:
        conn.close()
