"""Reading the task table out of the documents an office exchanges: Word (.docx) and PDF.

The plan reaches the office as the 区政府办公室's document, not as a spreadsheet:
a title above the table, a header row repeated on every page, cells merged down
(任务名称, 责任单位, 时间节点 shared by several tasks) and across, and notes
below. Both readers return the same (row number, cells) records as the CSV and
worksheet readers in tables.py, with a merged-down cell as an empty cell and a
cell merged across as its text in the first column it covers, so that
plan_rows.build_rows finds the header, cleans the text and fills down for every
format alike.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..domain.errors import UsageError
from ..domain.text import os_reason
from .budget import count_in_part
from .plan_rows import MB, check_size, clean_text, find_header, header_columns, is_full

if TYPE_CHECKING:
    # python-docx's element class; its lxml base has no annotations, so its tree methods are untyped.
    from docx.oxml.xmlchemy import BaseOxmlElement
    from pdfplumber.page import Page
    from pdfplumber.pdf import PDF

Records = list[tuple[int, list[str]]]

# A plan is about a hundred rows on a dozen pages. These bound the work on a wrong or hostile file.
MAX_TABLE_ROWS = 20_000
MAX_GRID_COLUMNS = 64
MAX_PDF_PAGES = 500
# pdfplumber finds a table's cells in time quadratic in the crossings of its lines: a 150 × 150
# grid took 14 s for one page. A plan's page has under 200 crossings (the 2023 plan: 48–168).
MAX_PAGE_CROSSINGS = 2_500
MAX_PDF_CROSSINGS = 100_000
# pdfminer draws a Form XObject afresh each time a content stream names it, forms drawing forms:
# four forms four wide and twelve deep are 16 million drawings. A plan's page draws a logo or two.
MAX_PAGE_DRAWINGS = 10_000
# A compressed part can expand a thousandfold, and python-docx holds every part in memory and
# parses each XML part into a tree about twenty times its size. The 2023 plan's document.xml
# is 0.26 MB for 91 tasks (460 cells); 5,000 such tasks would be 15 MB.
MAX_UNPACKED_BYTES = 32 * 1024 * 1024
MAX_XML_BYTES = 16 * 1024 * 1024
# Table cells in document.xml, counted in its bytes before it is parsed: 5,000 tasks of the
# 2023 plan have 25,000; each costs python-docx and the reader about 40 µs.
MAX_TABLE_CELLS = 100_000

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Nested paragraphs are read on their own (cell.iter reaches them), a Fallback repeats its
# Choice, and tracked deletions and moves away are no longer part of the text.
_SKIPPED = {f"{_W}p", _MC_FALLBACK, f"{_W}del", f"{_W}moveFrom"}
# Word, WPS and LibreOffice all write the w: prefix; a file that spells it otherwise is only
# held by the parse budget.
_CELL_TAG = re.compile(rb"<w:tc[\s>/]")
_HEADER_NAMES = "“序号、任务名称、任务内容、责任单位、时间节点”"


def docx_records(path: Path) -> Records:
    """Rows of the document's task table: the first table whose header has every column."""
    check_size(path)
    _check_docx_container(path)
    import docx

    try:
        document = docx.Document(str(path))
    except OSError as exc:
        raise UsageError(f"无法读取文件“{path}”：{os_reason(exc)}。") from exc
    except MemoryError:
        raise  # the budget, not a broken file: within_budget names the limit
    except Exception as exc:
        # python-docx reports a broken package with whatever the zip or XML layer raised.
        raise UsageError(
            f"文件“{path}”不是有效的 Word 文档（.docx），请在 Word 或 WPS 中重新另存为 .docx 后再导入。"
        ) from exc
    # iter() also reaches tables nested in a layout table's cells, in reading order.
    tables = list(document.element.body.iter(f"{_W}tbl"))
    if not tables:
        raise UsageError(f"文件“{path}”中没有表格，找不到任务分解表。")
    best: Records | None = None
    best_found = 0
    rows_read = 0
    for table in tables:
        records = _table_records(table, path)
        rows_read += len(records)
        if rows_read > MAX_TABLE_ROWS:
            raise UsageError(f"文件“{path}”的表格超过 {MAX_TABLE_ROWS} 行，不像是任务分解表。")
        found = find_header(iter(records))
        if is_full(found):
            return records
        if found and len(found.columns) > best_found:
            best, best_found = records, len(found.columns)
    if best is None:
        raise UsageError(f"文件“{path}”中没有任务分解表：没有哪个表格的表头含有{_HEADER_NAMES}。")
    # The closest table, so that the header check names the columns it lacks.
    return best


def _check_docx_container(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_OLE_MAGIC))
    except OSError as exc:
        raise UsageError(f"无法读取文件“{path}”：{os_reason(exc)}。") from exc
    if magic == _OLE_MAGIC:
        raise UsageError(
            f"文件“{path}”是旧版 Word 文档（.doc），请在 Word 或 WPS 中另存为 .docx 后再导入。"
        )
    try:
        with zipfile.ZipFile(path) as package:
            parts = package.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UsageError(
            f"文件“{path}”不是有效的 Word 文档（.docx），请在 Word 或 WPS 中重新另存为 .docx 后再导入。"
        ) from exc
    unpacked = sum(info.file_size for info in parts)
    xml = sum(info.file_size for info in parts if info.filename.lower().endswith((".xml", ".rels")))
    for size, limit, what in ((xml, MAX_XML_BYTES, "其中的 XML 部分"), (unpacked, MAX_UNPACKED_BYTES, "")):
        if size > limit:
            raise UsageError(
                f"文件“{path}”{what}解压后有 {size / MB:.1f} MB，超过 {limit // MB} MB 的上限，不像是任务分解表。"
            )
    cells = _count_cells(path)
    if cells > MAX_TABLE_CELLS:
        raise UsageError(f"文件“{path}”的表格有 {cells} 个单元格，超过 {MAX_TABLE_CELLS} 个的上限，不像是任务分解表。")


def _count_cells(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as package:
            return count_in_part(package, "word/document.xml", _CELL_TAG, len(b"<w:tc>"))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, zlib.error) as exc:
        raise UsageError(
            f"文件“{path}”不是有效的 Word 文档（.docx），请在 Word 或 WPS 中重新另存为 .docx 后再导入。"
        ) from exc


def _table_records(table: BaseOxmlElement, path: Path) -> Records:
    """(row number, cells) with one cell per grid column of the table."""
    records = []
    rows = table.xpath("./w:tr | ./w:sdt/w:sdtContent/w:tr")
    for number, row in enumerate(rows, start=1):
        if number > MAX_TABLE_ROWS:
            raise UsageError(f"文件“{path}”的表格超过 {MAX_TABLE_ROWS} 行，不像是任务分解表。")
        cells: list[str] = []
        # Rows of a hand-drawn table may start some grid columns in (w:gridBefore).
        before = _int_attribute(row.xpath("./w:trPr/w:gridBefore"), 0)
        if before > MAX_GRID_COLUMNS:
            raise UsageError(f"文件“{path}”的表格超过 {MAX_GRID_COLUMNS} 列，不像是任务分解表。")
        cells.extend([""] * before)
        for cell in row.xpath("./w:tc | ./w:sdt/w:sdtContent/w:tc"):
            span = _int_attribute(cell.xpath("./w:tcPr/w:gridSpan"), 1)
            if len(cells) + span > MAX_GRID_COLUMNS:
                raise UsageError(f"文件“{path}”的表格超过 {MAX_GRID_COLUMNS} 列，不像是任务分解表。")
            merge = cell.xpath("./w:tcPr/w:vMerge")
            # A vMerge without "restart" continues the cell above: empty, and filled down later.
            continued = bool(merge) and merge[0].get(f"{_W}val", "continue") != "restart"
            cells.append("" if continued else _one_line(_cell_text(cell)))
            cells.extend([""] * (span - 1))
        records.append((number, cells))
    return records


def _int_attribute(elements: list[BaseOxmlElement], default: int) -> int:
    if not elements:
        return default
    value = elements[0].get(f"{_W}val", "")
    return int(value) if value.isdigit() else default


def _cell_text(cell: BaseOxmlElement) -> str:
    """The cell's text with its paragraphs and line breaks as newlines (clean_text decides on spaces)."""
    paragraphs = [
        "".join(_runs_text(paragraph))
        for paragraph in cell.iter(f"{_W}p")
        # Word writes a text box twice, as mc:Choice and as an mc:Fallback copy.
        if not any(ancestor.tag == _MC_FALLBACK for ancestor in paragraph.iterancestors())
    ]
    return "\n".join(paragraphs)


def _runs_text(element: BaseOxmlElement) -> Iterator[str]:
    for child in element:
        tag = child.tag
        if tag in _SKIPPED:
            continue
        if tag == f"{_W}t":
            yield child.text or ""
        elif tag in (f"{_W}br", f"{_W}cr"):
            yield "\n"
        elif tag == f"{_W}tab":
            # Only a run's tab is text; a paragraph's w:tabs/w:tab defines a tab stop.
            if element.tag == f"{_W}r":
                yield "\t"
        else:
            yield from _runs_text(child)


def pdf_records(path: Path) -> Records:
    """Rows of the ruled task table in a PDF, joined across pages."""
    import logging

    # pdfminer logs what it skips in a damaged file; the one error line says all the user needs.
    logging.getLogger("pdfminer").addHandler(logging.NullHandler())
    logging.getLogger("pdfminer").propagate = False
    check_size(path)
    try:
        with path.open("rb") as handle:
            start = handle.read(1024)
    except OSError as exc:
        raise UsageError(f"无法读取文件“{path}”：{os_reason(exc)}。") from exc
    if b"%PDF-" not in start:
        raise UsageError(f"文件“{path}”不是有效的 PDF 文件。")
    import pdfplumber

    try:
        with pdfplumber.open(str(path)) as pdf:
            if len(pdf.pages) > MAX_PDF_PAGES:
                raise UsageError(f"文件“{path}”有 {len(pdf.pages)} 页，超过 {MAX_PDF_PAGES} 页的上限，不像是任务分解表。")
            return _pdf_table_records(pdf, path)
    except UsageError:
        raise
    except MemoryError:
        raise  # the budget, not a broken file: within_budget names the limit
    except Exception as exc:
        if _is_encrypted_error(exc):
            raise UsageError(f"文件“{path}”已加密，请先解除密码保护或使用原始 Word 文件后再导入。") from exc
        # pdfminer reports a damaged file with whatever its parser hit.
        raise UsageError(f"文件“{path}”不是有效的 PDF 文件，或已损坏。") from exc


def _is_encrypted_error(exc: BaseException | None) -> bool:
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    # pdfplumber wraps pdfminer's error in its own exception type.
    while exc is not None:
        if isinstance(exc, (PDFPasswordIncorrect, PDFEncryptionError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _pdf_table_records(pdf: PDF, path: Path) -> Records:
    records: Records = []
    header: list[str] | None = None
    id_column = 0
    has_text = False
    found_table = False
    crossings = 0
    for number, page in enumerate(pdf.pages, start=1):
        _check_drawings(page, number, path)
        has_text = has_text or bool(page.chars)
        # The first row under a page's header may be the rest of a row the page break cut.
        at_page_top = True
        crossings += _check_crossings(page, number, path)
        if crossings > MAX_PDF_CROSSINGS:
            raise UsageError(f"文件“{path}”各页表格线的交点共超过 {MAX_PDF_CROSSINGS} 个的上限，不像是任务分解表。")
        for table in page.find_tables():
            found_table = True
            for raw in table.extract():
                if len(records) >= MAX_TABLE_ROWS:
                    raise UsageError(f"文件“{path}”的表格超过 {MAX_TABLE_ROWS} 行，不像是任务分解表。")
                cells = [_one_line(cell or "") for cell in raw]
                cleaned = [clean_text(cell) for cell in cells]
                if header is None:
                    columns = header_columns(cleaned)
                    if columns is not None:
                        header = cleaned
                        id_column = columns["id"]
                    records.append((len(records) + 1, cells))
                    at_page_top = False
                    continue
                if len(cells) != len(header):
                    # Another table on the page (a signature block, a legend): not part of the plan.
                    break
                if cleaned == header:
                    at_page_top = True
                    continue
                if at_page_top and records and not cleaned[id_column] and any(cleaned):
                    _join_continuation(records[-1][1], cells)
                else:
                    records.append((len(records) + 1, cells))
                at_page_top = False
            at_page_top = False
    if not has_text:
        raise UsageError(
            f"文件“{path}”没有文字层（可能是扫描件或图片），无法读取表格；请使用原始 Word 或 Excel 文件，或先做文字识别（OCR）。"
        )
    if not found_table:
        raise UsageError(f"文件“{path}”中没有找到带表格线的表格，请使用原始 Word 或 Excel 文件导入。")
    return records


def _check_crossings(page: Page, number: int, path: Path) -> int:
    """The most crossings the page's ruling lines can have, refused above MAX_PAGE_CROSSINGS."""
    from pdfplumber.table import TableSettings, merge_edges

    settings = TableSettings.resolve(None)
    # The lines as find_tables sees them: overlapping and touching strokes joined into one.
    edges = merge_edges(page.edges, settings.snap_x_tolerance, settings.snap_y_tolerance,
                        settings.join_x_tolerance, settings.join_y_tolerance)
    across = sum(1 for edge in edges if edge["orientation"] == "h")
    crossings = across * (len(edges) - across)
    if crossings > MAX_PAGE_CROSSINGS:
        raise UsageError(
            f"文件“{path}”第 {number} 页的表格线有 {crossings} 个交点，超过 {MAX_PAGE_CROSSINGS} 个的上限，不像是任务分解表。"
        )
    return crossings


_DRAW = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s*Do\b")


def _check_drawings(page: Page, number: int, path: Path) -> None:
    """Refuse a page whose content draws Form XObjects more than MAX_PAGE_DRAWINGS times,
    counted from the forms' own streams before pdfminer draws any of them."""
    source = page.page_obj
    drawings = _drawings(source.contents, source.resources, {}, set())
    if drawings > MAX_PAGE_DRAWINGS:
        raise UsageError(
            f"文件“{path}”第 {number} 页嵌套绘制的图形超过 {MAX_PAGE_DRAWINGS} 次的上限，不像是任务分解表。"
        )


def _drawings(streams: list[object], resources: object, known: dict[int, int], drawing: set[int]) -> int:
    """How many XObjects `streams` draw, forms drawn by forms included; each form's count is known once."""
    from pdfminer.pdftypes import PDFObjRef, PDFStream, resolve1

    resources = resolve1(resources)
    names = resolve1(resources.get("XObject")) if isinstance(resources, dict) else None
    names = names if isinstance(names, dict) else {}
    total = 0
    for item in streams:
        stream = resolve1(item)
        if not isinstance(stream, PDFStream):
            continue
        for name in _DRAW.findall(stream.get_data()):
            total += 1
            reference = names.get(name.decode("latin-1"))
            if isinstance(reference, PDFObjRef):
                objid = reference.objid
                if objid in drawing:
                    # A form that draws itself would be drawn until the stack runs out.
                    return MAX_PAGE_DRAWINGS + 1
                if objid not in known:
                    form = resolve1(reference)
                    inner = form.get("Resources") if isinstance(form, PDFStream) else None
                    drawing.add(objid)
                    known[objid] = _drawings([form], inner or resources, known, drawing)
                    drawing.discard(objid)
                total += known[objid]
            if total > MAX_PAGE_DRAWINGS:
                return total
    return total


def _join_continuation(previous: list[str], continuation: list[str]) -> None:
    """Append the part of a row that a page break carried to the next page."""
    for i, text in enumerate(continuation):
        if i >= len(previous):
            break
        if text:
            previous[i] = f"{previous[i]} {text}" if previous[i] else text


def _one_line(text: str) -> str:
    return " ".join(text.split())
