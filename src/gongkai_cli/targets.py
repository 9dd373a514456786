"""Quantitative targets written into a task's text: 不少于4次, 至少专题听取1次, 2次以上.

The target is read from the text each time rather than stored, so it can never
disagree with the task's wording after a re-import.
"""

from __future__ import annotations

import re

_NUMERALS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUMBER = r"(\d+|[一两二三四五六七八九十])"
# 至少 may be followed by a short verb phrase before the count (至少专题听取1次), but never
# across a clause boundary or another number.
_PATTERNS = (
    re.compile(r"不少于\s*" + _NUMBER + r"\s*次"),
    re.compile(r"至少[^，。；;,\d一两二三四五六七八九十]{0,8}?" + _NUMBER + r"\s*次"),
    re.compile(_NUMBER + r"\s*次(?:及|或)?以上"),
)


def _value(token: str) -> int:
    return int(token) if token.isdigit() else _NUMERALS[token]


def detect_target(content: str) -> int | None:
    """The first count the text asks for; a task sets one target, its lead's (task 60 asks the
    district government for 4 meetings before it asks each unit for 1)."""
    found = [
        (match.start(), _value(match.group(1)))
        for pattern in _PATTERNS
        for match in pattern.finditer(content or "")
    ]
    if not found:
        return None
    value = min(found)[1]
    return value if value > 0 else None
