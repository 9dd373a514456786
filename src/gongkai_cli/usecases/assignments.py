"""Assignments: which units a task's 责任单位 cell gives it to, and the office's corrections.

Expanding a cell is a business rule read from the unit file, so it lives here and
not in the store: collectives with members (各街镇) become their member units, each
remembering the collective (`via`); a unit named directly and through a collective
is assigned once, as named directly; a group without members (各相关部门) stays one
`vague` assignment until the office assigns real units.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from ..domain import dates, units as domain_units
from ..domain.errors import UsageError
from ..domain.records import Event, Task
from ..domain.units import UnitDirectory, unit_name
from ..store import AlreadyAssigned, AssignmentHasNotes, AssignmentInput, LastAssignment, NotAssigned
from . import team
from .session import Session, no_task

if TYPE_CHECKING:
    from ..store.protocol import Storage

# Migrations after which tasks of an existing ledger have no assignments yet.
EXPANDING_MIGRATIONS = frozenset({"m007_assignments"})


def planned(directory: UnitDirectory, names: Sequence[str]) -> tuple[AssignmentInput, ...]:
    """The assignments a cell naming `names` (in order, the first leads) plans."""
    found: dict[str, AssignmentInput] = {}
    for position, name in enumerate(names):
        own = directory.canonical(name)
        if directory.collective(own):
            for member in directory.responsible(own):
                found.setdefault(member, AssignmentInput(member, via=own, vague=directory.vague(member)))
        else:
            # Named directly: this wins over an assignment through a collective, in that one's place.
            found[own] = AssignmentInput(own, lead=position == 0, vague=directory.vague(own))
    return tuple(found.values())


def expand_after_upgrade(store: Storage, directory: UnitDirectory, applied: list[str]) -> None:
    """Give every task of a ledger from before assignments its assignments, each with the
    task's status; runs in the upgrade's own transaction, so no one sees the ledger without them."""
    if not EXPANDING_MIGRATIONS & set(applied):
        return
    entries = [(plan, task_id, planned(directory, units)) for plan, task_id, units in store.assignments.unassigned_tasks()]
    store.assignments.expand_assignments(entries, at=dates.timestamp())


def resolve_unit(ledger: Session, task: Task, typed: str, *, status: bool = False, given: str | None = None,
                 known: Collection[str] | None = None) -> str:
    """The unit `typed` (any alias) names among the task's assignments, else a usage error
    naming the task's units, or the closest ones when there are many. `given`: where the
    unit came from when the command did not name it (GONGKAI_UNIT), for the message; `known`:
    the ledger's unit names, when a batch has read them once for all its lines."""
    found = _resolved(ledger, task, typed, known)
    if isinstance(found, str):
        return found
    raise unit_refused(found, task.id, typed, status=status, given=given)


def _resolved(ledger: Session, task: Task, typed: str,
              known: Collection[str] | None = None) -> str | domain_units.UnitRefusal:
    units = [assignment.unit for assignment in task.assignments]
    return domain_units.resolve_unit(ledger.directory, units, typed, ledger.store.tasks.unit_names() if known is None else known)


def unit_refused(refusal: domain_units.UnitRefusal, task_id: int, typed: str, *, status: bool = False,
                 given: str | None = None) -> UsageError:
    """Why `typed` names none of task `task_id`'s units, in words; `status`: the write sets a
    status (the way out of a collective is then --all)."""
    origin = f"（来自{given}）" if given else ""
    if isinstance(refusal, domain_units.Collective):
        instead = "公开办要一次设置所有单位的状态请用 --all" if status else "不写单位则记为对任务整体的说明"
        return UsageError(
            f"“{typed}”{origin}是 {refusal.size} 个单位的集合，任务 {task_id} 分别分配给了其中每个单位；"
            f"请用 --unit 指明其中一个（例如 --unit {refusal.assigned[0]}），{instead}。未做任何更改。"
        )
    if isinstance(refusal, domain_units.UnknownUnit):
        return UsageError(f"未知的责任单位“{typed}”{origin}。{unknown_hint(refusal)}未做任何更改。")
    message = not_assigned_message(task_id, typed, list(refusal.units))
    return UsageError(message.replace(f"“{typed}”", f"“{typed}”{origin}", 1) if origin else message)


def unknown_hint(unknown: domain_units.UnknownUnit) -> str:
    """What to type instead of a unit nobody knows: the closest names, else where to look."""
    return f"您是否要找：{'、'.join(unknown.close)}？" if unknown.close else "可用 gongkai units 查看所有单位。"


def not_assigned_message(task_id: int, typed: str, units: list[str]) -> str:
    import difflib

    if len(units) <= 8:
        listed = f"它的责任单位是：{'、'.join(units)}"
    else:
        close = difflib.get_close_matches(typed, units, n=3, cutoff=0.3)
        listed = f"它有 {len(units)} 个责任单位" + (f"，相近的有：{'、'.join(close)}" if close else "")
        listed += f"（用 gongkai show {task_id} 查看全部）"
    return f"任务 {task_id} 没有分配给“{typed}”；{listed}。"


def unit_required(task_id: int, units: list[str], *, by: str = "status") -> UsageError:
    """A status without a unit on a task with several: how to name one, for `status`, for `note
    --status` (which has no --all) or for a line of `note --from` (by "status", "note", "batch")."""
    shown = "、".join(units[:3]) + (f"等 {len(units)} 个单位" if len(units) > 3 else "")
    if by == "batch":
        how = "请在“单位”（unit）列写明是哪个单位的状态"
    else:
        how = "请用 --unit 指明是哪个单位的状态（或设置环境变量 GONGKAI_UNIT）"
    every = "请加 --all" if by == "status" else f"请用 gongkai status {task_id} 状态 --all"
    return UsageError(f"任务 {task_id} 分配给了 {shown}，{how}；公开办要一次设置所有单位的状态{every}。未做任何更改。")


def assign(ledger: Session, task_id: int, units: Sequence[str], *, by: str | None = None) -> Event:
    """Give a task to more units (a collective: to its members); recorded and undoable."""
    team.require_office(ledger, f"给任务分派单位（第 {task_id} 项）")
    plan = ledger.plan()
    wanted = known_units(ledger, units)
    task = ledger.store.tasks.task(plan.name, task_id, today=ledger.today)
    # The cell's first unit, even while the office has taken it off (`units` are the current ones).
    cell_lead = ledger.directory.canonical(task.planned_units[0]) if task is not None and task.planned_units else None
    # Named by the office, not by the cell: only the unit the 责任单位 cell names first leads
    # (given back after an unassign, say).
    entries = tuple(
        entry._replace(lead=entry.via is None and entry.unit == cell_lead) for entry in planned(ledger.directory, wanted)
    )
    try:
        event = ledger.store.assignments.assign(plan.name, task_id, entries, at=dates.timestamp(), by=ledger.author(by))
    except AlreadyAssigned as refusal:
        raise UsageError(
            f"任务 {task_id} 已经分配给 {'、'.join(refusal.units)}；未做任何更改。"
        ) from None
    if event is None:
        raise no_task(plan.name, task_id)
    return event


def unassign(ledger: Session, task_id: int, units: Sequence[str], *, by: str | None = None) -> Event:
    """Take a task from units (a vague group the office has replaced, a unit listed by mistake).

    Refused when one of them has written notes on it: those would lose the unit they
    belong to; undo the notes first (gongkai undo), or leave the unit assigned and
    set its status to cancelled.
    """
    team.require_office(ledger, f"取消任务的单位分派（第 {task_id} 项）")
    plan = ledger.plan()
    task = ledger.store.tasks.task(plan.name, task_id, today=ledger.today)
    if task is None:
        raise no_task(plan.name, task_id)
    names = list(dict.fromkeys(name for typed in units for name in _assigned(ledger, task, typed)))
    try:
        event = ledger.store.assignments.unassign(plan.name, task_id, names, at=dates.timestamp(), by=ledger.author(by))
    except NotAssigned as refusal:
        raise UsageError(not_assigned_message(task_id, refusal.unit, refusal.units)) from None
    except LastAssignment:
        raise UsageError(f"任务 {task_id} 不能没有责任单位；请先用 gongkai assign 分配新的单位，再取消这个。未做任何更改。") from None
    except AssignmentHasNotes as refusal:
        raise UsageError(
            f"{'、'.join(refusal.units)} 已在任务 {task_id} 上记录了进展，取消分配会让这些记录失去所属单位，因此未做任何更改；"
            f"如确属误分配，请先撤销这些记录（gongkai undo），或把该单位的状态设为已取消"
            f"（gongkai status {task_id} cancelled --unit 单位）。"
        ) from None
    if event is None:
        raise no_task(plan.name, task_id)
    return event


def _assigned(ledger: Session, task: Task, typed: str) -> list[str]:
    """The task's units `typed` names: a collective not itself assigned names its members
    that are, as `assign` of that collective gave the task to them."""
    found = _resolved(ledger, task, typed)
    if isinstance(found, str):
        return [found]
    if isinstance(found, domain_units.Collective):
        return list(found.assigned)
    raise unit_refused(found, task.id, typed)


def known_units(ledger: Session, units: Sequence[str]) -> list[str]:
    """Units the office names for `assign`: each must be in the unit file (a typo must not
    become a unit nobody will ever be reminded as)."""
    names = []
    for typed in units:
        cleaned = unit_name(typed)
        if not cleaned:
            raise UsageError("单位名称不能为空。")
        unknown = domain_units.unknown_unit(ledger.directory, cleaned, ())
        if unknown is not None:
            raise UsageError(f"未知的责任单位“{typed}”（分配只接受单位数据文件中的单位）。{unknown_hint(unknown)}")
        names.append(ledger.directory.canonical(cleaned))
    return list(dict.fromkeys(names))
