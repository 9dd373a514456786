"""The progress report a unit sends upward, as Markdown or as a self-contained HTML page.

Both are built from the same sections, so they cannot drift apart. The HTML has
its styles inline and no external assets: it is mailed, archived and pasted into
Word or WPS, where a page that loads nothing from elsewhere keeps its tables.
"""

from __future__ import annotations

import html
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from typing import IO, TYPE_CHECKING, NamedTuple, Protocol

from ..domain.figures import Summary, summarize
from ..domain.records import Assignment, Note, Task
from ..domain.statuses import DUE_SOON_DAYS, Status
from ..domain.text import inert, markdown_text
from .columns import REPORT_NOTES, Column, breakdown, note_text, note_unit, note_writer, report_overdue, report_tasks
from .writers import markdown_table

if TYPE_CHECKING:
    from pathlib import Path

    from docx.document import Document
    from docx.enum.text import WD_PARAGRAPH_ALIGNMENT
    from docx.shared import Length
    from docx.styles.style import ParagraphStyle
    from docx.table import Table
    from docx.text.font import Font
    from docx.text.paragraph import Paragraph

    from ..usecases.queries import ProgressReport
    from .charts import Figure

TITLE = "政务公开工作要点落实情况报告"
# A section's table: its headers, then its rows of shown values.
TableBody = tuple[list[str], list[list[object]]]
# Notes longer than this are shortened in tables, whole in the appendix.
NOTE_IN_TABLE = 120
# How many units the completion chart shows: the worst, as the table below it lists all.
CHART_UNITS = 15


class Chart(NamedTuple):
    """A chart (outputs/charts.py: SVG in HTML, an image in Word) and the sentence that says
    what it shows (Markdown, and Word beside the image)."""

    figure: Figure
    caption: str


class Letterhead(NamedTuple):
    """Who the report is sent to (主送机关) and signed by (发文机关署名); None leaves it out."""

    addressee: str | None = None
    signer: str | None = None


# A section's body: paragraphs, a table, or a chart; a section may hold several.
Body = str | TableBody | Chart
Section = tuple[str, list[Body]]


class _Appendix:
    """Notes too long for a table cell, numbered in the order the tables cite them."""

    def __init__(self) -> None:
        self.notes: list[tuple[Task, Note]] = []

    def shortened(self, task: Task, note: Note, text: str) -> str:
        """`text` whole, or its start and where the appendix has it; a note cited twice (as a
        task's latest and among the period's) is in the appendix once."""
        if len(text) <= NOTE_IN_TABLE:
            return text
        cited = [number for number, (_, held) in enumerate(self.notes, start=1) if held.id == note.id]
        if not cited:
            self.notes.append((task, note))
        return f"{text[:NOTE_IN_TABLE]}…（全文见附件第 {cited[0] if cited else len(self.notes)} 条）"


def _sections(report: ProgressReport) -> list[Section]:
    """(heading, bodies) pairs, the same for Markdown, HTML and Word."""
    from ..domain.dates import tz
    from ..domain.figures import weekly_progress
    from .charts import progress_line_chart, units_bar_chart

    figures = summarize(report.plan.name, list(report.tasks), report.today)
    appendix = _Appendix()
    overview: list[Body] = [_overview(report, figures)]
    if report.per_unit:
        overview.append(Chart(
            units_bar_chart(report.per_unit, title=f"各单位完成情况（逾期最多的 {min(CHART_UNITS, len(report.per_unit))} 个单位）",
                            limit=CHART_UNITS),
            "各单位完成情况见下表。",
        ))
    start = report.since or date(report.plan.year, 1, 1)
    if start <= report.period_end:
        points = weekly_progress(report.tasks, start, report.period_end, tz())
        overview.append(Chart(
            progress_line_chart(points, total=figures.total, title="累计完成任务数和每周进展记录数"),
            f"截至 {report.period_end.isoformat()}，累计完成 {points[-1].done if points else 0} 项任务。",
        ))
    sections: list[Section] = [("总体情况", overview)]
    if report.per_unit:
        sections.append(("各单位完成情况", [_table(breakdown("unit"), report.per_unit)]))
    if report.collectives:
        bodies: list[Body] = []
        for name, tasks in report.collectives:
            rows = _collective_rows(name, tasks)
            bodies += [f"{name}：{len(rows)} 个单位，共同承担{_numbers(tasks)}（{len(tasks)} 项）。",
                       (["单位", "已完成", "进行中", "未开始", "受阻", "逾期", "逾期的任务"], rows)]
        sections.append(("各街镇等集合的完成情况", bodies))
    # The office's 重点任务 head the table, the rest in the plan's order; the ids without notes
    # stay one run of numbers.
    with_progress = sorted((task for task in report.tasks if task.notes), key=lambda task: not task.key_task)
    without = [task for task in report.tasks if not task.notes]
    task_bodies: list[Body] = []
    if with_progress:
        columns = report_tasks(report.unit)
        task_bodies.append((
            [column.header for column in columns],
            [[_latest_shortened(appendix, task) if column.key == "latest_note" else column.shown(task)
              for column in columns] for task in with_progress],
        ))
    if without:
        task_bodies.append(f"暂无进展记录的任务 {len(without)} 项：{_numbers(without)}。")
    sections.append(("任务清单", task_bodies or ["没有任务。"]))
    overdue: Body = _table(report_overdue(report.today), report.overdue) if report.overdue else "无逾期任务。"
    sections.append(("逾期任务", [overdue]))
    if report.until and report.until < report.today:
        period_title = f"{_period(report)}的进展记录"
    else:
        period_title = f"{report.since.isoformat()} 以来的进展记录" if report.since else "全部进展记录"
    if report.period_notes:
        headers = [column.header for column in REPORT_NOTES]
        rows = [[appendix.shortened(task, note, str(column.shown((task, note)))) if column.key == "text"
                 else column.shown((task, note)) for column in REPORT_NOTES] for task, note in report.period_notes]
        sections.append((period_title, [(headers, rows)]))
    else:
        sections.append((period_title, ["本期无进展记录。"]))
    numbered = [(f"{_NUMERALS[index]}、{heading}", bodies) for index, (heading, bodies) in enumerate(sections)]
    if appendix.notes:
        numbered.append(("附件：进展记录全文", [
            f"{index}. 第 {task.id} 项，{note_writer(note)}，{note.at[:16].replace('T', ' ')}：{note_text(note)}"
            for index, (task, note) in enumerate(appendix.notes, start=1)
        ]))
    return numbered


def _collective_rows(name: str, tasks: Sequence[Task]) -> list[list[object]]:
    """One compact row per member of collective `name`: its parts of the collective's tasks by status."""
    per_unit: dict[str, list[tuple[Task, Assignment]]] = {}
    for task in tasks:
        for assignment in task.assignments:
            if assignment.via == name:
                per_unit.setdefault(assignment.unit, []).append((task, assignment))
    rows: list[list[object]] = []
    for unit, parts in per_unit.items():
        count = Counter(assignment.status for _, assignment in parts)
        late = [task for task, assignment in parts if assignment.overdue]
        rows.append([unit, count[Status.DONE], count[Status.DOING], count[Status.TODO], count[Status.BLOCKED],
                     len(late), _numbers(late) if late else "—"])
    return rows


def _latest_shortened(appendix: _Appendix, task: Task) -> str:
    note = task.notes[-1]
    return appendix.shortened(task, note, note_text(note)) + f"（{note_writer(note)}，{note.at[:10]}）"


def _numbers(tasks: Sequence[Task]) -> str:
    """第 1、2、5 项 as a compact list: runs of consecutive ids as 1—4."""
    runs: list[list[int]] = []
    for task in tasks:
        if runs and task.id == runs[-1][-1] + 1:
            runs[-1].append(task.id)
        else:
            runs.append([task.id])
    parts = [f"{run[0]}—{run[-1]}" if len(run) > 2 else "、".join(map(str, run)) for run in runs]
    return "第 " + "、".join(parts) + " 项"


def _overview(report: ProgressReport, figures: Summary) -> str:
    """总体情况 in sentences, from the figures: where the plan stands, what the period brought,
    who is behind and on what."""
    counts = "，".join(f"{status.label} {n} 项" for status, n in figures.status.items() if n)
    whose = f"{report.unit}承担的" if report.unit else f"计划“{report.plan.name}”的"
    sentences = [
        f"截至 {report.today.isoformat()}，{whose} {figures.total} 项任务中{counts or '没有任务'}，"
        f"完成率 {figures.done_percent}%；已逾期 {figures.overdue} 项，{DUE_SOON_DAYS} 天内到期 {figures.due_soon} 项。"
    ]
    key = [task for task in report.tasks if task.key_task]
    if key:
        sentences.append(_key_tasks(key))
    if report.since or report.until:
        notes = report.period_notes
        closed = {task.id for task, note in notes if note.status is Status.DONE}
        units = {note_unit(note) or note.by for _, note in notes}
        sentences.append(
            f"{_period(report)}，共记录进展 {len(notes)} 条，涉及 {len({task.id for task, _ in notes})} 项任务、"
            f"{len(units)} 个单位；其间标记完成 {len(closed)} 项。" if notes else f"{_period(report)} 没有进展记录。"
        )
    behind = [row for row in report.per_unit if row.overdue][:5]
    if behind:
        sentences.append("逾期任务较多的单位：" + "、".join(f"{row.key}（{row.overdue} 项）" for row in behind) + "。")
    if report.overdue:
        leads: dict[str, list[Task]] = {}
        for task in report.overdue:
            leads.setdefault(task.lead_unit or "未指定牵头单位", []).append(task)
        worst = sorted(leads.items(), key=lambda item: -len(item[1]))[:3]
        sentences.append("逾期任务主要是：" + "；".join(
            f"{unit}牵头的{_numbers(tasks)}" for unit, tasks in worst) + "。")
    return "".join(sentences)


def _key_tasks(tasks: Sequence[Task]) -> str:
    """How the office's 重点任务 stand, in one sentence of 总体情况."""
    done = [task for task in tasks if task.status is Status.DONE]
    late = [task for task in tasks if task.overdue]
    sentence = f"重点任务 {len(tasks)} 项（{_numbers(tasks)}），已完成 {len(done)} 项"
    sentence += f"，已逾期 {len(late)} 项：{_numbers(late)}。" if late else "，无逾期。"
    return sentence


def _table(columns: Sequence[Column], records: Iterable[object]) -> TableBody:
    return [column.header for column in columns], [[column.shown(record) for column in columns] for record in records]


# The first-level numbering of an official document: 一、二、三、…
_NUMERALS = "一二三四五六七八九十"


def _header_lines(report: ProgressReport) -> list[tuple[str, str]]:
    lines = [
        ("计划", report.plan.name),
        ("单位", report.unit or "全部责任单位"),
        ("报告日期", report.today.isoformat()),
    ]
    if report.since or report.until:
        lines.append(("统计期间", _period(report)))
    return lines


def _period(report: ProgressReport) -> str:
    end = report.period_end.isoformat()
    return f"{report.since.isoformat()} 至 {end}" if report.since else f"{end} 及以前"


def markdown(report: ProgressReport, letterhead: Letterhead | None = None) -> str:
    letterhead = letterhead or Letterhead()
    out = [f"# {TITLE}", ""]
    out += [f"- {label}：{markdown_text(value)}" for label, value in _header_lines(report)]
    if letterhead.addressee:
        out += ["", markdown_text(_addressed(letterhead.addressee))]
    for heading, bodies in _sections(report):
        out += ["", f"## {heading}"]
        for body in bodies:
            out.append("")
            if isinstance(body, str):
                out.append(markdown_text(body))
            elif isinstance(body, Chart):
                # Markdown has no portable way to hold a chart: its sentence stands in for it.
                out.append(markdown_text(body.caption))
            else:
                table = io.StringIO()
                markdown_table(*body, table)
                out.append(table.getvalue().removesuffix("\n"))
    out += ["", *(f"{markdown_text(line)}  " for line in _signature(report, letterhead))]
    return "\n".join(out).rstrip() + "\n"


def _addressed(addressee: str) -> str:
    return addressee.rstrip("：:") + "："


def _signature(report: ProgressReport, letterhead: Letterhead) -> list[str]:
    today = report.today
    return [*([letterhead.signer] if letterhead.signer else []), f"{today.year}年{today.month}月{today.day}日"]


# On a phone (390 px) the page is as wide as the screen and only a wide table scrolls, inside
# its own box; printed, it is A4 with each table's head repeated on every page it runs onto.
_STYLE = """
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { font-family: "SimSun", "宋体", "Songti SC", "Noto Serif CJK SC", serif; font-size: 16px; line-height: 1.6;
       max-width: 60em; margin: 0 auto; padding: 1em; color: #000; overflow-wrap: anywhere; }
h1 { font-family: "SimHei", "黑体", sans-serif; font-size: 1.5em; text-align: center; }
h2 { font-family: "SimHei", "黑体", sans-serif; font-size: 1.2em; margin-top: 1.5em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: 15px; }
thead { display: table-header-group; }
th, td { border: 1px solid #000; padding: 4px 6px; vertical-align: top; text-align: left; }
th { background: #eee; white-space: nowrap; }
td.num, td.day { white-space: nowrap; }
td.num { text-align: right; }
tr { break-inside: avoid; }
svg.chart { display: block; width: 100%; max-width: 600px; height: auto; margin: 1em 0; }
.meta { list-style: none; padding: 0; }
.signature { text-align: right; margin-top: 2em; }
@page { size: A4; margin: 20mm 15mm; }
@media print { body { max-width: none; padding: 0; font-size: 11pt; } table { font-size: 10pt; }
               .scroll { overflow: visible; } h2 { break-after: avoid; } svg.chart { break-inside: avoid; } }
"""
# A date or time in a cell is kept on one line: 2023-12-31 never breaks at its hyphen.
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?")


def html_page(report: ProgressReport, letterhead: Letterhead | None = None) -> str:
    def esc(value: object) -> str:
        return html.escape(inert(str(value))).replace("\n", "<br>")

    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(TITLE)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(TITLE)}</h1>",
        '<ul class="meta">',
        *(f"<li>{esc(label)}：{esc(value)}</li>" for label, value in _header_lines(report)),
        "</ul>",
    ]
    letterhead = letterhead or Letterhead()
    if letterhead.addressee:
        parts.append(f'<p class="addressee">{esc(_addressed(letterhead.addressee))}</p>')
    def cell(value: object) -> str:
        if isinstance(value, int):
            return f'<td class="num">{esc(value)}</td>'
        if _DAY.fullmatch(str(value)):
            return f'<td class="day">{esc(value)}</td>'
        return f"<td>{esc(value)}</td>"

    for heading, bodies in _sections(report):
        parts.append(f"<h2>{esc(heading)}</h2>")
        for body in bodies:
            if isinstance(body, str):
                parts.append(f"<p>{esc(body)}</p>")
            elif isinstance(body, Chart):
                from .charts import svg

                parts.append(svg(body.figure))
            else:
                headers, rows = body
                parts += ['<div class="scroll"><table>', "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers)
                          + "</tr></thead>", "<tbody>"]
                parts += ["<tr>" + "".join(cell(value) for value in row) + "</tr>" for row in rows]
                parts.append("</tbody></table></div>")
    parts.append('<p class="signature">' + "<br>".join(esc(line) for line in _signature(report, letterhead)) + "</p>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


# -- Word (.docx) in the layout of 党政机关公文格式 (GB/T 9704-2012) -------------------------
#
# Fonts are named, never embedded: every office PC that handles 公文 has 方正小标宋简体,
# 仿宋_GB2312, 黑体 and 楷体_GB2312 installed, and an embedded font would bloat each
# file and be refused by some document systems. Word and WPS pick a font for Chinese
# text from w:eastAsia, so that attribute carries the 公文 font; Latin letters and
# digits get the matching Windows font.

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
LEVEL1_FONT = "黑体"
LEVEL2_FONT = "楷体_GB2312"
PAGE_NUMBER_FONT = "宋体"
TITLE_PT = 22  # 二号
BODY_PT = 16  # 三号
PAGE_NUMBER_PT = 14  # 四号
TABLE_PT = 10.5  # 五号: six columns of task text on a 156 mm type area
TABLE_LINE_PT = 15
KEEP_ROW_LINES = 8  # taller rows may split over two pages rather than leave half a page empty
LINE_PT = 28.95  # 225 mm type area / 22 lines
SUBTITLE_CHARS = 24  # a line holds 28 characters of 三号; Latin digits are narrower, brackets are not
LINE_CHARS, PAGE_LINES = 28, 22  # GB/T 9704 5.2.2: 28 characters a line, 22 lines a page
# 三号 is 16 pt, and 28 of them are 448 pt: 6 pt more than the 156 mm type area (442.2 pt).
# A quarter point less between characters (in twentieths of a point) makes 28 fit, with room.
BODY_SPACING_TWIPS = -5
DATE_RIGHT_CHARS = 4
_INVALID_XML = r"[\ud800-\udfff\ufffe\uffff]"


def docx(report: ProgressReport, out: IO[bytes], letterhead: Letterhead | None = None) -> None:
    """Write the report as a Word document: the same sections as `markdown`, in 公文 layout.

    Page numbers follow GB/T 9704 7.5: "— 1 —" in 宋体 四号, odd pages on the right
    and even pages on the left, one character in from the edge, so that they sit on
    the outer side of a double-sided print.
    """
    from docx import Document

    letterhead = letterhead or Letterhead()
    document = Document()
    _properties(document)
    _page_setup(document)
    _docx_styles(document)
    _docx_page_numbers(document)
    document.add_paragraph(_docx_text(TITLE), style="公文标题")
    for line in _subtitle_lines(report):
        document.add_paragraph(_docx_text(line), style="公文副标题")
    document.add_paragraph("", style="公文正文")
    if letterhead.addressee:
        # GB/T 9704 7.3.2: under the title, flush left, ending in a full-width colon.
        document.add_paragraph(_docx_text(_addressed(letterhead.addressee)), style="主送机关")
    last_table = None
    from .charts import chinese_font

    font = chinese_font()
    for heading, bodies in _sections(report):
        document.add_paragraph(_docx_text(heading), style=_heading_style(heading))
        for content in bodies:
            if isinstance(content, Chart) and font is not None:
                _docx_chart(document, content.figure, font)
            if isinstance(content, (str, Chart)):
                text = content if isinstance(content, str) else content.caption
                document.add_paragraph(_docx_text(text), style="公文正文")
                last_table = None
                continue
            headers, rows = content
            last_table = _docx_table(document, headers, rows)
    if last_table is not None:
        # The signature and date must not stand alone on the last page (GB/T 9704 7.3.5.4).
        for cell in last_table.rows[-1].cells:
            for paragraph in cell.paragraphs:
                paragraph.paragraph_format.keep_with_next = True
    document.add_paragraph("", style="公文正文").paragraph_format.keep_with_next = True
    today = report.today
    written = f"{today.year}年{today.month}月{today.day}日"
    if letterhead.signer:
        # GB/T 9704 7.3.5.1: the date 右空四字, the signature centred over it (above it, one line).
        signature = document.add_paragraph(_docx_text(letterhead.signer), style="成文日期")
        signature.paragraph_format.keep_with_next = True
        from docx.shared import Pt

        offset = (_char_units(written) - _char_units(letterhead.signer)) / 2
        signature.paragraph_format.right_indent = Pt(max(0.0, DATE_RIGHT_CHARS + offset) * BODY_PT)
    document.add_paragraph(written, style="成文日期")
    # Zipped in memory, then written in one go: a ZipFile that fails half-way on a full disk
    # would otherwise print a finaliser traceback after the one-line error.
    packed = io.BytesIO()
    document.save(packed)
    out.write(packed.getbuffer())


def _docx_chart(document: Document, figure: Figure, font: Path) -> None:
    """The chart as an image as wide as the type area, in a paragraph of its own line height
    (an exact line spacing would cut the image to one line)."""
    from docx.shared import Mm

    from .charts import png

    paragraph = document.add_paragraph(style="图")
    paragraph.add_run().add_picture(io.BytesIO(png(figure, font)), width=Mm(150))
    paragraph.paragraph_format.keep_with_next = True


def _properties(document: Document) -> None:
    """What Word shows under 文件 → 属性: python-docx's template would say "python-docx", 2013-12-23."""
    import datetime

    from ..domain.dates import now

    properties = document.core_properties
    properties.title = TITLE
    properties.author = properties.last_modified_by = properties.comments = ""
    properties.language = "zh-CN"
    # python-docx writes the time as given with a "Z", so it has to be UTC already.
    written = now().astimezone(datetime.timezone.utc)
    properties.created = properties.modified = written


def _char_units(text: str) -> float:
    """How many 三号 character widths `text` takes: a Chinese character one, a digit or letter half."""
    return sum(0.5 if character.isascii() else 1 for character in text)


def _subtitle_lines(report: ProgressReport) -> list[str]:
    """The header facts in parentheses under the title, wrapped to fit a line of 三号 characters."""
    facts = [f"{label}：{value}" for label, value in _header_lines(report)]
    lines: list[str] = []
    for fact in facts:
        if lines and len(lines[-1]) + 1 + len(fact) <= SUBTITLE_CHARS:
            lines[-1] += "　" + fact
        else:
            lines.append(fact)
    lines[0] = "（" + lines[0]
    lines[-1] += "）"
    return lines


def _heading_style(heading: str) -> str:
    # GB/T 9704 7.3.3 orders the levels by their numbering: "一、" 黑体, "（一）" 楷体.
    return "二级标题" if heading.startswith(("（", "(")) else "一级标题"


def _docx_text(value: object) -> str:
    import re

    return re.sub(_INVALID_XML, "\ufffd", inert(str(value)))


def _page_setup(document: Document) -> None:
    from docx.shared import Mm

    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    # The page number's top edge sits 7 mm below the type area (GB/T 9704 7.5).
    section.footer_distance = Mm(23)
    section.header_distance = Mm(15)
    # The document grid of GB/T 9704 5.2.2: 22 lines to the page. Its 28 characters to the line
    # come from the body styles' character spacing (BODY_SPACING_TWIPS), not from a character
    # grid: LibreOffice gives every digit and Latin letter a whole cell of one, so a line with a
    # date held 14 characters. Tables, the title and page numbers opt out (`_off_grid`).
    grid = section._sectPr.find(_qn("w:docGrid"))
    if grid is None:
        grid = _element("w:docGrid")
        section._sectPr.append(grid)
    grid.set(_qn("w:type"), "lines")
    grid.set(_qn("w:linePitch"), str(round(LINE_PT * 20)))
    grid.attrib.pop(_qn("w:charSpace"), None)


def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(tag)


class _XmlElement(Protocol):
    """What the report does with a bare WordprocessingML element: lxml's, or python-docx's subclass of it."""

    text: str | None

    def set(self, key: str, value: str) -> None: ...


def _element(tag: str) -> _XmlElement:
    from docx.oxml import OxmlElement

    return OxmlElement(tag)


def _set_fonts(font: Font, east_asia: str, latin: str, size: float) -> None:
    from docx.shared import Pt

    font.name = latin
    font.size = Pt(size)
    font.bold = False
    font.italic = False
    fonts = font.element.rPr.rFonts
    for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(_qn(attribute), None)
    fonts.set(_qn("w:eastAsia"), east_asia)


def _paragraph_style(document: Document, name: str, *, east_asia: str, latin: str, size: float,
                     align: WD_PARAGRAPH_ALIGNMENT | None = None, indent_chars: float = 0,
                     line_pt: float | None = LINE_PT, outline: int | None = None) -> ParagraphStyle:
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_LINE_SPACING
    from docx.shared import Pt, RGBColor

    style: ParagraphStyle = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = document.styles["Normal"]
    style.quick_style = True
    _set_fonts(style.font, east_asia, latin, size)
    style.font.color.rgb = RGBColor(0, 0, 0)
    paragraph = style.paragraph_format
    paragraph.space_before = Pt(0)
    paragraph.space_after = Pt(0)
    if line_pt is not None:
        paragraph.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        paragraph.line_spacing = Pt(line_pt)
    if align is not None:
        paragraph.alignment = align
    paragraph.first_line_indent = Pt(indent_chars * size) if indent_chars else None
    if outline is not None:
        level = _element("w:outlineLvl")
        level.set(_qn("w:val"), str(outline))
        style.element.get_or_add_pPr().append(level)
        paragraph.keep_with_next = True
    return style


def _docx_styles(document: Document) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    _document_defaults(document)
    normal = document.styles["Normal"]
    _set_fonts(normal.font, BODY_FONT, "Times New Roman", BODY_PT)
    normal.paragraph_format.space_after = Pt(0)
    spacing = _element("w:spacing")
    spacing.set(_qn("w:val"), str(BODY_SPACING_TWIPS))
    normal.element.get_or_add_rPr().append(spacing)
    _paragraph_style(document, "公文标题", east_asia=TITLE_FONT, latin="Times New Roman", size=TITLE_PT,
                     align=WD_ALIGN_PARAGRAPH.CENTER, line_pt=36)
    _paragraph_style(document, "公文副标题", east_asia=LEVEL2_FONT, latin="Times New Roman", size=BODY_PT,
                     align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph_style(document, "公文正文", east_asia=BODY_FONT, latin="Times New Roman", size=BODY_PT,
                     align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent_chars=2)
    _paragraph_style(document, "一级标题", east_asia=LEVEL1_FONT, latin="Times New Roman", size=BODY_PT,
                     indent_chars=2, outline=0)
    _paragraph_style(document, "二级标题", east_asia=LEVEL2_FONT, latin="Times New Roman", size=BODY_PT,
                     indent_chars=2, outline=1)
    date = _paragraph_style(document, "成文日期", east_asia=BODY_FONT, latin="Times New Roman", size=BODY_PT,
                            align=WD_ALIGN_PARAGRAPH.RIGHT)
    date.paragraph_format.right_indent = Pt(DATE_RIGHT_CHARS * BODY_PT)  # 右空四字 (GB/T 9704 7.3.5.1)
    _paragraph_style(document, "主送机关", east_asia=BODY_FONT, latin="Times New Roman", size=BODY_PT,
                     align=WD_ALIGN_PARAGRAPH.LEFT)
    _paragraph_style(document, "表格文字", east_asia=BODY_FONT, latin="Times New Roman", size=TABLE_PT,
                     line_pt=TABLE_LINE_PT)
    _paragraph_style(document, "表格数字", east_asia=BODY_FONT, latin="Times New Roman", size=TABLE_PT,
                     align=WD_ALIGN_PARAGRAPH.CENTER, line_pt=TABLE_LINE_PT)
    _paragraph_style(document, "表头文字", east_asia=LEVEL1_FONT, latin="Times New Roman", size=TABLE_PT,
                     align=WD_ALIGN_PARAGRAPH.CENTER, line_pt=TABLE_LINE_PT)
    _paragraph_style(document, "页码", east_asia=PAGE_NUMBER_FONT, latin=PAGE_NUMBER_FONT, size=PAGE_NUMBER_PT,
                     line_pt=None)
    _paragraph_style(document, "图", east_asia=BODY_FONT, latin="Times New Roman", size=BODY_PT,
                     align=WD_ALIGN_PARAGRAPH.CENTER, line_pt=None)
    # Tables set 五号 in their own rows, the title 二号 on its own 36 pt lines, charts and page
    # numbers as tall as they are: none of them is body text on the 28 × 22 grid.
    for name in ("公文标题", "表格文字", "表格数字", "表头文字", "页码", "图"):
        _off_grid(document.styles[name])


def _off_grid(style: ParagraphStyle) -> None:
    snap = _element("w:snapToGrid")
    snap.set(_qn("w:val"), "0")
    style.element.get_or_add_pPr().append(snap)


def _document_defaults(document: Document) -> None:
    """三号 as the default size, and Chinese
    (zh-CN) as the language of East Asian text: declared English, LibreOffice set it in
    Japanese glyph forms."""
    defaults = document.styles.element.find(_qn("w:docDefaults"))
    assert defaults is not None  # python-docx's template has them
    properties = defaults.find(f"{_qn('w:rPrDefault')}/{_qn('w:rPr')}")
    assert properties is not None
    for tag in ("w:sz", "w:szCs", "w:lang"):
        for old in properties.findall(_qn(tag)):
            properties.remove(old)
    for tag in ("w:sz", "w:szCs"):
        size = _element(tag)
        size.set(_qn("w:val"), str(BODY_PT * 2))
        properties.append(size)
    language = _element("w:lang")
    language.set(_qn("w:val"), "zh-CN")
    language.set(_qn("w:eastAsia"), "zh-CN")
    properties.append(language)


def _docx_page_numbers(document: Document) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    document.settings.odd_and_even_pages_header_footer = True
    section = document.sections[0]
    for footer, align in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT), (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        paragraph = footer.paragraphs[0]
        paragraph.style = document.styles["页码"]
        paragraph.alignment = align
        if align == WD_ALIGN_PARAGRAPH.RIGHT:
            paragraph.paragraph_format.right_indent = Pt(PAGE_NUMBER_PT)
        else:
            paragraph.paragraph_format.left_indent = Pt(PAGE_NUMBER_PT)
        paragraph.add_run("— ")
        _page_field(paragraph)
        paragraph.add_run(" —")


def _page_field(paragraph: Paragraph) -> None:
    # A complex field (begin, instruction, separate, cached result, end): the form Word itself writes.
    for kind, text in (("begin", ""), (None, " PAGE "), ("separate", ""), (None, "1"), ("end", "")):
        run = paragraph.add_run()
        if kind is not None:
            char = _element("w:fldChar")
            char.set(_qn("w:fldCharType"), kind)
            run._r.append(char)
        elif text == " PAGE ":
            instruction = _element("w:instrText")
            instruction.set(_qn("xml:space"), "preserve")
            instruction.text = text
            run._r.append(instruction)
        else:
            run.text = text


# Relative widths of the report's table columns, by header; the rest share what is left.
# The per-unit table's 单位 is wide enough for a ten-character unit name (区人力资源社会保障局) on one line.
_COLUMN_WEIGHTS = {"序号": 1.7, "任务内容": 5.4, "最新进展": 4, "截止日期": 2.8, "状态": 2.0, "逾期天数": 1.8,
                   "牵头单位": 3.2, "本单位职责": 2.9, "时间": 3.2, "记录人": 2, "内容": 6, "单位": 4,
                   "逾期的任务": 5}
# Short values read best centred under their header.
_CENTRED = {"序号", "截止日期", "状态", "逾期天数", "本单位职责", "时间", "任务数", "已完成", "逾期", "完成率",
            "进行中", "未开始", "受阻"}


def _table_lines(values: Sequence[object], widths: Sequence[Length]) -> int:
    """Lines the tallest cell of a row needs, at about one 五号 character per 3.7 mm."""
    import math

    return max(
        math.ceil(len(str(value)) / max(1.0, (float(width.mm) - 3.8) / 3.7)) for value, width in zip(values, widths, strict=True)
    )


def _docx_table(document: Document, headers: list[str], rows: list[list[object]]) -> Table:
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.shared import Mm

    table: Table = document.add_table(rows=1, cols=len(headers))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    weights = [_COLUMN_WEIGHTS.get(header, 2) for header in headers]
    widths = [Mm(156 * weight / sum(weights)) for weight in weights]
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    header_row = table.rows[0]
    # Repeated at the top of every page the table runs onto.
    header_row._tr.get_or_add_trPr().append(_element("w:tblHeader"))
    for cell, text, width in zip(header_row.cells, headers, widths, strict=True):
        cell.width = width
        cell.paragraphs[0].text = _docx_text(text)
        cell.paragraphs[0].style = document.styles["表头文字"]
    styles = [document.styles["表格数字" if header in _CENTRED else "表格文字"] for header in headers]
    # Setting `paragraph.style` looks the style's id up again for each cell, walking every style
    # in the document (most of a report's time); each column's id is looked up once instead.
    # python-docx 1.2 leaves get_style_id unannotated.
    style_ids = [document.part.get_style_id(style, WD_STYLE_TYPE.PARAGRAPH)  # type: ignore[no-untyped-call]
                 for style in styles]
    for values in rows:
        row = table.add_row()  # type: ignore[no-untyped-call]  # python-docx 1.2 leaves Table.add_row unannotated
        if _table_lines(values, widths) <= KEEP_ROW_LINES:
            # A task is read on one page; only a row too tall to move whole may split.
            row._tr.get_or_add_trPr().append(_element("w:cantSplit"))
        for cell, value, width, style_id in zip(row.cells, values, widths, style_ids, strict=True):
            cell.width = width
            paragraph = cell.paragraphs[0]
            paragraph.text = _docx_text(value)
            paragraph._p.style = style_id
    return table
