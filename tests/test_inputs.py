"""Input rules that live once: durations, --within, --alarm, years (inputs.py and dates.py)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from gongkai_cli.domain import dates
from gongkai_cli.domain.errors import UsageError
from gongkai_cli.inputs.typed import parse_alarm, parse_year
from processes import without_notice

TODAY = date(2023, 4, 12)  # a Wednesday


@pytest.mark.no_ledger
@pytest.mark.parametrize(
    ("text", "units", "signed", "expected"),
    [
        ("7d", dates.OFFSET_UNITS, True, (7, "days")),
        ("-2w", dates.OFFSET_UNITS, True, (-2, "weeks")),
        ("1m", dates.OFFSET_UNITS, True, (1, "months")),
        ("12h", dates.OFFSET_UNITS, True, None),
        ("3天", dates.OFFSET_UNITS, True, None),
        ("3 天", ("d", "天"), False, (3, "days")),
        ("12小时", ("h", "小时"), False, (12, "hours")),
        ("-3d", ("d",), False, None),
        ("+3d", ("d",), False, None),
        ("3dd", ("d",), False, None),
        ("d", ("d",), False, None),
    ],
)
def test_one_duration_grammar_with_the_units_each_option_takes(text, units, signed, expected):
    assert dates.parse_duration(text, units, signed=signed) == expected


@pytest.mark.no_ledger
@pytest.mark.parametrize(("text", "until"), [("7d", date(2023, 4, 19)), ("0d", TODAY), ("本周", date(2023, 4, 16))])
def test_within_reaches_any_day_from_today_on(text, until):
    assert dates.parse_within(text, today=TODAY, year=2023) == until


@pytest.mark.no_ledger
def test_within_pointing_before_today_is_refused():
    with pytest.raises(UsageError) as caught:
        dates.parse_within("-3d", today=TODAY, year=2023)
    assert caught.value.message == "--within 的范围“-3d”应指向今天之后，例如 7d、2w、1m。"


@pytest.mark.parametrize("command", ["due", "remind"])
def test_due_and_remind_refuse_a_backward_window_alike(gk, command):
    result = gk(command, "--within", "-3d")
    assert result.exit_code == 2
    assert without_notice(result.stderr) == "错误：--within 的范围“-3d”应指向今天之后，例如 7d、2w、1m。\n"


@pytest.mark.no_ledger
@pytest.mark.parametrize(
    ("text", "expected"),
    [("3d", timedelta(days=3)), ("12h", timedelta(hours=12)), ("1w", timedelta(weeks=1)),
     ("3 天", timedelta(days=3)), ("12小时", timedelta(hours=12)), ("2周", timedelta(weeks=2)),
     ("999d", timedelta(days=999)), ("none", None), ("无", None), ("0", None)],
)
def test_alarm_lead_times(text, expected):
    assert parse_alarm(text) == expected


@pytest.mark.no_ledger
@pytest.mark.parametrize("text", ["0d", "+3d", "-3d", "1m", "1000d", "3", "soon"])
def test_bad_alarm_lead_times_are_refused(text):
    with pytest.raises(UsageError, match=re.escape(f"无效的提醒提前量“{text}”")):
        parse_alarm(text)


@pytest.mark.no_ledger
@pytest.mark.parametrize("text", ["7天", "12h"])
def test_alarm_units_are_no_dates(text):
    with pytest.raises(UsageError, match=f"无效的日期“{text}”"):
        dates.parse_user_date(text, today=TODAY, year=2023)


@pytest.mark.no_ledger
def test_plan_years_are_the_years_dates_count_in():
    assert parse_year(1900) == 1900 and parse_year(2099) == 2099
    for year in (1899, 2100):
        with pytest.raises(UsageError, match=f"无效的年度“{year}”"):
            parse_year(year)
