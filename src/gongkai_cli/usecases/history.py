"""History: what changed (`log`), and taking back the newest change (`undo`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from ..domain import dates
from ..domain.errors import NotFound, NotPermitted, StoreError, UsageError
from ..domain.records import Event
from ..store import AddedTasksHaveNotes, ChangedSince, NotNewest, UnitsChangedSince
from . import team
from .session import Session, no_task

# Exit 4 like the store's other "the ledger moved under you" errors: a retry is what helps.
_MOVED = "确认期间台账有了新的更改，本次未撤销任何内容；请重新运行 gongkai undo。"


def history(
    ledger: Session, task_id: int | None = None, *, since: str | None = None, until: str | None = None
) -> list[Event]:
    """Changes, oldest first: of one task of the plan, else of the plan asked for, else all;
    of the days from `since` to `until` (dates.parse_period) when given."""
    return [event for batch in history_batches(ledger, task_id, since=since, until=until) for event in batch]


def history_batches(
    ledger: Session, task_id: int | None = None, *, since: str | None = None, until: str | None = None,
    latest: int | None = None,
) -> Iterator[list[Event]]:
    """What `history` lists, a batch at a time as the store reads it (the whole history of a
    city does not fit in memory); with `latest`, only the newest that many changes."""
    plan = ledger.plan() if task_id is not None or ledger.settings.plan else None
    year = plan.year if plan else ledger.today.year
    start, end = dates.parse_period(since, until, today=ledger.today, year=year)
    batches = ledger.store.history.event_batches(
        plan=plan.name if plan else None, task=task_id, since=start, until=end, latest=latest
    )
    first = next(batches, [])
    # With a task id there is always a plan (above).
    if task_id is not None and plan is not None and not first:
        batches.close()
        if ledger.store.tasks.task(plan.name, task_id, today=ledger.today) is None:
            raise no_task(plan.name, task_id)
    return itertools.chain((first,) if first else (), batches)


def last_change(ledger: Session) -> Event:
    """The change `undo` would revert now: the caller's own newest (their unit's, else the
    office's; team.hand), of the plan asked for, else of the ledger."""
    event = team.last_undoable(ledger, ledger.settings.plan)
    name = ledger.settings.plan
    if event is None and name and ledger.store.plans.plan(name) is None and not ledger.store.history.events(plan=name):
        ledger.plan()  # a plan the ledger never had is named as such, not as one without changes
    if event is None:
        where = f"计划“{ledger.settings.plan}”中" if ledger.settings.plan else ""
        where += team.undo_scope(ledger)
        raise NotFound(f"{where}没有可以撤销的更改。")
    return event


def change(ledger: Session, event_id: int, *, named: bool = False) -> Event:
    """Change `event_id`, which a script names so that a retried undo never undoes a second one.

    Returns it when it is still the one `undo` would revert now, or already undone
    (the caller reports that and writes nothing); anything else is refused. `named`:
    the office names a change that need not be its own newest (`undo 17`); a unit may
    name only its own newest.
    """
    event = ledger.store.history.event(event_id)
    if event is None:
        raise NotFound(f"没有编号为 #{event_id} 的更改。")
    if ledger.settings.plan and event.plan != ledger.settings.plan:
        raise UsageError(f"更改 #{event_id} 属于计划“{event.plan}”，不属于计划“{ledger.settings.plan}”；未撤销任何内容。")
    if event.action == "undo":
        raise UsageError(f"#{event_id} 本身是一次撤销，撤销不能再被撤销；未做任何更改。")
    if event.undone_by is not None:
        return event
    team.require_undoable(ledger, event)
    caller = team.hand(ledger)
    if named and caller.unit is None:
        return event
    if caller.unit is not None and event.actor != caller.unit and team.unit_login(ledger) is None:
        raise NotPermitted(
            f"更改 #{event_id} 不是{caller.unit}写入的（是{event.actor or '公开办'}的），"
            "单位只能撤销本单位自己的更改；要撤销别人的更改，请由公开办运行 gongkai undo 编号。未撤销任何内容。"
        )
    newest = team.last_undoable(ledger, ledger.settings.plan)
    if newest is None:
        # Another process undid it (and everything else undoable) since it was read above.
        raise StoreError(_MOVED)
    if newest.id != event_id:
        raise UsageError(
            f"更改 #{event_id} 不是{team.undo_scope(ledger) or '您'}最近一次尚未撤销的更改（最近的是 #{newest.id}），"
            "只能从最近的更改开始撤销；未撤销任何内容。"
        )
    return event


def undo(ledger: Session, event: Event, *, by: str | None = None, named: bool = False) -> Event:
    """Revert `event` (with the rest of its batch), which must still be the caller's last change
    (of the plan asked for) unless `named`; returns the undo's own event of `event`."""
    return undo_step(ledger, event, by=by, named=named)[0]


def undo_step(ledger: Session, event: Event, *, by: str | None = None, named: bool = False) -> list[Event]:
    """As `undo`; every undo event the step wrote, the newest change's first."""
    author = ledger.author(by)
    try:
        return team.undo(
            ledger, event.id, at=dates.timestamp(), by=author, plan=ledger.settings.plan, named=named
        )
    except ChangedSince as refusal:
        later = refusal.later
        raise UsageError(
            f"更改 #{refusal.event_id} 之后，#{later.id}（{later.at}，{later.by}）又改动了"
            + (f"第 {later.task} 项任务" if later.task is not None else f"计划 {later.plan}")
            + f"，要先撤销 #{later.id} 才能撤销 #{refusal.event_id}；未撤销任何内容。"
        ) from None
    except AddedTasksHaveNotes as refusal:
        ids = "、".join(str(task_id) for task_id in refusal.task_ids)
        raise UsageError(
            f"导入 #{refusal.event_id} 新增的任务（序号 {ids}）已有进展记录，撤销这次导入会删除这些任务，因此未做任何更改。"
        ) from None
    except UnitsChangedSince as refusal:
        raise UsageError(
            f"更改 #{refusal.event_id} 是在按单位分别记录状态之前对任务 {refusal.task_id} 整体做的状态修改，"
            "此后各单位的状态已分别改过，无法确定应恢复哪些单位，因此未做任何更改；"
            f"请用 gongkai status {refusal.task_id} 状态 --unit 单位 逐个改回。"
        ) from None
    except NotNewest:
        raise StoreError(_MOVED) from None
