"""The office's changes to a plan's tasks during the year: `task add`, `task edit`, `task drop`, `task key`.

Each is one event in the history, undone by `undo` like any other change. A task keeps the
plan table's wording and dates beside the changed ones, and a dropped task keeps its notes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..domain import dates
from ..domain.errors import UsageError
from ..domain.records import Event, Plan
from ..domain.text import check_text
from ..store import KeyUnchanged, TaskDropped, TaskExists, TaskFields
from . import team
from .assignments import known_units, planned
from .session import Session, no_task


def add_task(
    ledger: Session, content: str, *, units: Sequence[str], deadline: str, source: str, group: str = "",
    task_id: int | None = None, by: str | None = None,
) -> Event:
    """A task the plan table did not have, from `source` (a notice's 文号), given to `units`."""
    team.require_office(ledger, "新增任务")
    plan = ledger.plan()
    content, source = _required(content, "任务内容"), _required(source, "来源")
    group = check_text(group.strip(), "任务名称")
    wanted = known_units(ledger, units)
    if not wanted:
        raise UsageError("新增任务至少要有一个责任单位（--unit）。")
    if task_id is None:
        task_id = ledger.store.tasks.next_task_id(plan.name)
    dated = _dated(deadline, plan)
    fields = TaskFields(group=group, content=content, units=wanted, deadline=dated["deadline"] or "",
                        start=dated["start"], due=dated["due"])
    try:
        return ledger.store.edits.add_task(
            plan.name, task_id, fields, planned(ledger.directory, wanted), source=source,
            at=dates.timestamp(), by=ledger.author(by),
        )
    except TaskExists:
        raise UsageError(f"计划“{plan.name}”中已有序号为 {task_id} 的任务；请换一个序号（--id），或不写让程序自动编号。"
                         "未做任何更改。") from None


def edit_task(
    ledger: Session, task_id: int, *, content: str | None = None, deadline: str | None = None,
    due: str | None = None, by: str | None = None,
) -> Event:
    """Change a task's text, its 时间节点 (and so its dates) or only its due date."""
    team.require_office(ledger, f"修改任务（第 {task_id} 项）")
    plan = ledger.plan()
    changes: dict[str, str | None] = {}
    if content is not None:
        changes["content"] = _required(content, "任务内容")
    if deadline is not None:
        changes.update(_dated(deadline, plan))
    if due is not None:
        # A due date typed on its own: the 时间节点 stays the plan's words, the date is the office's.
        changes.update(start=None, due=ledger.parse_date(due, plan).isoformat())
    if not changes:
        raise UsageError("请至少指定一项修改：--content、--deadline 或 --due。")
    event = ledger.store.edits.edit_task(plan.name, task_id, changes, at=dates.timestamp(), by=ledger.author(by))
    if event is None:
        raise no_task(plan.name, task_id)
    return event


def drop_task(ledger: Session, task_id: int, *, by: str | None = None) -> Event:
    """Take a task out of the plan: kept with its notes in the history, out of every listing."""
    team.require_office(ledger, f"删除任务（第 {task_id} 项）")
    plan = ledger.plan()
    try:
        event = ledger.store.edits.drop_task(plan.name, task_id, at=dates.timestamp(), by=ledger.author(by))
    except TaskDropped:
        raise UsageError(f"任务 {task_id} 已经删除过了；要恢复请撤销那次删除（gongkai undo）。未做任何更改。") from None
    if event is None:
        raise no_task(plan.name, task_id)
    return event


def mark_key(ledger: Session, task_id: int, *, key: bool = True, by: str | None = None) -> Event:
    """Mark a task as a 重点任务 (listed first in reports, `list --key`), or with `key` False unmark it."""
    team.require_office(ledger, f"标记重点任务（第 {task_id} 项）")
    plan = ledger.plan()
    try:
        event = ledger.store.edits.mark_key(plan.name, task_id, key, at=dates.timestamp(), by=ledger.author(by))
    except KeyUnchanged:
        state = "已经是" if key else "本来就不是"
        raise UsageError(f"任务 {task_id} {state}重点任务，未做任何更改。") from None
    if event is None:
        raise no_task(plan.name, task_id)
    return event


def _required(text: str, what: str) -> str:
    cleaned = check_text(text.strip(), what)
    if not cleaned:
        raise UsageError(f"{what}不能为空。")
    return cleaned


def _dated(deadline: str, plan: Plan) -> dict[str, str | None]:
    """A 时间节点 and the dates it gives, as an import reads them; words no rule reads are refused,
    since a task the office types should have a date `due` and `remind` see."""
    words = _required(deadline, "时间节点")
    start, due = dates.parse_deadline(words, plan.year)
    if due is None:
        raise UsageError(f"无法识别时间节点“{words}”；请写成“6月底前”“2023年5月31日前”这样的形式。未做任何更改。")
    return {"deadline": words, "start": start.isoformat() if start else None, "due": due.isoformat()}

