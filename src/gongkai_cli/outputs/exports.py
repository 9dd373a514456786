"""Whole-plan exports: xlsx for people, csv/json/markdown for scripts, ics for calendars.

Writers take records (a `PlanTasks`) and write bytes to a binary stream; they
never query. Files are replaced atomically (see files.py). openpyxl and
icalendar are imported only by the writer that needs them.
"""

from __future__ import annotations

import codecs
import io
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple, TypeVar, cast

from ..domain.errors import UsageError
from ..domain.records import Task
from ..domain.statuses import Status
from ..domain.text import inert, inert_line, os_reason
from ..inputs.typed import parse_alarm
from .columns import (
    ASSIGNMENT_SHEET,
    ASSIGNMENT_SHEET_TITLE,
    NOTE_JSON,
    TASK_NOTES,
    TASK_OFFICE,
    TASK_PRINT,
    UNITS_PRINT,
    Column,
    note_text,
    note_writer,
)
from .files import (
    STDOUT,
    check_output,
    make_directory,
    refuse_ledger_files,
    remove,
    write_output,
)
from .render import task_json
from .writers import (
    SheetRows,
    json_object,
    write_delimited,
    write_json_array,
    write_markdown,
)

if TYPE_CHECKING:
    from icalendar import Alarm, Calendar, Event, Todo
    from openpyxl import Workbook
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet
    from openpyxl.worksheet.worksheet import Worksheet

    from ..store import Database
    from ..usecases.queries import PlanBatches, PlanTasks

FORMATS = ("xlsx", "csv", "json", "markdown", "ics", "vdir")
ICS_KINDS = ("event", "todo")
DEFAULT_ALARM = "3d"
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
PRODID = "-//gongkai//政务公开工作要点任务台账//ZH"


PRINT_MARGIN_INCHES = 0.4


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


def check_target(fmt: str, output: str, *, force: bool = False, unit: str | None = None) -> None:
    """Refuse a target that cannot work, before any database work is done."""
    if unit is not None and fmt != "xlsx":
        # The round trip needs the sheet's protected and hidden columns, which only xlsx keeps.
        raise UsageError(f"export --unit 只生成供单位填报的 xlsx 文件，不支持 {fmt} 格式；请用 -o 文件名.xlsx。")
    if output == STDOUT and fmt == "xlsx" and sys.stdout.isatty():
        raise UsageError("xlsx 是二进制文件，不能直接输出到终端，请用 -o 指定文件名（例如 -o 任务.xlsx）或重定向到文件。")
    if fmt == "vdir":
        _check_vdir(output)
        return
    check_output(output, what="导出", force=force)


def _check_vdir(output: str) -> None:
    if output == STDOUT:
        raise UsageError("vdir 格式导出的是一个文件夹（每项任务一个 .ics 文件），请用 -o 指定文件夹，例如 -o ~/.calendars/政务公开。")
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise UsageError(f"vdir 导出目标“{path}”已存在且不是文件夹。")
    if not path.parent.is_dir():
        raise UsageError(f"vdir 文件夹所在目录“{path.parent}”不存在，请先创建该目录。")


class CalendarOptions(NamedTuple):
    """How tasks become calendar entries: events or to-dos, and how long before the due date to remind."""

    kind: str = "event"
    alarm: timedelta | None = None  # the command line's default is DEFAULT_ALARM


# What every format but ics and vdir carries: nothing the user asked for.
NO_CALENDAR = CalendarOptions()


def calendar_options(fmt: str, kind: str | None, alarm: str | None) -> CalendarOptions:
    """Parse --ics-kind and --alarm, which only mean something for ics and vdir."""
    if fmt not in ("ics", "vdir"):
        if kind is not None or alarm is not None:
            raise UsageError("--ics-kind 和 --alarm 只适用于 ics 和 vdir 格式。")
        return NO_CALENDAR
    value = (kind or "event").strip().lower()
    if value not in ICS_KINDS:
        raise UsageError(f"不支持的日历条目类型“{kind}”，可选：event（日程）、todo（待办）。")
    return CalendarOptions(value, parse_alarm(alarm if alarm is not None else DEFAULT_ALARM))


class Exported(NamedTuple):
    """What an export wrote: the plan's tasks, and the rows of its 各单位进展 sheet (xlsx)."""

    tasks: int
    rows: int = 0


def write(
    export: PlanBatches, fmt: str, output: str, calendar: CalendarOptions = NO_CALENDAR, *,
    ledger: Database, force: bool = False,
) -> Exported:
    """Write the plan in `fmt` to the file `output`, or to stdout when it is "-", a batch of tasks
    at a time as the store reads them (a calendar is built whole: icalendar has no other way).

    `ledger` is the live database, which no output may overwrite; `force` replaces a read-only file.
    """
    # The first batch is read before anything is written: a row that cannot be read then fails
    # the export with nothing on stdout and no file begun, as when the plan was read whole.
    batches = iter(export.batches)
    first = next(batches, None)
    export = export._replace(batches=itertools.chain([first] if first is not None else [], batches))
    written = Exported(0)

    def produce(out: IO[bytes]) -> None:
        nonlocal written
        if fmt == "csv" and output != STDOUT:
            # Excel and WPS read a CSV without a BOM as GBK; a pipe wants no BOM.
            out.write(codecs.BOM_UTF8)
        if fmt == "ics":
            whole = _whole(export)
            out.write(_ics(whole, calendar))
            written = Exported(len(whole.tasks))
        elif fmt == "xlsx":
            written = _xlsx(export, out)
        else:
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            try:
                written = Exported(_TEXT_WRITERS[fmt](_Counted(export.batches), text))
                text.flush()
            finally:
                text.detach()

    try:
        write_output(output, produce, ledger=ledger, what="导出", force=force)
    finally:
        # A refused or failed export ends the store's read here, while the ledger is still open.
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    return written


def _whole(export: PlanBatches) -> PlanTasks:
    from ..usecases.queries import PlanTasks

    return PlanTasks(export.plan, [task for batch in export.batches for task in batch], export.units, export.unit)


class _Counted:
    """The tasks of the batches one by one, counted as they go by."""

    def __init__(self, batches: Iterable[list[Task]]) -> None:
        self.batches, self.count = batches, 0

    def __iter__(self) -> Iterator[Task]:
        for batch in self.batches:
            self.count += len(batch)
            yield from batch


# -- text formats ---------------------------------------------------------------------


def _csv(tasks: _Counted, out: IO[str]) -> int:
    write_delimited(TASK_OFFICE, tasks, out, office=True)
    return tasks.count


def _json_export(tasks: _Counted, out: IO[str]) -> int:
    # A file, not a terminal: one compact line, as `write_json` writes it for a file.
    write_json_array((task_json(task) | {"latest_note": json_object(NOTE_JSON, task.notes[-1]) if task.notes else None}
                      for task in tasks), out, indent=False)
    return tasks.count


def _markdown_export(tasks: _Counted, out: IO[str]) -> int:
    write_markdown(TASK_OFFICE, tasks, out)
    return tasks.count


_TEXT_WRITERS: dict[str, Callable[[_Counted, IO[str]], int]] = {
    "csv": _csv, "json": _json_export, "markdown": _markdown_export,
}


# -- xlsx -----------------------------------------------------------------------------


def _xlsx(export: PlanBatches, out: IO[bytes]) -> Exported:
    """The workbook's sheets filled together, a batch of tasks at a time, each row written to its
    sheet's file as it comes (openpyxl's write-only workbook)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    plan = export.plan.name
    tasks = notes = printable = by_unit = None
    # Each sheet's page settings come before its first row: a write-only sheet writes them first.
    if export.units is None:
        # The whole plan's first three sheets are for the screen, filters and import; printed,
        # they came to over 600 pages a year. The two 打印版 sheets are what paper gets.
        sheet = _print_setup(_sheet(book, "任务"), plan, "任务", fit_width=False)
        sheet.print_title_cols = "A:A"
        tasks = SheetRows(_not_printed(sheet, TASK_OFFICE), TASK_OFFICE)
        sheet = _print_setup(_sheet(book, "进展记录"), plan, "进展记录", fit_width=True)
        notes = SheetRows(_not_printed(sheet, TASK_NOTES), TASK_NOTES)
    # One unit's file holds only its own rows to fill in, nothing else to get lost in; it prints.
    what = ASSIGNMENT_SHEET_TITLE if export.unit is None else f"{ASSIGNMENT_SHEET_TITLE}（{export.unit}）"
    sheet = _print_setup(_sheet(book, ASSIGNMENT_SHEET_TITLE), plan, what, fit_width=True)
    assignments = SheetRows(sheet if export.units is not None else _not_printed(sheet, ASSIGNMENT_SHEET),
                            ASSIGNMENT_SHEET)
    if export.units is None:
        # After the others, so that importing this workbook again still reads the full 任务 sheet first.
        printable = SheetRows(_print_setup(_sheet(book, "打印版"), plan, "任务", fit_width=True), TASK_PRINT,
                              whole_in="任务")
        by_unit = SheetRows(_print_setup(_sheet(book, "打印版（各单位）"), plan, "各单位完成情况", fit_width=True),
                            UNITS_PRINT, whole_in=ASSIGNMENT_SHEET_TITLE)
    def fill() -> int:
        wanted = None if export.units is None else set(export.units)
        count = 0
        for batch in export.batches:
            count += len(batch)
            for task in batch:
                if tasks is not None and notes is not None:
                    tasks.add(task)
                    for note in task.notes:
                        notes.add((task, note))
                for assignment in task.assignments:
                    if wanted is None or assignment.unit in wanted:
                        assignments.add((task, assignment))
                if printable is not None and by_unit is not None:
                    printable.add(task)
                    by_unit.add(task)
        for rows in (tasks, notes, assignments, printable, by_unit):
            if rows is not None:
                rows.close()
        return count

    try:
        count = _save_workbook(book, fill, out)
    finally:
        # A failed write leaves the store's read open in the batches; it ends here, not at exit.
        close = getattr(export.batches, "close", None)
        if close is not None:
            close()
    return Exported(count, assignments.count)


def _sheet(book: Workbook, title: str) -> Worksheet:
    """A new sheet of a write-only workbook. It has a worksheet's page, view and protection
    settings (openpyxl sets them up alike), which the type stubs of its class leave out."""
    return cast("Worksheet", book.create_sheet(title))


def _save_workbook(book: Workbook, fill: Callable[[], int], out: IO[bytes]) -> int:
    """Fill `book` (a write-only workbook writes each sheet's rows to a temporary file as they
    come) and save it to `out`; on a full disk, one OSError and no finaliser tracebacks after it.
    Returns what `fill` does.

    The zip is built in memory: openpyxl leaves its ZipFile unclosed when a write
    fails, and its finaliser would then write to a closed file. A failed sheet's
    streams are ended quietly (`_end_sheets_quietly`), so the first error alone is
    reported.
    """
    packed = io.BytesIO()
    try:
        filled = fill()
        book.save(packed)
    except BaseException as err:
        # Whatever stopped the write, the sheets' open writers are ended before it goes on up.
        _end_sheets_quietly(book)
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror, err.filename) from None
        # Where lxml is installed (python-docx brings it), openpyxl serialises with it,
        # and a failed write surfaces as lxml's SerialisationError ("IO_EFBIG"), not OSError.
        if type(err).__name__ != "SerialisationError":
            raise
        import errno
        import os

        code = getattr(errno, str(err).removeprefix("IO_"), errno.EIO)
        raise OSError(code, os.strerror(code)) from None
    out.write(packed.getbuffer())
    return filled


def _end_sheets_quietly(book: Workbook) -> None:
    """End each write-only sheet's writer of a failed workbook, without a word.

    A sheet whose close fails half-way keeps its row and file generators (openpyxl's private
    `_rows` and `_writer.xf`); they are closed here too, or their finalisers would report the
    failure again, as unraisable tracebacks, whenever the workbook is freed."""
    import contextlib
    import gc

    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        for sheet in book.worksheets:
            with contextlib.suppress(Exception):
                cast("WriteOnlyWorksheet", sheet).close()
            writer = getattr(sheet, "_writer", None)
            for stream in (getattr(sheet, "_rows", None), getattr(writer, "xf", None)):
                with contextlib.suppress(Exception):
                    if stream is not None:
                        stream.close()
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _not_printed(sheet: Worksheet, columns: Sequence[Column]) -> Worksheet:
    """A sheet left out when the workbook is printed: its print area is one empty cell, right
    of the last column, and LibreOffice prints no page for an area with nothing in it (a
    hidden sheet would not print either, but would hide the data from the screen as well).
    Clearing the print area (页面布局 → 打印区域 → 取消打印区域) prints the sheet after all."""
    from openpyxl.utils import get_column_letter

    sheet.print_area = f"{get_column_letter(len(columns) + 1)}1"
    return sheet


def _print_setup(sheet: Worksheet, plan: str, what: str, *, fit_width: bool) -> Worksheet:
    """A4 landscape, the header row on every page, "第 N 页 共 M 页" in the footer."""
    fitting, header, footer = sheet.sheet_properties.pageSetUpPr, sheet.oddHeader, sheet.oddFooter
    # openpyxl creates all three with every sheet; its types allow them to be unset.
    assert fitting is not None and header is not None and footer is not None
    sheet.print_title_rows = "1:1"
    from openpyxl.worksheet.worksheet import Worksheet

    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape"
    margins = sheet.page_margins
    margins.left = margins.right = PRINT_MARGIN_INCHES
    margins.top = margins.bottom = 0.6
    margins.header = margins.footer = 0.25
    if fit_width:
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        fitting.fitToPage = True
    sheet.print_options.horizontalCentered = True
    # "&&" is a literal ampersand in a header; plan names are the office's text.
    header.center.text = f"政务公开任务台账（{inert(plan).replace('&', '&&')}）{what}"
    footer.center.text = "第 &P 页 共 &N 页"
    return sheet


# -- ics ------------------------------------------------------------------------------


def _ics(export: PlanTasks, options: CalendarOptions) -> bytes:
    """One calendar of the plan's tasks, as all-day VEVENTs or as VTODOs.

    VEVENT is the default: Outlook, Google Calendar and the phone calendars people
    subscribe with ignore VTODO entries, so tasks would silently vanish. Task apps
    (todoman, Thunderbird's tasks, Apple Reminders over CalDAV) read VTODOs.
    Nothing depends on today (no overdue flag) and DTSTAMP is the task's
    updated_at, so exporting an unchanged ledger twice gives the same bytes and
    subscriptions see no spurious change.
    """
    calendar = _calendar()
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", inert_line(f"政务公开任务（{export.plan.name}）"))
    for task in export.tasks:
        component = _component(export, task, options)
        if component is not None:
            calendar.add_component(component)
    ical: bytes = calendar.to_ical()  # icalendar 7 leaves to_ical unannotated
    return ical


def _calendar() -> Calendar:
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    return calendar


def _uid(plan: str, task_id: int) -> str:
    # Stable across exports, so a calendar subscription updates the entry instead of adding another.
    # One line: a UID is a single content line, and a plan name may hold a line break.
    return f"gongkai-{inert_line(plan)}-{task_id}@{UID_DOMAIN}"


# An event or a to-do: what _described fills in is the same for both.
_Entry = TypeVar("_Entry", "Event", "Todo")


def _component(export: PlanTasks, task: Task, options: CalendarOptions) -> Event | Todo | None:
    """The task's VEVENT or VTODO, or None for an event without a due date to sit on."""
    from icalendar import Event, Todo

    component: Event | Todo
    if options.kind == "event":
        if task.due is None:
            return None
        component = _described(Event(), export.plan.name, task)
        # On the deadline day even when the task has a start (全年 would otherwise paint a
        # bar across the whole year), and free (TRANSP) so deadlines block nobody's schedule.
        component.add("dtstart", task.due)
        component.add("dtend", task.due + timedelta(days=1))
        component.add("transp", "TRANSPARENT")
        if task.status is Status.CANCELLED:
            component.add("status", "CANCELLED")
    else:
        component = _todo_fields(_described(Todo(), export.plan.name, task), task)
    if options.alarm is not None and task.due is not None and not task.status.closed:
        component.add_component(_alarm(task, task.due, options.alarm, related_to_due=options.kind == "todo"))
    return component


def _described(component: _Entry, plan: str, task: Task) -> _Entry:
    """What every entry of a task says, first and in this order: who it is, when it changed, what it is."""
    stamp = datetime.fromisoformat(task.updated_at).astimezone(timezone.utc)
    component.add("uid", _uid(plan, task.id))
    component.add("dtstamp", stamp)
    component.add("last-modified", stamp)
    component.add("summary", inert(_summary(task)))
    component.add("description", inert(_description(task)))
    return component


_TODO_STATUS = {
    Status.TODO: "NEEDS-ACTION",
    Status.DOING: "IN-PROCESS",
    Status.BLOCKED: "IN-PROCESS",  # started and stuck; RFC 5545 has no word for it
    Status.DONE: "COMPLETED",
    Status.CANCELLED: "CANCELLED",
}


def _todo_fields(todo: Todo, task: Task) -> Todo:
    if task.start is not None and (task.due is None or task.start <= task.due):
        todo.add("dtstart", task.start)
    if task.due is not None:
        todo.add("due", task.due)
    todo.add("status", _TODO_STATUS[task.status])
    percent = _percent_complete(task)
    if percent is not None:
        todo.add("percent-complete", percent)
    if task.status is Status.DONE:
        done = next((note for note in reversed(task.notes) if note.status is Status.DONE), None)
        if done is not None:
            todo.add("completed", datetime.fromisoformat(done.at).astimezone(timezone.utc))
    if task.status is Status.BLOCKED:
        todo.add("categories", ["受阻"])
    return todo


def _percent_complete(task: Task) -> int | None:
    """100 when done, the share of a counted target (“开展 4 次”), 0 when not started; else unknown."""
    if task.status is Status.DONE:
        return 100
    target = task.target
    if target:
        return min(100, task.progress * 100 // target)
    return 0 if task.status is Status.TODO else None


def _alarm(task: Task, due: date, before: timedelta, *, related_to_due: bool) -> Alarm:
    from icalendar import Alarm

    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    # A VTODO's alarm counts back from DUE; an event's from its start, which is the due day.
    alarm.add("trigger", -before, parameters={"RELATED": "END"} if related_to_due else {})
    alarm.add("description", inert(f"任务 {task.id} 将于 {due.isoformat()} 到期：{_summary(task)}"))
    return alarm


# -- vdir: one .ics file per task, for khal, todoman and vdirsyncer --------------------


class VdirResult(NamedTuple):
    written: int  # files created or changed
    unchanged: int
    removed: int  # files of tasks no longer in the plan


def write_vdir(
    export: PlanTasks, directory: str, options: CalendarOptions, *, ledger: Database, force: bool = False
) -> VdirResult:
    """Write one calendar file per task into `directory` (created if missing), the vdir layout.

    File names and UIDs are stable (gongkai-<plan>-<id>.ics). A file whose bytes
    would not change is left alone: vdirsyncer and khal tell changes by mtime, and
    a nightly export must not make them resend ninety unchanged entries. Files of
    this plan's tasks that are gone are removed; any other file is never touched:
    one not named the way gongkai names them, not written by gongkai, or written
    for another plan. A calendar the user saved there (`export -o DIR/all.ics`)
    carries our PRODID and this plan's UIDs, so the name must match too.
    """
    path = Path(directory)
    # The folder itself must not take a name the ledger needs (its -wal, -shm or -journal).
    refuse_ledger_files(path, ledger, what="导出")
    try:
        make_directory(path)
    except OSError as exc:
        raise UsageError(f"无法创建文件夹“{path}”：{os_reason(exc)}。") from exc
    plan = export.plan.name
    wanted: dict[str, bytes] = {}
    for task in export.tasks:
        component = _component(export, task, options)
        if component is None:
            continue
        calendar = _calendar()
        calendar.add_component(component)
        wanted[_vdir_name(plan, task.id)] = calendar.to_ical()
    written = unchanged = 0
    for name, data in wanted.items():
        target = path / name
        if target.is_file() and target.read_bytes() == data:
            unchanged += 1
            continue
        write_output(str(target), _writing(data), ledger=ledger, what="导出", force=force)
        written += 1
    removed = 0
    for stale in sorted(path.glob("*.ics")):
        if stale.name not in wanted and _is_vdir_name(stale.name, plan) and _is_ours(stale, plan):
            try:
                remove(stale)
            except OSError as exc:
                raise UsageError(f"无法删除已不在计划中的文件“{stale}”：{os_reason(exc)}。") from exc
            removed += 1
    return VdirResult(written, unchanged, removed)


def _writing(data: bytes) -> Callable[[IO[bytes]], None]:
    """What write_output calls to put one vdir file's bytes in place."""

    def produce(out: IO[bytes]) -> None:
        out.write(data)

    return produce


def _vdir_name(plan: str, task_id: int, *, digest: bool = True) -> str:
    # vdir names must be safe on every file system; a plan name is the office's free text.
    safe = re.sub(r"[^\w.-]", "_", plan)
    if safe != plan and digest:
        # Replacing characters makes "2024 a" and "2024_a" one name: the plan name's own digest
        # keeps two plans exported into one folder from writing each other's files.
        import hashlib

        safe += "-" + hashlib.sha256(plan.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"gongkai-{safe}-{task_id}.ics"


def _is_vdir_name(name: str, plan: str) -> bool:
    """A name `_vdir_name` gives a task of this plan, or gave it before names carried a digest
    (those files are this plan's old copies once their UID says so: `_is_ours`)."""
    stems = {_vdir_name(plan, 0, digest=digest).removesuffix("0.ics") for digest in (True, False)}
    return any(re.fullmatch(re.escape(stem) + r"[0-9]+\.ics", name) is not None for stem in stems)


def _is_ours(path: Path, plan: str) -> bool:
    """A file gongkai wrote for this plan: our PRODID and a UID of this plan."""
    try:
        text = path.read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return False
    text = re.sub(r"\r?\n[ \t]", "", text)  # unfold: a long UID is folded over two lines
    uid = re.search(r"^UID:(gongkai-(.+)-\d+@" + re.escape(UID_DOMAIN) + r")\r?$", text, re.M)
    if f"PRODID:{PRODID}" not in text or uid is None:
        return False
    # The UID is written as iCalendar text, with its backslashes, commas and semicolons escaped.
    written = re.sub(r"\\([\\,;])", r"\1", uid[2])
    return written == inert_line(plan)


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
        lines.append(f"最新进展：{latest.at} {note_writer(latest)}：{note_text(latest)}")
    return "\n".join(lines)


