"""What both backends of `Storage` decide alike, without SQL.

A write reads what it needs in its backend's SQL, asks this module what to change (which
assignment a note goes on and what it does to statuses, what an import adds and
replaces, how a task's assignments follow the plan, what an undo puts back), then writes
that in its own SQL again. The event payloads these decisions record are shaped here
too, so a ledger's history reads the same whichever backend wrote it, and a copy from
one to the other can be undone in the other.
"""


import enum
import json
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, TypedDict, cast

from ..domain.errors import StoreError
from ..domain.records import Event, JsonObject, Note, NotePayload, StatusPayload, decode_payload
from ..domain.statuses import Status, derived_status, set_by_all
from . import (
    AssignmentInput,
    ImportCounts,
    KeyUndone,
    KeyUsed,
    NotAssigned,
    NoteInput,
    TaskFields,
    TaskInput,
    UnitRequired,
    UnitsChangedSince,
)

# -- payload shapes -----------------------------------------------------------


class PlanRow(TypedDict):
    """A plan's row as an import event stores it (before: the replaced row, after: the new one)."""

    year: int
    source: str
    imported_at: str


class PlannedAssignment(TypedDict):
    """An assignment as the plan table gives it, as import events store it per task id."""

    unit: str
    via: str | None
    lead: bool
    vague: bool


class AssignmentRow(TypedDict):
    """An assignments row as assign and unassign events store it, to be put back as it was."""

    unit: str
    via: str | None
    lead: int
    vague: int
    manual: int
    position: int
    status: str
    updated_at: str


class _ImportAssignments(TypedDict, total=False):
    # Absent from imports recorded before assignments; only tasks whose planned list changed.
    assignments: dict[str, list[PlannedAssignment]]


class ImportBefore(_ImportAssignments):
    plan: PlanRow | None  # None: the import created the plan
    tasks: dict[str, TaskFields | None]  # None: the import added the task


class ImportAfter(_ImportAssignments, total=False):
    plan: PlanRow
    tasks: dict[str, TaskFields]
    units: list[str]  # absent from imports recorded before units were tracked


ASSIGNMENT_ROW_COLUMNS = ("unit", "via", "lead", "vague", "manual", "position", "status", "updated_at")


def import_payload(event: Event) -> tuple[ImportBefore, ImportAfter]:
    """The stored JSON of an import event, in the shape `import_plan` recorded it."""
    if event.before is None or event.after is None:
        raise out_of_step(event)
    return cast(ImportBefore, event.before), cast(ImportAfter, event.after)


def assignment_rows(event: Event, stored: JsonObject | None) -> list[AssignmentRow]:
    """The rows an assign event stored after, or an unassign event before, as it recorded them."""
    if stored is None:
        raise out_of_step(event)
    return cast(list[AssignmentRow], stored["assignments"])


def out_of_step(event: Event) -> StoreError:
    return StoreError(
        f"历史记录 #{event.id} 与台账当前内容不一致（数据库可能被其他程序改动过），未撤销任何内容；"
        "请先运行 gongkai check。"
    )


class NotedRow(NamedTuple):
    """What the ledger holds of the note a note or status event names, for `check_note_event`."""

    plan: str
    task_id: int
    text: str
    status: str | None
    count: int | None  # type: ignore[assignment]  # shadows tuple.count, as Note.count does
    unit: str | None  # the unit of the assignment it is on; None: the task as a whole


def note_event_differences(event: Event, noted: NotedRow) -> list[str]:
    """What a note or status event says that its note does not hold, named for a message. Only
    the keys the event has are compared: events of older releases carry fewer."""
    payload = event.payload
    assert isinstance(payload, NotePayload | StatusPayload)
    after = event.after or {}
    return [
        what for what, wrong in (
            ("计划或任务", (noted.plan, noted.task_id) != (event.plan, event.task)),
            ("内容", "text" in after and noted.text != payload.text),
            ("次数", "count" in after and noted.count != payload.count),
            ("单位", (payload.unit is not None and noted.unit != payload.unit)
             or (isinstance(payload, StatusPayload) and payload.all_units and noted.unit is not None)),
            ("状态", noted.status != (payload.after.value if isinstance(payload, StatusPayload) else None)),
        ) if wrong
    ]


def check_note_event(event: Event, noted: NotedRow) -> None:
    """Refuse to undo a note or status event that does not say what its note holds: written
    around gongkai (issue 25: a unit's event naming another unit, or all of them, on its own
    note), undoing it would change rows the history never changed."""
    if differs := note_event_differences(event, noted):
        payload = event.payload
        assert isinstance(payload, NotePayload | StatusPayload)
        raise StoreError(
            f"历史记录 #{event.id} 与它所说的进展 #{payload.note} 不符（{'、'.join(differs)}），"
            "可能是绕过 gongkai 写入的，未撤销任何内容；请先运行 gongkai check。"
        )


def planned(assignment: AssignmentInput) -> PlannedAssignment:
    """An assignment as planned from the cell, as import events keep it."""
    return {"unit": assignment.unit, "via": assignment.via, "lead": bool(assignment.lead),
            "vague": bool(assignment.vague)}


def planned_row(row: Sequence[Any]) -> PlannedAssignment:
    """The same from a stored row (pk, unit, via, lead, vague, …)."""
    return {"unit": row[1], "via": row[2], "lead": bool(row[3]), "vague": bool(row[4])}


def task_columns(fields: TaskFields) -> tuple[str, str, str, str | None, str | None]:
    """group_name, content, deadline, start, due, in the tasks table's terms (units go to task_units)."""
    return (fields["group"], fields["content"], fields["deadline"], fields["start"], fields["due"])


def dump(value: Mapping[str, object] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def load(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        loaded: dict[str, Any] = json.loads(text)
        return loaded
    except ValueError:
        raise StoreError("历史记录中有内容不是有效的 JSON（数据库可能已损坏）；请运行 gongkai check 找出位置。") from None


# -- notes --------------------------------------------------------------------


class _All(enum.Enum):
    """A status written on every assignment of a task (`status --all`): ALL, a note's target."""

    UNITS = "all"


ALL = _All.UNITS
# What a note is written on: a unit's name, every unit, or None for the task as a whole.
Target = str | Literal[_All.UNITS] | None
# An assignment's [pk, status] (or a task's): a list, so a change made for one note is what the next one sees.
State = list[Any]


def note_target(entry: NoteInput, mine: Mapping[str, State]) -> Target:
    """What a note is written on, given its task's assignments by unit (in position order)."""
    if entry.unit is not None:
        if entry.unit not in mine:
            raise NotAssigned(entry.task_id, entry.unit, list(mine))
        return entry.unit
    if entry.status is None or not mine:
        # A plain note is the office's remark on the task; a task without units keeps its own status.
        return None
    if entry.all_units:
        return ALL
    if len(mine) == 1:
        return next(iter(mine))
    raise UnitRequired(entry.task_id, list(mine))


def target_status(target: Target, task: State, units: Mapping[int, Mapping[str, State]]) -> str:
    status: str = units[task[0]][target][1] if isinstance(target, str) else task[1]
    return status


def keyed_note(
    *, key: str, event_id: int, event_plan: str, task_id: int, at: str, by: str, action: str,
    before: JsonObject | None, after: JsonObject | None, undone_by: int | None,
    plan: str, entry: NoteInput, current: str,
) -> Note:
    """The note an earlier call stored under `key` (its event's fields given), as first written.

    A key names one intended note: the same key with other content is a conflict (KeyUsed),
    and a key whose note was undone is used up (KeyUndone: undo was a decision a retry must
    not reverse). `current`: the status `entry` would change now.
    """
    payload = decode_payload(action, before=before, after=after)
    if not isinstance(payload, NotePayload | StatusPayload):
        # Only notes carry keys; any other event with one was written behind gongkai's back.
        raise StoreError(
            f"历史记录 #{event_id} 带有键“{key}”，但不是进展记录（数据库可能被其他程序改动过）；"
            "请先运行 gongkai check。"
        )
    status = payload.after.value if isinstance(payload, StatusPayload) else None
    found = Note(id=payload.note, task_id=task_id, at=at, by=by, text=payload.text,
                 status=Status(status) if status else None, count=payload.count,
                 key=key, repeated=True, unit=payload.unit, change=event_id)
    if status is None and entry.status is not None and (event_plan, task_id) == (plan, entry.task_id):
        # A status equal to the one it changes was stored as a plain note (see plan_notes);
        # the retry of that call asks again for the status that is still there.
        status = entry.status.value if current == entry.status.value else None
    stored = (event_plan, task_id, payload.text, status, payload.count, payload.unit)
    asked = (plan, entry.task_id, entry.text, entry.status.value if entry.status else None, entry.count,
             entry.unit)
    if stored != asked:
        raise KeyUsed(key, event_id, payload.note, stored, asked)
    if undone_by is not None:
        raise KeyUndone(key, payload.note, undone_by)
    return found


# (id, task pk, at, by, text, status, count, assignment pk)
NoteRow = tuple[int, int, str, str, str, str | None, int | None, int | None]
# (at, by, action, plan, task id, before, after, key): an event row less its id.
EventRow = tuple[str, str, str, str, int | None, str | None, str | None, str | None]


class NoteWrites(NamedTuple):
    """What a batch of notes writes, worked out from what was read under the write lock."""

    written: list[tuple[Note, Status]]  # per entry: the note and the status it changed before it
    notes: list[NoteRow]
    events: list[EventRow]
    assignments: list[tuple[str, int]]  # (status, pk) of every assignment noted or changed
    tasks: list[tuple[str, int]]  # (status, pk) of every task that got a new note


def key_scope(target: Target) -> str:
    """Whose idempotency key a note's is (issue 25): the unit whose assignment it goes on, or ''
    for a note on the task as a whole or on every unit. Two units may each use a key once;
    the ledgers' unique index on (scope, key) reads the scope off the event's payload, where
    the unit is recorded (`event_key_scope`), and on a server a unit's login cannot write a
    payload naming another unit."""
    return target if isinstance(target, str) else ""


def event_key_scope(after: JsonObject | None) -> str:
    unit = (after or {}).get("unit")
    return unit if isinstance(unit, str) else ""


def plan_notes(
    plan: str, entries: Sequence[NoteInput], *, tasks: dict[int, State], units: dict[int, dict[str, State]],
    targets: Sequence[Target], earlier: Mapping[str, Note], next_id: int, at: str,
) -> NoteWrites:
    """The rows a batch of notes adds and the statuses it sets (see `SQLStore.add_notes`, store/base.py).

    `tasks`: by id, the task's [pk, status]; `units`: by task pk, its assignments' [pk, status]
    by unit; `earlier`: by key, the notes retries find stored. Each note (and each status
    change) is its own event, exactly as if it had been written alone.
    """
    written: list[tuple[Note, Status]] = []
    note_rows: list[NoteRow] = []
    event_rows: list[EventRow] = []
    noted: set[int] = set()
    touched_units: dict[int, State] = {}  # assignment pk: its [pk, status], noted or changed
    for entry, target in zip(entries, targets, strict=True):
        task = tasks[entry.task_id]
        task_pk = task[0]
        if entry.key is not None and entry.key in earlier:
            written.append((earlier[entry.key], Status(target_status(target, task, units))))
            continue
        note_id, next_id = next_id, next_id + 1
        noted.add(entry.task_id)
        before = target_status(target, task, units)
        note_status = entry.status
        status = note_status.value if note_status else None
        # --all changes the assignments not at the status yet (and not cancelled, unless
        # it cancels): the task's derived status says nothing about each of them.
        changed = {
            name: state for name, state in units[task_pk].items()
            if note_status is not None and set_by_all(Status(state[1]), note_status)
        } if target is ALL else {}
        if (status == before and target is not ALL) or (target is ALL and not changed):
            # Like `status 40 doing` on a task already doing: no change, so no status
            # event for log and undo to show as "进行中 → 进行中"; the text stays a note.
            status, note_status = None, None
        unit = target if isinstance(target, str) else None
        assignment: int | None = None
        if unit is not None:
            assignment = units[task_pk][unit][0]
            touched_units[assignment] = units[task_pk][unit]
        note_rows.append((note_id, task_pk, at, entry.by, entry.text, status, entry.count, assignment))
        after: dict[str, object] = {"note": note_id, "text": entry.text}
        if entry.count is not None:
            after["count"] = entry.count
        if unit is not None:
            after["unit"] = unit
        if status is None:
            event_rows.append((at, entry.by, "note", plan, entry.task_id, None, dump(after), entry.key))
        elif target is ALL:
            # Only the units it changed: undo puts back exactly these.
            old = {name: state[1] for name, state in changed.items()}
            for state in changed.values():
                state[1] = status
                touched_units[state[0]] = state
            event_rows.append((at, entry.by, "status", plan, entry.task_id,
                               dump({"status": before, "units": old}),
                               dump(after | {"status": status, "all": True}), entry.key))
        else:
            if unit is not None:
                units[task_pk][unit][1] = status
            else:
                task[1] = status
            event_rows.append((at, entry.by, "status", plan, entry.task_id,
                               dump({"status": before} | ({"unit": unit} if unit else {})),
                               dump(after | {"status": status}), entry.key))
        note = Note(id=note_id, task_id=entry.task_id, at=at, by=entry.by, text=entry.text,
                    status=note_status, count=entry.count, key=entry.key, unit=unit,
                    all_units=target is ALL and note_status is not None)
        written.append((note, Status(before)))
    for task_id in noted:
        pk = tasks[task_id][0]
        if units.get(pk):
            tasks[task_id][1] = derived_status(Status(state[1]) for state in units[pk].values()).value
    touched = {tasks[task_id][0] for task_id in noted}
    return NoteWrites(
        written=written, notes=note_rows, events=event_rows,
        assignments=[(status, pk) for pk, status in touched_units.values()],
        # Only tasks that got a new note: a recognised retry leaves its task untouched.
        tasks=[(status, pk) for pk, status in tasks.values() if pk in touched],
    )


def blocks(event: Event, later: Event) -> bool:
    """Whether `later`, a newer change not undone, keeps `event` from being undone before it.

    A change with no task (an import) touches the whole plan. On one task, a note that set no
    status neither takes back nor is in the way of anything but itself, and two units' statuses
    touch only their own assignments; anything else on the same task (a status --all or on the
    task as a whole, an assignment) must be undone newest first.
    """
    if event.task is None or later.task is None:
        return True
    if event.task != later.task:
        return False
    if event.action == "note" or (event.action == "status" and later.action == "note"):
        return False
    if event.action == "status" and later.action == "status":
        mine, theirs = event.payload, later.payload
        assert isinstance(mine, StatusPayload) and isinstance(theirs, StatusPayload)
        return mine.unit is None or theirs.unit is None or mine.unit == theirs.unit
    return True


def note_restore(event: Event, units: Mapping[str, State], task_status: str) -> dict[str, str]:
    """What undoing note or status event `event` puts back: by unit, the status each of the
    task's assignments (`units`) returns to; empty when it is the task's own status (a task
    without assignments) or the event changed no status. Checks the ledger is as it left it."""
    payload = event.payload
    # Only note and status events are reverted this way, which decode to these two.
    assert isinstance(payload, NotePayload | StatusPayload)
    # Notes are always written on a task.
    assert event.task is not None
    if units and task_status != derived_status(Status(state[1]) for state in units.values()).value:
        raise out_of_step(event)
    if not isinstance(payload, StatusPayload):
        return {}
    after = payload.after.value
    if payload.unit is not None:
        restore = {payload.unit: payload.before.value}
    elif payload.all_units:
        assert event.before is not None
        restore = dict(event.before["units"])
    elif units:
        # Set before the task had assignments: the upgrade gave its status to every unit.
        # Only while they all still have it is "every unit back" what the change undoes.
        if any(state[1] != after for state in units.values()):
            raise UnitsChangedSince(event.id, event.task)
        restore = dict.fromkeys(units, payload.before.value)
    else:
        restore = {}
    if any(unit not in units or units[unit][1] != after for unit in restore):
        raise out_of_step(event)
    if not restore and task_status != after:
        raise out_of_step(event)
    return restore


# -- imports ------------------------------------------------------------------


class ImportWrites(NamedTuple):
    """What an import writes of its tasks, worked out from the tasks the plan has (by id: pk and fields)."""

    added: list[tuple[int, int, TaskFields]]  # (pk, id, fields) of each new task, pks from next_pk on
    changed: list[tuple[int, TaskFields]]  # (pk, fields) of each existing task whose fields change
    replaced: dict[str, TaskFields | None]  # by id: the fields replaced, None for a new task
    written: dict[str, TaskFields]  # by id: the fields written
    unchanged: int
    pks: dict[int, int]  # by id: the pk of every task in the file


def plan_import(tasks: Sequence[TaskInput], existing: Mapping[int, tuple[int, TaskFields]], next_pk: int) -> ImportWrites:
    replaced: dict[str, TaskFields | None] = {}
    written: dict[str, TaskFields] = {}
    added: list[tuple[int, int, TaskFields]] = []
    changed: list[tuple[int, TaskFields]] = []
    pks = {task_id: pk for task_id, (pk, _) in existing.items()}
    unchanged = 0
    for task in tasks:
        fields = task.fields
        if task.id not in existing:
            pk, next_pk = next_pk, next_pk + 1
            pks[task.id] = pk
            added.append((pk, task.id, fields))
            replaced[str(task.id)] = None
        else:
            pk, old = existing[task.id]
            if old == fields:
                unchanged += 1
                continue
            changed.append((pk, fields))
            replaced[str(task.id)] = old
        written[str(task.id)] = fields
    return ImportWrites(added, changed, replaced, written, unchanged, pks)


def import_counts(writes: ImportWrites, existing: Iterable[int], tasks: Sequence[TaskInput]) -> ImportCounts:
    """What an import reports; `existing`: the ids the plan had before it."""
    added = sum(1 for old in writes.replaced.values() if old is None)
    return ImportCounts(
        added=added,
        updated=len(writes.replaced) - added,
        unchanged=writes.unchanged,
        kept=tuple(sorted(set(existing) - {task.id for task in tasks})),
    )


def import_event(
    writes: ImportWrites, *, old_plan: PlanRow | None, plan: PlanRow, created: list[str],
    planned_lists: Mapping[int, list[PlannedAssignment]], old_lists: Mapping[int, list[PlannedAssignment]],
) -> tuple[ImportBefore, ImportAfter]:
    """An import event's before and after: every replaced text and assignment list, so it can be undone."""
    by_id = {pk: task_id for task_id, pk in writes.pks.items()}
    return (
        {"plan": old_plan, "tasks": writes.replaced,
         "assignments": {str(by_id[pk]): old for pk, old in old_lists.items()}},
        {"plan": plan, "tasks": writes.written, "units": created,
         "assignments": {str(by_id[pk]): planned_lists[pk] for pk in old_lists}},
    )


def check_import_undo(event: Event, current: Mapping[int, tuple[int, TaskFields]]) -> dict[int, list[PlannedAssignment]]:
    """Whether undoing import `event` meets the tasks as it wrote them (`current`: the plan's
    tasks by id, pk and fields); the assignment lists it replaced, by task pk."""
    before, after = import_payload(event)
    for key, fields in after["tasks"].items():
        if int(key) not in current or current[int(key)][1] != fields:
            raise out_of_step(event)
    # Imports from before assignments kept no list of them: theirs stay as they are.
    return {current[int(key)][0]: old for key, old in before.get("assignments", {}).items()}


def check_planned_lists(
    event: Event, current: Mapping[int, tuple[int, TaskFields]], now: Mapping[int, list[PlannedAssignment]]
) -> None:
    """Whether the planned lists an import wrote (its after) are still the tasks' (`now`, by pk)."""
    _, after = import_payload(event)
    # An import that stored lists before stored them after too, for the same tasks.
    for key, plan in after["assignments"].items():
        if now.get(current[int(key)][0], []) != plan:
            raise out_of_step(event)


class SyncWrites(NamedTuple):
    """How tasks' assignments follow their planned lists (see `SQLStore.import_plan`, store/base.py)."""

    old_plans: dict[int, list[PlannedAssignment]]  # existing tasks whose list changed: the list before
    inserts: list[tuple[int, str, str | None, bool, bool, int, str]]  # task, unit, via, lead, vague, position, at
    updates: list[tuple[str | None, bool, bool, int, int]]  # via, lead, vague, position, pk
    moved: list[tuple[int, int]]  # position, pk: kept after the planned ones, now manual
    removed: list[int]  # pks of untouched assignments no longer planned

    @property
    def rederive(self) -> list[int]:
        return list(self.old_plans)


def plan_sync(
    planned_lists: Mapping[int, list[PlannedAssignment]], current: Mapping[int, Sequence[Sequence[Any]]], at: str,
    *, new: Container[int] = frozenset(),
) -> SyncWrites:
    """`current`: by task pk, its assignment rows (pk, unit, via, lead, vague, manual, status,
    has live notes) in position order; `new`: tasks the same import added."""
    old_plans: dict[int, list[PlannedAssignment]] = {}
    inserts: list[tuple[int, str, str | None, bool, bool, int, str]] = []
    updates: list[tuple[str | None, bool, bool, int, int]] = []
    moved: list[tuple[int, int]] = []
    removed: list[int] = []
    for task_pk, plan in planned_lists.items():
        task_rows = current.get(task_pk, [])
        old = [planned_row(row) for row in task_rows if not row[5]]
        if old == plan and task_pk not in new:
            continue
        if task_pk not in new:
            old_plans[task_pk] = old
        wanted = {entry["unit"] for entry in plan}
        have = {row[1]: row for row in task_rows}
        kept = []
        for pk, unit, _, _, _, manual, status, noted in task_rows:
            if unit in wanted:
                continue
            if not manual and status == Status.TODO.value and not noted:
                removed.append(pk)
            else:
                kept.append(pk)
        for position, entry in enumerate(plan):
            values = (entry["via"], bool(entry["lead"]), bool(entry["vague"]), position)
            if entry["unit"] in have:
                updates.append((*values, have[entry["unit"]][0]))
            else:
                inserts.append((task_pk, entry["unit"], *values, at))
        # Units worked on, or added by the office, stay after the planned ones.
        moved += [(position, pk) for position, pk in enumerate(kept, start=len(plan))]
    return SyncWrites(old_plans, inserts, updates, moved, removed)


def derived(statuses: Mapping[int, list[Status]]) -> list[tuple[str, int]]:
    """(status, pk) for each task, its status as its assignments give it (domain.statuses.derived_status)."""
    return [(derived_status(found).value, pk) for pk, found in statuses.items()]


def new_assignment_rows(assignments: Sequence[AssignmentInput], *, start: int, at: str) -> list[AssignmentRow]:
    """The rows `assign` adds after position `start - 1`, as its event records them."""
    return [
        {"unit": a.unit, "via": a.via, "lead": int(a.lead), "vague": int(a.vague), "manual": 1,
         "position": start + offset, "status": Status.TODO.value, "updated_at": at}
        for offset, a in enumerate(assignments)
    ]
