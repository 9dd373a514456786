"""Setting up: init, import, plans."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .. import render
from ..cli import Commands
from ..console import say
from ..errors import UsageError
from ..inputs import parse_year
from ..store import ServerURL
from ..usecases import plans as plan_cases
from .shared import FormatOption, open_ledger, plan_to_create, render_format, saved, settings

if TYPE_CHECKING:
    from ..tables import SheetRecords
    from ..usecases.session import Session

commands = Commands()
_WHY_DEFAULT = {"current_year": "今年的计划", "newest": "没有今年的计划，它是最新的"}
# Declared here, not in the signature, as the linter asks of a non-string default.
PlanFileArgument = typer.Argument(
    ..., metavar="文件",
    help="任务分解表：Word 文档（.docx）、PDF、Excel 文件（.xlsx），或 CSV 文件（UTF-8、带 BOM 的 UTF-8 或 "
    "GBK/GB18030，以逗号、制表符或分号分隔）。按内容识别格式，不看扩展名。",
)


@commands.command()
def init(
    ctx: typer.Context,
    empty: bool = typer.Option(False, "--empty", help="创建空台账，不载入内置的 2023 年计划。"),
) -> None:
    """创建数据库（已存在时不做任何改动；所在目录不存在时一并创建）。"""
    with open_ledger(ctx, bootstrap=not empty, create_parents=True, announce=False) as ledger:
        held = plan_cases.plans(ledger)
        where = ledger.database
        created = ledger.created
    summary = "、".join(f"{p.name}（{p.tasks} 项）" for p in held) or "无计划"
    say(f"{'已新建台账' if created else '台账就绪'}：{where}；计划：{summary}。")


@commands.command("import")
def import_(
    ctx: typer.Context,
    file: Path = PlanFileArgument,
    plan: str | None = typer.Option(
        None, "--plan", metavar="计划", help="新计划的名称（默认取文件名中的年份，例如 2024）；也可写在 import 之前。"
    ),
    year: str | None = typer.Option(
        None, "--year", metavar="年度", help="计划年度，用于把“全年”“4月20日前”换算成日期。"
    ),
    strict: bool = typer.Option(False, "--strict", help="有责任单位不在单位数据文件中时拒绝导入（默认照原样导入并警告）。"),
) -> None:
    """导入（或重新导入）一份任务分解表。重新导入只更新任务文字，不丢失进展和状态。

    gongkai export 导出的 xlsx（含“各单位进展”表）填写后导回时，按各单位填写的“状态”“最新进展”记录进展，导出后台账中已有更新的行列为冲突、不覆盖（见 docs/exports.md）。
    """
    from ..usecases import unit_sheets

    plan_year = parse_year(year) if year is not None else None
    name = plan_to_create(ctx, plan)
    sheet = unit_sheets.read_sheet(file)
    # A whole exported workbook is also a plan table: into a new ledger it is read as one.
    database = settings(ctx).database
    # A server's database may hold no ledger yet, as a file may not exist: only a unit's own
    # file then needs the bundled plan to go into, and a whole workbook becomes the plan.
    probed = False
    if sheet is not None and (sheet.alone or isinstance(database, ServerURL) or database.exists()):
        # Only a unit's own file gets the bundled plan, so only its new ledger is announced as
        # made on first use; a whole workbook makes the plan of the ledger this look created,
        # which the import's confirmation says.
        with open_ledger(ctx, bootstrap=sheet.alone, announce=sheet.alone) as ledger:
            probed = ledger.created and not sheet.alone
            if unit_sheets.returns_progress(ledger, sheet, plan=name):
                if plan_year is not None or strict:
                    raise UsageError("--year 和 --strict 只用于导入任务分解表；这是各单位填写的进展表，请去掉这两个选项。")
                _import_unit_sheet(ledger, sheet, file.name, name)
                return
    result, committed, created = plan_cases.import_into(settings(ctx), file, plan=name, year=plan_year, strict=strict)
    # The import is in the ledger now: a confirmation that cannot be printed is reported as saved.
    saved(ctx, committed)
    for warning in result.warnings:
        say(f"警告：{warning}", err=True)
    if created or probed:
        say(f"已新建台账“{database}”，其中只有本次导入的计划。")
    counts = result.counts
    say(
        f"已导入计划“{result.plan}”（{result.year} 年，来自 {result.source}）：共 {result.tasks} 项，"
        f"新增 {counts.added}，更新 {counts.updated}，未变 {counts.unchanged}。"
    )
    why = _WHY_DEFAULT.get(result.default.default or "", "")
    if result.default.name == result.plan:
        say(f"计划“{result.plan}”现在是默认计划（{why}）。")
    else:
        say(f"默认计划仍是“{result.default.name}”（{why}）；操作这份计划请加 --plan {result.plan}。")
    if counts.kept:
        kept = "、".join(str(task_id) for task_id in counts.kept)
        say(f"注意：台账中序号 {kept} 的任务不在此文件中，已原样保留。", err=True)


def _import_unit_sheet(ledger: Session, sheet: SheetRecords, source: str, plan: str | None) -> None:
    from ..columns import latest_words
    from ..usecases import unit_sheets

    result = unit_sheets.import_sheet(ledger, sheet, source, plan=plan)
    say(
        f"已导入“{source}”中各单位填写的进展（计划“{result.plan}”，{result.rows} 行）：更新 {len(result.applied)} 行，"
        f"未变 {result.unchanged} 行，冲突 {len(result.conflicts)} 行。"
    )
    for change in result.applied:
        parts = []
        if change.after is not None:
            parts.append(f"状态 {change.before.label} → {change.after.label}")
        if change.text:
            parts.append(f"新进展“{_quoted(change.text)}”")
        say(f"  第 {change.line} 行 任务 {change.task_id} {change.unit}：{'；'.join(parts)}")
    for conflict in result.conflicts:
        now = conflict.now
        latest = latest_words(now)
        ledger_side = f"“{now.status.label}”" + (f"、最新进展“{_quoted(latest.text)}”（{latest.at[:16].replace('T', ' ')}）" if latest else "")
        asked = f"“{conflict.asked.label}”" + (f"、最新进展“{_quoted(conflict.text)}”" if conflict.text else "")
        say(
            f"冲突：第 {conflict.line} 行 任务 {conflict.task_id} {conflict.unit}：导出后台账中已有更新（现为{ledger_side}），"
            f"表格中为{asked}；未导入这一行，台账保持不变。",
            err=True,
        )
    if result.conflicts and not result.applied:
        raise UsageError(
            f"“{source}”中改动的 {len(result.conflicts)} 行都与台账中更新的记录冲突，未做任何更改；"
            "请重新导出后再填写这些行。"
        )


def _quoted(text: str, limit: int = 30) -> str:
    """A note quoted on one line of the report: enough to recognise it."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


@commands.command()
def plans(ctx: typer.Context, fmt: str = FormatOption) -> None:
    """列出已导入的计划及其任务数，标出默认计划及原因（今年的计划，没有时为最新的计划）。"""
    fmt = render_format(fmt)
    with open_ledger(ctx) as ledger:
        items = plan_cases.plans(ledger)
    render.plans(items, fmt)
