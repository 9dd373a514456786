"""Setting up: init, import, plans."""

from __future__ import annotations

from pathlib import Path

import typer

from ...inputs.typed import parse_year
from ...outputs import render
from ...usecases import plans as plan_cases
from ..app import Commands
from ..console import say
from .shared import FormatOption, open_ledger, plan_to_create, render_format, saved, settings

commands = Commands()
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
    """创建数据库（所在目录不存在时一并创建）。已存在时不做任何改动，只有台账中没有任何计划时（例如撤销了首次载入的内置计划）重新载入内置计划。"""
    with open_ledger(ctx, bootstrap=not empty, create_parents=True, announce=False) as ledger:
        reloaded = not empty and plan_cases.reload_bundled(ledger)
        held = plan_cases.plans(ledger)
        where = ledger.database
        created = ledger.created
    summary = "、".join(f"{p.name}（{p.tasks} 项）" for p in held) or "无计划"
    done = "已新建台账" if created else "台账中没有计划，已重新载入内置计划" if reloaded else "台账就绪"
    say(f"{done}：{where}；计划：{summary}。")


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
    plan_year = parse_year(year) if year is not None else None
    imported = plan_cases.import_table(
        settings(ctx), file, plan=plan_to_create(ctx, plan), year=plan_year, strict=strict,
        open_ledger=lambda alone: open_ledger(ctx, bootstrap=alone, announce=alone),
    )
    if isinstance(imported, plan_cases.SheetReturned):
        render.sheet_imported(imported.result)
        if imported.refused is not None:
            raise imported.refused
        return
    # The import is in the ledger now: a confirmation that cannot be printed is reported as saved.
    saved(ctx, imported.committed)
    render.plan_imported(imported.result, made=settings(ctx).database if imported.created else None)


@commands.command()
def plans(ctx: typer.Context, fmt: str = FormatOption) -> None:
    """列出已导入的计划及其任务数，标出默认计划及原因（今年的计划，没有时为最新的计划）。"""
    fmt = render_format(fmt)
    with open_ledger(ctx) as ledger:
        items = plan_cases.plans(ledger)
    render.plans(items, fmt)
