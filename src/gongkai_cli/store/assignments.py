"""Assignments: which units a task is given to, as the office changes them, and their undo."""

from __future__ import annotations

from collections.abc import Sequence

from ..domain.records import Event
from . import AlreadyAssigned, AssignmentHasNotes, AssignmentInput, LastAssignment, NotAssigned, common
from .base import writes
from .subject import Subject


class Assignments(Subject):
    """The units each task is given to, beyond what its import planned: `assign`, `unassign`, upgrades."""

    def unassigned_tasks(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """(plan, id, units) of every task without any assignment: after the upgrade that made them."""
        with self.db._errors():
            rows = self.db._all(
                """SELECT t.pk, t.plan, t.id FROM tasks t
                   WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.pk) ORDER BY t.pk"""
            )
            units = self._units_of([row[0] for row in rows])
        return [(plan, task_id, tuple(units.get(pk, ()))) for pk, plan, task_id in rows]

    @writes
    def expand_assignments(self, entries: Sequence[tuple[str, int, tuple[AssignmentInput, ...]]], *, at: str) -> None:
        """Give tasks from before assignments theirs, each with the task's status and time: the
        status one unit set then stands for all. Not a change anyone made, so no event."""
        self.db._many(
            f"""INSERT INTO assignments (task, unit, via, lead, vague, position, status, updated_at)
               SELECT t.pk, {self.sql('unit')}, {self.sql('via')}, {self.sql('lead')}, {self.sql('vague')}, {self.sql('position')}, t.status, t.updated_at
               FROM tasks t WHERE t.plan = {self.sql('plan')} AND t.id = {self.sql('id')}""",
            [
                {"plan": plan, "id": task_id, "unit": a.unit, "via": a.via, "lead": bool(a.lead),
                 "vague": bool(a.vague), "position": position}
                for plan, task_id, planned in entries for position, a in enumerate(planned)
            ],
        )

    def _task_assignments(self, plan: str, task_id: int) -> tuple[int, str, dict[str, common.State]] | None:
        """A task's key, stored status and assignments by unit, for a change of its units; None if absent."""
        row = self.db._one(f"SELECT pk, status FROM tasks WHERE plan = {self.sql.p} AND id = {self.sql.p}", (plan, task_id))
        if row is None:
            return None
        task_pk, status = row
        return task_pk, status, self._assignment_states([task_pk])[task_pk]

    @writes
    def assign(
        self, plan: str, task_id: int, assignments: Sequence[AssignmentInput], *, at: str, by: str
    ) -> Event | None:
        """Add units to a task (the office's `assign`); None when the task does not exist."""
        found = self._task_assignments(plan, task_id)
        if found is None:
            return None
        task_pk, before, have = found
        taken = [a.unit for a in assignments if a.unit in have]
        if taken:
            raise AlreadyAssigned(task_id, taken)
        row = self.db._one(f"SELECT coalesce(max(position), -1) + 1 FROM assignments WHERE task = {self.sql.p}", (task_pk,))
        assert row is not None
        rows = common.new_assignment_rows(assignments, start=row[0], at=at)
        self._insert_assignment_rows(task_pk, rows)
        return self._assignment_event(task_pk, plan, task_id, "assign", before, at=at, by=by, after_rows=rows)

    @writes
    def unassign(self, plan: str, task_id: int, units: Sequence[str], *, at: str, by: str) -> Event | None:
        """Take units off a task (the office's `unassign`); None when the task does not exist.

        Refused when a unit has written notes on it (they would lose their place) or when
        no unit would be left.
        """
        found = self._task_assignments(plan, task_id)
        if found is None:
            return None
        task_pk, before, have = found
        missing = [unit for unit in units if unit not in have]
        if missing:
            raise NotAssigned(task_id, missing[0], list(have))
        if len(set(units)) >= len(have):
            raise LastAssignment(task_id)
        noted = [
            unit for (unit,) in self.db._all(
                f"""SELECT a.unit FROM assignments a WHERE a.task = {self.sql.p} AND a.unit {self.sql.among}
                   AND EXISTS (SELECT 1 FROM notes n WHERE n.assignment = a.pk AND n.retracted_at IS NULL)
                   ORDER BY a.position""",
                (task_pk, self.sql.list_value(units)),
            )
        ]
        if noted:
            raise AssignmentHasNotes(task_id, noted)
        rows: list[common.AssignmentRow] = [
            {"unit": unit, "via": via, "lead": int(lead), "vague": int(vague), "manual": int(manual),
             "position": position, "status": status, "updated_at": self.sql.stamp(updated_at)}
            for unit, via, lead, vague, manual, position, status, updated_at in self.db._all(
                f"""SELECT {', '.join(common.ASSIGNMENT_ROW_COLUMNS)} FROM assignments
                    WHERE task = {self.sql.p} AND unit {self.sql.among} ORDER BY position""",
                (task_pk, self.sql.list_value(units)),
            )
        ]
        self._drop_assignments([have[unit][0] for unit in units])
        return self._assignment_event(task_pk, plan, task_id, "unassign", before, at=at, by=by, before_rows=rows)

    def _assignment_event(
        self, task_pk: int, plan: str, task_id: int, action: str, before: str, *, at: str, by: str,
        after_rows: list[common.AssignmentRow] | None = None, before_rows: list[common.AssignmentRow] | None = None,
    ) -> Event:
        self._touch(task_pk, at)
        row = self.db._one(f"SELECT status FROM tasks WHERE pk = {self.sql.p}", (task_pk,))
        assert row is not None
        event_id = self._record(
            at=at, by=by, action=action, plan=plan, task=task_id,
            before={"status": before} | ({"assignments": before_rows} if before_rows else {}),
            after={"status": row[0]} | ({"assignments": after_rows} if after_rows else {}),
        )
        (event,) = self._events_where([f"e.id = {self.sql('id')}"], {"id": event_id})
        return event

    def revert_assign(self, event: Event, *, at: str, by: str) -> None:
        """Take back the assignments `assign` added: still untouched, since undo goes newest first."""
        task_pk = self._task_pk(event)
        units = [row["unit"] for row in common.assignment_rows(event, event.after)]
        found = self.db._all(
            f"SELECT pk FROM assignments WHERE task = {self.sql.p} AND unit {self.sql.among}",
            (task_pk, self.sql.list_value(units)),
        )
        if len(found) != len(units):
            raise common.out_of_step(event)
        self._drop_assignments([pk for (pk,) in found])
        self._touch(task_pk, at)

    def revert_unassign(self, event: Event, *, at: str, by: str) -> None:
        """Put back the assignments `unassign` removed, as they were."""
        task_pk = self._task_pk(event)
        self._insert_assignment_rows(task_pk, common.assignment_rows(event, event.before))
        self._touch(task_pk, at)
