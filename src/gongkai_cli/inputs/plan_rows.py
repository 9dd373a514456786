"""From (line, cells) records of any plan file to validated, filled-down task rows.

Every reader (CSV, xlsx, and the Word and PDF readers of documents.py) turns its file
into the same records; this module finds the header among them, cleans the text the
original document's line breaks left, fills merged cells down and checks each row, so
one validation, with line numbers, covers every format. It also holds the limits that
every reader shares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..domain.errors import UsageError
from ..domain.records import task_id_value
from ..domain.text import check_text
from .csvfiles import Column, map_header


@dataclass(frozen=True)
class Row:
    line: int
    id: int
    group: str
    content: str
    units: str
    deadline: str


@dataclass(frozen=True)
class PlanTable:
    rows: tuple[Row, ...]
    encoding: str  # the CSV text encoding, or the document format (xlsx, docx, pdf)
    path: str


class Header(NamedTuple):
    line: int
    columns: dict[str, int]  # field -> 0-based column index


# English header (also the Row field) -> Chinese header of the original table.
LABELS = {
    "id": "序号",
    "group": "任务名称",
    "content": "任务内容",
    "units": "责任单位",
    "deadline": "时间节点",
}
COLUMNS = tuple(Column(field, (field, label), required=True) for field, label in LABELS.items())
# Merged cells in the original cover these columns; an empty cell means "same as above".
_FILLED_DOWN = ("group", "units", "deadline")

# Real documents put a title row (and sometimes a blank or a subtitle) above the header.
HEADER_SEARCH_ROWS = 10

# A real plan table is tens of kilobytes. Far beyond that it is the wrong file, and
# reading it whole would only spend memory before failing.
MAX_FILE_BYTES = 20 * 1024 * 1024

# Task rows (the 2023 plan has 91; the benchmarks import 10,000).
MAX_ROWS = 20_000
# This many empty rows in a row end the table. What follows is only looked at for content,
# which refuses the file rather than leave rows behind unread: a sheet formatted down to row
# 1,048,576 costs about a second, and CSV readers skip blank lines in one search.
MAX_EMPTY_RUN = 100
# Excel's own limit for one cell.
MAX_CELL_CHARS = 32_767

_SPACE_RUN = re.compile(r"\s+")
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")

MB = 1024 * 1024

def clean_text(text: str) -> str:
    """Drop whitespace the original's line breaks left inside Chinese text.

    A run survives only between two ASCII letters/digits, where it separates
    words (``Word Excel``); anywhere else it is an artefact (``体 量大``).
    """
    text = text.strip()

    def keep_between_words(match: re.Match[str]) -> str:
        before, after = text[match.start() - 1], text[match.end()]
        if _ASCII_ALNUM.fullmatch(before) and _ASCII_ALNUM.fullmatch(after):
            return match.group()
        return ""

    # After strip() no run touches either end, so both neighbours exist.
    return _SPACE_RUN.sub(keep_between_words, text)

def check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UsageError(
            f"文件“{path}”有 {size / MB:.1f} MB，超过 {MAX_FILE_BYTES // MB} MB 的上限，不像是任务分解表。"
        )

# -- validation --------------------------------------------------------------------------


def plan_table(path: Path, records: Iterable[tuple[int, list[str]]], encoding: str) -> PlanTable:
    """The validated table from any reader's (line, cells) records, from the top of the document."""
    return PlanTable(rows=build_rows(records, f"文件“{path}”"), encoding=encoding, path=str(path))


def build_rows(
    records: Iterable[tuple[int, list[str]]], label: str, header: Header | None = None
) -> tuple[Row, ...]:
    """Validated rows from (line, cells) records; `label` names the file (and sheet) in messages.

    Without `header`, the records start above the header and it is looked for
    first. MAX_EMPTY_RUN empty rows end the table; a row with content after them
    is refused, never dropped.
    """
    records = iter(records)
    header = require_header(find_header(records) if header is None else header, label)
    rows: list[Row] = []
    seen: dict[int, int] = {}
    empty_run = 0
    for line, raw in records:
        if empty_run >= MAX_EMPTY_RUN:
            # any(raw) first: the rows below a table are mostly empty strings, and this runs for each.
            if any(raw) and any(raw[index].strip() for index in header.columns.values() if index < len(raw)):
                raise after_gap(label, line)
            continue
        values = {}
        for name, index in header.columns.items():
            cell = raw[index] if index < len(raw) else ""
            if len(cell) > MAX_CELL_CHARS:
                raise UsageError(
                    f"{label}第 {line} 行：{LABELS[name]}有 {len(cell)} 个字符，超过 {MAX_CELL_CHARS} 个字符的上限。"
                )
            values[name] = clean_text(cell)
        if not any(values.values()):
            empty_run += 1
            continue
        empty_run = 0
        if len(rows) == MAX_ROWS:
            raise UsageError(f"{label}超过 {MAX_ROWS} 行任务的上限，不像是任务分解表。")
        where = f"{label}第 {line} 行"
        for name, value in values.items():
            check_text(value, f"{where}“{LABELS[name]}”")
        task_id = _parse_id(values["id"], where)
        if task_id in seen:
            raise UsageError(f"{where}：序号“{task_id}”与第 {seen[task_id]} 行重复。")
        seen[task_id] = line
        if not values["content"]:
            raise UsageError(f"{where}：序号 {task_id} 的任务内容为空。")
        for name in _FILLED_DOWN:
            if values[name]:
                continue
            if not rows:
                raise UsageError(f"{where}：{LABELS[name]}为空，上方也没有可沿用的值。")
            values[name] = getattr(rows[-1], name)
        rows.append(
            Row(
                line=line,
                id=task_id,
                group=values["group"],
                content=values["content"],
                units=values["units"],
                deadline=values["deadline"],
            )
        )
    if not rows:
        raise UsageError(f"{label}没有任何任务。")
    return tuple(rows)


def after_gap(label: str, line: int) -> UsageError:
    """The refusal of a row that MAX_EMPTY_RUN or more empty rows part from the table above it."""
    return UsageError(
        f"{label}第 {line} 行还有内容，但它与上方的表格隔了 {MAX_EMPTY_RUN} 个以上的空行，"
        "连续的空行表示表格已结束；请删去中间的空行（或表格下方多余的内容）后再导入。"
    )


def require_header(header: Header | None, label: str) -> Header:
    if header is None:
        raise UsageError(f"{label}没有任何任务。")
    if not is_full(header):
        missing = [f"{name}（{field}）" for field, name in LABELS.items() if field not in header.columns]
        raise UsageError(f"{label}缺少列：{'、'.join(missing)}。")
    return header


def find_header(records: Iterator[tuple[int, list[str]]]) -> Header | None:
    """Consume records up to the header row and return it.

    Looks at the first HEADER_SEARCH_ROWS non-empty rows (and past no more than
    MAX_EMPTY_RUN empty ones). When none has every column, returns the best
    partial header (so the error can name what is missing); None when there is
    no non-empty row at all.
    """
    best: Header | None = None
    looked = empty_run = 0
    for line, raw in records:
        if not any(cell.strip() for cell in raw):
            empty_run += 1
            if empty_run == MAX_EMPTY_RUN:
                break
            continue
        empty_run = 0
        found = Header(line, map_header(raw, COLUMNS))
        if is_full(found):
            return found
        if best is None or len(found.columns) > len(best.columns):
            best = found
        looked += 1
        if looked == HEADER_SEARCH_ROWS:
            break
    return best


def is_full(header: Header | None) -> bool:
    return header is not None and len(header.columns) == len(COLUMNS)


def header_columns(cells: list[str]) -> dict[str, int] | None:
    """Each field's column if `cells` is a complete header row, else None."""
    found = map_header(cells, COLUMNS)
    return found if len(found) == len(COLUMNS) else None


def _parse_id(text: str, where: str) -> int:
    if not text:
        raise UsageError(f"{where}：序号为空。")
    value = task_id_value(text)
    if value is None:
        raise UsageError(f"{where}：序号“{text}”不是正整数（序号最多 9 位）。")
    return value
