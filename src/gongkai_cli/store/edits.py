"""The office's changes to a plan's tasks after import: a task added by hand, a task's text and
dates changed, a task dropped, a task marked as a 重点任务; each an event that undo takes back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..domain.records import Event
from . import AssignmentInput, KeyUnchanged, TaskDropped, TaskExists, TaskFields, common
from .base import writes
from .subject import Subject

# What `task edit` may change, in the order its events keep them.
EDITABLE = ("content", "deadline", "start", "due")


class Edits(Subject):
    """`task add`, `task edit`, `task drop`, `task key` and their undo."""

    @writes
    def add_task(
        self, plan: str, task_id: int, fields: TaskFields, assignments: Sequence[AssignmentInput], *,
        source: str, at: str, by: str,
    ) -> Event:
        """A task the plan table did not have (a 上级 notice's, say), given to `assignments`."""
        if self.db._one(f"SELECT 1 FROM tasks WHERE plan = {self.sql.p} AND id = {self.sql.p}", (plan, task_id)):
            raise TaskExists(task_id)
        pk = self.db._next_id("tasks", "pk")
        self.db._run(
            f"""INSERT INTO tasks (pk, plan, id, group_name, content, deadline, start, due, status, updated_at, source)
               VALUES ({self.sql.marks(11)})""",
            (pk, plan, task_id, *common.task_columns(fields), "todo", at, source),
        )
        plans = self.db.plans
        plans._insert_units([(pk, fields)], plans._ensure_units(set(fields["units"])))
        rows: list[common.AssignmentRow] = [
            {**row, "manual": 0} for row in common.new_assignment_rows(assignments, start=0, at=at)
        ]
        self._insert_assignment_rows(pk, rows)
        return self._event(
            at=at, by=by, action="task_add", plan=plan, task=task_id, before=None,
            after={"task": dict(fields) | {"source": source}, "assignments": rows},
        )

    def revert_task_add(self, event: Event, *, at: str, by: str) -> None:
        """Remove the task `task add` made: undo goes newest first, so its notes are retracted ones."""
        pk = self._task_pk(event)
        if self.db._one(f"SELECT 1 FROM notes WHERE task = {self.sql.p} AND retracted_at IS NULL", (pk,)):
            raise common.out_of_step(event)
        # Their note events keep every word of the retracted notes.
        for table, column in (("notes", "task"), ("assignments", "task"), ("task_units", "task"), ("tasks", "pk")):
            self.db._run(f"DELETE FROM {table} WHERE {column} = {self.sql.p}", (pk,))

    @writes
    def edit_task(self, plan: str, task_id: int, changes: Mapping[str, str | None], *, at: str, by: str) -> Event | None:
        """Change a task's text or dates (EDITABLE); None when there is no such task. The first
        change keeps the imported ones in the planned_* columns, for `show`."""
        found = self._fields(plan, task_id)
        if found is None:
            return None
        pk, current, planned = found
        after = {**current, **changes}
        self.db._run(
            f"""UPDATE tasks SET content = {self.sql.p}, deadline = {self.sql.p}, start = {self.sql.p}, due = {self.sql.p},
                   updated_at = {self.sql.p} WHERE pk = {self.sql.p}""",
            (*(after[key] for key in EDITABLE), at, pk),
        )
        if not planned:
            self._set_planned(pk, current)
        return self._event(
            at=at, by=by, action="task_edit", plan=plan, task=task_id,
            before={**current, "planned": planned}, after=after,
        )

    def revert_task_edit(self, event: Event, *, at: str, by: str) -> None:
        """Put back what `task edit` replaced; the planned_* columns go with the first edit."""
        assert event.before is not None and event.after is not None
        found = self._fields(event.plan, event.task or 0)
        if found is None or found[1] != {key: event.after[key] for key in EDITABLE}:
            raise common.out_of_step(event)
        pk = found[0]
        self.db._run(
            f"""UPDATE tasks SET content = {self.sql.p}, deadline = {self.sql.p}, start = {self.sql.p}, due = {self.sql.p},
                   updated_at = {self.sql.p} WHERE pk = {self.sql.p}""",
            (*(event.before[key] for key in EDITABLE), at, pk),
        )
        if not event.before["planned"]:
            self._set_planned(pk, None)

    @writes
    def drop_task(self, plan: str, task_id: int, *, at: str, by: str) -> Event | None:
        """Take a task out of the plan's listings, keeping it and its notes; None when there is no such task."""
        row = self.db._one(f"SELECT pk, dropped_at FROM tasks WHERE plan = {self.sql.p} AND id = {self.sql.p}", (plan, task_id))
        if row is None:
            return None
        if row[1] is not None:
            raise TaskDropped(task_id)
        self.db._run(f"UPDATE tasks SET dropped_at = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}",
                     (at, at, row[0]))
        return self._event(at=at, by=by, action="task_drop", plan=plan, task=task_id,
                           before={"dropped": False}, after={"dropped": True})

    def revert_task_drop(self, event: Event, *, at: str, by: str) -> None:
        pk = self._task_pk(event)
        row = self.db._one(f"SELECT dropped_at FROM tasks WHERE pk = {self.sql.p}", (pk,))
        if row is None or row[0] is None:
            raise common.out_of_step(event)
        self.db._run(f"UPDATE tasks SET dropped_at = NULL, updated_at = {self.sql.p} WHERE pk = {self.sql.p}", (at, pk))

    @writes
    def mark_key(self, plan: str, task_id: int, key: bool, *, at: str, by: str) -> Event | None:
        """Mark a task as a 重点任务 (`key`) or unmark it; None when there is no such task."""
        row = self.db._one(f"SELECT pk, key_task FROM tasks WHERE plan = {self.sql.p} AND id = {self.sql.p}", (plan, task_id))
        if row is None:
            return None
        if bool(row[1]) == key:
            raise KeyUnchanged(task_id, key)
        self.db._run(f"UPDATE tasks SET key_task = {self.sql.p} WHERE pk = {self.sql.p}", (key, row[0]))
        return self._event(at=at, by=by, action="task_key", plan=plan, task=task_id,
                           before={"key": not key}, after={"key": key})

    def revert_task_key(self, event: Event, *, at: str, by: str) -> None:
        assert event.before is not None and event.after is not None
        pk = self._task_pk(event)
        row = self.db._one(f"SELECT key_task FROM tasks WHERE pk = {self.sql.p}", (pk,))
        if row is None or bool(row[0]) != bool(event.after["key"]):
            raise common.out_of_step(event)
        self.db._run(f"UPDATE tasks SET key_task = {self.sql.p} WHERE pk = {self.sql.p}", (bool(event.before["key"]), pk))

    def _fields(self, plan: str, task_id: int) -> tuple[int, dict[str, str | None], bool] | None:
        """A task's key, its EDITABLE fields as events keep them, and whether it was edited before."""
        row = self.db._one(
            f"""SELECT pk, content, deadline, start, due, planned_deadline IS NOT NULL FROM tasks
               WHERE plan = {self.sql.p} AND id = {self.sql.p}""",
            (plan, task_id),
        )
        if row is None:
            return None
        pk, content, deadline, start, due, planned = row
        return pk, {"content": content, "deadline": deadline, "start": self.sql.day_text(start),
                    "due": self.sql.day_text(due)}, bool(planned)

    def _set_planned(self, pk: int, fields: Mapping[str, str | None] | None) -> None:
        values = [None] * len(EDITABLE) if fields is None else [fields[key] for key in EDITABLE]
        self.db._run(
            f"""UPDATE tasks SET planned_content = {self.sql.p}, planned_deadline = {self.sql.p},
                   planned_start = {self.sql.p}, planned_due = {self.sql.p} WHERE pk = {self.sql.p}""",
            (*values, pk),
        )

    def _event(self, *, action: str, **change: object) -> Event:
        event_id = self._record(action=action, **change)  # type: ignore[arg-type]
        (event,) = self._events_where([f"e.id = {self.sql('id')}"], {"id": event_id})
        return event
