"""Recording progress: note, status."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import typer

from ...domain.errors import UsageError
from ...domain.text import os_reason
from ...inputs.typed import parse_status, parse_task_id
from ...outputs import render
from ...usecases import progress
from .. import frequent
from ..app import Commands
from ..command_line import one_unit
from .shared import STATUS_HELP, ByOption, QuietOption, TaskIdArgument, complete_unit, open_ledger, render_format

commands = Commands()


@commands.command()
def note(
    ctx: typer.Context,
    task_id: str | None = typer.Argument(None, metavar="序号", help="任务序号，例如 40。"),
    text: str | None = typer.Argument(None, metavar="说明", help="进展说明；为 - 时从标准输入读取。"),
    from_file: str | None = typer.Option(
        None, "--from", metavar="文件",
        help="从文件批量记录（CSV 表头 id,text[,status,count,by,key,unit]，或每行一个 JSON 对象）；- 为标准输入。整批一次写入，出错则全部不写。",
    ),
    by: str | None = ByOption,
    status: str | None = typer.Option(
        None, "--status", "-s", help="同时修改状态，例如 进行中、完成；与当前状态相同时只记录进展，不算状态修改。"
    ),
    count: str | None = typer.Option(
        None, "--count", "-c", help="本条进展计入目标次数（如任务要求“不少于4次”），例如 --count 1。"
    ),
    key: str | None = typer.Option(
        None, "--key", metavar="键",
        help="幂等键（例如脚本生成一次、重试时沿用的 UUID）：同一个键、同样内容再次执行时不重复记录，"
             "输出原记录；同一个键内容不同则报错（退出码 2）。",
    ),
    units: list[str] | None = typer.Option(
        None, "--unit", "-u", metavar="单位", autocompletion=complete_unit,
        help="记在这个单位名下（该单位的进展）；默认取 gongkai --unit 或环境变量 GONGKAI_UNIT，都没有时是对任务整体的说明。",
    ),
    quiet: bool = QuietOption,
    fmt: str = typer.Option("table", "--format", "-f", help="确认信息格式：table 或 json（json 输出新记录）。"),
) -> None:
    """为任务记录一条进展（带时间和记录人）。例如：gongkai note 40 "试点完成"；批量：gongkai note --from 进展.csv"""
    fmt = render_format(fmt, confirmation=True)
    unit = one_unit(units, "--unit")
    if from_file is not None:
        if (task_id is not None or text is not None or status is not None or count is not None or key is not None
                or unit is not None):
            raise UsageError(
                "--from 批量记录时不能再给出序号、说明、--status、--count、--key 或 --unit，"
                "这些写在文件的各行里（单位写在“单位”（unit）列）。"
            )
        _note_batch(ctx, from_file, by=by, quiet=quiet, fmt=fmt)
        return
    if task_id is None or text is None:
        raise UsageError("请给出任务序号和进展说明，例如 gongkai note 40 \"试点完成\"；批量记录用 --from FILE。")
    frequent.add_note(functools.partial(open_ledger, ctx), task_id=task_id, text=text, by=by, status=status,
                      count=count, key=key, unit=unit, quiet=quiet, fmt=fmt)


def _note_batch(ctx: typer.Context, source: str, *, by: str | None, quiet: bool, fmt: str) -> None:
    # Here, not at the top: batch brings dataclasses, about a millisecond that every single
    # `note`, the command scripts call most, would pay for the --from branch alone.
    from ...inputs.note_batches import MAX_BATCH_BYTES

    if source == "-":
        data, name = sys.stdin.buffer.read(MAX_BATCH_BYTES + 1), "标准输入"
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"找不到文件“{source}”。" if not path.exists() else f"“{source}”不是文件。")
        try:
            with path.open("rb") as handle:
                data, name = handle.read(MAX_BATCH_BYTES + 1), source
        except OSError as err:
            raise UsageError(f"无法读取文件“{source}”：{os_reason(err)}；未写入任何记录。") from None
    with open_ledger(ctx) as ledger:
        written = progress.add_notes_from(ledger, data, name, by=by)
        plan = None if quiet else ledger.plan().name
    if not written:
        render.empty_batch(name)
    render.repeated_notes(written)
    if not quiet:
        render.notes_saved(written, fmt, plan=plan)


@commands.command("status")
def status_(
    ctx: typer.Context,
    task_id: str = TaskIdArgument,
    new_status: str = typer.Argument(..., metavar="状态", help="新状态：" + STATUS_HELP),
    note_text: str | None = typer.Option(None, "--note", "-m", help="附带的说明。"),
    units: list[str] | None = typer.Option(
        None, "--unit", "-u", metavar="单位", autocompletion=complete_unit,
        help="修改这个单位的状态；默认取 gongkai --unit 或环境变量 GONGKAI_UNIT。任务只有一个责任单位时可省略。",
    ),
    all_units: bool = typer.Option(False, "--all", help="把所有责任单位的状态都改为新状态（公开办办结或取消整项任务时用）。"),
    by: str | None = ByOption,
    quiet: bool = QuietOption,
    fmt: str = typer.Option("table", "--format", "-f", help="确认信息格式：table 或 json。"),
) -> None:
    """修改一个责任单位的状态（任务的状态由各单位的状态得出）；每次修改都会记入进展记录。

    例如：gongkai status 62 done --unit 马陆镇；只有一个责任单位的任务：gongkai status 28 done
    """
    fmt = render_format(fmt, confirmation=True)
    unit = one_unit(units, "--unit", status=True)
    number = parse_task_id(task_id)
    target = parse_status(new_status)
    with open_ledger(ctx) as ledger:
        change = progress.set_status(ledger, number, target, note=note_text, by=by, unit=unit, all_units=all_units)
        plan = None if quiet else ledger.plan().name
    if quiet:
        return
    if change.note is None:
        render.status_unchanged(change.task_id, change.after, fmt, plan=plan, unit=change.unit)
    else:
        render.note_saved(change.note, fmt, plan=plan)
