"""The PostgreSQL schema and its migrations, on a real server: a fresh database gets the
ledger, re-opening changes nothing, a missing middle migration is applied, a newer ledger
is refused, and the history cannot be edited."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from gongkai_cli.domain.errors import StoreError
from gongkai_cli.store import ServerURL
from gongkai_cli.store.sqlite import SQLiteStore

pytestmark = pytest.mark.postgres

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

from gongkai_cli.store import migrations  # noqa: E402  (needs psycopg's types only when type checking)
from gongkai_cli.store.postgres import PostgresStore  # noqa: E402


def open_store(url: str, **how) -> PostgresStore:
    return PostgresStore.open(ServerURL(url), **how)


def migrations_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT name, applied_at FROM gongkai.migrations ORDER BY name").fetchall()


def columns(url: str) -> dict[str, dict[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'gongkai'"""
        ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        found.setdefault(table, {})[column] = kind
    return found


def test_a_fresh_database_gets_the_whole_schema(pg_url):
    created = []
    store = open_store(pg_url, on_create=created.append)
    store.close()
    assert len(created) == 1
    assert [name for name, _ in migrations_rows(pg_url)] == sorted(
        migration.name for migration in migrations.POSTGRES_MIGRATIONS
    )
    tables = columns(pg_url)
    assert set(tables) == {"plans", "tasks", "units", "task_units", "assignments", "notes", "events", "migrations",
                           "unit_file", "unit_contacts", "mail_sent"}
    assert tables["tasks"]["due"] == "date"
    assert tables["notes"]["at"] == "timestamp with time zone"
    assert tables["events"]["before"] == tables["events"]["after"] == "jsonb"  # since m004 (test_postgres_payloads.py)
    assert tables["assignments"]["lead"] == "boolean"
    with psycopg.connect(pg_url) as conn:
        identities = conn.execute(
            """SELECT table_name FROM information_schema.columns
               WHERE table_schema = 'gongkai' AND is_identity = 'YES' ORDER BY table_name"""
        ).fetchall()
        indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'gongkai'")}
    assert identities == [("assignments",), ("events",), ("notes",), ("tasks",), ("units",)]
    assert {"tasks_plan_due", "notes_counted", "notes_assignment_counted", "events_plan_task",
            "assignments_unit_task", "assignments_via_task", "task_units_unit_task", "notes_task_at"} <= indexes


def test_the_tables_and_columns_are_the_sqlite_ledgers(pg_url, tmp_path: Path):
    """Same names, so that a copy between the backends and the shared query shapes line up."""
    SQLiteStore.open(tmp_path / "ledger.db").close()
    conn = sqlite3.connect(tmp_path / "ledger.db")
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )]
    sqlite_tables = {name: {row[1] for row in conn.execute(f"PRAGMA table_info({name})")} for name in names}
    conn.close()
    open_store(pg_url).close()
    postgres_tables = {table: set(found) for table, found in columns(pg_url).items()}
    migrations_table = {"name", "applied_at"}
    assert sqlite_tables.pop("migrations") == postgres_tables.pop("migrations") == migrations_table
    # A SQLite ledger's unit file is the units.csv beside it; a server's ledger keeps it inside.
    assert postgres_tables.pop("unit_file") == {"one", "name", "text", "stored_at", "stored_by"}
    assert postgres_tables == sqlite_tables


def test_reopening_changes_nothing(pg_url):
    open_store(pg_url).close()
    before = migrations_rows(pg_url)
    calls = []
    store = open_store(pg_url, on_create=lambda store: calls.append("create"),
                       on_upgrade=lambda store, applied: calls.append(applied))
    store.close()
    assert calls == []
    assert migrations_rows(pg_url) == before


def test_a_missing_middle_migration_is_applied(pg_url):
    """Two branches each adding one: a ledger that had the later one still gets the other."""
    first, middle, *later = migrations.POSTGRES_MIGRATIONS
    with psycopg.connect(pg_url) as conn, conn.transaction():
        migrations.apply(migrations.PostgresBook(conn), [first, *later])
    upgraded = []
    store = open_store(pg_url, on_upgrade=lambda store, applied: upgraded.append(applied))
    store.close()
    assert upgraded == [[middle.name]]
    assert {name for name, _ in migrations_rows(pg_url)} == {
        migration.name for migration in migrations.POSTGRES_MIGRATIONS
    }
    with psycopg.connect(pg_url) as conn:
        insert_event(conn)
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
            conn.execute("UPDATE gongkai.events SET \"by\" = 'someone else'")


def test_without_upgrade_an_older_ledger_is_left_as_it_is(pg_url):
    first = migrations.POSTGRES_MIGRATIONS[0]
    with psycopg.connect(pg_url) as conn, conn.transaction():
        migrations.apply(migrations.PostgresBook(conn), [first])
    open_store(pg_url, create=False, upgrade=False).close()
    assert [name for name, _ in migrations_rows(pg_url)] == [first.name]


def test_a_ledger_of_a_newer_release_is_refused(pg_url):
    open_store(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO gongkai.migrations (name) VALUES ('m999_from_the_future')")
    with pytest.raises(StoreError, match="由更新版本的 gongkai 升级过（m999_from_the_future）") as raised:
        open_store(pg_url)
    assert raised.value.exit_code == 4


def test_a_database_without_a_ledger_is_not_made_one_when_creating_is_not_allowed(pg_url):
    with pytest.raises(StoreError, match="没有 gongkai 台账"):
        open_store(pg_url, create=False, upgrade=False)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regnamespace('gongkai')").fetchone() == (None,)


def test_other_tables_in_the_database_are_left_alone(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE public.tasks (something text)")
        conn.execute("INSERT INTO public.tasks VALUES ('theirs')")
    open_store(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT something FROM public.tasks").fetchall() == [("theirs",)]
        assert conn.execute("SELECT count(*) FROM gongkai.tasks").fetchone() == (0,)


def insert_event(conn) -> None:
    conn.execute(
        """INSERT INTO gongkai.events (at, "by", action, plan, task, after)
           VALUES (now(), '测试员', 'note', '2023', 40, '{"note": 1, "text": "x"}')"""
    )


def test_the_history_is_append_only(pg_url):
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        insert_event(conn)
        for statement in ("UPDATE gongkai.events SET action = 'status'", "DELETE FROM gongkai.events",
                          "TRUNCATE gongkai.events"):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT count(*), min(after->>'text') FROM gongkai.events").fetchone() == (1, "x")


def test_statuses_are_checked_by_the_server(pg_url):
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO gongkai.plans VALUES ('2023', 2023, 't.csv', now(), now())")
        insert = """INSERT INTO gongkai.tasks (plan, id, group_name, content, deadline, status, updated_at)
                    VALUES ('2023', %s, 'g', 'c', '全年', %s, now())"""
        conn.execute(insert, (1, "doing"))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(insert, (2, "finished"))


def test_processes_meeting_a_new_database_at_once_build_it_once(pg_url):
    created: list[int] = []
    failures: list[BaseException] = []

    def opener(index: int) -> None:
        try:
            open_store(pg_url, on_create=lambda store: created.append(index)).close()
        except BaseException as err:  # reported below, where pytest sees it
            failures.append(err)

    threads = [threading.Thread(target=opener, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(created) == 1
    assert len(migrations_rows(pg_url)) == len(migrations.POSTGRES_MIGRATIONS)
