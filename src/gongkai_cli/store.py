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
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .errors import StoreError
from .models import Note, Plan, Status, Task

BUSY_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class TaskInput:
    """One task as an import hands it to the store."""

    id: int
    group: str
    content: str
    units: tuple[str, ...]
    deadline: str
    start: date | None
    due: date | None


@dataclass(frozen=True)
class ImportCounts:
    added: int
    updated: int
    unchanged: int
    kept: tuple[int, ...]  # ids in the ledger but not in the file: kept, never deleted


@dataclass(frozen=True)
class TaskQuery:
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


# Append only: a migration that has shipped is never edited.
MIGRATIONS: list[Callable] = [_m001_initial, _m002_note_counts]
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
_PROGRESS = "(SELECT coalesce(sum(n.count), 0) FROM notes n WHERE n.task = t.pk)"
_TASK_COLUMNS = f"""
    t.pk, t.plan, t.id, t.group_name, t.content, t.deadline, t.start, t.due,
    t.status, t.updated_at, {_OVERDUE}, {_PROGRESS}
"""


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
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- plans ------------------------------------------------------------------

    @_db_errors
    def plans(self) -> list[Plan]:
        rows = self.conn.execute(
            """
            SELECT p.name, p.year, p.source, p.imported_at,
                   (SELECT count(*) FROM tasks t WHERE t.plan = p.name)
            FROM plans p
            ORDER BY p.year DESC, p.created_at DESC, p.name
            """
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
            lead = "AND tu.position = 0" if query.lead_only else ""
            where.append(
                f"""t.pk IN (SELECT tu.task FROM task_units tu JOIN units u ON u.id = tu.unit
                             WHERE u.name IN (SELECT value FROM json_each(:units)) {lead})"""
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
            WHERE n.task IN (SELECT value FROM json_each(?))
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
        with self.transaction():
            row = self.conn.execute(
                "SELECT pk, status FROM tasks WHERE plan = ? AND id = ?", (plan, task_id)
            ).fetchone()
            if row is None:
                return None
            task_pk, before = row
            cursor = self.conn.execute(
                "INSERT INTO notes (task, at, by, text, status, count) VALUES (?, ?, ?, ?, ?, ?)",
                (task_pk, at, by, text, status.value if status else None, count),
            )
            if status is not None:
                self.conn.execute(
                    "UPDATE tasks SET status = ?, updated_at = ? WHERE pk = ?",
                    (status.value, at, task_pk),
                )
            else:
                self.conn.execute("UPDATE tasks SET updated_at = ? WHERE pk = ?", (at, task_pk))
        note = Note(id=cursor.lastrowid, task_id=task_id, at=at, by=by, text=text, status=status, count=count)
        return note, Status(before)

    @_db_errors
    def import_plan(
        self, name: str, *, year: int, source: str, at: str, tasks: Sequence[TaskInput]
    ) -> ImportCounts:
        """Create or update a plan from a table, in one transaction.

        Tasks are matched by (plan, id): texts and dates are replaced, statuses
        and notes are never touched, and tasks missing from the file are kept.
        """
        with self.transaction():
            self.conn.execute(
                """
                INSERT INTO plans (name, year, source, created_at, imported_at)
                VALUES (:name, :year, :source, :at, :at)
                ON CONFLICT (name) DO UPDATE SET
                    year = excluded.year, source = excluded.source, imported_at = excluded.imported_at
                """,
                {"name": name, "year": year, "source": source, "at": at},
            )
            existing = {
                task_id: (pk, fields)
                for pk, task_id, *fields in self.conn.execute(
                    """SELECT pk, id, group_name, content, units, deadline, start, due
                       FROM tasks WHERE plan = ?""",
                    (name,),
                )
            }
            unit_ids = self._ensure_units({unit for task in tasks for unit in task.units})
            added = updated = unchanged = 0
            for task in tasks:
                fields = [
                    task.group,
                    task.content,
                    "、".join(task.units),
                    task.deadline,
                    task.start.isoformat() if task.start else None,
                    task.due.isoformat() if task.due else None,
                ]
                if task.id not in existing:
                    pk = self.conn.execute(
                        """INSERT INTO tasks (plan, id, group_name, content, units, deadline,
                                              start, due, status, updated_at)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                        (name, task.id, *fields, Status.TODO.value, at),
                    ).lastrowid
                    added += 1
                else:
                    pk, old = existing[task.id]
                    if list(old) == fields:
                        unchanged += 1
                        continue
                    self.conn.execute(
                        """UPDATE tasks SET group_name = ?, content = ?, units = ?, deadline = ?,
                                  start = ?, due = ?, updated_at = ? WHERE pk = ?""",
                        (*fields, at, pk),
                    )
                    self.conn.execute("DELETE FROM task_units WHERE task = ?", (pk,))
                    updated += 1
                self.conn.executemany(
                    "INSERT INTO task_units (task, unit, position) VALUES (?, ?, ?)",
                    [(pk, unit_ids[unit], position) for position, unit in enumerate(task.units)],
                )
            in_file = {task.id for task in tasks}
        return ImportCounts(
            added=added,
            updated=updated,
            unchanged=unchanged,
            kept=tuple(sorted(set(existing) - in_file)),
        )

    def _ensure_units(self, names: set[str]) -> dict[str, int]:
        self.conn.executemany(
            "INSERT INTO units (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
            [(name,) for name in sorted(names)],
        )
        return dict(self.conn.execute("SELECT name, id FROM units"))
