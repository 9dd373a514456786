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

