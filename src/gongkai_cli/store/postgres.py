"""The PostgreSQL backend of `Storage` (issue 13); units' roles and row-level security are store/postgres_roles.py.

Connecting (every failure one Chinese line, exit 4), recognising a ledger, and creating
or upgrading its schema (store/postgres_schema.py) in one transaction, with `on_create`
and `on_upgrade` inside it as for SQLite; every read and write of `Storage`, answering
as the SQLite store does (tests/test_postgres_reads.py, tests/test_postgres_writes.py):
those whose SQL is SQLite's too are store/base.py's, spelled through store/dialect.py, and
only what is PostgreSQL's own is here; `check`'s problems; and a whole ledger copied out and
in, key for key (`snapshot`, `load`: `gongkai copy`). Backup and restore stay SQLite's (pg_dump does a server's).

Writes take turns under one transaction-scoped advisory lock (WRITE_LOCK), as SQLite's
writers do under BEGIN IMMEDIATE; see `_write_transaction`.

Timestamps are `timestamptz` and are shown, as the SQLite ledger stores them, in ISO
8601 in the office's time zone (dates.tz()), whatever the server's TimeZone.

Imported only for a server URL: psycopg is an optional extra (`gongkai[postgres]`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import psycopg

from ..domain.errors import NotPermitted, StoreError
from ..domain.records import Commit, Event, NotePayload, StatusPayload
from ..domain.statuses import Status, derived_status
from . import (
    BUSY_TIMEOUT_SECONDS,
    BadServerURL,
    Hand,
    ServerURL,
    UnitFile,
    base,
    common,
    login_name,
    migrations,
    postgres_schema,
    transfer,
)
from .dialect import POSTGRES, stamp_text
from .history import History

if TYPE_CHECKING:
    from .team import Team

# How long to wait for a server that does not answer; libpq would wait for ever.
CONNECT_TIMEOUT_SECONDS = 10
# How long one statement may run where the server sets no limit of its own (a unit's login has
# 60 s, `server grant`): a stalled server session ends the command instead of hanging it.
STATEMENT_TIMEOUT_SECONDS = 300


# -- errors -------------------------------------------------------------------


def _reason(err: psycopg.Error) -> str:
    """libpq's own words without its framing: `connection to server … failed: FATAL:  <this>`."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = text.rsplit(" failed: ", 1)[-1]
    for prefix in ("FATAL:", "ERROR:"):
        text = text.removeprefix(prefix).strip()
    return text


def _connection_error(url: ServerURL, err: psycopg.Error, given: dict[str, Any]) -> StoreError | NotPermitted:
    """`given`: the connection parameters the URL names (libpq's defaults fill in the rest)."""
    reason = _reason(err)
    lowered = reason.lower()
    if "permission denied for database" in lowered:
        # `server init` gives CONNECT to the ledger's roles only (store/postgres_roles.py).
        return NotPermitted(
            f"账号“{given.get('user') or login_name()}”不能连接台账数据库“{url}”：它不是这个台账的单位账号或办公室账号"
            "（由台账所有者用 gongkai server grant 授权），或权限已被收回；请联系公开办。"
        )
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
            f"无法登录 PostgreSQL 数据库“{url}”：服务器上没有登录角色“{given.get('user') or login_name()}”，请向数据库管理员确认用户名。"
        )
    if "timeout expired" in lowered:
        return StoreError(
            f"无法连接 PostgreSQL 数据库“{url}”：连接超时，服务器 {given.get('connect_timeout') or CONNECT_TIMEOUT_SECONDS} "
            "秒内没有应答（connect_timeout）；请检查服务器是否运行、地址和端口是否正确、网络是否通畅。"
        )
    if any(sign in lowered for sign in (
        "no such file", "connection refused", "failed to resolve host", "could not translate host",
        "network is unreachable", "no route to host", "server closed the connection",
    )):
        return StoreError(
            f"无法连接 PostgreSQL 数据库“{url}”：服务器没有响应（未运行，或地址、端口不对）。"
        )
    return StoreError(f"无法连接 PostgreSQL 数据库“{url}”：{reason}")


def _error(url: ServerURL, err: psycopg.Error, timeout: float) -> StoreError | NotPermitted:
    """A failure after connecting, as one line naming the database."""
    if isinstance(err, psycopg.errors.InsufficientPrivilege):
        # A grant missing or a row-level security policy refusing (store/postgres_roles.py):
        # the server's own reason, since it alone knows which rule it applied.
        return NotPermitted(f"账号“{_user(url)}”没有这样做的权限（服务器拒绝：{_reason(err)}）；未做任何更改。")
    if isinstance(err, psycopg.errors.QueryCanceled) and "statement timeout" in str(err):
        return StoreError(
            f"数据库“{url}”上的一条语句超过了语句时限（statement_timeout：单位账号 60 秒，其他账号默认 "
            f"{STATEMENT_TIMEOUT_SECONDS} 秒），被服务器取消，本次操作没有写入任何内容；请稍后重试，或请数据库管理员检查服务器负载。"
        )
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

    return str(conninfo_to_dict(url.url).get("user") or login_name())


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


# -- the store ----------------------------------------------------------------


class PostgresStore(base.SQLStore[ServerURL]):
    """A ledger in a PostgreSQL database: one connection, in autocommit mode outside
    the explicit transactions (`conn.transaction()`) that every write runs in."""

    def __init__(self, url: ServerURL, conn: psycopg.Connection[tuple[Any, ...]], timeout: float = BUSY_TIMEOUT_SECONDS):
        self.url = url
        self.conn = conn
        self.timeout = timeout
        self.commits: list[Commit] = []
        self._writing = False  # inside a write transaction: errors go to it unchanged

    sql = POSTGRES

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
            # Only where the login has no limit: a unit's 60 s stays.
            conn.execute("SELECT set_config('statement_timeout', %s, false) WHERE current_setting('statement_timeout') = '0'",
                         (f"{STATEMENT_TIMEOUT_SECONDS * 1000}ms",))
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
    def _connected(cls, url: ServerURL, *, create: bool, timeout: float) -> PostgresStore:
        """A store on the database `url` names, its `gongkai` schema not yet looked at."""
        return cls(url, cls.connect(url, timeout), timeout)

    def _prepare(
        self, *, create: bool, upgrade: bool, on_create: Callable[[PostgresStore], None] | None,
        on_upgrade: Callable[[PostgresStore, list[str]], None] | None,
    ) -> None:
        with self._errors():
            if postgres_schema.exists(self.conn):
                self._refuse_newer()
                if not upgrade or not migrations.missing(migrations.PostgresBook(self.conn)):
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
                        self._refuse_newer()
                        self._refuse_upgrade_by_other()
                    applied = migrations.apply(migrations.PostgresBook(self.conn))
                    if new and on_create is not None:
                        on_create(self)
                    elif applied and not new and on_upgrade is not None:
                        on_upgrade(self, applied)
            finally:
                # A connection that broke took its lock with it; the error that broke it is the one to report.
                with contextlib.suppress(psycopg.Error):
                    self.conn.execute("SELECT pg_advisory_unlock(%s)", (postgres_schema.SCHEMA_LOCK,))

    def _refuse_upgrade_by_other(self) -> None:
        # Only the tables' owner may change them: a unit's or the office's login that meets a
        # ledger the release has new migrations for says who must open it first.
        names = [migration.name for migration in migrations.missing(migrations.PostgresBook(self.conn))]
        if names and not postgres_schema.owned(self.conn):
            raise StoreError(
                f"数据库“{self.url}”的台账需要升级（{'、'.join(names)}），只有表的所有者能升级："
                "请所有者先用本程序运行一次任意命令，例如 gongkai plans。"
            )

    def _refuse_newer(self) -> None:
        if newer := migrations.unknown(migrations.PostgresBook(self.conn)):
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

    def _write_transaction(self, work: Callable[[], _R]) -> _R:
        """`work` as one transaction under WRITE_LOCK, all of it or none of it, with the events
        it committed noted in `commits`. A serialization failure or deadlock (SQLSTATE 40001,
        40P01) rolls it back and runs it again, a few times, so a user never sees one; any other
        error is one line, exit 4. Inside another write (or the transaction that creates the
        schema), `work` is simply part of that transaction."""
        if self._writing or self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            if not self._writing:
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            return work()
        attempt = 1
        while True:
            try:
                return self._transaction(work)
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

    # -- what only a server's ledger does ------------------------------------------

    # Backup and restore copy a file page for page; a server's ledger has `gongkai copy` and pg_dump.
    pages = None

    @property
    def team(self) -> Team:
        """Logins, roles and the stored unit file (store/team.py)."""
        from .team import Team

        return Team(self)

    # -- what base.SQLStore asks of a backend ------------------------------------------

    def administer(self, work: Callable[[psycopg.Connection[tuple[Any, ...]]], _R]) -> _R:
        """`work` on this connection as a write (`_write_transaction`): `gongkai server init`,
        `grant` and `revoke` change roles, grants and policies. Those take ACCESS EXCLUSIVE locks
        on the ledger's tables and write the server's shared catalogs, so they take turns with
        gongkai's writers here, and a deadlock with a client that does not (psql, or a ledger in
        another database of the same server) is run again rather than shown."""
        return self._write_transaction(lambda: work(self.conn))

    @contextlib.contextmanager
    def _read_snapshot(self) -> Iterator[None]:
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield

    def _all(self, sql: str, params: base.Params = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: base.Params = ()) -> None:
        self.conn.execute(sql, params)

    def _many(self, sql: str, rows: Iterable[base.Params]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(sql, rows)

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
                if missing := migrations.missing(migrations.PostgresBook(self.conn)):
                    raise StoreError(
                        f"数据库“{self.url}”需要先升级（缺少 {missing[0].name}）才能复制："
                        "请先用本程序运行一次任意命令，例如 gongkai plans。"
                    )
                counts = transfer.counts(self)
                unit_file = self.unit_file()
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    self.conn.execute("ROLLBACK")
                raise
        try:
            yield transfer.Snapshot(counts, self._rows, unit_file)
        finally:
            # Only read: ending the transaction either way releases the snapshot.
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")

    def _rows(self, table: str) -> Iterator[tuple[object, ...]]:
        # Payloads as jsonb prints them: the same JSON as written, not necessarily the same text
        # (key order, spacing; postgres_schema's docstring).
        columns = ", ".join(f'"{column}"::text' if column in transfer.PAYLOADS else f'"{column}"'
                            for column in transfer.TABLES[table])
        # Raised here, as this database's: the rows are read while another database is written.
        with self._errors(), self.conn.cursor(name=f"gongkai_copy_{table}") as cursor:
            # A server-side cursor: a million notes pass through, never all in memory at once.
            cursor.itersize = 2000
            cursor.execute(f"SELECT {columns} FROM {table} ORDER BY {transfer.ORDER[table]}")
            for row in cursor:
                yield tuple(_portable(value) for value in row)

    @base.writes
    def load(self, source: transfer.Snapshot, *, analyse: bool = True) -> dict[str, int]:
        """Fill this empty ledger with `source`, keys and all, in one transaction (the caller's,
        when it is creating the ledger); the identities then continue past the keys copied.
        The rows written per table, once they are counted to be the source's
        (transfer.CountsDiffer otherwise, and nothing is kept). `analyse`: gather the planner's
        statistics of what was loaded."""
        transfer.refuse_content(transfer.counts(self))
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
        if source.unit_file is not None:
            self._put_unit_file(source.unit_file)
        # Until autovacuum next looks (a minute or more), the planner would know nothing of the rows
        # just loaded: on the benchmark city, `remind --by-unit` took 2.4 s right after the copy and
        # 0.19 s once analysed. Sampling every table took 1.2 s there, against a 33 s copy.
        if analyse:
            self.conn.execute(f"ANALYZE {', '.join(transfer.TABLES)}")
        return transfer.verify(source.counts, transfer.counts(self))

    def copy_from_sqlite(self, source: Path) -> None:
        """Fill this empty ledger with everything of the SQLite ledger `source` (`load`): the
        tests' way of putting the same ledger in both backends."""
        from .sqlite import SQLiteStore

        reader = SQLiteStore.open_backup(source)
        try:
            with reader.snapshot() as snapshot:
                # Not analysed: tests/test_postgres_query_plans.py judges each read's shape by the
                # planner's defaults, which a small ledger's own statistics (four plans, every task
                # naming 区财政局) would turn into whole-index walks that a city never sees.
                self.load(snapshot, analyse=False)
        except transfer.NotEmpty:
            raise StoreError(f"数据库“{self.url}”中已有台账内容，不能再复制进去。") from None
        finally:
            reader.close()

    # -- the office's unit file -----------------------------------------------------

    def unit_file(self) -> UnitFile | None:
        """The unit file the office stored in this ledger (`gongkai server units`); None: none yet."""
        with self._errors():
            try:
                row = self.conn.execute("SELECT name, text, stored_at, stored_by FROM unit_file").fetchone()
            except psycopg.errors.UndefinedTable:
                # A ledger older than m004, opened without upgrading it (check, copy): none stored.
                return None
        return UnitFile(row[0], row[1], stamp_text(row[2]), row[3]) if row else None

    @base.writes
    def store_unit_file(self, unit_file: UnitFile) -> None:
        """Keep `unit_file` as the ledger's unit file, in place of the one stored before."""
        self._put_unit_file(unit_file)

    def _put_unit_file(self, unit_file: UnitFile) -> None:
        self.conn.execute(
            """INSERT INTO unit_file (name, text, stored_at, stored_by) VALUES (%s, %s, %s, %s)
               ON CONFLICT (one) DO UPDATE SET name = excluded.name, text = excluded.text,
                   stored_at = excluded.stored_at, stored_by = excluded.stored_by""",
            unit_file,
        )

    # -- history ------------------------------------------------------------------

    history: base.SubjectAttribute[PostgresHistory] = base.SubjectAttribute("postgres", "PostgresHistory")

    # -- maintenance ----------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What `check` can say of a server's ledger beyond what the server enforces itself:
        every migration applied, the history's append-only triggers in place and enabled,
        every constraint validated, each note on an assignment of its own task, and, once
        `server init` has run, its row-level security, policies and grants (postgres_roles)."""
        from . import postgres_roles

        with self._errors():
            found = [f"缺少结构迁移 {migration.name}" for migration in migrations.missing(migrations.PostgresBook(self.conn))]
            enabled = {name for (name,) in self.conn.execute(
                """SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass('events') AND tgenabled <> 'D'"""
            )}
            found += [f"表 events 的触发器 {name} 缺失或已停用（历史记录不再受保护）"
                      for name in _APPEND_ONLY_TRIGGERS if name not in enabled]
            found += self._smuggled()
            found += [f"表 {table} 的约束 {name} 未经验证（其中有违反它的行；处理完它们后，表的所有者可在 psql 中运行 "
                      f"ALTER TABLE gongkai.{table} VALIDATE CONSTRAINT {name};）" for table, name in self.conn.execute(
                """SELECT c.conrelid::regclass::text, c.conname FROM pg_constraint c
                   WHERE c.connamespace = to_regnamespace(%s) AND NOT c.convalidated ORDER BY 1, 2""",
                (postgres_schema.SCHEMA,),
            )]
            found += [f"表 notes 中 id 为 {note} 的进展记在另一任务的单位（assignments）上" for (note,) in self.conn.execute(
                """SELECT n.id FROM notes n JOIN assignments a ON a.pk = n.assignment
                   WHERE a.task <> n.task ORDER BY n.id"""
            )]
            found += postgres_roles.problems(self.conn)
        return found

    def _smuggled(self) -> list[str]:
        """Rows a login wrote around gongkai before m011_server_stamped made the server stamp and
        check them (issue 25), each with what the tables' owner runs to put it right
        (docs/team.md, "check 的发现"): notes no event names, notes over the size limit, event
        ids that skip (every later write would need the id after them), and note or status
        events that do not say what their note holds."""
        found: list[str] = []
        named = """SELECT DISTINCT (after ->> 'note')::bigint AS id FROM events
                   WHERE action IN ('note', 'status') AND after ->> 'note' ~ '^[0-9]{1,18}$'"""
        # Notes from before the ledger had a history have none; they are older than the first noted one.
        # A retracted one is hidden already: what the owner runs to put it right.
        found += [f"进展 #{note} 没有对应的历史记录（可能是绕过 gongkai 写入的），log 与 undo 都看不到它；"
                  f"表的所有者可在 psql 中运行 {_retract(note)} 将它撤下"
                  for (note,) in self.conn.execute(
                      f"""WITH named AS ({named})
                          SELECT n.id FROM notes n WHERE n.id > (SELECT min(id) FROM named)
                          AND n.id NOT IN (SELECT id FROM named) AND n.retracted_at IS NULL ORDER BY n.id""")]
        found += [f"进展 #{note} 的内容超过 {postgres_schema.MAX_NOTE_BYTES} 字节（{size} 字节），"
                  "显示和报告它的命令会很慢；表的所有者可在 psql 中运行 "
                  f"UPDATE gongkai.notes SET text = left(text, 1000) WHERE id = {note}; 截短它，"
                  "再运行 ALTER TABLE gongkai.notes VALIDATE CONSTRAINT notes_text_size;"
                  for note, size in self.conn.execute(
                      "SELECT id, octet_length(text) FROM notes WHERE octet_length(text) > %s ORDER BY id",
                      (postgres_schema.MAX_NOTE_BYTES,))]
        found += [f"历史记录 #{event} 的编号不连续（前一条是 #{previous}），可能是绕过 gongkai 写入的，"
                  f"此后各账号的写入可能全部失败；表的所有者可在 psql 中运行 {_remove_event(event)}"
                  for event, previous in self.conn.execute(
                      """SELECT id, prev FROM (SELECT id, coalesce(lag(id) OVER (ORDER BY id), 0) AS prev FROM events) s
                         WHERE id > prev + 1 ORDER BY id""")]
        notes = {int(note): common.NotedRow(*row) for note, *row in self.conn.execute(
            f"""WITH named AS ({named})
                SELECT n.id, t.plan, t.id, n.text, n.status, n.count, a.unit FROM notes n
                JOIN tasks t ON t.pk = n.task LEFT JOIN assignments a ON a.pk = n.assignment
                WHERE n.id IN (SELECT id FROM named)""")}
        # An unassign, an undone import or a new one may remove a plan's notes: an event's note
        # is missing without cause only when no such change of its plan came after it.
        removals = dict(self.conn.execute(
            "SELECT plan, max(id) FROM events WHERE action IN ('unassign', 'undo', 'import') GROUP BY plan"))
        for event in self.history._events_where(["e.action IN ('note', 'status')"], {}):
            payload = event.payload
            assert isinstance(payload, NotePayload | StatusPayload)
            noted = notes.get(payload.note)
            if noted is None and event.id > removals.get(event.plan, 0):
                found.append(f"历史记录 #{event.id} 说写了进展 #{payload.note}，台账中却没有这条进展，"
                             f"可能是绕过 gongkai 写入的，撤销它会失败；表的所有者可在 psql 中运行 {_remove_event(event.id)}")
            elif noted is not None and (differs := common.note_event_differences(event, noted)):
                found.append(f"历史记录 #{event.id} 与它所说的进展 #{payload.note} 不符（{'、'.join(differs)}），"
                             f"可能是绕过 gongkai 写入的，撤销它会被拒绝；表的所有者可在 psql 中运行 {_remove_event(event.id)}")
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


class PostgresHistory(History):
    """A server ledger's history, where a unit's login may undo only its own notes."""

    def last_undoable(
        self, plan: str | None = None, *, hand: Hand | None = None, unit: str | None = None
    ) -> Event | None:
        """The newest change that no undo has reverted yet, of one plan or of the whole ledger
        (of `hand`'s own); with `unit`, the newest note or status change on that unit's
        assignments (what a unit login may undo, store/postgres_roles.py)."""
        if unit is None:
            return super().last_undoable(plan, hand=hand)
        with self.db._errors():
            return self._newest_undoable(
                plan, ["e.action IN ('note', 'status') AND note_unit((e.after ->> 'note')::bigint, e.plan, e.task) = %(unit)s"],
                {"unit": unit},
            )

    @base.writes
    def undo(
        self, event_id: int, *, at: str, by: str, plan: str | None = None, hand: Hand | None = None,
        named: bool = False, unit: str | None = None,
    ) -> list[Event]:
        """Revert event `event_id` and the rest of its batch, as `History.undo`; with `unit`, it
        must be the newest change on that unit's assignments."""
        if unit is None:
            return super().undo(event_id, at=at, by=by, plan=plan, hand=hand, named=named)
        return self._undo_step(event_id, self.last_undoable(plan, unit=unit), at=at, by=by)


# -- query pieces -------------------------------------------------------------


def _retract(note: int) -> str:
    return f"UPDATE gongkai.notes SET retracted_at = now(), retracted_by = '公开办' WHERE id = {note};"


def _remove_event(event: int) -> str:
    # The history is append-only for its owner too (m002): the trigger is set aside for the one
    # statement, in one transaction, and an undo that names the event goes with it.
    return ("BEGIN; ALTER TABLE gongkai.events DISABLE TRIGGER events_no_update; "
            f"DELETE FROM gongkai.events WHERE undoes = {event}; DELETE FROM gongkai.events WHERE id = {event}; "
            "ALTER TABLE gongkai.events ENABLE TRIGGER events_no_update; COMMIT;")


# What m002_events_append_only puts on the history.
_APPEND_ONLY_TRIGGERS = ("events_no_update", "events_no_truncate")

# The identity keys a copy brings over, which must continue past the largest copied.
_IDENTITIES = (("tasks", "pk"), ("units", "id"), ("assignments", "pk"), ("events", "id"), ("notes", "id"))


def _portable(value: object) -> object:
    """A value as a SQLite ledger stores it (store/transfer.py): ISO text, 0/1 flags."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return stamp_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _typed(column: str, value: object) -> object:
    # COPY takes text: ISO dates and timestamps with their offsets, and JSON, are read by the
    # server as its types whatever its TimeZone or DateStyle; 0/1 flags become booleans.
    if column in transfer.FLAGS and value is not None:
        return bool(value)
    return value


