"""The PostgreSQL backend of `Storage` (issue 13); units' roles and row-level security are store/postgres_roles.py.

Connecting (every failure one Chinese line, exit 4), recognising a ledger, and creating
or upgrading its schema (store/postgres_schema.py) in one transaction, with `on_create`
and `on_upgrade` inside it as for SQLite; every read and write of `Storage`, answering
as the SQLite store does (tests/test_postgres_reads.py, tests/test_postgres_writes.py):
the writes decide what to change through store/common.py, as SQLite's do, and only the
SQL here is PostgreSQL's; `check`'s problems; and a whole ledger copied out and in, key for
key (`snapshot`, `load`: `gongkai copy`). Backup and restore stay SQLite's (pg_dump does a server's).

Writes take turns under one transaction-scoped advisory lock (WRITE_LOCK), as SQLite's
writers do under BEGIN IMMEDIATE; see `_write`.

Timestamps are `timestamptz` and are shown, as the SQLite ledger stores them, in ISO
8601 in the office's time zone (dates.tz()), whatever the server's TimeZone.

Imported only for a server URL: psycopg is an optional extra (`gongkai[postgres]`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, NoReturn, ParamSpec, TypeVar

import psycopg

from .. import dates
from ..errors import NotPermitted, StoreError
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
    BadServerURL,
    ImportCounts,
    LastAssignment,
    NotAssigned,
    NoteInput,
    NotNewest,
    ServerURL,
    TaskInput,
    TaskQuery,
    UnitCounts,
    common,
    postgres_schema,
    transfer,
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


def _error(url: ServerURL, err: psycopg.Error, timeout: float) -> StoreError | NotPermitted:
    """A failure after connecting, as one line naming the database."""
    if isinstance(err, psycopg.errors.InsufficientPrivilege):
        # A grant missing or a row-level security policy refusing (store/postgres_roles.py):
        # the server's own reason, since it alone knows which rule it applied.
        return NotPermitted(f"账号“{_user(url)}”没有这样做的权限（服务器拒绝：{_reason(err)}）；未做任何更改。")
    if isinstance(err, psycopg.errors.LockNotAvailable):
        return StoreError(
            f"数据库“{url}”正被其他进程占用，等待 {timeout:g} 秒后仍未释放，请稍后重试"
            "（等待时间可用环境变量 GONGKAI_BUSY_TIMEOUT 调整）。"
        )
    if isinstance(err, psycopg.OperationalError):
        return StoreError(f"与 PostgreSQL 数据库“{url}”的连接中断，本次操作没有写入任何内容：{_reason(err)}")
    return StoreError(f"数据库“{url}”出错：{_reason(err)}")


def _user(url: ServerURL) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(url.url).get("user") or _login())


def _not_yet(what: str) -> NoReturn:
    raise StoreError(f"PostgreSQL 台账还不支持{what}：团队模式尚在开发中。")


# Held by every write transaction from its first statement to its end: gongkai's writers take
# turns, as SQLite's do under BEGIN IMMEDIATE, so each one's read-then-write (the next note id,
# a key's earlier note, a task's derived status) sees every write committed before it. Readers
# never wait for it. One number past the schema lock, "GKAI" in ASCII.
WRITE_LOCK = postgres_schema.SCHEMA_LOCK + 1
# How many times a write meeting a serialization failure or a deadlock (another client's
# locks, a schema upgrade) is run again from the start before the user is told.
WRITE_ATTEMPTS = 5

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _write(method: Callable[Concatenate[PostgresStore, _P], _R]) -> Callable[Concatenate[PostgresStore, _P], _R]:
    """Run a write method as one transaction under WRITE_LOCK, all of it or none of it, and note
    the events it committed in `commits`. A serialization failure or deadlock (SQLSTATE 40001,
    40P01) rolls it back and runs it again, a few times, so a user never sees one; any other
    error is one line, exit 4. Inside another write (or the transaction that creates the
    schema), the method is simply part of that transaction."""

    @functools.wraps(method)
    def wrapper(self: PostgresStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self._writing or self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            if not self._writing:
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            return method(self, *args, **kwargs)
        attempt = 1
        while True:
            try:
                return self._transaction(lambda: method(self, *args, **kwargs))
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as err:
                if attempt >= WRITE_ATTEMPTS:
                    raise _error(self.url, err, self.timeout) from err
            except psycopg.Error as err:
                raise _error(self.url, err, self.timeout) from err
            # Imported only here: a write that goes through at once never waits.
            import random
            import time

            # Jittered and growing, so the writers that collided do not collide again in step.
            time.sleep(random.uniform(0.01, 0.05) * attempt)
            attempt += 1

    return wrapper


# -- the store ----------------------------------------------------------------


class PostgresStore:
    """A ledger in a PostgreSQL database: one connection, in autocommit mode outside
    the explicit transactions (`conn.transaction()`) that every write runs in."""

    def __init__(self, url: ServerURL, conn: psycopg.Connection[tuple[Any, ...]], timeout: float = BUSY_TIMEOUT_SECONDS):
        self.url = url
        self.conn = conn
        self.timeout = timeout
        self.commits: list[Commit] = []
        self._writing = False  # inside a write transaction (_write): errors go to it unchanged

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
            # The correlated counts of a whole plan's listing are estimated well above
            # jit_above_cost, and compiling them took 0.8 s of CPU for a 15 ms query (remind
            # --by-unit on the benchmark city). Servers without JIT (openGauss, before 11) have
            # no such setting: set only where it exists.
            conn.execute("SELECT set_config('jit', 'off', false) FROM pg_settings WHERE name = 'jit'")
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
        if self._writing:
            # The write decides: a serialization failure is run again, not reported.
            yield
            return
        try:
            yield
        except psycopg.Error as err:
            raise _error(self.url, err, self.timeout) from err

    def _transaction(self, work: Callable[[], _R]) -> _R:
        """`work` in one transaction under WRITE_LOCK; the events it wrote go to `commits` once committed."""
        self._writing = True
        try:
            with self.conn.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                row = self.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
                assert row is not None
                result = work()
                written = self._events_since(row[0])
        finally:
            self._writing = False
        if written is not None:
            self.commits.append(written)
        return result

    def close(self) -> None:
        self.conn.close()

    def checkpoint(self) -> None:
        """Nothing to do: the server's write-ahead log is the server's business."""

    # -- copying ----------------------------------------------------------------------

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[transfer.Snapshot]:
        """The ledger's content as it is now, for `gongkai copy`: one REPEATABLE READ, READ ONLY
        transaction, so what other sessions commit while the block runs is not in it."""
        with self._errors():
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                if missing := postgres_schema.missing(postgres_schema.applied(self.conn)):
                    raise StoreError(
                        f"数据库“{self.url}”需要先升级（缺少 {postgres_schema.name_of(missing[0])}）才能复制："
                        "请先用本程序运行一次任意命令，例如 gongkai plans。"
                    )
                counts = self._counts()
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    self.conn.execute("ROLLBACK")
                raise
        try:
            yield transfer.Snapshot(counts, self._rows)
        finally:
            # Only read: ending the transaction either way releases the snapshot.
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")

    def _rows(self, table: str) -> Iterator[tuple[object, ...]]:
        # Payloads as the text stored (json keeps it verbatim), not parsed and dumped again.
        columns = ", ".join(f'"{column}"::text' if column in transfer.PAYLOADS else f'"{column}"'
                            for column in transfer.TABLES[table])
        # Raised here, as this database's: the rows are read while another database is written.
        with self._errors(), self.conn.cursor(name=f"gongkai_copy_{table}") as cursor:
            # A server-side cursor: a million notes pass through, never all in memory at once.
            cursor.itersize = 2000
            cursor.execute(f"SELECT {columns} FROM {table} ORDER BY {transfer.ORDER[table]}")
            for row in cursor:
                yield tuple(_portable(value) for value in row)

    @_write
    def load(self, source: transfer.Snapshot) -> dict[str, int]:
        """Fill this empty ledger with `source`, keys and all, in one transaction (the caller's,
        when it is creating the ledger); the identities then continue past the keys copied.
        The rows written per table, once they are counted to be the source's
        (transfer.CountsDiffer otherwise, and nothing is kept)."""
        transfer.refuse_content(self._counts())
        for table, columns in transfer.TABLES.items():
            quoted = ", ".join(f'"{column}"' for column in columns)
            with self.conn.cursor().copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in source.rows(table):
                    copy.write_row([_typed(column, value) for column, value in zip(columns, row, strict=True)])
        for table, key in _IDENTITIES:
            self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "
                f"coalesce((SELECT max({key}) FROM {table}), 0) + 1, false)"
            )
        return transfer.verify(source.counts, self._counts())

    def _counts(self) -> dict[str, int]:
        counted = self.conn.execute(
            "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in transfer.TABLES)
        ).fetchone()
        assert counted is not None
        return dict(zip(transfer.TABLES, counted, strict=True))

    def copy_from_sqlite(self, source: Path) -> None:
        """Fill this empty ledger with everything of the SQLite ledger `source` (`load`): the
        tests' way of putting the same ledger in both backends."""
        from .sqlite import SQLiteStore

        reader = SQLiteStore.open_backup(source)
        try:
            with reader.snapshot() as snapshot:
                self.load(snapshot)
        except transfer.NotEmpty:
            raise StoreError(f"数据库“{self.url}”中已有台账内容，不能再复制进去。") from None
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

    def last_undoable(self, plan: str | None = None, *, unit: str | None = None) -> Event | None:
        """The newest change that no undo has reverted yet, of one plan or of the whole ledger;
        with `unit`, the newest note or status change on that unit's assignments (what a unit
        login may undo, store/postgres_roles.py)."""
        where = list(_UNDOABLE)
        params: dict[str, object] = {}
        if unit is not None:
            where.append("e.action IN ('note', 'status') AND note_unit((e.after ->> 'note')::bigint, e.plan, e.task) = %(unit)s")
            params["unit"] = unit
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

    # -- writes -------------------------------------------------------------------

    def add_note(
        self, plan: str, task_id: int, *, at: str, by: str, text: str, status: Status | None,
        count: int | None = None, key: str | None = None, unit: str | None = None, all_units: bool = False,
    ) -> tuple[Note, Status] | None:
        """Append a note (and apply its status change), as `SQLiteStore.add_note`."""
        written = self.add_notes(
            plan, [NoteInput(task_id, text, by, status, count, key, unit, all_units)], at=at
        )
        return written[0] if written else None

    @_write
    def add_notes(self, plan: str, entries: Sequence[NoteInput], *, at: str) -> list[tuple[Note, Status]] | None:
        """Append many notes in one transaction, as `SQLiteStore.add_notes` (common.plan_notes decides)."""
        tasks: dict[int, common.State] = {
            task_id: [pk, status]
            for pk, task_id, status in self.conn.execute(
                "SELECT pk, id, status FROM tasks WHERE plan = %s AND id = ANY(%s)",
                (plan, sorted({entry.task_id for entry in entries})),
            )
        }
        if any(entry.task_id not in tasks for entry in entries):
            return None
        units = self._assignment_states([pk for pk, _ in tasks.values()])
        targets = [common.note_target(entry, units[tasks[entry.task_id][0]]) for entry in entries]
        current = {
            entry.key: common.target_status(target, tasks[entry.task_id], units)
            for entry, target in zip(entries, targets, strict=True) if entry.key is not None
        }
        earlier = self._keyed_notes(plan, entries, current)
        # Ids as SQLite gives them (the next after the largest), safe under the write lock:
        # a sequence would skip the numbers of rolled-back attempts, and users quote note ids.
        next_id = self._next_id("notes")
        writes = common.plan_notes(plan, entries, tasks=tasks, units=units, targets=targets, earlier=earlier,
                                   next_id=next_id, at=at)
        with self.conn.cursor() as cursor:
            cursor.executemany(
                """INSERT INTO notes (id, task, at, "by", text, status, count, assignment)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                writes.notes,
            )
            cursor.executemany(
                "UPDATE assignments SET status = %s, updated_at = %s WHERE pk = %s",
                [(status, at, pk) for status, pk in writes.assignments],
            )
            cursor.executemany(
                "UPDATE tasks SET status = %s, updated_at = %s WHERE pk = %s",
                [(status, at, pk) for status, pk in writes.tasks],
            )
        self._insert_events(writes.events)
        return writes.written

    @_write
    def add_notes_unless_changed(
        self, plan: str, entries: Sequence[tuple[NoteInput, str]], *, at: str
    ) -> tuple[list[tuple[Note, Status]], list[int]]:
        """As `SQLiteStore.add_notes_unless_changed`: each note whose assignment still has the
        version given beside it, in one transaction; the indexes of the others."""
        ids = sorted({entry.task_id for entry, _ in entries})
        pks = dict(self.conn.execute("SELECT id, pk FROM tasks WHERE plan = %s AND id = ANY(%s)", (plan, ids)).fetchall())
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

    def _assignment_states(self, pks: Sequence[int]) -> dict[int, dict[str, common.State]]:
        states: dict[int, dict[str, common.State]] = {pk: {} for pk in pks}
        rows = self.conn.execute(
            "SELECT task, unit, pk, status FROM assignments WHERE task = ANY(%s) ORDER BY task, position",
            (list(pks),),
        )
        for task_pk, unit, pk, status in rows:
            states[task_pk][unit] = [pk, status]
        return states

    def _keyed_notes(self, plan: str, entries: Sequence[NoteInput], statuses: dict[str, str]) -> dict[str, Note]:
        """The notes earlier calls stored under the keys of `entries` (see common.keyed_note)."""
        keys = [entry.key for entry in entries if entry.key is not None]
        if not keys:
            return {}
        rows = self.conn.execute(
            """SELECT e.key, e.id, e.plan, e.task, e.at, e."by", e.action, e.before, e.after,
                      (SELECT u.id FROM events u WHERE u.undoes = e.id)
               FROM events e WHERE e.key = ANY(%s)""",
            (keys,),
        ).fetchall()
        found = {}
        for key, event_id, event_plan, task_id, at, by, action, before, after, undone_by in rows:
            (entry,) = [entry for entry in entries if entry.key == key]
            found[key] = common.keyed_note(
                key=key, event_id=event_id, event_plan=event_plan, task_id=task_id, at=_stamp(at), by=by,
                action=action, before=before, after=after, undone_by=undone_by,
                plan=plan, entry=entry, current=statuses[key],
            )
        return found

    @_write
    def import_plan(
        self, name: str, *, year: int, source: str, at: str, by: str, tasks: Sequence[TaskInput]
    ) -> ImportCounts:
        """Create or update a plan from a table, in one transaction, as `SQLiteStore.import_plan`."""
        old_plan = self._plan_row(name)
        self.conn.execute(
            """INSERT INTO plans (name, year, source, created_at, imported_at)
               VALUES (%(name)s, %(year)s, %(source)s, %(at)s, %(at)s)
               ON CONFLICT (name) DO UPDATE SET
                   year = excluded.year, source = excluded.source, imported_at = excluded.imported_at""",
            {"name": name, "year": year, "source": source, "at": at},
        )
        existing = self._snapshots(name)
        names = {unit for task in tasks for unit in task.units}
        created = sorted(names - {
            row[0] for row in self.conn.execute("SELECT name FROM units WHERE name = ANY(%s)", (sorted(names),))
        })
        unit_ids = self._ensure_units(names)
        writes = common.plan_import(tasks, existing, self._next_id("tasks", "pk"))
        with self.conn.cursor() as cursor:
            cursor.executemany(
                """INSERT INTO tasks (pk, plan, id, group_name, content, deadline, start, due, status, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
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
        row = self.conn.execute("SELECT year, source, imported_at FROM plans WHERE name = %s", (name,)).fetchone()
        return None if row is None else common.PlanRow(year=row[0], source=row[1], imported_at=_stamp(row[2]))

    def _snapshots(self, plan: str) -> dict[int, tuple[int, common.TaskFields]]:
        """Every task of a plan as (pk, the fields an import writes, in its event's terms)."""
        rows = self.conn.execute(
            "SELECT pk, id, group_name, content, deadline, start, due FROM tasks WHERE plan = %s", (plan,)
        ).fetchall()
        units = self._units_of([row[0] for row in rows])
        return {
            task_id: (pk, common.TaskFields(
                group=group, content=content, units=units.get(pk, []), deadline=deadline,
                start=start.isoformat() if start else None, due=due.isoformat() if due else None,
            ))
            for pk, task_id, group, content, deadline, start, due in rows
        }

    def _rewrite_tasks(self, changes: Sequence[tuple[int, common.TaskFields]], unit_ids: dict[str, int], at: str) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(
                """UPDATE tasks SET group_name = %s, content = %s, deadline = %s,
                          start = %s, due = %s, updated_at = %s WHERE pk = %s""",
                [(*common.task_columns(fields), at, pk) for pk, fields in changes],
            )
        self.conn.execute("DELETE FROM task_units WHERE task = ANY(%s)", ([pk for pk, _ in changes],))
        self._insert_units(changes, unit_ids)

    def _sync_assignments(
        self, planned: dict[int, list[common.PlannedAssignment]], at: str, *, new: Container[int] = frozenset()
    ) -> dict[int, list[common.PlannedAssignment]]:
        """Make each task's assignments follow its planned list (common.plan_sync)."""
        current: dict[int, list[list[Any]]] = {}
        rows = self.conn.execute(
            """SELECT a.task, a.pk, a.unit, a.via, a.lead, a.vague, a.manual, a.status,
                      EXISTS (SELECT 1 FROM notes n WHERE n.assignment = a.pk AND n.retracted_at IS NULL)
               FROM assignments a WHERE a.task = ANY(%s) ORDER BY a.task, a.position""",
            ([pk for pk in planned if pk not in new],),
        )
        for task_pk, *row in rows:
            current.setdefault(task_pk, []).append(row)
        writes = common.plan_sync(planned, current, at, new=new)
        # Notes undo retracted are all that can be left on a removed one; their events keep every word.
        self.conn.execute("DELETE FROM notes WHERE assignment = ANY(%s)", (writes.removed,))
        self.conn.execute("DELETE FROM assignments WHERE pk = ANY(%s)", (writes.removed,))
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE assignments SET via = %s, lead = %s, vague = %s, position = %s, manual = false WHERE pk = %s",
                writes.updates,
            )
            cursor.executemany("UPDATE assignments SET position = %s, manual = true WHERE pk = %s", writes.moved)
            cursor.executemany(
                """INSERT INTO assignments (task, unit, via, lead, vague, position, status, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, 'todo', %s)""",
                writes.inserts,
            )
        self._rederive(writes.rederive)
        return writes.old_plans

    def _rederive(self, pks: Sequence[int]) -> None:
        """Set each task's status to the one its assignments give (models.derived_status)."""
        if not pks:
            return
        statuses: dict[int, list[Status]] = {}
        for task_pk, status in self.conn.execute("SELECT task, status FROM assignments WHERE task = ANY(%s)", (list(pks),)):
            statuses.setdefault(task_pk, []).append(Status(status))
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE tasks SET status = %s WHERE pk = %s AND status <> %s",
                [(status, pk, status) for status, pk in common.derived(statuses)],
            )

    def _insert_units(self, tasks: Sequence[tuple[int, common.TaskFields]], unit_ids: dict[str, int]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO task_units (task, unit, position) VALUES (%s, %s, %s)",
                [(pk, unit_ids[unit], position) for pk, fields in tasks for position, unit in enumerate(fields["units"])],
            )

    def _ensure_units(self, names: set[str]) -> dict[str, int]:
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO units (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", [(name,) for name in sorted(names)]
            )
        return dict(self.conn.execute("SELECT name, id FROM units").fetchall())

    def _next_id(self, table: str, key: str = "id") -> int:
        """The key SQLite would give the next row of `table`: one past the largest."""
        row = self.conn.execute(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}").fetchone()
        assert row is not None
        next_id: int = row[0]
        return next_id

    # -- history --------------------------------------------------------------------

    def _record(
        self, *, at: str, by: str, action: str, plan: str, task: int | None = None,
        before: Mapping[str, object] | None = None, after: Mapping[str, object] | None = None,
        undoes: int | None = None,
    ) -> int:
        """Append one event; always called inside the transaction that made the change."""
        (event_id,) = self._insert_events(
            [(at, by, action, plan, task, common.dump(before), common.dump(after), None)], undoes=undoes
        )
        return event_id

    def _insert_events(self, rows: Sequence[common.EventRow], *, undoes: int | None = None) -> list[int]:
        """Append events with the ids SQLite would give them; their ids. The text of each payload
        is stored as written (json keeps it verbatim), so `log` shows its keys in their order."""
        if not rows:
            return []
        first = self._next_id("events")
        ids = list(range(first, first + len(rows)))
        with self.conn.cursor() as cursor:
            cursor.executemany(
                """INSERT INTO events (id, at, "by", action, plan, task, before, after, key, undoes)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(event_id, *row, undoes) for event_id, row in zip(ids, rows, strict=True)],
            )
        return ids

    def _events_since(self, last_before: int) -> Commit | None:
        row = self.conn.execute(
            """SELECT min(id), max(id), count(*),
                      min((after ->> 'note')::bigint) FILTER (WHERE action IN ('note', 'status')),
                      max((after ->> 'note')::bigint) FILTER (WHERE action IN ('note', 'status'))
               FROM events WHERE id > %s""",
            (last_before,),
        ).fetchone()
        assert row is not None
        first, last, count, first_note, last_note = row
        return Commit(first, last, count, first_note, last_note) if count else None

    def adopt_history(self) -> None:
        """Count every event in the ledger as committed by this process: it created the ledger,
        and the first plan went in inside the transaction that made the schema."""
        with self._errors():
            written = self._events_since(0)
        if written is not None:
            self.commits.append(written)

    @_write
    def undo(self, event_id: int, *, at: str, by: str, plan: str | None = None, unit: str | None = None) -> Event:
        """Revert event `event_id`, which must still be the newest undoable change (of `plan`,
        of `unit`'s assignments), as `SQLiteStore.undo`."""
        found = self.last_undoable(plan, unit=unit)
        if found is None or found.id != event_id:
            raise NotNewest(event_id)
        _REVERTERS[found.action](self, found, at=at, by=by)
        undo_id = self._record(
            at=at, by=by, action="undo", plan=found.plan, task=found.task,
            before=found.after, after=found.before, undoes=found.id,
        )
        event = self.event(undo_id)
        assert event is not None
        return event

    def _revert_note(self, event: Event, *, at: str, by: str) -> None:
        """Retract the note and restore the status it changed (common.note_restore decides which)."""
        payload = event.payload
        assert isinstance(payload, NotePayload | StatusPayload)
        row = self.conn.execute(
            """SELECT n.task, n.retracted_at, t.status, n.assignment FROM notes n JOIN tasks t ON t.pk = n.task
               WHERE n.id = %s""",
            (payload.note,),
        ).fetchone()
        if row is None or row[1] is not None:
            raise common.out_of_step(event)
        task_pk, _, task_status, assignment = row
        units = self._assignment_states([task_pk])[task_pk]
        restore = common.note_restore(event, units, task_status)
        if isinstance(payload, StatusPayload):
            with self.conn.cursor() as cursor:
                cursor.executemany(
                    "UPDATE assignments SET status = %s, updated_at = %s WHERE pk = %s",
                    [(status, at, units[unit][0]) for unit, status in restore.items()],
                )
            if not restore:
                self.conn.execute("UPDATE tasks SET status = %s WHERE pk = %s", (payload.before.value, task_pk))
        elif assignment is not None:
            self.conn.execute("UPDATE assignments SET updated_at = %s WHERE pk = %s", (at, assignment))
        self.conn.execute("UPDATE notes SET retracted_at = %s, retracted_by = %s WHERE id = %s", (at, by, payload.note))
        self._rederive([task_pk])
        self.conn.execute("UPDATE tasks SET updated_at = %s WHERE pk = %s", (at, task_pk))

    def _revert_import(self, event: Event, *, at: str, by: str) -> None:
        """Put back replaced task texts and the plan row; remove the tasks and units the import added."""
        before, after = common.import_payload(event)
        current = self._snapshots(event.plan)
        old_plans = common.check_import_undo(event, current)
        if old_plans:
            common.check_planned_lists(event, current, self._planned_lists(list(old_plans)))
        replaced = before["tasks"]
        added = [current[int(key)][0] for key, old in replaced.items() if old is None]
        noted = [
            task_id for (task_id,) in self.conn.execute(
                """SELECT DISTINCT t.id FROM notes n JOIN tasks t ON t.pk = n.task
                   WHERE n.task = ANY(%s) AND n.retracted_at IS NULL ORDER BY t.id""",
                (added,),
            )
        ]
        if noted:
            raise AddedTasksHaveNotes(event.id, noted)
        # What is left on these tasks are notes earlier undos retracted; their note
        # events keep every word, so removing the rows loses nothing.
        for table, column in (("notes", "task"), ("assignments", "task"), ("task_units", "task"), ("tasks", "pk")):
            self.conn.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s)", (added,))
        unit_ids = self._ensure_units({unit for old in replaced.values() if old for unit in old["units"]})
        self._rewrite_tasks(
            [(current[int(key)][0], old) for key, old in replaced.items() if old is not None], unit_ids, at
        )
        self._sync_assignments(old_plans, at)
        self.conn.execute(
            """DELETE FROM units WHERE name = ANY(%s)
               AND NOT EXISTS (SELECT 1 FROM task_units tu WHERE tu.unit = units.id)""",
            (list(after.get("units", [])),),
        )
        if before["plan"] is None:
            self.conn.execute("DELETE FROM plans WHERE name = %s", (event.plan,))
        else:
            self.conn.execute(
                """UPDATE plans SET year = %(year)s, source = %(source)s, imported_at = %(imported_at)s
                   WHERE name = %(name)s""",
                {**before["plan"], "name": event.plan},
            )

    def _planned_lists(self, pks: Sequence[int]) -> dict[int, list[common.PlannedAssignment]]:
        found: dict[int, list[common.PlannedAssignment]] = {}
        rows = self.conn.execute(
            """SELECT task, pk, unit, via, lead, vague FROM assignments
               WHERE task = ANY(%s) AND NOT manual ORDER BY task, position""",
            (list(pks),),
        )
        for task_pk, *row in rows:
            found.setdefault(task_pk, []).append(common.planned_row(row))
        return found

    def _revert_assign(self, event: Event, *, at: str, by: str) -> None:
        """Take back the assignments `assign` added: still untouched, since undo goes newest first."""
        task_pk = self._task_pk(event)
        units = [row["unit"] for row in common.assignment_rows(event, event.after)]
        found = self.conn.execute(
            "SELECT pk FROM assignments WHERE task = %s AND unit = ANY(%s)", (task_pk, units)
        ).fetchall()
        if len(found) != len(units):
            raise common.out_of_step(event)
        self._drop_assignments([pk for (pk,) in found])
        self._rederive([task_pk])
        self.conn.execute("UPDATE tasks SET updated_at = %s WHERE pk = %s", (at, task_pk))

    def _revert_unassign(self, event: Event, *, at: str, by: str) -> None:
        """Put back the assignments `unassign` removed, as they were."""
        task_pk = self._task_pk(event)
        self._insert_assignment_rows(task_pk, common.assignment_rows(event, event.before))
        self._rederive([task_pk])
        self.conn.execute("UPDATE tasks SET updated_at = %s WHERE pk = %s", (at, task_pk))

    def _task_pk(self, event: Event) -> int:
        row = self.conn.execute("SELECT pk FROM tasks WHERE plan = %s AND id = %s", (event.plan, event.task)).fetchone()
        if row is None:
            raise common.out_of_step(event)
        pk: int = row[0]
        return pk

    def _drop_assignments(self, pks: Sequence[int]) -> None:
        # Only notes undo retracted can be left on them; their events keep every word.
        self.conn.execute("DELETE FROM notes WHERE assignment = ANY(%s)", (list(pks),))
        self.conn.execute("DELETE FROM assignments WHERE pk = ANY(%s)", (list(pks),))

    def _insert_assignment_rows(self, task_pk: int, rows: Sequence[common.AssignmentRow]) -> None:
        # Events keep SQLite's 0/1 flags; the columns here are booleans.
        with self.conn.cursor() as cursor:
            cursor.executemany(
                """INSERT INTO assignments (task, unit, via, lead, vague, manual, position, status, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(task_pk, row["unit"], row["via"], bool(row["lead"]), bool(row["vague"]), bool(row["manual"]),
                  row["position"], row["status"], row["updated_at"]) for row in rows],
            )

    # -- assignments ------------------------------------------------------------------

    @_write
    def expand_assignments(self, entries: Sequence[tuple[str, int, tuple[AssignmentInput, ...]]], *, at: str) -> None:
        """Give tasks from before assignments theirs, each with the task's status and time. No event."""
        with self.conn.cursor() as cursor:
            cursor.executemany(
                """INSERT INTO assignments (task, unit, via, lead, vague, position, status, updated_at)
                   SELECT t.pk, %(unit)s, %(via)s, %(lead)s, %(vague)s, %(position)s, t.status, t.updated_at
                   FROM tasks t WHERE t.plan = %(plan)s AND t.id = %(id)s""",
                [
                    {"plan": plan, "id": task_id, "unit": a.unit, "via": a.via, "lead": bool(a.lead),
                     "vague": bool(a.vague), "position": position}
                    for plan, task_id, planned in entries for position, a in enumerate(planned)
                ],
            )

    def _task_assignments(self, plan: str, task_id: int) -> tuple[int, str, dict[str, common.State]] | None:
        """A task's key, stored status and assignments by unit, for a change of its units; None if absent."""
        row = self.conn.execute("SELECT pk, status FROM tasks WHERE plan = %s AND id = %s", (plan, task_id)).fetchone()
        if row is None:
            return None
        task_pk, status = row
        return task_pk, status, self._assignment_states([task_pk])[task_pk]

    @_write
    def assign(
        self, plan: str, task_id: int, assignments: Sequence[AssignmentInput], *, at: str, by: str
    ) -> Event | None:
        """Add units to a task (the office's `assign`); None when the task does not exist."""
        found = self._task_assignments(plan, task_id)
        if found is None:
            return None
        task_pk, before, have = found
        taken = [a.unit for a in assignments if a.unit in have]
        if taken:
            raise AlreadyAssigned(task_id, taken)
        row = self.conn.execute(
            "SELECT coalesce(max(position), -1) + 1 FROM assignments WHERE task = %s", (task_pk,)
        ).fetchone()
        assert row is not None
        rows = common.new_assignment_rows(assignments, start=row[0], at=at)
        self._insert_assignment_rows(task_pk, rows)
        return self._assignment_event(task_pk, plan, task_id, "assign", before, at=at, by=by, after_rows=rows)

    @_write
    def unassign(self, plan: str, task_id: int, units: Sequence[str], *, at: str, by: str) -> Event | None:
        """Take units off a task (the office's `unassign`), as `SQLiteStore.unassign`."""
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
                """SELECT a.unit FROM assignments a WHERE a.task = %s AND a.unit = ANY(%s)
                   AND EXISTS (SELECT 1 FROM notes n WHERE n.assignment = a.pk AND n.retracted_at IS NULL)
                   ORDER BY a.position""",
                (task_pk, list(units)),
            )
        ]
        if noted:
            raise AssignmentHasNotes(task_id, noted)
        rows: list[common.AssignmentRow] = [
            {"unit": unit, "via": via, "lead": int(lead), "vague": int(vague), "manual": int(manual),
             "position": position, "status": status, "updated_at": _stamp(updated_at)}
            for unit, via, lead, vague, manual, position, status, updated_at in self.conn.execute(
                f"""SELECT {', '.join(common.ASSIGNMENT_ROW_COLUMNS)} FROM assignments
                    WHERE task = %s AND unit = ANY(%s) ORDER BY position""",
                (task_pk, list(units)),
            )
        ]
        self._drop_assignments([have[unit][0] for unit in units])
        return self._assignment_event(task_pk, plan, task_id, "unassign", before, at=at, by=by, before_rows=rows)

    def _assignment_event(
        self, task_pk: int, plan: str, task_id: int, action: str, before: str, *, at: str, by: str,
        after_rows: list[common.AssignmentRow] | None = None, before_rows: list[common.AssignmentRow] | None = None,
    ) -> Event:
        self._rederive([task_pk])
        row = self.conn.execute(
            "UPDATE tasks SET updated_at = %s WHERE pk = %s RETURNING status", (at, task_pk)
        ).fetchone()
        assert row is not None
        event_id = self._record(
            at=at, by=by, action=action, plan=plan, task=task_id,
            before={"status": before} | ({"assignments": before_rows} if before_rows else {}),
            after={"status": row[0]} | ({"assignments": after_rows} if after_rows else {}),
        )
        event = self.event(event_id)
        assert event is not None
        return event

    # -- maintenance ----------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What `check` can say of a server's ledger beyond what the server enforces itself:
        every migration applied, the history's append-only triggers in place and enabled,
        every constraint validated, and each note on an assignment of its own task."""
        with self._errors():
            found = [f"缺少结构迁移 {postgres_schema.name_of(migration)}"
                     for migration in postgres_schema.missing(postgres_schema.applied(self.conn))]
            enabled = {name for (name,) in self.conn.execute(
                """SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass('events') AND tgenabled <> 'D'"""
            )}
            found += [f"表 events 的触发器 {name} 缺失或已停用（历史记录不再受保护）"
                      for name in _APPEND_ONLY_TRIGGERS if name not in enabled]
            found += [f"表 {table} 的约束 {name} 未经验证" for table, name in self.conn.execute(
                """SELECT c.conrelid::regclass::text, c.conname FROM pg_constraint c
                   WHERE c.connamespace = to_regnamespace(%s) AND NOT c.convalidated ORDER BY 1, 2""",
                (postgres_schema.SCHEMA,),
            )]
            found += [f"表 notes 中 id 为 {note} 的进展记在另一任务的单位（assignments）上" for (note,) in self.conn.execute(
                """SELECT n.id FROM notes n JOIN assignments a ON a.pk = n.assignment
                   WHERE a.task <> n.task ORDER BY n.id"""
            )]
        return found

    def content_problems(self) -> list[str]:
        """Tasks whose stored status is not the one their assignments give (models.derived_status).
        Types, CHECK constraints and json keep every value readable, as SQLite's check has to ask."""
        found = []
        with self._errors():
            rows = self.conn.execute(
                """SELECT t.pk, t.status, array_agg(a.status) FROM tasks t JOIN assignments a ON a.task = t.pk
                   GROUP BY t.pk ORDER BY t.pk"""
            ).fetchall()
        for pk, status, statuses in rows:
            expected = derived_status(Status(value) for value in statuses)
            if status != expected.value:
                found.append(f"表 tasks 中 pk 为 {pk} 的行的 status 列与其各单位（assignments）的状态不一致，应为 {expected.value}")
        return found

    def copy_to(self, target: Path, *, shown_as: Path | None = None) -> None:
        _not_yet("备份和恢复")

    def replace_with(self, source: Self) -> None:
        _not_yet("备份和恢复")

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
_REVERTERS: dict[str, Callable[..., None]] = {
    "note": PostgresStore._revert_note,
    "status": PostgresStore._revert_note,
    "import": PostgresStore._revert_import,
    "assign": PostgresStore._revert_assign,
    "unassign": PostgresStore._revert_unassign,
}
# What m002_events_append_only puts on the history.
_APPEND_ONLY_TRIGGERS = ("events_no_update", "events_no_truncate")

# The identity keys a copy brings over, which must continue past the largest copied.
_IDENTITIES = (("tasks", "pk"), ("units", "id"), ("assignments", "pk"), ("events", "id"), ("notes", "id"))


def _portable(value: object) -> object:
    """A value as a SQLite ledger stores it (store/transfer.py): ISO text, 0/1 flags."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return _stamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _typed(column: str, value: object) -> object:
    # COPY takes text: ISO dates and timestamps with their offsets, and JSON, are read by the
    # server as its types whatever its TimeZone or DateStyle; 0/1 flags become booleans.
    if column in transfer.FLAGS and value is not None:
        return bool(value)
    return value


def _stamp(value: datetime) -> str:
    """A timestamp as the SQLite ledger writes it (dates.timestamp): ISO 8601 in the office's time zone."""
    return value.astimezone(dates.tz()).isoformat()


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
