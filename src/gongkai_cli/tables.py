"""Reading a plan table (任务分解表) into validated, filled-down rows.

The office keeps the plan in Excel, so files arrive either as the workbook
itself (.xlsx, with merged cells and a title row above the header) or as CSV in
UTF-8 (with or without BOM) or in GBK/GB18030, with merged cells exported as
empty cells and line breaks of the original document left as stray spaces
inside Chinese text. Both kinds become the same (line, cells) records, so one
validation covers them.
"""

from __future__ import annotations

import csv
import datetime
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .text import check_text


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
    encoding: str  # the CSV text encoding, or "xlsx" for a workbook
    path: str


# English header (also the Row field) -> Chinese header of the original table.
_COLUMNS = {
    "id": "序号",
    "group": "任务名称",
    "content": "任务内容",
    "units": "责任单位",
    "deadline": "时间节点",
}
# Merged cells in the original cover these columns; an empty cell means "same as above".
_FILLED_DOWN = ("group", "units", "deadline")
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
# Real documents put a title row (and sometimes a blank or a subtitle) above the header.
HEADER_SEARCH_ROWS = 10
# A real plan table is tens of kilobytes. Far beyond that it is the wrong file, and
# reading it whole would only spend memory before failing.
MAX_FILE_BYTES = 20 * 1024 * 1024

_SPACE_RUN = re.compile(r"\s+")
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")
_POSITIVE_INT = re.compile(r"[0-9]+")


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


def read_plan_table(path: str | os.PathLike) -> PlanTable:
    """Read, clean, fill down and validate a plan table; UsageError on any defect."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"“{path}”是目录，不是文件。")
    if not path.exists():
        raise UsageError(f"找不到文件“{path}”。")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise UsageError(
            f"无法直接读取旧版 Excel 文件“{path}”（.xls），请在 Excel 或 WPS 中另存为 .xlsx 或“CSV UTF-8”后再导入。"
        )
    if suffix in _XLSX_SUFFIXES:
        _check_size(path)
        return _read_xlsx(path)
    try:
        data = _read_limited(path)
    except OSError as exc:
        raise UsageError(f"无法读取文件“{path}”：{exc.strerror}。") from exc
    text, encoding = _decode(data, path)
    rows = _build_rows(_csv_records(text, path), f"文件“{path}”")
    return PlanTable(rows=rows, encoding=encoding, path=str(path))


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES / 2**20:g} MB"
        raise UsageError(f"文件“{path}”有 {size / 2**20:.1f} MB，超过 {limit} 的上限，不像是任务分解表。")


def _read_limited(path: Path) -> bytes:
    limit = f"{MAX_FILE_BYTES / 2**20:g} MB"
    _check_size(path)
    with path.open("rb") as handle:
        # Pipes and devices report no size, and a file can grow while it is read.
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"文件“{path}”超过 {limit} 的上限，不像是任务分解表。")
    return data


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ("utf-8-sig",)
    else:
        # GB18030 is a superset of GBK, which is what Excel on Chinese Windows writes.
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UsageError(f"文件“{path}”既不是 UTF-8 也不是 GBK/GB18030 编码，请另存为“CSV UTF-8”后再导入。")


def _csv_records(text: str, path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, cells) per record, as `_sheet_records` does for a worksheet."""
    nul = text.find("\0")
    if nul >= 0:
        # NUL means a binary file or UTF-16 text that happened to decode as UTF-8.
        line = text.count("\n", 0, nul) + 1
        raise UsageError(f"文件“{path}”第 {line} 行含有空字符（NUL），不是文本格式的 CSV，请另存为“CSV UTF-8”后再导入。")
    # strict: an unclosed quote must fail loudly instead of swallowing the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UsageError(f"文件“{path}”第 {start} 行起 CSV 格式有误（{exc}），请检查引号是否成对。") from exc
        yield start, cells
        start = reader.line_num + 1


def _read_xlsx(path: Path) -> PlanTable:
    sheets = _xlsx_sheets(path)
    if not sheets:
        raise UsageError(f"文件“{path}”没有任何工作表。")
    # The first sheet with a recognisable header; else the first sheet, whose errors then explain what is missing.
    title, records = next(
        ((title, records) for title, records in sheets if _is_full(_find_header(iter(records)))), sheets[0]
    )
    label = f"文件“{path}”工作表“{title}”" if len(sheets) > 1 else f"文件“{path}”"
    return PlanTable(rows=_build_rows(records, label), encoding="xlsx", path=str(path))


def _xlsx_sheets(path: Path) -> list[tuple[str, list[tuple[int, list[str]]]]]:
    """(title, records) of every worksheet, in workbook order."""
    import warnings

    import openpyxl

    try:
        # Not read_only: only a fully loaded worksheet knows its merged cells, and
        # the plan tables always have them; the files are a few hundred rows at most.
        with warnings.catch_warnings():
            # Files saved by WPS or older Excel make openpyxl warn about styles and
            # extensions it skips; none of that matters for reading cell values.
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(path, data_only=True)
    except OSError as exc:
        raise UsageError(f"无法读取文件“{path}”：{exc.strerror}。") from exc
    except Exception as exc:
        # A file that is not a workbook fails deep inside openpyxl with whatever the
        # zip or XML layer raised (BadZipFile, KeyError, ParseError, ValueError…).
        raise UsageError(
            f"文件“{path}”不是有效的 Excel 工作簿（.xlsx），请在 Excel 或 WPS 中重新另存为 .xlsx 后再导入。"
        ) from exc
    try:
        return [(sheet.title, _sheet_records(sheet)) for sheet in workbook.worksheets]
    finally:
        workbook.close()


def _sheet_records(sheet) -> list[tuple[int, list[str]]]:
    """(Excel row number, cells) per row; a merged range's value applies to every row it spans."""
    spans: dict[tuple[int, int], object] = {}
    for merged in sheet.merged_cells.ranges:
        value = sheet.cell(merged.min_row, merged.min_col).value
        # Only down the first column: a range merged across columns is one value laid out wide.
        for row in range(merged.min_row + 1, min(merged.max_row, sheet.max_row) + 1):
            spans[(row, merged.min_col)] = value
    records = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = [
            _cell_text(spans.get((number, column), value))
            for column, value in enumerate(values, start=1)
        ]
        records.append((number, cells))
    return records


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # Excel stores every number as a float: 序号 40 arrives as 40.0.
        return str(int(value))
    if isinstance(value, datetime.date):
        # A 时间节点 typed as a date becomes a real date cell; spell it the way the
        # deadline parser and the people reading the table expect.
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value)


def _build_rows(records: Iterable[tuple[int, list[str]]], label: str) -> tuple[Row, ...]:
    """Validated rows from (line, cells) records; `label` names the file (and sheet) in messages."""
    records = iter(records)
    header = _find_header(records)
    if header is None:
        raise UsageError(f"{label}没有任何任务。")
    if not _is_full(header):
        missing = [f"{_COLUMNS[field]}（{field}）" for field in _COLUMNS if field not in header]
        raise UsageError(f"{label}缺少列：{'、'.join(missing)}。")
    rows: list[Row] = []
    seen: dict[int, int] = {}
    for line, raw in records:
        cells = [clean_text(cell) for cell in raw]
        if not any(cells):
            continue
        values = {name: cells[i] if i < len(cells) else "" for name, i in header.items()}
        where = f"{label}第 {line} 行"
        for name, value in values.items():
            check_text(value, f"{where}“{_COLUMNS[name]}”")
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
                raise UsageError(f"{where}：{_COLUMNS[name]}为空，上方也没有可沿用的值。")
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


def _find_header(records: Iterator[tuple[int, list[str]]]) -> dict[str, int] | None:
    """Consume records up to the header row and return its column mapping.

    Looks at the first HEADER_SEARCH_ROWS non-empty rows. When none has every
    column, returns the best partial mapping (so the error can name what is
    missing); None when there is no non-empty row at all.
    """
    best: dict[str, int] | None = None
    looked = 0
    for _, raw in records:
        cells = [clean_text(cell) for cell in raw]
        if not any(cells):
            continue
        found = _map_header(cells)
        if _is_full(found):
            return found
        if best is None or len(found) > len(best):
            best = found
        looked += 1
        if looked == HEADER_SEARCH_ROWS:
            break
    return best


def _is_full(header: dict[str, int] | None) -> bool:
    return header is not None and len(header) == len(_COLUMNS)


def _map_header(cells: list[str]) -> dict[str, int]:
    names = [cell.replace("\ufeff", "").lower() for cell in cells]
    found: dict[str, int] = {}
    for field, chinese in _COLUMNS.items():
        for i, name in enumerate(names):
            if name in (field, chinese):
                found[field] = i
                break
    return found


def _parse_id(text: str, where: str) -> int:
    if not text:
        raise UsageError(f"{where}：序号为空。")
    if not _POSITIVE_INT.fullmatch(text) or int(text) == 0:
        raise UsageError(f"{where}：序号“{text}”不是正整数。")
    return int(text)
