"""Quantitative targets written into a task's text: 不少于4次, 至少专题听取1次, 2次以上.

The target is read from the text each time rather than stored, so it can never
disagree with the task's wording after a re-import.
"""

from __future__ import annotations

import re

_NUMERALS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
# Written as alternations rather than character classes ([一两…]): `re` compiles a class of
# Chinese characters into a 65,536-entry map, about half a millisecond each, and a listing
# compiles these on every run. The `\d+` branches keep the parser from turning the
# single-character alternatives back into a class.
_NUMBER = r"(\d+|" + "|".join(_NUMERALS) + ")"
# 至少 may be followed by a short verb phrase before the count (至少专题听取1次), but never
# across a clause boundary or another number.
_NOT_A_BREAK = r"(?:(?!\d+|" + "|".join(["，", "。", "；", ";", ",", *_NUMERALS]) + r")(?s:.))"
_PATTERNS = (
    r"不少于\s*" + _NUMBER + r"\s*次",
    r"至少" + _NOT_A_BREAK + r"{0,8}?" + _NUMBER + r"\s*次",
    _NUMBER + r"\s*次(?:以上|及以上|或以上)",
)


def _value(token: str) -> int:
    return int(token) if token.isdigit() else _NUMERALS[token]


# A later count for these is every other unit's own (task 60: 区政府…不少于4次，各单位…不少于1次).
_EACH_UNIT = ("各单位", "各部门", "各街镇", "各责任单位", "各相关单位")
_CLAUSE_BREAKS = "，。；;,"


def level_targets(content: str) -> tuple[int | None, int | None]:
    """(the lead's target, every other unit's): the first count the text asks for, and the count
    a later clause asks of 各单位 (or the first again when no clause does)."""
    first = detect_target(content)
    if first is None:
        return None, None
    found = sorted((match.start(), _value(match.group(1))) for pattern in _PATTERNS for match in re.finditer(pattern, content))
    for start, value in found[1:]:
        clause_start = max(content.rfind(mark, 0, start) for mark in _CLAUSE_BREAKS) + 1
        if value > 0 and any(word in content[clause_start:start] for word in _EACH_UNIT):
            return first, value
    return first, first


def detect_target(content: str) -> int | None:
    """The first count the text asks for; a task sets one target, its lead's (task 60 asks the
    district government for 4 meetings before it asks each unit for 1)."""
    if "次" not in (content or ""):
        return None  # every form counts 次; most tasks are spared the patterns' compiling
    found = [(match.start(), _value(match.group(1))) for pattern in _PATTERNS for match in re.finditer(pattern, content)]
    if not found:
        return None
    value = min(found)[1]
    return value if value > 0 else None
