"""Notes: progress notes and status changes, written alone or in batches, and their undo."""

from __future__ import annotations

from collections.abc import Sequence

from ..domain.records import Event, Note, NotePayload, StatusPayload
from ..domain.statuses import Status
from . import NoteInput, common
from .base import writes
from .subject import Subject


class Notes(Subject):
    """Notes on tasks and on units' assignments, each with the status change it makes."""

    def add_note(
        self, plan: str, task_id: int, *, at: str, by: str, text: str, status: Status | None,
        count: int | None = None, key: str | None = None, unit: str | None = None, all_units: bool = False,
    ) -> tuple[Note, Status] | None:
        """Append a note (and apply its status change) in one transaction.

        Returns the note and the status it changed before it (the unit's, or the
        task's), or None when the task does not exist.
        """
        written = self.add_notes(
            plan, [NoteInput(task_id, text, by, status, count, key, unit, all_units)], at=at
        )
        return written[0] if written else None

    @writes
    def add_notes(self, plan: str, entries: Sequence[NoteInput], *, at: str) -> list[tuple[Note, Status]] | None:
        """Append many notes in one transaction: all of them, or none when a task is missing.

        A note with a unit goes on that unit's assignment and its status is that
        assignment's; without one it is on the task as a whole, and a status then
        needs the task to have one assignment, or `all_units`. The task's status is
        derived again from its assignments. Each note (and each status change) is
        its own event, exactly as if it had been written alone, so `log` and `undo`
        see no difference.
        """
        tasks: dict[int, common.State] = {
            task_id: [pk, status]
            for pk, task_id, status in self.db._all(
                f"SELECT pk, id, status FROM tasks WHERE plan = {self.sql.p} AND id {self.sql.among}",
                (plan, self.sql.list_value(sorted({entry.task_id for entry in entries}))),
            )
        }
        if any(entry.task_id not in tasks for entry in entries):
            return None
        # {task pk: {unit: [assignment pk, status]}} in position order.
        units = self._assignment_states([pk for pk, _ in tasks.values()])
        targets = [common.note_target(entry, units[tasks[entry.task_id][0]]) for entry in entries]
        current = {
            entry.key: common.target_status(target, tasks[entry.task_id], units)
            for entry, target in zip(entries, targets, strict=True) if entry.key is not None
        }
        scopes = {entry.key: common.key_scope(target) for entry, target in zip(entries, targets, strict=True)
                  if entry.key is not None}
        # Checked under the write lock, so two retries racing each other cannot both write.
        earlier = self._keyed_notes(plan, entries, current, scopes)
        # The write lock is held, so the ids this batch gets are known in advance and every
        # row can go in with one statement for many; users quote note ids, so no gaps either.
        writes = common.plan_notes(plan, entries, tasks=tasks, units=units, targets=targets, earlier=earlier,
                                   next_id=self.db._next_note_id(), at=at)
        self.db._many(
            f"""INSERT INTO notes (id, task, at, "by", text, status, count, assignment)
               VALUES ({self.sql.marks(8)})""",
            writes.notes,
        )
        self.db._many(
            f"UPDATE assignments SET status = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}",
            [(status, at, pk) for status, pk in writes.assignments],
        )
        self.db._many(
            f"UPDATE tasks SET status = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}", [(status, at, pk) for status, pk in writes.tasks]
        )
        # One event for each note written now, in order; a retry's notes carry their earlier one.
        changes = iter(self._append_events(writes.events))
        return [(note if note.repeated else note._replace(change=next(changes)), before)
                for note, before in writes.written]

    @writes
    def add_notes_unless_changed(
        self, plan: str, entries: Sequence[tuple[NoteInput, str]], *, at: str
    ) -> tuple[list[tuple[Note, Status]], list[int]]:
        """Write, in one transaction, each note whose assignment (of its entry's unit) still has
        the `Assignment.version` given beside it; leave out the others. Returns the notes written
        (as `add_notes` does) and the indexes of the entries left out."""
        ids = sorted({entry.task_id for entry, _ in entries})
        pks: dict[int, int] = dict(self.db._all(
            f"SELECT id, pk FROM tasks WHERE plan = {self.sql.p} AND id {self.sql.among}",
            (plan, self.sql.list_value(ids)),
        ))
        found = self._assignments_of(list(pks.values()), self._notes_of(list(pks.values())), None)
        versions = {(task_id, assignment.unit): assignment.version
                    for task_id, pk in pks.items() for assignment in found.get(pk, [])}
        stale = [index for index, (entry, version) in enumerate(entries)
                 if versions.get((entry.task_id, entry.unit or "")) != version]
        left_out = set(stale)
        fresh = [entry for index, (entry, _) in enumerate(entries) if index not in left_out]
        written = self.add_notes(plan, fresh, at=at) if fresh else []
        # Every entry written matched an assignment of a task found under this same lock.
        assert written is not None
        return written, stale

    def _keyed_notes(
        self, plan: str, entries: Sequence[NoteInput], statuses: dict[str, str], scopes: dict[str, str]
    ) -> dict[str, Note]:
        """The notes earlier calls stored under the keys of `entries`, as first written.

        A key names one intended note: the same key with other content is a conflict,
        and a key whose note was undone is used up (undo was a decision a retry must
        not reverse). `statuses`: by key, the status the note's entry would change now;
        `scopes`: by key, the unit it is that unit's key for (common.key_scope): another
        unit's note under the same key is none of its business.
        """
        keys = [entry.key for entry in entries if entry.key is not None]
        if not keys:
            return {}
        rows = self.db._all(
            f"""SELECT e.key, e.id, e.plan, e.task, e.at, e."by", e.action, e.before, e.after,
                      (SELECT u.id FROM events u WHERE u.undoes = e.id)
               FROM events e WHERE e.key {self.sql.among}""",
            (self.sql.list_value(keys),),
        )
        found = {}
        for key, event_id, event_plan, task_id, at, by, action, before, after, undone_by in rows:
            if common.event_key_scope(self.sql.json(after)) != scopes[key]:
                continue
            (entry,) = [entry for entry in entries if entry.key == key]
            found[key] = common.keyed_note(
                key=key, event_id=event_id, event_plan=event_plan, task_id=task_id, at=self.sql.stamp(at), by=by,
                action=action, before=self.sql.json(before), after=self.sql.json(after), undone_by=undone_by,
                plan=plan, entry=entry, current=statuses[key],
            )
        return found

    def revert_note(self, event: Event, *, at: str, by: str) -> None:
        """Retract the note (notes are append-only: hidden, never deleted) and restore the status
        it changed: its unit's, every unit's (--all), or the task's (common.note_restore decides)."""
        payload = event.payload
        # _revert sends only note and status events here, which decode to these two.
        assert isinstance(payload, NotePayload | StatusPayload)
        row = self.db._one(
            f"""SELECT n.task, n.retracted_at, t.status, n.assignment, t.plan, t.id, n.text, n.status, n.count, a.unit
               FROM notes n JOIN tasks t ON t.pk = n.task LEFT JOIN assignments a ON a.pk = n.assignment
               WHERE n.id = {self.sql.p}""",
            (payload.note,),
        )
        if row is None or row[1] is not None:
            raise common.out_of_step(event)
        task_pk, _, task_status, assignment, *noted = row
        common.check_note_event(event, common.NotedRow(*noted))
        units = self._assignment_states([task_pk])[task_pk]
        restore = common.note_restore(event, units, task_status)
        if isinstance(payload, StatusPayload):
            self.db._many(
                f"UPDATE assignments SET status = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}",
                [(status, at, units[unit][0]) for unit, status in restore.items()],
            )
            if not restore:
                self.db._run(f"UPDATE tasks SET status = {self.sql.p} WHERE pk = {self.sql.p}", (payload.before.value, task_pk))
        elif assignment is not None:
            self.db._run(f"UPDATE assignments SET updated_at = {self.sql.p} WHERE pk = {self.sql.p}", (at, assignment))
        self.db._run(f"UPDATE notes SET retracted_at = {self.sql.p}, retracted_by = {self.sql.p} WHERE id = {self.sql.p}", (at, by, payload.note))
        self._touch(task_pk, at)
