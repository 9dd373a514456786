"""What a user types, checked and turned into values: task and change numbers, counts, keys, notes."""

from __future__ import annotations

import re

from ..errors import UsageError
from ..models import task_id_value
from ..text import check_text

_COUNT = re.compile(r"[1-9][0-9]{0,8}")
# Keys are made by scripts (a UUID, a job name and date); a plain alphabet keeps them
# safe to echo in messages and to type in a shell.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

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
    if not re.fullmatch(r"[1-9][0-9]{0,17}", value):
        raise UsageError(f"无效的更改编号“{text}”，应为 gongkai log 中的编号，例如 12。")
    return int(value)


def parse_count(value: str | int | None) -> int | None:
    """How much a note counts towards a task's target (第二次列席: --count 1)."""
    if value is None:
        return None
    text = str(value).strip()
    if not _COUNT.fullmatch(text):
        raise UsageError(f"无效的次数“{value}”，应为正整数，例如 --count 1。")
    return int(text)


def parse_key(value: str | None) -> str | None:
    """An idempotency key for `note --key`, or None when none was given."""
    if value is None:
        return None
    text = value.strip()
    if not _KEY.fullmatch(text):
        raise UsageError(
            f"无效的键“{value}”：应为 1–128 个英文字母、数字或 . _ : -，以字母或数字开头，例如一个 UUID。"
        )
    return text


def checked_note(text: str | None) -> str:
    # Checked first: it also refuses the lone surrogates that stand for bytes which are not UTF-8.
    text = check_text((text or "").strip(), "进展说明")
    size = len(text.encode("utf-8"))
    if size > MAX_NOTE_BYTES:
        raise UsageError(f"进展说明过长（{size} 字节），上限为 {MAX_NOTE_BYTES} 字节（64 KiB）。")
    return text
