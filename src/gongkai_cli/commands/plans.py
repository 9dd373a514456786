"""Setting up: init, import, plans."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import render
from ..cli import Commands, say
from ..inputs import parse_year
from ..usecases import plans as plan_cases
from .shared import FormatOption, open_ledger, plan_to_create, render_format, saved, settings

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
    with open_ledger(ctx, bootstrap=not empty, create_parents=True) as ledger:
        held = plan_cases.plans(ledger)
        where = ledger.database
    summary = "、".join(f"{p.name}（{p.tasks} 项）" for p in held) or "无计划"
    say(f"台账就绪：{where}；计划：{summary}。")


@commands.command("import")
def import_(
    ctx: typer.Context,
    file: Path = PlanFileArgument,
    plan: str | None = typer.Option(
        None, "--plan", metavar="计划", help="新计划的名称（默认取文件名中的年份，例如 2024）；也可写在 import 之前。"
    ),
    year: int | None = typer.Option(
        None, "--year", metavar="年度", help="计划年度，用于把“全年”“4月20日前”换算成日期。"
    ),
    strict: bool = typer.Option(False, "--strict", help="有责任单位不在单位数据文件中时拒绝导入（默认照原样导入并警告）。"),
) -> None:
    """导入（或重新导入）一份任务分解表。重新导入只更新任务文字，不丢失进展和状态。"""
    year = parse_year(year) if year is not None else None
    name = plan_to_create(ctx, plan)
    result, committed = plan_cases.import_into(settings(ctx), file, plan=name, year=year, strict=strict)
    # The import is in the ledger now: a confirmation that cannot be printed is reported as saved.
    saved(ctx, committed)
    for warning in result.warnings:
        say(f"警告：{warning}", err=True)
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


@commands.command()
def plans(ctx: typer.Context, fmt: str = FormatOption) -> None:
    """列出已导入的计划及其任务数，标出默认计划及原因（今年的计划，没有时为最新的计划）。"""
    fmt = render_format(fmt)
    with open_ledger(ctx) as ledger:
        items = plan_cases.plans(ledger)
    render.plans(items, fmt)
