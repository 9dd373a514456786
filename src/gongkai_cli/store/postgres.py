"""The PostgreSQL backend of `Storage` (issue 13, under construction).

What works: connecting (every failure one Chinese line, exit 4), recognising a
ledger, and creating or upgrading its schema (store/postgres_schema.py) in one
transaction, with `on_create` and `on_upgrade` inside it as for SQLite; the read half
of `Storage` (plans, units, tasks with every filter, one task, exports' read,
history), answering as the SQLite store does (tests/test_postgres_reads.py); and
`copy_from_sqlite`, a SQLite ledger copied in key for key. Every write (and check,
backup, restore) still refuses with one line saying team mode is not finished, so
that a command against a server fails cleanly instead of half-working.

Timestamps are `timestamptz` and are shown, as the SQLite ledger stores them, in ISO
8601 in the office's time zone (dates.tz()), whatever the server's TimeZone.

Imported only for a server URL: psycopg is an optional extra (`gongkai[postgres]`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import psycopg

from .. import dates
from ..errors import StoreError
from ..models import CLOSED_STATUSES, Assignment, Commit, Event, Note, Plan, Status, Task
from . import (
    BUSY_TIMEOUT_SECONDS,
    AssignmentInput,
    BadServerURL,
    ImportCounts,
    NoteInput,
    ServerURL,
    TaskInput,
    TaskQuery,
    UnitCounts,
    postgres_schema,
)

if TYPE_CHECKING:
    from typing_extensions import Self

# How long to wait for a server that does not answer; libpq would wait for ever.
CONNECT_TIMEOUT_SECONDS = 10


# -- errors -------------------------------------------------------------------


def _reason(err: psycopg.Error) -> str:
    """libpq's own words without its framing: `connection to server … failed: FATAL:  <this>`."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = text.rsplit(" failed: ", 1)[-1]
    for prefix in ("FATAL:", "ERROR:"):
        text = text.removeprefix(prefix).strip()
    return text


def _connection_error(url: ServerURL, err: psycopg.Error, given: dict[str, Any]) -> StoreError:
    """`given`: the connection parameters the URL names (libpq's defaults fill in the rest)."""
    reason = _reason(err)
    lowered = reason.lower()
    if "password authentication failed" in lowered:
        return StoreError(f"无法登录 PostgreSQL 数据库“{url}”：用户名或密码不正确。")
    if "no password supplied" in lowered:
        return StoreError(
            f"无法登录 PostgreSQL 数据库“{url}”：服务器要求密码，但没有提供；"
            "请把密码写进 ~/.pgpass 文件（或环境变量 PGPASSWORD）。"
        )
    if "does not exist" in lowered and reason.startswith("database "):
        name = given.get("dbname") or given.get("user") or ""
        return StoreError(
            f"无法使用 PostgreSQL 数据库“{url}”：服务器上没有数据库“{name}”，请先让数据库管理员创建它。"
        )
    if "does not exist" in lowered and reason.startswith("role "):
        return StoreError(
            f"无法登录 PostgreSQL 数据库“{url}”：服务器上没有登录角色“{given.get('user') or _login()}”，请向数据库管理员确认用户名。"
        )
    if any(sign in lowered for sign in (
        "no such file", "connection refused", "timeout expired", "failed to resolve host", "could not translate host",
        "network is unreachable", "no route to host", "server closed the connection",
    )):
        return StoreError(
            f"无法连接 PostgreSQL 数据库“{url}”：服务器没有响应（未运行，或地址、端口不对）。"
        )
    return StoreError(f"无法连接 PostgreSQL 数据库“{url}”：{reason}")


def _login() -> str:
    # libpq's default user is the login name.
    from ..settings import login_name

    return login_name()


def _error(url: ServerURL, err: psycopg.Error, timeout: float) -> StoreError:
    """A failure after connecting, as one line naming the database."""
    if isinstance(err, psycopg.errors.LockNotAvailable):
        return StoreError(
            f"数据库“{url}”正被其他进程占用，等待 {timeout:g} 秒后仍未释放，请稍后重试"
            "（等待时间可用环境变量 GONGKAI_BUSY_TIMEOUT 调整）。"
        )
    if isinstance(err, psycopg.OperationalError):
        return StoreError(f"与 PostgreSQL 数据库“{url}”的连接中断，本次操作没有写入任何内容：{_reason(err)}")
    return StoreError(f"数据库“{url}”出错：{_reason(err)}")


def _not_yet(what: str = "写入") -> NoReturn:
    raise StoreError(f"PostgreSQL 台账还不支持{what}：团队模式尚在开发中，目前只支持查询。")


# -- the store ----------------------------------------------------------------


class PostgresStore:
    """A ledger in a PostgreSQL database: one connection, in autocommit mode outside
    the explicit transactions (`conn.transaction()`) that every write runs in."""

    def __init__(self, url: ServerURL, conn: psycopg.Connection[tuple[Any, ...]], timeout: float = BUSY_TIMEOUT_SECONDS):
        self.url = url
        self.conn = conn
        self.timeout = timeout
        self.commits: list[Commit] = []

    @classmethod
    def connect(cls, url: ServerURL, timeout: float = BUSY_TIMEOUT_SECONDS) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection to the ledger's database, with the search path on its schema and
        lock waits bounded by `timeout`."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        try:
            given = conninfo_to_dict(url.url)
        except psycopg.Error as err:
            raise BadServerURL(url, _reason(err)) from err
        options = {"application_name": "gongkai"}
        if "connect_timeout" not in given:
            options["connect_timeout"] = str(CONNECT_TIMEOUT_SECONDS)
        try:
            conn = psycopg.connect(make_conninfo(url.url, **options), autocommit=True)
        except psycopg.ProgrammingError as err:
            raise BadServerURL(url, _reason(err)) from err
        except psycopg.Error as err:
            raise _connection_error(url, err, given) from err
        try:
            conn.execute(f"SET search_path = {postgres_schema.SCHEMA}")
            # Milliseconds; 0 would mean no limit, which a timeout of 0 does not mean.
            conn.execute(f"SET lock_timeout = {max(1, int(timeout * 1000))}")
        except psycopg.Error as err:
            conn.close()
            raise _error(url, err, timeout) from err
        return conn

    @classmethod
    def open(
        cls,
        url: ServerURL,
        *,
        create: bool = True,
        upgrade: bool = True,
        timeout: float = BUSY_TIMEOUT_SECONDS,
        on_create: Callable[[PostgresStore], None] | None = None,
        on_upgrade: Callable[[PostgresStore, list[str]], None] | None = None,
    ) -> PostgresStore:
        """Open the ledger in the database `url` names, as `SQLiteStore.open` does a file's:
        an empty database (no `gongkai` schema) becomes a ledger when `create`, with
        `on_create` inside that transaction; an older ledger is upgraded when `upgrade`,
        with `on_upgrade`; a newer one is refused."""
        store = cls(url, cls.connect(url, timeout), timeout)
        try:
            store._prepare(create=create, upgrade=upgrade, on_create=on_create, on_upgrade=on_upgrade)
        except BaseException:
            store.close()
            raise
        return store

    def _prepare(
        self, *, create: bool, upgrade: bool, on_create: Callable[[PostgresStore], None] | None,
        on_upgrade: Callable[[PostgresStore, list[str]], None] | None,
    ) -> None:
        with self._errors():
            if postgres_schema.exists(self.conn):
                self._refuse_newer(postgres_schema.applied(self.conn))
                if not upgrade or not postgres_schema.missing(postgres_schema.applied(self.conn)):
                    return
            elif not create:
                raise StoreError(f"数据库“{self.url}”中没有 gongkai 台账（没有 {postgres_schema.SCHEMA} 模式）。")
            # Processes meeting a new or old ledger at once: one builds, the others wait and then
            # find it built. A session lock, taken before the transaction: a transaction starts
            # with a fresh view of the catalog, which one begun before the wait would not have.
            self.conn.execute("SELECT pg_advisory_lock(%s)", (postgres_schema.SCHEMA_LOCK,))
            try:
                with self.conn.transaction():
                    new = not postgres_schema.exists(self.conn)
                    if not new:
                        self._refuse_newer(postgres_schema.applied(self.conn))
                    applied = postgres_schema.apply(self.conn)
                    if new and on_create is not None:
                        on_create(self)
                    elif applied and not new and on_upgrade is not None:
                        on_upgrade(self, applied)
            finally:
                # A connection that broke took its lock with it; the error that broke it is the one to report.
                with contextlib.suppress(psycopg.Error):
                    self.conn.execute("SELECT pg_advisory_unlock(%s)", (postgres_schema.SCHEMA_LOCK,))

    def _refuse_newer(self, names: Sequence[str]) -> None:
        if newer := postgres_schema.unknown(names):
            raise StoreError(
                f"数据库“{self.url}”由更新版本的 gongkai 升级过（{'、'.join(newer)}），请先升级 gongkai 再使用。"
            )

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as err:
            raise _error(self.url, err, self.timeout) from err

    def close(self) -> None:
        self.conn.close()

    def checkpoint(self) -> None:
        """Nothing to do: the server's write-ahead log is the server's business."""

    def adopt_history(self) -> None:
        """Nothing to do: a server ledger is created on the connection that then uses it."""

    # -- copying in ---------------------------------------------------------------

    def copy_from_sqlite(self, source: Path) -> None:
        """Fill this empty ledger with everything of the SQLite ledger `source`, keys and all,
        in one transaction; the identities then continue past the keys copied.

        The first half of `gongkai copy --to postgresql://…`; for now the tests' way of putting
        the same ledger in both backends.
        """
        import sqlite3
        from urllib.request import pathname2url

        reader = sqlite3.connect(f"file:{pathname2url(str(source.resolve()))}?mode=ro", uri=True)
        try:
            with self._errors(), self.conn.transaction():
                if self.conn.execute("SELECT count(*) FROM plans").fetchone() != (0,):
                    raise StoreError(f"数据库“{self.url}”中已有台账内容，不能再复制进去。")
                for table, columns in _COPIED.items():
                    rows = reader.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
                    quoted = ", ".join(f'"{column}"' for column in columns)
                    with self.conn.cursor().copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row([_copied(column, value) for column, value in zip(columns, row, strict=True)])
                for table, key in _IDENTITIES:
                    self.conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "
                        f"coalesce((SELECT max({key}) FROM {table}), 0) + 1, false)"
                    )
        finally:
            reader.close()

    # -- plans --------------------------------------------------------------------

    def plans(self) -> list[Plan]:
        """Every plan with its task count, newest year first."""
        return self._plans()

    def plan(self, name: str | None = None, *, year: int | None = None) -> Plan | None:
        """One plan by name, else the newest of `year`, else the newest."""
        if name is not None:
            found = self._plans("WHERE p.name = %(name)s", {"name": name}, limit=1)
        elif year is not None:
            found = self._plans("WHERE p.year = %(year)s", {"year": year}, limit=1)
        else:
            found = self._plans(limit=1)
        return found[0] if found else None

    def plan_names(self) -> list[str]:
        with self._errors():
            return [row[0] for row in self.conn.execute(f"SELECT p.name FROM plans p ORDER BY {_PLAN_ORDER}")]

    def _plans(self, where: str = "", params: dict[str, object] | None = None, *, limit: int | None = None) -> list[Plan]:
        with self._errors():
            rows = self.conn.execute(
                f"""SELECT p.name, p.year, p.source, p.imported_at,
                           (SELECT count(*) FROM tasks t WHERE t.plan = p.name)
                    FROM plans p {where}
                    ORDER BY {_PLAN_ORDER} {f"LIMIT {int(limit)}" if limit else ""}""",
                params or {},
            ).fetchall()
        return [Plan(name=name, year=year, tasks=count, imported_at=_stamp(imported_at), source=source)
                for name, year, source, imported_at, count in rows]

    def unit_names(self) -> list[str]:
        with self._errors():
            return [row[0] for row in self.conn.execute('SELECT name FROM units ORDER BY name COLLATE "C"')]

    def unit_counts(self, plan: str, *, today: date) -> dict[str, UnitCounts]:
        """Per unit with assignments in the plan: as `SQLiteStore.unit_counts`."""
        with self._errors():
            rows = self.conn.execute(
                f"""SELECT a.unit, count(*), count(*) FILTER (WHERE a.lead),
                           count(*) FILTER (WHERE a.status = 'done'), count(*) FILTER (WHERE a.status = 'cancelled'),
                           count(*) FILTER (WHERE {_A_OVERDUE})
                    FROM tasks t JOIN assignments a ON a.task = t.pk
                    WHERE t.plan = %(plan)s
                    GROUP BY a.unit""",
                {"plan": plan, "today": today},
            ).fetchall()
        return {unit: UnitCounts(*counts) for unit, *counts in rows}

    # -- tasks --------------------------------------------------------------------

    def tasks(self, plan: str, query: TaskQuery, *, today: date) -> list[Task]:
        """As `SQLiteStore.tasks`: one query built from the filters, then units in one more."""
        where = ["t.plan = %(plan)s"]
        params: dict[str, object] = {"plan": plan, "today": today}
        source, columns = "tasks t", _TASK_COLUMNS
        status, overdue, still_open = "t.status", _OVERDUE, _OPEN
        if query.own_unit is not None:
            source = "tasks t JOIN assignments a ON a.task = t.pk AND a.unit = %(own)s"
            columns = f"{_TASK_COLUMNS}, {_ASSIGNMENT_COLUMNS}"
            params["own"] = query.own_unit
            status, overdue, still_open = "a.status", _A_OVERDUE, _A_OPEN
            if query.direct_only:
                where.append("a.via IS NULL")
            if query.lead_only:
                where.append("a.lead")
        elif query.units:
            if query.lead_only:
                match = "a.lead AND a.unit = ANY(%(units)s)"
            elif query.direct_only:
                match = "((a.unit = ANY(%(units)s) AND a.via IS NULL) OR a.via = ANY(%(units)s))"
            else:
                match = "(a.unit = ANY(%(units)s) OR a.via = ANY(%(units)s))"
            where.append(f"EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.pk AND {match})")
            params["units"] = list(query.units)
        if query.statuses:
            where.append(f"{status} = ANY(%(statuses)s)")
            params["statuses"] = [s.value for s in query.statuses]
        # ILIKE: SQLite's LIKE ignores the case of ASCII letters, and the two backends answer alike.
        if query.group:
            where.append("t.group_name ILIKE %(group)s")
            params["group"] = _like_pattern(query.group)
        if query.search:
            where.append("t.content ILIKE %(search)s")
            params["search"] = _like_pattern(query.search)
        if query.with_due_only:
            where.append("t.due IS NOT NULL")
        if query.due_before:
            where.append("t.due <= %(due_before)s")
            params["due_before"] = query.due_before
        if query.due_after:
            where.append("t.due >= %(due_after)s")
            params["due_after"] = query.due_after
        if query.overdue_only:
            where.append(overdue)
        if query.open_only:
            where.append(still_open)
        order = "t.due IS NULL, t.due, t.id" if query.order_by_due else "t.id"
        with self._errors():
            rows = self.conn.execute(
                f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order}", params
            ).fetchall()
            return self._tasks_from_rows(rows)

    def open_assignments(self, plan: str, *, units: Sequence[str], due_before: date, today: date) -> list[Task]:
        """As `SQLiteStore.open_assignments`: one row per open assignment due by `due_before`."""
        where = ["t.plan = %(plan)s", "t.due IS NOT NULL", "t.due <= %(until)s", _A_OPEN]
        params: dict[str, object] = {"plan": plan, "today": today, "until": due_before}
        if units:
            where.append("a.unit = ANY(%(units)s)")
            params["units"] = list(units)
        with self._errors():
            rows = self.conn.execute(
                f"""SELECT {_TASK_COLUMNS}, {_ASSIGNMENT_COLUMNS}
                    FROM tasks t JOIN assignments a ON a.task = t.pk
                    WHERE {' AND '.join(where)} ORDER BY t.due, t.id, a.position""",
                params,
            ).fetchall()
            return self._tasks_from_rows(rows)

    def task(self, plan: str, task_id: int, *, today: date) -> Task | None:
        with self._errors():
            rows = self.conn.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.plan = %(plan)s AND t.id = %(id)s",
                {"plan": plan, "id": task_id, "today": today},
            ).fetchall()
            if not rows:
                return None
            (task,) = self._tasks_from_rows(rows, with_notes=True, with_assignments=True, today=today)
            return task

    def tasks_with_notes(
        self, plan: str, *, today: date, ids: Sequence[int] | None = None, with_assignments: bool = True
    ) -> list[Task]:
        """Every task of a plan (or only those numbered `ids`) by id with all its notes and,
        unless told not to, its assignments, from one snapshot (REPEATABLE READ)."""
        where, params = "t.plan = %(plan)s", {"plan": plan, "today": today}
        if ids is not None:
            where += " AND t.id = ANY(%(ids)s)"
            params["ids"] = list(ids)
        with self._errors(), self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            rows = self.conn.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE {where} ORDER BY t.id", params
            ).fetchall()
            return self._tasks_from_rows(rows, with_notes=True, with_assignments=with_assignments, today=today)

    def existing_task_ids(self, plan: str, ids: Sequence[int]) -> set[int]:
        with self._errors():
            return {row[0] for row in self.conn.execute(
                "SELECT id FROM tasks WHERE plan = %s AND id = ANY(%s)", (plan, list(ids))
            )}

    def unassigned_tasks(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """(plan, id, units) of every task without any assignment."""
        with self._errors():
            rows = self.conn.execute(
                """SELECT t.pk, t.plan, t.id FROM tasks t
                   WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.pk) ORDER BY t.pk"""
            ).fetchall()
            units = self._units_of([row[0] for row in rows])
        return [(plan, task_id, tuple(units.get(pk, ()))) for pk, plan, task_id in rows]

    def _tasks_from_rows(
        self, rows: Sequence[tuple[Any, ...]], *, with_notes: bool = False, with_assignments: bool = False,
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
                own = Assignment(unit=unit, via=via, lead=lead, status=Status(own_status), overdue=own_overdue,
                                 updated_at=_stamp(own_updated), vague=vague, progress=own_progress)
            tasks.append(Task(
                id=task_id, plan=plan, group=group, content=content, units=tuple(units.get(pk, ())),
                deadline=deadline, start=start, due=due, status=Status(status), updated_at=_stamp(updated_at),
                overdue=overdue, progress=progress, via=own.via if own is not None else None,
                notes=tuple(notes.get(pk, ())) if with_notes else (), units_done=units_done,
                units_total=units_total, assignment=own, assignments=tuple(assignments.get(pk, ())),
            ))
        return tasks

    def _assignments_of(
        self, pks: list[int], notes: dict[int, list[Note]], today: date | None
    ) -> dict[int, list[Assignment]]:
        result: dict[int, list[Assignment]] = {}
        rows = self.conn.execute(
            f"""SELECT a.task, a.unit, a.via, a.lead, a.status, {_A_OVERDUE}, a.updated_at, a.vague, {_A_PROGRESS}
                FROM assignments a JOIN tasks t ON t.pk = a.task
                WHERE a.task = ANY(%(pks)s)
                ORDER BY a.task, a.position""",
            {"pks": pks, "today": today or date.max},
        )
        # Each unit's notes grouped in one pass, as SQLiteStore._assignments_of does.
        by_unit: dict[tuple[int, str | None], list[Note]] = {}
        for task_pk, task_notes in notes.items():
            for note in task_notes:
                by_unit.setdefault((task_pk, note.unit), []).append(note)
        for task_pk, unit, via, lead, status, overdue, updated_at, vague, progress in rows:
            result.setdefault(task_pk, []).append(Assignment(
                unit=unit, via=via, lead=lead, status=Status(status), overdue=overdue,
                updated_at=_stamp(updated_at), vague=vague, progress=progress,
                notes=tuple(by_unit.get((task_pk, unit), ())),
            ))
        return result

    def _units_of(self, pks: list[int]) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {}
        rows = self.conn.execute(
            """SELECT tu.task, u.name FROM task_units tu JOIN units u ON u.id = tu.unit
               WHERE tu.task = ANY(%s) ORDER BY tu.task, tu.position""",
            (pks,),
        )
        for task_pk, name in rows:
            result.setdefault(task_pk, []).append(name)
        return result

    def _notes_of(self, pks: list[int]) -> dict[int, list[Note]]:
        result: dict[int, list[Note]] = {}
        rows = self.conn.execute(
            """SELECT n.task, n.id, t.id, n.at, n."by", n.text, n.status, n.count, a.unit
               FROM notes n JOIN tasks t ON t.pk = n.task LEFT JOIN assignments a ON a.pk = n.assignment
               WHERE n.task = ANY(%s) AND n.retracted_at IS NULL
               ORDER BY n.task, n.at, n.id""",
            (pks,),
        )
        for task_pk, note_id, task_id, at, by, text, status, count, unit in rows:
            result.setdefault(task_pk, []).append(
                Note(id=note_id, task_id=task_id, at=_stamp(at), by=by, text=text,
                     status=Status(status) if status else None, count=count, unit=unit)
            )
        return result

    # -- history ------------------------------------------------------------------

    def events(self, *, plan: str | None = None, task: int | None = None, since: date | None = None) -> list[Event]:
        """History, oldest first. With `task`, also the imports that wrote that task."""
        where: list[str] = []
        params: dict[str, object] = {}
        if plan is not None:
            where.append("e.plan = %(plan)s")
            params["plan"] = plan
        if task is not None:
            where.append("""(e.task = %(task)s OR (e.task IS NULL AND (
                                 jsonb_exists(e.before::jsonb -> 'tasks', %(task_key)s)
                                 OR jsonb_exists(e.after::jsonb -> 'tasks', %(task_key)s))))""")
            params.update(task=task, task_key=str(task))
        if since is not None:
            # From the start of that day in the office's time zone, as SQLite's text order has it.
            where.append("e.at >= %(since)s")
            params["since"] = datetime.combine(since, time(), tzinfo=dates.tz())
        return self._events_where(where, params)

    def last_undoable(self, plan: str | None = None) -> Event | None:
        """The newest change that no undo has reverted yet, of one plan or of the whole ledger."""
        where = list(_UNDOABLE)
        params: dict[str, object] = {}
        if plan is not None:
            where.append("e.plan = %(plan)s")
            params["plan"] = plan
        found = self._events_where(where, params, tail="ORDER BY e.id DESC LIMIT 1")
        return found[0] if found else None

    def event(self, event_id: int) -> Event | None:
        found = self._events_where(["e.id = %(id)s"], {"id": event_id})
        return found[0] if found else None

    def _events_where(self, where: Sequence[str], params: dict[str, object], *, tail: str = "ORDER BY e.id") -> list[Event]:
        with self._errors():
            rows = self.conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events e WHERE {' AND '.join(where) or 'true'} {tail}", params
            ).fetchall()
        return [
            Event(id=event_id, at=_stamp(at), by=by, action=action, plan=plan, task=task, before=before,
                  after=after, undoes=undoes, undone_by=undone_by, undoes_action=undoes_action)
            for event_id, at, by, action, plan, task, before, after, undoes, undone_by, undoes_action in rows
        ]

    # What follows is the rest of `Storage`, not yet written for PostgreSQL.

    def expand_assignments(self, entries: Sequence[tuple[str, int, tuple[AssignmentInput, ...]]], *, at: str) -> None:
        _not_yet()

    def assign(
        self, plan: str, task_id: int, assignments: Sequence[AssignmentInput], *, at: str, by: str
    ) -> Event | None:
        _not_yet()

    def unassign(self, plan: str, task_id: int, units: Sequence[str], *, at: str, by: str) -> Event | None:
        _not_yet()

    def add_note(
        self, plan: str, task_id: int, *, at: str, by: str, text: str, status: Status | None,
        count: int | None = None, key: str | None = None, unit: str | None = None, all_units: bool = False,
    ) -> tuple[Note, Status] | None:
        _not_yet()

    def add_notes(self, plan: str, entries: Sequence[NoteInput], *, at: str) -> list[tuple[Note, Status]] | None:
        _not_yet()

    def import_plan(
        self, name: str, *, year: int, source: str, at: str, by: str, tasks: Sequence[TaskInput]
    ) -> ImportCounts:
        _not_yet()

    def add_notes_unless_changed(
        self, plan: str, entries: Sequence[tuple[NoteInput, str]], *, at: str
    ) -> tuple[list[tuple[Note, Status]], list[int]]:
        _not_yet()

    def undo(self, event_id: int, *, at: str, by: str, plan: str | None = None) -> Event:
        _not_yet()

    def copy_to(self, target: Path, *, shown_as: Path | None = None) -> None:
        _not_yet("备份和恢复")

    def replace_with(self, source: Self) -> None:
        _not_yet("备份和恢复")

    def problems(self) -> list[str]:
        _not_yet("检查（check）")

    def content_problems(self) -> list[str]:
        _not_yet("检查（check）")

    def backup_problems(self) -> list[str]:
        _not_yet("备份和恢复")

    def backup_contents(self) -> tuple[int, int, str | None]:
        _not_yet("备份和恢复")


# -- query pieces -------------------------------------------------------------
# The shapes of store/sqlite.py's, in PostgreSQL's spelling: booleans, = ANY(list), date
# parameters; they are kept side by side so that a change to one is made to the other.

_CLOSED = f"({', '.join(repr(status.value) for status in CLOSED_STATUSES)})"
_OPEN = f"t.status NOT IN {_CLOSED}"
_OVERDUE = f"(t.due IS NOT NULL AND t.due < %(today)s AND {_OPEN})"
_A_OPEN = f"a.status NOT IN {_CLOSED}"
_A_OVERDUE = f"(t.due IS NOT NULL AND t.due < %(today)s AND {_A_OPEN})"
_PROGRESS = """(SELECT coalesce(sum(n.count), 0) FROM notes n
               WHERE n.task = t.pk AND n.count IS NOT NULL AND n.retracted_at IS NULL)"""
_A_PROGRESS = """(SELECT coalesce(sum(n.count), 0) FROM notes n
                 WHERE n.assignment = a.pk AND n.count IS NOT NULL AND n.retracted_at IS NULL)"""
_UNITS_DONE = "(SELECT count(*) FROM assignments d WHERE d.task = t.pk AND d.status = 'done')"
_UNITS_TOTAL = "(SELECT count(*) FROM assignments d WHERE d.task = t.pk AND d.status <> 'cancelled')"
_TASK_COLUMNS = f"""
    t.pk, t.plan, t.id, t.group_name, t.content, t.deadline, t.start, t.due,
    t.status, t.updated_at, {_OVERDUE}, {_PROGRESS}, {_UNITS_DONE}, {_UNITS_TOTAL}
"""
_ASSIGNMENT_COLUMNS = f"a.unit, a.via, a.lead, a.status, {_A_OVERDUE}, a.updated_at, a.vague, {_A_PROGRESS}"
# Names in code point order, as SQLite compares text, whatever the database's collation.
_PLAN_ORDER = 'p.year DESC, p.created_at DESC, p.name COLLATE "C"'
_EVENT_COLUMNS = """
    e.id, e.at, e."by", e.action, e.plan, e.task, e.before, e.after, e.undoes,
    (SELECT u.id FROM events u WHERE u.undoes = e.id),
    (SELECT o.action FROM events o WHERE o.id = e.undoes)
"""
_UNDOABLE = ["e.action <> 'undo'", "NOT EXISTS (SELECT 1 FROM events u WHERE u.undoes = e.id)"]

# What a copy from SQLite brings over, parents before children, and how its text becomes typed.
_COPIED: dict[str, tuple[str, ...]] = {
    "plans": ("name", "year", "source", "created_at", "imported_at"),
    "tasks": ("pk", "plan", "id", "group_name", "content", "deadline", "start", "due", "status", "updated_at"),
    "units": ("id", "name"),
    "task_units": ("task", "unit", "position"),
    "assignments": ("pk", "task", "unit", "via", "lead", "position", "vague", "manual", "status", "updated_at"),
    "events": ("id", "at", "by", "action", "plan", "task", "before", "after", "undoes", "key"),
    "notes": ("id", "task", "at", "by", "text", "status", "count", "retracted_at", "retracted_by", "assignment"),
}
_IDENTITIES = (("tasks", "pk"), ("units", "id"), ("assignments", "pk"), ("events", "id"), ("notes", "id"))
_BOOLEANS = {"lead", "vague", "manual"}


def _copied(column: str, value: object) -> object:
    # COPY takes text: ISO dates and timestamps with their offsets, and JSON, are read by the
    # server as its types; SQLite's 0/1 flags become booleans.
    if column in _BOOLEANS and value is not None:
        return bool(value)
    return value


def _stamp(value: datetime) -> str:
    """A timestamp as the SQLite ledger writes it (dates.timestamp): ISO 8601 in the office's time zone."""
    return value.astimezone(dates.tz()).isoformat()


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
