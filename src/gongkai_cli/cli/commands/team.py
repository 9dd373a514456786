"""Team mode on a PostgreSQL server: the office's DBA sets up roles, the office stores its unit file (server)."""

from __future__ import annotations

from pathlib import Path

import typer

from ...domain.errors import UsageError
from ...usecases import team
from ...usecases.session import stored_when
from ..app import Commands
from ..console import say
from .shared import database, open_ledger

commands = Commands(group="server")
OfficeOption = typer.Option(False, "--office", help="把登录角色设为办公室账号（可做一切更改）。")


@commands.callback()
def server(ctx: typer.Context) -> None:
    """PostgreSQL 台账的账号设置（须用台账所有者的连接运行）和单位数据文件（见 docs/team.md）。

    gongkai server init：建立办公室角色、单位角色、授权和行级安全策略（可重复运行）。

    gongkai server grant 马陆镇 majiang：让已有的登录角色 majiang 以马陆镇的身份写入，只能写本单位的任务分工。

    gongkai server grant --office gkb：让登录角色 gkb 成为办公室账号。

    gongkai server revoke majiang：收回登录角色 majiang 的全部权限。

    gongkai server units 单位.csv：把办公室自己的单位数据文件（别名、集合、街镇）检查后存入服务器上的台账，此后所有连接这个台账的 gongkai 都用它；办公室账号也可以运行。不写文件名时显示正在使用哪一份。

    gongkai 不保存密码：登录角色和密码由数据库管理员在 PostgreSQL 中建立。
    """


@commands.command()
def init(ctx: typer.Context) -> None:
    """建立办公室角色、单位角色、授权和行级安全策略（可重复运行）。"""
    team.require_server(database(ctx))
    with open_ledger(ctx, bootstrap=False) as ledger:
        office_role, unit_role = team.server_init(ledger)
    say(f"已设置团队模式：办公室角色 {office_role}，单位角色 {unit_role}，行级安全已启用。")
    say("下一步：gongkai server grant 单位 登录角色，gongkai server grant --office 登录角色。")


@commands.command()
def grant(
    ctx: typer.Context,
    names: list[str] = typer.Argument(..., metavar="单位 登录角色", help="单位和登录角色；用 --office 时只写登录角色。"),
    office: bool = OfficeOption,
    idle_timeout: float = typer.Option(
        team.DEFAULT_IDLE_TIMEOUT, "--idle-timeout", metavar="秒", min=1, max=86400,
        help="单位账号的事务空闲多少秒后由服务器断开（默认 60）；单位账号的语句最长 60 秒、最多 10 个连接。",
    ),
) -> None:
    """让已有的登录角色以某单位的身份写入（只能写本单位的任务分工），或用 --office 成为办公室账号。

    单位账号受服务器限制：一条语句最长 60 秒，事务空闲超过 --idle-timeout 秒即被断开，最多 10 个连接，
    以免某个账号用 psql 挡住其他单位的写入。例如：gongkai server grant 马陆镇 majiang；gongkai server grant --office gkb。
    """
    if len(names) != (1 if office else 2):
        raise UsageError("用法：gongkai server grant 单位 登录角色，或 gongkai server grant --office 登录角色。")
    team.require_server(database(ctx))
    with open_ledger(ctx, bootstrap=False) as ledger:
        granted = team.grant(ledger, names[-1], None if office else names[0], idle_timeout=idle_timeout)
    if office:
        say(f"登录角色 {granted.user} 已成为办公室账号。")
        return
    moved = f"（原为{granted.before}的账号）" if granted.before else ""
    say(f"登录角色 {granted.user} 已对应到{granted.unit}{moved}：可读整个台账，只能写{granted.unit}的任务分工。")


@commands.command()
def revoke(ctx: typer.Context, role: str = typer.Argument(..., metavar="登录角色", help="要收回权限的登录角色。")) -> None:
    """收回登录角色的全部权限。例如：gongkai server revoke majiang"""
    team.require_server(database(ctx))
    with open_ledger(ctx, bootstrap=False) as ledger:
        was = team.revoke(ledger, role)
    if was is None:
        say(f"登录角色 {role} 本来就没有这个台账的账号权限，未做任何更改。")
    else:
        say(f"已收回登录角色 {role} 的权限（原为{was}的账号）。")


@commands.command()
def units(
    ctx: typer.Context,
    file: Path | None = typer.Argument(None, metavar="[单位数据文件]", help="要存入的单位数据文件（CSV）。"),
) -> None:
    """把办公室自己的单位数据文件存入服务器上的台账；不写文件名时显示正在使用哪一份。

    存入前检查文件（别名、集合、街镇）；此后所有连接这个台账的 gongkai 都用它。办公室账号也可以运行。
    """
    _unit_file(ctx, file)


def _unit_file(ctx: typer.Context, file: Path | None) -> None:
    """`server units [FILE]`: store the office's unit file, or say which one the ledger uses."""
    team.require_unit_file_on_server(database(ctx))
    with open_ledger(ctx, bootstrap=False) as ledger:
        if file is None:
            say(f"服务器上的台账正在使用的单位数据：{ledger.directory.source}。")
            return
        stored = team.store_unit_file(ledger, file)
    replaced = f"原来的“{stored.replaced.name}”（{stored_when(stored.replaced)}）已被替换；" if stored.replaced else ""
    say(f"已把单位数据文件“{stored.unit_file.name}”（{stored.units} 个单位）存入服务器上的台账；{replaced}"
        "此后所有连接这个台账的 gongkai 都用它。")
