"""The CSV files people hand gongkai: plan tables, the unit file, note batches.

Excel on Chinese Windows saves "CSV" in GBK and "CSV UTF-8" with a BOM; WPS and
Excel's "Unicode text" separate cells with tabs, European locales with
semicolons; offices write headers in Chinese or in English. Every reader
decodes, finds the separator and maps its header here, so a file one command
accepts is accepted by all of them.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from ..domain.errors import UsageError

DELIMITERS = (",", "\t", ";")
# Longer cells cannot be a column name; not cleaning them keeps the search cheap.
_HEADER_CELL_CHARS = 40
# Compiled on first use (re caches it): `note`, which imports this module, never splits a file.
_LINE = r"[^\r\n]*(?:\r\n|[\r\n])|[^\r\n]+\Z"


class Column(NamedTuple):
    """A column a file may have: its key, the header spellings accepted (lower case), whether it must be there."""

    key: str
    spellings: tuple[str, ...]
    required: bool = False


def decode(data: bytes, label: str, *, save_as: str = "“CSV UTF-8”") -> tuple[str, str]:
    """The text and its encoding: UTF-8 with or without BOM, else GB18030.

    GB18030 is a superset of GBK, which is what Excel on Chinese Windows writes.
    `label` names the file in the error ("单位数据文件“units.csv”").
    """
    candidates = ("utf-8-sig",) if data.startswith(codecs.BOM_UTF8) else ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UsageError(f"{label}既不是 UTF-8 也不是 GBK/GB18030 编码，请另存为{save_as}后再导入。")


def map_header(cells: Sequence[str], columns: Sequence[Column]) -> dict[str, int]:
    """Each declared column's index in the header row `cells` (the leftmost match), for those present."""
    names = [_header_name(cell) for cell in cells]
    found: dict[str, int] = {}
    for column in columns:
        for index, name in enumerate(names):
            if name in column.spellings:
                found[column.key] = index
                break
    return found


def missing(found: dict[str, int], columns: Sequence[Column]) -> list[Column]:
    """The required columns a header lacks, in declaration order."""
    return [column for column in columns if column.required and column.key not in found]


def sniff_delimiter(text: str, columns: Sequence[Column], *, lines: int = 1) -> str:
    """The separator under which one of the first `lines` lines reads as the header.

    The first line that names every declared column under one of them decides;
    failing that, the separator that explains most column names, so the error
    can name what is missing. Commas win a tie.
    """
    best, found = ",", 0
    for line in itertools.islice(lines_of(text), lines):
        for delimiter in DELIMITERS:
            try:
                cells = next(csv.reader([line], delimiter=delimiter), [])
            except csv.Error:
                continue
            count = len(map_header(cells, columns))
            if count == len(columns):
                return delimiter
            if count > found:
                best, found = delimiter, count
    return best


def lines_of(text: str) -> Iterator[str]:
    """The lines of `text` with their ends, one at a time, as csv.reader takes them.

    Neither split() nor a StringIO: a 50 MB file would be millions of strings, or a copy at
    four bytes a character, before its first line could be refused.
    """
    for match in re.finditer(_LINE, text):
        yield match.group()


def _header_name(cell: str) -> str:
    # Excel leaves the BOM on the first cell when a file is re-saved; line breaks in a
    # merged header cell leave spaces inside a Chinese name.
    if len(cell) > _HEADER_CELL_CHARS:
        return ""
    return "".join(cell.replace("\ufeff", "").split()).lower()
