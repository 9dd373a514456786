"""Writers for every output format. Renderers take records and never query.

`table` is for people (rich); json/csv/tsv/markdown are for scripts and
documents and never contain colour codes. rich is imported only when a table is
actually drawn.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import sys
from pathlib import Path
from typing import IO, Iterable, Sequence

from .errors import UsageError
from .models import Event, Note, Plan, Status, Task

FORMATS = ("table", "json", "csv", "tsv", "markdown")

TASK_FIELDS = (
    "id", "plan", "group", "content", "units", "lead_unit", "deadline",
    "start", "due", "status", "overdue", "updated_at",
)
PLAN_FIELDS = ("name", "year", "tasks", "imported_at", "source")

# C0/C1 controls (except tab and newline) and bidi overrides: typed text must
# never move the cursor, clear the screen or flip the reading order of a table.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def check_format(fmt: str) -> str:
    value = (fmt or "").strip().lower()
    if value not in FORMATS:
        raise UsageError(f"不支持的输出格式“{fmt}”，可选：{'、'.join(FORMATS)}。")
    return value


def inert(text: str) -> str:
    """Make control characters visible (as \\xNN / \\uNNNN) instead of letting the terminal act on them."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) > 0xFF
                       else f"\\x{ord(m.group()):02x}", text)


def _print(out: IO[str], *renderables, style: str | None = None) -> None:
    from rich.console import Console

    if out.isatty():
        Console(file=out, highlight=False).print(*renderables, style=style)
        return
    # Piped or cron: no colour, a fixed width instead of rich's guess, and no
    # padding spaces at line ends for mail and diffs to carry around.
    width = int(os.environ.get("COLUMNS") or 100)
    console = Console(width=width, no_color=True, highlight=False, color_system=None)
    with console.capture() as captured:
        console.print(*renderables, style=style)
    out.write("\n".join(line.rstrip() for line in captured.get().split("\n")))


def _text(value: str):
    from rich.text import Text

    # A Text object is never parsed for [markup], so typed text shows literally.
    return Text(inert(value))


# -- tasks ----------------------------------------------------------------------


def _status_label(task: Task) -> str:
    return f"{task.status.label}·逾期" if task.overdue else task.status.label


def _units_label(task: Task) -> str:
    if len(task.units) <= 1:
        return task.lead_unit or ""
    return f"{task.lead_unit} 等 {len(task.units)} 家"


def _task_row(task: Task) -> dict:
    row = task.to_dict()
    row["units"] = "、".join(task.units)
    return row


def tasks(items: Sequence[Task], fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        _json([task.to_dict() for task in items], out)
    elif fmt in ("csv", "tsv"):
        _delimited([_task_row(task) for task in items], TASK_FIELDS, fmt, out)
    elif fmt == "markdown":
        _markdown(
            ("序号", "任务名称", "任务内容", "责任单位", "时间节点", "截止日期", "状态"),
            (
                (task.id, task.group, task.content, "、".join(task.units), task.deadline,
                 _date(task.due), _status_label(task))
                for task in items
            ),
            out,
        )
    else:
        _task_table(items, out)


def _task_table(items: Sequence[Task], out: IO[str]) -> None:
    if not items:
        print("没有符合条件的任务。", file=sys.stderr)
        return
    from rich.table import Table

    table = Table(show_lines=True, header_style="bold")
    table.add_column("序号", justify="right", no_wrap=True)
    table.add_column("任务内容", ratio=3, overflow="fold")
    table.add_column("责任单位", ratio=1, overflow="fold")
    table.add_column("时间节点", no_wrap=True)
    table.add_column("截止日期", no_wrap=True)
    table.add_column("状态", no_wrap=True)
    for task in items:
        table.add_row(
            str(task.id),
            _text(task.content),
            _text(_units_label(task)),
            _text(task.deadline),
            _date(task.due),
            _status_cell(task),
        )
    _print(out, table)
    _print(out, f"共 {len(items)} 项任务", style="dim")


def _status_cell(task: Task):
    from rich.text import Text

    style = "bold red" if task.overdue else {"done": "green", "blocked": "yellow"}.get(task.status.value, "")
    return Text(_status_label(task), style=style)


def task_detail(task: Task, fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        _json(task.to_dict(with_notes=True), out)
    elif fmt in ("csv", "tsv"):
        _delimited([_task_row(task)], TASK_FIELDS, fmt, out)
    elif fmt == "markdown":
        _task_markdown(task, out)
    else:
        _task_panel(task, out)


def _detail_fields(task: Task) -> list[tuple[str, str]]:
    units = "、".join(
        f"{unit}（牵头）" if position == 0 else unit for position, unit in enumerate(task.units)
    )
    span = f"{_date(task.start)} 至 {_date(task.due)}" if task.start else _date(task.due)
    return [
        ("计划", task.plan),
        ("任务名称", task.group),
        ("任务内容", task.content),
        ("责任单位", units),
        ("时间节点", task.deadline),
        ("截止日期", span or "（无法识别）"),
        ("状态", _status_label(task)),
        ("更新时间", task.updated_at),
    ]


def _note_text(note: Note) -> str:
    if note.status is None:
        return note.text
    change = f"［状态改为：{note.status.label}］"
    return f"{change} {note.text}" if note.text else change


def _task_panel(task: Task, out: IO[str]) -> None:
    from rich.table import Table

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")
    for label, value in _detail_fields(task):
        fields.add_row(label, _text(value))
    _print(out, f"任务 {task.id}", style="bold")
    _print(out, fields)
    if not task.notes:
        _print(out, "暂无进展记录。", style="dim")
        return
    notes = Table(title="进展记录", show_lines=True, header_style="bold")
    notes.add_column("时间", no_wrap=True)
    notes.add_column("记录人", overflow="fold")
    notes.add_column("内容", ratio=1, overflow="fold")
    for note in task.notes:
        notes.add_row(note.at, _text(note.by), _text(_note_text(note)))
    _print(out, notes)


def _task_markdown(task: Task, out: IO[str]) -> None:
    out.write(f"## 任务 {task.id}\n\n")
    _markdown(("项目", "内容"), _detail_fields(task), out)
    out.write("\n### 进展记录\n\n")
    if task.notes:
        _markdown(("时间", "记录人", "内容"), ((n.at, n.by, _note_text(n)) for n in task.notes), out)
    else:
        out.write("暂无进展记录。\n")


# -- notes ------------------------------------------------------------------------


def note_saved(note: Note, fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        _json(note.to_dict() | {"task": note.task_id}, out)
        return
    what = f"状态已改为“{note.status.label}”" if note.status else "已记录进展"
    print(f"任务 {note.task_id}：{what}（记录 #{note.id}，{note.by}，{note.at}）。", file=out)


def status_unchanged(task_id: int, status, fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        # No note was written, so there is no note object to hand to a script.
        _json(None, out)
    else:
        print(f"任务 {task_id} 已经是“{status.label}”，未做更改。", file=out)


# -- plans ------------------------------------------------------------------------


def plans(items: Sequence[Plan], fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        _json([plan.to_dict() for plan in items], out)
    elif fmt in ("csv", "tsv"):
        _delimited([plan.to_dict() for plan in items], PLAN_FIELDS, fmt, out)
    elif fmt == "markdown":
        _markdown(
            ("计划", "年度", "任务数", "最近导入", "来源文件"),
            ((p.name, p.year, p.tasks, p.imported_at, p.source) for p in items),
            out,
        )
    elif not items:
        print("台账中还没有任何计划。", file=sys.stderr)
    else:
        from rich.table import Table

        table = Table(header_style="bold")
        for header in ("计划", "年度", "任务数", "最近导入", "来源文件"):
            table.add_column(header)
        for index, plan in enumerate(items):
            name = f"{plan.name}（默认）" if index == 0 else plan.name
            table.add_row(_text(name), str(plan.year), str(plan.tasks), plan.imported_at, _text(plan.source))
        _print(out, table)


# -- shared writers ---------------------------------------------------------------


def _date(value) -> str:
    return value.isoformat() if value else ""


def _json(data, out: IO[str]) -> None:
    json.dump(data, out, ensure_ascii=False, indent=2)
    out.write("\n")


def _delimited(rows: Iterable[dict], fields: Sequence[str], fmt: str, out: IO[str]) -> None:
    if fmt == "tsv":
        # TSV has no quoting: a tab or newline inside a value would break the row.
        rows = [{k: _flat(v) for k, v in row.items()} for row in rows]
        writer = csv.DictWriter(out, fields, delimiter="\t", quoting=csv.QUOTE_NONE,
                                escapechar=None, lineterminator="\n", extrasaction="ignore")
    else:
        writer = csv.DictWriter(out, fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})


def _cell(value) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # CSV and TSV end up `cat`ed to terminals too; JSON keeps the exact text, escaped.
        return inert(value)
    return "" if value is None else value


def _flat(value) -> object:
    return re.sub(r"[\t\r\n]+", " ", value) if isinstance(value, str) else value


def _markdown(headers: Sequence[str], rows: Iterable[Sequence[object]], out: IO[str]) -> None:
    def cell(value: object) -> str:
        text = inert("" if value is None else str(value))
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")

    out.write("| " + " | ".join(headers) + " |\n")
    out.write("|" + "|".join("---" for _ in headers) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(cell(v) for v in row) + " |\n")


# -- history ----------------------------------------------------------------------

EVENT_FIELDS = ("id", "at", "by", "plan", "task", "action", "summary", "undone_by", "undoes")
_ACTION_LABELS = {"note": "进展", "status": "状态", "import": "导入", "undo": "撤销"}


def describe(event: Event) -> str:
    """What one change did, as before → after, in one line of Chinese."""
    before, after = event.before or {}, event.after or {}
    if event.action == "undo":
        undone = dataclasses.replace(
            event, action=event.undoes_action, before=event.after, after=event.before, undoes=None
        )
        return f"撤销 #{event.undoes}：{describe(undone)}"
    if event.action == "note":
        return f"进展：{after['text']}"
    if event.action == "status":
        change = f"状态：{Status(before['status']).label} → {Status(after['status']).label}"
        return f"{change}；说明：{after['text']}" if after.get("text") else change
    if event.action == "import":
        replaced = before["tasks"].values()
        added = sum(1 for old in replaced if old is None)
        new_plan = "，新建计划" if before["plan"] is None else ""
        return f"导入 {after['plan']['source']}：新增 {added} 项，更新 {len(replaced) - added} 项{new_plan}"
    # Actions added by later versions still show, if less nicely.
    return f"{event.action}：{json.dumps(before, ensure_ascii=False)} → {json.dumps(after, ensure_ascii=False)}"


def headline(event: Event) -> str:
    """One change with its number, time, author and place: for undo's preview and messages."""
    where = f"计划 {event.plan}" + (f" 任务 {event.task}" if event.task is not None else "")
    return inert(f"#{event.id}（{event.at}，{event.by}，{where}）{describe(event)}")


def events(items: Sequence[Event], fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        _json([event.to_dict() | {"summary": describe(event)} for event in items], out)
    elif fmt in ("csv", "tsv"):
        _delimited([event.to_dict() | {"summary": describe(event)} for event in items], EVENT_FIELDS, fmt, out)
    elif fmt == "markdown":
        _markdown(
            ("编号", "时间", "记录人", "计划", "任务", "操作", "内容"),
            ((e.id, e.at, e.by, e.plan, e.task, _ACTION_LABELS.get(e.action, e.action), _event_text(e))
             for e in items),
            out,
        )
    elif not items:
        print("没有符合条件的历史记录。", file=sys.stderr)
    else:
        from rich.table import Table

        table = Table(show_lines=True, header_style="bold")
        table.add_column("编号", justify="right", no_wrap=True)
        table.add_column("时间", no_wrap=True)
        table.add_column("记录人", overflow="fold")
        table.add_column("计划", overflow="fold")
        table.add_column("任务", justify="right", no_wrap=True)
        table.add_column("操作", no_wrap=True)
        table.add_column("内容", ratio=1, overflow="fold")
        for e in items:
            table.add_row(
                str(e.id), e.at, _text(e.by), _text(e.plan), "" if e.task is None else str(e.task),
                _ACTION_LABELS.get(e.action, e.action), _text(_event_text(e)),
            )
        _print(out, table)
        _print(out, f"共 {len(items)} 条历史记录", style="dim")


def _event_text(event: Event) -> str:
    text = describe(event)
    return f"{text}（已由 #{event.undone_by} 撤销）" if event.undone_by else text


def undo_preview(event: Event, out: IO[str] | None = None) -> None:
    print(f"将撤销：{headline(event)}", file=out or sys.stdout)


def undone(event: Event, out: IO[str] | None = None) -> None:
    print(f"已{inert(describe(event))}（本次撤销记为 #{event.id}）。", file=out or sys.stdout)


# -- maintenance --------------------------------------------------------------------


def backup_done(path: Path, out: IO[str] | None = None) -> None:
    print(f"已备份到“{inert(str(path))}”。", file=out or sys.stdout)


def check_passed(path: Path, out: IO[str] | None = None) -> None:
    print(f"数据库“{inert(str(path))}”检查通过：完整性检查结果为 ok，没有外键错误。", file=out or sys.stdout)
