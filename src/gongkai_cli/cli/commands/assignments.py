"""Which units a task is assigned to: assign, unassign (the office's corrections)."""

from __future__ import annotations

from collections.abc import Callable

import typer

from ...domain.records import Event
from ...inputs.typed import parse_task_id
from ...outputs import render
from ...usecases import assignments
from ..app import Commands
from .shared import ByOption, QuietOption, TaskIdArgument, complete_unit, open_ledger, render_format

# The change made, as one object like the entries of `log --format json`.
FormatOption = typer.Option("table", "--format", "-f", help="确认信息格式：table 或 json（json 输出这条历史记录）。")

commands = Commands()


@commands.command()
def assign(
    ctx: typer.Context,
    task_id: str = TaskIdArgument,
    unit: list[str] = typer.Option(
        ..., "--unit", "-u", metavar="单位", autocompletion=complete_unit,
        help="分配给这个单位，可重复；集合（如各街镇）分配给其全部成员。",
    ),
    by: str | None = ByOption,
    quiet: bool = QuietOption,
    fmt: str = FormatOption,
) -> None:
    """把任务分配给更多单位（例如把“各相关部门”落实为具体单位）；记入历史，可撤销。

    例如：gongkai assign 40 --unit 区财政局
    """
    _change(ctx, assignments.assign, task_id, unit, by=by, quiet=quiet, fmt=fmt)


@commands.command()
def unassign(
    ctx: typer.Context,
    task_id: str = TaskIdArgument,
    unit: list[str] = typer.Option(
        ..., "--unit", "-u", metavar="单位", autocompletion=complete_unit, help="取消分配给这个单位，可重复。"
    ),
    by: str | None = ByOption,
    quiet: bool = QuietOption,
    fmt: str = FormatOption,
) -> None:
    """取消把任务分配给某些单位（已有该单位进展记录的不能取消）；记入历史，可撤销。

    例如：gongkai unassign 40 --unit 各相关单位
    """
    _change(ctx, assignments.unassign, task_id, unit, by=by, quiet=quiet, fmt=fmt)


def _change(
    ctx: typer.Context, change: Callable[..., Event], task_id: str, units: list[str], *, by: str | None,
    quiet: bool, fmt: str,
) -> None:
    fmt = render_format(fmt, confirmation=True)
    number = parse_task_id(task_id)
    with open_ledger(ctx) as ledger:
        event = change(ledger, number, units, by=by)
    if not quiet:
        render.assignment_changed(event, fmt)
