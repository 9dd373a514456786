"""What each command prints: it picks columns (columns.py) and hands records to the writers.

`table` is for people (rich); json/csv/tsv/markdown are for scripts and
documents and never contain colour codes. Renderers take records and never
query; rich is imported only when a table is actually drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..domain.records import Event, Note, Plan, Task
from ..domain.statuses import Status
from ..domain.text import inert, inert_line, markdown_text
from .columns import (
    ASSIGNMENT,
    ASSIGNMENT_DETAIL_JSON,
    ASSIGNMENT_TABLE,
    CONTACT,
    EVENT_JSON,
    EVENT_SCRIPT,
    EVENT_TABLE,
    GROUP_JSON,
    GROUP_MEMBER,
    NOTE,
    NOTE_JSON,
    PLAN_ALL,
    REMINDER,
    SUMMARY,
    SUMMARY_LINES,
    TASK,
    TASK_ASSIGNMENT_SCRIPT,
    TASK_JSON,
    TASK_MARKDOWN,
    TASK_SCRIPT,
    TASK_TABLE,
    UNIT_ALL,
    UNIT_TABLE,
    Column,
    ReminderRow,
    breakdown,
    describe,
    pick,
    progress_label,
    text_bar,
    unit_progress_label,
)
from .writers import (
    Layout,
    json_object,
    json_objects,
    print_rich,
    text,
    write,
    write_batches,
    write_card,
    write_delimited,
    write_json,
    write_markdown,
    write_table,
)

if TYPE_CHECKING:
    from ..domain.figures import Summary
    from ..store import Database
    from ..usecases.copying import Copied
    from ..usecases.maintenance import BackupSummary, Restored
    from ..usecases.plans import ImportResult
    from ..usecases.queries import ReminderReport, UnitSummary
    from ..usecases.unit_sheets import SheetResult

def _say(message: str, out: IO[str] | None = None) -> None:
    """One line of plain output. The whole line is made inert, whatever parts of it the user typed."""
    print(inert_line(message), file=out or sys.stdout)


# -- tasks ----------------------------------------------------------------------

TASKS = Layout(json=TASK_JSON, script=TASK_SCRIPT, markdown=TASK_MARKDOWN, table=TASK_TABLE)


def _listing(layout: Layout, items: Sequence[object], fmt: str, out: IO[str] | None, *, empty: str, footer: str) -> None:
    """Rows in any format; a person reading a table is told on stderr when there are none."""
    if fmt == "table" and not items:
        _say(empty, sys.stderr)
        return
    write(layout, items, fmt, out or sys.stdout, show_lines=True, footer=footer)


def tasks(items: Sequence[Task], fmt: str, out: IO[str] | None = None) -> None:
    layout = TASKS
    if any(task.assignment is not None for task in items):
        # A one-unit listing: its unit's own part, which JSON nests in `assignment`.
        layout = layout._replace(script=(*layout.script, *TASK_ASSIGNMENT_SCRIPT))
    if any(task.target for task in items):
        # Only plans whose tasks set counts (不少于4次) pay for the extra column.
        layout = layout._replace(table=(*layout.table, TASK["progress"]))
    _listing(layout, items, fmt, out, empty="没有符合条件的任务。", footer=f"共 {len(items)} 项任务")


# A task on its own: its fields as 项目/内容 lines, then its notes.
DETAIL = (
    TASK["plan"],
    TASK["group"],
    TASK["content"],
    Column("units", "责任单位", lambda t: "、".join(
        f"{unit}（牵头）" if position == 0 else unit for position, unit in enumerate(t.units))),
    Column("planned_units", "原责任单位", lambda t: "、".join(t.planned_units)),
    Column("source", "来源", lambda t: f"公开办新增（{t.source}）"),
    Column("key_task", "重点任务", lambda t: "是"),
    Column("deadline", "时间节点", lambda t: _adjusted(t.deadline, t.planned and t.planned.deadline)),
    Column("due", "截止日期", lambda t: _adjusted(_span(t.start, t.due), t.planned and _span(t.planned.start, t.planned.due))),
    Column("dropped", "已删除", lambda t: f"已于 {t.dropped_at} 删除，不再出现在清单中（可用 gongkai undo 撤销删除）"),
    TASK["listed_status"],
    Column("unit_progress", "单位完成情况", unit_progress_label),
    Column("target", "目标次数", lambda t: _target_line(t) + ("（已达到）" if t.target_reached else "")),
    TASK["updated_at"],
)
DETAIL_NOTES = pick(NOTE, "at", "by", "text")


def _span(start: date | None, due: date | None) -> str:
    return (f"{_date(start)} 至 {_date(due)}" if start else _date(due)) or "（无法识别）"


def _adjusted(now: str, planned: str | None) -> str:
    """A task's field as the office changed it, with the plan table's beside it."""
    return now if planned is None or planned == now else f"{now}（调整过，原为 {planned}）"


def _target_line(task: Task) -> str:
    if len(task.assignments) <= 1:
        return progress_label(task)
    return f"{task.task_progress}/{task.target}（任务整体的记录；各单位自己的次数见下表）"


def task_detail(task: Task, fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    # 目标次数 only on tasks whose plan sets a count; 单位完成情况 only with several units.
    shown = {"target": bool(task.target), "unit_progress": len(task.assignments) > 1,
             "planned_units": task.planned_units != task.units, "source": task.source is not None,
             "dropped": task.dropped_at is not None, "key_task": task.key_task}
    fields = [field for field in DETAIL if shown.get(field.key, True)]
    write_card(fields, task, fmt, out, heading=f"任务 {task.id}", labels=("项目", "内容"), data=task_json(task),
               script=TASK_SCRIPT)
    notes = task.task_notes if task.assignments else task.notes
    title = "进展记录（任务整体）" if task.assignments else "进展记录"
    empty = "暂无任务整体的进展记录。" if task.assignments else "暂无进展记录。"
    # 次数 only on tasks whose plan sets a count, as in the listings.
    columns = (*ASSIGNMENT_TABLE, ASSIGNMENT["progress"]) if task.target else ASSIGNMENT_TABLE
    if fmt == "markdown":
        if task.assignments:
            out.write(f"\n### 各单位进展（{unit_progress_label(task)}）\n\n")
            write_markdown(_with_overdue(columns), task.assignments, out)
        out.write(f"\n### {title}\n\n")
        if notes:
            write_markdown(DETAIL_NOTES, notes, out)
        else:
            out.write(f"{empty}\n")
    elif fmt == "table":
        if task.assignments:
            write_table(columns, task.assignments, out, title=f"各单位进展（{unit_progress_label(task)}）",
                        show_lines=False)
        if notes:
            write_table(DETAIL_NOTES, notes, out, title=title, show_lines=True)
        else:
            print_rich(out, empty, style="dim")


def _with_overdue(columns: Sequence[Column]) -> tuple[Column, ...]:
    """Markdown shows a column's text, the table its cell: the status with ·逾期 in both."""
    return tuple(column._replace(text=column.cell) if column.key == "status" else column for column in columns)


def task_json(task: Task) -> dict[str, object]:
    """A task with its notes: `show --format json` and each task of `export --format json`.

    With its assignments loaded (`show`), `notes` holds the task-level notes and each
    assignment its own; otherwise `notes` holds every note, each saying its unit.
    """
    if not task.assignments:
        return json_object(TASK_JSON, task) | {"notes": json_objects(NOTE_JSON, task.notes)}
    return json_object(TASK_JSON, task) | {
        "notes": json_objects(NOTE_JSON, task.task_notes),
        "assignments": [
            json_object(ASSIGNMENT_DETAIL_JSON, assignment) | {"notes": json_objects(NOTE_JSON, assignment.notes)}
            for assignment in task.assignments
        ],
    }


# -- notes ------------------------------------------------------------------------


def note_saved(note: Note, fmt: str, out: IO[str] | None = None, *, plan: str | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        write_json(_note_json(note, plan), out)
        return
    what = f"状态已改为“{note.status.label}”" if note.status else "已记录进展"
    if note.count:
        what += f"，计 {note.count} 次"
    place = _task_place(plan, note.task_id) + (f"（{note.unit}）" if note.unit else "")
    _say(f"{place}：{what}（更改 #{note.change}，{note.by}，{note.at}）。", out)


def _note_json(note: Note, plan: str | None) -> dict[str, object]:
    return (json_object(NOTE_JSON, note) | {"task": note.task_id} | ({"plan": plan} if plan is not None else {})
            | ({"all": True} if note.all_units else {}) | ({"change": note.change} if note.change is not None else {}))


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
        ids = note_ids([note.change for note in again if note.change is not None])
        _say(f"注意：{len(again)} 条进展此前已用同一个键记录（更改 {ids}），本次未重复写入。", sys.stderr)


def empty_batch(source: str) -> None:
    _say(f"“{source}”中没有进展记录，未记录任何内容。", sys.stderr)


def _task_place(plan: str | None, task_id: int) -> str:
    """计划 2023 第 40 项: every write confirmation says which plan it wrote to."""
    return f"计划 {inert(plan)} 第 {task_id} 项" if plan is not None else f"任务 {task_id}"


def notes_saved(notes: Sequence[Note], fmt: str, out: IO[str] | None = None, *, plan: str | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        write_json([_note_json(note, plan) for note in notes], out)
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
    _say(f"{where}已记录 {len(new)} 条进展，涉及 {tasks} 项任务（更改 {note_ids([note.change for note in new if note.change is not None])}）"
         + (f"；另有 {stored}。" if again else "。"), out)


def status_unchanged(
    task_id: int, status: Status, fmt: str, out: IO[str] | None = None, *, plan: str | None = None,
    unit: str | None = None,
) -> None:
    out = out or sys.stdout
    if fmt == "json":
        # No note was written, so there is no note object to hand to a script.
        write_json(None, out)
    else:
        _say(f"{_task_place(plan, task_id)}{f'（{unit}）' if unit else ''}已经是“{status.label}”，未做更改。", out)


# -- reminders ------------------------------------------------------------------------

_ONE_LINE = 40


def _days_phrase(days_left: int) -> str:
    if days_left < 0:
        return f"已逾期 {-days_left} 天"
    return "今天到期" if days_left == 0 else f"还剩 {days_left} 天"


def _one_line(text: str) -> str:
    flat = " ".join(inert(text).split())
    return flat if len(flat) <= _ONE_LINE else flat[: _ONE_LINE - 1] + "…"


def reminder(report: ReminderReport, fmt: str, out: IO[str] | None = None) -> None:
    """A message a person would write; nothing at all when there is nothing to say (except JSON)."""
    out = out or sys.stdout

    def days(task: Task) -> int:
        # remind asks the store for tasks with a due date only (overdue or due soon).
        assert task.due is not None
        return (task.due - report.today).days

    if fmt == "json":
        def task_dict(task: Task) -> dict[str, object]:
            return json_object(TASK_JSON, task) | {"days_left": days(task)}

        sections: list[dict[str, object]] = [
            {"unit": section.unit, "vague": section.vague, "overdue": [task_dict(t) for t in section.overdue],
             "due_soon": [task_dict(t) for t in section.due_soon]}
            for section in report.sections
        ]
        data: dict[str, object] = {"plan": report.plan, "today": report.today.isoformat(), "until": report.until.isoformat()}
        if len(sections) == 1 and sections[0]["unit"] is None and not sections[0]["vague"]:
            data |= {"overdue": sections[0]["overdue"], "due_soon": sections[0]["due_soon"]}
        else:
            data["units"] = sections
        write_json(data, out)
        return
    if report.empty:
        return
    if fmt in ("csv", "tsv"):
        rows = [
            ReminderRow(section.unit, kind, task, days(task))
            for section in report.sections
            for kind, tasks in (("overdue", section.overdue), ("due_soon", section.due_soon))
            for task in tasks
        ]
        write_delimited(REMINDER, rows, out, tsv=fmt == "tsv")
        return
    markdown = fmt == "markdown"
    # Every stored value in this message passes through `shown`, escaped for the format.
    shown = markdown_text if markdown else inert_line
    heading = f"政务公开任务提醒（计划 {shown(report.plan)}，{report.today.isoformat()}）"
    lines = [f"# {heading}" if markdown else heading]
    for section in report.sections:
        if not (section.overdue or section.due_soon):
            continue
        if section.vague:
            title = "待指定单位：以下任务含有泛指的单位（如“各相关部门”），须由公开办用 gongkai assign 落实到具体单位"
            lines += ["", f"## {title}" if markdown else f"【{title}】"]
        elif section.unit:
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
                if section.vague:
                    # A vague section is built from open assignments: each task carries its own.
                    assert task.assignment is not None
                    via = f" · 写明：{shown(task.assignment.unit)}"
                lines.append(
                    f"{'-' if markdown else '  ·'} [{task.id}] {_date(task.due)} {_days_phrase(days(task))}"
                    f" · 牵头：{shown(task.lead_unit or '')}{via} · {shown(_one_line(task.content))}"
                )
    out.write("\n".join(lines) + "\n")


# -- summary ------------------------------------------------------------------------


def summary(result: Summary, fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    title = f"计划 {result.plan} 进度（{result.today.isoformat()}）"
    if result.by:
        columns = breakdown(result.by)
        write(Layout(columns, columns, columns, columns), result.rows, fmt, out, title=text(title))
        return
    write_card(SUMMARY_LINES, result, fmt, out, heading=title, labels=("项目", "数值"), data=result.to_dict(),
               script=SUMMARY, justify="right")
    hint = _target_hint(result)
    if fmt == "markdown" and hint:
        out.write(f"\n{hint}\n")
    elif fmt == "table":
        print_rich(out, f"{text_bar(result.done_percent)} {result.done_percent}%")
        if hint:
            print_rich(out, hint, style="yellow")


def _by_units(task: Task) -> bool:
    """Reached through every unit's own count, not the task's as a whole."""
    return len(task.assignments) > 1 and task.target is not None and task.task_progress < task.target


def _target_hint(result: Summary) -> str:
    if not result.target_reached:
        return ""
    tasks = "、".join(
        f"任务 {t.id}（{'各单位均已达到' if _by_units(t) else f'{t.task_progress or t.progress}/{t.target}'}）"
        for t in result.target_reached
    )
    how = "gongkai status ID done"
    if any(len(t.assignments) > 1 for t in result.target_reached):
        # Without a unit, `status` refuses a task with several: say how the office closes one.
        how += "（有多个责任单位的任务加 --all 一并标记，或用 --unit 指明单位）"
    return f"已达到目标次数但尚未标记完成：{tasks}。确认后可用 {how} 标记完成。"


# -- units ------------------------------------------------------------------------

UNITS = Layout(json=UNIT_ALL, script=UNIT_ALL, markdown=UNIT_TABLE, table=UNIT_TABLE)
GROUPS = Layout(json=GROUP_JSON, script=GROUP_MEMBER, markdown=GROUP_MEMBER, table=GROUP_MEMBER)


def units(items: Sequence[UnitSummary], fmt: str, out: IO[str] | None = None, *, source: str = "") -> None:
    out = out or sys.stdout
    write(UNITS, items, fmt, out)
    if fmt == "table":
        print_rich(out, f"共 {len(items)} 个单位；单位数据：{source}", style="dim")


def contacts(items: Sequence[object], fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    write(Layout(CONTACT, CONTACT, CONTACT, CONTACT), items, fmt, out, title=text("各单位联系邮箱"))
    if fmt == "table" and not items:
        print_rich(out, "还没有登记任何单位的联系邮箱；用 gongkai contacts set 单位 邮箱 登记。", style="dim")


def unit_tree(items: Sequence[UnitSummary], fmt: str, out: IO[str] | None = None) -> None:
    """Groups with their members; vague groups (no members) are listed as such."""
    out = out or sys.stdout
    groups = [item for item in items if item.kind == "group"]
    if fmt != "table":
        # One row per member in tables for scripts and documents; a vague group gets one empty member.
        rows = groups if fmt == "json" else [(g.name, m) for g in groups for m in g.members or ("",)]
        write(GROUPS, rows, fmt, out)
        return
    from rich.tree import Tree

    root = Tree("责任单位集合")
    for group in groups:
        branch = root.add(text(group.name))
        if not group.members:
            branch.add("（泛指，不展开）", style="dim")
        for member in group.members:
            branch.add(text(member))
    print_rich(out, root)


# -- plans ------------------------------------------------------------------------

PLANS = Layout(PLAN_ALL, PLAN_ALL, PLAN_ALL, PLAN_ALL)


def plans(items: Sequence[Plan], fmt: str, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "table" and not items:
        _say("台账中还没有任何计划。", sys.stderr)
        return
    write(PLANS, items, fmt, out)
    if fmt == "table":
        print("默认计划：今年（北京时间）的计划，没有时为最新的计划；用 --plan 或环境变量 GONGKAI_PLAN 选用其他计划。",
              file=out)


def _date(value: date | None) -> str:
    return value.isoformat() if value else ""


# -- history ----------------------------------------------------------------------



def headline(event: Event) -> str:
    """One change with its number, time, author and place: for undo's preview and messages."""
    where = f"计划 {event.plan}" + (f" 第 {event.task} 项" if event.task is not None else "")
    return inert_line(f"#{event.id}（{event.at}，{event.by}，{where}）{describe(event)}")


EVENTS = Layout(json=EVENT_JSON, script=EVENT_SCRIPT, markdown=EVENT_TABLE, table=EVENT_TABLE)


def events(items: Sequence[Event], fmt: str, out: IO[str] | None = None) -> None:
    event_batches([items], fmt, out)


def event_batches(batches: Iterable[Sequence[Event]], fmt: str, out: IO[str] | None = None, *,
                  latest: int | None = None) -> int:
    """Changes as they are read, a batch at a time; `latest`: only the newest that many were
    asked for, and a table says so when that is where it stopped. The count written."""

    def footer(count: int) -> str:
        if latest is not None and count == latest:
            return f"显示最近 {count} 条历史记录；全部历史用 --all，或用 --limit 指定条数"
        return f"共 {count} 条历史记录"

    count = write_batches(EVENTS, batches, fmt, out or sys.stdout, show_lines=True, footer=footer)
    if fmt == "table" and not count:
        _say("没有符合条件的历史记录。", sys.stderr)
    return count


def assignment_changed(event: Event, fmt: str = "table", out: IO[str] | None = None) -> None:
    if fmt == "json":
        write_json(json_object(EVENT_JSON, event), out or sys.stdout)
        return
    # The store records every assign and unassign with the task's status after it.
    assert event.after is not None
    status = event.after["status"]
    from ..domain.statuses import Status

    _say(f"计划 {event.plan} 第 {event.task} 项：已{describe(event)}；任务状态为“{Status(status).label}”"
         f"（历史记录 #{event.id}，可用 gongkai undo 撤销）。", out)


def task_changed(event: Event, fmt: str = "table", out: IO[str] | None = None) -> None:
    """`task add / edit / drop`: the change made, with its history number."""
    if fmt == "json":
        write_json(json_object(EVENT_JSON, event), out or sys.stdout)
        return
    _say(f"计划 {event.plan} 第 {event.task} 项：{describe(event)}（历史记录 #{event.id}，可用 gongkai undo 撤销）。", out)


def undo_preview(event: Event, out: IO[str] | None = None) -> None:
    together = f"，连同批次 #{event.batch} 中同时写入的其他更改" if event.batch is not None else ""
    _say(f"将撤销：{headline(event)}{together}", out)


def undone(step: Sequence[Event], out: IO[str] | None = None) -> None:
    """The undo events of one step: one change, or a batch (the newest change's first)."""
    if len(step) == 1:
        (event,) = step
        place = f"计划 {event.plan}" + (f" 第 {event.task} 项" if event.task is not None else "")
        _say(f"{place}：已{describe(event)}（本次撤销记为 #{event.id}）。", out)
        return
    changes = note_ids([event.undoes for event in step if event.undoes is not None])
    _say(f"计划 {step[0].plan}：已撤销同一批写入的 {len(step)} 项更改 {changes}"
         f"（本次撤销记为 {note_ids([event.id for event in step])}）。", out)



def already_undone(event: Event, out: IO[str] | None = None) -> None:
    _say(f"更改 #{event.id} 已由 #{event.undone_by} 撤销，本次未做任何更改。", out)


# -- maintenance --------------------------------------------------------------------


# -- import -----------------------------------------------------------------------

_WHY_DEFAULT = {"current_year": "今年的计划", "newest": "没有今年的计划，它是最新的"}


def _line(message: str, *, err: bool = False) -> None:
    """One line of `import`'s report, flushed at once: its stdout and stderr lines keep their
    order in one pipe."""
    print(inert_line(message), file=sys.stderr if err else sys.stdout, flush=True)


def plan_imported(result: ImportResult, *, made: Database | None) -> None:
    """A plan table's import; `made`: the ledger the import created, holding only this plan."""
    for warning in result.warnings:
        _line(f"警告：{warning}", err=True)
    if made is not None:
        _line(f"已新建台账“{made}”，其中只有本次导入的计划。")
    counts = result.counts
    _line(
        f"已导入计划“{result.plan}”（{result.year} 年，来自 {result.source}）：共 {result.tasks} 项，"
        f"新增 {counts.added}，更新 {counts.updated}，未变 {counts.unchanged}。"
    )
    why = _WHY_DEFAULT.get(result.default.default or "", "")
    if result.default.name == result.plan:
        _line(f"计划“{result.plan}”现在是默认计划（{why}）。")
    else:
        _line(f"默认计划仍是“{result.default.name}”（{why}）；操作这份计划请加 --plan {result.plan}。")
    if counts.kept:
        kept = "、".join(str(task_id) for task_id in counts.kept)
        _line(f"注意：台账中序号 {kept} 的任务不在此文件中，已原样保留。", err=True)


def sheet_imported(result: SheetResult) -> None:
    """A unit sheet taken back: the rows applied, on stdout, and the conflicts, on stderr."""
    from .columns import latest_words

    _line(
        f"已导入“{result.source}”中各单位填写的进展（计划“{result.plan}”，{result.rows} 行）：更新 {len(result.applied)} 行，"
        f"未变 {result.unchanged} 行，冲突 {len(result.conflicts)} 行。"
    )
    for change in result.applied:
        parts = []
        if change.after is not None:
            parts.append(f"状态 {change.before.label} → {change.after.label}")
        if change.text:
            parts.append(f"新进展“{_quoted(change.text)}”")
        _line(f"  第 {change.line} 行 任务 {change.task_id} {change.unit}：{'；'.join(parts)}")
    for conflict in result.conflicts:
        now = conflict.now
        latest = latest_words(now)
        ledger_side = f"“{now.status.label}”" + (f"、最新进展“{_quoted(latest.text)}”（{latest.at[:16].replace('T', ' ')}）" if latest else "")
        asked = f"“{conflict.asked.label}”" + (f"、最新进展“{_quoted(conflict.text)}”" if conflict.text else "")
        _line(
            f"冲突：第 {conflict.line} 行 任务 {conflict.task_id} {conflict.unit}：导出后台账中已有更新（现为{ledger_side}），"
            f"表格中为{asked}；未导入这一行，台账保持不变。",
            err=True,
        )


def _quoted(text: str, limit: int = 30) -> str:
    """A note quoted on one line of the report: enough to recognise it."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def backup_done(path: Path, out: IO[str] | None = None) -> None:
    _say(f"已备份到“{path}”。", out)


def backup_headline(summary: BackupSummary) -> str:
    newest = f"，最新进展记于 {summary.newest_note}" if summary.newest_note else ""
    return f"备份“{summary.path}”（{summary.tasks} 项任务、{summary.notes} 条进展{newest}）"


def restore_preview(summary: BackupSummary, database: Database, out: IO[str] | None = None) -> None:
    _say(f"将用{backup_headline(summary)}替换数据库“{database}”；当前数据库会先另存一份。", out)


def restored(result: Restored, out: IO[str] | None = None) -> None:
    _say(f"已用{backup_headline(result.backup)}恢复数据库“{result.database}”；"
         f"被替换的数据库已另存为“{result.aside}”。", out)


def copied(result: Copied, out: IO[str] | None = None) -> None:
    from ..usecases.copying import OPTIONAL_TABLES, TABLE_NAMES

    # A ledger that never mailed a reminder has no contacts to speak of.
    counts = "、".join(f"{TABLE_NAMES[table]} {count}" for table, count in result.counts.items()
                      if count or table not in OPTIONAL_TABLES)
    _say(f"已把台账“{result.source}”复制到“{result.target}”，逐表核对行数一致：{counts} 行。", out)
    carried = result.units
    if carried is None:
        return
    if carried.inside:
        _say(f"单位数据文件“{carried.beside}”也已存入服务器上的台账。", out)
        return
    from ..usecases.session import stored_label

    if carried.kept:
        _say(f"“{carried.beside}”已存在，没有覆盖它；{stored_label(carried.unit_file)}没有写出。", out)
    else:
        _say(f"{stored_label(carried.unit_file)}已写到“{carried.beside}”。", out)


def check_passed(path: Database, out: IO[str] | None = None) -> None:
    from ..store import locate

    if locate(path).file is None:
        # What PostgresStore.problems looks at; the server itself keeps the rest.
        _say(f"数据库“{path}”检查通过：结构迁移齐全，历史记录的只追加触发器有效，约束都已验证，"
             "进展和任务状态与各单位的分工相符；运行过 server init 的，行级安全和授权也都齐全。", out)
        return
    _say(f"数据库“{path}”检查通过：完整性检查结果为 ok，没有外键错误，文字和历史记录都可以读取。", out)
