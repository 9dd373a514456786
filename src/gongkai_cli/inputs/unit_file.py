"""The unit file: who belongs to 各街镇 or 区政府各部门, and which short names mean the same unit,
is data the office edits (a CSV), not code. This module reads and checks that file into the
directory domain/units.py defines.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..domain.errors import UsageError
from ..domain.text import check_text, os_reason
from ..domain.units import KIND_LABELS, KINDS, Unit, UnitDirectory, split_units, unit_name
from .csvfiles import Column, decode, map_header, missing, sniff_delimiter

_KIND_INPUT = {**{kind: kind for kind in KINDS}, **{label: kind for kind, label in KIND_LABELS.items()}}
_COLUMNS = (
    Column("name", ("name", "单位", "名称"), required=True),
    Column("kind", ("kind", "类型")),
    Column("aliases", ("aliases", "别名")),
    Column("members", ("members", "成员")),
)


# Groups inside groups: 各街镇 inside 区属各单位 is two; no office nests a dozen.
MAX_GROUP_DEPTH = 12


def read_unit_file(path: Path) -> str:
    """A unit file's text: UTF-8 with or without BOM, else GBK/GB18030 (what Excel on Chinese Windows saves)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"无法读取单位数据文件“{path}”：{os_reason(err)}。") from None
    text, _ = decode(data, f"单位数据文件“{path}”")
    return text


def read_to_store(path: Path) -> tuple[str, int]:
    """A unit file to keep inside a server's ledger: its text and how many units it names, once
    it reads as every command reads a unit file, holds nothing stored text may not
    (text.check_text), and names at least one unit."""
    text = read_unit_file(path)
    # By line, so that the message can say where; split on line feeds alone, since
    # str.splitlines would also split on (and so pass over) the controls looked for.
    for number, line in enumerate(text.split("\n"), start=1):
        check_text(line, f"单位数据文件“{path}”第 {number} 行")
    units = sum(1 for _ in parse_directory(text, str(path)))
    if not units:
        raise UsageError(f"单位数据文件“{path}”中没有任何单位。")
    return text, units


def load_directory(path: Path) -> UnitDirectory:
    """Read a unit file: name, kind, aliases, members (lists joined by 、); English or Chinese header."""
    return parse_directory(read_unit_file(path), str(path))


def parse_directory(text: str, source: str, *, label: str | None = None) -> UnitDirectory:
    """The units of a unit file's `text`; `source` says where it came from (`gongkai units`
    shows it), `label` names the file in errors (by default 单位数据文件“<source>”)."""
    named = label or f"单位数据文件“{source}”"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text, _COLUMNS))
    try:
        records = list(reader)
    except csv.Error:
        # A quote or a bare carriage return that leaves a field open: csv says so in English only.
        raise UsageError(f"{named}第 {reader.line_num} 行附近的引号或换行不成对，无法按 CSV 读取。") from None
    header = records[0] if records else None
    if header is None:
        raise UsageError(f"{named}是空的。")
    columns = map_header(header, _COLUMNS)
    if missing(columns, _COLUMNS):
        raise UsageError(f"{named}缺少列：name（单位）。")
    units: list[Unit] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        # A column the file lacks, or a short row, reads as empty.
        row = {column.key: "" for column in _COLUMNS} | {
            key: cells[index].strip() for key, index in columns.items() if index < len(cells)
        }
        name = unit_name(row["name"])
        if not name:
            raise UsageError(f"{named}第 {line} 行：单位名称为空。")
        kind = _KIND_INPUT.get(row["kind"] or "other")
        if kind is None:
            choices = "、".join(f"{k}（{KIND_LABELS[k]}）" for k in KINDS)
            raise UsageError(f"{named}第 {line} 行：未知的类型“{row['kind']}”，可选：{choices}。")
        unit = Unit(name, kind, split_units(row["aliases"]), split_units(row["members"]))
        for spelling in (unit.name, *unit.aliases):
            if spelling in seen:
                raise UsageError(
                    f"{named}第 {line} 行：名称“{spelling}”与第 {seen[spelling]} 行重复。"
                )
            seen[spelling] = line
        if unit.collective and kind != "group":
            raise UsageError(f"{named}第 {line} 行：只有类型为 group（集合）的单位才能有成员。")
        units.append(unit)
    directory = UnitDirectory(units, source)
    cycle = _group_cycle(directory, named)
    if cycle:
        raise UsageError(
            f"{named}中的集合互相包含：{' → '.join(cycle)}；集合不能直接或间接包含自己。"
        )
    return directory


def _group_cycle(directory: UnitDirectory, named: str) -> list[str]:
    """A chain of groups that leads back to its start (甲 → 乙 → 甲), or [] when there is none.

    Expanding such a group would never end, so the file is refused when it is read; so is a
    chain of groups inside groups deeper than any office has (MAX_GROUP_DEPTH), which every
    command that expands it would have to walk.
    """
    done: set[str] = set()
    for start in directory:
        if start.name in done:
            continue
        path, on_path = [start.name], {start.name}
        stack = [iter(start.members)]
        while stack:
            member = next(stack[-1], None)
            if member is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            name = directory.canonical(member)
            if name in on_path:
                return [*path[path.index(name):], name]
            unit = directory.get(name)
            if name in done or unit is None or not unit.collective:
                continue
            path.append(name)
            on_path.add(name)
            if len(path) > MAX_GROUP_DEPTH:
                raise UsageError(
                    f"{named}中的集合嵌套超过 {MAX_GROUP_DEPTH} 层（从“{path[0]}”开始）；"
                    "请把深层的成员直接列在上层集合中。"
                )
            stack.append(iter(unit.members))
    return []
