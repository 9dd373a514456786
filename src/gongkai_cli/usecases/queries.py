"""Reading the ledger: listings, reminders, summaries, one task, units, reports, exports."""


from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, NamedTuple

from ..domain import dates
from ..domain.errors import UsageError
from ..domain.records import Assignment, Note, Plan, Task
from ..domain.statuses import Status
from ..domain.units import Unit, unit_name, unknown_unit
from ..store import TaskQuery
from .session import Session, no_task

if TYPE_CHECKING:
    from ..domain.figures import Summary, Tally


class UnitSummary(NamedTuple):
    """One row of `gongkai units`: a unit and its assignments in the current plan (UnitCounts)."""

    name: str
    kind: str
    aliases: tuple[str, ...]
    members: tuple[str, ...]
    tasks: int
    led: int
    done: int
    overdue: int


class _UnitMatch(NamedTuple):
    """What `--unit X` looks for: X under any spelling, and the groups X belongs to."""

    direct: frozenset[str]
    groups: tuple[str, ...]
    name: str  # X's own name
    collective: bool  # X has members (各街镇): its tasks are its members', it has none of its own


class Reminder(NamedTuple):
    """What one reader should hear about: overdue tasks, then tasks due soon."""

    unit: str | None
    overdue: tuple[Task, ...]
    due_soon: tuple[Task, ...]
    # Tasks given only to a group without members (各相关部门): the office must name the units.
    vague: bool = False


class ReminderReport(NamedTuple):
    plan: str
    today: date
    until: date
    sections: tuple[Reminder, ...]  # one per unit with --by-unit, else exactly one

    @property
    def empty(self) -> bool:
        return not any(section.overdue or section.due_soon for section in self.sections)


class PlanTasks(NamedTuple):
    """A whole plan as an export sees it: the plan and all its tasks by id, with notes."""

    plan: Plan
    tasks: list[Task]
    # `export --unit`: the units whose rows of the 各单位进展 sheet it holds, and their name as typed.
    units: tuple[str, ...] | None = None
    unit: str | None = None

    @property
    def assignment_rows(self) -> list[tuple[Task, Assignment]]:
        """The 各单位进展 sheet's rows: every task's assignments (of `units`), by task and position."""
        wanted = None if self.units is None else set(self.units)
        return [(task, assignment) for task in self.tasks for assignment in task.assignments
                if wanted is None or assignment.unit in wanted]


class PlanBatches(NamedTuple):
    """A whole plan as an export writes it: its tasks by id (with notes and assignments), a batch at
    a time as the store reads them; with `units`, only the tasks those units have a part in."""

    plan: Plan
    batches: Iterable[list[Task]]
    units: tuple[str, ...] | None = None
    unit: str | None = None


class ProgressReport(NamedTuple):
    """What a unit (or the whole office) reports upward for a period."""

    plan: Plan
    today: date
    unit: str | None
    since: date | None
    tasks: tuple[Task, ...]  # with notes, and `via` when matched through a group
    period_notes: tuple[tuple[Task, Note], ...]  # notes written from `since` to `until`, oldest first
    # The whole-plan report's per-unit completion (as `summary --by unit` counts it), worst first.
    per_unit: "tuple[Tally, ...]" = ()
    until: date | None = None  # the period's last day; None: up to today
    # The whole-plan report's collectives (各街镇…): each with the tasks given to it, assignments read.
    collectives: "tuple[tuple[str, tuple[Task, ...]], ...]" = ()

    @property
    def period_end(self) -> date:
        """The last day the period's records can be from: `until`, but never after today."""
        return min(self.until, self.today) if self.until else self.today

    @property
    def overdue(self) -> tuple[Task, ...]:
        return tuple(task for task in self.tasks if task.overdue)


def list_tasks(
    ledger: Session,
    *,
    units: tuple[str, ...] = (),
    statuses: tuple[Status, ...] = (),
    group: str | None = None,
    search: str | None = None,
    overdue: bool = False,
    direct: bool = False,
    lead: bool = False,
    key: bool = False,
) -> list[Task]:
    """Tasks by id (with `key`, only the 重点任务). A unit also matches tasks given to a group it belongs to (marked `via`);
    one unit's listing shows, and filters on, that unit's own status."""
    matches = _unit_matches(ledger, units, direct=direct or lead)
    query = _unit_query(matches, lead=lead, direct=direct)._replace(
        statuses=statuses, group=group or None, search=search or None, overdue_only=overdue, key_only=key,
    )
    return _mark_via(ledger.store.tasks.tasks(ledger.plan().name, query, today=ledger.today), matches)


def _unit_query(matches: list[_UnitMatch], *, lead: bool, direct: bool) -> TaskQuery:
    """The part of a listing's query that `--unit`, `--lead` and `--direct` ask for."""
    return TaskQuery(units=_names(matches), lead_only=lead, direct_only=direct, own_unit=_own_unit(matches))


def due(
    ledger: Session,
    *,
    before: str | None = None,
    after: str | None = None,
    within: str | None = None,
    overdue: bool = False,
    units: tuple[str, ...] = (),
    include_closed: bool = False,
    direct: bool = False,
    lead: bool = False,
) -> list[Task]:
    """Tasks with a due date, soonest first; `before`/`after` are inclusive."""
    plan = ledger.plan()
    due_before = ledger.parse_date(before, plan) if before is not None else None
    due_after = ledger.parse_date(after, plan) if after is not None else None
    if within is not None:
        horizon = dates.parse_within(within, today=ledger.today, year=plan.year)
        due_before = min(horizon, due_before) if due_before else horizon
        due_after = max(ledger.today, due_after) if due_after else ledger.today
    if due_before and due_after and due_after > due_before:
        raise UsageError(
            f"日期范围为空：起始日期 {due_after.isoformat()} 晚于截止日期 {due_before.isoformat()}。"
        )
    matches = _unit_matches(ledger, units, direct=direct or lead)
    query = _unit_query(matches, lead=lead, direct=direct)._replace(
        due_before=due_before, due_after=due_after, with_due_only=True, overdue_only=overdue,
        open_only=not include_closed, order_by_due=True,
    )
    return _mark_via(ledger.store.tasks.tasks(plan.name, query, today=ledger.today), matches)


def remind(
    ledger: Session, *, within: str = "7d", units: tuple[str, ...] = (), by_unit: bool = False
) -> ReminderReport:
    """Open work that is overdue or due by `within`: one unit's until that unit itself is done,
    optionally one section per responsible unit from its own open assignments."""
    plan = ledger.plan()
    until = dates.parse_within(within, today=ledger.today, year=plan.year)
    matches = _unit_matches(ledger, units, direct=False)
    if not by_unit:
        query = TaskQuery(
            units=_names(matches), own_unit=_own_unit(matches), due_before=until, with_due_only=True,
            open_only=True, order_by_due=True,
        )
        tasks = _mark_via(ledger.store.tasks.tasks(plan.name, query, today=ledger.today), matches)
        sections: tuple[Reminder, ...] = (_reminder(None, tasks),)
    else:
        # A collective stands for its members: --unit 各街镇 gives each town its own section.
        wanted = [member for match in matches for member in ledger.directory.responsible(match.name)]
        rows = ledger.store.tasks.open_assignments(plan.name, units=wanted, due_before=until, today=ledger.today)
        sections = _sections_per_unit(ledger, rows)
    return ReminderReport(plan=plan.name, today=ledger.today, until=until, sections=sections)


def _sections_per_unit(ledger: Session, rows: list[Task]) -> tuple[Reminder, ...]:
    """One section per unit from its own open assignments, in the unit file's order; tasks
    given only to vague groups are listed once, in a last section for the office."""
    per_unit: dict[str, list[Task]] = {}
    vague: dict[int, Task] = {}
    for task in rows:
        # open_assignments gives each task with the one assignment its row is for.
        assert task.assignment is not None
        if task.assignment.vague:
            vague.setdefault(task.id, task)
        else:
            per_unit.setdefault(task.assignment.unit, []).append(task)
    order = {unit.name: index for index, unit in enumerate(ledger.directory)}
    sections = [_reminder(unit, tasks) for unit, tasks in
                sorted(per_unit.items(), key=lambda item: order.get(item[0], len(order)))]
    if vague:
        sections.append(_reminder(None, list(vague.values()))._replace(vague=True))
    return tuple(sections)


def summary(ledger: Session, *, by: str | None = None) -> "Summary":
    """The plan at a glance, optionally broken down by unit, task group or due month."""
    from ..domain.figures import BREAKDOWNS, summarize

    if by is not None and by not in BREAKDOWNS:
        raise UsageError(f"无效的分组方式“{by}”，可选：unit（单位）、group（任务名称）、month（截止月份）。")
    plan = ledger.plan()
    tasks = ledger.store.tasks.tasks(plan.name, TaskQuery(), today=ledger.today)
    # A listing's task knows only the sum of its counts; the few that could have reached their
    # target are read whole, so that a target counts per unit (Task.target_reached). In one
    # call: task by task, a server's round trips added up to most of the time on a city plan.
    ids = [task.id for task in tasks if task.target_reached and not task.status.closed]
    if ids:
        whole = {task.id: task for task in ledger.store.tasks.tasks_with_notes(plan.name, today=ledger.today, ids=ids)}
        tasks = [whole.get(task.id, task) for task in tasks]
    counts = ledger.store.tasks.unit_counts(plan.name, today=ledger.today) if by == "unit" else None
    return summarize(plan.name, tasks, ledger.today, by=by, unit_counts=counts)


def show(ledger: Session, task_id: int) -> Task:
    plan = ledger.plan()
    task = ledger.store.tasks.task(plan.name, task_id, today=ledger.today)
    if task is None:
        raise no_task(plan.name, task_id)
    return task


def export_tasks(ledger: Session, *, unit: str | None = None) -> PlanTasks:
    """The plan for an export, whole; with `unit` (an alias, or a collective for its members), only
    the tasks that unit has an assignment of, and only its rows of the 各单位进展 sheet."""
    export = export_batches(ledger, unit=unit)
    return PlanTasks(export.plan, [task for batch in export.batches for task in batch], export.units, export.unit)


def export_batches(ledger: Session, *, unit: str | None = None) -> PlanBatches:
    """What `export_tasks` gives, a batch of tasks at a time (a plan of 20,000 tasks with their
    notes and assignments is most of a gigabyte when held whole)."""
    plan = ledger.plan()
    batches = ledger.store.tasks.task_batches(plan.name, today=ledger.today)
    if unit is None:
        return PlanBatches(plan, batches)
    (match,) = _unit_matches(ledger, (unit,), direct=True)
    wanted = ledger.directory.responsible(match.name)
    mine = set(wanted) | set(match.direct)
    theirs = ([task for task in batch if any(assignment.unit in mine for assignment in task.assignments)]
              for batch in batches)
    return PlanBatches(plan, theirs, units=tuple(mine), unit=unit_name(unit))


def report(
    ledger: Session, *, unit: str | None = None, since: str | None = None, until: str | None = None
) -> ProgressReport:
    """A unit's tasks (as `list --unit` finds them) with their notes, and the notes of the period
    (dates.parse_period)."""
    plan = ledger.plan()
    start, end = dates.parse_period(since, until, today=ledger.today, year=plan.year)
    # A report shows no task's assignments (a unit's own comes from its listing below), and one
    # unit's report reads only its own tasks: on a city plan the rest took longer to read than
    # the 100 ms a read command may spend in the store.
    if unit is None:
        tasks = ledger.store.tasks.tasks_with_notes(plan.name, today=ledger.today, with_assignments=False)
        name = None
    else:
        mine = list_tasks(ledger, units=(unit,))
        name = ledger.directory.canonical(unit_name(unit))
        noted = ledger.store.tasks.tasks_with_notes(
            plan.name, today=ledger.today, ids=[task.id for task in mine], with_assignments=False
        )
        everything = {task.id: task for task in noted}
        tasks = [_as_reported(everything[task.id], task) for task in mine]
    zone = dates.tz()

    def in_period(note: Note) -> bool:
        day = datetime.fromisoformat(note.at).astimezone(zone).date()
        return (start is None or day >= start) and (end is None or day <= end)

    period = tuple((task, note) for task in tasks for note in task.notes if in_period(note))
    per_unit: tuple[Tally, ...] = ()
    collectives: tuple[tuple[str, tuple[Task, ...]], ...] = ()
    if unit is None:
        from ..domain.figures import unit_rows

        per_unit = unit_rows(ledger.store.tasks.unit_counts(plan.name, today=ledger.today))
        collectives = _collective_tasks(ledger, plan.name, tasks)
    return ProgressReport(
        plan=plan, today=ledger.today, unit=name, since=start, until=end, tasks=tuple(tasks),
        period_notes=tuple(sorted(period, key=lambda pair: (datetime.fromisoformat(pair[1].at), pair[1].id))),
        per_unit=per_unit, collectives=collectives,
    )


def _collective_tasks(ledger: Session, plan: str, tasks: list[Task]) -> tuple[tuple[str, tuple[Task, ...]], ...]:
    """Each collective with members that the plan's tasks name (各街镇…), with those tasks and
    their assignments: only these tasks' assignments are read, the rest of the report needs none."""
    directory = ledger.directory
    named: dict[str, list[int]] = {}
    for task in tasks:
        for name in task.units:
            found = directory.get(name)
            if found is not None and found.collective and found.members:
                named.setdefault(found.name, []).append(task.id)
    if not named:
        return ()
    ids = sorted({task_id for task_ids in named.values() for task_id in task_ids})
    read = {task.id: task for task in ledger.store.tasks.tasks_with_notes(plan, today=ledger.today, ids=ids)}
    return tuple((name, tuple(read[task_id] for task_id in task_ids if task_id in read))
                 for name, task_ids in named.items())


def _unit_matches(ledger: Session, units: tuple[str, ...], *, direct: bool) -> list[_UnitMatch]:
    """Resolve --unit values; a unit nobody has heard of is an error, never an empty list."""
    if not units:
        return []
    directory = ledger.directory
    stored = ledger.store.tasks.unit_names()
    matches = []
    for typed in units:
        cleaned = unit_name(typed)
        unknown = unknown_unit(directory, cleaned, stored)
        if unknown is not None:
            from .assignments import unknown_hint

            raise UsageError(f"未知的责任单位“{typed}”。{unknown_hint(unknown)}")
        name = directory.canonical(cleaned)
        # Aliases too: a task imported before an alias was added still names the old spelling.
        spellings = frozenset({name, cleaned, *directory.aliases_of(name)})
        matches.append(_UnitMatch(spellings, () if direct else directory.groups_of(name), name,
                                  directory.collective(name)))
    return matches


def _own_unit(matches: list[_UnitMatch]) -> str | None:
    """The unit whose own assignments a listing shows: exactly one, and not a collective."""
    if len(matches) == 1 and not matches[0].collective:
        return matches[0].name
    return None


def _as_reported(task: Task, listed: Task) -> Task:
    """A task in one unit's report: that unit's status, overdue flag, count and notes
    (its own and the task-level ones), as its listing found them."""
    own = listed.assignment
    if own is None:
        return task._replace(via=listed.via)
    notes = tuple(note for note in task.notes if note.unit in (None, own.unit))
    return task._replace(via=listed.via, status=own.status, overdue=own.overdue, progress=own.progress,
                         notes=notes, assignment=own)


def unit_spellings(ledger: Session) -> list[str]:
    """Every unit name and alias the ledger knows, for shell completion."""
    return list(dict.fromkeys([*ledger.directory.spellings(), *ledger.store.tasks.unit_names()]))


def units(ledger: Session) -> list[UnitSummary]:
    """Every known unit with its direct tasks in the current plan; unit-file order first."""
    plan = ledger.plan()
    stats = ledger.store.tasks.unit_counts(plan.name, today=ledger.today)
    listed: list[Unit] = list(ledger.directory)
    named = {unit.name for unit in listed}
    listed += [Unit(name, "other") for name in ledger.store.tasks.unit_names() if name not in named]
    order = {kind: index for index, kind in enumerate(("department", "town", "group", "other"))}
    listed.sort(key=lambda unit: order.get(unit.kind, len(order)))
    rows = []
    for unit in listed:
        found = [stats[s] for s in (unit.name, *unit.aliases) if s in stats]
        assigned, led, done, overdue = (sum(getattr(c, key) for c in found) for key in ("assigned", "led", "done", "overdue"))
        rows.append(UnitSummary(unit.name, unit.kind, unit.aliases, unit.members, assigned, led, done, overdue))
    return rows


def _reminder(unit: str | None, tasks: list[Task]) -> Reminder:
    return Reminder(
        unit=unit,
        overdue=tuple(task for task in tasks if task.own.overdue),
        due_soon=tuple(task for task in tasks if not task.own.overdue),
    )


def _names(matches: list[_UnitMatch]) -> tuple[str, ...]:
    names: list[str] = []
    for match in matches:
        names += [*sorted(match.direct), *match.groups]
    return tuple(dict.fromkeys(names))


def _mark_via(tasks: list[Task], matches: list[_UnitMatch]) -> list[Task]:
    """Say which group brought a task in, unless some --unit is named on it directly."""
    if not matches or _own_unit(matches):
        return tasks  # one unit's own rows say it themselves
    marked = []
    for task in tasks:
        named = set(task.units)
        if any(match.direct & named for match in matches):
            marked.append(task)
            continue
        via = next((g for match in matches for g in match.groups if g in named), None)
        marked.append(task._replace(via=via))
    return marked
