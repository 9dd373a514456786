"""Report and log periods (`--since`/`--until`): whole periods at their edges, dates, and errors."""

from __future__ import annotations

from datetime import date

import pytest

from gongkai_cli.domain import dates
from gongkai_cli.domain.errors import UsageError


def period(since, until=None, *, today, year=2023):
    return dates.parse_period(since, until, today=date.fromisoformat(today), year=year)


D = date.fromisoformat


@pytest.mark.parametrize(
    ("word", "today", "start", "end"),
    [
        # The Friday, and the Monday and Sunday that bound its week.
        ("本周", "2023-06-09", "2023-06-05", "2023-06-11"),
        ("本周", "2023-06-05", "2023-06-05", "2023-06-11"),
        ("本周", "2023-06-11", "2023-06-05", "2023-06-11"),
        ("这周", "2023-06-09", "2023-06-05", "2023-06-11"),
        ("上周", "2023-06-09", "2023-05-29", "2023-06-04"),
        ("上周", "2023-01-02", "2022-12-26", "2023-01-01"),
        ("本月", "2023-06-09", "2023-06-01", "2023-06-30"),
        ("本月", "2024-02-29", "2024-02-01", "2024-02-29"),
        ("上月", "2023-06-09", "2023-05-01", "2023-05-31"),
        ("上月", "2023-06-01", "2023-05-01", "2023-05-31"),
        ("上月", "2023-06-30", "2023-05-01", "2023-05-31"),
        ("上个月", "2023-01-15", "2022-12-01", "2022-12-31"),
        ("上月", "2024-03-31", "2024-02-01", "2024-02-29"),
        ("本季度", "2023-06-30", "2023-04-01", "2023-06-30"),
        ("本季度", "2023-04-01", "2023-04-01", "2023-06-30"),
        ("本季度", "2023-12-31", "2023-10-01", "2023-12-31"),
        ("上季度", "2023-04-01", "2023-01-01", "2023-03-31"),
        ("上季度", "2023-02-10", "2022-10-01", "2022-12-31"),
        ("今年", "2023-06-09", "2023-01-01", "2023-12-31"),
        ("去年", "2023-01-01", "2022-01-01", "2022-12-31"),
        ("上半年", "2023-06-09", "2023-01-01", "2023-06-30"),
        ("下半年", "2023-06-09", "2023-07-01", "2023-12-31"),
    ],
)
def test_a_whole_period_given_to_since_covers_it_from_first_to_last_day(word, today, start, end):
    assert period(word, today=today) == (D(start), D(end))


def test_the_halves_are_of_the_plan_year():
    # A January report on last year's plan asks about that plan's halves.
    assert period("下半年", today="2024-01-05", year=2023) == (D("2023-07-01"), D("2023-12-31"))


def test_a_whole_period_given_to_until_ends_on_its_last_day():
    assert period("2023-03-15", "上月", today="2023-06-09") == (D("2023-03-15"), D("2023-05-31"))
    assert period(None, "上季度", today="2023-06-09") == (None, D("2023-03-31"))


def test_dates_are_single_days_and_an_open_end_stays_open():
    assert period("2023-05-01", "2023-05-31", today="2023-06-09") == (D("2023-05-01"), D("2023-05-31"))
    assert period("2023-05-01", today="2023-06-09") == (D("2023-05-01"), None)
    assert period(None, today="2023-06-09") == (None, None)
    # Forms that are not whole periods keep the meaning parse_user_date gives them.
    assert period("-7d", today="2023-06-09") == (D("2023-06-02"), None)


def test_an_empty_period_is_refused():
    with pytest.raises(UsageError, match="统计期间为空：起始日期 2023-06-01 晚于结束日期 2023-05-31"):
        period("本月", "上月", today="2023-06-09")


def test_an_unknown_word_lists_the_accepted_forms():
    with pytest.raises(UsageError, match="无效的日期“上上月”"):
        period("上上月", today="2023-06-09")


# -- through the command line ------------------------------------------------------------


@pytest.fixture
def spring(gk, monkeypatch):
    """Notes on the last day of April, the first and last days of May, and in June."""
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-09")
    for moment, text in [
        ("2023-04-30T15:59:00Z", "四月最后一刻"),  # 23:59 in Beijing: still April
        ("2023-04-30T16:00:00Z", "五月第一刻"),  # 00:00 on 1 May in Beijing
        ("2023-05-31T15:59:00Z", "五月最后一刻"),
        ("2023-05-31T16:00:00Z", "六月第一刻"),
        ("2023-06-04T15:59:00Z", "上周日深夜"),
        ("2023-06-04T16:00:00Z", "本周一零点"),
    ]:
        monkeypatch.setenv("GONGKAI_NOW", moment)
        gk("note", "28", text)
    return gk


def period_notes(text: str) -> list[str]:
    start = text.index("的进展记录")
    return [word for word in ("四月最后一刻", "五月第一刻", "五月最后一刻", "六月第一刻", "上周日深夜", "本周一零点")
            if word in text[start:]]


def test_report_since_this_week_covers_monday_to_today(spring):
    text = spring("report", "--since", "本周").stdout
    assert "- 统计期间：2023-06-05 至 2023-06-09" in text
    assert period_notes(text) == ["本周一零点"]


def test_report_since_last_month_covers_may_whole(spring):
    text = spring("report", "--since", "上月").stdout
    assert "- 统计期间：2023-05-01 至 2023-05-31" in text
    assert "、2023-05-01 至 2023-05-31的进展记录\n" in text
    assert period_notes(text) == ["五月第一刻", "五月最后一刻"]
    dated = spring("report", "--since", "2023-05-01", "--until", "2023-05-31").stdout
    assert period_notes(dated) == ["五月第一刻", "五月最后一刻"]
    assert "- 统计期间：2023-05-01 至 2023-05-31" in dated


def test_log_takes_the_same_periods(spring):
    def logged(*period):
        return spring("log", *period, "--format", "csv").stdout.splitlines()[1:]

    may = logged("--since", "上月")
    assert len(may) == 2 and "五月第一刻" in may[0] and "五月最后一刻" in may[1]
    assert logged("--since", "2023-05-01", "--until", "2023-05-31") == may
    this_week = logged("--since", "本周")
    assert len(this_week) == 1 and "本周一零点" in this_week[0]
    until_april = logged("--until", "2023-04-30")
    assert any("四月最后一刻" in line for line in until_april)
    assert not any("五月" in line for line in until_april)


def test_an_empty_period_is_exit_2_with_one_line(spring):
    result = spring("report", "--since", "本月", "--until", "上月")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["错误：统计期间为空：起始日期 2023-06-01 晚于结束日期 2023-05-31。"]
    assert result.stdout == ""
