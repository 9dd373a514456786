"""Plans: which plans the ledger holds, and importing a plan table into it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..domain import dates
from ..domain.errors import UsageError
from ..domain.records import Commit, Plan
from ..domain.text import check_text
from ..domain.units import split_units
from ..store import UNIT_FILE, ImportCounts, TaskFields, TaskInput, locate
from . import team
from .session import DATA_DIR, Session
from .settings import Settings

if TYPE_CHECKING:
    from ..inputs.plan_rows import Row
    from .unit_sheets import SheetResult

# Unknown unit names listed one by one after an import; a file full of them is
# the wrong unit file, and a hundred warning lines would hide that.
MAX_UNKNOWN_UNITS_LISTED = 20


class ImportResult(NamedTuple):
    plan: str
    year: int
    source: str
    tasks: int
    counts: ImportCounts
    warnings: tuple[str, ...]
    default: Plan  # the default plan after the import: this plan or the one that stays default


class PlanImported(NamedTuple):
    """`gongkai import` of a plan table: what it loaded and committed, and whether it made the ledger."""

    result: ImportResult
    committed: list[Commit]
    created: bool  # the ledger was made for this import, and holds only its plan


class SheetReturned(NamedTuple):
    """`gongkai import` of a unit sheet that brought progress back."""

    result: SheetResult
    # Every changed row conflicted: nothing written, raised once the report is shown.
    refused: UsageError | None


def import_table(
    settings: Settings, table: Path, *, open_ledger: Callable[[bool], Session], plan: str | None = None,
    year: int | None = None, strict: bool = False,
) -> PlanImported | SheetReturned:
    """`gongkai import`: the 各单位进展 sheet of a file `export` wrote, when it brings progress back to
    a ledger that has its plan, else a plan table (a whole exported workbook is one too).

    `open_ledger(alone)` opens the command's ledger to look at the sheet: with the bundled plan
    and announced, when one made for it must hold a plan (a unit's own file, `alone`).
    """
    from . import unit_sheets

    sheet = unit_sheets.read_sheet(table)
    # A server's database may hold no ledger yet, as a file may not exist: only a unit's own
    # file then needs the bundled plan to go into, and a whole workbook becomes the plan.
    probed = False
    if sheet is not None and (sheet.alone or locate(settings.database).might_hold_ledger()):
        # Only a unit's own file gets the bundled plan, so only its new ledger is announced as
        # made on first use; a whole workbook makes the plan of the ledger this look created,
        # which the import's confirmation says.
        with open_ledger(sheet.alone) as ledger:
            probed = ledger.created and not sheet.alone
            if unit_sheets.returns_progress(ledger, sheet, plan=plan):
                if year is not None or strict:
                    raise UsageError("--year 和 --strict 只用于导入任务分解表；这是各单位填写的进展表，请去掉这两个选项。")
                returned = unit_sheets.import_sheet(ledger, sheet, table.name, plan=plan)
                refused = None
                if returned.conflicts and not returned.applied:
                    refused = UsageError(
                        f"“{table.name}”中改动的 {len(returned.conflicts)} 行都与台账中更新的记录冲突，未做任何更改；"
                        "请重新导出后再填写这些行。"
                    )
                return SheetReturned(returned, refused)
    result, committed, created = import_into(settings, table, plan=plan, year=year, strict=strict)
    return PlanImported(result, committed, created or probed)


def import_into(
    settings: Settings, table: str | os.PathLike[str], *, plan: str | None = None, year: int | None = None,
    strict: bool = False,
) -> tuple[ImportResult, list[Commit], bool]:
    """`gongkai import`: a missing database is created holding only this plan, and only if
    the import succeeds, so a bad file leaves no database behind. Also returns what was
    committed, for a confirmation that cannot be printed to report as saved, and whether
    this import created the ledger, for the confirmation to say so."""

    def load(ledger: Session) -> ImportResult:
        return import_file(ledger, table, plan=plan, year=year, strict=strict)

    ledger, first = Session.open_with(settings, fill=load)
    if ledger.created:
        # This import made the ledger, so its first plan is the change the import committed.
        ledger.store.adopt_history()
    with ledger:
        result = first if first is not None else load(ledger)
    return result, ledger.store.commits, ledger.created


def plans(ledger: Session) -> list[Plan]:
    """Every plan: the default one first, marked with why it is the default, then the rest
    newest year first. The default is not always the newest (next year's table loaded early)."""
    default = ledger.default_plan()
    if default is None:
        return []
    return [default] + [plan for plan in ledger.store.plans.plans() if plan.name != default.name]


def reload_bundled(ledger: Session) -> bool:
    """Load the bundled plan into a ledger that holds no plan at all (`gongkai init`): what
    undoing the first-run import took away comes back, as only a new ledger gets it otherwise."""
    if ledger.created or ledger.store.plans.plan_names():
        return False
    from .session import bundled_plan_path

    import_file(ledger, bundled_plan_path())
    return True


def import_file(
    ledger: Session, path: str | os.PathLike[str], *, plan: str | None = None, year: int | None = None, strict: bool = False
) -> ImportResult:
    """Load a plan table; the whole file lands or nothing does.

    Unit names the unit file does not know are imported as written and
    reported with the closest known name; with `strict` they refuse the file.
    """
    from ..inputs.plan_files import read_plan_table

    team.require_office(ledger, "导入计划")
    table = read_plan_table(path)
    source = Path(path).name
    if year is None:
        year = (dates.year_from_name(plan) if plan else None) or dates.year_from_name(source)
    year = year or ledger.today.year
    name = check_text(plan or str(year), "计划名称")
    check_text(source, "文件名")
    from .assignments import planned

    warnings = []
    tasks = []
    for row in table.rows:
        start, due = dates.parse_deadline(row.deadline, year)
        if due is None:
            warnings.append(
                f"第 {row.line} 行（序号 {row.id}）：无法识别时间节点“{_shortened(row.deadline)}”，已保留原文，截止日期留空。"
            )
        units = tuple(dict.fromkeys(ledger.directory.canonical(unit) for unit in split_units(row.units)))
        tasks.append(
            TaskInput(
                id=row.id,
                fields=TaskFields(
                    group=row.group, content=row.content, units=list(units), deadline=row.deadline,
                    start=start.isoformat() if start else None, due=due.isoformat() if due else None,
                ),
                assignments=planned(ledger.directory, units),
            )
        )
    unknown = _unknown_units(ledger, table.rows)
    if unknown and strict:
        raise UsageError(
            f"文件中有 {len(unknown)} 个责任单位不在单位数据文件中："
            f"{'、'.join(_listed(unknown, MAX_UNKNOWN_UNITS_LISTED))}；因为指定了 --strict，未导入任何内容。"
        )
    counts = ledger.store.plans.import_plan(
        name, year=year, source=source, at=dates.timestamp(), by=ledger.author(None), tasks=tasks
    )
    if unknown:
        warnings += [f"责任单位不在单位数据文件中：{entry}" for entry in _listed(unknown, MAX_UNKNOWN_UNITS_LISTED)]
        unit_file = Path(ledger.directory.source)
        beside = ledger.location.unit_file_beside()
        if beside is None:
            # A server's ledger keeps the office's unit file inside it.
            add = "请把这些单位加入办公室的单位数据文件，再用 gongkai server units 文件名 存入服务器上的台账"
        elif unit_file == DATA_DIR / UNIT_FILE:
            # The bundled file is replaced by an upgrade; the office's own copy lives by the database.
            add = f"请复制内置的“{ledger.directory.source}”到“{beside}”并加入这些单位"
        else:
            add = f"请加入单位数据文件“{unit_file}”"
        warnings.append(
            f"以上 {len(unknown)} 个单位已按原样导入。若是笔误，可用 gongkai undo 撤销本次导入，改正文件后重新导入；"
            f"若是新单位，{add}。加 --strict 可拒绝含未知单位的文件。"
        )
    return ImportResult(
        plan=name,
        year=year,
        source=source,
        tasks=len(tasks),
        counts=counts,
        warnings=tuple(warnings),
        default=_default_after_import(ledger),
    )


def _default_after_import(ledger: Session) -> Plan:
    default = ledger.default_plan()
    # The plan just imported is in the ledger, so there is a default one.
    assert default is not None
    return default


def _unknown_units(ledger: Session, rows: Iterable[Row]) -> dict[str, tuple[list[int], str | None]]:
    """Unit names the unit file does not know: {name: (table lines, closest known spelling)}."""
    import difflib

    lines: dict[str, list[int]] = {}
    for row in rows:
        for unit in split_units(row.units):
            if not ledger.directory.known(unit):
                lines.setdefault(unit, []).append(row.line)
    spellings = ledger.directory.spellings()
    unknown = {}
    for index, (unit, found) in enumerate(lines.items()):
        # A suggestion costs a comparison with every known name: only for the names shown.
        close = difflib.get_close_matches(unit, spellings, n=1, cutoff=0.5) if index < MAX_UNKNOWN_UNITS_LISTED else []
        unknown[unit] = (found, close[0] if close else None)
    return unknown


def _listed(unknown: dict[str, tuple[list[int], str | None]], limit: int) -> list[str]:
    """"区财政厅 → 区财政局？（第 3、7 行）" per unknown unit, at most `limit` and a count of the rest."""
    entries = []
    for unit, (lines, closest) in itertools.islice(unknown.items(), limit):
        where = f"第 {'、'.join(str(line) for line in lines[:5])} 行" + (f"等 {len(lines)} 处" if len(lines) > 5 else "")
        if closest:
            entries.append(f"{unit} → {closest}？（{where}）")
        else:
            entries.append(f"{unit}（{where}，没有相近的已知单位）")
    if len(unknown) > limit:
        entries.append(f"另有 {len(unknown) - limit} 个未列出")
    return entries


def _shortened(text: str, limit: int = 40) -> str:
    """A cell quoted in a message: enough to find it, never a screenful."""
    return text if len(text) <= limit else f"{text[:limit]}…（共 {len(text)} 个字符）"
