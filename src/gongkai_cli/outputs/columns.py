"""What every printed record shows, declared once per record type: its columns.

A column has the stable English key of the JSON contract (also the CSV/TSV header
scripts read), its 中文表头, how to read its value from the record, and how a
person sees it: the text of Markdown, xlsx and reports, and the look of a table
column. Commands pick a selection of these columns and a format; writers.py turns
(columns, records) into any format. A new field is one declaration here.

The declarations live together rather than beside each record: several records
are not ours to extend (Tally, UnitSummary, the report's task/note pairs), and
the Chinese wording of every header is reviewed in one place.
"""


import json
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, Literal, NamedTuple, TypedDict

from ..domain.records import (
    Assignment,
    AssignPayload,
    Event,
    ImportPayload,
    Note,
    NotePayload,
    Payload,
    StatusPayload,
    Task,
    TaskPayload,
    UndoPayload,
    in_key_order,
)
from ..domain.statuses import DUE_SOON_DAYS, Status

# A getter takes the record of its declaration: a Task for TASK's columns, a Note for NOTE's…
# The record is Any, not a type parameter (Column[Task]): a generic NamedTuple needs Python
# 3.11, a frozen dataclass puts the dataclasses module on every command's import path, and a
# hand-written class would redo what NamedTuple gives (immutability, a `_replace` mypy checks).
# So the lambdas below go unchecked; the helpers they call are typed.
Get = Callable[[Any], object]
Justify = Literal["left", "center", "right"]
Overflow = Literal["fold", "crop", "ellipsis", "ignore"]
Kind = Literal["text", "wrap", "number", "date", "datetime"]


class Column(NamedTuple):
    key: str
    header: str
    value: Get  # what scripts get (JSON, CSV/TSV): exact, lists stay lists
    text: Get | None = None  # what a person reads (Markdown, xlsx, reports); default: value
    cell: Get | None = None  # a table cell, where it is shorter than text; default: text
    style: Callable[[Any], str] | None = None  # a table cell's rich style, from the record
    justify: Justify = "left"
    no_wrap: bool = False
    overflow: Overflow = "ellipsis"
    ratio: int | None = None
    width: float = 12  # xlsx: character units, a Chinese character takes about two
    kind: Kind = "text"  # xlsx: text, wrap (long text), number, date, datetime
    optional: bool = False  # left out of a JSON object when None
    # xlsx round trip (the 各单位进展 sheet): a column people fill in stays unlocked on a
    # protected sheet, offers `choices` as a drop-down, and the stamps read back are hidden.
    editable: bool = False
    choices: tuple[str, ...] = ()
    hidden: bool = False

    def shown(self, record: object) -> object:
        return (self.text or self.value)(record)

    def table_cell(self, record: object) -> object:
        return (self.cell or self.text or self.value)(record)


class Look(TypedDict, total=False):
    """What a selection may change of a declared column: how it is shown, never what it reads."""

    text: Get | None
    width: float


def declare(*columns: Column) -> dict[str, Column]:
    return {column.key: column for column in columns}


def pick(declared: dict[str, Column], *keys: str, **changes: Look) -> tuple[Column, ...]:
    """A selection of declared columns in this order; `changes` adjust one column's look (key={"width": …})."""
    return tuple(declared[key]._replace(**changes[key]) if key in changes else declared[key] for key in keys)


def _after(find: Callable[[Any], object], get: Get) -> Get:
    """`get` applied to the record `find` reads from a row: a note's column on a (task, note) row."""
    return lambda row: get(find(row))


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def joined(values: Iterable[str]) -> str:
    return "、".join(values)


# -- notes ------------------------------------------------------------------------


def note_text(note: Note) -> str:
    marks = []
    if note.status is not None:
        marks.append(f"［状态改为：{note.status.label}］")
    if note.count:
        marks.append(f"［计 {note.count} 次］")
    return " ".join([*marks, note.text] if note.text else marks)


def note_unit(note: Note) -> str:
    """Whose part of the task a note is on: its unit, 全部单位 for `status --all`, else empty
    (a note on the task as a whole, or one written before notes had units)."""
    return "全部单位" if note.all_units else note.unit or ""


def note_writer(note: Note) -> str:
    """Who wrote a note, with the unit it is for: 马陆镇（张三）. A unit's login already records
    itself as 马陆镇（majiang）, so the unit is not repeated."""
    unit = note_unit(note)
    return f"{unit}（{note.by}）" if unit and not note.by.startswith(unit) else note.by


NOTE = declare(
    Column("id", "编号", lambda n: n.id, justify="right", no_wrap=True),
    Column("at", "时间", lambda n: n.at, no_wrap=True, width=18, kind="datetime"),
    Column("by", "记录人", lambda n: n.by, overflow="fold", width=12, kind="wrap"),
    Column("text", "内容", lambda n: n.text, text=note_text, ratio=1, overflow="fold", width=70, kind="wrap"),
    Column("status", "状态变更", lambda n: n.status.value if n.status else None,
           text=lambda n: n.status.label if n.status else "", width=10),
    Column("count", "计次", lambda n: n.count),
    Column("key", "幂等键", lambda n: n.key, optional=True),
    Column("task", "序号", lambda n: n.task_id, justify="right", width=6, kind="number"),
    # The unit whose assignment it is on; a note on the task as a whole has none.
    Column("unit", "单位", lambda n: n.unit, optional=True),
)
NOTE_JSON = pick(NOTE, "id", "at", "by", "text", "status", "count", "key", "unit")


# -- assignments -------------------------------------------------------------------


def _own_status_label(own: Task | Assignment) -> str:
    return f"{own.status.label}·逾期" if own.overdue else own.status.label


def _assignment_unit(a: Assignment) -> str:
    return f"{a.unit}（泛指，待公开办指定单位）" if a.vague else a.unit


ASSIGNMENT = declare(
    Column("unit", "单位", lambda a: a.unit, text=_assignment_unit, overflow="fold"),
    Column("via", "经由", lambda a: a.via, text=lambda a: a.via or "", overflow="fold"),
    Column("lead", "牵头", lambda a: a.lead, text=lambda a: "牵头" if a.lead else ""),
    Column("status", "状态", lambda a: a.status.value, text=lambda a: a.status.label, cell=_own_status_label,
           style=lambda a: "bold red" if a.overdue else {"done": "green", "blocked": "yellow"}.get(a.status.value, ""),
           no_wrap=True),
    Column("overdue", "是否逾期", lambda a: a.overdue, text=lambda a: "是" if a.overdue else "否"),
    Column("updated_at", "更新时间", lambda a: a.updated_at, no_wrap=True),
    Column("vague", "泛指", lambda a: a.vague),
    # Its own counted notes, towards the task's target (不少于4次); task-level notes are not a unit's.
    Column("progress", "次数", lambda a: a.progress, text=lambda a: f"{a.progress}/{a.target}" if a.target else a.progress,
           justify="right"),
    # Only with a target: the unit's own (the lead's is the task's first count, 各单位's may be smaller).
    Column("target", "目标次数", lambda a: a.target, optional=True),
    Column("latest_note", "最新进展", lambda a: note_text(a.latest_note) if a.notes else "",
           ratio=1, overflow="fold"),
)
# A listing's row of one unit: its own part of the task (docs/json.md).
ASSIGNMENT_JSON = pick(ASSIGNMENT, "unit", "via", "lead", "status", "overdue", "updated_at", "progress", "target")
# `show`: every unit's part; the table reads 单位, 经由, 牵头, 状态, 最新进展, 更新时间 (and 次数 with a target).
ASSIGNMENT_DETAIL_JSON = pick(ASSIGNMENT, "unit", "via", "lead", "status", "overdue", "updated_at", "vague",
                              "progress", "target")
ASSIGNMENT_TABLE = pick(ASSIGNMENT, "unit", "via", "lead", "status", "latest_note", "updated_at")


# -- the 各单位进展 sheet: one row per task and unit, filled in and imported back ------------

# The sheet's title is how `import` tells a returned progress sheet from a plan table.
ASSIGNMENT_SHEET_TITLE = "各单位进展"
# A row of the sheet: the task and one of its assignments.
AssignmentRow = tuple[Task, Assignment]


def latest_words(assignment: Assignment) -> Note | None:
    """The unit's latest note that says something: what its 最新进展 cell shows and is compared with."""
    return next((note for note in reversed(assignment.notes) if note.text), None)


# Excel holds at most this many characters in a cell, and readers cut a longer value there.
SHEET_CELL_CHARS = 32_767
# Ends a 最新进展 cell whose note is too long for it: the cell is not the note, and import knows.
CUT_MARK = "……（以上只是开头：这条进展超过表格单元格的字数上限，全文见 gongkai show）"


def sheet_text(text: str) -> str:
    """A note as the 最新进展 cell holds it: whole, or its beginning and CUT_MARK."""
    if len(text) <= SHEET_CELL_CHARS:
        return text
    return text[: SHEET_CELL_CHARS - len(CUT_MARK)] + CUT_MARK


def _latest_words_text(row: AssignmentRow) -> str:
    note = latest_words(row[1])
    return sheet_text(note.text) if note else ""


def row_digest(status: Status, text: str) -> str:
    """A stamp of what a row said when exported: whether the clerk changed it is told by it alone."""
    import hashlib

    return hashlib.sha256(f"{status.value}\n{text.strip()}".encode()).hexdigest()[:16]


def row_key(task_id: int, unit: str) -> str:
    return f"{task_id}/{unit}"


# The visible columns add up to 120 character units, as the 打印版 sheet does: A4 landscape at
# about 100% in Excel (the hidden stamps do not print).
ASSIGNMENT_ROW = declare(
    Column("id", "序号", lambda r: r[0].id, width=5, kind="number"),
    Column("content", "任务内容", lambda r: r[0].content, width=34, kind="wrap"),
    # The unit's own name, as typed back: import checks it against the row's key.
    Column("unit", "责任单位", lambda r: r[1].unit, width=14, kind="wrap"),
    Column("via", "经", lambda r: r[1].via, text=lambda r: r[1].via or "", width=8, kind="wrap"),
    Column("lead", "牵头", lambda r: r[1].lead, text=lambda r: "牵头" if r[1].lead else "", width=5),
    Column("deadline", "时间节点", lambda r: r[0].deadline, width=10, kind="wrap"),
    Column("due", "截止日期", lambda r: _date(r[0].due), text=lambda r: r[0].due, width=11, kind="date"),
    Column("status", "状态", lambda r: r[1].status.value, text=lambda r: r[1].status.label, width=7,
           editable=True, choices=tuple(status.label for status in Status)),
    Column("latest_note", "最新进展", _latest_words_text, width=26, kind="wrap", editable=True),
    # Read back by import, never shown: the plan, the row's identity, and the assignment's
    # version and content at export, so a newer change in the ledger is never overwritten.
    Column("plan", "计划", lambda r: r[0].plan, hidden=True),
    Column("key", "行标识", lambda r: row_key(r[0].id, r[1].unit), hidden=True),
    Column("version", "导出时版本", lambda r: r[1].version, hidden=True),
    Column("digest", "导出时内容校验", lambda r: row_digest(r[1].status, _latest_words_text(r)), hidden=True),
)
ASSIGNMENT_SHEET = tuple(ASSIGNMENT_ROW.values())


def _assignment_json(task: Task) -> dict[str, object] | None:
    own = task.assignment
    if own is None:
        return None
    values = {column.key: column.value(own) for column in ASSIGNMENT_JSON}
    return {key: value for key, value in values.items() if value is not None or not ASSIGNMENT[key].optional}


# -- tasks ------------------------------------------------------------------------


def status_label(task: Task) -> str:
    """The status a listing shows: the listed unit's own, else the task's."""
    return _own_status_label(task.own)


def progress_label(task: Task) -> str:
    own_target = task.assignment.target if task.assignment is not None else None
    return f"{task.own.progress}/{own_target or task.target}" if task.target else ""


def unit_progress_label(task: Task) -> str:
    return f"{task.units_done}/{task.units_total} 单位已完成" if task.units_total else ""


def _units_label(task: Task) -> str:
    label = task.lead_unit or ""
    if len(task.units) > 1:
        label = f"{label} 等 {len(task.units)} 家"
    if task.via:
        label += f"\n经“{task.via}”"
    return label


def _planned_json(task: Task) -> dict[str, object] | None:
    planned = task.planned
    if planned is None:
        return None
    return {"content": planned.content, "deadline": planned.deadline, "start": _date(planned.start),
            "due": _date(planned.due)}


def _units_with_via(task: Task) -> str:
    return f"{joined(task.units)}（经“{task.via}”）" if task.via else joined(task.units)


def _latest(task: Task) -> Note | None:
    return task.notes[-1] if task.notes else None


def _latest_text(task: Task) -> str:
    note = _latest(task)
    return note_text(note) if note else ""


def _latest_at(task: Task) -> str:
    note = _latest(task)
    return note.at if note else ""


def _latest_signed(task: Task) -> str:
    note = _latest(task)
    return f"{note_text(note)}（{note_writer(note)}，{note.at[:10]}）" if note else ""


def _latest_unit(task: Task) -> str:
    note = _latest(task)
    return note_unit(note) if note else ""


def _status_style(task: Task) -> str:
    own = task.own
    return "bold red" if own.overdue else {"done": "green", "blocked": "yellow"}.get(own.status.value, "")


# The task's fields in the JSON contract (docs/json.md), in its key order. A new field
# is one more line here: JSON, CSV and TSV carry it at the end.
TASK_FIELDS = declare(
    Column("id", "序号", lambda t: t.id, justify="right", no_wrap=True, width=6, kind="number"),
    Column("plan", "计划", lambda t: t.plan),
    Column("group", "任务名称", lambda t: t.group, width=18, kind="wrap"),
    Column("content", "任务内容", lambda t: t.content, ratio=3, overflow="fold", width=60, kind="wrap"),
    Column("units", "责任单位", lambda t: list(t.units), text=lambda t: joined(t.units), cell=_units_label,
           ratio=1, overflow="fold", width=30, kind="wrap"),
    Column("lead_unit", "牵头单位", lambda t: t.lead_unit, text=lambda t: t.lead_unit or "", width=20, kind="wrap"),
    # The plan's own wording (“6月底前，并长期坚持”): folded in a table, never cut off.
    Column("deadline", "时间节点", lambda t: t.deadline, overflow="fold", kind="wrap"),
    Column("start", "开始日期", lambda t: _date(t.start), text=lambda t: t.start, kind="date"),
    Column("due", "截止日期", lambda t: _date(t.due), text=lambda t: t.due, no_wrap=True, kind="date"),
    Column("status", "状态", lambda t: t.status.value, text=lambda t: t.status.label, cell=status_label,
           style=_status_style, no_wrap=True, width=8),
    Column("overdue", "是否逾期", lambda t: t.overdue, text=lambda t: "是" if t.overdue else "否", width=10),
    Column("updated_at", "更新时间", lambda t: t.updated_at, width=18, kind="datetime"),
    Column("target", "目标次数", lambda t: t.target),
    # In a one-unit listing, that unit's own count, as the table's 次数 shows it.
    Column("progress", "次数", lambda t: t.own.progress, text=progress_label, no_wrap=True, justify="right"),
    Column("via", "经由集合", lambda t: t.via, optional=True),
    # Of the units not cancelled, how many are done: {"done", "total"} ("progress" is the target count).
    Column("unit_progress", "单位完成情况", lambda t: t.unit_progress, text=unit_progress_label),
    # Only in a listing filtered by one unit: that unit's own part of the task.
    Column("assignment", "本单位", _assignment_json, optional=True),
    # `units` are the current assignments'; these are the plan table's 责任单位 as imported.
    Column("planned_units", "原责任单位", lambda t: list(t.planned_units) or None, text=lambda t: joined(t.planned_units),
           optional=True),
    # Only on a task the office added (`task add`): where it comes from.
    Column("source", "来源", lambda t: t.source, optional=True),
    # Only on a task the office changed (`task edit`): the plan table's text and dates.
    Column("planned", "原计划", _planned_json, optional=True),
    # Only on a task the office dropped (`task drop`), which only `show` still finds.
    Column("dropped_at", "删除时间", lambda t: t.dropped_at, optional=True),
    # Only on a 重点任务 the office marked (`task key`).
    Column("key_task", "重点任务", lambda t: True if t.key_task else None, optional=True),
)
# What a person reads about a task, beyond the contract's fields.
TASK = TASK_FIELDS | declare(
    Column("listed_units", "责任单位", _units_with_via),
    Column("listed_status", "状态", status_label),
    Column("printed_status", "状态", lambda t: f"{t.status.label}（逾期）" if t.overdue else t.status.label,
           width=9, kind="wrap"),
    Column("latest_note", "最新进展", _latest_text, width=40, kind="wrap"),
    Column("latest_note_at", "最新进展时间", _latest_at, width=18, kind="datetime"),
    Column("latest_note_unit", "最新进展单位", _latest_unit, width=14, kind="wrap"),
    Column("latest_signed", "最新进展", _latest_signed, width=28, kind="wrap"),
)

TASK_JSON = tuple(TASK_FIELDS.values())
# The CSV/TSV of list/due/show: the same keys, but via sits before target, where it was
# put when it was added and where scripts reading columns by position find it.
# unit_progress and assignment are objects: JSON only.
_SCRIPT_KEYS = [key for key in TASK_FIELDS
                if key not in ("via", "unit_progress", "assignment", "planned_units", "source", "planned", "dropped_at", "key_task")]
_SCRIPT_KEYS.insert(_SCRIPT_KEYS.index("target"), "via")
TASK_SCRIPT = pick(TASK, *_SCRIPT_KEYS)


def _own(key: str) -> Get:
    column = ASSIGNMENT[key]
    return lambda t: None if t.assignment is None else column.value(t.assignment)


# CSV cannot nest the JSON's `assignment` object: a one-unit listing flattens it into these
# columns after the task's (docs/json.md).
TASK_ASSIGNMENT_SCRIPT = tuple(
    Column(f"assignment_{key}", f"本单位{ASSIGNMENT[key].header}", _own(key))
    for key in ("status", "overdue", "via", "lead", "updated_at", "progress")
)
TASK_MARKDOWN = pick(TASK, "id", "group", "content", "listed_units", "deadline", "due", "listed_status")
TASK_TABLE = pick(TASK, "id", "content", "units", "deadline", "due", "status")
# The office's CSV, Markdown and xlsx 任务 sheet of `export`: Chinese headers and the latest note.
TASK_OFFICE = pick(TASK, "id", "group", "content", "units", "lead_unit", "deadline", "start", "due", "status",
                   "overdue", "latest_note", "latest_note_at", "updated_at", "latest_note_unit")
# The sheet meant for paper: what a meeting reads, 120 character units wide. Fitted to
# the width of A4 landscape that prints at 100% in Excel and about 93% in LibreOffice
# (whose character unit is wider), so the 11 pt cells come out at 10 pt or more.
# On paper a latest note is its beginning: a 3,000-character note would stretch one task's row
# over a page. The 进展记录 sheet (on screen) holds every note whole.
PRINTED_NOTE_CHARS = 150
NOTES_WHOLE = "……（全文见“进展记录”工作表）"


def _latest_printed(task: Task) -> str:
    note = _latest(task)
    if note is None:
        return ""
    text = note_text(note)
    if len(text) > PRINTED_NOTE_CHARS:
        text = text[:PRINTED_NOTE_CHARS] + NOTES_WHOLE
    return f"{text}（{note_writer(note)}，{note.at[:10]}）"


TASK_PRINT = pick(TASK, "id", "content", "units", "deadline", "printed_status", "latest_signed",
                  id={"width": 5}, content={"width": 46}, units={"width": 22}, deadline={"width": 10},
                  latest_signed={"text": _latest_printed})


# The order a printed task's units are read in: who needs chasing first.
_PRINTED_GROUPS = ("逾期", Status.BLOCKED.label, Status.DOING.label, Status.TODO.label, Status.DONE.label,
                   Status.CANCELLED.label)


def units_by_status(task: Task) -> str:
    """A task's units grouped by how far they are, one line a group: 逾期（2）：马陆镇、江桥镇（受阻）.
    An overdue unit is named under 逾期 only, with its own status where it has begun."""
    groups: dict[str, list[str]] = {label: [] for label in _PRINTED_GROUPS}
    for assignment in task.assignments:
        if not assignment.overdue:
            groups[assignment.status.label].append(assignment.unit)
        elif assignment.status is Status.TODO:
            groups["逾期"].append(assignment.unit)
        else:
            groups["逾期"].append(f"{assignment.unit}（{assignment.status.label}）")
    return "\n".join(f"{label}（{len(units)}）：{joined(units)}" for label, units in groups.items() if units)


# The per-unit progress on paper: one row a task, its units grouped by status, instead of the
# 各单位进展 sheet's row per task and unit (2,265 rows for the 2023 plan, 300-odd pages).
UNITS_PRINT = (
    TASK["id"]._replace(width=5),
    TASK["group"]._replace(width=16),
    Column("done", "完成单位", lambda t: t.units_done, text=lambda t: f"{t.units_done}/{t.units_total}",
           width=9, kind="number"),
    Column("units_by_status", "各单位状态", units_by_status, width=90, kind="wrap"),
)

# A task's notes as rows of (task, note) pairs: the 进展记录 sheet and the report's period notes.
def _pair_note(pair: tuple[Task, Note]) -> Note:
    return pair[1]


_PAIR = {key: column._replace(value=_after(_pair_note, column.value), text=_after(_pair_note, column.shown))
         for key, column in NOTE.items()}
_PAIR["task"] = NOTE["task"]._replace(value=lambda pair: pair[0].id)
# The sheet has its own 状态变更 column, so 内容 is the note's own words.
_PAIR["unit"] = _PAIR["unit"]._replace(text=lambda pair: note_unit(pair[1]), width=14)
TASK_NOTES = pick(_PAIR, "task", "at", "unit", "by", "status", "text", text={"text": None})


# -- plans, units, history --------------------------------------------------------

PLAN = declare(
    Column("name", "计划", lambda p: p.name, overflow="fold"),
    Column("year", "年度", lambda p: p.year, overflow="fold"),
    Column("tasks", "任务数", lambda p: p.tasks, overflow="fold"),
    Column("imported_at", "最近导入", lambda p: p.imported_at, overflow="fold"),
    Column("source", "来源文件", lambda p: p.source, overflow="fold"),
    Column("default", "默认", lambda p: p.default, text=lambda p: p.default_label, overflow="fold"),
)
PLAN_ALL = tuple(PLAN.values())


def _kind_label(kind: str) -> str:
    from ..domain.units import KIND_LABELS

    return KIND_LABELS.get(kind, kind)


# Folded, not cut to “区人力资源社会保…”: these are the names a clerk types for --unit.
UNIT = declare(
    Column("name", "单位", lambda u: u.name, overflow="fold"),
    Column("kind", "类型", lambda u: u.kind, text=lambda u: _kind_label(u.kind), overflow="fold"),
    Column("aliases", "别名", lambda u: list(u.aliases), text=lambda u: joined(u.aliases), overflow="fold"),
    Column("members", "成员", lambda u: list(u.members), text=lambda u: joined(u.members), overflow="fold"),
    Column("tasks", "任务数", lambda u: u.tasks, justify="right", overflow="fold"),
    Column("led", "牵头", lambda u: u.led, justify="right", overflow="fold"),
    Column("done", "已完成", lambda u: u.done, justify="right", overflow="fold"),
    Column("overdue", "逾期", lambda u: u.overdue, justify="right", overflow="fold"),
)
UNIT_ALL = tuple(UNIT.values())
UNIT_TABLE = pick(UNIT, "name", "kind", "aliases", "tasks", "led", "done", "overdue")
# `units --tree`: a group and its members as (group, member) rows, or one object per group in JSON.
GROUP_MEMBER = (Column("group", "集合", lambda row: row[0]), Column("member", "成员", lambda row: row[1]))
GROUP_JSON = (Column("name", "集合", lambda g: g.name), UNIT["members"])
# A unit's contact (usecases.mailing.Contact), for `contacts list`.
CONTACT = (Column("unit", "单位", lambda row: row.unit), Column("email", "邮箱", lambda row: row.email))

ACTION_LABELS = {"note": "进展", "status": "状态", "import": "导入", "undo": "撤销", "assign": "分配",
                 "unassign": "取消分配", "task_add": "新增任务", "task_edit": "调整任务", "task_drop": "删除任务",
                 "task_key": "重点任务"}


def describe(event: Event) -> str:
    """What one change did, as before → after, in one line of Chinese."""
    return _described(event.payload)


def _described(payload: Payload) -> str:
    if isinstance(payload, UndoPayload):
        return f"撤销 #{payload.undoes}：{_described(payload.undone)}"
    if isinstance(payload, AssignPayload):
        return f"{'取消分配' if payload.removed else '分配给'}：{'、'.join(payload.units)}"
    if isinstance(payload, (NotePayload, StatusPayload)):
        counted = f"（计 {payload.count} 次）" if payload.count else ""
        whose = f"{payload.unit}的" if payload.unit else ""
        if isinstance(payload, NotePayload):
            return f"{whose}进展：{payload.text}{counted}"
        scope = "所有单位的" if payload.all_units else whose
        change = f"{scope}状态：{_before_label(payload)} → {payload.after.label}"
        return f"{change}；说明：{payload.text}{counted}" if payload.text else change + counted
    if isinstance(payload, TaskPayload):
        return _task_change(payload)
    if isinstance(payload, ImportPayload):
        new_plan = "，新建计划" if payload.new_plan else ""
        return f"导入 {payload.source}：新增 {payload.added} 项，更新 {payload.updated} 项{new_plan}"
    # Actions added by later versions still show, if less nicely; their keys in code point
    # order (models.in_key_order), as on either backend.
    before, after = (json.dumps(in_key_order(side), ensure_ascii=False) for side in (payload.before, payload.after))
    return f"{payload.action}：{before} → {after}"


# What `task edit` may change, with the words a change is described in.
_EDITED = (("content", "任务内容"), ("deadline", "时间节点"), ("due", "截止日期"))


def _task_change(payload: TaskPayload) -> str:
    after = payload.after
    if payload.action == "task_add":
        task = after["task"]
        return f"新增任务（来源：{task['source']}）：{task['content']}；责任单位：{joined(task['units'])}；时间节点：{task['deadline']}"
    if payload.action == "task_key":
        return "标为重点任务" if after.get("key") else "取消重点任务标记"
    if payload.action == "task_drop":
        return "删除任务（保留在历史中）"
    changed = [f"{label}：{payload.before.get(key) or '无'} → {after.get(key) or '无'}"
               for key, label in _EDITED if payload.before.get(key) != after.get(key)]
    return "调整任务，" + ("；".join(changed) or "内容未变")


def _before_label(payload: StatusPayload) -> str:
    """What a status change replaced: for --all, the units' own statuses, not the task's derived one."""
    if not payload.all_units or not payload.units_before:
        return payload.before.label
    from collections import Counter

    counts = Counter(payload.units_before)
    if len(counts) == 1:
        return payload.units_before[0].label
    # Ties in the order of the statuses, not of the units in the payload, which a server does not keep.
    order = list(Status)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], order.index(item[0])))
    return "、".join(f"{status.label} {n} 个单位" for status, n in ranked)


def _event_text(event: Event) -> str:
    text = describe(event)
    return f"{text}（已由 #{event.undone_by} 撤销）" if event.undone_by else text


_ASSIGNMENT_ROW_KEYS = ("unit", "via", "lead", "vague", "status", "updated_at")


def _public(side: dict[str, Any] | None) -> dict[str, Any] | None:
    """An event's before or after as the JSON contract shows it: an assign's stored rows without
    the store's own columns (manual, position), their flags as booleans."""
    # An import's assignments are its planned lists by task id, shown as stored.
    if not side or not isinstance(side.get("assignments"), list):
        return side
    rows = [
        {key: bool(row.get(key)) if key in ("lead", "vague") else row.get(key) for key in _ASSIGNMENT_ROW_KEYS}
        for row in side["assignments"]
    ]
    return side | {"assignments": rows}


EVENT = declare(
    Column("id", "编号", lambda e: e.id, justify="right", no_wrap=True),
    Column("at", "时间", lambda e: e.at, no_wrap=True),
    Column("by", "记录人", lambda e: e.by, overflow="fold"),
    Column("action", "操作", lambda e: e.action, text=lambda e: ACTION_LABELS.get(e.action, e.action), no_wrap=True),
    Column("plan", "计划", lambda e: e.plan, overflow="fold"),
    Column("task", "任务", lambda e: e.task, text=lambda e: "" if e.task is None else e.task,
           justify="right", no_wrap=True),
    Column("before", "原值", lambda e: _public(e.shown("before"))),
    Column("after", "新值", lambda e: _public(e.shown("after"))),
    Column("undoes", "撤销的更改", lambda e: e.undoes),
    Column("undone_by", "撤销记录", lambda e: e.undone_by),
    Column("summary", "内容", describe, text=_event_text, ratio=1, overflow="fold"),
)
EVENT_JSON = pick(EVENT, "id", "at", "by", "action", "plan", "task", "before", "after", "undoes", "undone_by",
                  "summary")
EVENT_SCRIPT = pick(EVENT, "id", "at", "by", "plan", "task", "action", "summary", "undone_by", "undoes")
EVENT_TABLE = pick(EVENT, "id", "at", "by", "plan", "task", "action", "summary")


# -- summaries and reminders --------------------------------------------------------

BREAKDOWN_HEADERS = {"unit": "单位", "group": "任务名称", "month": "截止月份"}
_BAR_WIDTH = 20


def text_bar(percent: float) -> str:
    filled = round(_BAR_WIDTH * percent / 100)
    return "█" * filled + "░" * (_BAR_WIDTH - filled)


def breakdown(by: str) -> tuple[Column, ...]:
    """The rows of `summary --by` and of the report's per-unit table: one Tally each."""
    return (
        Column(by, BREAKDOWN_HEADERS[by], lambda r: r.key, overflow="fold"),
        Column("total", "任务数", lambda r: r.total, justify="right"),
        Column("done", "已完成", lambda r: r.done, justify="right"),
        Column("overdue", "逾期", lambda r: r.overdue, justify="right",
               style=lambda r: "bold red" if r.overdue else ""),
        Column("done_percent", "完成率", lambda r: r.done_percent, text=lambda r: f"{r.done_percent}%",
               cell=lambda r: f"{text_bar(r.done_percent)} {r.done_percent:>5}%", no_wrap=True),
    )


def _status_count(status: Status) -> Get:
    return lambda summary: summary.status[status]


# A plan's figures as one record (Summary): one CSV row for scripts, 项目/数值 lines for people.
SUMMARY = (
    Column("plan", "计划", lambda s: s.plan),
    Column("total", "任务总数", lambda s: s.total),
    *(Column(status.value, status.label, _status_count(status)) for status in Status),
    Column("done_percent", "完成率", lambda s: s.done_percent, text=lambda s: f"{s.done_percent}%"),
    Column("overdue", "已逾期", lambda s: s.overdue),
    Column("due_soon", f"{DUE_SOON_DAYS} 天内到期", lambda s: s.due_soon),
    Column("target_reached", "已达到目标次数", lambda s: " ".join(str(t.id) for t in s.target_reached)),
)
SUMMARY_LINES = SUMMARY[1:-1]


class ReminderRow(NamedTuple):
    unit: str | None
    section: str  # overdue or due_soon
    task: Task
    days_left: int


def _row_task(row: ReminderRow) -> Task:
    return row.task


def _of_task(key: str) -> Column:
    """A task's column, read from the task a reminder row is about."""
    column = TASK[key]
    return column._replace(value=_after(_row_task, column.value))


REMINDER = (
    Column("unit", "单位", lambda r: r.unit or ""),
    Column("section", "类别", lambda r: r.section),
    _of_task("id"),
    _of_task("due"),
    Column("days_left", "剩余天数", lambda r: r.days_left),
    _of_task("lead_unit"),
    _of_task("content"),
    _of_task("via"),
)


# -- the progress report's tables ---------------------------------------------------


def role(task: Task, unit: str | None) -> str:
    if unit is None:
        return task.lead_unit or ""
    if task.via:
        return f"经“{task.via}”"
    return "牵头" if task.lead_unit == unit else "参与"


def report_tasks(unit: str | None) -> tuple[Column, ...]:
    """任务清单: the lead unit in the whole-plan report, the unit's own part in a unit's report."""
    return (
        TASK["id"],
        TASK["content"],
        Column("role", "牵头单位" if unit is None else "本单位职责", lambda t: role(t, unit)),
        Column("due", "截止日期", lambda t: t.due.isoformat() if t.due else t.deadline),
        TASK["printed_status"],
        Column("latest_note", "最新进展", lambda t: _latest_signed(t) or "（暂无进展记录）"),
    )


def report_overdue(today: date) -> tuple[Column, ...]:
    return (
        TASK["id"],
        TASK["content"],
        Column("due", "截止日期", lambda t: t.due.isoformat()),
        Column("days_overdue", "逾期天数", lambda t: (today - t.due).days),
        TASK["lead_unit"],
    )


REPORT_NOTES = (
    _PAIR["at"]._replace(text=lambda pair: pair[1].at.replace("T", " ")[:16]),
    _PAIR["task"],
    _PAIR["unit"],
    _PAIR["by"],
    _PAIR["text"],
)

