import datetime
import subprocess
import sys
from datetime import date, timedelta

import pytest

from gongkai_cli.domain import dates
from gongkai_cli.domain.errors import UsageError

pytestmark = pytest.mark.no_ledger


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # The developer's own shell settings must not change the results.
    monkeypatch.delenv("GONGKAI_TZ", raising=False)
    monkeypatch.delenv("GONGKAI_TODAY", raising=False)


# --- parse_deadline -------------------------------------------------------

WHOLE_2023 = (date(2023, 1, 1), date(2023, 12, 31))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("全年", WHOLE_2023),
        ("年内", WHOLE_2023),
        ("年底前", WHOLE_2023),
        ("年底", WHOLE_2023),
        ("4月20日前", (None, date(2023, 4, 20))),
        ("4月20日", (None, date(2023, 4, 20))),
        ("4月20号前", (None, date(2023, 4, 20))),
        ("3月31日前", (None, date(2023, 3, 31))),
        ("11月底前", (None, date(2023, 11, 30))),
        ("11月底", (None, date(2023, 11, 30))),
        ("11月末", (None, date(2023, 11, 30))),
        ("12月底前", (None, date(2023, 12, 31))),
        ("2月底", (None, date(2023, 2, 28))),
        ("8月份", (date(2023, 8, 1), date(2023, 8, 31))),
        ("8月", (date(2023, 8, 1), date(2023, 8, 31))),
        ("8月内", (date(2023, 8, 1), date(2023, 8, 31))),
        ("9月份", (date(2023, 9, 1), date(2023, 9, 30))),
        ("上半年", (date(2023, 1, 1), date(2023, 6, 30))),
        ("上半年前", (date(2023, 1, 1), date(2023, 6, 30))),
        ("下半年", (date(2023, 7, 1), date(2023, 12, 31))),
        ("下半年内", (date(2023, 7, 1), date(2023, 12, 31))),
        ("第一季度", (date(2023, 1, 1), date(2023, 3, 31))),
        ("二季度", (date(2023, 4, 1), date(2023, 6, 30))),
        ("第三季度", (date(2023, 7, 1), date(2023, 9, 30))),
        ("三季度", (date(2023, 7, 1), date(2023, 9, 30))),
        ("第3季度", (date(2023, 7, 1), date(2023, 9, 30))),
        ("3季度", (date(2023, 7, 1), date(2023, 9, 30))),
        ("三季度末", (date(2023, 7, 1), date(2023, 9, 30))),
        ("第四季度底前", (date(2023, 10, 1), date(2023, 12, 31))),
        ("4季度内", (date(2023, 10, 1), date(2023, 12, 31))),
        # The source table's line breaks leave spaces inside the text.
        (" 4月 20 日前 ", (None, date(2023, 4, 20))),
        ("全 年", WHOLE_2023),
        # Full-width digits from Chinese input methods.
        ("４月２０日前", (None, date(2023, 4, 20))),
    ],
)
def test_parse_deadline_in_plan_year(text, expected):
    assert dates.parse_deadline(text, 2023) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024年3月31日前", (None, date(2024, 3, 31))),
        ("2024年3月底前", (None, date(2024, 3, 31))),
        ("2024年底前", (date(2024, 1, 1), date(2024, 12, 31))),
        ("2024年8月份", (date(2024, 8, 1), date(2024, 8, 31))),
        ("2024年第二季度", (date(2024, 4, 1), date(2024, 6, 30))),
        ("2024年上半年", (date(2024, 1, 1), date(2024, 6, 30))),
    ],
)
def test_parse_deadline_explicit_year_wins_over_plan_year(text, expected):
    assert dates.parse_deadline(text, 2023) == expected


@pytest.mark.parametrize("year, last_day", [(2024, 29), (2023, 28), (2000, 29), (1900, 28)])
def test_parse_deadline_february_end_follows_leap_years(year, last_day):
    assert dates.parse_deadline("2月底前", year) == (None, date(year, 2, last_day))


@pytest.mark.parametrize(
    "text, expected_due",
    [
        ("3月31日前、6月30日前", date(2023, 6, 30)),
        ("3月31日前，6月30日前", date(2023, 6, 30)),
        ("3月31日前、6月30日前、11月底前", date(2023, 11, 30)),
        ("6月30日前和12月31日前", date(2023, 12, 31)),
        # An explicit year carries over to the following items.
        ("2024年3月31日前、6月30日前", date(2024, 6, 30)),
    ],
)
def test_parse_deadline_list_is_due_at_last_date(text, expected_due):
    assert dates.parse_deadline(text, 2023) == (None, expected_due)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "长期", "持续推进", "按要求", "2月30日", "4月31日前", "13月", "13月底", "0月",
     "第五季度", "中半年", "8月份前", "全年、长期", "、", "12345"],
)
def test_parse_deadline_unknown_or_impossible_gives_none(text):
    assert dates.parse_deadline(text, 2023) == (None, None)


# --- parse_user_date ------------------------------------------------------

TODAY = date(2023, 1, 31)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2023-04-20", date(2023, 4, 20)),
        ("2023-4-20", date(2023, 4, 20)),
        ("2023/4/20", date(2023, 4, 20)),
        ("2023/04/20", date(2023, 4, 20)),
        ("2023.4.20", date(2023, 4, 20)),
        ("20230420", date(2023, 4, 20)),
        ("2023年4月20日", date(2023, 4, 20)),
        ("2023年4月20", date(2023, 4, 20)),
        ("2024年2月29日", date(2024, 2, 29)),
        ("  2023-04-20\n", date(2023, 4, 20)),
    ],
)
def test_parse_user_date_absolute(text, expected):
    assert dates.parse_user_date(text, today=TODAY, year=2020) == expected


def test_parse_user_date_month_day_uses_plan_year():
    assert dates.parse_user_date("4月20日", today=TODAY, year=2021) == date(2021, 4, 20)
    assert dates.parse_user_date("12月1日", today=TODAY, year=2024) == date(2024, 12, 1)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("today", date(2023, 1, 31)),
        ("TODAY", date(2023, 1, 31)),
        ("今天", date(2023, 1, 31)),
        ("tomorrow", date(2023, 2, 1)),
        ("明天", date(2023, 2, 1)),
        ("yesterday", date(2023, 1, 30)),
        ("昨天", date(2023, 1, 30)),
        ("7d", date(2023, 2, 7)),
        ("7D", date(2023, 2, 7)),
        ("0d", date(2023, 1, 31)),
        ("-3d", date(2023, 1, 28)),
        ("2w", date(2023, 2, 14)),
        ("-1w", date(2023, 1, 24)),
        # Calendar months clamp to the month's end: 31 January + 1 month = 28 February.
        ("1m", date(2023, 2, 28)),
        ("13m", date(2024, 2, 29)),
        ("-2m", date(2022, 11, 30)),
    ],
)
def test_parse_user_date_relative_to_today(text, expected):
    assert dates.parse_user_date(text, today=TODAY, year=2020) == expected


@pytest.mark.parametrize(
    "text",
    ["2023-13-01", "2023-02-30", "soon", "", "32/13", "4-20", "2023-04/20", "2023042",
     "4月32日", "7y", "d", "99999999d", "下下周", "13月底", "4/31", "13.1", "月中"],
)
def test_parse_user_date_rejects_invalid(text):
    with pytest.raises(UsageError) as caught:
        dates.parse_user_date(text, today=TODAY, year=2023)
    assert f"“{text}”" in caught.value.message
    assert caught.value.exit_code == 2


# A Wednesday, so that "this week" and "next week" are not today.
CLERK_TODAY = date(2023, 4, 12)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4月底", date(2021, 4, 30)),
        ("2月底", date(2021, 2, 28)),
        ("4月末", date(2021, 4, 30)),
        ("2024年2月底", date(2024, 2, 29)),
        ("4月初", date(2021, 4, 1)),
        ("4/20", date(2021, 4, 20)),
        ("4.20", date(2021, 4, 20)),
        ("４／２０", date(2021, 4, 20)),  # full-width, as a Chinese IME types it
        ("今天", CLERK_TODAY),
        ("明天", date(2023, 4, 13)),
        ("昨天", date(2023, 4, 11)),
        ("后天", date(2023, 4, 14)),
        ("本周", date(2023, 4, 16)),  # that week's Sunday
        ("下周", date(2023, 4, 23)),
        ("上周", date(2023, 4, 9)),
        ("本月", date(2023, 4, 30)),
        ("月底", date(2023, 4, 30)),
        ("月初", date(2023, 4, 1)),
        ("下月", date(2023, 5, 31)),
        ("上月", date(2023, 3, 31)),
    ],
)
def test_the_dates_clerks_type(text, expected):
    assert dates.parse_user_date(text, today=CLERK_TODAY, year=2021) == expected


def test_week_words_on_a_sunday_and_months_across_the_year_end():
    sunday = date(2023, 4, 16)
    assert dates.parse_user_date("本周", today=sunday, year=2023) == sunday
    assert dates.parse_user_date("下周", today=sunday, year=2023) == date(2023, 4, 23)
    december = date(2023, 12, 5)
    assert dates.parse_user_date("下月", today=december, year=2023) == date(2024, 1, 31)
    assert dates.parse_user_date("上月", today=date(2024, 1, 9), year=2024) == date(2023, 12, 31)


def test_the_error_lists_every_accepted_form():
    with pytest.raises(UsageError) as caught:
        dates.parse_user_date("过几天", today=CLERK_TODAY, year=2023)
    message = caught.value.message
    for form in ("2023-04-20", "4月20日", "4/20", "4.20", "4月底", "月底", "月初", "本周", "下周", "本月",
                 "下月", "今天", "明天", "昨天", "7d", "2w", "1m"):
        assert form in message


def test_import_stays_light():
    # dateutil is only needed for month offsets; importing the module must not load it.
    code = "import sys, gongkai_cli.domain.dates; print('dateutil' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --- year_from_name -------------------------------------------------------

@pytest.mark.parametrize(
    "name, expected",
    [
        ("2024", 2024),
        ("tasks_2024.csv", 2024),
        ("嘉定区2023年要点.csv", 2023),
        ("2022-2023", 2022),
        ("1999", 1999),
        ("plan-12345.csv", None),
        ("20230420.csv", None),
        ("x", None),
        ("", None),
        ("1899", None),
        ("2100", None),
    ],
)
def test_year_from_name(name, expected):
    assert dates.year_from_name(name) == expected


# --- time zone and today ----------------------------------------------------

def test_tz_defaults_to_shanghai():
    assert dates.now().utcoffset() == timedelta(hours=8)
    assert dates.timestamp().endswith("+08:00")


def test_tz_from_env(monkeypatch):
    monkeypatch.setenv("GONGKAI_TZ", "UTC")
    assert dates.now().utcoffset() == timedelta(0)
    assert dates.timestamp().endswith("+00:00")


def test_now_has_no_microseconds():
    assert dates.now().microsecond == 0
    assert len(dates.timestamp()) == len("2026-11-27T23:16:00+08:00")


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc", "Asia", "亚洲/上海"])
def test_unknown_tz_is_usage_error(monkeypatch, name):
    monkeypatch.setenv("GONGKAI_TZ", name)
    with pytest.raises(UsageError) as caught:
        dates.tz()
    assert f"“{name}”" in caught.value.message


def test_the_default_zone_needs_no_tz_database_and_agrees_with_it(monkeypatch):
    import zoneinfo

    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")

    def no_database(key):
        raise zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", no_database)
    zone = dates.tz()
    for moment in (datetime.datetime(1992, 7, 1), datetime.datetime(2023, 1, 1), datetime.datetime(2023, 7, 1, 12)):
        assert zone.utcoffset(moment) == shanghai.utcoffset(moment) == timedelta(hours=8)
        assert zone.tzname(moment) == shanghai.tzname(moment)

    monkeypatch.setenv("GONGKAI_TZ", "Europe/Berlin")
    with pytest.raises(UsageError):
        dates.tz()


def test_today_from_env(monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-04-20")
    assert dates.today() == date(2023, 4, 20)


def test_empty_today_env_means_unset(monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "")
    before = dates.now().date()
    # Two reads so that a run across midnight cannot fail.
    assert dates.today() in (before, dates.now().date())


@pytest.mark.parametrize("value", ["2023-02-30", "tomorrow", "20230420", "2023/4/20"])
def test_invalid_today_env_is_usage_error(monkeypatch, value):
    monkeypatch.setenv("GONGKAI_TODAY", value)
    with pytest.raises(UsageError) as caught:
        dates.today()
    assert f"“{value}”" in caught.value.message


# -- a frozen clock across the Beijing date line ---------------------------------------


@pytest.mark.parametrize(
    ("frozen", "expected_today", "expected_stamp"),
    [
        ("2023-04-19T15:59:00+00:00", date(2023, 4, 19), "2023-04-19T23:59:00+08:00"),
        ("2023-04-19T16:01:00Z", date(2023, 4, 20), "2023-04-20T00:01:00+08:00"),
        ("2023-04-20T00:01:00+08:00", date(2023, 4, 20), "2023-04-20T00:01:00+08:00"),
    ],
)
def test_frozen_clock_is_read_in_beijing_time(monkeypatch, frozen, expected_today, expected_stamp):
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("GONGKAI_TODAY", raising=False)
    monkeypatch.delenv("GONGKAI_TZ", raising=False)
    monkeypatch.setenv("GONGKAI_NOW", frozen)
    assert dates.today() == expected_today
    assert dates.timestamp() == expected_stamp


@pytest.mark.parametrize("frozen", ["2023-04-19T16:01:00", "yesterday"])
def test_frozen_clock_needs_an_offset(monkeypatch, frozen):
    monkeypatch.setenv("GONGKAI_NOW", frozen)
    with pytest.raises(UsageError, match="GONGKAI_NOW"):
        dates.now()
