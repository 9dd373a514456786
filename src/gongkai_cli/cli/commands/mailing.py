"""The units' contacts for routed reminders (`gongkai contacts`); `remind --mail` sends them."""

from __future__ import annotations

import typer

from ...usecases import mailing
from ..app import Commands
from ..console import say
from .shared import FormatOption, complete_unit, open_ledger, render_format

commands = Commands(group="contacts")
UnitArgument = typer.Argument(..., metavar="单位", help="责任单位（可用简称）。", autocompletion=complete_unit)


@commands.callback()
def contacts(ctx: typer.Context) -> None:
    """各单位的联系邮箱，按单位发送提醒邮件时使用。

    gongkai remind --by-unit --mail：给每个有任务逾期或即将到期的单位只发本单位的提醒，公开办收到汇总。

    gongkai contacts list：列出已登记的联系邮箱。

    gongkai contacts set 马陆镇 malu@example.gov.cn：登记或更换一个单位的邮箱。

    gongkai contacts remove 马陆镇：删除一个单位的邮箱。

    团队模式下只有办公室账号可以修改。
    """


@commands.command("list")
def list_(ctx: typer.Context, fmt: str = FormatOption) -> None:
    """列出已登记联系邮箱的单位。"""
    from ...outputs import render

    fmt = render_format(fmt)
    with open_ledger(ctx) as ledger:
        found = mailing.contacts(ledger)
    render.contacts(found, fmt)


@commands.command("set")
def set_(
    ctx: typer.Context,
    unit: str = UnitArgument,
    address: str = typer.Argument(..., metavar="邮箱", help="邮件地址，例如 malu@example.gov.cn。"),
    by: str | None = typer.Option(None, "--by", metavar="姓名", help="记录人（默认为 GONGKAI_USER 或登录名）。"),
) -> None:
    """登记或更换一个单位的联系邮箱。例如：gongkai contacts set 马陆镇 malu@example.gov.cn"""
    with open_ledger(ctx) as ledger:
        contact, before = mailing.set_contact(ledger, unit, address, by=by)
    if before == contact.email:
        say(f"{contact.unit}的联系邮箱已经是 {contact.email}，未做更改。")
    elif before:
        say(f"已把{contact.unit}的联系邮箱从 {before} 改为 {contact.email}。")
    else:
        say(f"已登记{contact.unit}的联系邮箱：{contact.email}。")


@commands.command()
def remove(ctx: typer.Context, unit: str = UnitArgument) -> None:
    """删除一个单位的联系邮箱。例如：gongkai contacts remove 马陆镇"""
    with open_ledger(ctx) as ledger:
        name, had = mailing.remove_contact(ledger, unit)
    say(f"已删除{name}的联系邮箱。" if had else f"{name}本来就没有登记联系邮箱，未做更改。")
