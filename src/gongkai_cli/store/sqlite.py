"""The SQLite backend of `Storage`: with store/base.py (the SQL both backends share) and its
migrations, the only code that speaks SQL to SQLite.

An `SQLiteStore` owns one SQLite connection; queries and migrations use plain `sqlite3`.

Concurrency: WAL lets readers run beside one writer; every write runs inside
`BEGIN IMMEDIATE`, so a writer takes the write lock up front and waits (busy
timeout) instead of failing half-way through a read-then-write.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, NamedTuple, ParamSpec, TypeVar

from ..domain.errors import StoreError
from ..domain.records import Commit
from . import (
    BUSY_TIMEOUT_SECONDS,
    NotADatabase,
    NotALedger,
    UnitFile,
    base,
    migrations,
)
from .dialect import SQLITE
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
    if "disk is full" in text or ("disk i/o error" in text and _no_space_left(path)):
        # SQLite names a full disk "disk I/O error" when the WAL or its index cannot grow.
        return StoreError(
            f"磁盘已满：数据库“{path}”所在的磁盘没有剩余空间，本次未写入任何内容；请清理磁盘空间后重试。"
        )
    if ("readonly" in text or "read-only" in text or "unable to open" in text) and _read_only_mount(path):
        return StoreError(
            f"数据库“{path}”所在的文件系统是以只读方式挂载的，任何用户都不能写入它（这不是文件权限的问题）；"
            "请重新以读写方式挂载，或把数据库复制到可写的位置。"
        )
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


def _no_space_left(path: Path) -> bool:
    try:
        found = os.statvfs(Path(path).absolute().parent)
    except (OSError, AttributeError):
        return False
    return found.f_bavail == 0


def _read_only_mount(path: Path) -> bool:
    try:
        found = os.statvfs(Path(path).absolute().parent)
    except (OSError, AttributeError):
        return False
    return bool(found.f_flag & os.ST_RDONLY)


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
        with self._errors():
            return method(self, *args, **kwargs)

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


_FOREIGN = "“{path}”不是 gongkai 台账（它是其他程序的 SQLite 数据库），gongkai 没有改动它。"
_MAGIC = b"SQLite format 3\x00"


def _refuse_foreign(path: Path) -> None:
    """Refuse, from the file's first bytes and before SQLite opens it, a file that is not a ledger.

    Opening is not reading: SQLite replays another program's -wal or rolls back its hot
    -journal when it opens the file, and checkpoints the -wal when it closes it, so a file
    found foreign only once opened has been changed. The header says enough: gongkai's
    application id, or (ledgers from before it) a schema version gongkai used; anything
    else with tables in it, or with an unwritten log beside it, is left unopened.
    """
    if not path.exists():
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(100)
    except OSError as err:
        raise StoreError(f"无法读取数据库“{path}”：{err.strerror or err}。") from err
    if not head:
        return  # an empty file: made into a ledger where a command may create one
    if not head.startswith(_MAGIC) or len(head) < 100:
        raise StoreError(f"“{path}”不是有效的 gongkai 数据库：文件开头不是 SQLite 的文件头（可能已损坏，或指错了文件），"
                         "gongkai 没有改动它；台账损坏时可用 gongkai restore 从备份恢复。")
    application_id = int.from_bytes(head[68:72], "big")
    version = int.from_bytes(head[60:64], "big")
    if application_id == APPLICATION_ID or (application_id == 0 and version in _UNSTAMPED_VERSIONS):
        return
    if application_id != 0:
        raise StoreError(_FOREIGN.format(path=path))
    page = int.from_bytes(head[16:18], "big") or 65536  # 1 stands for 65536
    if path.stat().st_size > page:
        raise StoreError(_FOREIGN.format(path=path))  # a schema: more than the first page
    for suffix in ("-wal", "-journal"):
        log = Path(f"{path}{suffix}")
        if log.is_file() and log.stat().st_size > 0:
            _peek(path, log)


def _peek(path: Path, log: Path) -> None:
    """A first page that says nothing, with a log beside it: what the log holds decides, read
    through a read-only connection, which neither replays, rolls back nor checkpoints. Another
    gongkai process creating this ledger right now is seen as the empty file it still is."""
    index = Path(f"{path}-shm")
    had_index = index.exists()
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None)
        try:
            found = conn.execute(
                """SELECT (SELECT application_id FROM pragma_application_id),
                          (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)"""
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        found = None
    if found is not None and (found[0] == APPLICATION_ID or found == (0, 0, 0)):
        return
    if not had_index:
        # The read made the WAL's index; the other program's files are left as they were found.
        index.unlink(missing_ok=True)
    raise StoreError(
        f"“{path}”旁边有尚未写回的日志“{log.name}”（其他程序正在使用它，或曾在写入时中断），"
        "它不是 gongkai 台账；gongkai 没有改动它们。"
    )


# -- the store ----------------------------------------------------------------


# The default plan is the newest year; among plans of one year, the latest created.
class SQLiteStore(base.SQLStore[Path]):
    """SQLite storage for plans, tasks, units and notes."""

    sql = SQLITE

    def __init__(self, path: Path, conn: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_SECONDS):
        self.path = path
        self.conn = conn
        self.timeout = timeout
        # Every write transaction committed through this store that recorded a change; the
        # CLI reads it when a later step fails, to say the change was saved nonetheless.
        self.commits: list[Commit] = []

    @classmethod
    def _connected(cls, path: Path, *, create: bool, timeout: float) -> SQLiteStore:
        """A store on the file at `path`, not yet read (see `SQLStore.open`)."""
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"数据库路径“{path}”是一个目录，请指定文件。")
        _refuse_foreign(path)
        # mode=rw opens an existing file only: a check of a mistyped path creates nothing.
        target = str(path) if create else f"{path.absolute().as_uri()}?mode=rw"
        try:
            conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, uri=not create)
        except sqlite3.Error as err:
            raise _translate(path, err, timeout) from err
        return cls(path, conn, timeout)

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
        if not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
            # A read needs neither WAL nor a migration, and attempting them would fail.
            if header.empty:
                raise StoreError(f"“{self.path}”是空文件，当前用户无权在其中建立 gongkai 台账。")
            if header.version < SCHEMA_VERSION:
                who = ("但它所在的文件系统是以只读方式挂载的；请以读写方式挂载后运行一次 gongkai init"
                       if _read_only_mount(self.path) else
                       "但当前用户无权写入它或它所在的目录；请由有写权限的用户运行一次 gongkai init")
                raise StoreError(f"数据库“{self.path}”需要升级（结构版本 {header.version} → {SCHEMA_VERSION}），{who}。")
            return
        self._switch_to_wal()
        if not self._up_to_date(header):
            self._migrate(create=create, on_create=on_create, on_upgrade=on_upgrade)

    def _up_to_date(self, header: _Header) -> bool:
        # The names are read only when the version says current: that is the one extra query an open pays.
        return header.current and not migrations.missing(migrations.SQLiteBook(self.conn, header.version))

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
        raise StoreError(_FOREIGN.format(path=self.path))

    def _migrate(self, *, create: bool, on_create: Callable[[SQLiteStore], None] | None,
                 on_upgrade: Callable[[SQLiteStore, list[str]], None] | None = None) -> None:
        # An upgrade is not a change the user asked for: it is not reported as one.
        with self.transaction(history=False):
            # Another process may have created or migrated the ledger while we waited for the lock.
            header = self._header()
            self._recognise(header, create=create)
            if self._up_to_date(header):
                return
            applied = migrations.apply(migrations.SQLiteBook(
                self.conn, header.version, at=datetime.now(timezone.utc).isoformat(timespec="seconds")
            ))
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

    # -- what base.SQLStore asks of a backend ------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as err:
            raise _translate(self.path, err, self.timeout) from err

    def _write_transaction(self, work: Callable[[], _R]) -> _R:
        with self._errors(), self.transaction():
            return work()

    @contextlib.contextmanager
    def _read_snapshot(self) -> Iterator[None]:
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def _all(self, sql: str, params: base.Params = ()) -> list[_Row]:
        return self.conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: base.Params = ()) -> None:
        self.conn.execute(sql, params)

    def _many(self, sql: str, rows: Iterable[base.Params]) -> None:
        self.conn.executemany(sql, rows)

    def unit_file(self) -> UnitFile | None:
        """None: a file's ledger keeps no unit file inside; the office's is the units.csv beside
        it (usecases/session.py)."""
        return None

    # -- maintenance ------------------------------------------------------------

    # A file has no logins: no team (store/team.py).
    team = None

    @property
    def pages(self) -> SQLiteStore:
        """This store: a file is backed up and restored page for page."""
        return self

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
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if missing := migrations.missing(migrations.SQLiteBook(self.conn, version)):
                raise StoreError(
                    f"数据库“{self.path}”需要先升级（缺少 {missing[0].name}）才能复制："
                    "请先用本程序运行一次任意命令，例如 gongkai plans。"
                )
            counts = transfer.counts(self)
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
            transfer.refuse_content(transfer.counts(self))
            for table, columns in transfer.TABLES.items():
                quoted = ", ".join(f'"{column}"' for column in columns)
                self.conn.executemany(
                    f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(columns))})", source.rows(table)
                )
            return transfer.verify(source.counts, transfer.counts(self))

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
        from . import sqlite_check

        return self.problems() or sqlite_check.schema_problems(self.conn)

    @_db_errors
    def backup_contents(self) -> tuple[int, int, str | None]:
        """(tasks, live notes, time of the newest note) in this backup, for the confirmation."""
        tasks = self.conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        notes = self.conn.execute("SELECT count(*) FROM notes").fetchone()[0]
        # The newest as a moment: notes written under another GONGKAI_TZ carry another offset.
        found = self.conn.execute("SELECT at FROM notes ORDER BY julianday(at) DESC, id DESC LIMIT 1").fetchone()
        newest = found[0] if found else None
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
            size = self.conn.execute("PRAGMA page_size").fetchone()[0]
            other = source.conn.execute("PRAGMA page_size").fetchone()[0]
            if size != other:
                # SQLite cannot change the page size of a database in WAL mode; the exclusive lock
                # lets it leave WAL for the copy (a rollback journal keeps that one atomic) and return.
                self.conn.execute("PRAGMA journal_mode = DELETE")
                source.conn.backup(self.conn)
                self.conn.execute("PRAGMA journal_mode = WAL")
            else:
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
        """What the other commands would trip on although SQLite's own checks pass (store/sqlite_check.py)."""
        from . import sqlite_check

        # The schema first: the content checks read tables and columns it may lack.
        return sqlite_check.schema_problems(self.conn) or sqlite_check.content_problems(self.conn)
