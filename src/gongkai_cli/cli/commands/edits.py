"""The office's changes to a plan's tasks during the year: `gongkai task add / edit / drop`."""

from __future__ import annotations

import typer

from ...domain.records import Event
from ...inputs.typed import parse_task_id
from ...outputs import render
from ...usecases import edits
from ..app import Commands
from .shared import ByOption, QuietOption, TaskIdArgument, complete_unit, open_ledger, render_format

commands = Commands(group="task")
FormatOption = typer.Option("table", "--format", "-f", help="确认信息格式：table 或 json（json 输出这条历史记录）。")


@commands.callback()
def task(ctx: typer.Context) -> None:
    """公开办在年度中调整计划的任务；每次调整记入历史（gongkai log），可撤销（gongkai undo）。

    gongkai task add "内容" --unit 区财政局 --deadline 6月底前 --source 文号：新增任务。

    gongkai task edit 40 --due 2023-05-31：调整截止日期（也可改 --deadline 时间节点、--content 任务内容）。

    gongkai task drop 85：删除任务（保留在历史中，不再出现在清单里）。

    gongkai task key 60：标为重点任务（报告中排在最前，gongkai list --key 只列重点任务）。

    团队模式下只有办公室账号可以调整。
    """


@commands.command()
def add(
    ctx: typer.Context,
    content: str = typer.Argument(..., metavar="任务内容", help="任务内容。"),
    unit: list[str] = typer.Option(
        ..., "--unit", "-u", metavar="单位", autocompletion=complete_unit, help="责任单位，可重复，第一个为牵头单位。"
    ),
    deadline: str = typer.Option(..., "--deadline", "-d", metavar="时间节点", help="时间节点，例如“6月底前”。"),
    source: str = typer.Option(..., "--source", "-s", metavar="来源", help="任务来源，例如上级通知的文号。"),
    group: str = typer.Option("", "--group", "-g", metavar="任务名称", help="任务名称（所属类别）。"),
    task_id: str | None = typer.Option(None, "--id", metavar="序号", help="新任务的序号（默认为计划中最大序号加 1）。"),
    by: str | None = ByOption,
    quiet: bool = QuietOption,
    fmt: str = FormatOption,
) -> None:
    """新增一项计划表中没有的任务（例如上级通知新增的），记入历史，可撤销。

    例如：gongkai task add "开展政务公开专项检查" --unit 区政府办公室 --deadline 6月底前 --source "沪府办〔2023〕5号"
    """
    fmt = render_format(fmt, confirmation=True)
    number = parse_task_id(task_id) if task_id is not None else None
    with open_ledger(ctx) as ledger:
        event = edits.add_task(ledger, content, units=unit, deadline=deadline, source=source, group=group,
                               task_id=number, by=by)
    _confirm(event, quiet, fmt)


@commands.command()
def edit(
    ctx: typer.Context,
    task_id: str = TaskIdArgument,
    due: str | None = typer.Option(None, "--due", metavar="日期", help="新的截止日期，例如 2023-05-31；时间节点原文不变。"),
    deadline: str | None = typer.Option(None, "--deadline", "-d", metavar="时间节点",
                                        help="新的时间节点，截止日期随之重新识别。"),
    content: str | None = typer.Option(None, "--content", metavar="任务内容", help="更正后的任务内容。"),
    by: str | None = ByOption,
    quiet: bool = QuietOption,
    fmt: str = FormatOption,
) -> None:
    """调整任务的截止日期、时间节点或内容；计划表的原文保留，gongkai show 并列显示。记入历史，可撤销。

    例如：gongkai task edit 40 --due 2023-05-31
    """
    fmt = render_format(fmt, confirmation=True)
    number = parse_task_id(task_id)
    with open_ledger(ctx) as ledger:
        event = edits.edit_task(ledger, number, content=content, deadline=deadline, due=due, by=by)
    _confirm(event, quiet, fmt)


@commands.command()
def drop(
    ctx: typer.Context,
    task_id: str = TaskIdArgument,
    by: str | None = ByOption,
    quiet: bool = QuietOption,
    fmt: str = FormatOption,
) -> None:
    """删除任务：任务和它的进展记录保留在台账和历史中，但不再出现在清单、提醒和报告里。可撤销。

    例如：gongkai task drop 85
    """
    fmt = render_format(fmt, confirmation=True)
    number = parse_task_id(task_id)
    with open_ledger(ctx) as ledger:
        event = edits.drop_task(ledger, number, by=by)
    _confirm(event, quiet, fmt)


@commands.command()
def key(
    ctx: typer.Context,
    task_id: str = TaskIdArgument,
    off: bool = typer.Option(False, "--off", help="取消重点任务标记。"),
    by: str | None = ByOption,
    quiet: bool = QuietOption,
    fmt: str = FormatOption,
) -> None:
    """把任务标为重点任务：gongkai list --key 只列重点任务，报告中排在最前。可撤销。

    例如：gongkai task key 60；取消：gongkai task key 60 --off
    """
    fmt = render_format(fmt, confirmation=True)
    number = parse_task_id(task_id)
    with open_ledger(ctx) as ledger:
        event = edits.mark_key(ledger, number, key=not off, by=by)
    _confirm(event, quiet, fmt)


def _confirm(event: Event, quiet: bool, fmt: str) -> None:
    if not quiet:
        render.task_changed(event, fmt)
