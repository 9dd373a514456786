"""Dates: today in the office's time zone, deadline text → dates, user date input → date."""

from __future__ import annotations

import datetime
import functools
import os
import re
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta

from .errors import UsageError

DEFAULT_TZ = "Asia/Shanghai"
# The years a plan can have: far beyond them, "30 days from today" overflows.
YEARS = range(1900, 2100)
# China has had no daylight saving time since 1991, so a fixed offset is exact for
# Asia/Shanghai at every moment this ledger records. Using it for the default zone
# spares every command loading zoneinfo and the tz database (a tenth of a plain
# listing's start-up), and works on machines without one (Windows without tzdata).
_CHINA_STANDARD_TIME = datetime.timezone(timedelta(hours=8), "CST")

Span = tuple[date | None, date | None]
# What one deadline the grammar understood gives: every form has a due date.
_DueSpan = tuple[date | None, date]

# Patterns are kept as text and compiled by `re` on first use (and cached there), so a
# command pays only for the ones it uses: one with a class of Chinese characters takes
# about half a millisecond to compile.
_YEAR_IN_NAME = r"(?<!\d)(?:19|20)\d{2}(?!\d)"
_ISO_DAY = r"\d{4}-\d{2}-\d{2}"

# Deadline grammar. Every form may carry an explicit year ("2024年3月31日前").
_YEAR = r"(?:(?P<year>\d{4})年)?"
_BEFORE = r"(?:之前|以前|前)?"
_PERIOD_SUFFIX = r"[末底内]?" + _BEFORE
_QUARTERS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
# Matched after NFKC, which has already turned ，and ；into , and ;.
_LIST_SEPARATORS = r"[、,;和及]"
_WHITESPACE = r"\s+"


def _months(year: int, first: int, last: int) -> tuple[date, date]:
    """First day of month `first` to last day of month `last`; ValueError if impossible."""
    end = date(year, last, 1)  # ValueError for a month that does not exist
    # The day before the next month's first; December apart, as its next month may be past year 9999.
    end = end.replace(day=31) if last == 12 else date(year, last + 1, 1) - timedelta(days=1)
    return date(year, first, 1), end


def _month_end(year: int, month: int) -> _DueSpan:
    return None, _months(year, month, month)[1]


# Compiled on first use: every command imports this module for today(), few parse text.
@functools.cache
def _deadline_forms() -> tuple[tuple[re.Pattern[str], Callable[[re.Match[str], int], _DueSpan]], ...]:
    return (
        # "2024年底前" has no 年 of its own after the year digits, hence 年? here.
        (
            re.compile(r"(?:(?P<year>\d{4})年?)?(?:全年|年[内底末])" + _BEFORE),
            lambda m, y: _months(y, 1, 12),
        ),
        (
            re.compile(_YEAR + r"(?P<month>\d{1,2})月(?P<day>\d{1,2})[日号]" + _BEFORE),
            lambda m, y: (None, date(y, int(m["month"]), int(m["day"]))),
        ),
        (
            re.compile(_YEAR + r"(?P<month>\d{1,2})月[底末]" + _BEFORE),
            lambda m, y: _month_end(y, int(m["month"])),
        ),
        (
            re.compile(_YEAR + r"(?P<month>\d{1,2})月份?内?"),
            lambda m, y: _months(y, int(m["month"]), int(m["month"])),
        ),
        (
            re.compile(_YEAR + r"(?P<half>[上下])半年" + _PERIOD_SUFFIX),
            lambda m, y: _months(y, 1, 6) if m["half"] == "上" else _months(y, 7, 12),
        ),
        (
            re.compile(_YEAR + r"第?(?P<quarter>[一二三四1-4])季度" + _PERIOD_SUFFIX),
            lambda m, y: _months(y, 3 * _QUARTERS[m["quarter"]] - 2, 3 * _QUARTERS[m["quarter"]]),
        ),
    )


# User date input. Forms without a year use the plan year.
@functools.cache
def _user_date_forms() -> tuple[re.Pattern[str], ...]:
    return (
        re.compile(r"(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})"),
        re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"),
        re.compile(_YEAR + r"(?P<month>\d{1,2})月(?P<day>\d{1,2})[日号]?"),
        # 4/20 and 4.20, as clerks write dates in Excel and chat; 4-20 stays out, it reads as a range.
        re.compile(r"(?P<month>\d{1,2})(?P<sep>[/.])(?P<day>\d{1,2})"),
    )


# 4月底 / 4月末 and 4月初: a named month's last or first day, in the plan year.
_MONTH_EDGE = _YEAR + r"(?P<month>\d{1,2})月(?P<edge>[底末初])"
# Durations: 7d, -2w, 1m from today; 3d, 12h, 1w, 3天 before a calendar entry's due time.
_DURATION = r"(?P<count>[+-]?\d+)\s*(?P<unit>[a-z]|天|小时|周)"
_DURATION_UNITS = {"d": "days", "天": "days", "h": "hours", "小时": "hours", "w": "weeks", "周": "weeks", "m": "months"}
# Dates counted from today take these units; `--alarm` takes its own (see inputs.parse_alarm).
OFFSET_UNITS = ("d", "w", "m")
_RELATIVE_DAYS = {
    "today": 0, "今天": 0, "今日": 0,
    "tomorrow": 1, "明天": 1, "明日": 1,
    "yesterday": -1, "昨天": -1, "昨日": -1,
    "后天": 2, "前天": -2,
}
# Words for a period name the period's LAST day, so `due --before 本周` means "due by the end
# of this week". Weeks run Monday to Sunday (the Chinese calendar week); months are calendar months.
_PERIOD_WORDS = {
    "本周": ("week", 0), "这周": ("week", 0), "下周": ("week", 1), "上周": ("week", -1),
    "本月": ("month", 0), "这个月": ("month", 0), "月底": ("month", 0), "月末": ("month", 0),
    "下月": ("month", 1), "下个月": ("month", 1), "上月": ("month", -1), "上个月": ("month", -1),
}
_MONTH_START_WORDS = ("月初",)
# Whole periods for `--since`/`--until` (report, log): (unit, step) counted from today, or a
# half of the plan year. `--since 上月` alone means all of last month, not "since its last day".
_WHOLE_PERIODS = {
    "本周": ("week", 0), "这周": ("week", 0), "上周": ("week", -1),
    "本月": ("month", 0), "这个月": ("month", 0), "上月": ("month", -1), "上个月": ("month", -1),
    "本季度": ("quarter", 0), "这季度": ("quarter", 0), "上季度": ("quarter", -1),
    "今年": ("year", 0), "本年": ("year", 0), "去年": ("year", -1),
    "上半年": ("half", 0), "下半年": ("half", 1),
}
PERIOD_EXAMPLES = "本周、上周、本月、上月、本季度、上季度、今年、去年、上半年、下半年（计划年度）"

# Every form parse_user_date accepts, for the error message (and docs/dates.md).
USER_DATE_EXAMPLES = (
    "2023-04-20、2023/4/20、2023.4.20、20230420、2023年4月20日、4月20日、4/20、4.20（无年份时取计划年度）；"
    "4月底、4月初；今天、明天、昨天、后天、前天（today、tomorrow、yesterday）；"
    "本周、下周、上周（该周星期日）；本月、月底、下月、上月（该月最后一天）、月初（本月 1 日）；"
    "7d、2w、1m、-7d（从今天起的天、周、月数）"
)


def tz() -> datetime.tzinfo:
    """The office's time zone: env GONGKAI_TZ (IANA name), else Asia/Shanghai."""
    name = os.environ.get("GONGKAI_TZ", "").strip() or DEFAULT_TZ
    if name == DEFAULT_TZ:
        return _CHINA_STANDARD_TIME
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass  # zoneinfo rejects path-like names ("../x") and directories ("Asia") with the last two
    raise UsageError(
        f"未知的时区“{name}”（环境变量 GONGKAI_TZ），请使用 IANA 时区名，如 Asia/Shanghai。"
    )


def now() -> datetime.datetime:
    """The current time in tz(); env GONGKAI_NOW (ISO 8601 with offset) freezes the clock for dry runs."""
    frozen = os.environ.get("GONGKAI_NOW", "").strip()
    if not frozen:
        return datetime.datetime.now(tz()).replace(microsecond=0)
    try:
        moment = datetime.datetime.fromisoformat(frozen.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        # A naive time would silently mean the machine's zone, the very ambiguity this variable removes.
        raise UsageError(
            f"环境变量 GONGKAI_NOW 的值“{frozen}”不是带时区的时间，应形如 2023-04-19T16:01:00+00:00。"
        )
    try:
        local = moment.astimezone(tz()).replace(microsecond=0)
    except OverflowError:
        local = None  # past year 9999 or before year 1 once moved into the office's zone
    if local is None or local.year not in YEARS:
        raise UsageError(
            f"环境变量 GONGKAI_NOW 的值“{frozen}”超出支持的范围（1900 年至 2099 年，按办公室所在时区）。"
        )
    return local


def timestamp() -> str:
    return now().isoformat()


def today() -> date:
    """Today in tz(), or env GONGKAI_TODAY=YYYY-MM-DD for reproducible runs."""
    # An empty value counts as unset, so `GONGKAI_TODAY= gongkai …` clears an override.
    value = os.environ.get("GONGKAI_TODAY", "").strip()
    if not value:
        return now().date()
    try:
        if re.fullmatch(_ISO_DAY, value):
            day = date.fromisoformat(value)
            if day.year not in YEARS:
                raise UsageError(f"环境变量 GONGKAI_TODAY 的值“{value}”超出支持的范围（1900-01-01 至 2099-12-31）。")
            return day
    except ValueError:
        pass
    raise UsageError(
        f"环境变量 GONGKAI_TODAY 的值“{value}”不是有效日期，应为 YYYY-MM-DD 格式，如 2023-04-20。"
    )


def year_from_name(name: str) -> int | None:
    """First standalone four-digit year (1900–2099) in a plan or file name."""
    match = re.search(_YEAR_IN_NAME, name)
    return int(match.group()) if match else None


def _squeeze(text: str) -> str:
    # NFKC turns full-width digits and punctuation typed in Chinese IMEs into ASCII;
    # the source table's line breaks leave stray spaces inside the text.
    return re.sub(_WHITESPACE, "", unicodedata.normalize("NFKC", text or ""))


def _parse_deadline_piece(piece: str, year: int) -> _DueSpan | None:
    for pattern, span in _deadline_forms():
        match = pattern.fullmatch(piece)
        if match:
            try:
                return span(match, int(match["year"]) if match["year"] else year)
            except ValueError:
                return None
    return None


@functools.lru_cache(maxsize=512)
def parse_deadline(text: str, year: int) -> Span:
    """(start, due) for a Chinese deadline such as 全年 or 4月20日前; (None, None) if not understood.

    A list of deadlines ("3月31日前、6月30日前") is due at its latest date.
    """
    pieces = [piece for piece in re.split(_LIST_SEPARATORS, _squeeze(text)) if piece]
    if not pieces:
        return None, None
    spans: list[_DueSpan] = []
    for piece in pieces:
        span = _parse_deadline_piece(piece, year)
        if span is None:
            return None, None
        spans.append(span)
        # An explicit year carries over to the following items: "2024年3月31日前、6月30日前".
        year = span[1].year
    if len(spans) == 1:
        return spans[0]
    return None, max(due for _, due in spans)


def _period_end(today: date, unit: str, step: int) -> date:
    if unit == "week":
        return today + timedelta(days=6 - today.weekday() + 7 * step)
    month_index = today.year * 12 + today.month - 1 + step
    year, month = divmod(month_index, 12)
    return _months(year, month + 1, month + 1)[1]


def _whole_period(key: str, today: date, year: int) -> tuple[date, date] | None:
    if key not in _WHOLE_PERIODS:
        return None
    unit, step = _WHOLE_PERIODS[key]
    if unit == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=step)
        return monday, monday + timedelta(days=6)
    if unit == "half":
        return _months(year, 1, 6) if step == 0 else _months(year, 7, 12)
    if unit == "year":
        return _months(today.year + step, 1, 12)
    length = 3 if unit == "quarter" else 1
    # Months counted from year 0, so that stepping back from January lands in December.
    first = today.year * 12 + (today.month - 1) // length * length + length * step
    first_year, first_month = divmod(first, 12)
    return _months(first_year, first_month + 1, first_month + length)


def parse_period(since: str | None, until: str | None, *, today: date, year: int) -> Span:
    """`--since`/`--until` as days. A whole period (本周, 上月…) given to `--since` starts on its
    first day and, without `--until`, ends on its last; given to `--until`, it ends on its last day.
    Any other form is the one day parse_user_date reads."""
    start: date | None = None
    end: date | None = None
    if since is not None:
        whole = _whole_period(_squeeze(since), today, year)
        if whole is not None:
            start, end = whole
        else:
            start = parse_user_date(since, today=today, year=year)
    if until is not None:
        whole = _whole_period(_squeeze(until), today, year)
        end = whole[1] if whole is not None else parse_user_date(until, today=today, year=year)
    if start is not None and end is not None and start > end:
        raise UsageError(f"统计期间为空：起始日期 {start.isoformat()} 晚于结束日期 {end.isoformat()}。")
    return start, end


def parse_user_date(text: str, *, today: date, year: int) -> date:
    """A date typed on the command line (--before/--after/--since); UsageError if it is not a real date."""
    key = _squeeze(text).lower()
    try:
        if key in _RELATIVE_DAYS:
            return today + timedelta(days=_RELATIVE_DAYS[key])
        if key in _PERIOD_WORDS:
            return _period_end(today, *_PERIOD_WORDS[key])
        if key in _MONTH_START_WORDS:
            return today.replace(day=1)
        offset = parse_duration(key, OFFSET_UNITS, signed=True)
        if offset:
            count, unit = offset
            if unit == "months":
                from dateutil.relativedelta import relativedelta

                return today + relativedelta(months=count)
            return today + timedelta(**{unit: count})
        edge = re.fullmatch(_MONTH_EDGE, key)
        if edge:
            first, last = _months(int(edge["year"]) if edge["year"] else year, int(edge["month"]), int(edge["month"]))
            return first if edge["edge"] == "初" else last
        for pattern in _user_date_forms():
            match = pattern.fullmatch(key)
            if match:
                return date(
                    int(match["year"]) if "year" in match.re.groupindex and match["year"] else year,
                    int(match["month"]),
                    int(match["day"]),
                )
    except (ValueError, OverflowError):
        pass
    raise UsageError(f"无效的日期“{text.strip()}”，可用的写法：{USER_DATE_EXAMPLES}。")


def parse_within(text: str, *, today: date, year: int) -> date:
    """The last day `--within` reaches: any date parse_user_date accepts (7d, 2w, 本周…), but not one before today."""
    until = parse_user_date(text, today=today, year=year)
    if until < today:
        raise UsageError(f"--within 的范围“{text}”应指向今天之后，例如 7d、2w、1m。")
    return until


def parse_duration(text: str, units: tuple[str, ...], *, signed: bool = False) -> tuple[int, str] | None:
    """(count, days/hours/weeks/months) for a duration such as 7d, -2w, 12h or 3天 whose unit is
    one of `units`; None for anything else. A sign is accepted only when `signed`."""
    match = re.fullmatch(_DURATION, text.strip().lower())
    if not match or match["unit"] not in units or (not signed and match["count"][0] in "+-"):
        return None
    return int(match["count"]), _DURATION_UNITS[match["unit"]]
