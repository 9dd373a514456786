"""Upgrades: a shipped migration may be reimplemented, never changed in what it produces.

Migration 3 turns every note of an old database into an event. Its first
implementation looked up each status note's predecessor with a correlated
subquery, quadratic in the notes of a task; the SQL below is that
implementation, kept as the oracle the rewrite must match row for row.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
from pathlib import Path

import pytest

from gongkai_cli.store.migrations import SQLITE_MIGRATIONS as MIGRATIONS
from test_maintenance import rows

pytestmark = pytest.mark.sqlite_only("SQLite schema versions written into files with sqlite3")

# Migration 3 as it shipped (the statements after the events table and its triggers).
OLD_M003_NOTES_TO_EVENTS = """
    INSERT INTO events (at, by, action, plan, task, before, after)
    SELECT n.at, n.by,
           CASE WHEN n.status IS NULL THEN 'note' ELSE 'status' END,
           t.plan, t.id,
           CASE WHEN n.status IS NULL THEN NULL ELSE json_object('status', coalesce(
               (SELECT p.status FROM notes p
                WHERE p.task = n.task AND p.status IS NOT NULL AND p.id < n.id
                ORDER BY p.id DESC LIMIT 1),
               'todo')) END,
           CASE WHEN n.status IS NULL THEN json_object('note', n.id, 'text', n.text)
                ELSE json_object('note', n.id, 'text', n.text, 'status', n.status) END
    FROM notes n JOIN tasks t ON t.pk = n.task
    ORDER BY n.id
"""
EVENT_COLUMNS = "id, at, by, action, plan, task, before, after, undoes"
STATUSES = (None, None, None, "todo", "doing", "done", "blocked", "cancelled")


def build_schema2(path: Path, *, notes: int, tasks: int, plans: int = 2, seed: int = 7) -> None:
    """A database as gongkai left it at schema version 2: plans, tasks, notes with counts."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0].body("sqlite")(conn)
    MIGRATIONS[1].body("sqlite")(conn)
    conn.execute("BEGIN")
    for index in range(plans):
        conn.execute("INSERT INTO plans VALUES (?, ?, 't.csv', 'x', 'x')", (f"{2023 + index}", 2023 + index))
    conn.executemany(
        """INSERT INTO tasks (pk, plan, id, group_name, content, units, deadline, status, updated_at)
           VALUES (?, ?, ?, 'g', 'c', 'u', '全年', 'todo', 'x')""",
        [(pk, f"{2023 + pk % plans}", pk, ) for pk in range(1, tasks + 1)],
    )
    rows = []
    for note_id in range(1, notes + 1):
        status = rng.choice(STATUSES)
        rows.append((note_id, rng.randint(1, tasks), f"2023-01-01T09:{note_id % 60:02d}:00+08:00",
                     rng.choice(("甲", "乙", "cron")), f"进展 {note_id} \"引号\" \\ 换行\n", status,
                     rng.choice((None, None, 1, 2))))
    conn.executemany("INSERT INTO notes (id, task, at, by, text, status, count) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA user_version = 2")
    conn.close()


def apply_old_migration3(path: Path) -> None:
    """Run migration 3's statements, with the shipped notes-to-events SQL in place of the new one."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")

    class ShippedSQL:
        """The connection as migration 3 sees it, handed the shipped statement for the new one."""

        def execute(self, sql: str, *args):
            if sql.lstrip().startswith("INSERT INTO events"):
                sql = OLD_M003_NOTES_TO_EVENTS
            return conn.execute(sql, *args)

    MIGRATIONS[2].body("sqlite")(ShippedSQL())
    conn.execute("PRAGMA user_version = 3")
    conn.execute("COMMIT")
    conn.close()


def events_of(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id").fetchall()
    finally:
        conn.close()


def test_migration3_through_the_installed_gongkai_writes_what_the_shipped_sql_wrote(executable, tmp_path: Path):
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    build_schema2(old, notes=2000, tasks=12, plans=3)
    new.write_bytes(old.read_bytes())
    # A note of a task that no longer exists stays out of the history in both.
    for path in (old, new):
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("INSERT INTO notes (task, at, by, text, status) VALUES (999, 'x', 'x', 'orphan', 'done')")
        conn.commit()
        conn.close()
    apply_old_migration3(old)
    result = subprocess.run(
        [executable, "--db", str(new), "plans"], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    expected = events_of(old)
    assert len(expected) == 2000
    assert any(row[3] == "status" and row[6] != '{"status":"todo"}' for row in expected)
    assert events_of(new) == expected


def test_migration3_does_work_linear_in_the_notes(tmp_path: Path):
    """Counted in SQLite virtual-machine steps, not seconds: doubling the notes of one task
    doubles the work. The shipped subquery quadrupled it."""
    steps = []
    for notes in (2000, 4000):
        path = tmp_path / f"{notes}.db"
        build_schema2(path, notes=notes, tasks=1, plans=1)
        conn = sqlite3.connect(path, isolation_level=None)
        count = [0]

        def tick(count: list[int] = count) -> int:
            count[0] += 1
            return 0

        conn.set_progress_handler(tick, 100)
        conn.execute("BEGIN")
        MIGRATIONS[2].body("sqlite")(conn)
        conn.execute("COMMIT")
        conn.close()
        steps.append(count[0])
    assert steps[1] < 2.5 * steps[0], steps


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_migration3_matches_the_shipped_sql_on_random_ledgers(tmp_path: Path, seed: int):
    from gongkai_cli.store.sqlite import SQLiteStore as Store

    old, new = tmp_path / "old.db", tmp_path / "new.db"
    build_schema2(old, notes=300 * seed, tasks=seed * 4, plans=seed, seed=seed)
    new.write_bytes(old.read_bytes())
    apply_old_migration3(old)
    Store.open(new).close()
    assert events_of(new) == events_of(old)


# -- named migrations ------------------------------------------------------------------

SCHEMA5 = Path(__file__).parent / "fixtures" / "ledger_schema5.db"


def _columns(path: Path, table: str) -> list[str]:
    return [row[1] for row in rows(path, f"SELECT * FROM pragma_table_info('{table}')")]


def _applied(path: Path) -> list[str]:
    return [name for (name,) in rows(path, "SELECT name FROM migrations ORDER BY rowid")]


def test_a_schema5_ledger_upgrades_keeping_every_note_status_and_event(executable, tmp_path: Path):
    from gongkai_cli.store.migrations import SCHEMA_VERSION

    db = tmp_path / "old.db"
    db.write_bytes(SCHEMA5.read_bytes())
    queries = (
        "SELECT id, task, at, by, text, status, count, retracted_at, retracted_by FROM notes ORDER BY id",
        "SELECT pk, plan, id, group_name, content, deadline, start, due, status, updated_at FROM tasks ORDER BY pk",
        "SELECT id, at, by, action, plan, task, before, after, undoes, key FROM events ORDER BY id",
        "SELECT task, unit, position FROM task_units ORDER BY task, position",
        "SELECT * FROM plans",
    )
    before = [rows(db, sql) for sql in queries]
    assert rows(db, "PRAGMA user_version") == [(5,)]
    assert len(before[0]) == 7 and len(before[2]) == 9  # the fixture is what its .txt says

    result = subprocess.run([executable, "--db", str(db), "log", "--format", "json"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [rows(db, sql) for sql in queries] == before
    assert rows(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _applied(db) == [migration.name for migration in MIGRATIONS]
    shown = subprocess.run([executable, "--db", str(db), "show", "40", "--format", "json"],
                           check=False, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert '"status": "doing"' in shown.stdout and "第一次进展" in shown.stdout


def test_tasks_units_is_gone_after_the_upgrade_and_from_new_ledgers(tmp_path: Path):
    from gongkai_cli.store.sqlite import SQLiteStore

    old, new = tmp_path / "old.db", tmp_path / "new.db"
    old.write_bytes(SCHEMA5.read_bytes())
    assert "units" in _columns(old, "tasks")
    for path in (old, new):
        SQLiteStore.open(path).close()
        assert "units" not in _columns(path, "tasks")
        assert rows(path, "PRAGMA foreign_key_check") == []


@pytest.mark.parametrize("fixture", ["ledger_schema4.db", "ledger_schema5.db"])
def test_an_upgraded_ledger_has_the_schema_of_a_new_one_statement_for_statement(tmp_path: Path, fixture: str):
    """The fixtures' first tables were built by an earlier release (sqlite-utils wrote their
    statements then): a migration that shipped builds the same text today."""
    from gongkai_cli.store.sqlite import SQLiteStore

    old, new = tmp_path / "old.db", tmp_path / "new.db"
    old.write_bytes((SCHEMA5.parent / fixture).read_bytes())
    for path in (old, new):
        SQLiteStore.open(path).close()
    schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    assert rows(new, schema) == rows(old, schema)
    assert ("table", "notes", "notes") in [row[:3] for row in rows(new, schema)]


def test_a_ledger_missing_a_middle_migration_gets_it(tmp_path: Path):
    """As after a merge that put another branch's migration before one this ledger already had."""
    from gongkai_cli.store.sqlite import SQLiteStore

    db = tmp_path / "g.db"
    SQLiteStore.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM migrations WHERE name = 'm004_counted_notes_index'")
    conn.execute("DROP INDEX notes_counted")
    conn.commit()
    conn.close()
    # The version says current: only the recorded names show what is missing.
    SQLiteStore.open(db).close()
    assert rows(db, "SELECT name FROM sqlite_master WHERE name = 'notes_counted'") == [("notes_counted",)]
    assert "m004_counted_notes_index" in _applied(db)


def test_an_unrecorded_ledger_counts_its_version_as_the_first_migrations(tmp_path: Path):
    from gongkai_cli.store.migrations import SQLiteBook, missing

    conn = sqlite3.connect(SCHEMA5)
    try:
        assert [migration.name for migration in missing(SQLiteBook(conn, 5))] == [
            "m006_drop_task_units_text", "m007_assignments", "m008_unit_contacts", "m009_plan_edits",
            "m010_units_and_changes", "m011_server_stamped"]
    finally:
        conn.close()


def test_m009_upgrades_a_schema5_ledger_keeping_every_note_event_and_assignment(tmp_path: Path):
    """The plan edits' columns (issue 23) start empty on every old task, and nothing else moves."""
    from gongkai_cli.store.sqlite import SQLiteStore

    db = tmp_path / "old.db"
    db.write_bytes(SCHEMA5.read_bytes())
    SQLiteStore.open(db).close()  # to m008: the assignments made from the old cells
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM migrations WHERE name = 'm009_plan_edits'")
    for column in ("source", "planned_content", "planned_deadline", "planned_start", "planned_due", "dropped_at",
                   "key_task"):
        conn.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
    conn.commit()
    conn.close()
    queries = (
        "SELECT * FROM notes ORDER BY id", "SELECT * FROM events ORDER BY id",
        "SELECT * FROM assignments ORDER BY pk", "SELECT * FROM task_units ORDER BY task, position",
    )
    before = [rows(db, sql) for sql in queries]
    assert before[0] and before[1]
    SQLiteStore.open(db).close()
    assert [rows(db, sql) for sql in queries] == before
    assert "m009_plan_edits" in _applied(db)
    assert rows(db, "SELECT count(*) FROM tasks WHERE source IS NOT NULL OR planned_deadline IS NOT NULL "
                    "OR dropped_at IS NOT NULL OR key_task") == [(0,)]


def test_an_upgraded_ledgers_changes_are_the_offices_and_each_its_own_step(executable, tmp_path: Path):
    db = tmp_path / "old.db"
    db.write_bytes(SCHEMA5.read_bytes())
    events = rows(db, "SELECT id FROM events ORDER BY id")
    result = subprocess.run([executable, "--db", str(db), "--unit", "区经委", "undo", "--yes"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3 and "区经委写入的没有可以撤销的更改" in result.stderr
    assert rows(db, "SELECT id, actor, batch FROM events ORDER BY id") == [(event_id, None, None) for (event_id,) in events]
    undos = rows(db, "SELECT count(*) FROM events WHERE action = 'undo'")[0][0]
    office = subprocess.run([executable, "--db", str(db), "undo", "--yes"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert office.returncode == 0, office.stderr
    assert rows(db, "SELECT count(*) FROM events WHERE action = 'undo'") == [(undos + 1,)]
