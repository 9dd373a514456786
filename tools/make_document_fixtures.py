"""Build the Word and PDF fixtures of the 2023 plan table with a real office program.

    python tools/make_document_fixtures.py tests/fixtures

Needs python-docx and LibreOffice (`soffice`, Debian packages libreoffice-writer and
fonts-noto-cjk). Writes into the given folder:

- ``plan_2023.docx``: the 91 tasks of data/tasks_2023.csv laid out as the
  office's 任务分解表 is: 附件 and a title above the table, a header row repeated on every
  page, runs of equal 任务名称 / 责任单位 / 时间节点 merged vertically (w:vMerge) as in the
  original document, a few cells broken over several lines or paragraphs, and a note
  paragraph after the table. python-docx writes a draft which LibreOffice opens and saves
  again, so the committed file is one an office program wrote.
- ``plan_2023.pdf``: that document printed to PDF by LibreOffice (A4 landscape, rows that
  break across pages, the header repeated on each page).
- ``merged_columns.docx``: a small table whose grid has more columns than the header
  (cells spanning columns with w:gridSpan, a title row spanning the whole table inside
  it), with text before and after the table.
- ``merged_columns.pdf``: that table printed to PDF, and ``encrypted.pdf`` the same
  printed with a password needed to open it (``secret``).
- ``no_task_table.docx``: a document whose only table is not a task table.

Run it again after the bundled plan changes, then check the pages (e.g.
``pdftoppm -png -r 50 plan_2023.pdf page``) and the sizes before committing.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parent.parent
PLAN_CSV = ROOT / "data" / "tasks_2023.csv"
HEADER = ["序号", "任务名称", "任务内容", "责任单位", "时间节点"]
FIELDS = ["id", "group", "content", "units", "deadline"]
WIDTHS_CM = [1.3, 3.6, 11.5, 6.5, 2.8]
MERGED = ("group", "units", "deadline")
# Offices name their fonts; LibreOffice substitutes Noto CJK where they are not installed.
BODY_FONT = "仿宋_GB2312"
TITLE_FONT = "方正小标宋简体"
# LibreOffice's PDF export options: a password needed to open the file.
ENCRYPTED = ('{"EncryptFile":{"type":"boolean","value":"true"},'
             '"DocumentOpenPassword":{"type":"string","value":"secret"}}')


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    soffice = shutil.which("soffice")
    if soffice is None:
        print("soffice not found: install libreoffice-writer and fonts-noto-cjk", file=sys.stderr)
        return 1
    with PLAN_CSV.open(encoding="utf-8") as handle:
        tasks = list(csv.DictReader(handle))
    with tempfile.TemporaryDirectory() as tmp:
        drafts = Path(tmp) / "drafts"
        drafts.mkdir()
        plan_2023(tasks).save(drafts / "plan_2023.docx")
        merged_columns().save(drafts / "merged_columns.docx")
        no_task_table().save(drafts / "no_task_table.docx")
        profile = Path(tmp) / "profile"
        # A private profile: a desktop LibreOffice already running would otherwise take the job.
        office = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless"]
        saved = Path(tmp) / "saved"
        subprocess.run([*office, "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(saved),
                        *sorted(str(p) for p in drafts.iterdir())], check=True, capture_output=True)
        subprocess.run([*office, "--convert-to", "pdf", "--outdir", str(saved), str(saved / "plan_2023.docx"),
                        str(saved / "merged_columns.docx")], check=True, capture_output=True)
        locked = Path(tmp) / "locked"
        subprocess.run([*office, "--convert-to", f"pdf:writer_pdf_Export:{ENCRYPTED}", "--outdir", str(locked),
                        str(saved / "merged_columns.docx")], check=True, capture_output=True)
        shutil.copyfile(locked / "merged_columns.pdf", saved / "encrypted.pdf")
        for name in ("plan_2023.docx", "plan_2023.pdf", "merged_columns.docx", "merged_columns.pdf",
                     "no_task_table.docx", "encrypted.pdf"):
            shutil.copyfile(saved / name, out / name)
            print(f"{out / name}: {(out / name).stat().st_size} bytes")
    return 0


def new_document() -> Document:
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    section.left_margin = section.right_margin = Cm(2.0)
    section.top_margin = section.bottom_margin = Cm(2.0)
    style = document.styles["Normal"]
    style.font.size = Pt(10.5)
    set_fonts(style.element, BODY_FONT)
    # Marked Chinese, LibreOffice substitutes the Simplified Chinese Noto CJK for the missing fonts.
    language = OxmlElement("w:lang")
    language.set(qn("w:eastAsia"), "zh-CN")
    style.element.get_or_add_rPr().append(language)
    return document


def set_fonts(element, name: str) -> None:
    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia"):
        fonts.set(qn(attribute), name)


def title(document: Document, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run(text)
    run.font.size = Pt(18)
    set_fonts(run._r, TITLE_FONT)


def plan_2023(tasks: list[dict[str, str]]) -> Document:
    document = new_document()
    document.add_paragraph("附件")
    title(document, "2023年上海市嘉定区政务公开工作要点任务分解表")
    table = document.add_table(rows=1 + len(tasks), cols=len(HEADER))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    header = table.rows[0]
    mark_header_row(header)
    for cell, text in zip(header.cells, HEADER, strict=True):
        cell.text = text
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        cell.paragraphs[0].runs[0].bold = True
    for number, task in enumerate(tasks, start=1):
        cells = table.rows[number].cells
        cells[0].text = task["id"]
        cells[1].text = task["group"]
        write_wrapped(cells[2], task["content"], number)
        write_wrapped(cells[3], task["units"], number)
        cells[4].text = task["deadline"]
    for column, field in enumerate(FIELDS):
        if field in MERGED:
            merge_runs(table, column, [task[field] for task in tasks])
    set_widths(table, WIDTHS_CM)
    note = document.add_paragraph(
        "注：1.责任单位中排在第一位的为牵头单位，其他为配合单位。"
        "2.“各街镇”指嘉定镇街道、新成路街道、真新街道、菊园新区、南翔镇、安亭镇、马陆镇、"
        "徐行镇、华亭镇、外冈镇、江桥镇、嘉定工业区。"
    )
    note.runs[0].font.size = Pt(9)
    return document


def write_wrapped(cell, text: str, number: int) -> None:
    """Write the cell, breaking some long texts the way people force a line in Word.

    In every fifth row a long text is split into two paragraphs after a 、, in
    every seventh a long one gets a manual line break after its first ，: the
    reader must join both without leaving a space inside the Chinese text.
    """
    paragraph = cell.paragraphs[0]
    half = len(text) // 2
    if len(text) > 30 and number % 5 == 0 and "、" in text[half:]:
        cut = text.index("、", half) + 1
        paragraph.add_run(text[:cut])
        cell.add_paragraph(text[cut:])
    elif len(text) > 60 and number % 7 == 0 and "，" in text:
        cut = text.index("，") + 1
        paragraph.add_run(text[:cut]).add_break()
        paragraph.add_run(text[cut:])
    else:
        paragraph.add_run(text)


def merge_runs(table, column: int, values: list[str]) -> None:
    """Merge each run of equal values down the column into one cell (w:vMerge)."""
    start = 0
    for end in range(1, len(values) + 1):
        if end < len(values) and values[end] == values[start]:
            continue
        if end - start > 1:
            # Only the top cell keeps its text, as in a document where the cells were merged by hand.
            for row in range(start + 2, end + 1):
                below = table.cell(row, column)._tc
                below.clear_content()
                below.append(OxmlElement("w:p"))
            table.cell(start + 1, column).merge(table.cell(end, column))
        start = end


def mark_header_row(row) -> None:
    properties = row._tr.get_or_add_trPr()
    properties.append(OxmlElement("w:tblHeader"))


def set_widths(table, widths_cm: list[float]) -> None:
    # LibreOffice lays the table out from the grid; Word from the cells. Set both.
    table.autofit = False
    for column, width in zip(table._tbl.tblGrid.gridCol_lst, widths_cm, strict=True):
        column.w = Cm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths_cm, strict=True):
            cell.width = Cm(width)


def merged_columns() -> Document:
    """A table drawn by hand in Word: an uneven grid, so cells span grid columns."""
    document = new_document()
    document.add_paragraph("请各单位对照下表落实，完成情况于每季度末报区政府办公室。")
    # Grid: 序号 | 任务名称 | 任务内容 (two grid columns) | 责任单位 | 时间节点.
    table = document.add_table(rows=6, cols=6)
    table.style = "Table Grid"
    rows = table.rows
    title_cell = rows[0].cells[0].merge(rows[0].cells[5])
    title_cell.text = "2024年某区政务公开工作要点任务分解表"
    header = ["序号", "任务名称", "任务内容", None, "责任单位", "时间节点"]
    # None: the cell is merged into the one on its left. Task 3 keeps a stray empty grid
    # column after its content, as hand-drawn tables do; task 4's 任务名称 is merged down
    # from task 3 and its 时间节点 left blank.
    body = [
        ["1", "推进政策集中发布", "做好规范性文件集中统一公开，\n及时更新现行有效文件目录。", None, "区司法局、区政府办公室", "全年"],
        ["2", "", "在“上海 Open\nData”平台开放政府数据集。", None, "区政府办公室", "6月底前"],
        ["3", "优化政务服务信息公开", "发布“一网通办”办事指南，持续更新。", "", "区行政服务中心（区大数据中心）", "第三季度"],
        ["4", "", "编制主动公开基本目录。", None, "区司法局", ""],
    ]
    for row, values in zip(rows[1:], [header, *body], strict=True):
        cells = row.cells
        for column, value in enumerate(values):
            if not value:
                continue
            first, _, second = value.partition("\n")
            cells[column].text = first
            if second:
                run = cells[column].paragraphs[0].runs[0]
                run.add_break()
                cells[column].paragraphs[0].add_run(second)
        if values[3] is None:
            cells[2].merge(cells[3])
    table.cell(4, 1).merge(table.cell(5, 1))
    document.add_paragraph("注：本表由区政府办公室负责解释。")
    return document


def no_task_table() -> Document:
    document = new_document()
    title(document, "关于报送2024年政务公开工作要点的通知")
    document.add_paragraph("各街镇、区政府各部门：现将有关事项通知如下。")
    table = document.add_table(rows=3, cols=3)
    table.style = "Table Grid"
    for row, values in zip(table.rows, [["单位", "联系人", "电话"], ["区政府办公室", "张三", "59990000"],
                                        ["区司法局", "李四", "59990001"]], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    return document


if __name__ == "__main__":
    sys.exit(main(sys.argv))
