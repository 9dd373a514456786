"""A real PostgreSQL server for the tests, and a fresh database for each test that asks.

GONGKAI_TEST_PG_URL names a running server (`.ci/postgres run pytest …` sets it); without
it, the first test that needs one starts a throwaway cluster with `.ci/postgres start` for
the session (each xdist worker its own) and stops it at the end. The tests are skipped, with
the script's own words as the reason, only when no server can be installed or started.

Each test gets a database of its own, copied from an empty template, and dropped after it.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

# Tests that reach the driver without a server (unreachable hosts, malformed URLs).
needs_driver = pytest.mark.skipif(
    importlib.util.find_spec("psycopg") is None,
    reason="psycopg is not installed: pip install -e '.[test,postgres]' (docs/team.md)",
)

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
        pytest.skip("PostgreSQL could not be installed or started by .ci/postgres: " + " | ".join(reason))
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
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test,postgres]' (docs/team.md)")
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
    name = f"gongkai_test_{secrets.token_hex(6)}"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    try:
        yield pg_server.database_url(name)
    finally:
        with pg_server.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def with_query(url: str, **params: str) -> str:
    """`url` with these connection parameters added to its query string."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What GONGKAI_DB names for a test that only goes through the command line: a new SQLite
    file, and again (marked `postgres`) a fresh PostgreSQL database, so the same test holds
    both backends to the same behaviour."""
    if request.param == "sqlite":
        db = tmp_path / "ledger" / "gongkai.db"
        db.parent.mkdir(exist_ok=True)
        return str(db)
    url: str = request.getfixturevalue("pg_url")
    return url
