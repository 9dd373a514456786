"""History: the events of a ledger, and undo, which hands each change back to its subject."""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ..domain.records import Event
from . import ChangedSince, Hand, NotNewest, common
from .base import writes
from .subject import UNDOABLE, Subject

if TYPE_CHECKING:
    from .dialect import Dialect

# Events read per query by `event_batches`: a batch of the city's widest imports stays a few MiB.
EVENT_BATCH = 500


class History(Subject):
    """The ledger's history, and undo of its newest change."""

    def events(
        self, *, plan: str | None = None, task: int | None = None, since: date | None = None,
        until: date | None = None,
    ) -> list[Event]:
        """History, oldest first, of the days `since` to `until` (both included) when given.
        With `task`, also the imports that wrote that task."""
        where, params = self._filters(plan, task, since, until)
        with self.db._errors():
            return self._events_where(where, params)

    def event_batches(
        self, *, plan: str | None = None, task: int | None = None, since: date | None = None,
        until: date | None = None, latest: int | None = None, size: int = EVENT_BATCH,
    ) -> Generator[list[Event], None, None]:
        """The events `events` lists, oldest first, `size` at a time; with `latest`, only the
        newest that many of them.

        Each batch is one query continuing after the last id read (an index range, however
        long the history), all in one read transaction: memory stays that of one batch, and
        the batches fit together even while someone else writes.
        """
        where, params = self._filters(plan, task, since, until)
        with self.db._errors(), self.db._read_snapshot():
            if latest is not None:
                row = self.db._one(
                    f"""SELECT min(newest.id) FROM (SELECT e.id FROM events e WHERE {' AND '.join(where) or 'true'}
                        ORDER BY e.id DESC LIMIT {int(latest)}) newest""",
                    params,
                )
                if row is None or row[0] is None:
                    return
                where.append(f"e.id >= {self.sql('first')}")
                params["first"] = row[0]
            where.append(f"e.id > {self.sql('after')}")
            params["after"] = 0
            while True:
                batch = self._events_where(where, params, tail=f"ORDER BY e.id LIMIT {int(size)}")
                if not batch:
                    return
                yield batch
                if len(batch) < size:
                    return
                params["after"] = batch[-1].id

    def _filters(
        self, plan: str | None, task: int | None, since: date | None, until: date | None
    ) -> tuple[list[str], dict[str, object]]:
        where: list[str] = []
        params: dict[str, object] = {}
        if plan is not None:
            where.append(f"e.plan = {self.sql('plan')}")
            params["plan"] = plan
        if task is not None:
            where.append(f"(e.task = {self.sql('task')} OR (e.task IS NULL AND {self.sql.import_wrote('task_key')}))")
            params.update(task=task, task_key=str(task))
        if since is not None:
            where.append(f"{self.sql.instant('e.at')} >= {self.sql.instant(self.sql('since'))}")
            params["since"] = self.sql.start_of(since)
        if until is not None:
            where.append(f"{self.sql.instant('e.at')} < {self.sql.instant(self.sql('next_day'))}")
            params["next_day"] = self.sql.start_of(until + timedelta(days=1))
        return where, params

    def event(self, event_id: int) -> Event | None:
        with self.db._errors():
            found = self._events_where([f"e.id = {self.sql('id')}"], {"id": event_id})
        return found[0] if found else None

    def last_undoable(self, plan: str | None = None, *, hand: Hand | None = None) -> Event | None:
        """The newest change that no undo has reverted yet (undos themselves are not undone),
        of one plan or of the whole ledger; with `hand`, the newest of that caller's own."""
        with self.db._errors():
            return self._newest_undoable(plan, *_hand_condition(self.sql, hand))

    def _newest_undoable(
        self, plan: str | None, where: Sequence[str] = (), params: Mapping[str, object] | None = None
    ) -> Event | None:
        conditions, values = [*UNDOABLE, *where], dict(params or {})
        if plan is not None:
            conditions.append(f"e.plan = {self.sql('plan')}")
            values["plan"] = plan
        found = self._events_where(conditions, values, tail="ORDER BY e.id DESC LIMIT 1")
        return found[0] if found else None

    @writes
    def undo(
        self, event_id: int, *, at: str, by: str, plan: str | None = None, hand: Hand | None = None,
        named: bool = False,
    ) -> list[Event]:
        """Revert event `event_id` and the rest of its batch; their undo events, in order.

        Unless `named` (the office naming the change), it must still be the newest undoable
        change (of `plan`, of `hand`'s own). Others may have written since: what they wrote
        must not touch what it changed (common.blocks), else ChangedSince. The reverts and
        their undo events are one transaction.
        """
        found = self._newest_undoable(plan, *_hand_condition(self.sql, hand)) if not named else self._undoable(event_id)
        return self._undo_step(event_id, found, at=at, by=by)

    def _undoable(self, event_id: int) -> Event | None:
        found = self._events_where([*UNDOABLE, f"e.id = {self.sql('id')}"], {"id": event_id})
        return found[0] if found else None

    def _undo_step(self, event_id: int, found: Event | None, *, at: str, by: str) -> list[Event]:
        if found is None or found.id != event_id:
            raise NotNewest(event_id)
        step = self._step(found)
        ids = {event.id for event in step}
        later = self._events_where(
            [*UNDOABLE, f"e.id > {self.sql('first')}", f"e.plan = {self.sql('plan')}"],
            {"first": min(ids), "plan": found.plan},
        )
        for event in step:
            blocker = next((other for other in later if other.id > event.id and other.id not in ids
                            and common.blocks(event, other)), None)
            if blocker is not None:
                raise ChangedSince(event.id, blocker)
        undo_ids: list[int] = []
        for event in step:
            self._revert(event, at=at, by=by)
            undo_ids.append(self._record(
                at=at, by=by, action="undo", plan=event.plan, task=event.task, before=event.after,
                after=event.before, undoes=event.id, batch=undo_ids[0] if undo_ids else None,
            ))
        return self._events_where([f"e.id {self.sql.among_named('ids')}"], {"ids": self.sql.list_value(undo_ids)})

    def _step(self, event: Event) -> list[Event]:
        """What one undo takes back for `event`: its batch's changes not yet undone, newest first."""
        if event.batch is None:
            return [event]
        return self._events_where(
            [*UNDOABLE, f"(e.batch = {self.sql('batch')} OR e.id = {self.sql('batch')})"], {"batch": event.batch},
            tail="ORDER BY e.id DESC",
        )

    def _revert(self, event: Event, *, at: str, by: str) -> None:
        """Take back what `event` changed: the ledger holds exactly what it wrote, since undo
        goes newest first; anything else is common.out_of_step. Each subject takes back its own."""
        db = self.db
        {
            "note": db.notes.revert_note, "status": db.notes.revert_note, "import": db.plans.revert_import,
            "assign": db.assignments.revert_assign, "unassign": db.assignments.revert_unassign,
            "task_add": db.edits.revert_task_add, "task_edit": db.edits.revert_task_edit,
            "task_drop": db.edits.revert_task_drop, "task_key": db.edits.revert_task_key,
        }[event.action](event, at=at, by=by)


def _hand_condition(sql: Dialect, hand: Hand | None) -> tuple[list[str], dict[str, object]]:
    """The WHERE terms that keep to `hand`'s own changes (none: everyone's)."""
    if hand is None:
        return [], {}
    if hand.unit is not None:
        return [f"e.actor = {sql('actor')}"], {"actor": hand.unit}
    return ["e.actor IS NULL"], {}
