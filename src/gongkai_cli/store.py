"""The only module that speaks SQL.

A `Store` owns one SQLite connection. Its public methods are the storage
surface the use cases rely on; a second backend (PostgreSQL) would implement the
same methods. Queries use plain `sqlite3`; `sqlite_utils` is imported only where
the schema is built, so everyday commands stay light.

Concurrency: WAL lets readers run beside one writer; every write runs inside
`BEGIN IMMEDIATE`, so a writer takes the write lock up front and waits (busy
timeout) instead of failing half-way through a read-then-write.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

from .errors import StoreError, UsageError
from .models import Event, Note, Plan, Status, Task

BUSY_TIMEOUT_SECONDS = 10.0


class TaskInput(NamedTuple):
    """One task as an import hands it to the store."""

    id: int
    group: str
    content: str
    units: tuple[str, ...]
    deadline: str
    start: date | None
    due: date | None


class NoteInput(NamedTuple):
    """One note to append, as the use cases hand it to the store."""

    task_id: int
    text: str
    by: str
    status: Status | None = None
    count: int | None = None


class ImportCounts(NamedTuple):
    added: int
    updated: int
    unchanged: int
    kept: tuple[int, ...]  # ids in the ledger but not in the file: kept, never deleted


class TaskQuery(NamedTuple):
    """Filters for `Store.tasks`; every field narrows the result (AND)."""

    units: tuple[str, ...] = ()
    lead_only: bool = False  # with `units`: only tasks one of them leads (listed first)
    statuses: tuple[Status, ...] = ()
    group: str | None = None
    search: str | None = None
    due_before: date | None = None
    due_after: date | None = None
    with_due_only: bool = False
    overdue_only: bool = False
    open_only: bool = False
    order_by_due: bool = False


# -- schema -------------------------------------------------------------------


def _m001_initial(db) -> None:
    db["plans"].create(
        {"name": str, "year": int, "source": str, "created_at": str, "imported_at": str},
        pk="name",
        not_null={"year", "source", "created_at", "imported_at"},
    )
    db["tasks"].create(
        {
            "pk": int,
            "plan": str,
            "id": int,
            "group_name": str,
            "content": str,
            "units": str,
            "deadline": str,
            "start": str,
            "due": str,
            "status": str,
            "updated_at": str,
        },
        pk="pk",
        not_null={"plan", "id", "group_name", "content", "units", "deadline", "status", "updated_at"},
        defaults={"status": "todo"},
        foreign_keys=[("plan", "plans", "name")],
    )
    db["tasks"].create_index(["plan", "id"], unique=True)
    db["tasks"].create_index(["plan", "due"])
    db["units"].create({"id": int, "name": str}, pk="id", not_null={"name"})
    db["units"].create_index(["name"], unique=True)
    db["task_units"].create(
        {"task": int, "unit": int, "position": int},
        pk=("task", "position"),
        not_null={"task", "unit", "position"},
        foreign_keys=[("task", "tasks", "pk"), ("unit", "units", "id")],
    )
    db["task_units"].create_index(["unit", "task"])
    db["notes"].create(
        {"id": int, "task": int, "at": str, "by": str, "text": str, "status": str},
        pk="id",
        not_null={"task", "at", "by", "text"},
        foreign_keys=[("task", "tasks", "pk")],
    )
    db["notes"].create_index(["task", "at"])


def _m002_note_counts(db) -> None:
    # A note may count towards a task's target (不少于4次); NULL for ordinary notes.
    db["notes"].add_column("count", int)


def _m003_history(db) -> None:
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
        """
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
        """,
    )
    for statement in statements:
        db.execute(statement)


def _m004_counted_notes_index(db) -> None:
    # Progress toward a target sums a few counted notes; without this index every
    # listing would read every note of every listed task to find them.
    db.execute(
        "CREATE INDEX notes_counted ON notes (task, count) WHERE count IS NOT NULL AND retracted_at IS NULL"
    )


# Append only: a migration that has shipped is never edited.
MIGRATIONS: list[Callable] = [_m001_initial, _m002_note_counts, _m003_history, _m004_counted_notes_index]
SCHEMA_VERSION = len(MIGRATIONS)


# -- errors -------------------------------------------------------------------


def _translate(path: Path, err: sqlite3.Error) -> StoreError:
    text = str(err).lower()
    if "locked" in text or "busy" in text:
        return StoreError(f"数据库“{path}”正被其他进程占用，等待 {BUSY_TIMEOUT_SECONDS:g} 秒后仍未释放，请稍后重试。")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"数据库“{path}”是只读的，无法写入。")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreError(f"“{path}”不是有效的 gongkai 数据库，或文件已损坏。")
    if "unable to open" in text:
        return StoreError(f"无法打开数据库“{path}”，请检查路径和权限。")
    return StoreError(f"数据库“{path}”出错：{err}")


def _db_errors(method):
    """Turn any sqlite3 error into a StoreError (exit 4) naming the database file."""

    @functools.wraps(method)
    def wrapper(self: Store, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise _translate(self.path, err) from err

    return wrapper


# -- the store ----------------------------------------------------------------


_OVERDUE = "(t.due IS NOT NULL AND t.due < :today AND t.status NOT IN ('done', 'cancelled'))"
# Matches the partial index notes_counted (migration 4), which holds only counted notes.
_PROGRESS = """(SELECT coalesce(sum(n.count), 0) FROM notes n
               WHERE n.task = t.pk AND n.count IS NOT NULL AND n.retracted_at IS NULL)"""
_TASK_COLUMNS = f"""
    t.pk, t.plan, t.id, t.group_name, t.content, t.deadline, t.start, t.due,
    t.status, t.updated_at, {_OVERDUE}, {_PROGRESS}
"""


# The default plan is the newest year; among plans of one year, the latest created.
_PLAN_ORDER = "p.year DESC, p.created_at DESC, p.name"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Store:
    """SQLite storage for plans, tasks, units and notes."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"数据库路径“{path}”是一个目录，请指定文件。")
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as err:
            raise _translate(path, err) from err
        store = cls(path, conn)
        try:
            store._configure()
            store._migrate()
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        self.conn.close()

    @_db_errors
    def _configure(self) -> None:
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        # Reading the version first also proves the file is SQLite before we touch it.
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"数据库“{self.path}”由更新版本的 gongkai 创建（结构版本 {version}，"
                f"本程序支持到 {SCHEMA_VERSION}），请升级 gongkai。"
            )
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            self.conn.execute("PRAGMA journal_mode = WAL")

    @_db_errors
    def _migrate(self) -> None:
        if self.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        import sqlite_utils

        with self.transaction():
            # Another process may have migrated while we waited for the lock.
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            db = sqlite_utils.Database(self.conn)
            for migration in MIGRATIONS[version:]:
                migration(db)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: all of it or none of it."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            # After some errors (disk full, I/O) SQLite has rolled back already, and a
            # second ROLLBACK would hide the real error behind "no transaction is active".
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # -- plans ------------------------------------------------------------------

    @_db_errors
    def plans(self) -> list[Plan]:
        """Every plan with its task count, the default (newest year) first."""
        return self._plans()

    @_db_errors
    def plan(self, name: str | None = None, *, year: int | None = None) -> Plan | None:
        """One plan by name, else the newest of `year`, else the newest; counts only that plan's
        tasks, so resolving the plan costs the same with 160 plans as with one."""
        if name is not None:
            where, params = "WHERE p.name = :name", {"name": name}
        elif year is not None:
            where, params = "WHERE p.year = :year", {"year": year}
        else:
            where, params = "", {}
        found = self._plans(where, params, limit=1)
        return found[0] if found else None

    @_db_errors
    def plan_names(self) -> list[str]:
        return [row[0] for row in self.conn.execute(f"SELECT p.name FROM plans p ORDER BY {_PLAN_ORDER}")]

    def _plans(self, where: str = "", params: dict | None = None, *, limit: int | None = None) -> list[Plan]:
        rows = self.conn.execute(
            f"""
            SELECT p.name, p.year, p.source, p.imported_at,
                   (SELECT count(*) FROM tasks t WHERE t.plan = p.name)
            FROM plans p {where}
            ORDER BY {_PLAN_ORDER} {f"LIMIT {int(limit)}" if limit else ""}
            """,
            params or {},
        ).fetchall()
        return [
            Plan(name=name, year=year, tasks=count, imported_at=imported_at, source=source)
            for name, year, source, imported_at, count in rows
        ]

    @_db_errors
    def unit_names(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT name FROM units ORDER BY name")]

    @_db_errors
    def unit_stats(self, plan: str, *, today: date) -> dict[str, tuple[int, int, int, int]]:
        """Per unit named in the plan: (tasks, led, done, overdue), counting direct mentions only."""
        rows = self.conn.execute(
            f"""
            SELECT u.name, count(*), sum(tu.position = 0), sum(t.status = 'done'), sum({_OVERDUE})
            FROM task_units tu
            JOIN units u ON u.id = tu.unit
            JOIN tasks t ON t.pk = tu.task
            WHERE t.plan = :plan
            GROUP BY u.name
            """,
            {"plan": plan, "today": today.isoformat()},
        )
        return {name: (tasks, led, done, overdue) for name, tasks, led, done, overdue in rows}

    # -- tasks ------------------------------------------------------------------

    @_db_errors
    def tasks(self, plan: str, query: TaskQuery, *, today: date) -> list[Task]:
        where = ["t.plan = :plan"]
        params: dict[str, object] = {"plan": plan, "today": today.isoformat()}
        if query.units:
            # Correlated on the task, so the work stays within the plan's tasks instead of
            # collecting every task of the unit across all plans first.
            lead = "AND tu.position = 0" if query.lead_only else ""
            where.append(
                f"""EXISTS (SELECT 1 FROM task_units tu JOIN units u ON u.id = tu.unit
                            WHERE tu.task = t.pk {lead}
                              AND u.name IN (SELECT value FROM json_each(:units)))"""
            )
            params["units"] = json.dumps(list(query.units), ensure_ascii=False)
        if query.statuses:
            where.append("t.status IN (SELECT value FROM json_each(:statuses))")
            params["statuses"] = json.dumps([s.value for s in query.statuses])
        if query.group:
            where.append("t.group_name LIKE :group ESCAPE '\\'")
            params["group"] = _like_pattern(query.group)
        if query.search:
            where.append("t.content LIKE :search ESCAPE '\\'")
            params["search"] = _like_pattern(query.search)
        if query.with_due_only:
            where.append("t.due IS NOT NULL")
        if query.due_before:
            where.append("t.due <= :due_before")
            params["due_before"] = query.due_before.isoformat()
        if query.due_after:
            where.append("t.due >= :due_after")
            params["due_after"] = query.due_after.isoformat()
        if query.overdue_only:
            where.append(_OVERDUE)
        if query.open_only:
            where.append("t.status NOT IN ('done', 'cancelled')")
        order = "t.due IS NULL, t.due, t.id" if query.order_by_due else "t.id"
        sql = f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE {' AND '.join(where)} ORDER BY {order}"
        rows = self.conn.execute(sql, params).fetchall()
        return self._tasks_from_rows(rows)

    @_db_errors
    def task(self, plan: str, task_id: int, *, today: date) -> Task | None:
        rows = self.conn.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.plan = :plan AND t.id = :id",
            {"plan": plan, "id": task_id, "today": today.isoformat()},
        ).fetchall()
        if not rows:
            return None
        (task,) = self._tasks_from_rows(rows, with_notes=True)
        return task

    @_db_errors
    def tasks_with_notes(self, plan: str, *, today: date) -> list[Task]:
        """Every task of a plan by id, each with all its notes (oldest first), for exports.

        Three queries in one read transaction, so tasks, units and notes come
        from the same snapshot even while someone else is writing.
        """
        self.conn.execute("BEGIN")
        try:
            rows = self.conn.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.plan = :plan ORDER BY t.id",
                {"plan": plan, "today": today.isoformat()},
            ).fetchall()
            return self._tasks_from_rows(rows, with_notes=True)
        finally:
            self.conn.execute("COMMIT")

    def _tasks_from_rows(self, rows: Sequence[tuple], *, with_notes: bool = False) -> list[Task]:
        pks = [row[0] for row in rows]
        units = self._units_of(pks)
        notes = self._notes_of(pks) if with_notes else {}
        return [
            Task(
                id=task_id,
                plan=plan,
                group=group,
                content=content,
                units=tuple(units.get(pk, ())),
                deadline=deadline,
                start=date.fromisoformat(start) if start else None,
                due=date.fromisoformat(due) if due else None,
                status=Status(status),
                updated_at=updated_at,
                overdue=bool(overdue),
                progress=progress,
                notes=tuple(notes.get(pk, ())),
            )
            for pk, plan, task_id, group, content, deadline, start, due, status, updated_at, overdue, progress
            in rows
        ]

    def _units_of(self, pks: list[int]) -> dict[int, list[str]]:
        # One query for all tasks of a listing, never one per row.
        result: dict[int, list[str]] = {}
        rows = self.conn.execute(
            """
            SELECT tu.task, u.name FROM task_units tu JOIN units u ON u.id = tu.unit
            WHERE tu.task IN (SELECT value FROM json_each(?))
            ORDER BY tu.task, tu.position
            """,
            (json.dumps(pks),),
        )
        for task_pk, name in rows:
            result.setdefault(task_pk, []).append(name)
        return result

    def _notes_of(self, pks: list[int]) -> dict[int, list[Note]]:
        result: dict[int, list[Note]] = {}
        rows = self.conn.execute(
            """
            SELECT n.task, n.id, t.id, n.at, n.by, n.text, n.status, n.count
            FROM notes n JOIN tasks t ON t.pk = n.task
            WHERE n.task IN (SELECT value FROM json_each(?)) AND n.retracted_at IS NULL
            ORDER BY n.task, n.at, n.id
            """,
            (json.dumps(pks),),
        )
        for task_pk, note_id, task_id, at, by, text, status, count in rows:
            result.setdefault(task_pk, []).append(
                Note(id=note_id, task_id=task_id, at=at, by=by, text=text,
                     status=Status(status) if status else None, count=count)
            )
        return result

    # -- writes -----------------------------------------------------------------

    @_db_errors
    def add_note(
        self, plan: str, task_id: int, *, at: str, by: str, text: str, status: Status | None,
        count: int | None = None,
    ) -> tuple[Note, Status] | None:
        """Append a note (and apply its status change) in one transaction.

        Returns the note and the task's status before it, or None when the task
        does not exist.
        """
        written = self.add_notes(plan, [NoteInput(task_id, text, by, status, count)], at=at)
        return written[0] if written else None

    @_db_errors
    def add_notes(self, plan: str, entries: Sequence[NoteInput], *, at: str) -> list[tuple[Note, Status]] | None:
        """Append many notes in one transaction: all of them, or none when a task is missing.

        Each note (and each status change) is its own event, exactly as if it had
        been written alone, so `log` and `undo` see no difference.
        """
        with self.transaction():
            tasks = {
                task_id: [pk, status]
                for pk, task_id, status in self.conn.execute(
                    """SELECT pk, id, status FROM tasks
                       WHERE plan = ? AND id IN (SELECT value FROM json_each(?))""",
                    (plan, json.dumps(sorted({entry.task_id for entry in entries}))),
                )
            }
            if any(entry.task_id not in tasks for entry in entries):
                return None
            # The write lock is held, so the ids this batch gets are known in advance and
            # every row can go in with one executemany instead of a statement per note.
            next_id = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM notes").fetchone()[0]
            written, note_rows, event_rows = [], [], []
            for note_id, entry in enumerate(entries, start=next_id):
                task = tasks[entry.task_id]
                task_pk, before = task
                status = entry.status.value if entry.status else None
                note_rows.append((note_id, task_pk, at, entry.by, entry.text, status, entry.count))
                after = {"note": note_id, "text": entry.text}
                if entry.count is not None:
                    after["count"] = entry.count
                if status is None:
                    event_rows.append((at, entry.by, "note", plan, entry.task_id, None, _dump(after), None))
                else:
                    task[1] = status
                    event_rows.append((at, entry.by, "status", plan, entry.task_id,
                                       _dump({"status": before}), _dump(after | {"status": status}), None))
                note = Note(id=note_id, task_id=entry.task_id, at=at, by=entry.by, text=entry.text,
                            status=entry.status, count=entry.count)
                written.append((note, Status(before)))
            self.conn.executemany(
                "INSERT INTO notes (id, task, at, by, text, status, count) VALUES (?, ?, ?, ?, ?, ?, ?)", note_rows
            )
            self.conn.executemany(
                "UPDATE tasks SET status = ?, updated_at = ? WHERE pk = ?",
                [(status, at, pk) for task_id, (pk, status) in tasks.items()],
            )
            self.conn.executemany(
                """INSERT INTO events (at, by, action, plan, task, before, after, undoes)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                event_rows,
            )
        return written

    @_db_errors
    def existing_task_ids(self, plan: str, ids: Sequence[int]) -> set[int]:
        rows = self.conn.execute(
            "SELECT id FROM tasks WHERE plan = ? AND id IN (SELECT value FROM json_each(?))",
            (plan, json.dumps(sorted(set(ids)))),
        )
        return {row[0] for row in rows}

    @_db_errors
    def import_plan(
        self, name: str, *, year: int, source: str, at: str, by: str, tasks: Sequence[TaskInput]
    ) -> ImportCounts:
        """Create or update a plan from a table, in one transaction.

        Tasks are matched by (plan, id): texts and dates are replaced, statuses
        and notes are never touched, and tasks missing from the file are kept.
        The event keeps every replaced text, so the import can be undone.
        """
        with self.transaction():
            old_plan = self._plan_row(name)
            self.conn.execute(
                """
                INSERT INTO plans (name, year, source, created_at, imported_at)
                VALUES (:name, :year, :source, :at, :at)
                ON CONFLICT (name) DO UPDATE SET
                    year = excluded.year, source = excluded.source, imported_at = excluded.imported_at
                """,
                {"name": name, "year": year, "source": source, "at": at},
            )
            existing = self._snapshots(name)
            unit_ids = self._ensure_units({unit for task in tasks for unit in task.units})
            replaced: dict[str, dict | None] = {}
            written: dict[str, dict] = {}
            unchanged = 0
            # The write lock is held, so new tasks' keys are known in advance and a
            # 10,000-row table goes in with a few executemany calls, not a statement per row.
            next_pk = self.conn.execute("SELECT coalesce(max(pk), 0) + 1 FROM tasks").fetchone()[0]
            inserts: list[tuple] = []
            added: list[tuple[int, dict]] = []
            changed: list[tuple[int, dict]] = []
            for task in tasks:
                fields = _task_fields(task)
                if task.id not in existing:
                    pk, next_pk = next_pk, next_pk + 1
                    inserts.append((pk, name, task.id, *_task_columns(fields), Status.TODO.value, at))
                    added.append((pk, fields))
                    replaced[str(task.id)] = None
                else:
                    pk, old = existing[task.id]
                    if old == fields:
                        unchanged += 1
                        continue
                    changed.append((pk, fields))
                    replaced[str(task.id)] = old
                written[str(task.id)] = fields
            self.conn.executemany(
                """INSERT INTO tasks (pk, plan, id, group_name, content, units, deadline,
                                      start, due, status, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                inserts,
            )
            self._insert_units(added, unit_ids)
            self._rewrite_tasks(changed, unit_ids, at)
            self._record(
                at=at, by=by, action="import", plan=name,
                before={"plan": old_plan, "tasks": replaced},
                after={"plan": {"year": year, "source": source, "imported_at": at}, "tasks": written},
            )
            in_file = {task.id for task in tasks}
        added = sum(1 for old in replaced.values() if old is None)
        return ImportCounts(
            added=added,
            updated=len(replaced) - added,
            unchanged=unchanged,
            kept=tuple(sorted(set(existing) - in_file)),
        )

    def _plan_row(self, name: str) -> dict | None:
        row = self.conn.execute(
            "SELECT year, source, imported_at FROM plans WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else dict(zip(("year", "source", "imported_at"), row))

    def _snapshots(self, plan: str) -> dict[int, tuple[int, dict]]:
        """Every task of a plan as (pk, the fields an import writes)."""
        rows = self.conn.execute(
            "SELECT pk, id, group_name, content, deadline, start, due FROM tasks WHERE plan = ?",
            (plan,),
        ).fetchall()
        units = self._units_of([row[0] for row in rows])
        return {
            task_id: (pk, {"group": group, "content": content, "units": units.get(pk, []),
                           "deadline": deadline, "start": start, "due": due})
            for pk, task_id, group, content, deadline, start, due in rows
        }

    def _rewrite_tasks(self, changes: Sequence[tuple[int, dict]], unit_ids: dict[str, int], at: str) -> None:
        """Replace texts, dates and units of existing tasks; shared by import and its undo."""
        self.conn.executemany(
            """UPDATE tasks SET group_name = ?, content = ?, units = ?, deadline = ?,
                      start = ?, due = ?, updated_at = ? WHERE pk = ?""",
            [(*_task_columns(fields), at, pk) for pk, fields in changes],
        )
        self.conn.executemany("DELETE FROM task_units WHERE task = ?", [(pk,) for pk, _ in changes])
        self._insert_units(changes, unit_ids)

    def _insert_units(self, tasks: Sequence[tuple[int, dict]], unit_ids: dict[str, int]) -> None:
        self.conn.executemany(
            "INSERT INTO task_units (task, unit, position) VALUES (?, ?, ?)",
            [(pk, unit_ids[unit], position) for pk, fields in tasks for position, unit in enumerate(fields["units"])],
        )

    def _ensure_units(self, names: set[str]) -> dict[str, int]:
        self.conn.executemany(
            "INSERT INTO units (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
            [(name,) for name in sorted(names)],
        )
        return dict(self.conn.execute("SELECT name, id FROM units"))

    # -- history ----------------------------------------------------------------

    def _record(
        self, *, at: str, by: str, action: str, plan: str, task: int | None = None,
        before: dict | None = None, after: dict | None = None, undoes: int | None = None,
    ) -> int:
        """Append one event; always called inside the transaction that made the change."""
        return self.conn.execute(
            """INSERT INTO events (at, by, action, plan, task, before, after, undoes)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (at, by, action, plan, task, _dump(before), _dump(after), undoes),
        ).lastrowid

    def _events_where(self, where: Sequence[str], params: dict, *, tail: str = "ORDER BY e.id") -> list[Event]:
        sql = f"SELECT {_EVENT_COLUMNS} FROM events e WHERE {' AND '.join(where) or '1'} {tail}"
        return [
            Event(id=event_id, at=at, by=by, action=action, plan=plan, task=task,
                  before=_load(before), after=_load(after), undoes=undoes,
                  undone_by=undone_by, undoes_action=undoes_action)
            for event_id, at, by, action, plan, task, before, after, undoes, undone_by, undoes_action
            in self.conn.execute(sql, params)
        ]

    @_db_errors
    def events(
        self, *, plan: str | None = None, task: int | None = None, since: date | None = None
    ) -> list[Event]:
        """History, oldest first. With `task`, also the imports that wrote that task."""
        where: list[str] = []
        params: dict[str, object] = {}
        if plan is not None:
            where.append("e.plan = :plan")
            params["plan"] = plan
        if task is not None:
            where.append(
                """(e.task = :task OR (e.task IS NULL AND (
                       EXISTS (SELECT 1 FROM json_each(e.before, '$.tasks') WHERE key = :task_key)
                       OR EXISTS (SELECT 1 FROM json_each(e.after, '$.tasks') WHERE key = :task_key))))"""
            )
            params.update(task=task, task_key=str(task))
        if since is not None:
            # Timestamps are ISO 8601 in one time zone, so text order is time order.
            where.append("e.at >= :since")
            params["since"] = since.isoformat()
        return self._events_where(where, params)

    @_db_errors
    def last_undoable(self) -> Event | None:
        """The newest change that no undo has reverted yet (undos themselves are not undone)."""
        found = self._events_where(_UNDOABLE, {}, tail="ORDER BY e.id DESC LIMIT 1")
        return found[0] if found else None

    @_db_errors
    def undo(self, event_id: int, *, at: str, by: str) -> Event:
        """Revert event `event_id`, which must still be the newest undoable change.

        The revert and its own undo event are one transaction. Because changes are
        undone newest first, the ledger holds exactly what the event wrote; a
        mismatch means the database was edited behind gongkai's back.
        """
        with self.transaction():
            found = self._events_where(_UNDOABLE, {}, tail="ORDER BY e.id DESC LIMIT 1")
            if not found or found[0].id != event_id:
                raise StoreError("确认期间台账有了新的更改，本次未撤销任何内容；请重新运行 gongkai undo。")
            target = found[0]
            _REVERTERS[target.action](self, target, at=at, by=by)
            undo_id = self._record(
                at=at, by=by, action="undo", plan=target.plan, task=target.task,
                before=target.after, after=target.before, undoes=target.id,
            )
            (event,) = self._events_where(["e.id = :id"], {"id": undo_id})
        return event

    def _revert_note(self, event: Event, *, at: str, by: str) -> None:
        """Retract the note (notes are append-only: hidden, never deleted) and restore the status."""
        note_id = event.after["note"]
        row = self.conn.execute(
            """SELECT n.task, n.retracted_at, t.status FROM notes n JOIN tasks t ON t.pk = n.task
               WHERE n.id = ?""",
            (note_id,),
        ).fetchone()
        changed_status = event.action == "status"
        if row is None or row[1] is not None or (changed_status and row[2] != event.after["status"]):
            raise _out_of_step(event)
        task_pk = row[0]
        self.conn.execute(
            "UPDATE notes SET retracted_at = ?, retracted_by = ? WHERE id = ?", (at, by, note_id)
        )
        if changed_status:
            self.conn.execute(
                "UPDATE tasks SET status = ?, updated_at = ? WHERE pk = ?",
                (event.before["status"], at, task_pk),
            )
        else:
            self.conn.execute("UPDATE tasks SET updated_at = ? WHERE pk = ?", (at, task_pk))

    def _revert_import(self, event: Event, *, at: str, by: str) -> None:
        """Put back replaced task texts and the plan row; remove the tasks the import added."""
        current = self._snapshots(event.plan)
        for key, fields in event.after["tasks"].items():
            if int(key) not in current or current[int(key)][1] != fields:
                raise _out_of_step(event)
        replaced = event.before["tasks"]
        added = [current[int(key)][0] for key, old in replaced.items() if old is None]
        added_json = json.dumps(added)
        noted = [
            task_id for (task_id,) in self.conn.execute(
                """SELECT DISTINCT t.id FROM notes n JOIN tasks t ON t.pk = n.task
                   WHERE n.task IN (SELECT value FROM json_each(?)) AND n.retracted_at IS NULL
                   ORDER BY t.id""",
                (added_json,),
            )
        ]
        if noted:
            ids = "、".join(str(task_id) for task_id in noted)
            raise UsageError(
                f"导入 #{event.id} 新增的任务（序号 {ids}）已有进展记录，撤销这次导入会删除这些任务，因此未做任何更改。"
            )
        # What is left on these tasks are notes earlier undos retracted; their note
        # events keep every word, so removing the rows loses nothing.
        for table, column in (("notes", "task"), ("task_units", "task"), ("tasks", "pk")):
            self.conn.execute(
                f"DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))", (added_json,)
            )
        unit_ids = self._ensure_units({unit for old in replaced.values() if old for unit in old["units"]})
        self._rewrite_tasks(
            [(current[int(key)][0], old) for key, old in replaced.items() if old is not None], unit_ids, at
        )
        if event.before["plan"] is None:
            self.conn.execute("DELETE FROM plans WHERE name = ?", (event.plan,))
        else:
            self.conn.execute(
                "UPDATE plans SET year = :year, source = :source, imported_at = :imported_at WHERE name = :name",
                event.before["plan"] | {"name": event.plan},
            )

    # -- maintenance ------------------------------------------------------------

    def copy_to(self, target: Path) -> None:
        """Write a consistent copy of the whole database into the new, empty file `target`."""
        try:
            dest = sqlite3.connect(target, isolation_level=None)
            try:
                # One step copies every page under one read transaction: a single
                # snapshot, while other processes keep committing to the WAL.
                self.conn.backup(dest)
                # A backup is a file to carry away, without -wal and -shm companions.
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
        except sqlite3.Error as err:
            raise _translate(Path(target), err) from err

    @_db_errors
    def problems(self) -> list[str]:
        """What PRAGMA integrity_check and foreign_key_check find; empty when all is well."""
        found = [row[0] for row in self.conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        found += [
            f"表 {table} 第 {rowid} 行引用的 {parent} 记录不存在"
            for table, rowid, parent, _ in self.conn.execute("PRAGMA foreign_key_check")
        ]
        return found


_EVENT_COLUMNS = """
    e.id, e.at, e.by, e.action, e.plan, e.task, e.before, e.after, e.undoes,
    (SELECT u.id FROM events u WHERE u.undoes = e.id),
    (SELECT o.action FROM events o WHERE o.id = e.undoes)
"""
_UNDOABLE = ["e.action <> 'undo'", "NOT EXISTS (SELECT 1 FROM events u WHERE u.undoes = e.id)"]
_REVERTERS: dict[str, Callable[..., None]] = {
    "note": Store._revert_note,
    "status": Store._revert_note,
    "import": Store._revert_import,
}


def _out_of_step(event: Event) -> StoreError:
    return StoreError(
        f"历史记录 #{event.id} 与台账当前内容不一致（数据库可能被其他程序改动过），未撤销任何内容；"
        "请先运行 gongkai check。"
    )


def _task_fields(task: TaskInput) -> dict:
    return {
        "group": task.group,
        "content": task.content,
        "units": list(task.units),
        "deadline": task.deadline,
        "start": task.start.isoformat() if task.start else None,
        "due": task.due.isoformat() if task.due else None,
    }


def _task_columns(fields: dict) -> tuple:
    """group_name, content, units, deadline, start, due, in the tasks table's terms."""
    return (fields["group"], fields["content"], "、".join(fields["units"]), fields["deadline"],
            fields["start"], fields["due"])


def _dump(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _load(text: str | None) -> dict | None:
    return None if text is None else json.loads(text)
