"""Reading the plan: list, due, remind, summary, show, units."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ...domain.errors import ExitCode, UsageError
from ...inputs.typed import parse_task_id
from ...outputs import render
from ...usecases import queries
from .. import frequent
from ..app import Commands
from ..console import say
from .shared import (
    DATE_HELP,
    STATUS_HELP,
    DirectOption,
    FormatOption,
    LeadOption,
    TaskIdArgument,
    UnitsOption,
    open_ledger,
    render_format,
)

if TYPE_CHECKING:
    from ...usecases.mailing import Delivery

commands = Commands()
# Declared here, not in the signature, as the linter asks of a non-string default.
StatusesOption = typer.Option(None, "--status", "-s", metavar="状态", help="状态，可重复：" + STATUS_HELP)


@commands.command("list")
def list_(
    ctx: typer.Context,
    unit: list[str] | None = UnitsOption,
    direct: bool = DirectOption,
    lead: bool = LeadOption,
    status: list[str] | None = StatusesOption,
    group: str | None = typer.Option(None, "--group", "-g", metavar="文字", help="任务名称中包含的文字。"),
    search: str | None = typer.Option(None, "--search", "-q", metavar="文字", help="任务内容中包含的文字。"),
    overdue: bool = typer.Option(False, "--overdue", help="只看已逾期（截止日期已过且未完成）的任务。"),
    key: bool = typer.Option(False, "--key", help="只看公开办标记的重点任务（gongkai task key）。"),
    fmt: str = FormatOption,
) -> None:
    """列出任务，按序号排列。例如：gongkai list --unit 区财政局"""
    frequent.list_tasks(functools.partial(open_ledger, ctx), units=unit, direct=direct, lead=lead, status=status,
                        group=group, search=search, overdue=overdue, key=key, fmt=fmt)


@commands.command()
def due(
    ctx: typer.Context,
    before: str | None = typer.Option(
        None, "--before", metavar="日期", help="截止日期不晚于该日（含当天）。" + DATE_HELP
    ),
    after: str | None = typer.Option(None, "--after", metavar="日期", help="截止日期不早于该日（含当天）。"),
    within: str | None = typer.Option(
        None, "--within", metavar="期限", help="从今天起的时间范围内到期，例如 7d、2w、1m。"
    ),
    overdue: bool = typer.Option(False, "--overdue", help="只看已逾期的任务。"),
    unit: list[str] | None = UnitsOption,
    direct: bool = DirectOption,
    lead: bool = LeadOption,
    all_: bool = typer.Option(False, "--all", help="也列出已完成和已取消的任务。"),
    fmt: str = FormatOption,
) -> None:
    """按截止日期列出任务（最早的在前）。默认不含已完成、已取消的任务。

    例如：gongkai due --before 2023-04-20
    """
    frequent.due_tasks(functools.partial(open_ledger, ctx), before=before, after=after, within=within,
                       overdue=overdue, units=unit, direct=direct, lead=lead, include_closed=all_, fmt=fmt)


@commands.command()
def remind(
    ctx: typer.Context,
    within: str = typer.Option("7d", "--within", metavar="期限", help="提醒多久之内到期的任务，例如 7d（默认）、2w、1m。"),
    unit: list[str] | None = UnitsOption,
    by_unit: bool = typer.Option(False, "--by-unit", help="按责任单位分段（集合展开到各成员单位），便于分别发送。"),
    fail_on_overdue: bool = typer.Option(
        False, "--fail-on-overdue", help="有逾期任务时以退出码 5 结束（供监控区分“有逾期”和“出错”）。"
    ),
    mail: bool = typer.Option(
        False, "--mail",
        help="按单位分别发邮件：每个有逾期或即将到期任务的单位只收到本单位的部分，公开办收到汇总；"
             "同一天再运行不会重复发送。邮件服务器由环境变量 GONGKAI_SMTP_URL 等设置（见 docs/cron.md）。",
    ),
    to_dir: Path | None = typer.Option(
        None, "--to-dir", metavar="目录", help="不发送，把同样的邮件写成 .eml 文件放在该目录中（可先检查再发送）。"
    ),
    fmt: str = FormatOption,
) -> None:
    """生成提醒：先列逾期任务，再列即将到期的任务。没有需要提醒的内容时什么也不输出（cron 不会发空邮件）。

    例如：gongkai remind --within 7d --unit 区财政局

          gongkai remind --by-unit --mail（各单位的联系邮箱用 gongkai contacts set 设置）
    """
    fmt = render_format(fmt)
    if mail and to_dir is not None:
        raise UsageError("--mail 与 --to-dir 只能选一个：--to-dir 只写文件，不发送。")
    # Only a reminder that is mailed or written as messages loads the mail modules.
    if mail or to_dir is not None:
        from ...usecases import mailing, settings as read_settings
    settings = read_settings.mail_settings() if mail else None
    delivery = None
    with open_ledger(ctx) as ledger:
        if mail or to_dir is not None:
            mailing.require_sender(ledger)
        report = queries.remind(
            ledger, within=within, units=tuple(unit or ()), by_unit=by_unit or mail or to_dir is not None
        )
        if (mail or to_dir is not None) and not report.empty:
            delivery = mailing.deliver(ledger, report, settings=settings, to_dir=to_dir)
    if ledger.created:
        # Reminders from a ledger nobody has written to chase every unit for work it may have done.
        say("警告：这个台账是本次运行刚新建的，没有任何人记录过进展，据它生成的提醒多半不是您想要的；"
            "请让 GONGKAI_DB 或 --db 指向平时使用的台账。", err=True)
    if delivery is not None:
        _report_delivery(delivery)
    elif mail or to_dir is not None:
        say("没有需要提醒的任务，未发送任何邮件。" if mail else "没有需要提醒的任务，未写入任何文件。")
    else:
        render.reminder(report, fmt)
    if delivery is not None and delivery.unreached:
        raise typer.Exit(ExitCode.NOT_DELIVERED)
    if fail_on_overdue and any(section.overdue for section in report.sections):
        raise typer.Exit(ExitCode.OVERDUE)


def _report_delivery(delivery: Delivery) -> None:
    from ...outputs.mail import DIGEST, DIGEST_NAME

    def named(recipient: str) -> str:
        return DIGEST_NAME if recipient == DIGEST else recipient

    for recipient, address in delivery.sent:
        say(f"已发送：{named(recipient)}（{address}）")
    for path in delivery.written:
        say(f"已写入：{path}")
    if delivery.earlier:
        say(f"今天已发送过，不再重复：{'、'.join(named(recipient) for recipient in delivery.earlier)}")
    for recipient, why in delivery.unreached:
        say(f"未送达：{named(recipient)}：{why}", err=True)
    if delivery.unreached:
        say(f"共 {len(delivery.unreached)} 个未送达；处理后再次运行同一命令，只会补发未送达的。", err=True)


@commands.command()
def summary(
    ctx: typer.Context,
    by: str | None = typer.Option(
        None, "--by", metavar="分组", help="分组统计：unit（按单位）、group（按任务名称）、month（按截止月份）。"
    ),
    fmt: str = FormatOption,
) -> None:
    """计划进度总览：各状态任务数、完成率、逾期数和 30 天内到期数。"""
    fmt = render_format(fmt)
    with open_ledger(ctx) as ledger:
        result = queries.summary(ledger, by=by)
    render.summary(result, fmt)


@commands.command()
def show(ctx: typer.Context, task_id: str = TaskIdArgument, fmt: str = FormatOption) -> None:
    """查看一项任务的全部信息和进展记录。"""
    fmt = render_format(fmt)
    number = parse_task_id(task_id)
    with open_ledger(ctx) as ledger:
        task = queries.show(ledger, number)
    render.task_detail(task, fmt)


@commands.command()
def units(
    ctx: typer.Context,
    tree: bool = typer.Option(False, "--tree", help="按集合（各街镇、区政府各部门等）列出成员。"),
    fmt: str = FormatOption,
) -> None:
    """列出所有责任单位：类型、别名，以及在当前计划中分配给它（含经由集合分配）、由它牵头、它已完成、它逾期的任务数。"""
    fmt = render_format(fmt)
    with open_ledger(ctx) as ledger:
        items = queries.units(ledger)
        source = ledger.directory.source
    if tree:
        render.unit_tree(items, fmt)
    else:
        render.units(items, fmt, source=source)
