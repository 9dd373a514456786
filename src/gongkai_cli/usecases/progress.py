"""Writing progress: a note, a status change, a batch of notes."""

from __future__ import annotations

from collections.abc import Callable, Collection
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from ..domain import dates
from ..domain.errors import NotFound, NotPermitted, UsageError
from ..domain.records import Note, Task
from ..domain.statuses import Status, set_by_all
from ..domain.units import unit_name
from ..inputs.typed import checked_note, parse_count, parse_key, parse_status, parse_task_id
from ..store import KeyUndone, KeyUsed, NotAssigned, NoteContent, NoteInput, UnitRequired
from . import team
from .queries import show
from .session import Session, no_task

if TYPE_CHECKING:
    from ..inputs.note_batches import NoteLine


class StatusChange(NamedTuple):
    task_id: int
    before: Status
    after: Status
    note: Note | None  # None when the task already had that status
    unit: str | None = None  # the assignment changed; None: the task, or every unit (--all)


def add_note(
    ledger: Session, task_id: int, text: str, *, by: str | None = None, status: Status | None = None,
    count: int | None = None, key: str | None = None, unit: str | None = None,
) -> Note:
    """Append a note: on the unit's assignment (`unit`, else the settings' own unit), else on
    the task as a whole; with `key`, a retry of an earlier call returns that call's note unwritten."""
    text = _required_note(text)
    named = _unit_of(ledger, show(ledger, task_id), unit)
    team.require_own(ledger, task_id, named, status=status is not None)
    note, _ = _write_note(ledger, task_id, text, by=by, status=status, count=count, key=key, unit=named)
    return note


def add_notes_from(ledger: Session, data: bytes, source: str, *, by: str | None = None) -> list[Note]:
    """Record a whole batch (CSV or JSON lines) in one transaction: every note, or none.

    Every line is checked before anything is written, and an error names its line.
    """
    from ..inputs.note_batches import read_note_batch

    # Parsed before the ledger is asked anything: the batch is bounded, and no lock is held meanwhile.
    lines = read_note_batch(data, source)
    plan = ledger.plan()
    if not lines:
        return []
    default_author = ledger.author(by)
    entries: list[NoteInput] = []
    typed_units: list[str | None] = []
    keyed: dict[str, int] = {}
    for line in lines:
        values = line.values
        try:
            task_id = parse_task_id(values["id"] or "")
            text = _required_note(values["text"])
            status = parse_status(values["status"] or "") if (values["status"] or "").strip() else None
            count = parse_count(values["count"]) if (values["count"] or "").strip() else None
            key = parse_key(values["key"]) if (values["key"] or "").strip() else None
            if key is not None and key in keyed:
                raise UsageError(f"键“{key}”与第 {keyed[key]} 行重复，一个键只能对应一条进展。")
            author = ledger.author((values["by"] or "").strip() or default_author)
        except UsageError as err:
            raise UsageError(f"“{source}”第 {line.line} 行：{err.message}整批未写入。") from None
        if key is not None:
            keyed[key] = line.line
        entries.append(NoteInput(task_id, text, author, status, count, key))
        typed_units.append(values["unit"] if unit_name(values.get("unit") or "") else None)
    known = ledger.store.tasks.existing_task_ids(plan.name, [entry.task_id for entry in entries])
    for line, entry in zip(lines, entries, strict=True):
        if entry.task_id not in known:
            raise NotFound(
                f"“{source}”第 {line.line} 行：计划“{plan.name}”中没有序号为 {entry.task_id} 的任务；整批未写入。"
            )
    entries = _with_units(ledger, plan.name, lines, entries, typed_units, source)
    try:
        with _key_refusals():
            written = ledger.store.notes.add_notes(plan.name, entries, at=dates.timestamp())
    except UsageError as err:
        # A unit refusal names a task: say which line asked for it.
        refused = getattr(err.__context__, "task_id", None)
        if isinstance(err.__context__, UnitRequired):
            from .assignments import unit_required

            err = unit_required(err.__context__.task_id, err.__context__.units, by="batch")
        refused_line = next(
            (line.line for line, entry in zip(lines, entries, strict=True) if entry.task_id == refused), None
        )
        if refused_line is None:
            raise
        raise UsageError(f"“{source}”第 {refused_line} 行：{err.message.removesuffix('未做任何更改。')}整批未写入。") from None
    if written is None:
        raise NotFound(f"写入时“{source}”中的某项任务已不在计划“{plan.name}”中；整批未写入。")
    return [note for note, _ in written]


def _with_units(ledger: Session, plan: str, lines: list[NoteLine], entries: list[NoteInput],
                typed: list[str | None], source: str) -> list[NoteInput]:
    """Each line's entry on the assignment its 单位 column names, else the clerk's own unit: found,
    and refused, as `note` finds and refuses it for one task."""
    if not (any(typed) or ledger.settings.unit or team.own_unit(ledger)):
        return entries  # every note is on its task as a whole, the office's remark
    tasks = {task.id: task for task in ledger.store.tasks.tasks_with_notes(plan, today=ledger.today,
                                                                     ids=[entry.task_id for entry in entries])}
    known = ledger.store.tasks.unit_names()
    found = []
    for line, entry, unit in zip(lines, entries, typed, strict=True):
        try:
            named = _unit_of(ledger, tasks[entry.task_id], unit, known)
            team.require_own(ledger, entry.task_id, named, status=entry.status is not None)
        except (UsageError, NotPermitted) as err:
            raise type(err)(f"“{source}”第 {line.line} 行：{err.message.removesuffix('未做任何更改。')}整批未写入。") from None
        found.append(entry._replace(unit=named))
    return found


def set_status(
    ledger: Session, task_id: int, status: Status, *, note: str | None = None, by: str | None = None,
    unit: str | None = None, all_units: bool = False,
) -> StatusChange:
    """Change the status of one unit's assignment (`unit`, else the settings' own unit, else the
    task's only one), or of every assignment (`all_units`, the office closing a task); the task's
    status follows from them. The change is kept as a note so the history is complete."""
    from .assignments import resolve_unit, unit_required

    text = checked_note(note)
    task = show(ledger, task_id)
    if all_units:
        if unit is not None:
            raise UsageError("--all 与 --unit 只能选一个：--all 设置所有单位的状态。")
        named = None
        if task.assignments:
            unchanged = not any(set_by_all(assignment.status, status) for assignment in task.assignments)
        else:
            unchanged = task.status == status
    else:
        typed = unit if unit is not None else ledger.settings.unit or team.default_unit(ledger, task)
        if typed is not None:
            named = resolve_unit(ledger, task, typed, status=True,
                                 given=ledger.settings.unit_source if unit is None else None)
        elif len(task.assignments) > 1:
            raise unit_required(task_id, [assignment.unit for assignment in task.assignments])
        else:
            named = task.assignments[0].unit if task.assignments else None
        own = next((a for a in task.assignments if a.unit == named), task)
        unchanged = own.status == status
    team.require_own(ledger, task_id, named, status=True, all_units=all_units)
    if not text and unchanged:
        return StatusChange(task_id, status, status, None, named)
    written, before = _write_note(ledger, task_id, text, by=by, status=status, unit=named, all_units=all_units)
    return StatusChange(task_id, before, status, written, named)


def _unit_of(ledger: Session, task: Task, unit: str | None, known: Collection[str] | None = None) -> str | None:
    """The assignment a note goes on: the unit named, else the settings' own, else a unit
    login's own when the task is given to it; None: the task as a whole. `known`: the
    ledger's unit names, read once for a batch."""
    from .assignments import resolve_unit

    typed = unit if unit is not None else ledger.settings.unit
    if typed is None:
        return team.default_unit(ledger, task)
    return resolve_unit(ledger, task, typed, given=ledger.settings.unit_source if unit is None else None, known=known)


def _write_note(
    ledger: Session, task_id: int, text: str, *, by: str | None, status: Status | None, count: int | None = None,
    key: str | None = None, unit: str | None = None, all_units: bool = False,
) -> tuple[Note, Status]:
    plan = ledger.plan()
    author = ledger.author(by)
    with _key_refusals():
        written = ledger.store.notes.add_note(
            plan.name, task_id, at=dates.timestamp(), by=author, text=text, status=status, count=count, key=key,
            unit=unit, all_units=all_units,
        )
    if written is None:
        raise no_task(plan.name, task_id)
    return written


def _required_note(text: str | None) -> str:
    text = checked_note(text)
    if not text:
        raise UsageError("进展说明不能为空。")
    return text


class _key_refusals:
    """Say why the store wrote nothing when a note's key was taken."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        from .assignments import not_assigned_message, unit_required

        if isinstance(error, NotAssigned):
            raise UsageError(not_assigned_message(error.task_id, error.unit, error.units)) from None
        if isinstance(error, UnitRequired):
            # `status` asks for its unit before it writes: this is a note's --status.
            raise unit_required(error.task_id, error.units, by="note") from None
        if isinstance(error, KeyUsed):
            raise UsageError(
                f"键“{error.key}”已用于计划“{error.stored[0]}”任务 {error.stored[1]} 的进展记录 #{error.note}"
                f"（历史 #{error.event_id}），但{_differences(error.stored, error.asked)}；"
                "同一个键只能对应一条进展，本次未写入。"
            ) from None
        if isinstance(error, KeyUndone):
            raise UsageError(
                f"键“{error.key}”对应的进展记录 #{error.note} 已由 #{error.undone_by} 撤销；"
                "撤销后不会用同一个键重新记录，本次未写入（确需重新记录请换一个键）。"
            ) from None


def _differences(stored: NoteContent, asked: NoteContent) -> str:
    """What a reused key's new note changes, e.g. 任务不同（原为 50，本次为 51）."""
    def status(value: object) -> str:
        return f"“{Status(value).label}”" if value else "不改状态"

    def count(value: object) -> str:
        return str(value) if value is not None else "不计次"

    shown: tuple[tuple[str, Callable[[object], str] | None], ...] = (
        ("计划", lambda value: f"“{value}”"), ("任务", str), ("进展说明", None), ("状态", status), ("次数", count),
        ("单位", lambda value: f"“{value}”" if value else "任务整体"),
    )
    parts = []
    for (what, show_value), old, new in zip(shown, stored, asked, strict=True):
        if old != new:
            parts.append(f"{what}不同" + (f"（原为 {show_value(old)}，本次为 {show_value(new)}）" if show_value else ""))
    return "、".join(parts)
