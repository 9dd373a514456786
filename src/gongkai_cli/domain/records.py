"""Plain records passed from the store through the use cases to the renderers.

Records are NamedTuples rather than frozen dataclasses: defining a frozen
dataclass costs about a millisecond at import, and every command, cron's included,
pays for every record on its import path.
"""


import re
from datetime import date
from typing import Any, Literal, NamedTuple, TypedDict

from .statuses import Status
from .targets import detect_target

# A decoded JSON object as the history stores it: its shape depends on the action and on the
# version that wrote it, so it is only typed once decoded (the *Payload records below).
JsonObject = dict[str, Any]

# A 序号 is typed by hand: at most nine digits, so that every id an import accepts can be
# typed back into show or note, and none overflows SQLite's 64-bit integers.
_TASK_ID = re.compile(r"0*([1-9][0-9]{0,8})")


def task_id_value(text: str) -> int | None:
    """The task id `text` spells, or None when it is no valid 序号; the one rule for every input."""
    match = _TASK_ID.fullmatch(text)
    return int(match.group(1)) if match else None


class Note(NamedTuple):
    id: int
    task_id: int
    at: str
    by: str
    text: str
    status: Status | None = None
    # Shadows tuple.count on purpose: `count` is the JSON contract's key, and no caller
    # counts a record's items.
    count: int | None = None  # type: ignore[assignment]  # how much this note counts towards the task's target
    key: str | None = None  # the client's idempotency key (`note --key`), if it gave one
    # True when a retry with the same key found this note already stored: nothing was written.
    repeated: bool = False
    unit: str | None = None  # the assignment it was written on; None: a note on the task as a whole
    all_units: bool = False  # written by `status --all`: it set every assignment's status
    # The number of the change (event) that wrote it: the one numbering users see, as `undo` shows.
    change: int | None = None


class Assignment(NamedTuple):
    """One responsible unit's own part of a task: its status, notes and overdue flag."""

    unit: str  # the unit's own name, or a vague group's (各相关部门) until the office assigns units
    via: str | None  # the collective (各街镇) it came from; None when the cell names the unit
    lead: bool
    status: Status
    overdue: bool
    updated_at: str
    vague: bool = False
    progress: int = 0  # the counts of its notes, towards the task's target (不少于4次)
    notes: tuple[Note, ...] = ()
    # Its own target: the lead's is the task's first count, another unit's the one the task asks
    # of 各单位 (task 60: the district government 4, each unit 1); None without a target.
    target: int | None = None

    @property
    def latest_note(self) -> Note | None:
        return self.notes[-1] if self.notes else None

    @property
    def version(self) -> str:
        """What changes whenever the assignment does (a note, a status, an undo of either):
        its status, how many live notes it has and the newest one's id. Unlike updated_at it
        cannot repeat within a second, so an exported sheet can tell a newer change from its own."""
        return f"{self.status.value}:{len(self.notes)}:{max((note.id for note in self.notes), default=0)}"


class UnitProgress(TypedDict):
    """How many of a task's assignments are done, of how many (JSON `unit_progress`)."""

    done: int
    total: int


class PlannedTask(NamedTuple):
    """A task's text and dates as its plan table gave them, before the office changed them."""

    content: str
    deadline: str
    start: date | None
    due: date | None


class Task(NamedTuple):
    id: int
    plan: str
    group: str
    content: str
    units: tuple[str, ...]
    deadline: str
    start: date | None
    due: date | None
    status: Status
    updated_at: str
    overdue: bool = False
    progress: int = 0  # sum of the counts of its notes
    via: str | None = None
    notes: tuple[Note, ...] = ()  # every live note, the units' and the task-level ones
    # Of the assignments not cancelled, how many are done, and how many there are.
    units_done: int = 0
    units_total: int = 0
    # The listed unit's own assignment, in a listing filtered by one unit.
    assignment: Assignment | None = None
    assignments: tuple[Assignment, ...] = ()  # every one, by position: `show` and exports
    # The 责任单位 the plan table named, as imported; `units` are the current assignments' units.
    planned_units: tuple[str, ...] = ()
    source: str | None = None  # a task the office added by hand: where it comes from (a notice's 文号)
    # The imported wording and dates, once the office has changed the task (`task edit`); else None.
    planned: "PlannedTask | None" = None
    dropped_at: str | None = None  # when the office dropped it (`task drop`): kept, but out of listings
    key_task: bool = False  # a 重点任务 the office marked (`task key`): listed first in reports

    @property
    def own(self) -> "Task | Assignment":
        """What a listing shows as the status: the listed unit's assignment, else the task."""
        return self.assignment if self.assignment is not None else self

    @property
    def task_notes(self) -> tuple[Note, ...]:
        return tuple(note for note in self.notes if note.unit is None)

    @property
    def lead_unit(self) -> str | None:
        return self.units[0] if self.units else None

    @property
    def target(self) -> int | None:
        return detect_target(self.content)

    @property
    def task_progress(self) -> int:
        """The counts of the notes on the task as a whole (the office's), not a unit's."""
        return sum(note.count or 0 for note in self.task_notes)

    @property
    def target_reached(self) -> bool:
        """Whether the target (不少于4次) is met: by the notes on the task as a whole, or by every
        unit not cancelled, each with its own notes. Without its assignments loaded (a listing),
        by all its counted notes, which no task below its target can reach."""
        target = self.target
        if target is None:
            return False
        if not self.assignments:
            return self.progress >= target
        live = [a for a in self.assignments if a.status is not Status.CANCELLED]
        return self.task_progress >= target or (bool(live) and all(a.progress >= (a.target or target) for a in live))

    @property
    def unit_progress(self) -> UnitProgress:
        return {"done": self.units_done, "total": self.units_total}


# Why a plan is the default one: its year is this year, or no plan is and it is the newest.
DEFAULT_REASONS = {"current_year": "今年", "newest": "最新"}


class Plan(NamedTuple):
    name: str
    year: int
    tasks: int
    imported_at: str
    source: str
    default: str | None = None  # a key of DEFAULT_REASONS on the default plan, else None

    @property
    def default_label(self) -> str:
        """默认（今年） / 默认（最新） on the default plan, else empty."""
        return f"默认（{DEFAULT_REASONS[self.default]}）" if self.default else ""


class NotePayload(NamedTuple):
    """A note was written (action note)."""

    note: int
    text: str
    count: int | None  # type: ignore[assignment]  # shadows tuple.count, as Note.count does
    unit: str | None = None  # the assignment it was written on; None: the task as a whole


class StatusPayload(NamedTuple):
    """A note changed the task's status (action status)."""

    note: int
    text: str
    count: int | None  # type: ignore[assignment]  # shadows tuple.count, as Note.count does
    before: Status
    after: Status
    unit: str | None = None  # the assignment it changed; None: the task (before assignments) or --all
    all_units: bool = False  # --all: every assignment of the task was set
    # --all: the statuses of the assignments it changed, before (the derived `before` hides them).
    units_before: tuple[Status, ...] = ()


class AssignPayload(NamedTuple):
    """The office gave a task to units (action assign) or took it from them (unassign)."""

    units: tuple[str, ...]
    removed: bool


class TaskPayload(NamedTuple):
    """The office added (task_add), changed (task_edit), dropped (task_drop) or marked (task_key) a task."""

    action: str
    before: JsonObject  # task_edit: the fields it replaced
    after: JsonObject  # task_add: the task and its assignments; task_edit: the fields written


class ImportPayload(NamedTuple):
    """A plan table was imported (action import)."""

    source: str
    added: int
    updated: int
    new_plan: bool


class UndoPayload(NamedTuple):
    """An earlier change was taken back (action undo)."""

    undoes: int | None
    undone: "Payload"  # defined below: the union includes this class


class OtherPayload(NamedTuple):
    """An action this version does not know (written by a later one): the stored JSON as it is."""

    action: str | None
    before: JsonObject | None
    after: JsonObject | None


Payload = NotePayload | StatusPayload | AssignPayload | TaskPayload | ImportPayload | UndoPayload | OtherPayload


def decode_payload(action: str | None, *, before: JsonObject | None, after: JsonObject | None) -> Payload:
    """The typed payload of a change from the JSON its event stored: the one reader of that schema."""
    before, after = before or {}, after or {}
    if action == "note":
        return NotePayload(note=after["note"], text=after["text"], count=after.get("count"), unit=after.get("unit"))
    if action == "status":
        return StatusPayload(note=after["note"], text=after.get("text") or "", count=after.get("count"),
                             before=Status(before["status"]), after=Status(after["status"]),
                             unit=after.get("unit"), all_units=bool(after.get("all")),
                             units_before=tuple(Status(value) for value in (before.get("units") or {}).values()))
    if action in ("assign", "unassign"):
        rows = (after if action == "assign" else before).get("assignments", [])
        return AssignPayload(units=tuple(row["unit"] for row in rows), removed=action == "unassign")
    if action in ("task_add", "task_edit", "task_drop", "task_key"):
        return TaskPayload(action, before, after)
    if action == "import":
        replaced = before["tasks"].values()
        added = sum(1 for old in replaced if old is None)
        return ImportPayload(source=after["plan"]["source"], added=added, updated=len(replaced) - added,
                             new_plan=before["plan"] is None)
    return OtherPayload(action, before, after)


# The order a payload's keys are shown in, per action and side (before, after): the order the
# store writes them (store/common.py), so that `log --format json` is the same whichever
# database returns the payload and in whatever order it keeps keys (PostgreSQL's jsonb keeps
# none: it sorts them by length). A shape is a dict (these keys, in this order, each with its
# value's shape), ("id", shape) (a map by task id, in numeric order), ("name", shape) (a map by
# unit name, in code point order), [shape] (a list) or None (anything). Keys a shape does not
# name (a later release's) follow the named ones in code point order, as do all keys of an
# action this release does not know.
PayloadShape = dict[str, "PayloadShape"] | tuple[str, "PayloadShape"] | list["PayloadShape"] | None
_NOTE_KEYS: PayloadShape = dict.fromkeys(("note", "text", "count", "unit", "status", "all"))
_ASSIGNMENT_KEYS: PayloadShape = {"status": None, "assignments": [
    dict.fromkeys(("unit", "via", "lead", "vague", "manual", "position", "status", "updated_at")),
]}
_IMPORT_KEYS: PayloadShape = {
    "plan": dict.fromkeys(("year", "source", "imported_at")),
    "tasks": ("id", dict.fromkeys(("group", "content", "units", "deadline", "start", "due"))),
    "units": None,
    "assignments": ("id", [dict.fromkeys(("unit", "via", "lead", "vague"))]),
}
_TASK_EDIT_KEYS: PayloadShape = dict.fromkeys(("content", "deadline", "start", "due", "planned"))
_TASK_ADD_KEYS: PayloadShape = {
    "task": dict.fromkeys(("group", "content", "units", "deadline", "start", "due", "source")),
    "assignments": [dict.fromkeys(("unit", "via", "lead", "vague", "manual", "position", "status", "updated_at"))],
}
PAYLOAD_KEYS: dict[str, tuple[PayloadShape, PayloadShape]] = {
    "note": (None, _NOTE_KEYS),
    "status": ({"status": None, "unit": None, "units": ("name", None)}, _NOTE_KEYS),
    "assign": (_ASSIGNMENT_KEYS, _ASSIGNMENT_KEYS),
    "unassign": (_ASSIGNMENT_KEYS, _ASSIGNMENT_KEYS),
    "import": (_IMPORT_KEYS, _IMPORT_KEYS),
    "task_add": (None, _TASK_ADD_KEYS),
    "task_edit": (_TASK_EDIT_KEYS, _TASK_EDIT_KEYS),
    "task_drop": ({"dropped": None}, {"dropped": None}),
    "task_key": ({"key": None}, {"key": None}),
}


def in_key_order(value: Any, shape: PayloadShape = None) -> Any:
    """`value` (decoded JSON) with the keys of each object in the order `shape` gives them."""
    if isinstance(value, list):
        item = shape[0] if isinstance(shape, list) else None
        return [in_key_order(entry, item) for entry in value]
    if not isinstance(value, dict):
        return value
    if isinstance(shape, dict):
        keys = [key for key in shape if key in value] + sorted(key for key in value if key not in shape)
        return {key: in_key_order(value[key], shape.get(key)) for key in keys}
    if isinstance(shape, tuple):
        kind, inner = shape
        # Task ids are written without leading zeros, so the shorter one is the smaller.
        ordered = sorted(value, key=lambda key: (len(key), key)) if kind == "id" else sorted(value)
        return {key: in_key_order(value[key], inner) for key in ordered}
    return {key: in_key_order(value[key]) for key in sorted(value)}


class Event(NamedTuple):
    """One recorded change in the append-only history.

    `action` is note, status, import or undo; `before` and `after` hold what the
    change replaced and what it wrote, so that it can be shown and reverted.
    """

    id: int
    at: str
    by: str
    action: str
    plan: str
    task: int | None
    before: JsonObject | None
    after: JsonObject | None
    undoes: int | None = None
    undone_by: int | None = None
    # The action an undo event reverted: lets a renderer describe it without a lookup.
    undoes_action: str | None = None
    # The unit the change was written as; None: the office (`undo` takes back the caller's own).
    actor: str | None = None
    # The first event of the command that wrote this one with others: they are undone together.
    batch: int | None = None

    @property
    def payload(self) -> Payload:
        """What the change did, typed; for an undo, what it took back."""
        if self.action == "undo":
            undone = decode_payload(self.undoes_action, before=self.after, after=self.before)
            return UndoPayload(undoes=self.undoes, undone=undone)
        return decode_payload(self.action, before=self.before, after=self.after)

    def shown(self, side: Literal["before", "after"]) -> JsonObject | None:
        """Its `before` or `after` with the keys in the fixed order of its action (PAYLOAD_KEYS),
        whatever order the database kept: what renderers show. An undo's before is what the
        change it reverted wrote after, and the other way round."""
        if self.action == "undo":
            shapes = PAYLOAD_KEYS.get(self.undoes_action or "", (None, None))[::-1]
        else:
            shapes = PAYLOAD_KEYS.get(self.action, (None, None))
        value, shape = (self.before, shapes[0]) if side == "before" else (self.after, shapes[1])
        if value is None:
            return None
        ordered: JsonObject = in_key_order(value, shape)
        return ordered


class Commit(NamedTuple):
    """What one committed write transaction added to the history, for messages after the fact."""

    first_event: int
    last_event: int
    events: int
    first_note: int | None  # the notes those events wrote, if any
    last_note: int | None


class UnitCounts(NamedTuple):
    """A unit's assignments in a plan, counted once for `units`, `summary --by unit` and reports."""

    assigned: int  # every assignment of the unit, whatever its status
    led: int  # those it leads (named first in the cell)
    done: int
    cancelled: int
    overdue: int  # due date passed and the assignment neither done nor cancelled
