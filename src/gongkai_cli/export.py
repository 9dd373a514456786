"""Whole-plan exports: xlsx for people, csv/json/markdown for scripts, ics for calendars.

Writers take records (a `PlanTasks`) and write bytes to a binary stream; they
never query. Files are replaced atomically (see files.py). openpyxl and
icalendar are imported only by the writer that needs them.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable

from .errors import UsageError
from .files import STDOUT, check_output, write_output
from .models import Note, Status, Task
from .render import inert, note_text, write_json, write_markdown_table

if TYPE_CHECKING:
    from .ledger import PlanTasks

FORMATS = ("xlsx", "csv", "json", "markdown", "ics")
_SUFFIXES = {
    ".xlsx": "xlsx",
    ".csv": "csv",
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".ics": "ics",
}
SUMMARY_CHARS = 20
UID_DOMAIN = "gongkai"


@dataclass(frozen=True)
class _Column:
    header: str
    width: float  # Excel character units; a Chinese character takes about two
    kind: str = "text"  # text, wrap (long text), number, date, datetime


TASK_COLUMNS = (
    _Column("序号", 6, "number"),
    _Column("任务名称", 18, "wrap"),
    _Column("任务内容", 60, "wrap"),
    _Column("责任单位", 30, "wrap"),
    _Column("牵头单位", 20, "wrap"),
    _Column("时间节点", 12, "wrap"),
    _Column("开始日期", 12, "date"),
    _Column("截止日期", 12, "date"),
    _Column("状态", 8),
    _Column("是否逾期", 10),
    _Column("最新进展", 40, "wrap"),
    _Column("最新进展时间", 18, "datetime"),
    _Column("更新时间", 18, "datetime"),
)
NOTE_COLUMNS = (
    _Column("序号", 6, "number"),
    _Column("时间", 18, "datetime"),
    _Column("记录人", 12, "wrap"),
    _Column("状态变更", 10),
    _Column("内容", 70, "wrap"),
)


def resolve_format(fmt: str | None, output: str) -> str:
    """The export format: --format, else the output file's suffix, else csv for stdout."""
    if fmt is not None:
        value = fmt.strip().lower()
        if value not in FORMATS:
            raise UsageError(f"不支持的导出格式“{fmt}”，可选：{'、'.join(FORMATS)}。")
        return value
    if output == STDOUT:
        return "csv"
    suffix = Path(output).suffix.lower()
    if suffix not in _SUFFIXES:
        # Guessing csv for "report.xls" would hand Excel a file it then calls corrupt.
        raise UsageError(f"无法从文件名“{output}”判断导出格式，请用 --format 指定：{'、'.join(FORMATS)}。")
    return _SUFFIXES[suffix]


def check_target(fmt: str, output: str) -> None:
    """Refuse a target that cannot work, before any database work is done."""
    if output == STDOUT and fmt == "xlsx" and sys.stdout.isatty():
        raise UsageError("xlsx 是二进制文件，不能直接输出到终端，请用 -o 指定文件名（例如 -o 任务.xlsx）或重定向到文件。")
    check_output(output, what="导出")


def write(export: PlanTasks, fmt: str, output: str) -> None:
    """Write the plan in `fmt` to the file `output`, or to stdout when it is "-"."""

    def produce(out: IO[bytes]) -> None:
        if fmt == "csv" and output != STDOUT:
            # Excel and WPS read a CSV without a BOM as GBK; a pipe wants no BOM.
            out.write(codecs.BOM_UTF8)
        _WRITERS[fmt](export, out)

    write_output(output, produce)


# -- records as rows ------------------------------------------------------------------


def _task_values(task: Task) -> tuple:
    latest = task.notes[-1] if task.notes else None
    return (
        task.id,
        task.group,
        task.content,
        "、".join(task.units),
        task.lead_unit or "",
        task.deadline,
        task.start,
        task.due,
        task.status.label,
        "是" if task.overdue else "否",
        note_text(latest) if latest else "",
        latest.at if latest else "",
        task.updated_at,
    )


def _note_values(task: Task, note: Note) -> tuple:
    return (task.id, note.at, note.by, note.status.label if note.status else "", note.text)


def _plain(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        # Exports end up `cat`ed to terminals too, like every other text output.
        return inert(value)
    return "" if value is None else value


# -- text formats ---------------------------------------------------------------------


def _text_writer(write_text: Callable[[PlanTasks, IO[str]], None]) -> Callable[[PlanTasks, IO[bytes]], None]:
    def write_bytes(export: PlanTasks, out: IO[bytes]) -> None:
        text = io.StringIO()
        write_text(export, text)
        out.write(text.getvalue().encode("utf-8"))

    return write_bytes


def _csv(export: PlanTasks, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(column.header for column in TASK_COLUMNS)
    for task in export.tasks:
        writer.writerow(_plain(value) for value in _task_values(task))


def _json_export(export: PlanTasks, out: IO[str]) -> None:
    write_json(
        [
            task.to_dict(with_notes=True)
            | {"latest_note": task.notes[-1].to_dict() if task.notes else None}
            for task in export.tasks
        ],
        out,
    )


def _markdown_export(export: PlanTasks, out: IO[str]) -> None:
    write_markdown_table(
        [column.header for column in TASK_COLUMNS],
        ([_plain(value) for value in _task_values(task)] for task in export.tasks),
        out,
    )


# -- xlsx -----------------------------------------------------------------------------


def _xlsx(export: PlanTasks, out: IO[bytes]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    tasks = book.active
    tasks.title = "任务"
    _fill_sheet(tasks, TASK_COLUMNS, [_task_values(task) for task in export.tasks])
    notes = book.create_sheet("进展记录")
    _fill_sheet(notes, NOTE_COLUMNS, [_note_values(task, note) for task in export.tasks for note in task.notes])
    book.save(out)


def _fill_sheet(sheet, columns: tuple[_Column, ...], rows: list[tuple]) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    edge = Side(style="thin", color="A6A6A6")
    border = Border(left=edge, right=edge, top=edge, bottom=edge)
    sheet.append([column.header for column in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="D9E1F2")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = border
    for values in rows:
        sheet.append([_xlsx_value(column, value) for column, value in zip(columns, values)])
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
        alignment = Alignment(
            vertical="top",
            wrap_text=column.kind == "wrap",
            horizontal="center" if column.kind in ("number", "date", "datetime") else None,
        )
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.alignment = alignment
            cell.border = border
            if column.kind == "date":
                cell.number_format = "yyyy-mm-dd"
            elif column.kind == "datetime":
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif cell.data_type == "f":
                # openpyxl takes any text starting with "=" for a formula; a note
                # such as "=已完成" must stay text, not become #NAME? in Excel.
                cell.data_type = "s"
    # Header row and 序号 column stay in view while scrolling; the header repeats on printed pages.
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = sheet.dimensions
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _xlsx_value(column: _Column, value: object) -> object:
    if column.kind == "datetime":
        # Excel has no time zones; the wall-clock time in the ledger's zone is what people expect.
        return datetime.fromisoformat(value).replace(tzinfo=None) if value else None
    if isinstance(value, str):
        # Control characters, U+FFFE and U+FFFF are illegal in xlsx XML (one of them makes the
        # whole workbook unreadable); show them the way the terminal output does.
        return inert(value)
    return value


# -- ics ------------------------------------------------------------------------------


def _ics(export: PlanTasks, out: IO[bytes]) -> None:
    """One all-day VEVENT per task with a due date, on the due date.

    VEVENT rather than VTODO: Outlook, Google Calendar and the phone calendars
    people subscribe with ignore VTODO entries, so tasks would silently vanish.
    The event sits on the deadline day even when the task has a start (全年 would
    otherwise paint a bar across the whole year), and is marked free (TRANSP) so
    deadlines do not block anyone's schedule. Nothing depends on today (no
    overdue flag) and DTSTAMP is the task's updated_at, so exporting an unchanged
    ledger twice gives the same bytes and subscriptions see no spurious change.
    """
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//gongkai//政务公开工作要点任务台账//ZH")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", inert(f"政务公开任务（{export.plan.name}）"))
    for task in export.tasks:
        if task.due is None:
            continue
        stamp = datetime.fromisoformat(task.updated_at).astimezone(timezone.utc)
        event = Event()
        # Stable across exports, so a calendar subscription updates the event instead of adding another.
        event.add("uid", f"gongkai-{inert(export.plan.name)}-{task.id}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("last-modified", stamp)
        event.add("dtstart", task.due)
        event.add("dtend", task.due + timedelta(days=1))
        event.add("summary", inert(_summary(task)))
        event.add("description", inert(_description(task)))
        event.add("transp", "TRANSPARENT")
        if task.status is Status.CANCELLED:
            event.add("status", "CANCELLED")
        calendar.add_component(event)
    out.write(calendar.to_ical())


def _summary(task: Task) -> str:
    content = task.content
    if len(content) > SUMMARY_CHARS:
        content = content[:SUMMARY_CHARS] + "…"
    return f"[{task.id}] {content}"


def _description(task: Task) -> str:
    units = "、".join(
        f"{unit}（牵头）" if position == 0 else unit for position, unit in enumerate(task.units)
    )
    lines = [
        f"任务名称：{task.group}",
        f"任务内容：{task.content}",
        f"责任单位：{units}",
        f"时间节点：{task.deadline}",
        f"状态：{task.status.label}",
    ]
    if task.notes:
        latest = task.notes[-1]
        lines.append(f"最新进展：{latest.at} {latest.by}：{note_text(latest)}")
    return "\n".join(lines)


_WRITERS: dict[str, Callable[[PlanTasks, IO[bytes]], None]] = {
    "xlsx": _xlsx,
    "csv": _text_writer(_csv),
    "json": _text_writer(_json_export),
    "markdown": _text_writer(_markdown_export),
    "ics": _ics,
}
