"""One writer per format, each taking (columns, records) of any record type.

json, csv and tsv give scripts the columns' English keys and exact values;
markdown, the rich table and xlsx give people the 中文表头 and the shown text.
`write` is the one dispatcher commands hand their records to. rich is imported
only when a table is drawn, openpyxl only when a sheet is filled.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from ..domain.cells import guard
from ..domain.errors import UsageError
from ..domain.text import inert, json_inert, markdown_text
from .columns import Column, Justify

if TYPE_CHECKING:
    from openpyxl.styles.cell_style import StyleArray
    from openpyxl.worksheet.worksheet import Worksheet
    from rich.console import RenderableType
    from rich.text import Text

FORMATS = ("table", "json", "csv", "tsv", "markdown")
# A write's confirmation is one line or one JSON object, not a table of rows.
CONFIRMATION_FORMATS = ("table", "json")
LINE_POINTS = 15.6  # xlsx: one line of 11 pt text, Chinese fallback fonts included


class Layout(NamedTuple):
    """The columns a command shows in each format: one selection of the same declarations each."""

    json: tuple[Column, ...]
    script: tuple[Column, ...]  # csv and tsv
    markdown: tuple[Column, ...]
    table: tuple[Column, ...]


def check_format(fmt: str, formats: Sequence[str] = FORMATS) -> str:
    """The format asked for, if the command can write it; the error lists only what it can."""
    value = (fmt or "").strip().lower()
    if value not in formats:
        raise UsageError(f"不支持的输出格式“{fmt}”，可选：{'、'.join(formats)}。")
    return value


def write(layout: Layout, records: Sequence[object], fmt: str, out: IO[str], *, title: str | Text | None = None,
          show_lines: bool = False, footer: str | None = None) -> None:
    """`records` in `fmt`; a table gets its title, row lines and a dim footer line."""
    if fmt == "json":
        write_json(json_objects(layout.json, records), out)
    elif fmt in ("csv", "tsv"):
        write_delimited(layout.script, records, out, tsv=fmt == "tsv")
    elif fmt == "markdown":
        write_markdown(layout.markdown, records, out)
    else:
        write_table(layout.table, records, out, title=title, show_lines=show_lines, footer=footer)


def write_card(fields: Sequence[Column], record: object, fmt: str, out: IO[str], *, heading: str, labels: tuple[str, str],
               data: object, script: Sequence[Column], justify: Justify = "left") -> None:
    """One record on its own: `data` in JSON, one `script` row in CSV/TSV, else 项目/内容 lines under a heading."""
    if fmt == "json":
        write_json(data, out)
    elif fmt in ("csv", "tsv"):
        write_delimited(script, [record], out, tsv=fmt == "tsv")
    elif fmt == "markdown":
        out.write(f"## {markdown_text(heading)}\n\n")
        markdown_table(labels, ((field.header, field.shown(record)) for field in fields), out)
    else:
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold", justify=justify)
        for field in fields:
            grid.add_row(field.header, text(str(field.shown(record))))
        print_rich(out, heading, style="bold")
        print_rich(out, grid)


# -- json -------------------------------------------------------------------------


def json_object(columns: Iterable[Column], record: object) -> dict[str, object]:
    data = {}
    for column in columns:
        value = column.value(record)
        if not (column.optional and value in (None, "")):
            data[column.key] = value
    return data


def json_objects(columns: Sequence[Column], records: Iterable[object]) -> list[dict[str, object]]:
    return [json_object(columns, record) for record in records]


def write_json(data: object, out: IO[str]) -> None:
    """Indented for a person at a terminal; one compact line for pipes and files.

    The keys are the contract, not the layout, and the compact form goes through
    json's C encoder: for the 1,970 units of a city it is the difference between
    a few milliseconds and most of the command's run time.
    """
    # json escapes only C0 controls; json_inert gives C1, bidi and the rest \\uXXXX escapes
    # too, which a parser reads back as the very same text.
    if out.isatty():
        out.write(json_inert(json.dumps(data, ensure_ascii=False, indent=2)))
    else:
        out.write(json_inert(json.dumps(data, ensure_ascii=False)))
    out.write("\n")


def write_json_array(objects: Iterable[object], out: IO[str], *, indent: bool | None = None) -> None:
    """A JSON array written an element at a time, as `write_json` writes the whole list at once:
    the same text, without the whole list in memory. `indent`: as for a terminal (default: when
    `out` is one)."""
    tty = out.isatty() if indent is None else indent
    first = True
    for data in objects:
        if tty:
            element = json.dumps(data, ensure_ascii=False, indent=2).replace("\n", "\n  ")
            out.write(("[\n  " if first else ",\n  ") + json_inert(element))
        else:
            out.write(("[" if first else ", ") + json_inert(json.dumps(data, ensure_ascii=False)))
        first = False
    out.write("[]\n" if first else "\n]\n" if tty else "]\n")


# -- csv and tsv --------------------------------------------------------------------


def write_delimited(columns: Sequence[Column], records: Iterable[object], out: IO[str], *, tsv: bool = False,
                    office: bool = False) -> None:
    """Scripts get the English keys and exact values; `office` files the 中文表头 and the shown text."""
    if tsv:
        # TSV has no quoting: a tab or newline inside a value would break the row (_cell turns
        # them into spaces), and a double quote is just a character, not one to escape.
        writer = csv.writer(out, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar=None,
                            lineterminator="\n")
    else:
        writer = csv.writer(out, lineterminator="\n")
    writer.writerow(column.header if office else column.key for column in columns)
    for record in records:
        values = (column.shown(record) if office else column.value(record) for column in columns)
        writer.writerow(_cell(value, tsv) for value in values)


def _cell(value: object, tsv: bool) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        value = "、".join(value)
    elif isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        if tsv:
            value = re.sub(r"[\t\r\n]+", " ", value)
        # CSV and TSV end up `cat`ed to terminals too, and opened in spreadsheets that
        # would run "=…" as a formula (see cells.py); numbers stay numbers, JSON keeps the exact text.
        return guard(inert(value))
    return "" if value is None else value


# -- markdown -----------------------------------------------------------------------


def write_markdown(columns: Sequence[Column], records: Iterable[object], out: IO[str]) -> None:
    markdown_table([column.header for column in columns],
                   ([column.shown(record) for column in columns] for record in records), out)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], out: IO[str]) -> None:
    """The one place Markdown cells are escaped: shown, never rendered."""
    out.write("| " + " | ".join(headers) + " |\n")
    out.write("|" + "|".join("---" for _ in headers) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(markdown_text(_plain(v)) for v in row) + " |\n")


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


# -- rich tables --------------------------------------------------------------------


def write_table(columns: Sequence[Column], records: Sequence[object], out: IO[str], *,
                title: str | Text | None = None,
                show_lines: bool = False, footer: str | None = None) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=show_lines, header_style="bold", title=title)
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=column.no_wrap, overflow=column.overflow,
                         ratio=column.ratio)
    for record in records:
        table.add_row(*(
            Text(inert(_table_text(column.table_cell(record))),
                 style=column.style(record) if column.style else "")
            for column in columns
        ))
    if footer is None:
        print_rich(out, table)
    else:
        print_rich(out, table, Text(footer, style="dim"))


def write_batches(layout: Layout, batches: Iterable[Sequence[object]], fmt: str, out: IO[str], *,
                  show_lines: bool = False, footer: Callable[[int], str] | None = None) -> int:
    """What `write` writes, for records that come a batch at a time: each batch is written out
    before the next is read, so memory holds one batch whatever the count. The count written."""
    count = 0

    def counted() -> Iterator[object]:
        nonlocal count
        for batch in batches:
            count += len(batch)
            yield from batch

    if fmt == "json":
        write_json_array((json_object(layout.json, record) for record in counted()), out)
    elif fmt in ("csv", "tsv"):
        write_delimited(layout.script, counted(), out, tsv=fmt == "tsv")
    elif fmt == "markdown":
        write_markdown(layout.markdown, counted(), out)
    else:
        count = write_table_batches(layout.table, batches, out, show_lines=show_lines, footer=footer)
    return count


# Box-drawing of a finished table's bottom edge, turned into the line between two rows.
_BOTTOM_TO_ROW_LINE = str.maketrans("└┴┘", "├┼┤")
# A colour code in a drawn line: only the batched table reads one, so it is compiled there.
_ANSI = r"\x1b\[[0-9;]*m"
# Room a number column (kept on one line, right-aligned) keeps when more batches follow: ids
# grow past the first batch's widths.
_NUMBER_WIDTH = 7


def write_table_batches(columns: Sequence[Column], batches: Iterable[Sequence[object]], out: IO[str], *,
                        show_lines: bool = False, footer: Callable[[int], str] | None = None) -> int:
    """One rich table drawn a batch of rows at a time: the first batch sets the columns' widths,
    each later batch is drawn at those widths without a header and joined where the last one
    ended, so the whole reads as one table. A single batch is exactly `write_table`'s."""
    from rich.table import Table
    from rich.text import Text

    count = 0
    widths: list[int] | None = None
    bottom = ""
    batches = iter(batches)
    batch = next(batches, None)
    while batch is not None:
        following = next(batches, None)
        table = Table(show_lines=show_lines, header_style="bold", show_header=widths is None)
        for index, column in enumerate(columns):
            number = column.no_wrap and column.justify == "right"
            room = _NUMBER_WIDTH if widths is None and following is not None and number else None
            table.add_column(column.header, justify=column.justify, no_wrap=column.no_wrap, overflow=column.overflow,
                             ratio=column.ratio if widths is None else None,
                             width=widths[index] if widths is not None else None, min_width=room)
        for record in batch:
            table.add_row(*(
                Text(inert(_table_text(column.table_cell(record))),
                     style=column.style(record) if column.style else "")
                for column in columns
            ))
        lines = _rich_text(out, table).split("\n")[:-1]
        if widths is None:
            widths = [len(part) - 2 for part in re.sub(_ANSI, "", lines[0])[1:-1].split("┳")]
        else:
            # Its top edge: the previous batch's last row continues into this one.
            out.write(bottom.translate(_BOTTOM_TO_ROW_LINE) + "\n")
            lines = lines[1:]
        out.write("".join(line + "\n" for line in lines[:-1]))
        bottom = lines[-1]
        count += len(batch)
        batch = following
    if count:
        out.write(bottom + "\n")
        if footer is not None:
            print_rich(out, Text(footer(count), style="dim"))
    return count


def _table_text(value: object) -> str:
    return "" if value is None else str(_plain(value))


def print_rich(out: IO[str], *renderables: RenderableType, style: str | None = None) -> None:
    from rich.console import Console

    # Never markup or emoji codes: a plan named "[link=…]" or ":x:" is shown as typed,
    # wherever a string reaches rich (titles, cells, lines), not turned into a link or fail.
    renderables = tuple(text(item) if isinstance(item, str) else item for item in renderables)
    if out.isatty():
        Console(file=out, highlight=False, markup=False, emoji=False).print(*renderables, style=style)
        return
    out.write(_rich_text(out, *renderables, style=style))


def _rich_text(out: IO[str], *renderables: RenderableType, style: str | None = None) -> str:
    """What `print_rich` would write to `out`, as text."""
    from rich.console import Console

    if out.isatty():
        console = Console(file=out, highlight=False, markup=False, emoji=False)
        with console.capture() as captured:
            console.print(*renderables, style=style)
        return captured.get()
    # Piped or cron: no colour, a fixed width instead of rich's guess, and no
    # padding spaces at line ends for mail and diffs to carry around.
    width = int(os.environ.get("COLUMNS") or 100)
    console = Console(width=width, no_color=True, color_system=None, highlight=False, markup=False, emoji=False)
    with console.capture() as captured:
        console.print(*renderables, style=style)
    return "\n".join(line.rstrip() for line in captured.get().split("\n"))


def text(value: str, style: str = "") -> Text:
    from rich.text import Text

    # A Text object is never parsed for [markup], so typed text shows literally.
    return Text(inert(value), style=style)


# -- xlsx ---------------------------------------------------------------------------


class _Styled(Protocol):
    """A cell's style indices: openpyxl's own attribute, which its type stubs leave out."""

    _style: StyleArray


class SheetRows:
    """An openpyxl write-only sheet filled a record at a time: bold header row, widths and
    alignment by column kind, rows tall enough. Each row goes to the sheet's file as it is
    added, so a sheet of any length holds one row in memory; `close` adds what needs the row
    count (the filter's range, the drop-downs).

    A sheet meant for paper names, in `whole_in`, where its text is whole: a cell too long
    for the tallest row Excel allows (409 pt) would be clipped when printed, without a mark,
    so it is cut to fit instead and ends by saying where to read the rest."""

    def __init__(self, sheet: Worksheet, columns: Sequence[Column], *, whole_in: str | None = None) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
        from openpyxl.utils import get_column_letter

        self.sheet, self.columns, self.count = sheet, tuple(columns), 0
        self._whole_in = whole_in
        self._cell = WriteOnlyCell
        edge = Side(style="thin", color="A6A6A6")
        border = Border(left=edge, right=edge, top=edge, bottom=edge)
        for index, column in enumerate(columns, start=1):
            dimension = sheet.column_dimensions[get_column_letter(index)]
            dimension.width = column.width
            if column.hidden:
                dimension.hidden = True
        # Header row and 序号 column stay in view while scrolling.
        sheet.freeze_panes = "B2"
        header = []
        for column in columns:
            cell = WriteOnlyCell(sheet, column.header)
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="D9E1F2")
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            cell.border = border
            header.append(cell)
        sheet.append(header)
        # One styled cell per column; every cell of the column takes a copy of its style indices:
        # assigning style objects makes openpyxl hash them again for every cell (most of an
        # export's time), the way openpyxl's own copy_worksheet avoids it.
        self._styles: list[StyleArray] = []
        for column in columns:
            model = WriteOnlyCell(sheet)
            model.alignment = Alignment(
                vertical="top",
                wrap_text=column.kind == "wrap",
                horizontal="center" if column.kind in ("number", "date", "datetime") else None,
            )
            model.border = border
            if column.kind == "date":
                model.number_format = "yyyy-mm-dd"
            elif column.kind == "datetime":
                model.number_format = "yyyy-mm-dd hh:mm"
            if column.editable:
                model.protection = Protection(locked=False)
                model.fill = PatternFill("solid", fgColor="FFF2CC")  # the cells to fill in, at a glance
            self._styles.append(cast(_Styled, model)._style)

    def add(self, record: object) -> None:
        from copy import copy

        values = [column.shown(record) for column in self.columns]
        if self._whole_in is not None:
            values = [_fit_row(column, value, self._whole_in) for column, value in zip(self.columns, values, strict=True)]
        cells = []
        for column, value, style in zip(self.columns, values, self._styles, strict=True):
            cell = self._cell(self.sheet, cast(Any, _xlsx_value(column, value)))
            cast(_Styled, cell)._style = copy(style)
            if column.kind not in ("date", "datetime") and cell.data_type == "f":
                # openpyxl takes any text starting with "=" for a formula; a note
                # such as "=已完成" must stay text, not become #NAME? in Excel.
                cell.data_type = "s"
            cells.append(cell)
        self.count += 1
        number = self.count + 1
        # A row's height is written with the row; it is dropped once written, like the row.
        self.sheet.row_dimensions[number].height = _row_height(self.columns, values)
        self.sheet.append(cells)
        del self.sheet.row_dimensions[number]

    def close(self) -> None:
        from openpyxl.utils import get_column_letter

        self.sheet.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{self.count + 1}"
        if any(column.editable for column in self.columns):
            _protect(self.sheet, self.columns, self.count)


def _protect(sheet: Worksheet, columns: Sequence[Column], count: int) -> None:
    """Only the columns to fill in (unlocked by `SheetRows`) can be edited (no password: a guard
    against slips, not a lock); a column with choices offers them as a drop-down, and the hidden
    columns stay hidden."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    # Filtering, resizing and formatting stay allowed (False: not protected).
    protection = sheet.protection
    protection.sheet = True
    protection.autoFilter = protection.formatColumns = protection.formatRows = protection.formatCells = False
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        if column.hidden:
            sheet.column_dimensions[letter].hidden = True
        if column.editable and column.choices and count:
            # A warning, not a stop: a clerk who types 完成 or 卡住 may keep it, as the importer
            # reads those words too (docs/exports.md); a stop refused them.
            choices = DataValidation(type="list", formula1=f'"{",".join(column.choices)}"', allow_blank=False,
                                     showErrorMessage=True, errorStyle="warning", errorTitle=column.header,
                                     error=f"建议从下拉列表中选择：{'、'.join(column.choices)}。"
                                           "“完成”“卡住”等常用说法导入时也能识别，可以点“是”保留。")
            choices.add(f"{letter}2:{letter}{count + 1}")
            sheet.data_validations.append(choices)


# 409 pt is the most a row may be; this many lines of text fill it.
_ROW_POINTS_MAX = 409.0
_ROW_LINES_MAX = int((_ROW_POINTS_MAX - 4) // LINE_POINTS)


def _row_height(columns: Sequence[Column], values: Sequence[object]) -> float:
    """Points for a row whose wrapped cells all show whole: the tallest cell's lines.

    Excel and LibreOffice do not grow a row for wrapped text written by a program,
    so the height is estimated here: a Chinese character takes two width units.
    """
    lines = 1
    for column, value in zip(columns, values, strict=True):
        if column.kind == "wrap" and isinstance(value, str) and value:
            lines = max(lines, _lines(value, column.width))
    return min(_ROW_POINTS_MAX, lines * LINE_POINTS + 4)


def _lines(value: str, width: float) -> int:
    """How many lines `value` wraps to in a column `width` units wide."""
    import math

    per_line = max(1.0, width - 1.5)
    return sum(max(1, math.ceil(_display_width(part) / per_line)) for part in value.split("\n"))


def _fit_row(column: Column, value: object, whole_in: str) -> object:
    """A printed cell's text, cut where the tallest row ends, with a pointer to `whole_in`."""
    if column.kind != "wrap" or not isinstance(value, str) or _lines(value, column.width) <= _ROW_LINES_MAX:
        return value
    pointer = f"……（未完，全文见“{whole_in}”工作表）"
    # The longest beginning that fits with the pointer after it: line counts only grow with length.
    low, high = 0, len(value)
    while low < high:
        middle = (low + high + 1) // 2
        if _lines(value[:middle] + pointer, column.width) <= _ROW_LINES_MAX:
            low = middle
        else:
            high = middle - 1
    return value[:low] + pointer


def _display_width(value: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in value)


def _xlsx_value(column: Column, value: object) -> object:
    if column.kind == "datetime":
        # Excel has no time zones; the wall-clock time in the ledger's zone is what people expect.
        return datetime.fromisoformat(value).replace(tzinfo=None) if isinstance(value, str) and value else None
    if isinstance(value, str):
        # Control characters, U+FFFE and U+FFFF are illegal in xlsx XML (one of them makes the
        # whole workbook unreadable); show them the way the terminal output does.
        return inert(value)
    return value
