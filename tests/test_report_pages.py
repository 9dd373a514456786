"""The HTML report as a leader sees it: in headless Chromium on a 390-px phone and a desktop,
and printed to A4 (tests/browser.py)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from browser import measure, print_pdf


@pytest.fixture
def busy_spring(gk, monkeypatch):
    """A spring of progress: 70 notes over March to May, some long, some closing tasks."""
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-09")
    for index in range(70):
        day = 1 + index % 28
        month = 3 + index % 3
        monkeypatch.setenv("GONGKAI_NOW", f"2023-{month:02d}-{day:02d}T02:00:00Z")
        task = 1 + index % 40
        text = f"第{index}次推进：已在政府网站公开相关信息并报送材料" + ("，同步更新政策解读和问答" * (6 if index % 9 == 0 else 0))
        result = gk("note", str(task), text, "--unit", "区财政局") if task in (26, 28, 29, 30) else gk("note", str(task), text)
        assert result.exit_code in (0, 2), result.stderr
    monkeypatch.setenv("GONGKAI_NOW", "2023-05-20T02:00:00Z")
    gk("status", "1", "--all", "done")
    return gk


def _report(gk, tmp_path, *args):
    page = tmp_path / "report.html"
    result = gk("report", *args, "-o", str(page), "--quiet")
    assert result.exit_code == 0, result.stderr
    return page


@pytest.mark.parametrize("args", [(), ("--since", "上季度"), ("--unit", "区财政局")])
def test_on_a_390_px_phone_nothing_scrolls_sideways_and_text_is_readable(busy_spring, tmp_path, args):
    page = _report(busy_spring, tmp_path, *args)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.read_text(encoding="utf-8")
    layout = measure(page, 390, tmp_path)
    assert layout["scroll_width"] <= layout["client_width"], layout
    assert layout["smallest_text"] >= 14, layout
    assert layout["broken_dates"] == [], layout
    if not args:  # the whole plan's report has the charts
        assert layout["smallest_chart_label"] >= 12, layout
        assert layout["clipped_chart_labels"] == [], layout


def test_the_whole_plan_report_holds_two_charts_and_no_date_breaks_on_a_desktop(busy_spring, tmp_path):
    page = _report(busy_spring, tmp_path)
    layout = measure(page, 1280, tmp_path)
    assert layout["charts"] >= 2
    assert layout["broken_dates"] == [], layout
    assert layout["clipped_chart_labels"] == [], layout


def test_printed_it_is_a4_with_each_table_head_on_every_page(busy_spring, tmp_path):
    if shutil.which("pdfinfo") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdfinfo, pdftotext) is not installed")
    page = _report(busy_spring, tmp_path, "--since", "2023-03-01")
    pdf = print_pdf(page, tmp_path / "report.pdf", tmp_path)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+59[45]\.\d+ x 84[12]\.\d+ pts \(A4\)", info), info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    sheets = text.split("\f")[:pages]
    # The period's records run over several pages: each of them starts that table with its head.
    record_pages = [sheet for sheet in sheets if re.search(r"2023-0[345]-\d\d \d\d:\d\d", sheet)]
    assert len(record_pages) >= 2
    for sheet in record_pages:
        first_row = re.search(r"2023-0[345]-\d\d \d\d:\d\d", sheet).start()
        assert re.search(r"时间\s+序号\s+单位\s+记录人\s+内容", sheet[:first_row]), sheet[:first_row][-400:]
