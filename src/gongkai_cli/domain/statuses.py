"""Statuses and what follows from them: closed, due soon, a task's status derived from its
assignments'. No other module restates them.

Overdue means due before today and not closed; the store computes it in SQL (store/base.py
`_OVERDUE`, `A_OVERDUE`) from CLOSED_STATUSES, so that a listing can filter and count by it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, timedelta

# How far ahead "due soon" looks (`summary`, the report): a month, so that a clerk sees a
# deadline in time to do the work.
DUE_SOON_DAYS = 30


class Status(str, enum.Enum):
    TODO = "todo"
    DOING = "doing"
    DONE = "done"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def closed(self) -> bool:
        """A closed task can no longer be overdue."""
        return self in CLOSED_STATUSES


def status_choices() -> str:
    """Every accepted word, grouped by status, for error messages and help."""
    return "；".join(
        f"{status.label}（{status.value}）：{'、'.join(words[2:])}" for status, words in STATUS_WORDS.items()
    )


# The one definition of "closed": the store derives its SQL from it.
CLOSED_STATUSES = (Status.DONE, Status.CANCELLED)


def due_soon(due: date | None, status: Status, today: date) -> bool:
    """Open and due from today up to DUE_SOON_DAYS ahead, both days included."""
    return not status.closed and due is not None and today <= due <= today + timedelta(days=DUE_SOON_DAYS)


def derived_status(statuses: Iterable[Status]) -> Status:
    """A task's status from its assignments' (docs/usage.md states this rule for offices).

    Cancelled when every assignment is; else done when every one not cancelled is done;
    else blocked when any is blocked; else doing once any has started (doing or done);
    else todo. The store calls this, and only this, whenever an assignment changes.
    """
    present = set(statuses)
    live = present - {Status.CANCELLED}
    if not live:
        return Status.CANCELLED
    if live == {Status.DONE}:
        return Status.DONE
    if Status.BLOCKED in live:
        return Status.BLOCKED
    if live & {Status.DOING, Status.DONE}:
        return Status.DOING
    return Status.TODO


def set_by_all(current: Status, new: Status) -> bool:
    """Whether `status --all` changes an assignment now at `current` to `new`: a share the
    office cancelled stays cancelled when the task is closed, unless it is cancelling too."""
    return current != new and (current != Status.CANCELLED or new == Status.CANCELLED)


_LABELS = {
    Status.TODO: "未开始",
    Status.DOING: "进行中",
    Status.DONE: "已完成",
    Status.BLOCKED: "受阻",
    Status.CANCELLED: "已取消",
}

# What clerks type for each status (docs/dates.md shows this table). The English
# name comes first, the label the tables show second. A word belongs to one status only.
STATUS_WORDS = {
    Status.TODO: ("todo", "未开始", "待办", "未办", "没开始", "待开始"),
    Status.DOING: ("doing", "进行中", "进行", "开始", "在办", "办理中", "推进中", "正在办"),
    Status.DONE: ("done", "已完成", "完成", "做完", "办结", "已办结", "完结", "已办"),
    Status.BLOCKED: ("blocked", "受阻", "卡住", "阻塞", "暂缓"),
    Status.CANCELLED: ("cancelled", "已取消", "取消", "作废", "canceled"),
}
