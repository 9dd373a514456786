"""`gongkai check` of a SQLite ledger beyond SQLite's own checks: what the other commands would
trip on. Imported only by `check`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import date, datetime

from ..domain.statuses import Status, derived_status


def content_problems(conn: sqlite3.Connection) -> list[str]:
    """What the other commands would trip on although SQLite's own checks pass.

    Every value of every table is read as the bytes it holds and must be UTF-8
    (sqlite3 fails the whole query on one that is not); statuses, dates, times and
    history payloads must also be what the program parses them as. Values are never
    quoted: a damaged one is exactly what must not reach a terminal.
    """
    found = []
    tables = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name"
    ).fetchall()
    for table, sql in tables:
        columns = [row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]
        values = ", ".join(f'CAST("{column}" AS BLOB)' for column in columns)
        # A table without rowids is named by its row's position instead.
        key = "NULL" if "WITHOUT ROWID" in sql.upper() else "rowid"
        rows = conn.execute(f'SELECT {key}, {values} FROM "{table}" ORDER BY {key}')
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
    return found + _derived_status_problems(conn)


def _derived_status_problems(conn: sqlite3.Connection) -> list[str]:
    """Tasks whose stored status is not the one their assignments give (models.derived_status)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'assignments'").fetchone():
        return []
    found = []
    rows = conn.execute(
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



# -- the schema ---------------------------------------------------------------------------


def schema_problems(conn: sqlite3.Connection) -> list[str]:
    """Where the ledger's tables, columns, indexes and triggers differ from those its migrations
    make: what SQLite's own checks cannot see (a table or trigger dropped, a column missing) and
    every other command would trip on. The expectation is built, not kept: the migrations the
    ledger has had, applied to an empty database in memory."""
    from . import migrations

    version = conn.execute("PRAGMA user_version").fetchone()[0]
    try:
        had = set(migrations.SQLiteBook(conn, version).names())
    except sqlite3.DatabaseError:
        return ["数据表 migrations 无法读取"]
    expected = _expected(tuple(m.name for m in migrations.SQLITE_MIGRATIONS if m.name in had))
    found = _schema(conn)
    problems = []
    # Tables first: a missing table takes its indexes and triggers with it.
    for key, shape in sorted(expected.items(), key=lambda item: list(_KINDS).index(item[0][0])):
        kind, name = key
        if key not in found:
            problems.append(f"缺少{_KINDS[kind]} {name}")
        elif found[key] != shape:
            problems.append(f"{_KINDS[kind]} {name} 的定义与 gongkai 建立的不同")
    # An extra table or index changes no result; an extra trigger can refuse or alter any write.
    problems += [f"多出了触发器 {name}（不是 gongkai 建立的）"
                 for kind, name in found if kind == "trigger" and (kind, name) not in expected]
    return problems


_KINDS = {"table": "数据表", "index": "索引", "trigger": "触发器", "view": "视图"}


def _schema(conn: sqlite3.Connection) -> dict[tuple[str, str], object]:
    """Each table by its columns, each index and trigger by its statement (spacing aside)."""
    shapes: dict[tuple[str, str], object] = {}
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite%' AND name != 'migrations'"
    ).fetchall()
    for kind, name, table, sql in rows:
        if kind == "table":
            columns = conn.execute("SELECT name, upper(type), \"notnull\", dflt_value, pk FROM pragma_table_info(?)",
                                   (name,)).fetchall()
            shapes[(kind, name)] = (tuple(columns), "AUTOINCREMENT" in (sql or "").upper())
        else:
            shapes[(kind, name)] = (table, " ".join((sql or "").split()))
    return shapes


_EXPECTED: dict[tuple[str, ...], dict[tuple[str, str], object]] = {}


def _expected(names: tuple[str, ...]) -> dict[tuple[str, str], object]:
    if names not in _EXPECTED:
        from . import migrations

        empty = sqlite3.connect(":memory:", isolation_level=None)
        try:
            chosen = [m for m in migrations.SQLITE_MIGRATIONS if m.name in names]
            empty.execute("BEGIN")
            migrations.apply(migrations.SQLiteBook(empty, 0, at="1970-01-01T00:00:00+00:00"), chosen)
            empty.execute("COMMIT")
            _EXPECTED[names] = _schema(empty)
        finally:
            empty.close()
    return _EXPECTED[names]
