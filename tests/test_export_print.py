"""The xlsx export on paper: A4 landscape, header on every page, page numbers, whole rows, ≥ 9 pt."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from conftest import point_at
from gongkai_cli.outputs.columns import TASK_OFFICE as TASK_COLUMNS, TASK_PRINT as PRINT_COLUMNS
from inprocess import invoke
from libreoffice import convert

# The page set-up is the writer's, whatever the backend: every test reads one workbook, made
# once from a SQLite ledger of the module's own (an export takes most of a second).
pytestmark = pytest.mark.no_ledger

LONG_NOTE = "已完成美丽乡村示范村创建信息公开，" * 6


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("print")
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_at(folder / "gongkai.db", monkeypatch)
        assert invoke(["note", "3", LONG_NOTE]).exit_code == 0
        target = folder / "台账.xlsx"
        assert invoke(["export", "-o", str(target)]).exit_code == 0
    return target


@pytest.fixture(scope="module")
def book(exported: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(exported)


def test_every_sheet_is_a4_landscape_with_titles_and_page_numbers(book):
    for sheet in book:
        assert sheet.page_setup.paperSize == 9  # A4
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.print_title_rows == "$1:$1"
        assert "&P" in sheet.oddFooter.center.text and "&N" in sheet.oddFooter.center.text
        assert "2023" in sheet.oddHeader.center.text
    assert book["任务"].print_title_cols == "$A:$A"


SCREEN_SHEETS = ("任务", "进展记录", "各单位进展")
PAPER_SHEETS = ("打印版", "打印版（各单位）")


def test_the_sheets_for_the_screen_are_left_out_of_printing_and_the_paper_ones_fit_the_width(book):
    assert book.sheetnames == [*SCREEN_SHEETS, *PAPER_SHEETS]
    for name in SCREEN_SHEETS:
        sheet = book[name]
        # One cell right of the last column: nothing in it, so nothing is printed.
        (area,) = re.findall(r"\$([A-Z]+)\$1$", sheet.print_area)
        assert openpyxl.utils.column_index_from_string(area) == sheet.max_column + 1
    for name in PAPER_SHEETS:
        sheet = book[name]
        assert not sheet.print_area
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)


def test_a_units_own_sheet_still_prints(tmp_path, monkeypatch):
    point_at(tmp_path / "gongkai.db", monkeypatch)
    target = tmp_path / "马陆镇.xlsx"
    assert invoke(["export", "--unit", "马陆镇", "-o", str(target)]).exit_code == 0
    sheet = openpyxl.load_workbook(target)["各单位进展"]
    assert not sheet.print_area and sheet.sheet_properties.pageSetUpPr.fitToPage


def test_the_units_sheet_on_paper_groups_each_tasks_units_by_status(tmp_path, monkeypatch):
    point_at(tmp_path / "gongkai.db", monkeypatch)
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-09")
    assert invoke(["status", "40", "done", "--unit", "区发展改革委"]).exit_code == 0
    assert invoke(["status", "40", "blocked", "--unit", "区经委"]).exit_code == 0
    target = tmp_path / "台账.xlsx"
    assert invoke(["export", "-o", str(target)]).exit_code == 0
    sheet = openpyxl.load_workbook(target)["打印版（各单位）"]
    assert [c.value for c in sheet[1]] == ["序号", "任务名称", "完成单位", "各单位状态"]
    assert sheet.max_row == 92  # one row a task, not one a task and unit
    number, _, done, units = (c.value for c in sheet[41])
    assert number == 40 and done == "1/8"
    # Task 40 was due on 2023-04-20: who is late comes first, with how far they got; done last.
    assert units.split("\n") == [
        "逾期（7）：区政府办公室、区经委（受阻）、区教育局、区民政局、区市场监管局、区住房保障房屋管理局、各相关单位",
        "已完成（1）：区发展改革委",
    ]


def test_a_long_note_or_text_is_shortened_on_paper_with_a_pointer_never_clipped(tmp_path, monkeypatch):
    from gongkai_cli.outputs.columns import NOTES_WHOLE, PRINTED_NOTE_CHARS

    point_at(tmp_path / "gongkai.db", monkeypatch)
    long_note = "区财政局完成预算公开并逐项说明。" * 300  # 4,800 characters
    assert invoke(["note", "26", long_note, "--unit", "区财政局"]).exit_code == 0
    target = tmp_path / "台账.xlsx"
    assert invoke(["export", "-o", str(target)]).exit_code == 0
    book = openpyxl.load_workbook(target)
    printed = book["打印版"]["F27"].value
    assert printed.startswith(long_note[:PRINTED_NOTE_CHARS] + NOTES_WHOLE) and len(printed) < 250
    assert long_note in book["进展记录"]["F2"].value  # whole where the pointer points


def test_text_too_tall_for_excels_tallest_row_is_cut_to_fit_with_where_it_is_whole():
    from gongkai_cli.outputs.writers import _ROW_LINES_MAX, _fit_row, _lines

    column = PRINT_COLUMNS[1]  # 任务内容, 46 units wide
    short = "做好政府信息公开工作。"
    assert _fit_row(column, short, "任务") == short
    long = "推进基层政务公开标准化规范化建设，" * 100
    cut = _fit_row(column, long, "任务")
    assert cut.endswith("……（未完，全文见“任务”工作表）") and long.startswith(cut.split("……")[0])
    assert _lines(cut, column.width) <= _ROW_LINES_MAX < _lines(cut + "再多一句话就超过了最高行高。" * 3, column.width)


def test_printable_sheet_has_few_wide_columns_that_fit_a4_landscape(book):
    sheet = book["打印版"]
    assert [c.value for c in sheet[1]] == ["序号", "任务内容", "责任单位", "时间节点", "状态", "最新进展"]
    assert len(PRINT_COLUMNS) < len(TASK_COLUMNS)
    # Excel: 7 px per unit + 5 px padding at 96 dpi; A4 landscape less 2 x 0.4 in is 1046 px.
    assert sum(7 * c.width + 5 for c in PRINT_COLUMNS) <= 1046
    row = [c.value for c in sheet[4]]
    assert row[0] == 3 and row[3] == "全年" and row[4] == "未开始"
    assert row[5].startswith(LONG_NOTE) and "（测试员，" in row[5]
    assert sheet.max_row == 92


def test_row_heights_grow_with_wrapped_text(book):
    for sheet in book:
        heights = [sheet.row_dimensions[number].height for number in range(2, sheet.max_row + 1)]
        assert all(height and height >= 15 for height in heights)
    printable = book["打印版"]
    short, long = printable.row_dimensions[3].height, printable.row_dimensions[4].height
    # 102 Chinese characters of note in a 28-unit column: at least 7 lines.
    assert long >= 7 * 15 > short


@pytest.mark.slow
def test_libreoffice_prints_the_printable_sheet_at_9_pt_or_more(exported, tmp_path):
    pdf = convert(exported, "pdf", tmp_path)
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pages = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    last = pages.split("<page ")[-1]  # the printable sheet comes last
    assert re.search(r'<page width="841\.\d+" height="595\.\d+"', pages)  # A4 landscape
    first = re.search(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">序号</word>', last)
    assert first, "the header row is missing from the last printed page"
    printed_pt = (float(first[2]) - float(first[1])) / 2  # two Chinese characters, each one em wide
    assert printed_pt >= 9


@pytest.mark.slow
def test_libreoffice_prints_a_plan_after_a_spring_of_notes_in_60_pages_one_page_wide(tmp_path, monkeypatch):
    """The 2023 plan as an office has it by June: 0–3 notes on each of its 2,265 units' parts,
    one in fifty of them long. The screen sheets are left out and the two paper ones fit."""
    import json
    import random

    point_at(tmp_path / "gongkai.db", monkeypatch)
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-09")
    plan = json.loads(invoke(["export", "-f", "json"]).stdout)
    chance = random.Random(2023)
    phrases = ["已制定年度工作方案，明确责任分工和时间节点。", "组织召开专题会议，部署推进相关工作。",
               "已在政府门户网站公开相关信息，接受社会监督。", "正在梳理相关文件，预计按期完成。"]
    lines = []
    for task in plan:
        for assignment in task["assignments"]:
            for _ in range(chance.choice([0, 1, 1, 2, 3])):
                text = "".join(chance.sample(phrases, chance.randint(1, 3)))
                if chance.random() < 0.02:
                    text *= 40
                lines.append(json.dumps({"id": task["id"], "text": text, "unit": assignment["unit"]}, ensure_ascii=False))
    batch = tmp_path / "notes.jsonl"
    batch.write_text("\n".join(lines), encoding="utf-8")
    assert invoke(["note", "--from", str(batch)]).exit_code == 0
    target = tmp_path / "台账.xlsx"
    assert invoke(["export", "-o", str(target)]).exit_code == 0
    pdf = convert(target, "pdf", tmp_path)
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = [[line.strip() for line in page.splitlines() if line.strip()] for page in text.split("\f")]
    pages = [page for page in pages if page]
    assert len(lines) > 3000 and len(pages) <= 60
    assert {page[0].removeprefix("政务公开任务台账（2023）") for page in pages} == {"任务", "各单位完成情况"}
    # One page wide: every page starts its rows at the 序号 column, never a band further right.
    assert all(page[1].split()[0] == "序号" for page in pages)
