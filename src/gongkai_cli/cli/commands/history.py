"""The history of changes: log, undo."""

from __future__ import annotations

import sys

import typer

from ...domain.errors import UsageError
from ...inputs.typed import parse_event_id, parse_limit, parse_task_id
from ...outputs import render
from ...usecases import history
from ..app import Commands
from ..console import confirmed, say
from .shared import ByOption, FormatOption, open_ledger, render_format

commands = Commands()


# What a person at a terminal reads of a long history; pipes and files get all of it.
TERMINAL_LOG_LIMIT = 50


@commands.command()
def log(
    ctx: typer.Context,
    task_id: str | None = typer.Argument(None, metavar="序号", help="只看这项任务的历史（含改动它的导入）。"),
    since: str | None = typer.Option(
        None, "--since", metavar="日期",
        help="只看该日及以后的更改，例如 2023-04-01、-7d（7 天前）；本周、上月、本季度等表示整段时间。",
    ),
    until: str | None = typer.Option(None, "--until", metavar="日期", help="只看该日（含）及以前的更改，写法同 --since。"),
    limit: str | None = typer.Option(
        None, "--limit", "-n", metavar="条数",
        help=f"只看最近的若干条更改（仍按时间先后列出）。在终端上默认最近 {TERMINAL_LOG_LIMIT} 条，输出到管道或文件时默认全部。",
    ),
    show_all: bool = typer.Option(False, "--all", help="列出全部更改，在终端上也不限条数。"),
    fmt: str = FormatOption,
) -> None:
    """查看更改历史：谁、何时、做了什么（原值 → 新值）。不加 --plan 时列出所有计划的更改。

    边读边输出，历史再长也只占用少量内存。
    """
    fmt = render_format(fmt)
    number = parse_task_id(task_id) if task_id is not None else None
    if limit is not None and show_all:
        raise UsageError("--limit 与 --all 只能选一个。")
    latest = parse_limit(limit) if limit is not None else None
    if latest is None and not show_all and sys.stdout.isatty():
        latest = TERMINAL_LOG_LIMIT
    with open_ledger(ctx) as ledger:
        batches = history.history_batches(ledger, number, since=since, until=until, latest=latest)
        render.event_batches(batches, fmt, latest=latest)


@commands.command()
def undo(
    ctx: typer.Context,
    named: str | None = typer.Argument(
        None, metavar="编号",
        help="公开办指定要撤销的更改 #N（不必是最近的；之后别人改动同一项任务的更改要先撤销）。",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="不再询问，直接撤销（供脚本使用）。"),
    event_id: str | None = typer.Option(
        None, "--event", metavar="编号",
        help="只在更改 #N 仍是您最近一次可撤销的更改时撤销它；#N 已撤销时什么也不做（退出码 0），重试不会多撤销一项。",
    ),
    by: str | None = ByOption,
) -> None:
    """撤销您自己最近一次尚未撤销的更改（进展、状态、分派或导入），先显示将撤销的内容。撤销本身也记入历史。

    单位（命令名前的 --unit 或 GONGKAI_UNIT，团队模式下的单位账号）只撤销本单位写入的更改，公开办只撤销公开办的；一次批量写入（如 note --from、导入单位反馈表）作为一项更改整体撤销。

    指定 --plan（或 GONGKAI_PLAN）时只撤销该计划中最近的更改。
    """
    if named is not None and event_id is not None:
        raise UsageError("编号与 --event 只能给一个。未撤销任何内容。")
    typed = named if named is not None else event_id
    number = parse_event_id(typed) if typed is not None else None
    with open_ledger(ctx) as ledger:
        if number is not None:
            event = history.change(ledger, number, named=named is not None)
        else:
            event = history.last_change(ledger)
        if event.undone_by is not None:
            render.already_undone(event)
            return
        if yes:
            render.undo_preview(event)
            # Shown before the change is made: a stdout that cannot take it fails here, with nothing undone.
            sys.stdout.flush()
        elif not confirmed(f"撤销 {render.headline(event)}", lambda: render.undo_preview(event), "确认撤销这项更改吗？"):
            say("未撤销任何更改。")
            return
        undone = history.undo_step(ledger, event, by=by, named=named is not None)
    render.undone(undone)
