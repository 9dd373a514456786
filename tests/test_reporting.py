"""The progress report: unit filter, overdue section, period notes, Markdown and HTML."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def session(gk, monkeypatch):
    """A scripted month: notes before and after 1 April, one task done."""
    monkeypatch.setenv("GONGKAI_TODAY", "2023-04-15")
    monkeypatch.setenv("GONGKAI_NOW", "2023-03-10T02:00:00Z")
    gk("note", "29", "三月：债务限额已公开")
    monkeypatch.setenv("GONGKAI_NOW", "2023-04-10T02:00:00Z")
    gk("note", "28", "四月：已公开预算项目 36 个")
    gk("status", "29", "done")
    gk("note", "1", "马陆镇以外单位的进展")
    return gk


def section(text: str, title: str) -> str:
    start = text.index(title)
    following = text.find("\n## ", start + 1)
    return text[start: following if following != -1 else None]


def test_unit_report_lists_the_units_tasks_with_role_and_latest_note(session):
    text = session("report", "--unit", "区财政局").stdout
    assert text.startswith("# 政务公开工作要点落实情况报告")
    assert "- 单位：区财政局" in text
    tasks = section(text, "## 二、任务清单")
    # A row for each task with progress; the other 46 of its 48 tasks in one line.
    ids = [int(i) for i in re.findall(r"^\| (\d+) \|", tasks, flags=re.M)]
    assert ids == [28, 29]
    assert "| 牵头 |" in tasks
    assert "四月：已公开预算项目 36 个（测试员，2023-04-10）" in tasks
    assert "［状态改为：已完成］（区财政局（测试员），2023-04-10）" in tasks
    (listed,) = re.findall(r"^暂无进展记录的任务 46 项：第 (.*) 项。$", tasks, flags=re.M)
    assert listed.startswith("26、30") and " 1、" not in listed  # task 1 is not the finance bureau's


def test_overdue_section_lists_overdue_tasks_with_days_late(session):
    text = session("report", "--unit", "区财政局").stdout
    overdue = section(text, "## 三、逾期任务")
    assert "| 62 |" in overdue and "| 15 |" in overdue  # due 2023-03-31, today 2023-04-15
    assert "| 28 |" not in overdue


def test_no_overdue_says_so(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-01-05")
    assert "无逾期任务。" in gk("report", "--unit", "区财政局").stdout


def test_since_keeps_only_the_notes_of_the_period(session):
    text = session("report", "--unit", "区财政局", "--since", "2023-04-01").stdout
    notes = section(text, "## 四、2023-04-01 以来的进展记录")
    assert "四月：已公开预算项目 36 个" in notes and "状态改为：已完成" in notes
    assert "三月" not in notes
    assert "- 统计期间：2023-04-01 至 2023-04-15" in text
    everything = section(session("report", "--unit", "区财政局").stdout, "## 四、全部进展记录")
    assert "三月：债务限额已公开" in everything


def test_whole_office_report(session):
    text = session("report").stdout
    assert "- 单位：全部责任单位" in text
    assert "计划“2023”的 91 项任务中" in text
    assert "马陆镇以外单位的进展" in text


def test_html_is_self_contained_and_escapes_text(session, tmp_path):
    session("note", "28", "<script>alert(1)</script> & [bold]x[/]")
    target = tmp_path / "report.html"
    result = session("report", "--unit", "区财政局", "--html", "-o", str(target))
    assert result.exit_code == 0 and result.stdout == f"已写入报告“{target}”（HTML）。\n"
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<h2>三、逾期任务</h2>" in page and "<table>" in page
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert not re.search(r"(src|href)=|@import|url\(", page)  # nothing loaded from elsewhere


def test_report_errors(gk, tmp_path):
    assert gk("report", "--unit", "区财政").exit_code == 2
    assert gk("report", "--since", "soon").exit_code == 2
    missing = gk("report", "-o", str(tmp_path / "no" / "r.md"))
    assert missing.exit_code == 2 and "不存在" in missing.stderr


def test_whole_office_report_shows_each_collectives_members_compactly(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-04-15")
    gk("status", "62", "done", "--unit", "马陆镇")
    gk("status", "4", "doing", "--unit", "马陆镇")
    text = gk("report").stdout
    towns = section(text, "各街镇等集合的完成情况")
    assert "各街镇：12 个单位，共同承担第" in towns
    rows = dict(re.findall(r"^\| (\S+) \| (\d+ \| \d+ \| \d+ \| \d+ \| \d+ \| [^|]+) \|$", towns, flags=re.M))
    assert rows["马陆镇"].startswith("1 | 1 | ") and rows["马陆镇"].endswith("| 0 | —")
    assert rows["江桥镇"].startswith("0 | 0 | ") and rows["江桥镇"].endswith("| 1 | 第 62 项")
    assert "各街镇等集合的完成情况" not in gk("report", "--unit", "马陆镇").stdout
