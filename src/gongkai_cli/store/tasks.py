"""Tasks as listings, reports and `show` read them, and the units named in a plan."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import date

from ..domain.records import Task, UnitCounts
from . import TaskQuery
from .subject import _OPEN, A_OPEN, Subject, a_overdue, assignment_columns, like_pattern, overdue, task_columns

# Tasks read per query by `task_batches`: the city's busiest tasks carry hundreds of notes each.
TASK_BATCH = 200
# A task the office dropped (`task drop`) keeps its row and notes, out of every listing.
_LIVE = "t.dropped_at IS NULL"


class Tasks(Subject):
    """Every read of tasks: listings by filter, one task, whole plans with notes, counts per unit."""

    def tasks(self, plan: str, query: TaskQuery, *, today: date) -> list[Task]:
        """The tasks a listing asks for: one query built from the filters, then units in one more."""
        where = [f"t.plan = {self.sql('plan')}", _LIVE]
        params: dict[str, object] = {"plan": plan, "today": self.sql.date_value(today)}
        source, columns = "tasks t", task_columns(self.sql)
        status, overdue_now, still_open = "t.status", overdue(self.sql), _OPEN
        if query.own_unit is not None:
            # One unit's listing: its own assignment is joined in (the (unit, task) index), and
            # status, overdue and open are that assignment's.
            source = f"tasks t JOIN assignments a ON a.task = t.pk AND a.unit = {self.sql('own')}"
            columns = f"{task_columns(self.sql)}, {assignment_columns(self.sql)}"
            params["own"] = query.own_unit
            status, overdue_now, still_open = "a.status", a_overdue(self.sql), A_OPEN
            if query.direct_only:
                where.append("a.via IS NULL")
            if query.lead_only:
                where.append("a.lead")
        elif query.units:
            # A unit's own assignments, and for a collective (各街镇) those that came through it.
            # Correlated on the task, so the work stays within the plan's tasks.
            if query.lead_only:
                match = f"a.lead AND a.unit {self.sql.among_named('units')}"
            elif query.direct_only:
                match = f"""((a.unit {self.sql.among_named('units')} AND a.via IS NULL)
                            OR a.via {self.sql.among_named('units')})"""
            else:
                match = f"""(a.unit {self.sql.among_named('units')}
                            OR a.via {self.sql.among_named('units')})"""
            where.append(f"EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.pk AND {match})")
            params["units"] = self.sql.list_value(query.units)
        if query.statuses:
            where.append(f"{status} {self.sql.among_named('statuses')}")
            params["statuses"] = self.sql.list_value(s.value for s in query.statuses)
        if query.group:
            where.append(f"t.group_name {self.sql.like} {self.sql('group')} ESCAPE '\\'")
            params["group"] = like_pattern(query.group)
        if query.search:
            where.append(f"t.content {self.sql.like} {self.sql('search')} ESCAPE '\\'")
            params["search"] = like_pattern(query.search)
        if query.with_due_only:
            where.append("t.due IS NOT NULL")
        if query.due_before:
            where.append(f"t.due <= {self.sql('due_before')}")
            params["due_before"] = self.sql.date_value(query.due_before)
        if query.due_after:
            where.append(f"t.due >= {self.sql('due_after')}")
            params["due_after"] = self.sql.date_value(query.due_after)
        if query.overdue_only:
            where.append(overdue_now)
        if query.open_only:
            where.append(still_open)
        if query.key_only:
            where.append("t.key_task")
        order = "t.due IS NULL, t.due, t.id" if query.order_by_due else "t.id"
        with self.db._errors():
            rows = self.db._all(f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order}", params)
            return self._tasks_from_rows(rows)

    def task(self, plan: str, task_id: int, *, today: date) -> Task | None:
        with self.db._errors():
            rows = self.db._all(
                f"SELECT {task_columns(self.sql)} FROM tasks t WHERE t.plan = {self.sql('plan')} AND t.id = {self.sql('id')}",
                {"plan": plan, "id": task_id, "today": self.sql.date_value(today)},
            )
            if not rows:
                return None
            (task,) = self._tasks_from_rows(rows, with_notes=True, with_assignments=True, today=today)
            return task

    def tasks_with_notes(
        self, plan: str, *, today: date, ids: Sequence[int] | None = None, with_assignments: bool = True
    ) -> list[Task]:
        """Every task of a plan (or only those numbered `ids`) by id, each with all its notes
        (oldest first) and, unless told not to, its assignments, for exports and reports.
        (A report shows no assignment: on a city plan reading them was most of its time.)

        A few queries in one read transaction, so tasks, units, assignments and notes
        come from the same snapshot even while someone else is writing.
        """
        where, params = f"t.plan = {self.sql('plan')} AND {_LIVE}", {"plan": plan, "today": self.sql.date_value(today)}
        if ids is not None:
            # One unit's report: its tasks only, not the notes and assignments of the whole plan.
            where += f" AND t.id {self.sql.among_named('ids')}"
            params["ids"] = self.sql.list_value(ids)
        with self.db._errors(), self.db._read_snapshot():
            rows = self.db._all(f"SELECT {task_columns(self.sql)} FROM tasks t WHERE {where} ORDER BY t.id", params)
            return self._tasks_from_rows(rows, with_notes=True, with_assignments=with_assignments, today=today)

    def task_batches(self, plan: str, *, today: date, size: int = TASK_BATCH) -> Generator[list[Task], None, None]:
        """What `tasks_with_notes` reads of a whole plan, `size` tasks at a time by id, in one read
        transaction: an export of a 20,000-task plan holds one batch's notes and assignments,
        not the plan's."""
        params: dict[str, object] = {"plan": plan, "today": self.sql.date_value(today), "after": 0}
        with self.db._errors(), self.db._read_snapshot():
            while True:
                rows = self.db._all(
                    f"""SELECT {task_columns(self.sql)} FROM tasks t
                        WHERE t.plan = {self.sql('plan')} AND t.id > {self.sql('after')} ORDER BY t.id LIMIT {int(size)}""",
                    params,
                )
                if not rows:
                    return
                batch = self._tasks_from_rows(rows, with_notes=True, with_assignments=True, today=today)
                yield batch
                if len(rows) < size:
                    return
                params["after"] = batch[-1].id

    def open_assignments(self, plan: str, *, units: Sequence[str], due_before: date, today: date) -> list[Task]:
        """Every open assignment (of `units`, or all) of a task due by `due_before`, as its task
        carrying it: one row per task and unit, soonest first; for reminders by unit."""
        where = [A_OPEN]
        params = {"plan": plan, "today": self.sql.date_value(today), "until": self.sql.date_value(due_before)}
        if units:
            where.append(f"a.unit {self.sql.among_named('units')}")
            params["units"] = self.sql.list_value(units)
        # The task-level figures (progress, units done of total) are worked out once per task
        # in the materialized due_tasks, not once per assignment row: joined flat, a task given
        # to 120 units counted its 120 assignments 120 times (40 ms for a city plan, now 3–13).
        # `t` is the task again, by its key, for the assignment's own overdue flag and the order.
        with self.db._errors():
            rows = self.db._all(
                f"""WITH due_tasks AS MATERIALIZED (
                        SELECT {task_columns(self.sql)} FROM tasks t
                        WHERE t.plan = {self.sql('plan')} AND {_LIVE} AND t.due IS NOT NULL AND t.due <= {self.sql('until')}
                    )
                    SELECT due_tasks.*, {assignment_columns(self.sql)}
                    FROM due_tasks JOIN assignments a ON a.task = due_tasks.pk JOIN tasks t ON t.pk = due_tasks.pk
                    WHERE {' AND '.join(where)} ORDER BY t.due, t.id, a.position""",
                params,
            )
            return self._tasks_from_rows(rows)

    def existing_task_ids(self, plan: str, ids: Sequence[int]) -> set[int]:
        with self.db._errors():
            rows = self.db._all(
                f"SELECT id FROM tasks WHERE plan = {self.sql.p} AND id {self.sql.among}",
                (plan, self.sql.list_value(sorted(set(ids)))),
            )
        return {row[0] for row in rows}

    def next_task_id(self, plan: str) -> int:
        """The 序号 after the plan's largest, dropped tasks' included: one no task ever had."""
        with self.db._errors():
            row = self.db._one(f"SELECT coalesce(max(id), 0) + 1 FROM tasks WHERE plan = {self.sql.p}", (plan,))
        assert row is not None
        next_id: int = row[0]
        return next_id

    def unit_names(self) -> list[str]:
        with self.db._errors():
            return [row[0] for row in self.db._all(f"SELECT name FROM units ORDER BY name{self.sql.binary}")]

    def unit_counts(self, plan: str, *, today: date) -> dict[str, UnitCounts]:
        """Per unit with assignments in the plan: the one count `units`, `summary --by unit` and
        the report's per-unit table all show (docs/json.md defines each figure)."""
        count = self.sql.count_where
        with self.db._errors():
            rows = self.db._all(
                f"""SELECT a.unit, count(*), {count("a.lead")}, {count("a.status = 'done'")},
                           {count("a.status = 'cancelled'")}, {count(a_overdue(self.sql))}
                    FROM tasks t JOIN assignments a ON a.task = t.pk
                    WHERE t.plan = {self.sql('plan')} AND {_LIVE}
                    GROUP BY a.unit""",
                {"plan": plan, "today": self.sql.date_value(today)},
            )
        return {unit: UnitCounts(*counts) for unit, *counts in rows}
