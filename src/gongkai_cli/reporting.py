"""The progress report a unit sends upward, as Markdown or as a self-contained HTML page.

Both are built from the same sections, so they cannot drift apart. The HTML has
its styles inline and no external assets: it is mailed, archived and pasted into
Word or WPS, where a page that loads nothing from elsewhere keeps its tables.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from .models import Task
from .progress import summarize
from .render import note_text
from .text import inert, markdown_text

if TYPE_CHECKING:
    from .ledger import ProgressReport

TITLE = "政务公开工作要点落实情况报告"


def _latest(task: Task) -> str:
    if not task.notes:
        return "（暂无进展记录）"
    note = task.notes[-1]
    return f"{note_text(note)}（{note.by}，{note.at[:10]}）"


def _role(task: Task, unit: str | None) -> str:
    if unit is None:
        return task.lead_unit or ""
    if task.via:
        return f"经“{task.via}”"
    return "牵头" if task.lead_unit == unit else "参与"


def _sections(report: ProgressReport) -> list[tuple[str, object]]:
    """(heading, body) pairs; a body is a paragraph (str) or a table (headers, rows)."""
    figures = summarize(report.plan.name, list(report.tasks), report.today)
    counts = "，".join(f"{status.label} {n} 项" for status, n in figures.status.items() if n)
    overview = (
        f"共 {figures.total} 项任务：{counts or '无'}；完成率 {figures.done_percent}%；"
        f"已逾期 {figures.overdue} 项；30 天内到期 {figures.due_soon} 项。"
    )
    role_header = "牵头单位" if report.unit is None else "本单位职责"
    tasks = (
        ("序号", "任务内容", role_header, "截止日期", "状态", "最新进展"),
        [
            (task.id, task.content, _role(task, report.unit),
             task.due.isoformat() if task.due else task.deadline,
             f"{task.status.label}（逾期）" if task.overdue else task.status.label,
             _latest(task))
            for task in report.tasks
        ],
    )
    overdue: object = "无逾期任务。"
    if report.overdue:
        overdue = (
            ("序号", "任务内容", "截止日期", "逾期天数", "牵头单位"),
            [(t.id, t.content, t.due.isoformat(), (report.today - t.due).days, t.lead_unit or "")
             for t in report.overdue],
        )
    period_title = f"{report.since.isoformat()} 以来的进展记录" if report.since else "全部进展记录"
    notes: object = "本期无进展记录。"
    if report.period_notes:
        notes = (
            ("时间", "序号", "记录人", "内容"),
            [(note.at.replace("T", " ")[:16], task.id, note.by, note_text(note))
             for task, note in report.period_notes],
        )
    return [
        ("一、总体情况", overview),
        ("二、任务清单", tasks),
        ("三、逾期任务", overdue),
        (f"四、{period_title}", notes),
    ]


def _header_lines(report: ProgressReport) -> list[tuple[str, str]]:
    lines = [
        ("计划", report.plan.name),
        ("单位", report.unit or "全部责任单位"),
        ("报告日期", report.today.isoformat()),
    ]
    if report.since:
        lines.append(("统计期间", f"{report.since.isoformat()} 至 {report.today.isoformat()}"))
    return lines


def markdown(report: ProgressReport) -> str:
    out = [f"# {TITLE}", ""]
    out += [f"- {label}：{markdown_text(value)}" for label, value in _header_lines(report)]
    for heading, body in _sections(report):
        out += ["", f"## {heading}", ""]
        if isinstance(body, str):
            out.append(body)
            continue
        headers, rows = body
        out.append("| " + " | ".join(headers) + " |")
        out.append("|" + "|".join("---" for _ in headers) + "|")
        out += ["| " + " | ".join(markdown_text(v) for v in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


_STYLE = """
body { font-family: "SimSun", "宋体", "Songti SC", serif; font-size: 12pt; line-height: 1.6;
       max-width: 60em; margin: 2em auto; color: #000; }
h1 { font-family: "SimHei", "黑体", sans-serif; font-size: 18pt; text-align: center; }
h2 { font-family: "SimHei", "黑体", sans-serif; font-size: 14pt; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #000; padding: 4px 6px; vertical-align: top; text-align: left; }
th { background: #eee; }
td.num { text-align: right; white-space: nowrap; }
.meta { list-style: none; padding: 0; }
"""


def html_page(report: ProgressReport) -> str:
    def esc(value: object) -> str:
        return html.escape(inert(str(value))).replace("\n", "<br>")

    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{esc(TITLE)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(TITLE)}</h1>",
        '<ul class="meta">',
        *(f"<li>{esc(label)}：{esc(value)}</li>" for label, value in _header_lines(report)),
        "</ul>",
    ]
    for heading, body in _sections(report):
        parts.append(f"<h2>{esc(heading)}</h2>")
        if isinstance(body, str):
            parts.append(f"<p>{esc(body)}</p>")
            continue
        headers, rows = body
        parts.append("<table>")
        parts.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>")
        for row in rows:
            cells = "".join(
                f'<td class="num">{esc(v)}</td>' if isinstance(v, int) else f"<td>{esc(v)}</td>" for v in row
            )
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
