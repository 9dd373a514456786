"""Team mode on a PostgreSQL server: the office's DBA sets up roles (server)."""

from __future__ import annotations

import typer

from ..cli import Commands, say
from ..errors import UsageError
from ..usecases import team
from .shared import database, open_ledger

commands = Commands()
ActionArgument = typer.Argument(..., metavar="操作", help="init、grant 或 revoke。")
NamesArgument = typer.Argument(None, metavar="参数", help="grant：单位 登录角色（或 --office 登录角色）；revoke：登录角色。")


@commands.command()
def server(
    ctx: typer.Context,
    action: str = ActionArgument,
    names: list[str] | None = NamesArgument,
    office: bool = typer.Option(False, "--office", help="grant：把登录角色设为办公室账号（可做一切更改）。"),
) -> None:
    """PostgreSQL 台账的账号设置，须用台账所有者的连接运行（见 docs/team.md）。

    gongkai server init：建立办公室角色、单位角色、授权和行级安全策略（可重复运行）。

    gongkai server grant 马陆镇 majiang：让已有的登录角色 majiang 以马陆镇的身份写入，只能写本单位的任务分工。

    gongkai server grant --office gkb：让登录角色 gkb 成为办公室账号。

    gongkai server revoke majiang：收回登录角色 majiang 的全部权限。

    gongkai 不保存密码：登录角色和密码由数据库管理员在 PostgreSQL 中建立。
    """
    args = list(names or [])
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
                "gongkai server grant --office 登录角色 | gongkai server revoke 登录角色。"
            )
