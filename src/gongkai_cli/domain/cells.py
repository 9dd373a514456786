"""Text cells that a spreadsheet must not evaluate (CSV injection, OWASP).

Excel, WPS and LibreOffice evaluate a CSV cell that starts with "=", "+", "-" or
"@" (and, after stripping, tab or CR) as a formula: a note such as
=HYPERLINK("http://…","点此") becomes a live link when a colleague opens the
export. Such text cells are written with one apostrophe in front, which every
spreadsheet shows as text. Reading a CSV back removes exactly that apostrophe.

Text whose leading apostrophes are already followed by one of those characters
gets one more, so that reading back is exact: "'=x" is written as "''=x".
Only text cells are guarded: numbers (ids, counts) are written as numbers, and
ISO dates start with a digit, so a negative number in a numeric column is never
touched.
"""

from __future__ import annotations

TRIGGERS = "=+-@\t\r"


def _triggers(text: str) -> bool:
    """Whether `text`, past any leading apostrophes, starts with a character that makes a formula.
    String methods, not a pattern: every listing imports this, and compiling one costs start-up."""
    rest = text.lstrip("'")
    return bool(rest) and rest[0] in TRIGGERS


def guard(text: str) -> str:
    """The text to write into a CSV/TSV cell so that no spreadsheet evaluates it."""
    return "'" + text if _triggers(text) else text


def unguard(text: str) -> str:
    """The text a guarded CSV cell stood for: one added apostrophe removed."""
    return text[1:] if text.startswith("'") and _triggers(text[1:]) else text
