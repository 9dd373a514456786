"""Reading a batch of notes for `gongkai note --from FILE`: CSV or JSON lines.

A script that records ninety notes should pay one start-up and one transaction,
not ninety. Each record keeps its line number so that any error can name it.
Values are returned as typed; the ledger validates them.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

from ..domain.cells import unguard
from ..domain.errors import UsageError
from .csvfiles import Column, decode, lines_of, map_header, missing, sniff_delimiter

FIELDS = ("id", "text", "status", "count", "by", "key", "unit")
_LABELS = {"id": "序号", "text": "内容", "status": "状态", "count": "次数", "by": "记录人", "key": "键", "unit": "单位"}
# A clerk's sheet may say 进展 where ours says 内容.
_COLUMNS = tuple(
    Column(key, (key, label, "进展") if key == "text" else (key, label), required=key in ("id", "text"))
    for key, label in _LABELS.items()
)
MAX_BATCH_BYTES = 50 * 1024 * 1024
# Notes in one batch: one for every task of the largest plan, five times over. Every note
# costs about 25 µs and 1.5 KB to check and write, and the batch holds the write lock while it
# is written: 100,000 notes take 2.5 s and 160 MB; 2 million took 74 s and 2.3 GB.
MAX_BATCH_NOTES = 100_000


@dataclass(frozen=True)
class NoteLine:
    line: int
    values: dict[str, str | None]


def read_note_batch(data: bytes, source: str) -> list[NoteLine]:
    """Parse a batch: JSON lines if the first non-blank line starts with "{", else CSV with a header.

    A file with no records (blank, or a header alone) is an empty list: nothing to record is a success.
    """
    if len(data) > MAX_BATCH_BYTES:
        raise UsageError(f"“{source}”超过 {MAX_BATCH_BYTES // 2**20} MB，请分批导入。")
    text, _ = decode(data, f"“{source}”", save_as=" UTF-8 ")
    first = next((line for line in lines_of(text) if line.strip()), "")
    if not first:
        # An empty file (a script whose query found nothing) is an empty batch, not an error.
        return []
    return _json_lines(text, source) if first.lstrip().startswith("{") else _csv_lines(text, source)


def _json_lines(text: str, source: str) -> list[NoteLine]:
    lines: list[NoteLine] = []
    for number, raw in enumerate(lines_of(text), start=1):
        if not raw.strip():
            continue
        _check_count(lines, source)
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            raise UsageError(f"“{source}”第 {number} 行不是有效的 JSON：{err.msg}。") from None
        except RecursionError:
            raise UsageError(f"“{source}”第 {number} 行的 JSON 嵌套过深，进展记录应是一个平铺的对象。") from None
        if not isinstance(record, dict):
            raise UsageError(f"“{source}”第 {number} 行应是一个 JSON 对象，例如 {{\"id\": 40, \"text\": \"…\"}}。")
        unknown = sorted(set(record) - set(FIELDS))
        if unknown:
            raise UsageError(f"“{source}”第 {number} 行有未知的字段：{'、'.join(unknown)}；可用字段：{'、'.join(FIELDS)}。")
        values = {key: _as_text(record.get(key)) for key in FIELDS}
        for key, value in values.items():
            if value is not None and (surrogate := _lone_surrogate(value)):
                raise UsageError(
                    f"“{source}”第 {number} 行“{_LABELS[key]}”含有不成对的 UTF-16 代理项 U+{ord(surrogate):04X}，"
                    "不是有效的文字，整批未写入。"
                )
        lines.append(NoteLine(number, values))
    return lines


def _check_count(lines: list[NoteLine], source: str) -> None:
    if len(lines) == MAX_BATCH_NOTES:
        raise UsageError(f"“{source}”超过 {MAX_BATCH_NOTES} 条进展的上限，请分批导入；未写入任何记录。")


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    return str(value) if not isinstance(value, bool) else json.dumps(value)


def _lone_surrogate(text: str) -> str | None:
    # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 text (nor SQLite) can hold.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return text[err.start]
    return None


def _csv_lines(text: str, source: str) -> list[NoteLine]:
    reader = csv.reader(lines_of(text), delimiter=sniff_delimiter(text, _COLUMNS), strict=True)
    try:
        columns = map_header(next(reader, []), _COLUMNS)
        absent = [column.key for column in missing(columns, _COLUMNS)]
        if absent:
            raise UsageError(
                f"“{source}”第 1 行应为表头，至少包含 id 和 text 两列（可选 status、count、by），缺少：{'、'.join(absent)}。"
            )
        lines: list[NoteLine] = []
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                _check_count(lines, source)
                # A CSV saved from our exports carries the formula guard (see cells.py).
                values = {key: (unguard(cells[i]) if i < len(cells) and cells[i] != "" else None)
                          for key, i in columns.items()}
                lines.append(NoteLine(start, {key: values.get(key) for key in FIELDS}))
            start = reader.line_num + 1
        return lines
    except csv.Error:
        # csv's own words are English; the two ways a batch breaks it are these.
        raise UsageError(
            f"“{source}”第 {reader.line_num} 行不是有效的 CSV：可能是引号不成对，或有单元格超过 "
            f"{csv.field_size_limit()} 个字符。"
        ) from None
