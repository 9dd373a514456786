"""The reads and writes whose SQL is the same on both backends, written once.

`SQLStore` is the base of `SQLiteStore` and `PostgresStore`. Each statement is built with the
store's dialect (store/dialect.py: `self.sql.p`, `self.sql("name")`, `self.sql.among`) and goes
to the driver as built; what a backend stores differently (timestamps, dates, json) comes back
through the same dialect. What only one backend does (opening, locks, copies, `check`) is its own.
"""

from __future__ import annotations

import abc
import contextlib
import functools
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, Generic, ParamSpec, TypeVar

from ..models import (
    CLOSED_STATUSES,
    Assignment,
    Commit,
    Event,
    Note,
    NotePayload,
    Plan,
    Status,
    StatusPayload,
    Task,
)
from . import (
    BUSY_TIMEOUT_SECONDS,
    AddedTasksHaveNotes,
    AlreadyAssigned,
    AssignmentHasNotes,
    AssignmentInput,
    ImportCounts,
    LastAssignment,
    NotAssigned,
    NoteInput,
    NotNewest,
    TaskFields,
    TaskInput,
    TaskQuery,
    UnitCounts,
    common,
)

Row = tuple[Any, ...]
Params = Sequence[object] | Mapping[str, object]

if TYPE_CHECKING:
    from typing_extensions import Self

    from .dialect import Dialect

_S = TypeVar("_S", bound="SQLStore[Any]")
_Where = TypeVar("_Where")  # where a backend's ledger is: a file's path, a server's URL
_P = ParamSpec("_P")
_R = TypeVar("_R")


def writes(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """Run a write method as one transaction of its store (`_write_transaction`)."""

    @functools.wraps(method)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self._write_transaction(functools.partial(method, self, *args, **kwargs))

    return wrapper


class SQLStore(abc.ABC, Generic[_Where]):
    """What both SQL backends of `Storage` read and write alike."""

    # How this backend spells what SQL spells differently, and how its values come back.
    sql: ClassVar[Dialect]
    # Every committed write that recorded a change; the CLI reads it when a later step fails,
    # to say the change was saved nonetheless.
    commits: list[Commit]

    @classmethod
    def open(
        cls, where: _Where, *, create: bool = True, upgrade: bool = True, timeout: float = BUSY_TIMEOUT_SECONDS,
        on_create: Callable[[Self], None] | None = None, on_upgrade: Callable[[Self, list[str]], None] | None = None,
    ) -> Self:
        """Open the ledger `where` names (a file, or a server's database).

        Nothing is written until it is known to be a gongkai ledger, or an empty
        database (a missing file too; on a server, one without the `gongkai`
        schema), which becomes one when `create`; anything else is refused
        untouched; a ledger of a newer gongkai is refused. With `upgrade`, an older
        ledger is upgraded (a file's only when it and its directory are writable);
        without, nothing is written at all (`check`, `backup`). `on_create` runs
        inside the transaction that turns an empty database into a ledger, so no
        other process ever sees that ledger without what it puts there;
        `on_upgrade`, given the names of the migrations applied, runs inside the
        transaction that upgrades an existing ledger (to fill what a migration made
        room for). `timeout`: how many seconds to wait for another process's lock.
        """
        store = cls._connected(where, create=create, timeout=timeout)
        try:
            store._prepare(create=create, upgrade=upgrade, on_create=on_create, on_upgrade=on_upgrade)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    @abc.abstractmethod
    def _connected(cls, where: _Where, *, create: bool, timeout: float) -> Self:
        """A store on the ledger `where` names, not yet read."""

    @abc.abstractmethod
    def _prepare(
        self, *, create: bool, upgrade: bool, on_create: Callable[[Self], None] | None,
        on_upgrade: Callable[[Self, list[str]], None] | None,
    ) -> None:
        """Recognise, create or upgrade the ledger (see `open`)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of the database."""

    # -- what each backend supplies ------------------------------------------------

    @abc.abstractmethod
    def _errors(self) -> contextlib.AbstractContextManager[None]:
        """Turns a driver's error into the one-line StoreError naming the database."""

    @abc.abstractmethod
    def _write_transaction(self, work: Callable[[], _R]) -> _R:
        """`work` as one write transaction, or as part of the one already running."""

    @abc.abstractmethod
    def _all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row a query in the shared spelling returns."""

    @abc.abstractmethod
    def _run(self, sql: str, params: Params = ()) -> None:
        """A statement in the shared spelling, once."""

    @abc.abstractmethod
    def _many(self, sql: str, rows: Iterable[Params]) -> None:
        """A statement in the shared spelling, once per row of parameters."""

    @abc.abstractmethod
    def _read_snapshot(self) -> contextlib.AbstractContextManager[None]:
        """One read transaction: every query inside it reads the same committed ledger."""

    def _one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _next_id(self, table: str, key: str = "id") -> int:
        """One past the largest key of `table`: the key the next row gets under the write lock."""
        row = self._one(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}")
        assert row is not None
        next_id: int = row[0]
        return next_id

    # -- plans and units -------------------------------------------------------------

    def plans(self) -> list[Plan]:
        """Every plan with its task count, newest year first."""
        with self._errors():
            return self._plans()

    def plan(self, name: str | None = None, *, year: int | None = None) -> Plan | None:
        """One plan by name, else the newest of `year`, else the newest; counts only that plan's
        tasks, so resolving the plan costs the same with 160 plans as with one."""
        with self._errors():
            if name is not None:
                found = self._plans(f"WHERE p.name = {self.sql('name')}", {"name": name}, limit=1)
            elif year is not None:
                found = self._plans(f"WHERE p.year = {self.sql('year')}", {"year": year}, limit=1)
            else:
                found = self._plans(limit=1)
        return found[0] if found else None

    def plan_names(self) -> list[str]:
        with self._errors():
            return [row[0] for row in self._all(f"SELECT p.name FROM plans p ORDER BY {self._plan_order()}")]

    def _plans(self, where: str = "", params: Mapping[str, object] | None = None, *, limit: int | None = None) -> list[Plan]:
        rows = self._all(
            f"""SELECT p.name, p.year, p.source, p.imported_at,
                       (SELECT count(*) FROM tasks t WHERE t.plan = p.name)
                FROM plans p {where}
                ORDER BY {self._plan_order()} {f"LIMIT {int(limit)}" if limit else ""}""",
            params or {},
        )
        return [Plan(name=name, year=year, tasks=count, imported_at=self.sql.stamp(imported_at), source=source)
                for name, year, source, imported_at, count in rows]

    def _plan_order(self) -> str:
        return f"p.year DESC, p.created_at DESC, p.name{self.sql.binary}"

    def unit_names(self) -> list[str]:
        with self._errors():
            return [row[0] for row in self._all(f"SELECT name FROM units ORDER BY name{self.sql.binary}")]

    def unit_counts(self, plan: str, *, today: date) -> dict[str, UnitCounts]:
        """Per unit with assignments in the plan: the one count `units`, `summary --by unit` and
        the report's per-unit table all show (docs/json.md defines each figure)."""
        count = self.sql.count_where
        with self._errors():
            rows = self._all(
                f"""SELECT a.unit, count(*), {count("a.lead")}, {count("a.status = 'done'")},
                           {count("a.status = 'cancelled'")}, {count(a_overdue(self.sql))}
                    FROM tasks t JOIN assignments a ON a.task = t.pk
                    WHERE t.plan = {self.sql('plan')}
                    GROUP BY a.unit""",
                {"plan": plan, "today": self.sql.date_value(today)},
            )
        return {unit: UnitCounts(*counts) for unit, *counts in rows}

    # -- tasks ----------------------------------------------------------------------

    def tasks(self, plan: str, query: TaskQuery, *, today: date) -> list[Task]:
        """The tasks a listing asks for: one query built from the filters, then units in one more."""
        where = [f"t.plan = {self.sql('plan')}"]
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
        order = "t.due IS NULL, t.due, t.id" if query.order_by_due else "t.id"
        with self._errors():
            rows = self._all(f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order}", params)
            return self._tasks_from_rows(rows)

    def tasks_with_notes(
        self, plan: str, *, today: date, ids: Sequence[int] | None = None, with_assignments: bool = True
    ) -> list[Task]:
        """Every task of a plan (or only those numbered `ids`) by id, each with all its notes
        (oldest first) and, unless told not to, its assignments, for exports and reports.
        (A report shows no assignment: on a city plan reading them was most of its time.)

        A few queries in one read transaction, so tasks, units, assignments and notes
        come from the same snapshot even while someone else is writing.
        """
        where, params = f"t.plan = {self.sql('plan')}", {"plan": plan, "today": self.sql.date_value(today)}
        if ids is not None:
            # One unit's report: its tasks only, not the notes and assignments of the whole plan.
            where += f" AND t.id {self.sql.among_named('ids')}"
            params["ids"] = self.sql.list_value(ids)
        with self._errors(), self._read_snapshot():
            rows = self._all(f"SELECT {task_columns(self.sql)} FROM tasks t WHERE {where} ORDER BY t.id", params)
            return self._tasks_from_rows(rows, with_notes=True, with_assignments=with_assignments, today=today)

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
        with self._errors():
            rows = self._all(
                f"""WITH due_tasks AS MATERIALIZED (
                        SELECT {task_columns(self.sql)} FROM tasks t
                        WHERE t.plan = {self.sql('plan')} AND t.due IS NOT NULL AND t.due <= {self.sql('until')}
                    )
                    SELECT due_tasks.*, {assignment_columns(self.sql)}
                    FROM due_tasks JOIN assignments a ON a.task = due_tasks.pk JOIN tasks t ON t.pk = due_tasks.pk
                    WHERE {' AND '.join(where)} ORDER BY t.due, t.id, a.position""",
                params,
            )
            return self._tasks_from_rows(rows)

    def task(self, plan: str, task_id: int, *, today: date) -> Task | None:
        with self._errors():
            rows = self._all(
                f"SELECT {task_columns(self.sql)} FROM tasks t WHERE t.plan = {self.sql('plan')} AND t.id = {self.sql('id')}",
                {"plan": plan, "id": task_id, "today": self.sql.date_value(today)},
            )
            if not rows:
                return None
            (task,) = self._tasks_from_rows(rows, with_notes=True, with_assignments=True, today=today)
            return task

    def existing_task_ids(self, plan: str, ids: Sequence[int]) -> set[int]:
        with self._errors():
            rows = self._all(
                f"SELECT id FROM tasks WHERE plan = {self.sql.p} AND id {self.sql.among}",
                (plan, self.sql.list_value(sorted(set(ids)))),
            )
        return {row[0] for row in rows}

    def unassigned_tasks(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """(plan, id, units) of every task without any assignment: after the upgrade that made them."""
        with self._errors():
            rows = self._all(
                """SELECT t.pk, t.plan, t.id FROM tasks t
                   WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.pk) ORDER BY t.pk"""
            )
            units = self._units_of([row[0] for row in rows])
        return [(plan, task_id, tuple(units.get(pk, ()))) for pk, plan, task_id in rows]

    def _tasks_from_rows(
        self, rows: Sequence[Row], *, with_notes: bool = False, with_assignments: bool = False,
        today: date | None = None,
    ) -> list[Task]:
        pks = [row[0] for row in rows]
        units = self._units_of(pks)
        notes = self._notes_of(pks) if with_notes or with_assignments else {}
        assignments = self._assignments_of(pks, notes, today) if with_assignments else {}
        tasks = []
        for row in rows:
            (pk, plan, task_id, group, content, deadline, start, due, status, updated_at, overdue, progress,
             units_done, units_total) = row[:14]
            own = None
            if len(row) > 14:
                unit, via, lead, own_status, own_overdue, own_updated, vague, own_progress = row[14:]
                own = Assignment(unit=unit, via=via, lead=bool(lead), status=Status(own_status),
                                 overdue=bool(own_overdue), updated_at=self.sql.stamp(own_updated), vague=bool(vague),
                                 progress=own_progress)
            tasks.append(Task(
                id=task_id, plan=plan, group=group, content=content, units=tuple(units.get(pk, ())),
                deadline=deadline, start=self.sql.day(start), due=self.sql.day(due), status=Status(status),
                updated_at=self.sql.stamp(updated_at), overdue=bool(overdue), progress=progress,
                via=own.via if own is not None else None, notes=tuple(notes.get(pk, ())) if with_notes else (),
                units_done=units_done, units_total=units_total, assignment=own,
                assignments=tuple(assignments.get(pk, ())),
            ))
        return tasks

    def _assignments_of(self, pks: list[int], notes: dict[int, list[Note]], today: date | None) -> dict[int, list[Assignment]]:
        result: dict[int, list[Assignment]] = {}
        rows = self._all(
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
        rows = self._all(
            f"""SELECT tu.task, u.name FROM task_units tu JOIN units u ON u.id = tu.unit
               WHERE tu.task {self.sql.among} ORDER BY tu.task, tu.position""",
            (self.sql.list_value(pks),),
        )
        for task_pk, name in rows:
            result.setdefault(task_pk, []).append(name)
        return result

    def _notes_of(self, pks: list[int]) -> dict[int, list[Note]]:
        result: dict[int, list[Note]] = {}
        rows = self._all(
            f"""SELECT n.task, n.id, t.id, n.at, n."by", n.text, n.status, n.count, a.unit
               FROM notes n JOIN tasks t ON t.pk = n.task LEFT JOIN assignments a ON a.pk = n.assignment
               WHERE n.task {self.sql.among} AND n.retracted_at IS NULL
               ORDER BY n.task, n.at, n.id""",
            (self.sql.list_value(pks),),
        )
        for task_pk, note_id, task_id, at, by, text, status, count, unit in rows:
            result.setdefault(task_pk, []).append(
                Note(id=note_id, task_id=task_id, at=self.sql.stamp(at), by=by, text=text,
                     status=Status(status) if status else None, count=count, unit=unit)
            )
        return result

    # -- notes ------------------------------------------------------------------------

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
            for pk, task_id, status in self._all(
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
        # Checked under the write lock, so two retries racing each other cannot both write.
        earlier = self._keyed_notes(plan, entries, current)
        # The write lock is held, so the ids this batch gets are known in advance and every
        # row can go in with one statement for many; users quote note ids, so no gaps either.
        writes = common.plan_notes(plan, entries, tasks=tasks, units=units, targets=targets, earlier=earlier,
                                   next_id=self._next_id("notes"), at=at)
        self._many(
            f"""INSERT INTO notes (id, task, at, "by", text, status, count, assignment)
               VALUES ({self.sql.marks(8)})""",
            writes.notes,
        )
        self._many(
            f"UPDATE assignments SET status = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}",
            [(status, at, pk) for status, pk in writes.assignments],
        )
        self._many(
            f"UPDATE tasks SET status = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}", [(status, at, pk) for status, pk in writes.tasks]
        )
        self._insert_events(writes.events)
        return writes.written

    @writes
    def add_notes_unless_changed(
        self, plan: str, entries: Sequence[tuple[NoteInput, str]], *, at: str
    ) -> tuple[list[tuple[Note, Status]], list[int]]:
        """Write, in one transaction, each note whose assignment (of its entry's unit) still has
        the `Assignment.version` given beside it; leave out the others. Returns the notes written
        (as `add_notes` does) and the indexes of the entries left out."""
        ids = sorted({entry.task_id for entry, _ in entries})
        pks: dict[int, int] = dict(self._all(
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

    def _assignment_states(self, pks: Sequence[int]) -> dict[int, dict[str, common.State]]:
        states: dict[int, dict[str, common.State]] = {pk: {} for pk in pks}
        rows = self._all(
            f"""SELECT task, unit, pk, status FROM assignments WHERE task {self.sql.among}
               ORDER BY task, position""",
            (self.sql.list_value(pks),),
        )
        for task_pk, unit, pk, status in rows:
            states[task_pk][unit] = [pk, status]
        return states

    def _keyed_notes(self, plan: str, entries: Sequence[NoteInput], statuses: dict[str, str]) -> dict[str, Note]:
        """The notes earlier calls stored under the keys of `entries`, as first written.

        A key names one intended note: the same key with other content is a conflict,
        and a key whose note was undone is used up (undo was a decision a retry must
        not reverse). `statuses`: by key, the status the note's entry would change now.
        """
        keys = [entry.key for entry in entries if entry.key is not None]
        if not keys:
            return {}
        rows = self._all(
            f"""SELECT e.key, e.id, e.plan, e.task, e.at, e."by", e.action, e.before, e.after,
                      (SELECT u.id FROM events u WHERE u.undoes = e.id)
               FROM events e WHERE e.key {self.sql.among}""",
            (self.sql.list_value(keys),),
        )
        found = {}
        for key, event_id, event_plan, task_id, at, by, action, before, after, undone_by in rows:
            (entry,) = [entry for entry in entries if entry.key == key]
            found[key] = common.keyed_note(
                key=key, event_id=event_id, event_plan=event_plan, task_id=task_id, at=self.sql.stamp(at), by=by,
                action=action, before=self.sql.json(before), after=self.sql.json(after), undone_by=undone_by,
                plan=plan, entry=entry, current=statuses[key],
            )
        return found

    # -- imports ----------------------------------------------------------------------

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
        self._run(
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
            row[0] for row in self._all(
                f"SELECT name FROM units WHERE name {self.sql.among}", (self.sql.list_value(sorted(names)),)
            )
        })
        unit_ids = self._ensure_units(names)
        # The write lock is held, so new tasks' keys are known in advance and a
        # 10,000-row table goes in with a few statements, not a statement per row.
        writes = common.plan_import(tasks, existing, self._next_id("tasks", "pk"))
        self._many(
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
        row = self._one(f"SELECT year, source, imported_at FROM plans WHERE name = {self.sql.p}", (name,))
        return None if row is None else common.PlanRow(year=row[0], source=row[1], imported_at=self.sql.stamp(row[2]))

    def _snapshots(self, plan: str) -> dict[int, tuple[int, TaskFields]]:
        """Every task of a plan as (pk, the fields an import writes, in its event's terms)."""
        rows = self._all(f"SELECT pk, id, group_name, content, deadline, start, due FROM tasks WHERE plan = {self.sql.p}", (plan,))
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
        self._many(
            f"""UPDATE tasks SET group_name = {self.sql.p}, content = {self.sql.p}, deadline = {self.sql.p},
                      start = {self.sql.p}, due = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}""",
            [(*common.task_columns(fields), at, pk) for pk, fields in changes],
        )
        self._run(f"DELETE FROM task_units WHERE task {self.sql.among}",
                  (self.sql.list_value(pk for pk, _ in changes),))
        self._insert_units(changes, unit_ids)

    def _sync_assignments(
        self, planned: dict[int, list[common.PlannedAssignment]], at: str, *, new: Container[int] = frozenset()
    ) -> dict[int, list[common.PlannedAssignment]]:
        """Make each task's assignments follow its planned list (common.plan_sync); returns, for
        the existing tasks whose list changed, the list planned before."""
        current: dict[int, list[list[Any]]] = {}  # task pk: its rows, less the task column
        rows = self._all(
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
        self._many(
            f"UPDATE assignments SET via = {self.sql.p}, lead = {self.sql.p}, vague = {self.sql.p}, position = {self.sql.p}, manual = false WHERE pk = {self.sql.p}",
            writes.updates,
        )
        # A unit kept because it worked on the task stays, like one the office added, until unassigned.
        self._many(f"UPDATE assignments SET position = {self.sql.p}, manual = true WHERE pk = {self.sql.p}", writes.moved)
        self._many(
            f"""INSERT INTO assignments (task, unit, via, lead, vague, position, status, updated_at)
               VALUES ({self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p}, 'todo', {self.sql.p})""",
            writes.inserts,
        )
        self._rederive(writes.rederive)
        return writes.old_plans

    def _rederive(self, pks: Sequence[int]) -> None:
        """Set each task's status to the one its assignments give (models.derived_status)."""
        if not pks:
            return
        statuses: dict[int, list[Status]] = {}
        for task_pk, status in self._all(
            f"SELECT task, status FROM assignments WHERE task {self.sql.among}", (self.sql.list_value(pks),)
        ):
            statuses.setdefault(task_pk, []).append(Status(status))
        self._many(
            f"UPDATE tasks SET status = {self.sql.p} WHERE pk = {self.sql.p} AND status <> {self.sql.p}",
            [(status, pk, status) for status, pk in common.derived(statuses)],
        )

    def _insert_units(self, tasks: Sequence[tuple[int, TaskFields]], unit_ids: dict[str, int]) -> None:
        self._many(
            f"INSERT INTO task_units (task, unit, position) VALUES ({self.sql.marks(3)})",
            [(pk, unit_ids[unit], position) for pk, fields in tasks for position, unit in enumerate(fields["units"])],
        )

    def _ensure_units(self, names: set[str]) -> dict[str, int]:
        self._many(f"INSERT INTO units (name) VALUES ({self.sql.p}) ON CONFLICT (name) DO NOTHING", [(name,) for name in sorted(names)])
        return dict(self._all("SELECT name, id FROM units"))

    # -- history ----------------------------------------------------------------------

    def events(self, *, plan: str | None = None, task: int | None = None, since: date | None = None) -> list[Event]:
        """History, oldest first. With `task`, also the imports that wrote that task."""
        where: list[str] = []
        params: dict[str, object] = {}
        if plan is not None:
            where.append(f"e.plan = {self.sql('plan')}")
            params["plan"] = plan
        if task is not None:
            where.append(f"(e.task = {self.sql('task')} OR (e.task IS NULL AND {self.sql.import_wrote('task_key')}))")
            params.update(task=task, task_key=str(task))
        if since is not None:
            where.append(f"e.at >= {self.sql('since')}")
            params["since"] = self.sql.start_of(since)
        with self._errors():
            return self._events_where(where, params)

    def event(self, event_id: int) -> Event | None:
        with self._errors():
            found = self._events_where([f"e.id = {self.sql('id')}"], {"id": event_id})
        return found[0] if found else None

    def _events_where(self, where: Sequence[str], params: Mapping[str, object], *, tail: str = "ORDER BY e.id") -> list[Event]:
        rows = self._all(f"SELECT {EVENT_COLUMNS} FROM events e WHERE {' AND '.join(where) or 'true'} {tail}", params)
        return [
            Event(id=event_id, at=self.sql.stamp(at), by=by, action=action, plan=plan, task=task,
                  before=self.sql.json(before), after=self.sql.json(after), undoes=undoes,
                  undone_by=undone_by, undoes_action=undoes_action)
            for event_id, at, by, action, plan, task, before, after, undoes, undone_by, undoes_action in rows
        ]

    def last_undoable(self, plan: str | None = None) -> Event | None:
        """The newest change that no undo has reverted yet (undos themselves are not undone),
        of one plan or of the whole ledger."""
        with self._errors():
            return self._newest_undoable(plan)

    def _newest_undoable(
        self, plan: str | None, where: Sequence[str] = (), params: Mapping[str, object] | None = None
    ) -> Event | None:
        conditions, values = [*UNDOABLE, *where], dict(params or {})
        if plan is not None:
            conditions.append(f"e.plan = {self.sql('plan')}")
            values["plan"] = plan
        found = self._events_where(conditions, values, tail="ORDER BY e.id DESC LIMIT 1")
        return found[0] if found else None

    def _record(
        self, *, at: str, by: str, action: str, plan: str, task: int | None = None,
        before: Mapping[str, object] | None = None, after: Mapping[str, object] | None = None,
        undoes: int | None = None,
    ) -> int:
        """Append one event; always called inside the transaction that made the change."""
        (event_id,) = self._append_events(
            [(at, by, action, plan, task, common.dump(before), common.dump(after), None)], undoes=undoes
        )
        return event_id

    def _insert_events(self, rows: Sequence[common.EventRow]) -> None:
        self._append_events(rows)

    def _append_events(self, rows: Sequence[common.EventRow], *, undoes: int | None = None) -> list[int]:
        """Append events, in order, with the ids they would get one by one; their ids."""
        if not rows:
            return []
        first = self._next_id("events")
        ids = list(range(first, first + len(rows)))
        self._many(
            f"""INSERT INTO events (id, at, "by", action, plan, task, before, after, key, undoes)
                VALUES ({self.sql.marks(10)})""",
            [(event_id, *row, undoes) for event_id, row in zip(ids, rows, strict=True)],
        )
        return ids

    def _events_since(self, last_before: int) -> Commit | None:
        """What the events after `last_before` committed, for `commits`."""
        note = f"CASE WHEN action IN ('note', 'status') THEN {self.sql.json_int('after', 'note')} END"
        row = self._one(
            f"SELECT min(id), max(id), count(*), min({note}), max({note}) FROM events WHERE id > {self.sql.p}",
            (last_before,),
        )
        assert row is not None
        first, last, count, first_note, last_note = row
        return Commit(first, last, count, first_note, last_note) if count else None

    def adopt_history(self) -> None:
        """Count every event in the ledger as committed by this process: it created the ledger
        (in another connection beside a file, or in the transaction that made a server's schema)."""
        with self._errors():
            written = self._events_since(0)
        if written is not None:
            self.commits.append(written)

    # -- undo ---------------------------------------------------------------------------

    @writes
    def undo(self, event_id: int, *, at: str, by: str, plan: str | None = None) -> Event:
        """Revert event `event_id`, which must still be the newest undoable change (of `plan`).

        The revert and its own undo event are one transaction. Because changes are
        undone newest first, the ledger holds exactly what the event wrote; a
        mismatch means the database was edited behind gongkai's back. A change only
        ever touches its own plan's tasks, so the newest of one plan can be undone
        while other plans have newer changes.
        """
        return self._undo_newest(event_id, self._newest_undoable(plan), at=at, by=by)

    def _undo_newest(self, event_id: int, found: Event | None, *, at: str, by: str) -> Event:
        if found is None or found.id != event_id:
            raise NotNewest(event_id)
        self._revert(found, at=at, by=by)
        undo_id = self._record(
            at=at, by=by, action="undo", plan=found.plan, task=found.task,
            before=found.after, after=found.before, undoes=found.id,
        )
        (event,) = self._events_where([f"e.id = {self.sql('id')}"], {"id": undo_id})
        return event


    def _revert(self, event: Event, *, at: str, by: str) -> None:
        """Take back what `event` changed: the ledger holds exactly what it wrote, since undo
        goes newest first; anything else is common.out_of_step."""
        {
            "note": self._revert_note, "status": self._revert_note, "import": self._revert_import,
            "assign": self._revert_assign, "unassign": self._revert_unassign,
        }[event.action](event, at=at, by=by)

    def _revert_note(self, event: Event, *, at: str, by: str) -> None:
        """Retract the note (notes are append-only: hidden, never deleted) and restore the status
        it changed: its unit's, every unit's (--all), or the task's (common.note_restore decides)."""
        payload = event.payload
        # _revert sends only note and status events here, which decode to these two.
        assert isinstance(payload, NotePayload | StatusPayload)
        row = self._one(
            f"""SELECT n.task, n.retracted_at, t.status, n.assignment FROM notes n JOIN tasks t ON t.pk = n.task
               WHERE n.id = {self.sql.p}""",
            (payload.note,),
        )
        if row is None or row[1] is not None:
            raise common.out_of_step(event)
        task_pk, _, task_status, assignment = row
        units = self._assignment_states([task_pk])[task_pk]
        restore = common.note_restore(event, units, task_status)
        if isinstance(payload, StatusPayload):
            self._many(
                f"UPDATE assignments SET status = {self.sql.p}, updated_at = {self.sql.p} WHERE pk = {self.sql.p}",
                [(status, at, units[unit][0]) for unit, status in restore.items()],
            )
            if not restore:
                self._run(f"UPDATE tasks SET status = {self.sql.p} WHERE pk = {self.sql.p}", (payload.before.value, task_pk))
        elif assignment is not None:
            self._run(f"UPDATE assignments SET updated_at = {self.sql.p} WHERE pk = {self.sql.p}", (at, assignment))
        self._run(f"UPDATE notes SET retracted_at = {self.sql.p}, retracted_by = {self.sql.p} WHERE id = {self.sql.p}", (at, by, payload.note))
        self._touch(task_pk, at)

    def _revert_import(self, event: Event, *, at: str, by: str) -> None:
        """Put back replaced task texts and the plan row; remove the tasks and units the import added."""
        before, after = common.import_payload(event)
        current = self._snapshots(event.plan)
        old_plans = common.check_import_undo(event, current)
        if old_plans:
            common.check_planned_lists(event, current, self._planned_lists(list(old_plans)))
        replaced = before["tasks"]
        added = self.sql.list_value(current[int(key)][0] for key, old in replaced.items() if old is None)
        noted = [
            task_id for (task_id,) in self._all(
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
            self._run(f"DELETE FROM {table} WHERE {column} {self.sql.among}", (added,))
        unit_ids = self._ensure_units({unit for old in replaced.values() if old for unit in old["units"]})
        self._rewrite_tasks(
            [(current[int(key)][0], old) for key, old in replaced.items() if old is not None], unit_ids, at
        )
        self._sync_assignments(old_plans, at)
        # Imports recorded before units were tracked have no list: their units stay.
        self._run(
            f"""DELETE FROM units WHERE name {self.sql.among}
               AND NOT EXISTS (SELECT 1 FROM task_units tu WHERE tu.unit = units.id)""",
            (self.sql.list_value(after.get("units", [])),),
        )
        if before["plan"] is None:
            self._run(f"DELETE FROM plans WHERE name = {self.sql.p}", (event.plan,))
        else:
            self._run(
                f"UPDATE plans SET year = {self.sql('year')}, source = {self.sql('source')}, imported_at = {self.sql('imported_at')} WHERE name = {self.sql('name')}",
                {**before["plan"], "name": event.plan},
            )

    def _planned_lists(self, pks: Sequence[int]) -> dict[int, list[common.PlannedAssignment]]:
        found: dict[int, list[common.PlannedAssignment]] = {}
        rows = self._all(
            f"""SELECT task, pk, unit, via, lead, vague FROM assignments
               WHERE task {self.sql.among} AND NOT manual ORDER BY task, position""",
            (self.sql.list_value(pks),),
        )
        for task_pk, *row in rows:
            found.setdefault(task_pk, []).append(common.planned_row(row))
        return found

    def _revert_assign(self, event: Event, *, at: str, by: str) -> None:
        """Take back the assignments `assign` added: still untouched, since undo goes newest first."""
        task_pk = self._task_pk(event)
        units = [row["unit"] for row in common.assignment_rows(event, event.after)]
        found = self._all(
            f"SELECT pk FROM assignments WHERE task = {self.sql.p} AND unit {self.sql.among}",
            (task_pk, self.sql.list_value(units)),
        )
        if len(found) != len(units):
            raise common.out_of_step(event)
        self._drop_assignments([pk for (pk,) in found])
        self._touch(task_pk, at)

    def _revert_unassign(self, event: Event, *, at: str, by: str) -> None:
        """Put back the assignments `unassign` removed, as they were."""
        task_pk = self._task_pk(event)
        self._insert_assignment_rows(task_pk, common.assignment_rows(event, event.before))
        self._touch(task_pk, at)

    def _touch(self, task_pk: int, at: str) -> None:
        """The task's status derived again from its assignments, and changed at `at`."""
        self._rederive([task_pk])
        self._run(f"UPDATE tasks SET updated_at = {self.sql.p} WHERE pk = {self.sql.p}", (at, task_pk))

    def _task_pk(self, event: Event) -> int:
        row = self._one(f"SELECT pk FROM tasks WHERE plan = {self.sql.p} AND id = {self.sql.p}", (event.plan, event.task))
        if row is None:
            raise common.out_of_step(event)
        pk: int = row[0]
        return pk

    def _drop_assignments(self, pks: Sequence[int]) -> None:
        # Only notes undo retracted can be left on them; their events keep every word.
        self._run(f"DELETE FROM notes WHERE assignment {self.sql.among}", (self.sql.list_value(pks),))
        self._run(f"DELETE FROM assignments WHERE pk {self.sql.among}", (self.sql.list_value(pks),))

    def _insert_assignment_rows(self, task_pk: int, rows: Sequence[common.AssignmentRow]) -> None:
        # Events keep 0/1 flags; the driver stores a bool as the column's own flag.
        self._many(
            f"""INSERT INTO assignments (task, unit, via, lead, vague, manual, position, status, updated_at)
               VALUES ({self.sql.marks(9)})""",
            [(task_pk, row["unit"], row["via"], bool(row["lead"]), bool(row["vague"]), bool(row["manual"]),
              row["position"], row["status"], row["updated_at"]) for row in rows],
        )

    # -- assignments ------------------------------------------------------------------

    @writes
    def expand_assignments(self, entries: Sequence[tuple[str, int, tuple[AssignmentInput, ...]]], *, at: str) -> None:
        """Give tasks from before assignments theirs, each with the task's status and time: the
        status one unit set then stands for all. Not a change anyone made, so no event."""
        self._many(
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
        row = self._one(f"SELECT pk, status FROM tasks WHERE plan = {self.sql.p} AND id = {self.sql.p}", (plan, task_id))
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
        row = self._one(f"SELECT coalesce(max(position), -1) + 1 FROM assignments WHERE task = {self.sql.p}", (task_pk,))
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
            unit for (unit,) in self._all(
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
            for unit, via, lead, vague, manual, position, status, updated_at in self._all(
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
        row = self._one(f"SELECT status FROM tasks WHERE pk = {self.sql.p}", (task_pk,))
        assert row is not None
        event_id = self._record(
            at=at, by=by, action=action, plan=plan, task=task_id,
            before={"status": before} | ({"assignments": before_rows} if before_rows else {}),
            after={"status": row[0]} | ({"assignments": after_rows} if after_rows else {}),
        )
        (event,) = self._events_where([f"e.id = {self.sql('id')}"], {"id": event_id})
        return event


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


@functools.cache
def task_columns(sql: Dialect) -> str:
    """A task's columns as `_tasks_from_rows` reads them."""
    return f"""
    t.pk, t.plan, t.id, t.group_name, t.content, t.deadline, t.start, t.due,
    t.status, t.updated_at, {overdue(sql)}, {_PROGRESS}, {_UNITS_DONE}, {_UNITS_TOTAL}
"""


@functools.cache
def assignment_columns(sql: Dialect) -> str:
    """One unit's assignment beside its task's columns (a listing filtered by one unit)."""
    return f"a.unit, a.via, a.lead, a.status, {a_overdue(sql)}, a.updated_at, a.vague, {_A_PROGRESS}"


EVENT_COLUMNS = """
    e.id, e.at, e."by", e.action, e.plan, e.task, e.before, e.after, e.undoes,
    (SELECT u.id FROM events u WHERE u.undoes = e.id),
    (SELECT o.action FROM events o WHERE o.id = e.undoes)
"""
UNDOABLE = ["e.action <> 'undo'", "NOT EXISTS (SELECT 1 FROM events u WHERE u.undoes = e.id)"]
