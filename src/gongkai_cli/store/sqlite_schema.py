"""The SQLite ledger's schema, migration by migration (store/migrations.py names and runs them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3


def m001_initial(conn: sqlite3.Connection) -> None:
    # Written by sqlite-utils' table builder until that was the program's only use of it; the
    # statements are the text it generated, so a new ledger's schema stays the same, word for
    # word, as that of a ledger made by an earlier release (tests/test_migrations.py compares them).
    statements = (
        """CREATE TABLE "plans" (
   "name" TEXT PRIMARY KEY,
   "year" INTEGER NOT NULL,
   "source" TEXT NOT NULL,
   "created_at" TEXT NOT NULL,
   "imported_at" TEXT NOT NULL
)""",
        """CREATE TABLE "tasks" (
   "pk" INTEGER PRIMARY KEY,
   "plan" TEXT NOT NULL REFERENCES "plans"("name"),
   "id" INTEGER NOT NULL,
   "group_name" TEXT NOT NULL,
   "content" TEXT NOT NULL,
   "units" TEXT NOT NULL,
   "deadline" TEXT NOT NULL,
   "start" TEXT,
   "due" TEXT,
   "status" TEXT NOT NULL DEFAULT 'todo',
   "updated_at" TEXT NOT NULL
)""",
        """CREATE UNIQUE INDEX "idx_tasks_plan_id"
    ON "tasks" ("plan", "id")""",
        """CREATE INDEX "idx_tasks_plan_due"
    ON "tasks" ("plan", "due")""",
        """CREATE TABLE "units" (
   "id" INTEGER PRIMARY KEY,
   "name" TEXT NOT NULL
)""",
        """CREATE UNIQUE INDEX "idx_units_name"
    ON "units" ("name")""",
        """CREATE TABLE "task_units" (
   "task" INTEGER NOT NULL REFERENCES "tasks"("pk"),
   "unit" INTEGER NOT NULL REFERENCES "units"("id"),
   "position" INTEGER NOT NULL,
   PRIMARY KEY ("task", "position")
)""",
        """CREATE INDEX "idx_task_units_unit_task"
    ON "task_units" ("unit", "task")""",
        """CREATE TABLE "notes" (
   "id" INTEGER PRIMARY KEY,
   "task" INTEGER NOT NULL REFERENCES "tasks"("pk"),
   "at" TEXT NOT NULL,
   "by" TEXT NOT NULL,
   "text" TEXT NOT NULL,
   "status" TEXT
)""",
        """CREATE INDEX "idx_notes_task_at"
    ON "notes" ("task", "at")""",
    )
    for statement in statements:
        conn.execute(statement)


def m002_note_counts(conn: sqlite3.Connection) -> None:
    # A note may count towards a task's target (不少于4次); NULL for ordinary notes.
    conn.execute('ALTER TABLE "notes" ADD COLUMN "count" INTEGER')


def m003_history(conn: sqlite3.Connection) -> None:
    """An append-only history of every change, and notes that can be retracted by undo."""
    statements = (
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            action TEXT NOT NULL,
            plan TEXT NOT NULL,
            task INTEGER,
            before TEXT,
            after TEXT,
            undoes INTEGER UNIQUE REFERENCES events (id)
        )
        """,
        "CREATE INDEX events_plan_task ON events (plan, task)",
        # The history is the evidence undo relies on: a change is reverted by a new
        # event, never by editing or deleting the one that made it.
        """
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END
        """,
        """
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END
        """,
        "ALTER TABLE notes ADD COLUMN retracted_at TEXT",
        "ALTER TABLE notes ADD COLUMN retracted_by TEXT",
        # Notes written before this migration become their events, so `log` covers them
        # and they can be undone. A task starts as todo and only a note changes its
        # status, so the status a note replaced is the one set by the task's previous
        # status note, else todo. Earlier imports kept no before-state and stay out.
        # One window pass over the status notes finds each one's predecessor: linear,
        # where a lookup per note was quadratic in the notes of a task (300k notes on
        # 91 tasks held the write lock for 13 minutes).
        """
        INSERT INTO events (at, by, action, plan, task, before, after)
        SELECT n.at, n.by,
               CASE WHEN n.status IS NULL THEN 'note' ELSE 'status' END,
               t.plan, t.id,
               CASE WHEN n.status IS NULL THEN NULL
                    ELSE json_object('status', coalesce(s.previous, 'todo')) END,
               CASE WHEN n.status IS NULL THEN json_object('note', n.id, 'text', n.text)
                    ELSE json_object('note', n.id, 'text', n.text, 'status', n.status) END
        FROM notes n JOIN tasks t ON t.pk = n.task
        LEFT JOIN (
            SELECT id, lag(status) OVER (PARTITION BY task ORDER BY id) AS previous
            FROM notes WHERE status IS NOT NULL
        ) s ON s.id = n.id
        ORDER BY n.id
        """,
    )
    for statement in statements:
        conn.execute(statement)


def m004_counted_notes_index(conn: sqlite3.Connection) -> None:
    # Progress toward a target sums a few counted notes; without this index every
    # listing would read every note of every listed task to find them.
    conn.execute(
        "CREATE INDEX notes_counted ON notes (task, count) WHERE count IS NOT NULL AND retracted_at IS NULL"
    )


def m005_event_keys(conn: sqlite3.Connection) -> None:
    # A client-chosen key makes a note idempotent: a retry after a lost confirmation finds
    # the first write instead of making a second. The key lives on the event, which is
    # never updated or deleted, so a key stays taken even after undo or a removed task.
    conn.execute("ALTER TABLE events ADD COLUMN key TEXT")
    conn.execute("CREATE UNIQUE INDEX events_key ON events (key) WHERE key IS NOT NULL")


def m006_drop_task_units_text(conn: sqlite3.Connection) -> None:
    # The units of a task live in task_units; this "、"-joined copy was written and never read.
    conn.execute("ALTER TABLE tasks DROP COLUMN units")


def m007_assignments(conn: sqlite3.Connection) -> None:
    """Each responsible unit's own part of a task (issue 12).

    Only tables: which units a task's 责任单位 cell means is the unit file's business,
    so the session fills these in for existing tasks right after the upgrade, in the
    same transaction. `tasks.status` stays, derived from the assignments' statuses.
    """
    statements = (
        """
        CREATE TABLE assignments (
            pk INTEGER PRIMARY KEY,
            task INTEGER NOT NULL REFERENCES tasks (pk),
            unit TEXT NOT NULL,
            via TEXT,
            lead INTEGER NOT NULL DEFAULT 0,
            position INTEGER NOT NULL,
            vague INTEGER NOT NULL DEFAULT 0,
            manual INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'todo',
            updated_at TEXT NOT NULL,
            UNIQUE (task, unit)
        )
        """,
        # A unit's listing starts from its own rows, and a collective's (--unit 各街镇) from via.
        "CREATE INDEX assignments_unit_task ON assignments (unit, task)",
        "CREATE INDEX assignments_via_task ON assignments (via, task) WHERE via IS NOT NULL",
        # NULL: a note on the task as a whole (the office's remark, and every note from before).
        "ALTER TABLE notes ADD COLUMN assignment INTEGER REFERENCES assignments (pk)",
        """CREATE INDEX notes_assignment_counted ON notes (assignment, count)
           WHERE assignment IS NOT NULL AND count IS NOT NULL AND retracted_at IS NULL""",
    )
    for statement in statements:
        conn.execute(statement)


def m008_unit_contacts(conn: sqlite3.Connection) -> None:
    """Where each unit's reminders go, and which reminders went out (issue 24).

    `mail_sent` holds one row per day, plan and recipient ('' for the office's digest) once the
    mail server has taken the message, so that a second run the same day sends nothing twice.
    """
    conn.execute(
        """CREATE TABLE unit_contacts (
   unit TEXT PRIMARY KEY,
   email TEXT NOT NULL,
   changed_at TEXT NOT NULL,
   changed_by TEXT NOT NULL
)"""
    )
    conn.execute(
        """CREATE TABLE mail_sent (
   day TEXT NOT NULL,
   plan TEXT NOT NULL,
   recipient TEXT NOT NULL,
   address TEXT NOT NULL,
   sent_at TEXT NOT NULL,
   message_id TEXT NOT NULL,
   PRIMARY KEY (day, plan, recipient)
)"""
    )


def m009_plan_edits(conn: sqlite3.Connection) -> None:
    """The office's changes to a plan's tasks after import (issue 23).

    `source`: where a task added by hand comes from (a notice's 文号); NULL for a task the plan
    table brought. The planned_* columns keep the imported wording and dates once the office
    has changed them (NULL while unchanged), so that `show` can set the original beside the
    current. `dropped_at`: a task the office dropped stays, with its notes, out of listings.
    `key_task`: a 重点任务 the office marked, listed first in reports.
    """
    for column in ("source", "planned_content", "planned_deadline", "planned_start", "planned_due", "dropped_at"):
        conn.execute(f"ALTER TABLE tasks ADD COLUMN {column} TEXT")
    conn.execute("ALTER TABLE tasks ADD COLUMN key_task INTEGER NOT NULL DEFAULT 0")


def m010_units_and_changes(conn: sqlite3.Connection) -> None:
    """Whose change each event is, and which events one command wrote together (issue 23).

    `actor` is the unit a change was written as (--unit before the command, GONGKAI_UNIT, or a
    unit's login); NULL is the office. `undo` takes back the caller's own newest change, so
    that sixty hands on one ledger no longer share one stack. `batch` is the id of the first
    event a command wrote when it wrote several (`note --from`, a unit sheet): one step to undo.
    Events written before this migration stay the office's and stand alone.
    """
    conn.execute("ALTER TABLE events ADD COLUMN actor TEXT")
    conn.execute("ALTER TABLE events ADD COLUMN batch INTEGER")
    conn.execute("CREATE INDEX events_batch ON events (batch) WHERE batch IS NOT NULL")


def m011_server_stamped(conn: sqlite3.Connection) -> None:
    """An idempotency key is its unit's (issue 25): unique per unit the note is on, as the event's
    payload records it, and '' for a note on the task as a whole or on every unit
    (store/common.py's key_scope). The rest of m011 is the server's: triggers that stamp a unit
    login's writes, which a file shared by no logins has no use for."""
    conn.execute("DROP INDEX events_key")
    conn.execute(
        "CREATE UNIQUE INDEX events_key ON events (coalesce(json_extract(after, '$.unit'), ''), key) WHERE key IS NOT NULL"
    )
