"""The PostgreSQL backend of `Storage` (issue 13, under construction).

What works: connecting (every failure one Chinese line, exit 4), recognising a
ledger, and creating or upgrading its schema (store/postgres_schema.py) in one
transaction, with `on_create` and `on_upgrade` inside it as for SQLite. Every query
method still refuses with one line saying team mode is not finished, so that a
command against a server fails cleanly instead of half-working.

Imported only for a server URL: psycopg is an optional extra (`gongkai[postgres]`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import psycopg

from ..errors import StoreError
from ..models import Commit, Event, Note, Plan, Status, Task
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


def _not_yet() -> NoReturn:
    raise StoreError("PostgreSQL 台账尚不能执行这个命令：团队模式还在开发中，目前只能连接服务器并建立表结构。")


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

    # What follows is the rest of `Storage`, not yet written for PostgreSQL.

    def plans(self) -> list[Plan]:
        _not_yet()

    def plan(self, name: str | None = None, *, year: int | None = None) -> Plan | None:
        _not_yet()

    def plan_names(self) -> list[str]:
        _not_yet()

    def unit_names(self) -> list[str]:
        _not_yet()

    def unit_counts(self, plan: str, *, today: date) -> dict[str, UnitCounts]:
        _not_yet()

    def tasks(self, plan: str, query: TaskQuery, *, today: date) -> list[Task]:
        _not_yet()

    def task(self, plan: str, task_id: int, *, today: date) -> Task | None:
        _not_yet()

    def tasks_with_notes(self, plan: str, *, today: date) -> list[Task]:
        _not_yet()

    def existing_task_ids(self, plan: str, ids: Sequence[int]) -> set[int]:
        _not_yet()

    def open_assignments(self, plan: str, *, units: Sequence[str], due_before: date, today: date) -> list[Task]:
        _not_yet()

    def unassigned_tasks(self) -> list[tuple[str, int, tuple[str, ...]]]:
        _not_yet()

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

    def events(self, *, plan: str | None = None, task: int | None = None, since: date | None = None) -> list[Event]:
        _not_yet()

    def last_undoable(self, plan: str | None = None) -> Event | None:
        _not_yet()

    def event(self, event_id: int) -> Event | None:
        _not_yet()

    def undo(self, event_id: int, *, at: str, by: str, plan: str | None = None) -> Event:
        _not_yet()

    def copy_to(self, target: Path, *, shown_as: Path | None = None) -> None:
        _not_yet()

    def replace_with(self, source: Self) -> None:
        _not_yet()

    def problems(self) -> list[str]:
        _not_yet()

    def content_problems(self) -> list[str]:
        _not_yet()

    def backup_problems(self) -> list[str]:
        _not_yet()

    def backup_contents(self) -> tuple[int, int, str | None]:
        _not_yet()
