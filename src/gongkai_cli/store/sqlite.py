"""The SQLite backend of `Storage`: the only module, with its migrations, that speaks SQL.

An `SQLiteStore` owns one SQLite connection. Queries use plain `sqlite3`;
`sqlite_utils` is imported only where the schema is built, so everyday commands
stay light.

Concurrency: WAL lets readers run beside one writer; every write runs inside
`BEGIN IMMEDIATE`, so a writer takes the write lock up front and waits (busy
timeout) instead of failing half-way through a read-then-write.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, NamedTuple, ParamSpec, TypeVar, cast

from ..errors import StoreError
from ..models import (
    CLOSED_STATUSES,
    Assignment,
    Commit,
    Event,
    Note,
    NotePayload,
    Plan,
    Status,
    StatusPayload,
    Task,
    derived_status,
)
from . import (
    BUSY_TIMEOUT_SECONDS,
    AddedTasksHaveNotes,
    AlreadyAssigned,
    AssignmentHasNotes,
    AssignmentInput,
    ImportCounts,
    LastAssignment,
    NotADatabase,
    NotALedger,
    NotAssigned,
    NoteInput,
    NotNewest,
    TaskInput,
    TaskQuery,
    UnitCounts,
    common,
    migrations,
)
from .migrations import SCHEMA_VERSION

if TYPE_CHECKING:
    from . import transfer

# `PRAGMA application_id` of every ledger: "GKAI" in ASCII. It is how gongkai tells its own
# ledgers from other programs' SQLite files, which it must leave untouched.
APPLICATION_ID = 0x474B4149
# Ledgers made before the application id existed: these schema versions and these tables.
_UNSTAMPED_VERSIONS = range(1, 5)
# What every ledger has had since migration 1: a file without them is not a gongkai ledger.
_LEDGER_TABLES = ("plans", "tasks", "units", "task_units", "notes")
# SQLite's extended code for "cannot create the -wal, -shm or -journal beside the database".
_SQLITE_READONLY_DIRECTORY = 1544


# -- errors -------------------------------------------------------------------


def _translate(path: Path, err: sqlite3.Error, timeout: float = BUSY_TIMEOUT_SECONDS) -> StoreError:
    text = str(err).lower()
    if "locked" in text or "busy" in text:
        return StoreError(
            f"数据库“{path}”正被其他进程占用，等待 {timeout:g} 秒后仍未释放，请稍后重试"
            "（等待时间可用环境变量 GONGKAI_BUSY_TIMEOUT 调整）。"
        )
    if "readonly" in text or "read-only" in text:
        # Python 3.10 has no error codes; there, the directory's mode has to tell.
        code = getattr(err, "sqlite_errorcode", None)
        if code == _SQLITE_READONLY_DIRECTORY or (code is None and not os.access(path.parent, os.W_OK)):
            return _directory_not_writable(path)
        return StoreError(f"数据库“{path}”是只读的，无法写入。")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreError(f"“{path}”不是有效的 gongkai 数据库，或文件已损坏。")
    if "could not decode" in text:
        # sqlite3's message quotes the undecodable text, raw bytes and all; a terminal must not see them.
        return StoreError(f"数据库“{path}”中有文字不是有效的 UTF-8（文件可能已损坏）；请运行 gongkai check 找出位置，再从备份恢复。")
    if "unable to open" in text:
        # A WAL ledger needs its -shm beside it even to be read; on a read-only file system
        # or in a directory the user cannot write, SQLite says no more than "unable to open".
        if Path(path).is_file() and not os.access(Path(path).parent, os.W_OK):
            return _directory_not_writable(path)
        return StoreError(f"无法打开数据库“{path}”，请检查路径和权限。")
    return StoreError(f"数据库“{path}”出错：{err}")


def _directory_not_writable(path: Path) -> StoreError:
    # SQLite refuses even a read of a WAL database when it cannot create these two files.
    return StoreError(
        f"无法使用数据库“{path}”：当前用户不能在所在目录“{path.parent}”中创建文件，而 SQLite 读写 WAL 模式的"
        f"数据库都需要在该目录中建立“{path.name}-wal”和“{path.name}-shm”；请给当前用户该目录的写权限，"
        "或把数据库放到可写的目录中；只需查看时，也可以用 gongkai backup 做的副本，它不需要这两个文件。"
    )


_P = ParamSpec("_P")
_R = TypeVar("_R")
# A row as sqlite3 returns it: column types are whatever the schema stored.
_Row = tuple[Any, ...]


def _db_errors(method: Callable[Concatenate[SQLiteStore, _P], _R]) -> Callable[Concatenate[SQLiteStore, _P], _R]:
    """Turn any sqlite3 error into a StoreError (exit 4) naming the database file."""

    @functools.wraps(method)
    def wrapper(self: SQLiteStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise _translate(self.path, err, self.timeout) from err

    return wrapper


class _Header(NamedTuple):
    """What a database says about itself, read before anything is written to it."""

    version: int
    application_id: int
    objects: int  # tables, indexes, views and triggers
    ledger_tables: int  # how many of _LEDGER_TABLES exist

    @property
    def empty(self) -> bool:
        return self.objects == 0 and self.version == 0 and self.application_id == 0

    @property
    def ours(self) -> bool:
        if self.application_id == APPLICATION_ID:
            return True
        return (
            self.application_id == 0
            and self.version in _UNSTAMPED_VERSIONS
            and self.ledger_tables == len(_LEDGER_TABLES)
        )

    @property
    def current(self) -> bool:
        return self.version == SCHEMA_VERSION and self.application_id == APPLICATION_ID


# -- the store ----------------------------------------------------------------


_CLOSED = f"({', '.join(repr(status.value) for status in CLOSED_STATUSES)})"
_OPEN = f"t.status NOT IN {_CLOSED}"
_OVERDUE = f"(t.due IS NOT NULL AND t.due < :today AND {_OPEN})"
# An assignment's own: overdue when the task's due date has passed and the unit is not done.
_A_OPEN = f"a.status NOT IN {_CLOSED}"
_A_OVERDUE = f"(t.due IS NOT NULL AND t.due < :today AND {_A_OPEN})"
# Matches the partial index notes_counted (migration 4), which holds only counted notes.
_PROGRESS = """(SELECT coalesce(sum(n.count), 0) FROM notes n
               WHERE n.task = t.pk AND n.count IS NOT NULL AND n.retracted_at IS NULL)"""
# Matches notes_assignment_counted (migration 7).
_A_PROGRESS = """(SELECT coalesce(sum(n.count), 0) FROM notes n
                 WHERE n.assignment = a.pk AND n.count IS NOT NULL AND n.retracted_at IS NULL)"""
# Through the (task, unit) index of the UNIQUE constraint: a few rows per task.
_UNITS_DONE = "(SELECT count(*) FROM assignments d WHERE d.task = t.pk AND d.status = 'done')"
_UNITS_TOTAL = "(SELECT count(*) FROM assignments d WHERE d.task = t.pk AND d.status <> 'cancelled')"
_TASK_COLUMNS = f"""
    t.pk, t.plan, t.id, t.group_name, t.content, t.deadline, t.start, t.due,
    t.status, t.updated_at, {_OVERDUE}, {_PROGRESS}, {_UNITS_DONE}, {_UNITS_TOTAL}
"""
# One unit's assignment beside its task's columns (a listing filtered by one unit).
_ASSIGNMENT_COLUMNS = f"a.unit, a.via, a.lead, a.status, {_A_OVERDUE}, a.updated_at, a.vague, {_A_PROGRESS}"


# The default plan is the newest year; among plans of one year, the latest created.
_PLAN_ORDER = "p.year DESC, p.created_at DESC, p.name"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SQLiteStore:
    """SQLite storage for plans, tasks, units and notes."""

    def __init__(self, path: Path, conn: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_SECONDS):
        self.path = path
        self.conn = conn
        self.timeout = timeout
        # Every write transaction committed through this store that recorded a change; the
        # CLI reads it when a later step fails, to say the change was saved nonetheless.
        self.commits: list[Commit] = []

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        create: bool = True,
        upgrade: bool = True,
        timeout: float = BUSY_TIMEOUT_SECONDS,
        on_create: Callable[[SQLiteStore], None] | None = None,
        on_upgrade: Callable[[SQLiteStore, list[str]], None] | None = None,
    ) -> SQLiteStore:
        """Open the ledger at `path`.

        Nothing is written until the file is known to be a gongkai ledger, or an
        empty database, which becomes one when `create` (a missing file too);
        anything else is refused untouched. With `upgrade`, the ledger is switched
        to WAL and migrated, when its file and directory are writable; without,
        nothing is written at all (`check`, `backup`). `on_create` runs inside the
        transaction that turns an empty database into a ledger, so no other
        process ever sees that ledger without what it puts there; `on_upgrade`,
        given the names of the migrations applied, runs inside the transaction that
        upgrades an existing ledger (to fill what a migration made room for). `timeout`:
        how many seconds to wait for another process's write lock.
        """
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"数据库路径“{path}”是一个目录，请指定文件。")
        # mode=rw opens an existing file only: a check of a mistyped path creates nothing.
        target = str(path) if create else f"{path.absolute().as_uri()}?mode=rw"
        try:
            conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, uri=not create)
        except sqlite3.Error as err:
            raise _translate(path, err, timeout) from err
        store = cls(path, conn, timeout)
        try:
            store._prepare(create=create, upgrade=upgrade, on_create=on_create, on_upgrade=on_upgrade)
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        self.conn.close()

    @_db_errors
    def _prepare(self, *, create: bool, upgrade: bool, on_create: Callable[[SQLiteStore], None] | None,
                 on_upgrade: Callable[[SQLiteStore, list[str]], None] | None = None) -> None:
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        # Reading the header first also proves the file is SQLite before anything touches it.
        header = self._header()
        self._recognise(header, create=create)
        if not upgrade:
            return
        if not self._writable():
            # A read needs neither WAL nor a migration, and attempting them would fail.
            if header.empty:
                raise StoreError(f"“{self.path}”是空文件，当前用户无权在其中建立 gongkai 台账。")
            if header.version < SCHEMA_VERSION:
                raise StoreError(
                    f"数据库“{self.path}”需要升级（结构版本 {header.version} → {SCHEMA_VERSION}），"
                    "但当前用户无权写入它或它所在的目录；请由有写权限的用户运行一次 gongkai init。"
                )
            return
        self._switch_to_wal()
        if not self._up_to_date(header):
            self._migrate(create=create, on_create=on_create, on_upgrade=on_upgrade)

    def _up_to_date(self, header: _Header) -> bool:
        # The names are read only when the version says current: that is the one extra query an open pays.
        return header.current and not migrations.missing(self.conn, header.version)

    def _switch_to_wal(self) -> None:
        """Put the ledger in WAL mode, waiting for other processes as long as a write would.

        SQLite answers a journal-mode change that meets another connection's lock with
        "database is locked" at once, without calling the busy handler, so processes that
        first meet an empty or pre-WAL file together would fail where they should queue.
        """
        deadline = None
        while True:
            try:
                if self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as err:
                text = str(err).lower()
                if "locked" not in text and "busy" not in text:
                    raise
                # Imported only here: the everyday open never waits and should not pay for them.
                import random
                import time

                if deadline is None:
                    deadline = time.monotonic() + self.timeout
                if time.monotonic() >= deadline:
                    raise
                # Jittered, so the processes that collided do not collide again in step.
                time.sleep(random.uniform(0.005, 0.05))

    def _header(self) -> _Header:
        # One statement, so one snapshot: another process may be creating the schema right now.
        row = self.conn.execute(
            f"""
            SELECT (SELECT user_version FROM pragma_user_version),
                   (SELECT application_id FROM pragma_application_id),
                   (SELECT count(*) FROM sqlite_master),
                   (SELECT count(*) FROM sqlite_master
                    WHERE type = 'table' AND name IN ({", ".join("?" * len(_LEDGER_TABLES))}))
            """,
            _LEDGER_TABLES,
        ).fetchone()
        return _Header(*row)

    def _recognise(self, header: _Header, *, create: bool) -> None:
        """Refuse, before any write, a file that is not a ledger this release can use."""
        if header.ours:
            if header.version > SCHEMA_VERSION:
                raise StoreError(
                    f"数据库“{self.path}”由更新版本的 gongkai 创建（结构版本 {header.version}，"
                    f"本程序支持到 {SCHEMA_VERSION}），请升级 gongkai。"
                )
            return
        if header.empty:
            if create:
                return
            what = "空文件" if self.path.stat().st_size == 0 else "空的 SQLite 数据库"
            raise StoreError(f"“{self.path}”是一个{what}，不是 gongkai 台账。")
        raise StoreError(f"“{self.path}”不是 gongkai 台账（它是其他程序的 SQLite 数据库），gongkai 没有改动它。")

    def _writable(self) -> bool:
        return os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)

    def _migrate(self, *, create: bool, on_create: Callable[[SQLiteStore], None] | None,
                 on_upgrade: Callable[[SQLiteStore, list[str]], None] | None = None) -> None:
        # An upgrade is not a change the user asked for: it is not reported as one.
        with self.transaction(history=False):
            # Another process may have created or migrated the ledger while we waited for the lock.
            header = self._header()
            self._recognise(header, create=create)
            if self._up_to_date(header):
                return
            applied = migrations.apply(
                self.conn, header.version, at=datetime.now(timezone.utc).isoformat(timespec="seconds")
            )
            # Ledgers from before the application id get it with their next upgrade.
            self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            if header.empty:
                if on_create is not None:
                    on_create(self)
            elif on_upgrade is not None:
                on_upgrade(self, applied)

    @_db_errors
    def checkpoint(self) -> None:
        """Move everything from the WAL into the database file, so that file alone holds the ledger."""
        busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise StoreError(f"数据库“{self.path}”正被其他进程使用，无法把日志写回数据库文件。")

    @contextlib.contextmanager
    def transaction(self, *, history: bool = True) -> Iterator[None]:
        """One write transaction: all of it or none of it.

        With `history`, the events it wrote are noted in `commits` once it has committed.
        """
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if history:
                last_before = self.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            yield
            written = self._events_since(last_before) if history else None
            self.conn.execute("COMMIT")
            if written is not None:
                self.commits.append(written)
        except BaseException:
            # After some errors (disk full, I/O) SQLite has rolled back already, and a
            # second ROLLBACK would hide the real error behind "no transaction is active".
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    @_db_errors
    def adopt_history(self) -> None:
        """Count every event in the ledger as committed by this process: it created the ledger
        in another connection, beside this file, before linking it into place."""
        written = self._events_since(0)
        if written is not None:
            self.commits.append(written)

    def _events_since(self, last_before: int) -> Commit | None:
        first, last, count, first_note, last_note = self.conn.execute(
            """SELECT min(id), max(id), count(*),
                      min(CASE WHEN action IN ('note', 'status') THEN json_extract(after, '$.note') END),
                      max(CASE WHEN action IN ('note', 'status') THEN json_extract(after, '$.note') END)
               FROM events WHERE id > ?""",
            (last_before,),
        ).fetchone()
        return Commit(first, last, count, first_note, last_note) if count else None

    # -- plans ------------------------------------------------------------------

    @_db_errors
    def plans(self) -> list[Plan]:
        """Every plan with its task count, newest year first."""
        return self._plans()

    @_db_errors
    def plan(self, name: str | None = None, *, year: int | None = None) -> Plan | None:
        """One plan by name, else the newest of `year`, else the newest; counts only that plan's
        tasks, so resolving the plan costs the same with 160 plans as with one."""
        params: dict[str, str | int]
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

    def _plans(self, where: str = "", params: dict[str, str | int] | None = None, *, limit: int | None = None) -> list[Plan]:
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
    def unit_counts(self, plan: str, *, today: date) -> dict[str, UnitCounts]:
        """Per unit with assignments in the plan: the one count `units`, `summary --by unit` and
        the report's per-unit table all show (docs/json.md defines each figure)."""
        rows = self.conn.execute(
            f"""
            SELECT a.unit, count(*), sum(a.lead), sum(a.status = 'done'), sum(a.status = 'cancelled'),
                   sum({_A_OVERDUE})
            FROM tasks t JOIN assignments a ON a.task = t.pk
            WHERE t.plan = :plan
            GROUP BY a.unit
            """,
            {"plan": plan, "today": today.isoformat()},
        )
        return {unit: UnitCounts(*counts) for unit, *counts in rows}

    # -- tasks ------------------------------------------------------------------

    @_db_errors
    def tasks(self, plan: str, query: TaskQuery, *, today: date) -> list[Task]:
        where = ["t.plan = :plan"]
        params: dict[str, object] = {"plan": plan, "today": today.isoformat()}
        source, columns = "tasks t", _TASK_COLUMNS
        status, overdue, still_open = "t.status", _OVERDUE, _OPEN
        if query.own_unit is not None:
            # One unit's listing: its own assignment is joined in (the (unit, task) index), and
            # status, overdue and open are that assignment's.
            source = "tasks t JOIN assignments a ON a.task = t.pk AND a.unit = :own"
            columns = f"{_TASK_COLUMNS}, {_ASSIGNMENT_COLUMNS}"
            params["own"] = query.own_unit
            status, overdue, still_open = "a.status", _A_OVERDUE, _A_OPEN
            if query.direct_only:
                where.append("a.via IS NULL")
            if query.lead_only:
                where.append("a.lead = 1")
        elif query.units:
            # A unit's own assignments, and for a collective (各街镇) those that came through it.
            # Correlated on the task, so the work stays within the plan's tasks.
            if query.lead_only:
                match = "a.lead = 1 AND a.unit IN (SELECT value FROM json_each(:units))"
            elif query.direct_only:
                match = """((a.unit IN (SELECT value FROM json_each(:units)) AND a.via IS NULL)
                            OR a.via IN (SELECT value FROM json_each(:units)))"""
            else:
                match = """(a.unit IN (SELECT value FROM json_each(:units))
                            OR a.via IN (SELECT value FROM json_each(:units)))"""
            where.append(f"EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.pk AND {match})")
            params["units"] = json.dumps(list(query.units), ensure_ascii=False)
        if query.statuses:
            where.append(f"{status} IN (SELECT value FROM json_each(:statuses))")
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
            where.append(overdue)
        if query.open_only:
            where.append(still_open)
        order = "t.due IS NULL, t.due, t.id" if query.order_by_due else "t.id"
        sql = f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order}"
        rows = self.conn.execute(sql, params).fetchall()
        return self._tasks_from_rows(rows)

    @_db_errors
    def open_assignments(self, plan: str, *, units: Sequence[str], due_before: date, today: date) -> list[Task]:
        """Every open assignment (of `units`, or all) of a task due by `due_before`, as its task
        carrying it: one row per task and unit, soonest first; for reminders by unit."""
        where = [_A_OPEN]
        params = {"plan": plan, "today": today.isoformat(), "until": due_before.isoformat()}
        if units:
            where.append("a.unit IN (SELECT value FROM json_each(:units))")
            params["units"] = json.dumps(list(units), ensure_ascii=False)
        # The task-level figures (progress, units done of total) are worked out once per task
        # in the materialized due_tasks, not once per assignment row: joined flat, a task given
        # to 120 units counted its 120 assignments 120 times (40 ms for a city plan, now 3–13).
        # `t` is the task again, by rowid, for the assignment's own overdue flag and the order.
        rows = self.conn.execute(
            f"""WITH due_tasks AS MATERIALIZED (
                    SELECT {_TASK_COLUMNS} FROM tasks t
                    WHERE t.plan = :plan AND t.due IS NOT NULL AND t.due <= :until
                )
                SELECT due_tasks.*, {_ASSIGNMENT_COLUMNS}
                FROM due_tasks JOIN assignments a ON a.task = due_tasks.pk JOIN tasks t ON t.pk = due_tasks.pk
                WHERE {' AND '.join(where)} ORDER BY t.due, t.id, a.position""",
            params,
        ).fetchall()
        return self._tasks_from_rows(rows)

    @_db_errors
    def task(self, plan: str, task_id: int, *, today: date) -> Task | None:
        rows = self.conn.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.plan = :plan AND t.id = :id",
            {"plan": plan, "id": task_id, "today": today.isoformat()},
        ).fetchall()
        if not rows:
            return None
        (task,) = self._tasks_from_rows(rows, with_notes=True, with_assignments=True, today=today)
        return task

    @_db_errors
    def tasks_with_notes(
        self, plan: str, *, today: date, ids: Sequence[int] | None = None, with_assignments: bool = True
    ) -> list[Task]:
        """Every task of a plan (or only those numbered `ids`) by id, each with all its notes
        (oldest first) and, unless told not to, its assignments, for exports and reports.
        (A report shows no assignment: on a city plan reading them was most of its time.)

        A few queries in one read transaction, so tasks, units, assignments and notes
        come from the same snapshot even while someone else is writing.
        """
        where, params = "t.plan = :plan", {"plan": plan, "today": today.isoformat()}
        if ids is not None:
            # One unit's report: its tasks only, not the notes and assignments of the whole plan.
            where += " AND t.id IN (SELECT value FROM json_each(:ids))"
            params["ids"] = json.dumps(list(ids))
        self.conn.execute("BEGIN")
        try:
            rows = self.conn.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE {where} ORDER BY t.id", params
            ).fetchall()
            return self._tasks_from_rows(rows, with_notes=True, with_assignments=with_assignments, today=today)
        finally:
            self.conn.execute("COMMIT")

    def _tasks_from_rows(
        self, rows: Sequence[_Row], *, with_notes: bool = False, with_assignments: bool = False,
        today: date | None = None,
    ) -> list[Task]:
        pks = [row[0] for row in rows]
        units = self._units_of(pks)
        notes = self._notes_of(pks) if with_notes or with_assignments else {}
        assignments = self._assignments_of(pks, notes, today) if with_assignments else {}
        tasks = []
        for row in rows:
            (pk, plan, task_id, group, content, deadline, start, due, status, updated_at, overdue, progress,
             units_done, units_total) = row[:14]
            own = None
            if len(row) > 14:
                unit, via, lead, own_status, own_overdue, own_updated, vague, own_progress = row[14:]
                own = Assignment(unit=unit, via=via, lead=bool(lead), status=Status(own_status),
                                 overdue=bool(own_overdue), updated_at=own_updated, vague=bool(vague),
                                 progress=own_progress)
            tasks.append(Task(
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
                via=own.via if own is not None else None,
                notes=tuple(notes.get(pk, ())) if with_notes else (),
                units_done=units_done,
                units_total=units_total,
                assignment=own,
                assignments=tuple(assignments.get(pk, ())),
            ))
        return tasks

    def _assignments_of(self, pks: list[int], notes: dict[int, list[Note]], today: date | None) -> dict[int, list[Assignment]]:
        result: dict[int, list[Assignment]] = {}
        rows = self.conn.execute(
            f"""
            SELECT a.task, a.unit, a.via, a.lead, a.status, {_A_OVERDUE}, a.updated_at, a.vague, {_A_PROGRESS}
            FROM assignments a JOIN tasks t ON t.pk = a.task
            WHERE a.task IN (SELECT value FROM json_each(:pks))
            ORDER BY a.task, a.position
            """,
            {"pks": json.dumps(pks), "today": (today or date.max).isoformat()},
        )
        # Each unit's notes grouped in one pass: filtering a task's notes once per assignment
        # cost assignments × notes (on the city, 120 units × 200 notes for one task).
        by_unit: dict[tuple[int, str | None], list[Note]] = {}
        for task_pk, task_notes in notes.items():
            for note in task_notes:
                by_unit.setdefault((task_pk, note.unit), []).append(note)
        for task_pk, unit, via, lead, status, overdue, updated_at, vague, progress in rows:
            result.setdefault(task_pk, []).append(Assignment(
                unit=unit, via=via, lead=bool(lead), status=Status(status), overdue=bool(overdue),
                updated_at=updated_at, vague=bool(vague), progress=progress,
                notes=tuple(by_unit.get((task_pk, unit), ())),
            ))
        return result

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
            SELECT n.task, n.id, t.id, n.at, n.by, n.text, n.status, n.count, a.unit
            FROM notes n JOIN tasks t ON t.pk = n.task LEFT JOIN assignments a ON a.pk = n.assignment
            WHERE n.task IN (SELECT value FROM json_each(?)) AND n.retracted_at IS NULL
            ORDER BY n.task, n.at, n.id
            """,
            (json.dumps(pks),),
        )
        for task_pk, note_id, task_id, at, by, text, status, count, unit in rows:
            result.setdefault(task_pk, []).append(
                Note(id=note_id, task_id=task_id, at=at, by=by, text=text,
                     status=Status(status) if status else None, count=count, unit=unit)
            )
        return result

    # -- writes -----------------------------------------------------------------

    @_db_errors
    def add_note(
        self, plan: str, task_id: int, *, at: str, by: str, text: str, status: Status | None,
        count: int | None = None, key: str | None = None, unit: str | None = None, all_units: bool = False,
    ) -> tuple[Note, Status] | None:
        """Append a note (and apply its status change) in one transaction.

        Returns the note and the status it changed before it (the unit's, or the
        task's), or None when the task does not exist.
        """
        written = self.add_notes(
            plan, [NoteInput(task_id, text, by, status, count, key, unit, all_units)], at=at
        )
        return written[0] if written else None

    @_db_errors
    def add_notes(self, plan: str, entries: Sequence[NoteInput], *, at: str) -> list[tuple[Note, Status]] | None:
        """Append many notes in one transaction: all of them, or none when a task is missing.

        A note with a unit goes on that unit's assignment and its status is that
        assignment's; without one it is on the task as a whole, and a status then
        needs the task to have one assignment, or `all_units`. The task's status is
        derived again from its assignments. Each note (and each status change) is
        its own event, exactly as if it had been written alone, so `log` and `undo`
        see no difference.
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
            # {task pk: {unit: [assignment pk, status]}} in position order.
            units = self._assignment_states([pk for pk, _ in tasks.values()])
            targets = [common.note_target(entry, units[tasks[entry.task_id][0]]) for entry in entries]
            current = {
                entry.key: common.target_status(target, tasks[entry.task_id], units)
                for entry, target in zip(entries, targets, strict=True) if entry.key is not None
            }
            # Checked under the write lock, so two retries racing each other cannot both write.
            earlier = self._keyed_notes(plan, entries, current)
            # The write lock is held, so the ids this batch gets are known in advance and
            # every row can go in with one executemany instead of a statement per note.
            next_id = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM notes").fetchone()[0]
            writes = common.plan_notes(plan, entries, tasks=tasks, units=units, targets=targets, earlier=earlier,
                                       next_id=next_id, at=at)
            self.conn.executemany(
                """INSERT INTO notes (id, task, at, by, text, status, count, assignment)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                writes.notes,
            )
            self.conn.executemany(
                "UPDATE assignments SET status = ?, updated_at = ? WHERE pk = ?",
                [(status, at, pk) for status, pk in writes.assignments],
            )
            self.conn.executemany(
                "UPDATE tasks SET status = ?, updated_at = ? WHERE pk = ?",
                [(status, at, pk) for status, pk in writes.tasks],
            )
            self.conn.executemany(
                """INSERT INTO events (at, by, action, plan, task, before, after, key)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                writes.events,
            )
        return writes.written

    def _assignment_states(self, pks: Sequence[int]) -> dict[int, dict[str, common.State]]:
        states: dict[int, dict[str, common.State]] = {pk: {} for pk in pks}
        rows = self.conn.execute(
            """SELECT task, unit, pk, status FROM assignments WHERE task IN (SELECT value FROM json_each(?))
               ORDER BY task, position""",
            (json.dumps(list(pks)),),
        )
        for task_pk, unit, pk, status in rows:
            states[task_pk][unit] = [pk, status]
        return states

    def _keyed_notes(self, plan: str, entries: Sequence[NoteInput], statuses: dict[str, str]) -> dict[str, Note]:
        """The notes earlier calls stored under the keys of `entries`, as first written.

        A key names one intended note: the same key with other content is a conflict,
        and a key whose note was undone is used up (undo was a decision a retry must
        not reverse). `statuses`: by key, the status the note's entry would change now.
        """
        keys = [entry.key for entry in entries if entry.key is not None]
        if not keys:
            return {}
        rows = self.conn.execute(
            """SELECT e.key, e.id, e.plan, e.task, e.at, e.by, e.action, e.before, e.after,
                       (SELECT u.id FROM events u WHERE u.undoes = e.id)
                FROM events e WHERE e.key IN (SELECT value FROM json_each(?))""",
            (json.dumps(keys),),
        ).fetchall()
        found = {}
        for key, event_id, event_plan, task_id, at, by, action, before, after, undone_by in rows:
            (entry,) = [entry for entry in entries if entry.key == key]
            found[key] = common.keyed_note(
                key=key, event_id=event_id, event_plan=event_plan, task_id=task_id, at=at, by=by, action=action,
                before=common.load(before), after=common.load(after), undone_by=undone_by,
                plan=plan, entry=entry, current=statuses[key],
            )
        return found

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
        Each task's assignments follow the ones planned: missing ones are added,
        and ones no longer planned are removed only while untouched (todo, no
        notes, not added by `assign`). The event keeps every replaced text and
        assignment list, so the import can be undone.
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
            names = {unit for task in tasks for unit in task.units}
            # Recorded so that undoing this import also takes back the units it brought in.
            created = sorted(names - {
                row[0] for row in self.conn.execute(
                    "SELECT name FROM units WHERE name IN (SELECT value FROM json_each(?))", (json.dumps(sorted(names)),)
                )
            })
            unit_ids = self._ensure_units(names)
            # The write lock is held, so new tasks' keys are known in advance and a
            # 10,000-row table goes in with a few executemany calls, not a statement per row.
            next_pk = self.conn.execute("SELECT coalesce(max(pk), 0) + 1 FROM tasks").fetchone()[0]
            writes = common.plan_import(tasks, existing, next_pk)
            self.conn.executemany(
                """INSERT INTO tasks (pk, plan, id, group_name, content, deadline, start, due, status, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(pk, name, task_id, *common.task_columns(fields), Status.TODO.value, at)
                 for pk, task_id, fields in writes.added],
            )
            self._insert_units([(pk, fields) for pk, _, fields in writes.added], unit_ids)
            self._rewrite_tasks(writes.changed, unit_ids, at)
            planned = {writes.pks[task.id]: [common.planned(a) for a in task.assignments] for task in tasks}
            old_plans = self._sync_assignments(planned, at, new={pk for pk, _, _ in writes.added})
            before, after = common.import_event(
                writes, old_plan=old_plan, plan={"year": year, "source": source, "imported_at": at},
                created=created, planned_lists=planned, old_lists=old_plans,
            )
            self._record(at=at, by=by, action="import", plan=name, before=before, after=after)
        return common.import_counts(writes, existing, tasks)

    def _plan_row(self, name: str) -> common.PlanRow | None:
        row = self.conn.execute(
            "SELECT year, source, imported_at FROM plans WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else common.PlanRow(year=row[0], source=row[1], imported_at=row[2])

    def _snapshots(self, plan: str) -> dict[int, tuple[int, common.TaskFields]]:
        """Every task of a plan as (pk, the fields an import writes)."""
        rows = self.conn.execute(
            "SELECT pk, id, group_name, content, deadline, start, due FROM tasks WHERE plan = ?",
            (plan,),
        ).fetchall()
        units = self._units_of([row[0] for row in rows])
        return {
            task_id: (pk, common.TaskFields(group=group, content=content, units=units.get(pk, []),
                                      deadline=deadline, start=start, due=due))
            for pk, task_id, group, content, deadline, start, due in rows
        }

    def _rewrite_tasks(self, changes: Sequence[tuple[int, common.TaskFields]], unit_ids: dict[str, int], at: str) -> None:
        """Replace texts, dates and units of existing tasks; shared by import and its undo."""
        self.conn.executemany(
            """UPDATE tasks SET group_name = ?, content = ?, deadline = ?,
                      start = ?, due = ?, updated_at = ? WHERE pk = ?""",
            [(*common.task_columns(fields), at, pk) for pk, fields in changes],
        )
        self.conn.executemany("DELETE FROM task_units WHERE task = ?", [(pk,) for pk, _ in changes])
        self._insert_units(changes, unit_ids)

    def _sync_assignments(
        self, planned: dict[int, list[common.PlannedAssignment]], at: str, *, new: Container[int] = frozenset()
    ) -> dict[int, list[common.PlannedAssignment]]:
        """Make each task's assignments follow its planned list (see import_plan); returns, for
        the existing tasks whose list changed, the list planned before."""
        current: dict[int, list[list[Any]]] = {}  # task pk: its rows, less the task column
        rows = self.conn.execute(
            """SELECT a.task, a.pk, a.unit, a.via, a.lead, a.vague, a.manual, a.status,
                      EXISTS (SELECT 1 FROM notes n WHERE n.assignment = a.pk AND n.retracted_at IS NULL)
               FROM assignments a WHERE a.task IN (SELECT value FROM json_each(?))
               ORDER BY a.task, a.position""",
            (json.dumps([pk for pk in planned if pk not in new]),),
        )
        for task_pk, *row in rows:
            current.setdefault(task_pk, []).append(row)
        writes = common.plan_sync(planned, current, at, new=new)
        # Notes undo retracted are all that can be left on a removed one; their events keep every word.
        self.conn.executemany("DELETE FROM notes WHERE assignment = ?", [(pk,) for pk in writes.removed])
        self.conn.executemany("DELETE FROM assignments WHERE pk = ?", [(pk,) for pk in writes.removed])
        self.conn.executemany(
            "UPDATE assignments SET via = ?, lead = ?, vague = ?, position = ?, manual = 0 WHERE pk = ?", writes.updates
        )
        # A unit kept because it worked on the task stays, like one the office added, until unassigned.
        self.conn.executemany("UPDATE assignments SET position = ?, manual = 1 WHERE pk = ?", writes.moved)
        self.conn.executemany(
            """INSERT INTO assignments (task, unit, via, lead, vague, position, status, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, 'todo', ?)""",
            writes.inserts,
        )
        self._rederive(writes.rederive)
        return writes.old_plans

    def _rederive(self, pks: Sequence[int]) -> None:
        """Set each task's status to the one its assignments give (models.derived_status)."""
        if not pks:
            return
        statuses: dict[int, list[Status]] = {}
        for task_pk, status in self.conn.execute(
            "SELECT task, status FROM assignments WHERE task IN (SELECT value FROM json_each(?))", (json.dumps(list(pks)),)
        ):
            statuses.setdefault(task_pk, []).append(Status(status))
        self.conn.executemany(
            "UPDATE tasks SET status = ? WHERE pk = ? AND status <> ?",
            [(status, pk, status) for status, pk in common.derived(statuses)],
        )

    def _insert_units(self, tasks: Sequence[tuple[int, common.TaskFields]], unit_ids: dict[str, int]) -> None:
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
        before: Mapping[str, object] | None = None, after: Mapping[str, object] | None = None,
        undoes: int | None = None,
    ) -> int:
        """Append one event; always called inside the transaction that made the change."""
        event_id = self.conn.execute(
            """INSERT INTO events (at, by, action, plan, task, before, after, undoes)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (at, by, action, plan, task, common.dump(before), common.dump(after), undoes),
        ).lastrowid
        # An INSERT always sets it; None is only for statements that insert nothing.
        assert event_id is not None
        return event_id

    def _events_where(self, where: Sequence[str], params: Mapping[str, object], *, tail: str = "ORDER BY e.id") -> list[Event]:
        sql = f"SELECT {_EVENT_COLUMNS} FROM events e WHERE {' AND '.join(where) or '1'} {tail}"
        return [
            Event(id=event_id, at=at, by=by, action=action, plan=plan, task=task,
                  before=common.load(before), after=common.load(after), undoes=undoes,
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
    def last_undoable(self, plan: str | None = None) -> Event | None:
        """The newest change that no undo has reverted yet (undos themselves are not undone),
        of one plan or of the whole ledger."""
        return self._last_undoable(plan)

    def _last_undoable(self, plan: str | None) -> Event | None:
        where, params = list(_UNDOABLE), {}
        if plan is not None:
            where.append("e.plan = :plan")
            params["plan"] = plan
        found = self._events_where(where, params, tail="ORDER BY e.id DESC LIMIT 1")
        return found[0] if found else None

    @_db_errors
    def event(self, event_id: int) -> Event | None:
        found = self._events_where(["e.id = :id"], {"id": event_id})
        return found[0] if found else None

    @_db_errors
    def undo(self, event_id: int, *, at: str, by: str, plan: str | None = None) -> Event:
        """Revert event `event_id`, which must still be the newest undoable change (of `plan`).

        The revert and its own undo event are one transaction. Because changes are
        undone newest first, the ledger holds exactly what the event wrote; a
        mismatch means the database was edited behind gongkai's back. A change only
        ever touches its own plan's tasks, so the newest of one plan can be undone
        while other plans have newer changes.
        """
        with self.transaction():
            found = self._last_undoable(plan)
            if found is None or found.id != event_id:
                raise NotNewest(event_id)
            target = found
            _REVERTERS[target.action](self, target, at=at, by=by)
            undo_id = self._record(
                at=at, by=by, action="undo", plan=target.plan, task=target.task,
                before=target.after, after=target.before, undoes=target.id,
            )
            (event,) = self._events_where(["e.id = :id"], {"id": undo_id})
        return event

    def _revert_note(self, event: Event, *, at: str, by: str) -> None:
        """Retract the note (notes are append-only: hidden, never deleted) and restore the status
        it changed: its unit's, every unit's (--all), or the task's."""
        payload = event.payload
        # _REVERTERS sends only note and status events here, which decode to these two.
        assert isinstance(payload, NotePayload | StatusPayload)
        note_id = payload.note
        row = self.conn.execute(
            """SELECT n.task, n.retracted_at, t.status, n.assignment FROM notes n JOIN tasks t ON t.pk = n.task
               WHERE n.id = ?""",
            (note_id,),
        ).fetchone()
        if row is None or row[1] is not None:
            raise common.out_of_step(event)
        task_pk, _, task_status, assignment = row
        units = self._assignment_states([task_pk])[task_pk]
        restore = common.note_restore(event, units, task_status)
        if isinstance(payload, StatusPayload):
            self.conn.executemany(
                "UPDATE assignments SET status = ?, updated_at = ? WHERE pk = ?",
                [(status, at, units[unit][0]) for unit, status in restore.items()],
            )
            if not restore:
                self.conn.execute("UPDATE tasks SET status = ? WHERE pk = ?", (payload.before.value, task_pk))
        elif assignment is not None:
            self.conn.execute("UPDATE assignments SET updated_at = ? WHERE pk = ?", (at, assignment))
        self.conn.execute(
            "UPDATE notes SET retracted_at = ?, retracted_by = ? WHERE id = ?", (at, by, note_id)
        )
        self._rederive([task_pk])
        self.conn.execute("UPDATE tasks SET updated_at = ? WHERE pk = ?", (at, task_pk))

    def _revert_import(self, event: Event, *, at: str, by: str) -> None:
        """Put back replaced task texts and the plan row; remove the tasks and units the import added."""
        before, after = common.import_payload(event)
        current = self._snapshots(event.plan)
        old_plans = common.check_import_undo(event, current)
        if old_plans:
            common.check_planned_lists(event, current, self._planned_lists(list(old_plans)))
        replaced = before["tasks"]
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
            raise AddedTasksHaveNotes(event.id, noted)
        # What is left on these tasks are notes earlier undos retracted; their note
        # events keep every word, so removing the rows loses nothing.
        for table, column in (("notes", "task"), ("assignments", "task"), ("task_units", "task"), ("tasks", "pk")):
            self.conn.execute(
                f"DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))", (added_json,)
            )
        unit_ids = self._ensure_units({unit for old in replaced.values() if old for unit in old["units"]})
        self._rewrite_tasks(
            [(current[int(key)][0], old) for key, old in replaced.items() if old is not None], unit_ids, at
        )
        self._sync_assignments(old_plans, at)
        # Imports recorded before units were tracked have no list: their units stay.
        self.conn.execute(
            """DELETE FROM units WHERE name IN (SELECT value FROM json_each(?))
               AND NOT EXISTS (SELECT 1 FROM task_units tu WHERE tu.unit = units.id)""",
            (json.dumps(after.get("units", [])),),
        )
        if before["plan"] is None:
            self.conn.execute("DELETE FROM plans WHERE name = ?", (event.plan,))
        else:
            self.conn.execute(
                "UPDATE plans SET year = :year, source = :source, imported_at = :imported_at WHERE name = :name",
                {**before["plan"], "name": event.plan},
            )

    def _planned_lists(self, pks: Sequence[int]) -> dict[int, list[common.PlannedAssignment]]:
        found: dict[int, list[common.PlannedAssignment]] = {}
        rows = self.conn.execute(
            """SELECT task, pk, unit, via, lead, vague FROM assignments
               WHERE task IN (SELECT value FROM json_each(?)) AND manual = 0 ORDER BY task, position""",
            (json.dumps(list(pks)),),
        )
        for task_pk, *row in rows:
            found.setdefault(task_pk, []).append(common.planned_row(row))
        return found

    def _revert_assign(self, event: Event, *, at: str, by: str) -> None:
        """Take back the assignments `assign` added: still untouched, since undo goes newest first."""
        task_pk = self._task_pk(event)
        units = [row["unit"] for row in common.assignment_rows(event, event.after)]
        found = self.conn.execute(
            """SELECT pk FROM assignments WHERE task = ? AND unit IN (SELECT value FROM json_each(?))""",
            (task_pk, json.dumps(units, ensure_ascii=False)),
        ).fetchall()
        if len(found) != len(units):
            raise common.out_of_step(event)
        self._drop_assignments([pk for (pk,) in found])
        self._rederive([task_pk])
        self.conn.execute("UPDATE tasks SET updated_at = ? WHERE pk = ?", (at, task_pk))

    def _revert_unassign(self, event: Event, *, at: str, by: str) -> None:
        """Put back the assignments `unassign` removed, as they were."""
        task_pk = self._task_pk(event)
        self._insert_assignment_rows(task_pk, common.assignment_rows(event, event.before))
        self._rederive([task_pk])
        self.conn.execute("UPDATE tasks SET updated_at = ? WHERE pk = ?", (at, task_pk))

    def _task_pk(self, event: Event) -> int:
        row = self.conn.execute("SELECT pk FROM tasks WHERE plan = ? AND id = ?", (event.plan, event.task)).fetchone()
        if row is None:
            raise common.out_of_step(event)
        pk: int = row[0]
        return pk

    def _drop_assignments(self, pks: Sequence[int]) -> None:
        # Only notes undo retracted can be left on them; their events keep every word.
        self.conn.executemany("DELETE FROM notes WHERE assignment = ?", [(pk,) for pk in pks])
        self.conn.executemany("DELETE FROM assignments WHERE pk = ?", [(pk,) for pk in pks])

    def _insert_assignment_rows(self, task_pk: int, rows: Sequence[common.AssignmentRow]) -> None:
        self.conn.executemany(
            """INSERT INTO assignments (task, unit, via, lead, vague, manual, position, status, updated_at)
               VALUES (:task, :unit, :via, :lead, :vague, :manual, :position, :status, :updated_at)""",
            [row | {"task": task_pk} for row in rows],
        )

    # -- assignments --------------------------------------------------------------

    @_db_errors
    def unassigned_tasks(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """(plan, id, units) of every task without any assignment: after the upgrade that made them."""
        rows = self.conn.execute(
            """SELECT t.pk, t.plan, t.id FROM tasks t
               WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.pk) ORDER BY t.pk"""
        ).fetchall()
        units = self._units_of([row[0] for row in rows])
        return [(plan, task_id, tuple(units.get(pk, ()))) for pk, plan, task_id in rows]

    @_db_errors
    def expand_assignments(self, entries: Sequence[tuple[str, int, tuple[AssignmentInput, ...]]], *, at: str) -> None:
        """Give tasks from before assignments theirs, each with the task's status and time: the
        status one unit set then stands for all. Not a change anyone made, so no event."""
        with self.transaction(history=False):
            self.conn.executemany(
                """INSERT INTO assignments (task, unit, via, lead, vague, position, status, updated_at)
                   SELECT t.pk, :unit, :via, :lead, :vague, :position, t.status, t.updated_at
                   FROM tasks t WHERE t.plan = :plan AND t.id = :id""",
                [
                    {"plan": plan, "id": task_id, "unit": a.unit, "via": a.via, "lead": int(a.lead),
                     "vague": int(a.vague), "position": position}
                    for plan, task_id, planned in entries for position, a in enumerate(planned)
                ],
            )

    def _task_assignments(self, plan: str, task_id: int) -> tuple[int, str, dict[str, common.State]] | None:
        """A task's key, stored status and assignments by unit, for a change of its units; None if absent."""
        row = self.conn.execute("SELECT pk, status FROM tasks WHERE plan = ? AND id = ?", (plan, task_id)).fetchone()
        if row is None:
            return None
        task_pk, status = row
        return task_pk, status, self._assignment_states([task_pk])[task_pk]

    @_db_errors
    def assign(
        self, plan: str, task_id: int, assignments: Sequence[AssignmentInput], *, at: str, by: str
    ) -> Event | None:
        """Add units to a task (the office's `assign`); None when the task does not exist."""
        with self.transaction():
            found = self._task_assignments(plan, task_id)
            if found is None:
                return None
            task_pk, before, have = found
            taken = [a.unit for a in assignments if a.unit in have]
            if taken:
                raise AlreadyAssigned(task_id, taken)
            start = self.conn.execute(
                "SELECT coalesce(max(position), -1) + 1 FROM assignments WHERE task = ?", (task_pk,)
            ).fetchone()[0]
            rows = common.new_assignment_rows(assignments, start=start, at=at)
            self._insert_assignment_rows(task_pk, rows)
            return self._assignment_event(task_pk, plan, task_id, "assign", before, at=at, by=by, after_rows=rows)

    @_db_errors
    def unassign(self, plan: str, task_id: int, units: Sequence[str], *, at: str, by: str) -> Event | None:
        """Take units off a task (the office's `unassign`); None when the task does not exist.

        Refused when a unit has written notes on it (they would lose their place) or when
        no unit would be left.
        """
        with self.transaction():
            found = self._task_assignments(plan, task_id)
            if found is None:
                return None
            task_pk, before, have = found
            missing = [unit for unit in units if unit not in have]
            if missing:
                raise NotAssigned(task_id, missing[0], list(have))
            if len(set(units)) >= len(have):
                raise LastAssignment(task_id)
            noted = [
                unit for (unit,) in self.conn.execute(
                    """SELECT a.unit FROM assignments a WHERE a.task = ? AND a.unit IN (SELECT value FROM json_each(?))
                       AND EXISTS (SELECT 1 FROM notes n WHERE n.assignment = a.pk AND n.retracted_at IS NULL)
                       ORDER BY a.position""",
                    (task_pk, json.dumps(list(units), ensure_ascii=False)),
                )
            ]
            if noted:
                raise AssignmentHasNotes(task_id, noted)
            columns = common.ASSIGNMENT_ROW_COLUMNS
            rows = [
                cast(common.AssignmentRow, dict(zip(columns, found, strict=True))) for found in self.conn.execute(
                    f"""SELECT {', '.join(columns)} FROM assignments
                        WHERE task = ? AND unit IN (SELECT value FROM json_each(?)) ORDER BY position""",
                    (task_pk, json.dumps(list(units), ensure_ascii=False)),
                )
            ]
            self._drop_assignments([have[unit][0] for unit in units])
            return self._assignment_event(task_pk, plan, task_id, "unassign", before, at=at, by=by, before_rows=rows)

    def _assignment_event(
        self, task_pk: int, plan: str, task_id: int, action: str, before: str, *, at: str, by: str,
        after_rows: list[common.AssignmentRow] | None = None, before_rows: list[common.AssignmentRow] | None = None,
    ) -> Event:
        self._rederive([task_pk])
        self.conn.execute("UPDATE tasks SET updated_at = ? WHERE pk = ?", (at, task_pk))
        status = self.conn.execute("SELECT status FROM tasks WHERE pk = ?", (task_pk,)).fetchone()[0]
        event_id = self._record(
            at=at, by=by, action=action, plan=plan, task=task_id,
            before={"status": before} | ({"assignments": before_rows} if before_rows else {}),
            after={"status": status} | ({"assignments": after_rows} if after_rows else {}),
        )
        (event,) = self._events_where(["e.id = :id"], {"id": event_id})
        return event

    # -- maintenance ------------------------------------------------------------

    def copy_to(self, target: Path, *, shown_as: Path | None = None) -> None:
        """Write a consistent copy of the whole database into the new, empty file `target`.

        Errors name `shown_as`, the file the user asked for, rather than a temporary file.
        """
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
            raise _translate(Path(shown_as or target), err) from err

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[transfer.Snapshot]:
        """The ledger's content as it is now, for `gongkai copy`: one read transaction, so
        what other processes commit while the block runs is not in it (WAL keeps the view)."""
        # Imported here, as in the methods below: only `copy` needs it, every command opens a store.
        from . import transfer

        try:
            self.conn.execute("BEGIN")
            if missing := migrations.missing(self.conn, self.conn.execute("PRAGMA user_version").fetchone()[0]):
                raise StoreError(
                    f"数据库“{self.path}”需要先升级（缺少 {migrations.name_of(missing[0])}）才能复制："
                    "请先用本程序运行一次任意命令，例如 gongkai plans。"
                )
            counts = self._counts()
        except BaseException as err:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if isinstance(err, sqlite3.Error):
                raise _translate(self.path, err, self.timeout) from err
            raise
        try:
            yield transfer.Snapshot(counts, self._rows)
        finally:
            # Only read: ending the transaction either way releases the view.
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

    def _rows(self, table: str) -> Iterator[tuple[object, ...]]:
        from . import transfer

        columns = ", ".join(f'"{column}"' for column in transfer.TABLES[table])
        try:
            yield from self.conn.execute(f"SELECT {columns} FROM {table} ORDER BY {transfer.ORDER[table]}")
        except sqlite3.Error as err:
            # Raised here, as this file's: the rows are read while another database is written.
            raise _translate(self.path, err, self.timeout) from err

    @_db_errors
    def load(self, source: transfer.Snapshot) -> dict[str, int]:
        """Fill this empty ledger with `source`, keys and all, inside the caller's write
        transaction (the one creating the ledger); the rows written per table, once they are
        counted to be the source's (transfer.CountsDiffer otherwise)."""
        from . import transfer

        with self.transaction(history=False):
            transfer.refuse_content(self._counts())
            for table, columns in transfer.TABLES.items():
                quoted = ", ".join(f'"{column}"' for column in columns)
                self.conn.executemany(
                    f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(columns))})", source.rows(table)
                )
            return transfer.verify(source.counts, self._counts())

    def _counts(self) -> dict[str, int]:
        from . import transfer

        return {table: self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in transfer.TABLES}

    @classmethod
    def open_backup(cls, path: Path, timeout: float = BUSY_TIMEOUT_SECONDS) -> SQLiteStore:
        """Open a backup file read-only, as it is: no migration, no journal-mode switch, no write."""
        from urllib.request import pathname2url

        path = Path(path)
        try:
            conn = sqlite3.connect(
                f"file:{pathname2url(str(path.resolve()))}?mode=ro", uri=True, isolation_level=None,
                timeout=timeout,
            )
        except sqlite3.Error as err:
            raise _translate(path, err, timeout) from err
        return cls(path, conn, timeout)

    def backup_problems(self) -> list[str]:
        """What integrity_check and foreign_key_check find in this backup (empty when whole).

        A file that is not a gongkai ledger at all raises NotADatabase or NotALedger,
        one from a newer gongkai StoreError.
        """
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            if "not a database" not in str(err):
                raise _translate(self.path, err) from err
            raise NotADatabase() from err
        missing = sorted(set(_LEDGER_TABLES) - tables)
        if version < 1 or missing:
            raise NotALedger(missing)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"备份“{self.path}”由更新版本的 gongkai 创建（结构版本 {version}，"
                f"本程序支持到 {SCHEMA_VERSION}），请升级 gongkai。"
            )
        return self.problems()

    @_db_errors
    def backup_contents(self) -> tuple[int, int, str | None]:
        """(tasks, live notes, time of the newest note) in this backup, for the confirmation."""
        tasks = self.conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        notes, newest = self.conn.execute("SELECT count(*), max(at) FROM notes").fetchone()
        return tasks, notes, newest

    @classmethod
    @contextlib.contextmanager
    def exclusive(cls, path: Path, timeout: float = BUSY_TIMEOUT_SECONDS) -> Iterator[SQLiteStore]:
        """The database at `path` with no other connection reading or writing it, until the block ends.

        EXCLUSIVE locking mode, set before the first read, makes this connection
        wait (busy timeout) until every other connection has closed and then hold
        the database file's lock across transactions: nothing can commit between
        what this block reads and what it writes. A WAL left by a killed writer is
        recovered first, as by any connection. A file that is not a gongkai ledger
        is refused once the lock is held, before the block can write to it.
        """
        try:
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as err:
            raise _translate(path, err, timeout) from err
        try:
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
                conn.execute("PRAGMA locking_mode = EXCLUSIVE")
                conn.execute("BEGIN EXCLUSIVE")
                conn.execute("COMMIT")
                store = cls(path, conn, timeout)
                header = store._header()
            except sqlite3.Error as err:
                raise _translate(path, err, timeout) from err
            # Again under the lock: the file looked at before may have been replaced since.
            store._recognise(header, create=False)
            yield store
        finally:
            # Closing is what gives the lock back: a WAL opened in exclusive mode keeps it until then.
            conn.close()

    def replace_with(self, source: SQLiteStore) -> None:
        """Make this database page for page a copy of `source`, in one transaction.

        Written through SQLite (the online backup API, this connection as the
        destination), so the WAL and its index stay consistent with the new
        content and a crash leaves the old database or the new one, never a mix.
        """
        try:
            source.conn.backup(self.conn)
            # Fold the restored pages into the database file and empty the WAL.
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:
            raise _translate(self.path, err, self.timeout) from err

    @_db_errors
    def problems(self) -> list[str]:
        """What PRAGMA integrity_check and foreign_key_check find; empty when all is well."""
        found = [row[0] for row in self.conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        found += [
            f"表 {table} 第 {rowid} 行引用的 {parent} 记录不存在"
            for table, rowid, parent, _ in self.conn.execute("PRAGMA foreign_key_check")
        ]
        return found

    @_db_errors
    def content_problems(self) -> list[str]:
        """What the other commands would trip on although SQLite's own checks pass.

        Every value of every table is read as the bytes it holds and must be UTF-8
        (sqlite3 fails the whole query on one that is not); statuses, dates, times and
        history payloads must also be what the program parses them as. Values are never
        quoted: a damaged one is exactly what must not reach a terminal.
        """
        found = []
        tables = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name"
        ).fetchall()
        for table, sql in tables:
            columns = [row[1] for row in self.conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]
            values = ", ".join(f'CAST("{column}" AS BLOB)' for column in columns)
            # A table without rowids is named by its row's position instead.
            key = "NULL" if "WITHOUT ROWID" in sql.upper() else "rowid"
            rows = self.conn.execute(f'SELECT {key}, {values} FROM "{table}" ORDER BY {key}')
            for position, (stored_rowid, *raw) in enumerate(rows, start=1):
                rowid = position if stored_rowid is None else stored_rowid
                for column, data in zip(columns, raw, strict=True):
                    if data is None:
                        continue
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        found.append(f"表 {table} 第 {rowid} 行的 {column} 列不是有效的 UTF-8 文字")
                        continue
                    check = _READABLE.get((table, column))
                    if check is not None and not check[0](text):
                        found.append(f"表 {table} 第 {rowid} 行的 {column} 列{check[1]}")
        return found + self._derived_status_problems()

    def _derived_status_problems(self) -> list[str]:
        """Tasks whose stored status is not the one their assignments give (models.derived_status)."""
        if not self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'assignments'").fetchone():
            return []
        found = []
        rows = self.conn.execute(
            """SELECT t.rowid, t.status, json_group_array(a.status) FROM tasks t JOIN assignments a ON a.task = t.pk
               GROUP BY t.pk ORDER BY t.rowid"""
        )
        for rowid, status, statuses in rows:
            try:
                expected = derived_status(Status(value) for value in json.loads(statuses))
            except ValueError:
                continue  # an unreadable status is reported above already
            if status not in _STATUSES:
                continue
            if status != expected.value:
                found.append(f"表 tasks 第 {rowid} 行的 status 列与其各单位（assignments）的状态不一致，应为 {expected.value}")
        return found

    # -- the 各单位进展 sheet coming back ----------------------------------------------

    @_db_errors
    def add_notes_unless_changed(
        self, plan: str, entries: Sequence[tuple[NoteInput, str]], *, at: str
    ) -> tuple[list[tuple[Note, Status]], list[int]]:
        """Write, in one transaction, each note whose assignment (of its entry's unit) still has
        the `Assignment.version` given beside it; leave out the others. Returns the notes written
        (as `add_notes` does) and the indexes of the entries left out."""
        with self.transaction():
            ids = sorted({entry.task_id for entry, _ in entries})
            pks = dict(self.conn.execute(
                "SELECT id, pk FROM tasks WHERE plan = ? AND id IN (SELECT value FROM json_each(?))",
                (plan, json.dumps(ids)),
            ).fetchall())
            found = self._assignments_of(list(pks.values()), self._notes_of(list(pks.values())), None)
            versions = {(task_id, assignment.unit): assignment.version
                        for task_id, pk in pks.items() for assignment in found.get(pk, [])}
            stale = [index for index, (entry, version) in enumerate(entries)
                     if versions.get((entry.task_id, entry.unit or "")) != version]
            left_out = set(stale)
            fresh = [entry for index, (entry, _) in enumerate(entries) if index not in left_out]
            written = self.add_notes(plan, fresh, at=at) if fresh else []
            # Every entry written matched an assignment of a task found under this same lock.
            assert written is not None
        return written, stale

def _parses(parse: Callable[[str], object]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            parse(text)
        except ValueError:
            return False
        return True

    return check


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


_STATUSES = {status.value for status in Status}
_STATUS = (_STATUSES.__contains__, "不是有效的状态")
_DATE = (_parses(date.fromisoformat), "不是有效的日期")
_TIME = (_parses(datetime.fromisoformat), "不是有效的时间")
_PAYLOAD = (_json_object, "不是有效的 JSON 对象")
# Columns whose text the program parses, beyond decoding it (keyed by table and column).
_READABLE: dict[tuple[str, str], tuple[Callable[[str], bool], str]] = {
    ("tasks", "status"): _STATUS,
    ("tasks", "start"): _DATE,
    ("tasks", "due"): _DATE,
    ("tasks", "updated_at"): _TIME,
    ("assignments", "status"): _STATUS,
    ("assignments", "updated_at"): _TIME,
    ("notes", "status"): _STATUS,
    ("notes", "at"): _TIME,
    ("events", "at"): _TIME,
    ("events", "before"): _PAYLOAD,
    ("events", "after"): _PAYLOAD,
}


_EVENT_COLUMNS = """
    e.id, e.at, e.by, e.action, e.plan, e.task, e.before, e.after, e.undoes,
    (SELECT u.id FROM events u WHERE u.undoes = e.id),
    (SELECT o.action FROM events o WHERE o.id = e.undoes)
"""
_UNDOABLE = ["e.action <> 'undo'", "NOT EXISTS (SELECT 1 FROM events u WHERE u.undoes = e.id)"]
_REVERTERS: dict[str, Callable[..., None]] = {
    "note": SQLiteStore._revert_note,
    "status": SQLiteStore._revert_note,
    "import": SQLiteStore._revert_import,
    "assign": SQLiteStore._revert_assign,
    "unassign": SQLiteStore._revert_unassign,
}
