"""The 各单位进展 sheet coming back: what a unit filled in, applied as that unit's own writes.

`export` writes one row per task and unit with hidden stamps (the plan, the row's
task and unit, the assignment's version and a digest of what the row said). A row
the clerk changed becomes a status change and/or a note on that unit's assignment,
unless the assignment changed in the ledger since the export: then it is a
conflict, listed and never applied, so newer work is not overwritten. A row the
clerk left alone is unchanged even when the ledger has moved on since.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..domain import dates
from ..domain.errors import NotPermitted, UsageError
from ..domain.records import Assignment, Note, Task
from ..domain.statuses import Status
from ..inputs.plan_files import SheetRecords, read_named_sheet
from ..inputs.typed import checked_note, parse_status
from ..outputs.columns import ASSIGNMENT_ROW, ASSIGNMENT_SHEET_TITLE, CUT_MARK, latest_words, row_digest, sheet_text
from ..store import NoteInput
from . import team
from .session import Session

# The cells a row is read by: the visible ones the clerk sees, the hidden stamps export wrote.
_READ = ("id", "unit", "status", "latest_note", "plan", "key", "version", "digest")


class SheetChange(NamedTuple):
    line: int  # the row in the sheet
    task_id: int
    unit: str
    before: Status
    after: Status | None  # None: the status was left as it was
    text: str  # the new note, or "" for a status change alone


class SheetConflict(NamedTuple):
    """A row the clerk changed whose assignment changed in the ledger after the export."""

    line: int
    task_id: int
    unit: str
    asked: Status
    text: str
    now: Assignment  # what the ledger holds, and keeps


class SheetResult(NamedTuple):
    plan: str
    source: str
    rows: int
    applied: tuple[SheetChange, ...]
    unchanged: int
    conflicts: tuple[SheetConflict, ...]


class _Row(NamedTuple):
    line: int
    task: Task
    assignment: Assignment
    status: Status
    text: str
    version: str
    edited: bool  # the clerk changed 状态 or 最新进展 since the export


def read_sheet(path: str | Path) -> SheetRecords | None:
    """The 各单位进展 sheet of a workbook gongkai exported; None for any other file (a plan table)."""
    return read_named_sheet(path, ASSIGNMENT_SHEET_TITLE, ASSIGNMENT_ROW["key"].header)


def returns_progress(ledger: Session, sheet: SheetRecords, *, plan: str | None = None) -> bool:
    """Whether `import` applies the sheet as progress: always for a unit's own file; for a
    whole exported workbook, when the ledger holds the sheet's plan and no other plan is named.
    Otherwise the workbook is what it also is, a plan table (a new ledger made from an export)."""
    if sheet.alone:
        return True
    column = sheet.header.index(ASSIGNMENT_ROW["plan"].header) if ASSIGNMENT_ROW["plan"].header in sheet.header else None
    exported = next((_cell(values, column) for _, values in sheet.rows if column is not None), None)
    named = plan if plan is not None else ledger.settings.plan
    if not exported or named not in (None, exported):
        return False
    return ledger.store.plans.plan(exported) is not None


def import_sheet(ledger: Session, sheet: SheetRecords, source: str, *, plan: str | None = None) -> SheetResult:
    """Apply the rows a unit changed, all in one transaction; nothing at all when a row is invalid."""
    columns = _columns(sheet, source)
    cells = [(line, {key: _cell(values, columns[key]) for key in _READ}) for line, values in sheet.rows]
    plan_name = _plan_of(ledger, cells, source, plan)
    tasks = {task.id: task for task in ledger.store.tasks.tasks_with_notes(plan_name, today=ledger.today)}
    rows = _rows(cells, tasks, plan_name, source)
    unchanged = 0
    conflicts: list[SheetConflict] = []
    wanted: list[tuple[_Row, NoteInput]] = []
    for row in rows:
        own = row.assignment
        latest = latest_words(own)
        new_status = row.status if row.status is not own.status else None
        # Compared as the cell held it: a note too long for a cell went out cut (CUT_MARK).
        new_text = row.text if row.text and row.text != (sheet_text(latest.text).strip() if latest else "") else ""
        if (new_status is None and not new_text) or not row.edited:
            # Nothing asked, or a row left as exported while the ledger moved on: the newer stays.
            unchanged += 1
        elif own.version != row.version:
            conflicts.append(SheetConflict(row.line, row.task.id, own.unit, row.status, row.text, own))
        else:
            try:
                team.require_own(ledger, row.task.id, own.unit, status=new_status is not None)
            except NotPermitted as err:
                raise NotPermitted(f"“{source}”第 {row.line} 行：{err.message}整个表格未写入。") from None
            entry = NoteInput(row.task.id, new_text, ledger.author(own.unit), new_status, unit=own.unit)
            wanted.append((row, entry))
    written: list[tuple[Note, Status]] = []
    stale: list[int] = []
    if wanted:
        written, stale = ledger.store.notes.add_notes_unless_changed(
            plan_name, [(entry, row.version) for row, entry in wanted], at=dates.timestamp()
        )
    kept = [pair for index, pair in enumerate(wanted) if index not in set(stale)]
    applied = tuple(SheetChange(row.line, row.task.id, row.assignment.unit, before, entry.status, entry.text)
                    for (row, entry), (_, before) in zip(kept, written, strict=True))
    conflicts += [_raced(ledger, plan_name, wanted[index][0]) for index in stale]
    return SheetResult(plan_name, source, len(rows), applied, unchanged,
                       tuple(sorted(conflicts, key=lambda conflict: conflict.line)))


def _raced(ledger: Session, plan: str, row: _Row) -> SheetConflict:
    """A row whose assignment someone else changed between reading the ledger and writing to it."""
    task = ledger.store.tasks.task(plan, row.task.id, today=ledger.today)
    found = task.assignments if task is not None else ()
    now = next((own for own in found if own.unit == row.assignment.unit), row.assignment)
    return SheetConflict(row.line, row.task.id, row.assignment.unit, row.status, row.text, now)


def _columns(sheet: SheetRecords, source: str) -> dict[str, int]:
    found = {}
    for key in _READ:
        header = ASSIGNMENT_ROW[key].header
        if header not in sheet.header:
            raise UsageError(
                f"“{source}”的工作表“{sheet.title}”缺少“{header}”列（可能被删除或改名了）；"
                "请用 gongkai export 重新导出后再填写。未做任何更改。"
            )
        found[key] = sheet.header.index(header)
    return found


def _cell(values: list[str], index: int) -> str:
    return values[index].strip() if index < len(values) else ""


def _plan_of(ledger: Session, cells: list[tuple[int, dict[str, str]]], source: str, named: str | None) -> str:
    """The plan the sheet was exported from: the same on every row, held by the ledger, and the
    one asked for (--plan, GONGKAI_PLAN) if any."""
    named = named if named is not None else ledger.settings.plan
    first: str | None = None
    for line, row in cells:
        if not row["plan"]:
            raise _bad_row(source, line, "隐藏的“计划”列是空的，无法判断这一行属于哪份计划。")
        if first is None:
            first = row["plan"]
        elif row["plan"] != first:
            raise _bad_row(source, line, f"这一行属于计划“{row['plan']}”，而前面的行属于计划“{first}”；一个表格只能是一份计划的。")
    if first is None:
        first = named or ledger.plan().name
    if named is not None and first != named:
        raise UsageError(
            f"“{source}”是计划“{first}”的各单位进展表，不是计划“{named}”的；未做任何更改。"
            f"请确认文件，或改用 --plan {first}。"
        )
    if ledger.store.plans.plan(first) is None:
        raise UsageError(f"“{source}”是计划“{first}”的各单位进展表，但台账中没有这份计划；未做任何更改。")
    return first


def _rows(cells: list[tuple[int, dict[str, str]]], tasks: dict[int, Task], plan: str, source: str) -> list[_Row]:
    rows = []
    seen: dict[str, int] = {}
    for line, row in cells:
        task_id, _, unit = row["key"].partition("/")
        if not unit or not (task_id.isascii() and task_id.isdigit() and len(task_id) <= 9):
            raise _bad_row(source, line, "隐藏的“行标识”列被改动了，无法判断这一行是哪项任务、哪个单位。")
        if row["id"] != task_id or row["unit"] != unit:
            raise _bad_row(
                source, line,
                f"“序号”或“责任单位”与导出时不同（导出时为序号 {task_id}、{unit}，现为序号 {row['id'] or '（空）'}、"
                f"{row['unit'] or '（空）'}）；这两列不能改动，请改回后再导入。",
            )
        if row["key"] in seen:
            raise _bad_row(source, line, f"与第 {seen[row['key']]} 行是同一项任务的同一个单位（序号 {task_id}、{unit}）。")
        seen[row["key"]] = line
        task = tasks.get(int(task_id))
        if task is None:
            raise _bad_row(source, line, f"计划“{plan}”中没有序号为 {task_id} 的任务。")
        assignment = next((a for a in task.assignments if a.unit == unit), None)
        if assignment is None:
            raise _bad_row(source, line, f"任务 {task_id} 没有分配给“{unit}”（导出后可能已取消分配）。")
        if not row["status"]:
            raise _bad_row(source, line, "“状态”是空的；请填写未开始、进行中、已完成、受阻或已取消。")
        try:
            status = parse_status(row["status"])
            text = checked_note(row["latest_note"])
        except UsageError as err:
            raise _bad_row(source, line, err.message) from None
        edited = row_digest(status, text) != row["digest"]
        own = latest_words(assignment)
        if text.endswith(CUT_MARK.strip()) and (own is None or text != sheet_text(own.text).strip()):
            raise _bad_row(source, line, "“最新进展”是一条过长进展被截断后的开头，不能改写后导回；"
                                         "请删去这一格的内容再写新进展。")
        rows.append(_Row(line, task, assignment, status, text, row["version"], edited))
    return rows


def _bad_row(source: str, line: int, why: str) -> UsageError:
    return UsageError(f"“{source}”工作表“{ASSIGNMENT_SHEET_TITLE}”第 {line} 行：{why}整个表格未导入。")

