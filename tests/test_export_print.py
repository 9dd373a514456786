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


def test_the_full_sheet_prints_at_full_size_and_the_others_fit_the_width(book):
    assert not book["任务"].sheet_properties.pageSetUpPr.fitToPage
    assert book["任务"].page_setup.scale in (None, 100)
    for name in ("进展记录", "打印版"):
        sheet = book[name]
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)


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
