"""Writers for every output format. Renderers take records and never query.

`table` is for people (rich); json/csv/tsv/markdown are for scripts and
documents and never contain colour codes. rich is imported only when a table is
actually drawn.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable, Sequence

from .cells import guard
from .errors import UsageError
from .models import Event, ImportPayload, Note, NotePayload, Payload, Plan, StatusPayload, Task, UndoPayload
from .text import inert, inert_line, json_inert, markdown_text

if TYPE_CHECKING:
    from .usecases.maintenance import BackupSummary, Restored

FORMATS = ("table", "json", "csv", "tsv", "markdown")
# A write's confirmation is one line or one JSON object, not a table of rows.
CONFIRMATION_FORMATS = ("table", "json")

TASK_FIELDS = (
    "id", "plan", "group", "content", "units", "lead_unit", "deadline",
    "start", "due", "status", "overdue", "updated_at", "via", "target", "progress",
)
UNIT_FIELDS = ("name", "kind", "aliases", "members", "tasks", "led", "done", "overdue")
PLAN_FIELDS = ("name", "year", "tasks", "imported_at", "source", "default")


def check_format(fmt: str, formats: Sequence[str] = FORMATS) -> str:
    """The format asked for, if the command can write it; the error lists only what it can."""
    value = (fmt or "").strip().lower()
    if value not in formats:
        raise UsageError(f"不支持的输出格式“{fmt}”，可选：{'、'.join(formats)}。")
    return value


def _print(out: IO[str], *renderables, style: str | None = None) -> None:
    from rich.console import Console

    # Never markup or emoji codes: a plan named "[link=…]" or ":x:" is shown as typed,
    # wherever a string reaches rich (titles, cells, lines), not turned into a link or fail.
    renderables = tuple(_text(item) if isinstance(item, str) else item for item in renderables)
    plain = {"highlight": False, "markup": False, "emoji": False}
    if out.isatty():
        Console(file=out, **plain).print(*renderables, style=style)
        return
    # Piped or cron: no colour, a fixed width instead of rich's guess, and no
    # padding spaces at line ends for mail and diffs to carry around.
    width = int(os.environ.get("COLUMNS") or 100)
    console = Console(width=width, no_color=True, color_system=None, **plain)
    with console.capture() as captured:
        console.print(*renderables, style=style)
    out.write("\n".join(line.rstrip() for line in captured.get().split("\n")))


def _say(message: str, out: IO[str] | None = None) -> None:
    """One line of plain output. The whole line is made inert, whatever parts of it the user typed."""
    print(inert_line(message), file=out or sys.stdout)


def _text(value: str):
    from rich.text import Text

    # A Text object is never parsed for [markup], so typed text shows literally.
    return Text(inert(value))


# -- tasks ----------------------------------------------------------------------


def _status_label(task: Task) -> str:
    return f"{task.status.label}·逾期" if task.overdue else task.status.label


def _units_label(task: Task) -> str:
    label = task.lead_unit or ""
    if len(task.units) > 1:
        label = f"{label} 等 {len(task.units)} 家"
    if task.via:
        label += f"\n经“{task.via}”"
    return label


def _progress_label(task: Task) -> str:
    return f"{task.progress}/{task.target}" if task.target else ""


def _units_cell(task: Task) -> str:
    joined = "、".join(task.units)
    return f"{joined}（经“{task.via}”）" if task.via else joined


def _task_row(task: Task) -> dict:
    row = task.to_dict()
    row["units"] = "、".join(task.units)
    return row


def tasks(items: Sequence[Task], fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        write_json([task.to_dict() for task in items], out)
    elif fmt in ("csv", "tsv"):
        _delimited([_task_row(task) for task in items], TASK_FIELDS, fmt, out)
    elif fmt == "markdown":
        write_markdown_table(
            ("序号", "任务名称", "任务内容", "责任单位", "时间节点", "截止日期", "状态"),
            (
                (task.id, task.group, task.content, _units_cell(task), task.deadline,
                 _date(task.due), _status_label(task))
                for task in items
            ),
            out,
        )
    else:
        _task_table(items, out)


def _task_table(items: Sequence[Task], out: IO[str]) -> None:
    if not items:
        _say("没有符合条件的任务。", sys.stderr)
        return
    from rich.table import Table

    table = Table(show_lines=True, header_style="bold")
    table.add_column("序号", justify="right", no_wrap=True)
    table.add_column("任务内容", ratio=3, overflow="fold")
    table.add_column("责任单位", ratio=1, overflow="fold")
    # The deadline is the plan's own wording (“6月底前，并长期坚持”): folded, never cut off.
    table.add_column("时间节点", overflow="fold")
    table.add_column("截止日期", no_wrap=True)
    table.add_column("状态", no_wrap=True)
    # Only plans whose tasks set counts (不少于4次) pay for the extra column.
    with_targets = any(task.target for task in items)
    if with_targets:
        table.add_column("次数", no_wrap=True, justify="right")
    for task in items:
        cells = [
            str(task.id),
            _text(task.content),
            _text(_units_label(task)),
            _text(task.deadline),
            _date(task.due),
            _status_cell(task),
        ]
        if with_targets:
            cells.append(_progress_label(task))
        table.add_row(*cells)
    from rich.text import Text

    _print(out, table, Text(f"共 {len(items)} 项任务", style="dim"))


def _status_cell(task: Task):
    style = "bold red" if task.overdue else {"done": "green", "blocked": "yellow"}.get(task.status.value, "")
    return _styled(_status_label(task), style)


def task_detail(task: Task, fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        write_json(task.to_dict(with_notes=True), out)
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
        *((("目标次数", f"{_progress_label(task)}（已达到）" if task.target_reached else _progress_label(task)),)
          if task.target else ()),
        ("更新时间", task.updated_at),
    ]


def note_text(note: Note) -> str:
    marks = []
    if note.status is not None:
        marks.append(f"［状态改为：{note.status.label}］")
    if note.count:
        marks.append(f"［计 {note.count} 次］")
    return " ".join([*marks, note.text] if note.text else marks)


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
        notes.add_row(_text(note.at), _text(note.by), _text(note_text(note)))
    _print(out, notes)


def _task_markdown(task: Task, out: IO[str]) -> None:
    out.write(f"## 任务 {task.id}\n\n")
    write_markdown_table(("项目", "内容"), _detail_fields(task), out)
    out.write("\n### 进展记录\n\n")
    if task.notes:
        write_markdown_table(("时间", "记录人", "内容"), ((n.at, n.by, note_text(n)) for n in task.notes), out)
    else:
        out.write("暂无进展记录。\n")


# -- notes ------------------------------------------------------------------------


def note_saved(note: Note, fmt: str, out: IO[str] | None = None, *, plan: str | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        write_json(note.to_dict() | {"task": note.task_id} | ({"plan": plan} if plan is not None else {}), out)
        return
    what = f"状态已改为“{note.status.label}”" if note.status else "已记录进展"
    if note.count:
        what += f"，计 {note.count} 次"
    _say(f"{_task_place(plan, note.task_id)}：{what}（记录 #{note.id}，{note.by}，{note.at}）。", out)


def note_ids(ids: Sequence[int]) -> str:
    """#11–#14 for a run of ids, #11 for one, else the first few and 等: never a range that hides a gap."""
    ids = sorted(ids)
    if len(ids) == 1:
        return f"#{ids[0]}"
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"#{ids[0]}–#{ids[-1]}"
    return "、".join(f"#{i}" for i in ids[:5]) + ("等" if len(ids) > 5 else "")


def repeated_notes(notes: Sequence[Note]) -> None:
    """Tell a person on stderr that a retry found its notes stored; stdout stays the original confirmation."""
    again = [note for note in notes if note.repeated]
    if again:
        ids = note_ids([note.id for note in again])
        _say(f"注意：{len(again)} 条进展此前已用同一个键记录（记录 {ids}），本次未重复写入。", sys.stderr)


def empty_batch(source: str) -> None:
    _say(f"“{source}”中没有进展记录，未记录任何内容。", sys.stderr)


def _task_place(plan: str | None, task_id: int) -> str:
    """计划 2023 第 40 项: every write confirmation says which plan it wrote to."""
    return f"计划 {inert(plan)} 第 {task_id} 项" if plan is not None else f"任务 {task_id}"


def notes_saved(notes: Sequence[Note], fmt: str, out: IO[str] | None = None, *, plan: str | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        extra = {"plan": plan} if plan is not None else {}
        write_json([note.to_dict() | {"task": note.task_id} | extra for note in notes], out)
        return
    if not notes:
        return
    where = f"计划 {plan}：" if plan is not None else ""
    new = [note for note in notes if not note.repeated]
    again = len(notes) - len(new)
    stored = f"{again} 条此前已记录，未重复写入" if again else ""
    if not new:
        _say(f"{where}本次没有新的进展记录；{stored}。", out)
        return
    tasks = len({note.task_id for note in new})
    _say(f"{where}已记录 {len(new)} 条进展，涉及 {tasks} 项任务（记录 {note_ids([note.id for note in new])}）"
         + (f"；另有 {stored}。" if again else "。"), out)


def status_unchanged(task_id: int, status, fmt: str, out: IO[str] | None = None, *, plan: str | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        # No note was written, so there is no note object to hand to a script.
        write_json(None, out)
    else:
        _say(f"{_task_place(plan, task_id)}已经是“{status.label}”，未做更改。", out)


# -- reminders ------------------------------------------------------------------------

REMINDER_FIELDS = ("unit", "section", "id", "due", "days_left", "lead_unit", "content", "via")
_ONE_LINE = 40


def _days_phrase(days_left: int) -> str:
    if days_left < 0:
        return f"已逾期 {-days_left} 天"
    return "今天到期" if days_left == 0 else f"还剩 {days_left} 天"


def _one_line(text: str) -> str:
    flat = " ".join(inert(text).split())
    return flat if len(flat) <= _ONE_LINE else flat[: _ONE_LINE - 1] + "…"


def reminder(report, fmt: str, out: IO[str] | None = None) -> None:
    """A message a person would write; nothing at all when there is nothing to say (except JSON)."""
    out = out or sys.stdout
    days = lambda task: (task.due - report.today).days  # noqa: E731
    if fmt == "json":
        def task_dict(task: Task) -> dict:
            return task.to_dict() | {"days_left": days(task)}

        sections = [
            {"unit": section.unit, "overdue": [task_dict(t) for t in section.overdue],
             "due_soon": [task_dict(t) for t in section.due_soon]}
            for section in report.sections
        ]
        data = {"plan": report.plan, "today": report.today.isoformat(), "until": report.until.isoformat()}
        if len(sections) == 1 and sections[0]["unit"] is None:
            data |= {"overdue": sections[0]["overdue"], "due_soon": sections[0]["due_soon"]}
        else:
            data["units"] = sections
        write_json(data, out)
        return
    if report.empty:
        return
    if fmt in ("csv", "tsv"):
        rows = [
            {"unit": section.unit or "", "section": kind, "id": task.id, "due": _date(task.due),
             "days_left": days(task), "lead_unit": task.lead_unit or "", "content": task.content,
             "via": task.via or ""}
            for section in report.sections
            for kind, tasks in (("overdue", section.overdue), ("due_soon", section.due_soon))
            for task in tasks
        ]
        _delimited(rows, REMINDER_FIELDS, fmt, out)
        return
    markdown = fmt == "markdown"
    # Every stored value in this message passes through `shown`, escaped for the format.
    shown = markdown_text if markdown else inert_line
    heading = f"政务公开任务提醒（计划 {shown(report.plan)}，{report.today.isoformat()}）"
    lines = [f"# {heading}" if markdown else heading]
    for section in report.sections:
        if not (section.overdue or section.due_soon):
            continue
        if section.unit:
            lines += ["", f"## {shown(section.unit)}" if markdown else f"【{shown(section.unit)}】"]
        for title, tasks in (
            (f"已逾期 {len(section.overdue)} 项", section.overdue),
            (f"{report.until.isoformat()} 前到期 {len(section.due_soon)} 项", section.due_soon),
        ):
            if not tasks:
                continue
            lines += ["", f"**{title}：**" if markdown else f"{title}："]
            for task in tasks:
                # The group that brought the task in, unless it is already named as the lead.
                via = f" · 经“{shown(task.via)}”" if task.via and task.via != task.lead_unit else ""
                lines.append(
                    f"{'-' if markdown else '  ·'} [{task.id}] {_date(task.due)} {_days_phrase(days(task))}"
                    f" · 牵头：{shown(task.lead_unit or '')}{via} · {shown(_one_line(task.content))}"
                )
    out.write("\n".join(lines) + "\n")


# -- summary ------------------------------------------------------------------------

_BREAKDOWN_HEADERS = {"unit": "单位", "group": "任务名称", "month": "截止月份"}
_BAR_WIDTH = 20


def _text_bar(percent: float) -> str:
    filled = round(_BAR_WIDTH * percent / 100)
    return "█" * filled + "░" * (_BAR_WIDTH - filled)


def summary(result, fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    key = result.by
    if key:
        rows = [
            {key: row.key, "total": row.total, "done": row.done, "overdue": row.overdue,
             "done_percent": row.done_percent}
            for row in result.rows
        ]
        fields = (key, "total", "done", "overdue", "done_percent")
        if fmt == "json":
            write_json(rows, out)
        elif fmt in ("csv", "tsv"):
            _delimited(rows, fields, fmt, out)
        elif fmt == "markdown":
            write_markdown_table((_BREAKDOWN_HEADERS[key], "任务数", "已完成", "逾期", "完成率"),
                      ((r.key, r.total, r.done, r.overdue, f"{r.done_percent}%") for r in result.rows), out)
        else:
            _breakdown_table(result, out)
        return
    if fmt == "json":
        write_json(result.to_dict(), out)
        return
    lines = [
        ("任务总数", str(result.total)),
        *((status.label, str(result.status[status])) for status in result.status),
        ("完成率", f"{result.done_percent}%"),
        ("已逾期", str(result.overdue)),
        ("30 天内到期", str(result.due_soon)),
    ]
    if fmt in ("csv", "tsv"):
        data = result.to_dict()
        flat = {"plan": data["plan"], "total": data["total"], **data["status"],
                "done_percent": data["done_percent"], "overdue": data["overdue"], "due_soon": data["due_soon"],
                "target_reached": " ".join(str(i) for i in data["target_reached"])}
        _delimited([flat], tuple(flat), fmt, out)
    elif fmt == "markdown":
        out.write(f"## 计划 {markdown_text(result.plan)} 进度（{result.today.isoformat()}）\n\n")
        write_markdown_table(("项目", "数值"), lines, out)
        if hint := _target_hint(result):
            out.write(f"\n{hint}\n")
    else:
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(justify="right")
        for label, value in lines:
            grid.add_row(label, value)
        _print(out, f"计划 {result.plan} 进度（{result.today.isoformat()}）", style="bold")
        _print(out, grid)
        _print(out, f"{_text_bar(result.done_percent)} {result.done_percent}%")
        if hint := _target_hint(result):
            _print(out, hint, style="yellow")


def _target_hint(result) -> str:
    if not result.target_reached:
        return ""
    tasks = "、".join(f"任务 {t.id}（{t.progress}/{t.target}）" for t in result.target_reached)
    return f"已达到目标次数但尚未标记完成：{tasks}。确认后可用 gongkai status ID done 标记完成。"


def _breakdown_table(result, out: IO[str]) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title=_text(f"计划 {result.plan} 进度（{result.today.isoformat()}）"))
    table.add_column(_BREAKDOWN_HEADERS[result.by], overflow="fold")
    for header in ("任务数", "已完成", "逾期"):
        table.add_column(header, justify="right")
    table.add_column("完成率", no_wrap=True)
    for row in result.rows:
        overdue = _styled(str(row.overdue), "bold red" if row.overdue else "")
        table.add_row(_text(row.key), str(row.total), str(row.done), overdue,
                      f"{_text_bar(row.done_percent)} {row.done_percent:>5}%")
    _print(out, table)


def _styled(value: str, style: str):
    from rich.text import Text

    return Text(value, style=style)


# -- units ------------------------------------------------------------------------


def _kind_label(kind: str) -> str:
    from .units import KIND_LABELS

    return KIND_LABELS.get(kind, kind)


def units(items, fmt: str, out: IO[str] | None = None, *, source: str = "") -> None:
    out = out or sys.stdout
    if fmt == "json":
        write_json([item.to_dict() for item in items], out)
        return
    if fmt in ("csv", "tsv"):
        rows = [item.to_dict() | {"aliases": "、".join(item.aliases), "members": "、".join(item.members)}
                for item in items]
        _delimited(rows, UNIT_FIELDS, fmt, out)
        return
    headers = ("单位", "类型", "别名", "任务数", "牵头", "已完成", "逾期")
    rows = [
        (item.name, _kind_label(item.kind), "、".join(item.aliases), item.tasks, item.led, item.done, item.overdue)
        for item in items
    ]
    if fmt == "markdown":
        write_markdown_table(headers, rows, out)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    # Folded, not cut to “区人力资源社会保…”: these are the names a clerk types for --unit.
    for header in headers:
        table.add_column(header, justify="right" if header in ("任务数", "牵头", "已完成", "逾期") else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*(_text(str(cell)) for cell in row))
    _print(out, table)
    _print(out, f"共 {len(items)} 个单位；单位数据：{source}", style="dim")


def unit_tree(items, fmt: str, out: IO[str] | None = None) -> None:
    """Groups with their members; vague groups (no members) are listed as such."""
    out = out or sys.stdout
    groups = [item for item in items if item.kind == "group"]
    if fmt == "json":
        write_json([{"name": g.name, "members": list(g.members)} for g in groups], out)
        return
    if fmt in ("csv", "tsv", "markdown"):
        rows = [{"group": g.name, "member": m} for g in groups for m in g.members or ("",)]
        if fmt == "markdown":
            write_markdown_table(("集合", "成员"), ((r["group"], r["member"]) for r in rows), out)
        else:
            _delimited(rows, ("group", "member"), fmt, out)
        return
    from rich.tree import Tree

    root = Tree("责任单位集合")
    for group in groups:
        branch = root.add(_text(group.name))
        if not group.members:
            branch.add("（泛指，不展开）", style="dim")
        for member in group.members:
            branch.add(_text(member))
    _print(out, root)


# -- plans ------------------------------------------------------------------------


def plans(items: Sequence[Plan], fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    headers = ("计划", "年度", "任务数", "最近导入", "来源文件", "默认")
    if fmt == "json":
        write_json([plan.to_dict() for plan in items], out)
    elif fmt in ("csv", "tsv"):
        _delimited([plan.to_dict() for plan in items], PLAN_FIELDS, fmt, out)
    elif fmt == "markdown":
        write_markdown_table(
            headers, ((p.name, p.year, p.tasks, p.imported_at, p.source, p.default_label) for p in items), out
        )
    elif not items:
        _say("台账中还没有任何计划。", sys.stderr)
    else:
        from rich.table import Table

        table = Table(header_style="bold")
        for header in headers:
            table.add_column(header, overflow="fold")
        for plan in items:
            table.add_row(_text(plan.name), str(plan.year), str(plan.tasks), _text(plan.imported_at), _text(plan.source),
                          plan.default_label)
        _print(out, table)
        print("默认计划：今年（北京时间）的计划，没有时为最新的计划；用 --plan 或环境变量 GONGKAI_PLAN 选用其他计划。",
              file=out)


# -- shared writers ---------------------------------------------------------------


def _date(value) -> str:
    return value.isoformat() if value else ""


def write_json(data, out: IO[str]) -> None:
    """Indented for a person at a terminal; one compact line for pipes and files.

    The keys are the contract, not the layout, and the compact form goes through
    json's C encoder: for the 1,970 units of a city it is the difference between
    a few milliseconds and most of the command's run time.
    """
    # json escapes only C0 controls; json_inert gives C1, bidi and the rest \\uXXXX escapes
    # too, which a parser reads back as the very same text.
    if out.isatty():
        out.write(json_inert(json.dumps(data, ensure_ascii=False, indent=2)))
    else:
        out.write(json_inert(json.dumps(data, ensure_ascii=False)))
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
        # CSV and TSV end up `cat`ed to terminals too, and opened in spreadsheets that
        # would run "=…" as a formula; JSON keeps the exact text, escaped.
        return guard(inert(value))
    return "" if value is None else value


def _flat(value) -> object:
    return re.sub(r"[\t\r\n]+", " ", value) if isinstance(value, str) else value


def write_markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], out: IO[str]) -> None:
    out.write("| " + " | ".join(headers) + " |\n")
    out.write("|" + "|".join("---" for _ in headers) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(markdown_text(v) for v in row) + " |\n")


# -- history ----------------------------------------------------------------------

EVENT_FIELDS = ("id", "at", "by", "plan", "task", "action", "summary", "undone_by", "undoes")
_ACTION_LABELS = {"note": "进展", "status": "状态", "import": "导入", "undo": "撤销"}


def describe(event: Event) -> str:
    """What one change did, as before → after, in one line of Chinese."""
    return _described(event.payload)


def _described(payload: Payload) -> str:
    if isinstance(payload, UndoPayload):
        return f"撤销 #{payload.undoes}：{_described(payload.undone)}"
    if isinstance(payload, (NotePayload, StatusPayload)):
        counted = f"（计 {payload.count} 次）" if payload.count else ""
        if isinstance(payload, NotePayload):
            return f"进展：{payload.text}{counted}"
        change = f"状态：{payload.before.label} → {payload.after.label}"
        return f"{change}；说明：{payload.text}{counted}" if payload.text else change + counted
    if isinstance(payload, ImportPayload):
        new_plan = "，新建计划" if payload.new_plan else ""
        return f"导入 {payload.source}：新增 {payload.added} 项，更新 {payload.updated} 项{new_plan}"
    # Actions added by later versions still show, if less nicely.
    before, after = (json.dumps(side, ensure_ascii=False) for side in (payload.before, payload.after))
    return f"{payload.action}：{before} → {after}"


def headline(event: Event) -> str:
    """One change with its number, time, author and place: for undo's preview and messages."""
    where = f"计划 {event.plan}" + (f" 第 {event.task} 项" if event.task is not None else "")
    return inert_line(f"#{event.id}（{event.at}，{event.by}，{where}）{describe(event)}")


def events(items: Sequence[Event], fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        write_json([event.to_dict() | {"summary": describe(event)} for event in items], out)
    elif fmt in ("csv", "tsv"):
        _delimited([event.to_dict() | {"summary": describe(event)} for event in items], EVENT_FIELDS, fmt, out)
    elif fmt == "markdown":
        write_markdown_table(
            ("编号", "时间", "记录人", "计划", "任务", "操作", "内容"),
            ((e.id, e.at, e.by, e.plan, e.task, _ACTION_LABELS.get(e.action, e.action), _event_text(e))
             for e in items),
            out,
        )
    elif not items:
        _say("没有符合条件的历史记录。", sys.stderr)
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
                str(e.id), _text(e.at), _text(e.by), _text(e.plan), "" if e.task is None else str(e.task),
                _text(_ACTION_LABELS.get(e.action, e.action)), _text(_event_text(e)),
            )
        _print(out, table)
        _print(out, f"共 {len(items)} 条历史记录", style="dim")


def _event_text(event: Event) -> str:
    text = describe(event)
    return f"{text}（已由 #{event.undone_by} 撤销）" if event.undone_by else text


def undo_preview(event: Event, out: IO[str] | None = None) -> None:
    _say(f"将撤销：{headline(event)}", out)


def undone(event: Event, out: IO[str] | None = None) -> None:
    place = f"计划 {event.plan}" + (f" 第 {event.task} 项" if event.task is not None else "")
    _say(f"{place}：已{describe(event)}（本次撤销记为 #{event.id}）。", out)



def already_undone(event: Event, out: IO[str] | None = None) -> None:
    _say(f"更改 #{event.id} 已由 #{event.undone_by} 撤销，本次未做任何更改。", out)


# -- maintenance --------------------------------------------------------------------


def backup_done(path: Path, out: IO[str] | None = None) -> None:
    _say(f"已备份到“{path}”。", out)


def backup_headline(summary: BackupSummary) -> str:
    newest = f"，最新进展记于 {summary.newest_note}" if summary.newest_note else ""
    return f"备份“{summary.path}”（{summary.tasks} 项任务、{summary.notes} 条进展{newest}）"


def restore_preview(summary: BackupSummary, database: Path, out: IO[str] | None = None) -> None:
    _say(f"将用{backup_headline(summary)}替换数据库“{database}”；当前数据库会先另存一份。", out)


def restored(result: Restored, out: IO[str] | None = None) -> None:
    _say(f"已用{backup_headline(result.backup)}恢复数据库“{result.database}”；"
         f"被替换的数据库已另存为“{result.aside}”。", out)


def check_passed(path: Path, out: IO[str] | None = None) -> None:
    _say(f"数据库“{path}”检查通过：完整性检查结果为 ok，没有外键错误，文字和历史记录都可以读取。", out)
