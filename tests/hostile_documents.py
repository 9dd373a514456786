"""Small Word, PDF, workbook and batch files that ask a reader for gigabytes or minutes.

Each is written at test time, part by part or chunk by chunk, so that a part far
larger than the file is never held by the test itself. They are the files the
budget in docs/reliability.md was measured with (tools/measure_budget.py).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import docx

import hostile_files

# -- Word ----------------------------------------------------------------------------------


def plan_document(path: Path, *, rows: int = 1) -> Path:
    """A real .docx whose one table is the plan header and `rows` tasks."""
    document = docx.Document()
    table = document.add_table(rows=1 + rows, cols=len(hostile_files.HEADER))
    for column, name in enumerate(hostile_files.HEADER):
        table.cell(0, column).text = name
    for row in range(1, rows + 1):
        for column, value in enumerate([row, *hostile_files.TASK[1:]]):
            table.cell(row, column).text = str(value)
    document.save(str(path))
    return path


def _rewrite_document(path: Path, transform: Callable[[bytes], bytes] = lambda data: data, *,
                      before_body_end: Iterable[bytes] = ()) -> Path:
    """Rewrite word/document.xml of `path` in place: transformed, and chunks streamed in before </w:body>."""
    source = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(source)) as package, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in package.infolist():
            data = package.read(info)
            if info.filename != "word/document.xml":
                out.writestr(info, data)
                continue
            head, _, tail = transform(data).partition(b"<w:sectPr")
            with out.open("word/document.xml", "w", force_zip64=True) as part:
                part.write(head)
                for chunk in before_body_end:
                    part.write(chunk)
                part.write(b"<w:sectPr" + tail)
    return path


def docx_grid_before(path: Path, columns: int) -> Path:
    """The task row starts `columns` grid columns in (w:gridBefore)."""

    def shift(data: bytes) -> bytes:
        second = data.index(b"<w:tr>", data.index(b"<w:tr>") + 1) + len(b"<w:tr>")
        return data[:second] + b'<w:trPr><w:gridBefore w:val="%d"/></w:trPr>' % columns + data[second:]

    plan_document(path)
    return _rewrite_document(path, shift)


def docx_huge_body(path: Path, size: int) -> Path:
    """A plan document followed by `size` bytes of empty paragraphs in word/document.xml."""
    plan_document(path)
    return _rewrite_document(path, before_body_end=_repeated(b"<w:p/>", size))


def docx_huge_table(path: Path, rows: int, columns: int) -> Path:
    """A table of `rows` × `columns` empty cells before the plan table."""
    row = ("<w:tr>" + "<w:tc><w:p/></w:tc>" * columns + "</w:tr>").encode()

    def table_first(data: bytes) -> bytes:
        head, body, tail = data.partition(b"<w:body>")
        return head + body + b"<w:tbl>" + row * rows + b"</w:tbl><w:p/>" + tail

    plan_document(path)
    return _rewrite_document(path, table_first)


# -- PDF -----------------------------------------------------------------------------------


def pdf(objects: list[bytes]) -> bytes:
    """A PDF of numbered objects (1 is the catalog) with a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< %s/Length %d >>\nstream\n" % (extra, len(content)) + content + b"\nendstream"


def _pages(contents: list[bytes], resources: bytes = b"") -> list[bytes]:
    """Catalog, page tree, then each page and its content stream; the Helvetica font is object 3."""
    count = len(contents)
    kids = b" ".join(b"%d 0 R" % (4 + 2 * n) for n in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for n, content in enumerate(contents):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 800] /Resources << /Font << /F1 3 0 R >> %s>>"
                       b" /Contents %d 0 R >>" % (resources, 5 + 2 * n))
        objects.append(_stream(content))
    return objects


def pdf_nested_forms(path: Path, *, wide: int, deep: int, self_drawing: bool = False) -> Path:
    """One page drawing a Form XObject that draws the next one `wide` times, `deep` levels down;
    with `self_drawing`, the last form draws itself instead of a line."""
    first = 4 + 2  # after the catalog, pages, font, the page and its content
    objects = _pages([b"BT /F1 12 Tf 72 720 Td (plan) Tj ET /X Do"], b"/XObject << /X %d 0 R >> " % first)
    for level in range(deep):
        last = level == deep - 1
        if last and not self_drawing:
            content, resources = b"0 0 m 1 1 l S", b""
        else:
            inner = first + level + (0 if last else 1)
            content, resources = b" ".join([b"/X Do"] * wide), b"/Resources << /XObject << /X %d 0 R >> >> " % inner
        objects.append(_stream(content, b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] " + resources))
    path.write_bytes(pdf(objects))
    return path


def pdf_repeated_page(path: Path, times: int) -> Path:
    """A page tree that lists the same page `times` times, a shape no structural check here knows."""
    objects = _pages([b"BT /F1 12 Tf 72 720 Td (plan) Tj ET"])
    objects[1] = b"<< /Type /Pages /Kids [" + b"4 0 R " * times + b"] /Count %d >>" % times
    path.write_bytes(pdf(objects))
    return path


def pdf_broken_font(path: Path) -> Path:
    """A page of text in a font whose descriptor pdfminer cannot read, and no table."""
    objects = _pages([b"BT /F1 12 Tf 72 720 Td (plan) Tj ET"])
    objects[2] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Nope /FontDescriptor 99 0 R >>"
    path.write_bytes(pdf(objects))
    return path


def pdf_ruled_grid(path: Path, lines: int, *, pages: int = 1) -> Path:
    """Pages each ruled into a grid of `lines` × `lines` cells, with a word of text."""
    step = 700 / lines
    strokes = [b"BT /F1 12 Tf 10 10 Td (plan) Tj ET 0.5 w"]
    for i in range(lines + 1):
        at = 50 + i * step
        strokes.append(b"50 %.2f m 750 %.2f l S %.2f 50 m %.2f 750 l S" % (at, at, at, at))
    path.write_bytes(pdf(_pages([b"\n".join(strokes)] * pages)))
    return path


def pdf_huge_stream(path: Path, size: int) -> Path:
    """One page whose content stream inflates to `size` bytes of blanks."""
    packer = zlib.compressobj(9)
    chunk = b" " * 2**20
    packed = b"".join(packer.compress(chunk) for _ in range(size // len(chunk))) + packer.flush()
    objects = _pages([b""])
    objects[4] = _stream(packed, b"/Filter /FlateDecode ")
    path.write_bytes(pdf(objects))
    return path


# -- xlsx ----------------------------------------------------------------------------------


def xlsx_many_styles(path: Path, formats: int) -> Path:
    """A plan workbook whose styles.xml declares `formats` cell formats (<xf/>)."""
    hostile_files.plan_workbook(path)
    source = path.read_bytes()

    def styles() -> Iterator[bytes]:
        yield (f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{hostile_files._MAIN}">'
               f'<cellXfs count="{formats}">').encode()
        yield from _repeated(b"<xf/>", formats * 5)
        yield b"</cellXfs></styleSheet>"

    with zipfile.ZipFile(io.BytesIO(source)) as package, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in package.infolist():
            if info.filename == "xl/styles.xml":
                with out.open(info.filename, "w", force_zip64=True) as part:
                    for chunk in styles():
                        part.write(chunk)
            else:
                out.writestr(info, package.read(info))
    return path


def xlsx_many_sheets(path: Path, sheets: int) -> Path:
    """A plan workbook whose workbook.xml lists `sheets` sheets, all of them the one sheet part."""
    hostile_files.plan_workbook(path)
    source = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(source)) as package, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in package.infolist():
            data = package.read(info)
            if info.filename == "xl/workbook.xml":
                start = data.index(b"<sheet ")
                end = data.index(b"/>", start) + 2
                element = data[start:end]
                copies = b"".join(element.replace(b'name="Sheet"', b'name="S%d"' % n).replace(b'sheetId="1"', b'sheetId="%d"' % n)
                                  for n in range(2, sheets + 1))
                data = data[:end] + copies + data[end:]
            out.writestr(info, data)
    return path


# -- note batches --------------------------------------------------------------------------


def note_batch(path: Path, rows: int) -> Path:
    """A CSV batch of `rows` notes on task 1."""
    with path.open("wb") as out:
        out.write(b"id,text\n")
        for _ in range(rows // 10_000):
            out.write(b"1,a\n" * 10_000)
        out.write(b"1,a\n" * (rows % 10_000))
    return path


def _repeated(unit: bytes, size: int) -> Iterator[bytes]:
    """`unit` repeated to about `size` bytes, in chunks of about a megabyte."""
    per_chunk = max(1, 2**20 // len(unit))
    chunk = unit * per_chunk
    count = size // len(unit)
    for _ in range(count // per_chunk):
        yield chunk
    yield unit * (count % per_chunk)
