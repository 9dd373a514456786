"""What people and scripts type, turned into typed values: the one place each input rule lives.

The command line, a `note --from` batch and any later entry point read task
ids, change numbers, statuses, counts, keys, years and durations through these
functions, so each is accepted (and refused, with the same message) the same
way everywhere. Dates stay in dates.py, whose grammar the deadline parser
shares and which need the plan's year; a duration's grammar lives there too.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from ..domain import dates
from ..domain.errors import UsageError
from ..domain.records import task_id_value
from ..domain.statuses import STATUS_WORDS, Status, status_choices
from ..domain.text import check_text

# Compiled by `re` on first use, so that commands that never parse them do not pay.
_EVENT_ID = r"[1-9][0-9]{0,17}"
_COUNT = r"[1-9][0-9]{0,8}"
# Keys are made by scripts (a UUID, a job name and date); a plain alphabet keeps them
# safe to echo in messages and to type in a shell.
_KEY = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
_ALARM_UNITS = ("d", "h", "w", "天", "小时", "周")
# Three digits: a reminder 999 weeks ahead is already beyond any plan.
_MAX_ALARM = 999
_NO_ALARM = ("0", "none", "off", "no", "无")
# A progress note is a few sentences; 64 KiB of UTF-8 is far beyond any real one
# and keeps a pasted file or a runaway script out of the ledger and its reports.
MAX_NOTE_BYTES = 64 * 1024


def parse_task_id(text: str) -> int:
    """Task ids are the table's 序号: positive integers, typed by hand."""
    value = task_id_value((text or "").strip())
    if value is None:
        raise UsageError(f"无效的任务序号“{text}”，序号应为正整数（最多 9 位），例如 40。")
    return value


def parse_event_id(text: str) -> int:
    """A change's number as `log` shows it (#12 or 12)."""
    value = (text or "").strip().removeprefix("#")
    if not re.fullmatch(_EVENT_ID, value):
        raise UsageError(f"无效的更改编号“{text}”，应为 gongkai log 中的编号，例如 12。")
    return int(value)


def parse_status(text: str) -> Status:
    """Accept the English name, the Chinese label or a word clerks use for it (STATUS_WORDS)."""
    key = unicodedata.normalize("NFKC", text or "").strip().lower()
    for status, words in STATUS_WORDS.items():
        if key in words:
            return status
    raise UsageError(f"无效的状态“{text}”，可用的说法：{status_choices()}。")


def parse_count(value: str | int | None) -> int | None:
    """How much a note counts towards a task's target (第二次列席: --count 1)."""
    if value is None:
        return None
    text = str(value).strip()
    if not re.fullmatch(_COUNT, text):
        raise UsageError(f"无效的次数“{value}”，应为正整数，例如 --count 1。")
    return int(text)


def parse_limit(text: str) -> int:
    """`log --limit N`: how many of the newest changes to show."""
    value = (text or "").strip()
    if not re.fullmatch(_EVENT_ID, value) or int(value) == 0:
        raise UsageError(f"无效的条数“{text}”，应为正整数，例如 --limit 100；全部历史用 --all。")
    return int(value)


def parse_key(value: str | None) -> str | None:
    """An idempotency key for `note --key`, or None when none was given."""
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(_KEY, text):
        raise UsageError(
            f"无效的键“{value}”：应为 1–128 个英文字母、数字或 . _ : -，以字母或数字开头，例如一个 UUID。"
        )
    return text


def parse_year(value: str | int) -> int:
    """A plan year (`import --year`), within the years dates can count in."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or int(text) not in dates.YEARS:
        raise UsageError(f"无效的年度“{value}”，应为四位年份，例如 2024。")
    return int(text)


def parse_alarm(text: str) -> timedelta | None:
    """How long before a calendar entry is due to remind (`export --alarm`); None for no reminder."""
    if text.strip().lower() in _NO_ALARM:
        return None
    duration = dates.parse_duration(text, _ALARM_UNITS)
    if duration is None or not 0 < duration[0] <= _MAX_ALARM:
        raise UsageError(f"无效的提醒提前量“{text}”，应为天数、小时数或周数，例如 3d、12h、1w；不提醒用 none。")
    count, unit = duration
    return timedelta(**{unit: count})


def checked_note(text: str | None) -> str:
    """A note's text, stripped; refused when it is not text or longer than MAX_NOTE_BYTES."""
    # Checked first: it also refuses the lone surrogates that stand for bytes which are not UTF-8.
    text = check_text((text or "").strip(), "进展说明")
    size = len(text.encode("utf-8"))
    if size > MAX_NOTE_BYTES:
        raise UsageError(f"进展说明过长（{size} 字节），上限为 {MAX_NOTE_BYTES} 字节（64 KiB）。")
    return text
