"""Progress figures computed from task records: the whole plan, or broken down.

Pure functions over records the ledger has already loaded: no SQL, no output.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, TypedDict

from .records import Task
from .statuses import Status, due_soon

if TYPE_CHECKING:
    from .records import UnitCounts

BREAKDOWNS = ("unit", "group", "month")
NO_DUE_DATE = "无截止日期"


def done_percent(done: int, total: int, cancelled: int) -> float:
    """Share of the tasks still meant to be done that are done; cancelled ones do not count."""
    meant = total - cancelled
    return round(100 * done / meant, 1) if meant else 0.0


@dataclass(frozen=True)
class Tally:
    """One row of a breakdown: a unit, a task group or a due month."""

    key: str
    total: int
    done: int
    cancelled: int
    overdue: int

    @property
    def done_percent(self) -> float:
        return done_percent(self.done, self.total, self.cancelled)


class SummaryJson(TypedDict):
    """`summary --format json`: the contract's keys (docs/json.md)."""

    plan: str
    total: int
    status: dict[str, int]
    done_percent: float
    overdue: int
    due_soon: int
    target_reached: list[int]


@dataclass(frozen=True)
class Summary:
    plan: str
    today: date
    total: int
    status: dict[Status, int]
    overdue: int
    due_soon: int
    by: str | None = None
    rows: tuple[Tally, ...] = ()
    # Reaching a count does not close a task (the user decides); these are worth a look.
    target_reached: tuple[Task, ...] = ()

    @property
    def done_percent(self) -> float:
        return done_percent(self.status[Status.DONE], self.total, self.status[Status.CANCELLED])

    def to_dict(self) -> SummaryJson:
        return {
            "plan": self.plan,
            "total": self.total,
            "status": {status.value: self.status[status] for status in Status},
            "done_percent": self.done_percent,
            "overdue": self.overdue,
            "due_soon": self.due_soon,
            "target_reached": [task.id for task in self.target_reached],
        }


def summarize(plan: str, tasks: list[Task], today: date, *, by: str | None = None,
              unit_counts: Mapping[str, UnitCounts] | None = None) -> Summary:
    counts = Counter(task.status for task in tasks)
    rows: tuple[Tally, ...] = ()
    if by == "unit":
        rows = unit_rows(unit_counts or {})
    elif by == "group":
        rows = _tally(tasks, lambda task: [task.group])
    elif by == "month":
        months = _tally(tasks, lambda task: [task.due.strftime("%Y-%m") if task.due else NO_DUE_DATE])
        rows = tuple(sorted(months, key=lambda row: (row.key == NO_DUE_DATE, row.key)))
    return Summary(
        plan=plan,
        today=today,
        total=len(tasks),
        status={status: counts.get(status, 0) for status in Status},
        overdue=sum(task.overdue for task in tasks),
        due_soon=sum(due_soon(task.due, task.status, today) for task in tasks),
        by=by,
        rows=rows,
        target_reached=tuple(task for task in tasks if task.target_reached and not task.status.closed),
    )


def _tally(tasks: Iterable[Task], keys: Callable[[Task], Iterable[str]]) -> tuple[Tally, ...]:
    """Rows in order of first appearance (tasks arrive sorted by id)."""
    buckets: dict[str, list[Task]] = {}
    for task in tasks:
        for key in keys(task):
            buckets.setdefault(key, []).append(task)
    return tuple(
        Tally(
            key=key,
            total=len(bucket),
            done=sum(task.status is Status.DONE for task in bucket),
            cancelled=sum(task.status is Status.CANCELLED for task in bucket),
            overdue=sum(task.overdue for task in bucket),
        )
        for key, bucket in buckets.items()
    )


def unit_rows(counts: Mapping[str, UnitCounts]) -> tuple[Tally, ...]:
    """A row per unit from its assignments (records.UnitCounts, the one definition `units` shows
    too); worst first: most overdue, then least done."""
    rows = (
        Tally(key=unit, total=c.assigned, done=c.done, cancelled=c.cancelled, overdue=c.overdue)
        for unit, c in counts.items()
    )
    return tuple(sorted(rows, key=lambda row: (-row.overdue, row.done_percent, row.key)))


@dataclass(frozen=True)
class WeekPoint:
    """A week of the plan: its last day, tasks done by then, and notes written that week."""

    day: date
    done: int
    notes: int


def weekly_progress(tasks: Iterable[Task], start: date, end: date, zone: object) -> tuple[WeekPoint, ...]:
    """Tasks done by the end of each week (Monday–Sunday) from `start` to `end`, and the week's
    notes, for the report's progress-over-time chart. A task counts as done from its last note
    that set 已完成 (a task closed without one, from `start`); `zone` turns note times into days."""
    from datetime import datetime, timedelta

    def day_of(stamp: str) -> date:
        return datetime.fromisoformat(stamp).astimezone(zone).date()  # type: ignore[arg-type]

    done_days: list[date] = []
    note_days: list[date] = []
    for task in tasks:
        days = [day_of(note.at) for note in task.notes]
        note_days += days
        if task.status is Status.DONE:
            closing = [day for note, day in zip(task.notes, days, strict=True) if note.status is Status.DONE]
            done_days.append(max(closing) if closing else start)
    points = []
    week_end = start + timedelta(days=6 - start.weekday())
    while True:
        last = min(week_end, end)
        first = week_end - timedelta(days=6)
        points.append(WeekPoint(last, sum(day <= last for day in done_days),
                                sum(first <= day <= last for day in note_days)))
        if week_end >= end:
            return tuple(points)
        week_end += timedelta(weeks=1)
