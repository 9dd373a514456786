"""What the subjects of a SQL store share: the store they work on, the pieces of SQL their reads
have in common, and the helpers that read tasks with their units, notes and assignments, keep a
task's status derived, and append events.

A store (store/base.py `SQLStore`) is its subjects: `store.plans`, `store.tasks`, `store.notes`,
`store.assignments`, `store.history`. Each is written once over the store's connection and
dialect; what only one backend does stays in the store's own module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from ..domain.records import Assignment, Event, Note, PlannedTask, Task
from ..domain.statuses import CLOSED_STATUSES, Status
from ..domain.targets import level_targets
from . import common

if TYPE_CHECKING:
    from .base import Row, SQLStore
    from .dialect import Dialect

_R = TypeVar("_R")


class Subject:
    """One subject of a store, and the row helpers every subject may need."""

    def __init__(self, db: SQLStore[Any]) -> None:
        self.db = db
        self.sql = db.sql

    def _write_transaction(self, work: Callable[[], _R]) -> _R:
        """`work` as one write transaction of the store (`base.writes`)."""
        return self.db._write_transaction(work)

    def _tasks_from_rows(
        self, rows: Sequence[Row], *, with_notes: bool = False, with_assignments: bool = False,
        today: date | None = None,
    ) -> list[Task]:
        pks = [row[0] for row in rows]
        units = self._units_of(pks)
        current = self._current_units(pks, units)
        notes = self._notes_of(pks) if with_notes or with_assignments else {}
        assignments = self._assignments_of(pks, notes, today) if with_assignments else {}
        tasks = []
        for row in rows:
            (pk, plan, task_id, group, content, deadline, start, due, status, updated_at, overdue, progress,
             units_done, units_total, source, planned_content, planned_deadline, planned_start, planned_due,
             dropped_at, key_task) = row[:_TASK_WIDTH]
            own = None
            targets = level_targets(content)
            if len(row) > _TASK_WIDTH:
                unit, via, lead, own_status, own_overdue, own_updated, vague, own_progress = row[_TASK_WIDTH:]
                own = Assignment(unit=unit, via=via, lead=bool(lead), status=Status(own_status),
                                 overdue=bool(own_overdue), updated_at=self.sql.stamp(own_updated), vague=bool(vague),
                                 progress=own_progress, target=targets[0] if lead else targets[1])
            tasks.append(Task(
                id=task_id, plan=plan, group=group, content=content, units=tuple(current.get(pk, ())),
                deadline=deadline, start=self.sql.day(start), due=self.sql.day(due), status=Status(status),
                updated_at=self.sql.stamp(updated_at), overdue=bool(overdue), progress=progress,
                via=own.via if own is not None else None, notes=tuple(notes.get(pk, ())) if with_notes else (),
                units_done=units_done, units_total=units_total, assignment=own,
                assignments=tuple(a._replace(target=targets[0] if a.lead else targets[1]) for a in assignments.get(pk, ())),
                planned_units=tuple(units.get(pk, ())), source=source,
                planned=None if planned_deadline is None else PlannedTask(
                    content=planned_content, deadline=planned_deadline, start=self.sql.day(planned_start),
                    due=self.sql.day(planned_due)),
                dropped_at=None if dropped_at is None else self.sql.stamp(dropped_at), key_task=bool(key_task),
            ))
        return tasks

    def _current_units(self, pks: list[int], planned: dict[int, list[str]]) -> dict[int, list[str]]:
        """The units each task is given to now: the names its 责任单位 cell planned that still have
        an assignment (their own, or their members' through them), then those the office added.

        Read from the assignments, not the cell, so that `assign` and `unassign` show in every
        listing and export; a task nobody changed reads exactly as its cell did. A cell name
        the unit file knows by another name (an alias) stays as the cell wrote it."""
        # One row per name a task's assignments answer to (a collective's members fold into the
        # collective's name): a listing of tasks given to 各街镇 reads a row for each, not 45.
        rows = self.db._all(
            f"""SELECT task, coalesce(via, unit), sum(CASE WHEN manual THEN 1 ELSE 0 END), count(*)
                FROM assignments WHERE task {self.sql.among}
                GROUP BY task, coalesce(via, unit) ORDER BY task, min(position)""",
            (self.sql.list_value(pks),),
        )
        assigned: dict[int, list[tuple[str, bool, bool]]] = {}
        for task_pk, name, manual, count in rows:
            assigned.setdefault(task_pk, []).append((name, manual > 0, manual < count))
        result: dict[int, list[str]] = {}
        for pk in pks:
            names, given = planned.get(pk, []), assigned.get(pk)
            if not given:
                result[pk] = names
                continue
            present = {name for name, _, _ in given}
            # A planned name no assignment matches is either a unit the office took off, or the
            # old spelling of a unit whose planned assignment then matches no name either; only
            # the former leaves the list, so a ledger from before names were made canonical
            # prints its cells as before.
            aliased = any(by_plan and name not in names for name, _, by_plan in given)
            kept = names if aliased else [name for name in names if name in present]
            added = [name for name, by_hand, _ in given if by_hand and name not in kept]
            result[pk] = [*kept, *added]
        return result

    def _assignments_of(self, pks: list[int], notes: dict[int, list[Note]], today: date | None) -> dict[int, list[Assignment]]:
        result: dict[int, list[Assignment]] = {}
        rows = self.db._all(
            f"""SELECT a.task, a.unit, a.via, a.lead, a.status, {a_overdue(self.sql)}, a.updated_at, a.vague, {_A_PROGRESS}
                FROM assignments a JOIN tasks t ON t.pk = a.task
                WHERE a.task {self.sql.among_named('pks')}
                ORDER BY a.task, a.position""",
            {"pks": self.sql.list_value(pks), "today": self.sql.date_value(today or date.max)},
        )
        # Each unit's notes grouped in one pass: filtering a task's notes once per assignment
        # cost assignments × notes (on the city, 120 units × 200 notes for one task).
        by_unit: dict[tuple[int, str | None], list[Note]] = {}
        for task_pk, task_notes in notes.items():
            for note in task_notes:
                by_unit.setdefault((task_pk, note.unit), []).append(note)
        for task_pk, unit, via, lead, status, overdue, updated_at, vague, progress in rows:
            result.setdefault(task_pk, []).append(Assignment(
                unit=unit, via=via, lead=bool(lead), status=Status(status), overdue=bool(overdue),
                updated_at=self.sql.stamp(updated_at), vague=bool(vague), progress=progress,
                notes=tuple(by_unit.get((task_pk, unit), ())),
            ))
        return result

    def _units_of(self, pks: list[int]) -> dict[int, list[str]]:
        # One query for all tasks of a listing, never one per row.
        result: dict[int, list[str]] = {}
        rows = self.db._all(
            f"""SELECT tu.task, u.name FROM task_units tu JOIN units u ON u.id = tu.unit
               WHERE tu.task {self.sql.among} ORDER BY tu.task, tu.position""",
            (self.sql.list_value(pks),),
        )
        for task_pk, name in rows:
            result.setdefault(task_pk, []).append(name)
        return result

    def _notes_of(self, pks: list[int]) -> dict[int, list[Note]]:
        result: dict[int, list[Note]] = {}
        rows = self.db._all(
            f"""SELECT n.task, n.id, t.id, n.at, n."by", n.text, n.status, n.count, a.unit
               FROM notes n JOIN tasks t ON t.pk = n.task LEFT JOIN assignments a ON a.pk = n.assignment
               WHERE n.task {self.sql.among} AND n.retracted_at IS NULL
               ORDER BY n.task, {self.sql.instant("n.at")}, n.id""",
            (self.sql.list_value(pks),),
        )
        for task_pk, note_id, task_id, at, by, text, status, count, unit in rows:
            # A status is on one unit's assignment, or (no assignment) set every unit's: `status --all`.
            result.setdefault(task_pk, []).append(
                Note(id=note_id, task_id=task_id, at=self.sql.stamp(at), by=by, text=text,
                     status=Status(status) if status else None, count=count, unit=unit,
                     all_units=bool(status) and unit is None)
            )
        return result

    def _assignment_states(self, pks: Sequence[int]) -> dict[int, dict[str, common.State]]:
        states: dict[int, dict[str, common.State]] = {pk: {} for pk in pks}
        rows = self.db._all(
            f"""SELECT task, unit, pk, status FROM assignments WHERE task {self.sql.among}
               ORDER BY task, position""",
            (self.sql.list_value(pks),),
        )
        for task_pk, unit, pk, status in rows:
            states[task_pk][unit] = [pk, status]
        return states

    def _rederive(self, pks: Sequence[int]) -> None:
        """Set each task's status to the one its assignments give (models.derived_status)."""
        if not pks:
            return
        statuses: dict[int, list[Status]] = {}
        for task_pk, status in self.db._all(
            f"SELECT task, status FROM assignments WHERE task {self.sql.among}", (self.sql.list_value(pks),)
        ):
            statuses.setdefault(task_pk, []).append(Status(status))
        self.db._many(
            f"UPDATE tasks SET status = {self.sql.p} WHERE pk = {self.sql.p} AND status <> {self.sql.p}",
            [(status, pk, status) for status, pk in common.derived(statuses)],
        )

    def _touch(self, task_pk: int, at: str) -> None:
        """The task's status derived again from its assignments, and changed at `at`."""
        self._rederive([task_pk])
        self.db._run(f"UPDATE tasks SET updated_at = {self.sql.p} WHERE pk = {self.sql.p}", (at, task_pk))

    def _task_pk(self, event: Event) -> int:
        row = self.db._one(f"SELECT pk FROM tasks WHERE plan = {self.sql.p} AND id = {self.sql.p}", (event.plan, event.task))
        if row is None:
            raise common.out_of_step(event)
        pk: int = row[0]
        return pk

    def _drop_assignments(self, pks: Sequence[int]) -> None:
        # Only notes undo retracted can be left on them; their events keep every word.
        self.db._run(f"DELETE FROM notes WHERE assignment {self.sql.among}", (self.sql.list_value(pks),))
        self.db._run(f"DELETE FROM assignments WHERE pk {self.sql.among}", (self.sql.list_value(pks),))

    def _insert_assignment_rows(self, task_pk: int, rows: Sequence[common.AssignmentRow]) -> None:
        # Events keep 0/1 flags; the driver stores a bool as the column's own flag.
        self.db._many(
            f"""INSERT INTO assignments (task, unit, via, lead, vague, manual, position, status, updated_at)
               VALUES ({self.sql.marks(9)})""",
            [(task_pk, row["unit"], row["via"], bool(row["lead"]), bool(row["vague"]), bool(row["manual"]),
              row["position"], row["status"], row["updated_at"]) for row in rows],
        )

    def _events_where(self, where: Sequence[str], params: Mapping[str, object], *, tail: str = "ORDER BY e.id") -> list[Event]:
        rows = self.db._all(f"SELECT {EVENT_COLUMNS} FROM events e WHERE {' AND '.join(where) or 'true'} {tail}", params)
        return [
            Event(id=event_id, at=self.sql.stamp(at), by=by, action=action, plan=plan, task=task,
                  before=self.sql.json(before), after=self.sql.json(after), undoes=undoes,
                  undone_by=undone_by, undoes_action=undoes_action, actor=actor, batch=batch)
            for event_id, at, by, action, plan, task, before, after, undoes, undone_by, undoes_action, actor, batch
            in rows
        ]

    def _record(
        self, *, at: str, by: str, action: str, plan: str, task: int | None = None,
        before: Mapping[str, object] | None = None, after: Mapping[str, object] | None = None,
        undoes: int | None = None, batch: int | None = None,
    ) -> int:
        """Append one event (of `batch`); always called inside the transaction that made the change."""
        (event_id,) = self._append_events(
            [(at, by, action, plan, task, common.dump(before), common.dump(after), None)], undoes=undoes, batch=batch
        )
        return event_id

    def _append_events(
        self, rows: Sequence[common.EventRow], *, undoes: int | None = None, batch: int | None = None
    ) -> list[int]:
        """Append events, in order, with the ids they would get one by one; their ids. Several
        rows are one batch (undone as one step) named by the first's id, unless `batch` names
        the batch they join. Each is written as the store's `acting_as` unit (None: the office)."""
        if not rows:
            return []
        first = self.db._next_id("events")
        ids = list(range(first, first + len(rows)))
        if batch is None and len(rows) > 1:
            batch = first
        self.db._many(
            f"""INSERT INTO events (id, at, "by", action, plan, task, before, after, key, undoes, actor, batch)
                VALUES ({self.sql.marks(12)})""",
            [(event_id, *row, undoes, self.db.acting_as, batch) for event_id, row in zip(ids, rows, strict=True)],
        )
        return ids


def like_pattern(text: str) -> str:
    """`text` anywhere, as a LIKE pattern escaped with a backslash."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- query pieces -------------------------------------------------------------

_CLOSED = f"({', '.join(repr(status.value) for status in CLOSED_STATUSES)})"
_OPEN = f"t.status NOT IN {_CLOSED}"
A_OPEN = f"a.status NOT IN {_CLOSED}"


def overdue(sql: Dialect) -> str:
    """The task `t` is overdue on the named parameter `today`."""
    return f"(t.due IS NOT NULL AND t.due < {sql('today')} AND {_OPEN})"


def a_overdue(sql: Dialect) -> str:
    """An assignment's own: overdue when the task's due date has passed and the unit is not done."""
    return f"(t.due IS NOT NULL AND t.due < {sql('today')} AND {A_OPEN})"


# Matches the partial index notes_counted (migration 4), which holds only counted notes.
_PROGRESS = """(SELECT coalesce(sum(n.count), 0) FROM notes n
               WHERE n.task = t.pk AND n.count IS NOT NULL AND n.retracted_at IS NULL)"""
# Matches notes_assignment_counted (migration 7).
_A_PROGRESS = """(SELECT coalesce(sum(n.count), 0) FROM notes n
                 WHERE n.assignment = a.pk AND n.count IS NOT NULL AND n.retracted_at IS NULL)"""
# Through the (task, unit) index of the UNIQUE constraint: a few rows per task.
_UNITS_DONE = "(SELECT count(*) FROM assignments d WHERE d.task = t.pk AND d.status = 'done')"
_UNITS_TOTAL = "(SELECT count(*) FROM assignments d WHERE d.task = t.pk AND d.status <> 'cancelled')"


# How many columns of a row `task_columns` gives: a one-unit listing's assignment follows them.
_TASK_WIDTH = 21


@functools.cache
def task_columns(sql: Dialect) -> str:
    """A task's columns as `_tasks_from_rows` reads them."""
    return f"""
    t.pk, t.plan, t.id, t.group_name, t.content, t.deadline, t.start, t.due,
    t.status, t.updated_at, {overdue(sql)}, {_PROGRESS}, {_UNITS_DONE}, {_UNITS_TOTAL},
    t.source, t.planned_content, t.planned_deadline, t.planned_start, t.planned_due, t.dropped_at, t.key_task
"""


@functools.cache
def assignment_columns(sql: Dialect) -> str:
    """One unit's assignment beside its task's columns (a listing filtered by one unit)."""
    return f"a.unit, a.via, a.lead, a.status, {a_overdue(sql)}, a.updated_at, a.vague, {_A_PROGRESS}"


EVENT_COLUMNS = """
    e.id, e.at, e."by", e.action, e.plan, e.task, e.before, e.after, e.undoes,
    (SELECT u.id FROM events u WHERE u.undoes = e.id),
    (SELECT o.action FROM events o WHERE o.id = e.undoes), e.actor, e.batch
"""
UNDOABLE = ["e.action <> 'undo'", "NOT EXISTS (SELECT 1 FROM events u WHERE u.undoes = e.id)"]
