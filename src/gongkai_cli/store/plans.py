"""Plans: reading them, importing a plan table into one, and taking an import back."""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from typing import Any

from ..domain.records import Event, Plan
from ..domain.statuses import Status
from . import AddedTasksHaveNotes, ImportCounts, TaskFields, TaskInput, common
from .base import writes
from .subject import Subject


class Plans(Subject):
    """The plans of a ledger, and what an import writes and its undo takes back."""

    def plans(self) -> list[Plan]:
        """Every plan with its task count, newest year first."""
        with self.db._errors():
            return self._plans()

    def plan(self, name: str | None = None, *, year: int | None = None) -> Plan | None:
        """One plan by name, else the newest of `year`, else the newest; counts only that plan's
        tasks, so resolving the plan costs the same with 160 plans as with one."""
        with self.db._errors():
            if name is not None:
                found = self._plans(f"WHERE p.name = {self.sql('name')}", {"name": name}, limit=1)
            elif year is not None:
                found = self._plans(f"WHERE p.year = {self.sql('year')}", {"year": year}, limit=1)
            else:
                found = self._plans(limit=1)
        return found[0] if found else None

    def plan_names(self) -> list[str]:
        with self.db._errors():
            return [row[0] for row in self.db._all(f"SELECT p.name FROM plans p ORDER BY {self._plan_order()}")]

    def _plans(self, where: str = "", params: Mapping[str, object] | None = None, *, limit: int | None = None) -> list[Plan]:
        rows = self.db._all(
            f"""SELECT p.name, p.year, p.source, p.imported_at,
                       (SELECT count(*) FROM tasks t WHERE t.plan = p.name AND t.dropped_at IS NULL)
                FROM plans p {where}
                ORDER BY {self._plan_order()} {f"LIMIT {int(limit)}" if limit else ""}""",
            params or {},
        )
        return [Plan(name=name, year=year, tasks=count, imported_at=self.sql.stamp(imported_at), source=source)
                for name, year, source, imported_at, count in rows]

    def _plan_order(self) -> str:
        return f"p.year DESC, p.created_at DESC, p.name{self.sql.binary}"

    @writes
    def import_plan(
        self, name: str, *, year: int, source: str, at: str, by: str, tasks: Sequence[TaskInput]
    ) -> ImportCounts:
        """Create or update a plan from a table, in one transaction.

        Tasks are matched by (plan, id): texts and dates are replaced, statuses
        and notes are never touched, and tasks missing from the file are kept.
        Each task's assignments follow the ones planned: missing ones are added,
        and ones no longer planned are removed only while untouched (todo, no
        notes, not added by `assign`). The event keeps every replaced text and
        assignment list, so the import can be undone.
        """
        old_plan = self._plan_row(name)
        self.db._run(
            f"""INSERT INTO plans (name, year, source, created_at, imported_at)
               VALUES ({self.sql('name')}, {self.sql('year')}, {self.sql('source')}, {self.sql('at')}, {self.sql('at')})
               ON CONFLICT (name) DO UPDATE SET
                   year = excluded.year, source = excluded.source, imported_at = excluded.imported_at""",
            {"name": name, "year": year, "source": source, "at": at},
        )
        existing = self._snapshots(name)
        names = {unit for task in tasks for unit in task.fields["units"]}
        # Recorded so that undoing this import also takes back the units it brought in.
        created = sorted(names - {
            row[0] for row in self.db._all(
                f"SELECT name FROM units WHERE name {self.sql.among}", (self.sql.list_value(sorted(names)),)
            )
        })
        unit_ids = self._ensure_units(names)
        # The write lock is held, so new tasks' keys are known in advance and a
        # 10,000-row table goes in with a few statements, not a statement per row.
        writes = common.plan_import(tasks, existing, self.db._next_id("tasks", "pk"))
        self.db._many(
            f"""INSERT INTO tasks (pk, plan, id, group_name, content, deadline, start, due, status, updated_at)
               VALUES ({self.sql.marks(10)})""",
            [(pk, name, task_id, *common.task_columns(fields), Status.TODO.value, at)
             for pk, task_id, fields in writes.added],
        )
        self._insert_units([(pk, fields) for pk, _, fields in writes.added], unit_ids)
        self._rewrite_tasks(writes.changed, unit_ids, at)
        planned = {writes.pks[task.id]: [common.planned(a) for a in task.assignments] for task in tasks}
        old_plans = self._sync_assignments(planned, at, new={pk for pk, _, _ in writes.added})
        before, after = common.import_event(
            writes, old_plan=old_plan, plan={"year": year, "source": source, "imported_at": at},
            created=created, planned_lists=planned, old_lists=old_plans,
        )
        self._record(at=at, by=by, action="import", plan=name, before=before, after=after)
        return common.import_counts(writes, existing, tasks)

    def _plan_row(self, name: str) -> common.PlanRow | None:
        row = self.db._one(f"SELECT year, source, imported_at FROM plans WHERE name = {self.sql.p}", (name,))
        return None if row is None else common.PlanRow(year=row[0], source=row[1], imported_at=self.sql.stamp(row[2]))

    def _snapshots(self, plan: str) -> dict[int, tuple[int, TaskFields]]:
        """Every task of a plan as (pk, the fields an import writes, in its event's terms)."""
        rows = self.db._all(f"SELECT pk, id, group_name, content, deadline, start, due FROM tasks WHERE plan = {self.sql.p}", (plan,))
        units = self._units_of([row[0] for row in rows])
        return {
            task_id: (pk, TaskFields(
                group=group, content=content, units=units.get(pk, []), deadline=deadline,
                start=self.sql.day_text(start), due=self.sql.day_text(due),
            ))
            for pk, task_id, group, content, deadline, start, due in rows
        }

    def _rewrite_tasks(self, changes: Sequence[tuple[int, TaskFields]], unit_ids: dict[str, int], at: str) -> None:
        """Replace texts, dates and units of existing tasks; shared by import and its undo."""
        self.db._many(
            f"""UPDATE tasks SET group_name = {self.sql.p}, content = {self.sql.p}, deadline = {self.sql.p},
                      start = {self.sql.p}, due = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}""",
            [(*common.task_columns(fields), at, pk) for pk, fields in changes],
        )
        self.db._run(f"DELETE FROM task_units WHERE task {self.sql.among}",
                  (self.sql.list_value(pk for pk, _ in changes),))
        self._insert_units(changes, unit_ids)

    def _sync_assignments(
        self, planned: dict[int, list[common.PlannedAssignment]], at: str, *, new: Container[int] = frozenset()
    ) -> dict[int, list[common.PlannedAssignment]]:
        """Make each task's assignments follow its planned list (common.plan_sync); returns, for
        the existing tasks whose list changed, the list planned before."""
        current: dict[int, list[list[Any]]] = {}  # task pk: its rows, less the task column
        rows = self.db._all(
            f"""SELECT a.task, a.pk, a.unit, a.via, a.lead, a.vague, a.manual, a.status,
                      EXISTS (SELECT 1 FROM notes n WHERE n.assignment = a.pk AND n.retracted_at IS NULL)
               FROM assignments a WHERE a.task {self.sql.among}
               ORDER BY a.task, a.position""",
            (self.sql.list_value(pk for pk in planned if pk not in new),),
        )
        for task_pk, *row in rows:
            current.setdefault(task_pk, []).append(row)
        writes = common.plan_sync(planned, current, at, new=new)
        self._drop_assignments(writes.removed)
        self.db._many(
            f"UPDATE assignments SET via = {self.sql.p}, lead = {self.sql.p}, vague = {self.sql.p}, position = {self.sql.p}, manual = false WHERE pk = {self.sql.p}",
            writes.updates,
        )
        # A unit kept because it worked on the task stays, like one the office added, until unassigned;
        # the cell no longer names it, so it no longer leads: the lead is the cell's first unit.
        self.db._many(
            f"UPDATE assignments SET position = {self.sql.p}, manual = true, lead = false WHERE pk = {self.sql.p}",
            writes.moved,
        )
        self.db._many(
            f"""INSERT INTO assignments (task, unit, via, lead, vague, position, status, updated_at)
               VALUES ({self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p}, 'todo', {self.sql.p})""",
            writes.inserts,
        )
        self._rederive(writes.rederive)
        return writes.old_plans

    def _insert_units(self, tasks: Sequence[tuple[int, TaskFields]], unit_ids: dict[str, int]) -> None:
        self.db._many(
            f"INSERT INTO task_units (task, unit, position) VALUES ({self.sql.marks(3)})",
            [(pk, unit_ids[unit], position) for pk, fields in tasks for position, unit in enumerate(fields["units"])],
        )

    def _ensure_units(self, names: set[str]) -> dict[str, int]:
        self.db._many(f"INSERT INTO units (name) VALUES ({self.sql.p}) ON CONFLICT (name) DO NOTHING", [(name,) for name in sorted(names)])
        return dict(self.db._all("SELECT name, id FROM units"))

    def revert_import(self, event: Event, *, at: str, by: str) -> None:
        """Put back replaced task texts and the plan row; remove the tasks and units the import added."""
        before, after = common.import_payload(event)
        current = self._snapshots(event.plan)
        old_plans = common.check_import_undo(event, current)
        if old_plans:
            common.check_planned_lists(event, current, self._planned_lists(list(old_plans)))
        replaced = before["tasks"]
        added = self.sql.list_value(current[int(key)][0] for key, old in replaced.items() if old is None)
        noted = [
            task_id for (task_id,) in self.db._all(
                f"""SELECT DISTINCT t.id FROM notes n JOIN tasks t ON t.pk = n.task
                   WHERE n.task {self.sql.among} AND n.retracted_at IS NULL
                   ORDER BY t.id""",
                (added,),
            )
        ]
        if noted:
            raise AddedTasksHaveNotes(event.id, noted)
        # What is left on these tasks are notes earlier undos retracted; their note
        # events keep every word, so removing the rows loses nothing.
        for table, column in (("notes", "task"), ("assignments", "task"), ("task_units", "task"), ("tasks", "pk")):
            self.db._run(f"DELETE FROM {table} WHERE {column} {self.sql.among}", (added,))
        unit_ids = self._ensure_units({unit for old in replaced.values() if old for unit in old["units"]})
        self._rewrite_tasks(
            [(current[int(key)][0], old) for key, old in replaced.items() if old is not None], unit_ids, at
        )
        self._sync_assignments(old_plans, at)
        # Imports recorded before units were tracked have no list: their units stay.
        self.db._run(
            f"""DELETE FROM units WHERE name {self.sql.among}
               AND NOT EXISTS (SELECT 1 FROM task_units tu WHERE tu.unit = units.id)""",
            (self.sql.list_value(after.get("units", [])),),
        )
        if before["plan"] is None:
            self.db._run(f"DELETE FROM plans WHERE name = {self.sql.p}", (event.plan,))
        else:
            self.db._run(
                f"UPDATE plans SET year = {self.sql('year')}, source = {self.sql('source')}, imported_at = {self.sql('imported_at')} WHERE name = {self.sql('name')}",
                {**before["plan"], "name": event.plan},
            )

    def _planned_lists(self, pks: Sequence[int]) -> dict[int, list[common.PlannedAssignment]]:
        found: dict[int, list[common.PlannedAssignment]] = {}
        rows = self.db._all(
            f"""SELECT task, pk, unit, via, lead, vague FROM assignments
               WHERE task {self.sql.among} AND NOT manual ORDER BY task, position""",
            (self.sql.list_value(pks),),
        )
        for task_pk, *row in rows:
            found.setdefault(task_pk, []).append(common.planned_row(row))
        return found
