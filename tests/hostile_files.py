"""Small files that would make a careless reader spend gigabytes or minutes.

Each is built at test time with openpyxl or zipfile: a valid plan workbook
(header and one task) with one hostile part swapped in. They are also what
docs/import.md's measurements were taken with.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import openpyxl

HEADER = ["序号", "任务名称", "任务内容", "责任单位", "时间节点"]
TASK = [1, "推进政策集中发布", "内容一", "区财政局", "全年"]
SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org"


def plan_workbook(path: Path, *, sheets: int = 1, far_cell: bool = False) -> Path:
    """A real plan workbook; `far_cell` puts one cell at XFD1048576 on every sheet."""
    book = openpyxl.Workbook()
    for number in range(sheets):
        sheet = book.active if number == 0 else book.create_sheet(f"表{number + 1}")
        if number == 0:
            sheet.append(HEADER)
            sheet.append(TASK)
        if far_cell:
            sheet["XFD1048576"] = "远处的单元格"
    book.save(path)
    return path


def raw_workbook(
    path: Path, rows: Iterable[bytes], strings: Iterable[bytes] | None = None, *, after: Iterable[bytes] = ()
) -> Path:
    """A minimal package written part by part, so a part far larger than the file is streamed, never held."""
    overrides = [("/xl/workbook.xml", "sheet.main"), ("/xl/worksheets/sheet1.xml", "worksheet")]
    relations = [("worksheet", "worksheets/sheet1.xml")]
    if strings is not None:
        overrides.append(("/xl/sharedStrings.xml", "sharedStrings"))
        relations.append(("sharedStrings", "sharedStrings.xml"))
    types = "".join(
        f'<Override PartName="{part}" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.{kind}+xml"/>'
        for part, kind in overrides
    )
    rels = "".join(
        f'<Relationship Id="rId{n}" Type="{_RELS}/officeDocument/2006/relationships/{kind}" Target="{target}"/>'
        for n, (kind, target) in enumerate(relations, start=1)
    )
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{_RELS}/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{types}</Types>',
        "_rels/.rels": f'<Relationships xmlns="{_RELS}/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{_RELS}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}/officeDocument/2006/relationships">'
        '<sheets><sheet name="任务" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{_RELS}/package/2006/relationships">{rels}</Relationships>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        for name, chunks in ((SHEET, _sheet(rows, after)), (STRINGS, strings)):
            if chunks is None:
                continue
            with archive.open(name, "w", force_zip64=True) as out:
                for chunk in chunks:
                    out.write(chunk)
    return path


def _sheet(rows: Iterable[bytes], after: Iterable[bytes] = ()) -> Iterator[bytes]:
    """The worksheet part; `after` is what follows the rows in the schema's order, e.g. <mergeCells>."""
    yield f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}"><sheetData>'.encode()
    yield from rows
    yield b"</sheetData>"
    yield from after
    yield b"</worksheet>"


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _header_row() -> bytes:
    cells = "".join(_inline(f"{column}1", name) for column, name in zip("ABCDE", HEADER, strict=True))
    return f'<row r="1">{cells}</row>'.encode()


def many_rows(path: Path, rows: int, *, tasks: bool = False) -> Path:
    """A sheet of `rows` rows under the header: bare numbers, or (`tasks`) complete task rows."""

    def body() -> Iterator[bytes]:
        yield _header_row()
        batch = []
        for number in range(2, rows + 2):
            if tasks:
                cells = (f'<c r="A{number}"><v>{number - 1}</v></c>' + _inline(f"B{number}", "组")
                         + _inline(f"C{number}", f"内容{number}") + _inline(f"D{number}", "区财政局")
                         + _inline(f"E{number}", "全年"))
            else:
                cells = f'<c r="A{number}"><v>{number}</v></c>'
            batch.append(f'<row r="{number}">{cells}</row>')
            if len(batch) == 10_000:
                yield "".join(batch).encode()
                batch = []
        yield "".join(batch).encode()

    return raw_workbook(path, body())


def huge_shared_string(path: Path, size: int) -> Path:
    """The task's content is one shared string of `size` bytes: a zip bomb of a few hundred kilobytes."""

    def strings() -> Iterator[bytes]:
        yield f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="1" uniqueCount="1"><si><t>'.encode()
        chunk = b"a" * 2**20
        for _ in range(size // len(chunk)):
            yield chunk
        yield b"a" * (size % len(chunk))
        yield b"</t></si></sst>"

    def sheet() -> Iterator[bytes]:
        yield _header_row()
        yield (b'<row r="2"><c r="A2"><v>1</v></c>' + _inline("B2", "组").encode()
               + b'<c r="C2" t="s"><v>0</v></c>' + _inline("D2", "区财政局").encode()
               + _inline("E2", "全年").encode() + b"</row>")

    return raw_workbook(path, sheet(), strings())


def many_merges(path: Path, merges: int) -> Path:
    """One task, then `merges` ranges merged down the task columns B-E, two rows each, none overlapping."""
    task = (b'<row r="2"><c r="A2"><v>1</v></c>' + _inline("B2", "组").encode() + _inline("C2", "内容一").encode()
            + _inline("D2", "区财政局").encode() + _inline("E2", "全年").encode() + b"</row>")
    ranges = (f"{column}{row}:{column}{row + 1}" for row in range(3, 3 + 2 * merges, 2) for column in "BCDE")
    refs = "".join(f'<mergeCell ref="{ref}"/>' for _, ref in zip(range(merges), ranges, strict=False))
    after = [f'<mergeCells count="{merges}">{refs}</mergeCells>'.encode()]
    return raw_workbook(path, [_header_row(), task], after=after)


def long_cell(path: Path, chars: int) -> Path:
    """A task whose content is an inline string of `chars` characters."""
    body = [_header_row(), (f'<row r="2"><c r="A2"><v>1</v></c>{_inline("B2", "组")}'
                            f'{_inline("C2", "长" * chars)}{_inline("D2", "区财政局")}{_inline("E2", "全年")}</row>').encode()]
    return raw_workbook(path, body)
