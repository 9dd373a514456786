"""`report --docx`: the progress report as a Word document in 公文 layout (GB/T 9704)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Pt

from libreoffice import convert
from postgres import query


@pytest.fixture
def session(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-04-15")
    monkeypatch.setenv("GONGKAI_NOW", "2023-04-10T02:00:00Z")
    gk("note", "28", "四月：已公开预算项目 36 个")
    gk("status", "29", "done")
    return gk


def write_docx(gk, tmp_path, *args: str):
    target = tmp_path / "2023年政务公开工作进展.docx"
    result = gk("report", "--docx", *args, "-o", str(target))
    assert result.exit_code == 0, result.output
    return Document(str(target))


def east_asia(style) -> str:
    return style.element.rPr.rFonts.get(qn("w:eastAsia"))


def paragraphs(document, style: str) -> list[str]:
    return [p.text for p in document.paragraphs if p.style.name == style]


def table_ids(table) -> list[int]:
    return [int(row.cells[0].text) for row in table.rows[1:]]


def test_page_is_a4_with_the_standard_margins(session, tmp_path):
    section = write_docx(session, tmp_path).sections[0]

    def mm(length) -> float:  # stored in twips, so compare in whole millimetres
        return round(length.mm, 1)

    assert (mm(section.page_width), mm(section.page_height)) == (210, 297)
    assert (mm(section.top_margin), mm(section.bottom_margin)) == (37, 35)
    assert (mm(section.left_margin), mm(section.right_margin)) == (28, 26)


def test_title_body_and_heading_fonts(session, tmp_path):
    document = write_docx(session, tmp_path)
    styles = document.styles
    title = styles["公文标题"]
    assert east_asia(title) == "方正小标宋简体" and title.font.size == Pt(22)
    assert title.paragraph_format.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert paragraphs(document, "公文标题") == ["政务公开工作要点落实情况报告"]
    body = styles["公文正文"]
    assert east_asia(body) == "仿宋_GB2312" and body.font.size == Pt(16)
    assert east_asia(styles["Normal"]) == "仿宋_GB2312"
    assert body.paragraph_format.line_spacing_rule == WD_LINE_SPACING.EXACTLY
    assert Pt(28) <= body.paragraph_format.line_spacing <= Pt(29)
    assert east_asia(styles["一级标题"]) == "黑体" and styles["一级标题"].font.size == Pt(16)
    assert east_asia(styles["二级标题"]) == "楷体_GB2312" and styles["二级标题"].font.size == Pt(16)
    assert not styles["一级标题"].font.bold
    # Named, not embedded: the font table refers to no embedded font data.
    (fonts,) = [part for part in document.part.package.parts if str(part.partname) == "/word/fontTable.xml"]
    assert b"embed" not in fonts.blob


def test_footer_has_a_page_field_between_dashes_on_the_outer_side(session, tmp_path):
    document = write_docx(session, tmp_path)
    assert document.settings.odd_and_even_pages_header_footer
    section = document.sections[0]
    for footer, align in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT), (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        (paragraph,) = footer.paragraphs
        assert paragraph.alignment == align
        xml = paragraph._p.xml
        assert re.search(r"— </w:t>.*fldCharType=\"begin\".*> PAGE </w:instrText>.*fldCharType=\"end\".*<w:t[^>]*> —<",
                         xml, re.S)
        style = paragraph.style
        assert east_asia(style) == "宋体" and style.font.size == Pt(14)


def test_tables_repeat_their_header_row_in_a_smaller_size(session, tmp_path):
    document = write_docx(session, tmp_path)
    assert len(document.tables) == 6  # per-unit completion, 各街镇, 区政府各部门, tasks, overdue, notes
    for table in document.tables:
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
        assert all(row._tr.trPr is None or row._tr.trPr.find(qn("w:tblHeader")) is None for row in table.rows[1:])
        sizes = {p.style.font.size for row in table.rows for cell in row.cells for p in cell.paragraphs}
        assert sizes == {Pt(10.5)}
        assert {east_asia(p.style) for row in table.rows[1:] for cell in row.cells for p in cell.paragraphs} == {"仿宋_GB2312"}
    # A task row of ordinary length stays on one page.
    assert document.tables[3].rows[1]._tr.trPr.find(qn("w:cantSplit")) is not None


def test_the_per_unit_table_centres_its_figures_and_keeps_unit_names_on_one_line(session, tmp_path):
    completion = write_docx(session, tmp_path).tables[0]
    assert [cell.text for cell in completion.rows[0].cells] == ["单位", "任务数", "已完成", "逾期", "完成率"]
    for row in completion.rows[1:]:
        assert {cell.paragraphs[0].style.name for cell in row.cells[1:]} == {"表格数字"}
    # The longest names of the bundled unit file (区人力资源社会保障局, 10 characters) fit one line
    # of 五号 (about 3.7 mm a character, 3.8 mm of cell padding) instead of breaking in two.
    unit_width, *figure_widths = (cell.width.mm for cell in completion.rows[0].cells)
    assert unit_width >= 10 * 3.7 + 3.8
    assert all(width >= 5 * 3.7 + 3.8 for width in figure_widths)  # "100.0%" and "已完成" stay whole


def test_document_properties_name_the_report_not_the_library_that_wrote_it(session, tmp_path):
    # Word shows these under 文件 → 属性; python-docx's template says "python-docx", 2013-12-23.
    properties = write_docx(session, tmp_path).core_properties
    assert properties.title == "政务公开工作要点落实情况报告"
    assert properties.author == "" and properties.comments == "" and properties.last_modified_by == ""
    assert properties.language == "zh-CN"
    written = datetime(2023, 4, 10, 2, 0, tzinfo=timezone.utc)
    assert properties.created.replace(tzinfo=timezone.utc) == written
    assert properties.modified.replace(tzinfo=timezone.utc) == written


def test_a_row_too_tall_for_a_page_may_split(gk, tmp_path):
    gk("note", "1", "很长的进展。" * 80)
    gk("note", "2", "短")
    tasks = write_docx(gk, tmp_path).tables[3]  # after the per-unit and the two collectives' tables
    assert tasks.rows[1]._tr.trPr is None or tasks.rows[1]._tr.trPr.find(qn("w:cantSplit")) is None
    assert tasks.rows[2]._tr.trPr.find(qn("w:cantSplit")) is not None


@pytest.mark.parametrize("unit", [None, "区财政局"])
def test_same_sections_and_task_ids_as_the_markdown_report(session, tmp_path, unit):
    args = ("--unit", unit) if unit else ()
    text = session("report", *args).stdout
    document = write_docx(session, tmp_path, *args)

    assert paragraphs(document, "一级标题") == re.findall(r"^## (.+)$", text, re.M)
    # The whole-plan report opens with a per-unit completion table and a section of the
    # collectives' (各街镇, 区政府各部门), a table each; a unit's report has none of them.
    per_unit = 0 if unit else 2
    tasks, overdue, notes = document.tables[0 if unit else 3:]
    markdown_tables = [
        [int(m) for m in re.findall(r"^\| (\d+) \|", part, re.M)]
        for part in re.split(r"^## ", text, flags=re.M)[2 + per_unit:4 + per_unit]
    ]
    if not unit:
        units = [row.cells[0].text for row in document.tables[0].rows[1:]]
        assert units == re.findall(r"^\| (\S+) \| \d+ \|", re.split(r"^## ", text, flags=re.M)[2], re.M)
        assert "区财政局" in units and "马陆镇" in units
    assert table_ids(tasks) == markdown_tables[0] and len(table_ids(tasks)) > 1
    assert table_ids(overdue) == markdown_tables[1] and table_ids(overdue)
    assert [row.cells[1].text for row in notes.rows[1:]] == ["28", "29"]
    assert "四月：已公开预算项目 36 个" in tasks.rows[table_ids(tasks).index(28) + 1].cells[5].text
    dates = paragraphs(document, "成文日期")
    assert dates[-1] == "2023年4月15日"
    assert dates[:-1] == ([unit] if unit else [])
    assert "区财政局" in "".join(paragraphs(document, "公文副标题")) or unit is None


def test_output_name_ending_in_docx_writes_word_and_control_characters_are_shown(gk, db_path, tmp_path):
    gk("note", "40", "响铃了")
    # Input refuses control characters now; a ledger written before that may still hold them.
    query(db_path, "UPDATE notes SET text = ? WHERE text = ?", ("响铃\x07了", "响铃了"))
    target = tmp_path / "进展.docx"
    assert gk("report", "-o", str(target)).exit_code == 0
    document = Document(str(target))
    assert any("响铃\\x07了" in cell.text for table in document.tables for row in table.rows for cell in row.cells)


@pytest.mark.no_ledger
def test_docx_and_html_together_are_refused(gk, tmp_path):
    result = gk("report", "--docx", "--html", "-o", str(tmp_path / "x.docx"))
    assert result.exit_code == 2 and "--docx" in result.stderr
    assert not (tmp_path / "x.docx").exists()


@pytest.mark.no_ledger
def test_docx_to_a_terminal_is_refused(tmp_path):
    pty = pytest.importorskip("pty", reason="needs a POSIX pseudo-terminal")
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gongkai_cli", "report", "--docx"],
            check=False, stdout=terminal, stderr=subprocess.PIPE, text=True, timeout=60,
            env={**os.environ, "GONGKAI_DB": str(tmp_path / "tty.db")},
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2
    assert "-o" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "tty.db").exists()


def test_docx_through_the_installed_executable_to_a_pipe(executable):
    result = subprocess.run([executable, "report", "--docx", "--unit", "区财政局"], check=False, capture_output=True,
                            timeout=120, env=dict(os.environ))  # GONGKAI_DB: the test's ledger
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"PK")


@pytest.mark.slow
def test_libreoffice_prints_it_on_a4_pages_numbered_with_dashes(session, tmp_path):
    write_docx(session, tmp_path)
    pdf = convert(tmp_path / "2023年政务公开工作进展.docx", "pdf", tmp_path)
    data = pdf.read_bytes()
    assert re.search(rb"/MediaBox\s*\[0 0 595\.\d+ 841\.\d+", data)  # A4 in points
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        text = re.sub(r"\s+", "", text)  # pdftotext spaces text set in mixed fonts at will
        assert "—1—" in text and "—2—" in text
        assert "政务公开工作要点落实情况报告" in text and "2023年4月15日" in text


def test_addressee_signer_language_and_grid(session, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGKAI_REPORT_SIGNER", "区政务公开办公室")
    document = write_docx(session, tmp_path, "--to", "区人民政府办公室")
    assert paragraphs(document, "主送机关") == ["区人民政府办公室："]
    assert paragraphs(document, "成文日期") == ["区政务公开办公室", "2023年4月15日"]
    signature, written = [p for p in document.paragraphs if p.style.name == "成文日期"]
    # Eight characters over 6.5 units of date (a digit is half a character): centred over it.
    assert written.style.paragraph_format.right_indent == Pt(64)
    assert signature.paragraph_format.right_indent == Pt(52)
    language = document.styles.element.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:lang')}")
    assert language.get(qn("w:eastAsia")) == "zh-CN"
    grid = document.sections[0]._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:type")) == "lines" and grid.get(qn("w:linePitch")) == "579"
    # Unsigned, the whole-plan report says so once.
    monkeypatch.delenv("GONGKAI_REPORT_SIGNER")
    result = session("report", "--docx", "-o", str(tmp_path / "unsigned.docx"))
    assert "未指定发文机关署名" in result.stderr


@pytest.mark.slow
def test_libreoffice_sets_28_characters_a_line_and_the_signature_centred_over_the_date(gk, tmp_path, monkeypatch):
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) is not installed")
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-09")
    gk("note", "40", "政务公开专栏建设推进情况良好" * 20)
    target = tmp_path / "report.docx"
    # A short signature tells centring from right-aligning: three characters over a date of seven.
    assert gk("report", "--signer", "区公开办", "-o", str(target)).exit_code == 0
    pdf = convert(target, "pdf", tmp_path)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    # The appendix holds the note whole: its lines between the first and the last are all text.
    appendix = text[text.index("附件：进展记录全文"):text.rindex("区公开办")].splitlines()
    body = [line for line in appendix[2:] if re.fullmatch(r"[\u4e00-\u9fff]+", line)]
    assert len(body) >= 5
    assert {len(line) for line in body[:-1]} == {28}, body
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"[^>]*>([^<]+)</word>',
                       subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                                      check=True).stdout)
    (at,) = [index for index, (_, _, _, word) in enumerate(words) if word == "区公开办"]
    signer = (float(words[at][0]), float(words[at][2]), float(words[at][1]))
    # The words after it in reading order, on the next line: the date (coordinates are per page).
    date_y = float(words[at + 1][1])
    date_line = [(float(x0), float(x1)) for x0, y, x1, _ in words[at + 1:at + 8] if abs(float(y) - date_y) < 2]
    left, right = min(x for x, _ in date_line), max(x for _, x in date_line)
    page_right = 595.3 - 26 / 25.4 * 72
    assert abs(right - (page_right - 4 * 16)) < 4  # 右空四字
    assert abs((signer[0] + signer[1]) / 2 - (left + right) / 2) < 16  # centred within a character
    assert date_y - signer[2] < 2 * 29  # on the line below


def test_the_charts_are_images_in_word_where_a_chinese_font_is_installed(session, tmp_path):
    from gongkai_cli.outputs.charts import chinese_font

    if chinese_font() is None:
        pytest.skip("no Chinese font installed (Debian: apt-get install fonts-noto-cjk)")
    document = write_docx(session, tmp_path)
    assert len(document.inline_shapes) == 2
    chart = [p for p in document.paragraphs if p.style.name == "图"]
    assert len(chart) == 2 and all(p.paragraph_format.keep_with_next for p in chart)
    # The unit's report has its progress chart; the per-unit bars are the whole plan's.
    assert len(write_docx(session, tmp_path, "--unit", "区财政局").inline_shapes) == 1
