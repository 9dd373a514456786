"""Every test gets its own database file and a fixed, known environment."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from inprocess import invoke
from postgres import (  # noqa: F401  (fixtures: a real PostgreSQL server)
    backend,
    collect_not_run,
    deselect_postgres_where_it_cannot_run,
    deselect_sqlite_only,
    ledger_db,
    other_ledger,
    parametrize_backend,
    pg_server,
    pg_url,
    report_not_run,
)

TODAY = "2023-04-01"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Per-test ledgers on a RAM file system where the machine has one (Linux: /dev/shm).

    On disk, SQLite's fsyncs took three quarters of a new ledger's first write (76 of 96 ms
    against 20 to 33 ms in RAM, 20 in-process runs each); nothing a test can observe depends on
    them reaching the disk, since a killed process leaves the page cache behind either way.
    `--basetemp` still puts the tests' files wherever it says; xdist's workers take their
    directories from this process.
    """
    if config.option.basetemp is not None or hasattr(config, "workerinput"):
        return
    ram = Path("/dev/shm")
    try:
        flags = os.statvfs(ram).f_flag
    except OSError:
        return
    # noexec would stop the scripts test_cron writes there from running.
    if os.access(ram, os.W_OK | os.X_OK) and not flags & (os.ST_NOEXEC | os.ST_RDONLY):
        tempfile.tempdir = str(ram)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backend(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_sqlite_only(config, items)
    deselect_postgres_where_it_cannot_run(config, items)


# pytest-xdist's hook: a worker's results reach the controller, which writes the summary.
@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node) -> None:
    collect_not_run(node.config, getattr(node, "workeroutput", {}))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    report_not_run(terminalreporter, config)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str,  # noqa: F811  (the fixture)
                 request: pytest.FixtureRequest) -> Path | str:
    """Point gongkai at a per-test database, never the user's: a file in tmp_path, or a fresh
    database on the test server (tests/postgres.py says which tests run on which)."""
    db = tmp_path / "gongkai.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    point_at(db, monkeypatch)
    return db


def point_at(db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment every test runs gongkai in: `db`, a fixed day and user, nothing of the
    developer's own settings."""
    monkeypatch.setenv("GONGKAI_DB", str(db))
    monkeypatch.setenv("GONGKAI_TODAY", TODAY)
    monkeypatch.setenv("GONGKAI_USER", "测试员")
    # COLUMNS too: a piped table is as wide as it says (else 100), and the tests read tables at
    # that default unless they set a width themselves; pytest-xdist's workers set it to 80.
    for name in ("GONGKAI_PLAN", "GONGKAI_TZ", "GONGKAI_NOW", "GONGKAI_DEBUG", "GONGKAI_BUSY_TIMEOUT", "NO_COLOR",
                 "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def executable() -> str:
    """The installed `gongkai` console script next to this Python, as a user or cron would run it."""
    found = shutil.which("gongkai", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the gongkai executable is not installed next to this Python; run `pip install '.[test]'` first")
    return found


@pytest.fixture
def db_path(isolated_env: Path | str) -> Path | str:
    """The test's database: a SQLite file's Path, or (backend `postgres`) the server's URL."""
    return isolated_env


@pytest.fixture
def gk():
    """Run the CLI in-process; returns a Result (stdout and stderr kept apart)."""

    def run(*args: str, input: str | None = None):
        return invoke(args, input=input)

    return run


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path
