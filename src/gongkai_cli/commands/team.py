"""Team mode on a PostgreSQL server: the office's DBA sets up roles, the office stores its unit file (server)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..cli import Commands, say
from ..errors import UsageError
from ..usecases import team
from ..usecases.session import stored_when
from .shared import database, open_ledger

commands = Commands()
ActionArgument = typer.Argument(..., metavar="操作", help="init、grant、revoke 或 units。")
NamesArgument = typer.Argument(
    None, metavar="参数",
    help="grant：单位 登录角色（或 --office 登录角色）；revoke：登录角色；units：单位数据文件（不写则显示正在使用哪一份）。",
)


@commands.command()
def server(
    ctx: typer.Context,
    action: str = ActionArgument,
    names: list[str] | None = NamesArgument,
    office: bool = typer.Option(False, "--office", help="grant：把登录角色设为办公室账号（可做一切更改）。"),
) -> None:
    """PostgreSQL 台账的账号设置（须用台账所有者的连接运行）和单位数据文件（见 docs/team.md）。

    gongkai server init：建立办公室角色、单位角色、授权和行级安全策略（可重复运行）。

    gongkai server grant 马陆镇 majiang：让已有的登录角色 majiang 以马陆镇的身份写入，只能写本单位的任务分工。

    gongkai server grant --office gkb：让登录角色 gkb 成为办公室账号。

    gongkai server revoke majiang：收回登录角色 majiang 的全部权限。

    gongkai server units 单位.csv：把办公室自己的单位数据文件（别名、集合、街镇）检查后存入服务器上的台账，此后所有连接这个台账的 gongkai 都用它；办公室账号也可以运行。不写文件名时显示正在使用哪一份。

    gongkai 不保存密码：登录角色和密码由数据库管理员在 PostgreSQL 中建立。
    """
    args = list(names or [])
    if action == "units":
        _unit_file(ctx, args, office=office)
        return
    team.require_server(database(ctx))
    with open_ledger(ctx, bootstrap=False) as ledger:
        if action == "init" and not args and not office:
            office_role, unit_role = team.server_init(ledger)
            say(f"已设置团队模式：办公室角色 {office_role}，单位角色 {unit_role}，行级安全已启用。")
            say("下一步：gongkai server grant 单位 登录角色，gongkai server grant --office 登录角色。")
        elif action == "grant" and office and len(args) == 1:
            granted = team.grant(ledger, args[0], None)
            say(f"登录角色 {granted.user} 已成为办公室账号。")
        elif action == "grant" and not office and len(args) == 2:
            granted = team.grant(ledger, args[1], args[0])
            moved = f"（原为{granted.before}的账号）" if granted.before else ""
            say(f"登录角色 {granted.user} 已对应到{granted.unit}{moved}：可读整个台账，只能写{granted.unit}的任务分工。")
        elif action == "revoke" and len(args) == 1 and not office:
            was = team.revoke(ledger, args[0])
            if was is None:
                say(f"登录角色 {args[0]} 本来就没有这个台账的账号权限，未做任何更改。")
            else:
                say(f"已收回登录角色 {args[0]} 的权限（原为{was}的账号）。")
        else:
            raise UsageError(
                "用法：gongkai server init | gongkai server grant 单位 登录角色 | "
                "gongkai server grant --office 登录角色 | gongkai server revoke 登录角色 | "
                "gongkai server units [单位数据文件]。"
            )


def _unit_file(ctx: typer.Context, args: list[str], *, office: bool) -> None:
    """`server units [FILE]`: store the office's unit file, or say which one the ledger uses."""
    team.require_unit_file_on_server(database(ctx))
    if office or len(args) > 1:
        raise UsageError("用法：gongkai server units [单位数据文件]。")
    with open_ledger(ctx, bootstrap=False) as ledger:
        if not args:
            say(f"服务器上的台账正在使用的单位数据：{ledger.directory.source}。")
            return
        stored = team.store_unit_file(ledger, Path(args[0]))
    replaced = f"原来的“{stored.replaced.name}”（{stored_when(stored.replaced)}）已被替换；" if stored.replaced else ""
    say(f"已把单位数据文件“{stored.unit_file.name}”（{stored.units} 个单位）存入服务器上的台账；{replaced}"
        "此后所有连接这个台账的 gongkai 都用它。")
