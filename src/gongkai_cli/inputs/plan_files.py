"""Reading a plan file (任务分解表): its format told by content, its records read within bounds.

The office keeps the plan in Excel, so files arrive either as the workbook
itself (.xlsx, with merged cells and a title row above the header) or as CSV in
UTF-8 (with or without BOM) or in GBK/GB18030, separated by commas, tabs or
semicolons, with merged cells exported as empty cells and line breaks of the
original document left as stray spaces inside Chinese text. Every kind becomes
the same (line, cells) records, and plan_rows.py's one validation covers them.

The format is told by the file's content, never by its name: a workbook saved
as .xls by mistake still imports, and an old binary .xls renamed to .xlsx gets
the advice for .xls. Work is bounded by the real data, not by what a file
claims: sizes are checked from the zip directory before anything is unpacked,
and reading stops at the end of the table.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Protocol, TypeVar, cast

from ..domain.cells import unguard
from ..domain.errors import UsageError
from ..domain.text import os_reason
from .budget import count_in_part, within_budget
from .csvfiles import decode, sniff_delimiter
from .plan_rows import (
    COLUMNS,
    HEADER_SEARCH_ROWS,
    MAX_CELL_CHARS,
    MAX_EMPTY_RUN,
    MAX_FILE_BYTES,
    MAX_ROWS,
    MB,
    Header,
    PlanTable,
    after_gap,
    build_rows,
    check_size,
    find_header,
    is_full,
    plan_table,
    require_header,
)

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook

_T = TypeVar("_T")


class _Sheet(Protocol):
    """What is read of openpyxl's ReadOnlyWorksheet (types-openpyxl gives its iter_rows Worksheet's self)."""

    title: str
    _worksheet_path: str

    def iter_rows(
        self, min_row: int | None = None, *, max_col: int | None = None, values_only: bool
    ) -> Iterator[tuple[object, ...]]: ...


# The header is looked for in this many columns; the task rows are then read only
# as far as the rightmost of the five columns it names.
HEADER_SEARCH_COLUMNS = 50
# A workbook is a zip: its parts are checked against these sizes from the zip's
# directory, before a byte is unpacked (zipfile never unpacks more than a part
# declares). openpyxl holds the shared strings in memory, at about 20 µs and a
# hundred bytes per string, so they get the tighter bound.
MAX_UNPACKED_BYTES = 32 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 16 * 1024 * 1024
# openpyxl builds an object for every element of the style sheet, even read-only, at about
# 40 µs each; Excel itself allows 64,000 cell formats, a plan's workbook has a few hundred.
# It holds every shared string, at about 20 µs each; 20,000 tasks have under 100,000.
MAX_STYLE_ELEMENTS = 100_000
MAX_SHARED_STRINGS = 200_000
# workbook.xml lists the sheets (each searched for the header) and defined names (each an object):
# a plan's has a few dozen elements.
MAX_WORKBOOK_ELEMENTS = 10_000
# Vertically merged ranges kept while reading a sheet (the 2023 plan has about 60).
MAX_MERGES = 100_000

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError)
_MERGE_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\s[^>]*?\bref\s*=\s*[\"']([A-Za-z]{1,3}[0-9]{1,7}:[A-Za-z]{1,3}[0-9]{1,7})[\"']")
_MERGE_TAG_BYTES = 512
_LONGEST_TAG = 64
_COUNTED_PARTS = (
    ("styles.xml", re.compile(rb"<[A-Za-z_]"), MAX_STYLE_ELEMENTS, "的样式表（styles.xml）中的元素"),
    ("workbook.xml", re.compile(rb"<[A-Za-z_]"), MAX_WORKBOOK_ELEMENTS, "的工作簿结构（workbook.xml）中的元素"),
    ("sharedstrings.xml", re.compile(rb"<(?:[A-Za-z_][\w.-]{0,40}:)?si[\s/>]"), MAX_SHARED_STRINGS,
     "的文字（sharedStrings.xml）中的字符串"),
)




def read_plan_table(path: str | os.PathLike[str]) -> PlanTable:
    """Read, clean, fill down and validate a plan table; UsageError on any defect."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"“{path}”是目录，不是文件。")
    if not path.exists():
        raise UsageError(f"找不到文件“{path}”。")
    check_size(path)
    try:
        with _open(path) as handle:
            fmt = detect_format(handle, path.name)
            reader = _READERS.get(fmt)
            if reader is None:
                raise UsageError(_REFUSED[fmt].format(path=path))
            if fmt == "csv":
                # Read by our own code, in time and memory linear in the 20 MB it may have.
                return reader(path, handle)
            return within_budget(lambda: reader(path, handle), path)
    except OSError as exc:
        raise UsageError(f"无法读取文件“{path}”：{os_reason(exc)}。") from exc


def _open(path: Path) -> BinaryIO:
    """The file, open for reading and seeking, whatever it is."""
    handle = path.open("rb")
    if path.is_file():
        return handle
    # A pipe or a device reports no size and can be read only once: keep what it
    # gives, within the limit, so detection and reading see the same bytes.
    with handle:
        return io.BytesIO(_read_limited(handle, path))


def detect_format(handle: BinaryIO, name: str = "") -> str:
    """What the open file is, from its first bytes and, for a zip, from the names of its parts.

    One of: csv, xlsx, xls, doc, xlsb, ods, odf, docx, pdf, html, zip (some other
    zip), broken-zip, empty. Anything that is not recognised is taken as CSV
    text, whose reader then says what is wrong with it. Leaves the file at its start.
    """
    head = handle.read(1024)
    handle.seek(0)
    if not head:
        return "empty"
    if head.startswith(_OLE2):
        return _ole2_format(handle, name)
    text_start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text_start.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK"):
        try:
            return _zip_format(handle)
        finally:
            handle.seek(0)
    if text_start[:14].lower().startswith((b"<!doctype html", b"<html", b"<?xml")):
        return "html"
    return "csv"


def _ole2_format(handle: BinaryIO, name: str) -> str:
    """Old Word and old Excel share one container; its directory names the main stream
    (UTF-16: WordDocument or Workbook). Without a readable directory the name decides."""
    start = handle.read(MB)
    handle.seek(0)
    if "WordDocument".encode("utf-16-le") in start:
        return "doc"
    if "Workbook".encode("utf-16-le") in start or "Book".encode("utf-16-le") in start:
        return "xls"
    return "doc" if name.lower().endswith((".doc", ".docx")) else "xls"


def _zip_format(handle: BinaryIO) -> str:
    try:
        with zipfile.ZipFile(handle) as archive:
            names = set(archive.namelist())
            mimetype = archive.getinfo("mimetype") if "mimetype" in names else None
            if mimetype is not None and mimetype.file_size < 100:
                return "ods" if archive.read(mimetype).strip() == _ODS_MIMETYPE else "odf"
    except _ZIP_ERRORS:
        return "broken-zip"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "word/document.xml" in names:
        return "docx"
    return "zip"


_TO_XLSX = "请在 Excel 或 WPS 中另存为 .xlsx 后再导入"
_TABLE_TO_XLSX = "请把其中的任务表复制到 Excel 或 WPS 表格中，另存为 .xlsx 后再导入"
# Formats that are recognised but not read, each with how to convert it.
_REFUSED = {
    "empty": "文件“{path}”是空的，没有任何任务。",
    "xls": "文件“{path}”是旧版 Excel 文件（.xls），无法直接读取；请在 Excel 或 WPS 中另存为 .xlsx 或“CSV UTF-8”后再导入。",
    "doc": "文件“{path}”是旧版 Word 文档（.doc），无法直接读取；请在 Word 或 WPS 中另存为 .docx 后再导入。",
    "xlsb": f"文件“{{path}}”是 Excel 二进制工作簿（.xlsb），无法直接读取；{_TO_XLSX}。",
    "ods": "文件“{path}”是 OpenDocument 电子表格（.ods），无法直接读取；请在 WPS 或 LibreOffice 中另存为 .xlsx 后再导入。",
    "odf": f"文件“{{path}}”是 OpenDocument 文档，不是电子表格；{_TABLE_TO_XLSX}。",
    "html": f"文件“{{path}}”是网页（HTML）或 XML 格式的表格，无法直接读取；{_TO_XLSX}。",
    "zip": f"文件“{{path}}”是 ZIP 压缩包，但不是有效的 Excel 工作簿（.xlsx）；{_TO_XLSX}。",
    "broken-zip": f"文件“{{path}}”不是有效的 Excel 工作簿（.xlsx），文件可能已损坏；{_TO_XLSX}。",
}




def _read_limited(handle: BinaryIO, path: Path) -> bytes:
    # Pipes and devices report no size, and a file can grow while it is read.
    data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"文件“{path}”超过 {MAX_FILE_BYTES // MB} MB 的上限，不像是任务分解表。")
    return data


# -- CSV ---------------------------------------------------------------------------------


def _read_csv(path: Path, handle: BinaryIO) -> PlanTable:
    text, encoding = decode(_read_limited(handle, path), f"文件“{path}”")
    nul = text.find("\0")
    if nul >= 0:
        # NUL means a binary file or UTF-16 text that happened to decode as UTF-8.
        line = text.count("\n", 0, nul) + 1
        raise UsageError(f"文件“{path}”第 {line} 行含有空字符（NUL），不是文本格式的 CSV，请另存为“CSV UTF-8”后再导入。")
    delimiter = sniff_delimiter(text, COLUMNS, lines=HEADER_SEARCH_ROWS * 5)
    return plan_table(path, _csv_records(text, path, delimiter), encoding)


def _csv_records(text: str, path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, cells) per record, as `_sheet_records` does for a worksheet.

    After MAX_EMPTY_RUN blank records, blank lines are passed over in one search of the text,
    so a file of millions of empty lines is not parsed line by line to find what follows them.
    """
    # strict: an unclosed quote must fail loudly instead of swallowing the rest of the file.
    source = io.StringIO(text, newline="")
    reader = csv.reader(source, delimiter=delimiter, strict=True)
    content = re.compile(f"[^\\s{re.escape(delimiter)}]")
    start = 1
    skipped = 0  # lines passed over, which reader.line_num does not count
    empty_run = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # csv's own words are English and name no line; only its cell-size limit
            # (131,072 characters, far above MAX_CELL_CHARS) needs other advice.
            if "field limit" in str(exc):
                raise UsageError(
                    f"文件“{path}”第 {start} 行起有单元格超过 {MAX_CELL_CHARS} 个字符的上限"
                    "（也可能是引号不成对，把后面的内容并进了一个单元格），请检查后再导入。"
                ) from None
            raise UsageError(f"文件“{path}”第 {start} 行起 CSV 格式有误，请检查引号是否成对。") from None
        yield start, [unguard(cell) for cell in cells]  # undo the formula guard of our CSV export
        start = reader.line_num + skipped + 1
        empty_run = 0 if any(cell.strip() for cell in cells) else empty_run + 1
        if empty_run >= MAX_EMPTY_RUN:
            here = source.tell()
            found = content.search(text, here)
            end = found.start() if found else len(text)
            # Back to the start of the line the content is on, as the reader needs it.
            resume = text.rfind("\n", here, end) + 1 if end < len(text) else end
            if resume > here:
                skipped += text.count("\n", here, resume)
                start = reader.line_num + skipped + 1
                source.seek(resume)


# -- xlsx --------------------------------------------------------------------------------


def _read_xlsx(path: Path, handle: BinaryIO) -> PlanTable:
    _check_parts(path, handle)
    workbook, invalid = _open_workbook(path, handle)
    try:
        return _read_workbook(workbook, path, invalid)
    finally:
        workbook.close()


def _open_workbook(path: Path, handle: BinaryIO) -> tuple[Workbook, str]:
    """The workbook in `handle`, read-only, and the message that says it is not one."""
    import warnings

    import openpyxl

    invalid = f"文件“{path}”不是有效的 Excel 工作簿（.xlsx），请在 Excel 或 WPS 中重新另存为 .xlsx 后再导入。"
    try:
        # read_only streams each sheet row by row, and stops when we stop asking;
        # a fully loaded sheet is a grid as large as its furthest cell. Given an
        # open file rather than a name, openpyxl does not insist on the .xlsx suffix.
        with warnings.catch_warnings():
            # Files saved by WPS or older Excel make openpyxl warn about styles and
            # extensions it skips; none of that matters for reading cell values.
            warnings.simplefilter("ignore")
            return openpyxl.load_workbook(handle, read_only=True, data_only=True), invalid
    except MemoryError:
        raise  # the budget, not a broken file: within_budget names the limit
    except Exception as exc:
        # A file that is not a workbook fails deep inside openpyxl with whatever the
        # zip or XML layer raised (BadZipFile, KeyError, ParseError, ValueError…).
        raise UsageError(invalid) from exc


def _check_parts(path: Path, handle: BinaryIO) -> None:
    """Refuse a workbook whose parts would unpack beyond the limits (from the zip directory), or
    whose style sheet, shared strings or workbook part hold more elements than openpyxl can build
    within the budget (counted in their bytes, before openpyxl parses them)."""
    try:
        with zipfile.ZipFile(handle) as archive:
            parts = archive.infolist()
            _check_sizes(path, parts)
            for suffix, pattern, limit, what in _COUNTED_PARTS:
                names = [part.filename for part in parts if part.filename.lower().endswith(suffix)]
                found = sum(count_in_part(archive, name, pattern, _LONGEST_TAG) for name in names)
                if found > limit:
                    raise UsageError(f"文件“{path}”{what}有 {found} 个，超过 {limit} 个的上限，不像是任务分解表。")
    except (*_ZIP_ERRORS, zlib.error) as exc:
        raise UsageError(_REFUSED["broken-zip"].format(path=path)) from exc
    finally:
        handle.seek(0)


def _check_sizes(path: Path, parts: list[zipfile.ZipInfo]) -> None:
    total = sum(part.file_size for part in parts)
    strings = sum(part.file_size for part in parts if part.filename.lower().endswith("sharedstrings.xml"))
    for size, limit, what in (
        (strings, MAX_SHARED_STRINGS_BYTES, "其中的文字（sharedStrings.xml）"),
        (total, MAX_UNPACKED_BYTES, ""),
    ):
        if size > limit:
            raise UsageError(
                f"文件“{path}”{what}解压后有 {size / MB:.1f} MB，超过 {limit // MB} MB 的上限，不像是任务分解表。"
            )


def _read_workbook(workbook: Workbook, path: Path, invalid: str) -> PlanTable:
    # Opened with read_only=True, so every worksheet is a ReadOnlyWorksheet.
    sheets = _guarded(lambda: cast("list[_Sheet]", list(workbook.worksheets)), invalid)
    if not sheets:
        raise UsageError(f"文件“{path}”没有任何工作表。")
    # The first sheet with a recognisable header; else the first sheet, whose errors then explain what is missing.
    chosen: tuple[_Sheet, Header | None] | None = None
    for sheet in sheets:
        values = sheet.iter_rows(max_col=HEADER_SEARCH_COLUMNS, values_only=True)
        header = find_header(_sheet_records(values, 1, invalid))
        if is_full(header):
            chosen = sheet, header
            break
        if chosen is None:
            chosen = sheet, header
    assert chosen is not None  # the loop ran: there is a sheet
    sheet, found = chosen
    label = f"文件“{path}”工作表“{sheet.title}”" if len(sheets) > 1 else f"文件“{path}”"
    header = require_header(found, label)
    width = max(header.columns.values()) + 1
    merges = _guarded(lambda: _vertical_merges(workbook, sheet, width, path), invalid)
    first = header.line + 1
    values = sheet.iter_rows(min_row=first, max_col=width, values_only=True)
    rows = build_rows(_merged(_sheet_records(values, first, invalid), merges), label, header)
    return PlanTable(rows=rows, encoding="xlsx", path=str(path))


def _guarded(work: Callable[[], _T], invalid: str) -> _T:
    try:
        return work()
    except UsageError:
        raise
    except MemoryError:
        raise  # the budget, not a broken file: within_budget names the limit
    except Exception as exc:
        raise UsageError(invalid) from exc


def _sheet_records(values: Iterator[tuple[object, ...]], first: int, invalid: str) -> Iterator[tuple[int, list[str]]]:
    """(Excel row number, cells) per row from openpyxl's row values, which arrive lazily."""
    values = iter(values)
    for number in itertools.count(first):
        row = _guarded(lambda: next(values, None), invalid)
        if row is None:
            return
        if row.count(None) == len(row):
            # The rows of a sheet formatted far below its table, up to a million of them.
            yield number, [""] * len(row)
        else:
            yield number, [_cell_text(value) for value in row]


def _vertical_merges(workbook: Workbook, sheet: _Sheet, width: int, path: Path) -> dict[tuple[int, int], int]:
    """{(first row, column): last row} of the merged ranges spanning rows within the read columns.

    A read-only sheet does not know its merged cells, and <mergeCells> comes
    after all the rows, so the sheet's XML is scanned once more. The scan looks
    at bytes, not XML: text cannot hold a raw "<", so every "<mergeCell" is
    markup. A 53 MB sheet of a million rows took 0.14 s this way and 1.8 s with
    an XML parser reporting every element of every row to Python.
    """
    from openpyxl.utils.cell import range_boundaries

    merges: dict[tuple[int, int], int] = {}
    tail = b""
    # openpyxl keeps the archive and the sheet's part name privately (types-openpyxl does not
    # declare them); they are the one stable way to the XML it reads.
    archive: zipfile.ZipFile = workbook._archive  # type: ignore[attr-defined]
    with archive.open(sheet._worksheet_path) as xml_source:
        while chunk := xml_source.read(2**20):
            window = tail + chunk
            # A tag cut by the chunk boundary is completed by the next chunk; what
            # follows the last "<" is kept, but never more than a merge tag can need.
            cut = window.rfind(b"<")
            tail = window[cut:][:_MERGE_TAG_BYTES] if cut >= 0 else b""
            if b"mergeCell" not in window:
                continue
            for match in _MERGE_CELL.finditer(window, 0, cut if cut >= 0 else len(window)):
                min_col, min_row, _, max_row = range_boundaries(match.group(1).decode())
                # _MERGE_CELL matches only "A1:B2" references, which name both rows and columns.
                assert min_col is not None and min_row is not None and max_row is not None
                if max_row > min_row and min_col <= width:
                    merges[(min_row, min_col - 1)] = max_row
                    if len(merges) > MAX_MERGES:
                        raise UsageError(f"文件“{path}”的合并单元格超过 {MAX_MERGES} 处的上限，不像是任务分解表。")
    return merges


def _merged(
    records: Iterator[tuple[int, list[str]]], merges: dict[tuple[int, int], int]
) -> Iterator[tuple[int, list[str]]]:
    """Give every row a merged range covers the value of the range's first cell.

    Only down a column: a range merged across columns is one value laid out wide.
    Records arrive in row order, so a range is met at its first row before the rows it covers.
    """
    spans: dict[int, tuple[str, int]] = {}  # column -> (value, last row)
    starts = {row for row, _ in merges}
    for number, cells in records:
        if not spans and number not in starts:
            # Most rows, and all of a million formatted below the table, are in no merged range.
            yield number, cells
            continue
        for column in range(len(cells)):
            last = merges.get((number, column))
            if last is not None:
                spans[column] = cells[column], last
            elif column in spans:
                value, until = spans[column]
                if number <= until:
                    cells[column] = value
                else:
                    del spans[column]
        yield number, cells


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



# Readers by detected format: each gets the path (for messages) and the file, open at its start.
def _read_document(fmt: str) -> Callable[[Path, BinaryIO], PlanTable]:
    def read(path: Path, handle: BinaryIO) -> PlanTable:
        from . import documents

        # python-docx and pdfplumber open the file themselves, by name.
        records = documents.docx_records(path) if fmt == "docx" else documents.pdf_records(path)
        return plan_table(path, records, fmt)

    return read


_READERS: dict[str, Callable[[Path, BinaryIO], PlanTable]] = {
    "csv": _read_csv, "xlsx": _read_xlsx, "docx": _read_document("docx"), "pdf": _read_document("pdf"),
}


# -- a returned progress sheet (export's 各单位进展) ------------------------------------------


class SheetRecords(NamedTuple):
    """The rows of one named worksheet: its header cells and (Excel row number, cells) below it."""

    title: str
    header: list[str]
    rows: list[tuple[int, list[str]]]
    alone: bool  # the workbook has no other sheet


def read_named_sheet(path: str | os.PathLike[str], title: str, marker: str) -> SheetRecords | None:
    """The worksheet `title` of the workbook `path`, within the same bounds as a plan table;
    None when the file is no xlsx workbook, has no such sheet, or the sheet's header has no
    `marker` cell (then it is a plan table)."""
    path = Path(path)
    if not path.is_file():
        return None
    check_size(path)
    try:
        with path.open("rb") as handle:
            if detect_format(handle, path.name) != "xlsx":
                return None
            return within_budget(lambda: _named_sheet(path, handle, title, marker), path)
    except OSError as exc:
        raise UsageError(f"无法读取文件“{path}”：{os_reason(exc)}。") from exc


def _named_sheet(path: Path, handle: BinaryIO, title: str, marker: str) -> SheetRecords | None:
    _check_parts(path, handle)
    workbook, invalid = _open_workbook(path, handle)
    try:
        names = _guarded(lambda: list(workbook.sheetnames), invalid)
        if title not in names:
            return None
        sheet = cast("_Sheet", workbook[title])
        records = _sheet_records(sheet.iter_rows(max_col=HEADER_SEARCH_COLUMNS, values_only=True), 1, invalid)
        first = next(records, None)
        header = [cell.strip() for cell in first[1]] if first else []
        if marker not in header:
            return None
        rows: list[tuple[int, list[str]]] = []
        empty_run = 0
        for number, cells in records:
            if not any(cell.strip() for cell in cells):
                empty_run += 1
                continue
            if empty_run >= MAX_EMPTY_RUN:
                raise after_gap(f"文件“{path}”工作表“{title}”", number)
            empty_run = 0
            if len(rows) >= MAX_ROWS:
                raise UsageError(f"文件“{path}”工作表“{title}”超过 {MAX_ROWS} 行的上限。")
            rows.append((number, cells))
        return SheetRecords(title, header, rows, alone=len(names) == 1)
    finally:
        workbook.close()
