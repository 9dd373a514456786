"""Looking after the database: backup, restore, copy, check."""

from __future__ import annotations

from pathlib import Path

import typer

from ...outputs import render
from ...usecases import maintenance
from ...usecases.settings import busy_timeout
from ..app import Commands
from ..console import confirmed
from .shared import database, done, open_ledger

commands = Commands()
# Declared here, not in the signatures, as the linter asks of a non-string default.
BackupFileArgument = typer.Argument(..., metavar="文件", help="备份文件路径，例如 gongkai-2023-04-01.db。")
RestoreFileArgument = typer.Argument(..., metavar="备份文件", help="用 gongkai backup 做的备份文件。")


@commands.command()
def backup(
    ctx: typer.Context,
    file: Path = BackupFileArgument,
    force: bool = typer.Option(False, "--force", help="备份文件已存在时覆盖它。"),
) -> None:
    """在不停止其他写入的情况下，把数据库完整复制到一个文件（SQLite 在线备份）。恢复请用 gongkai restore 备份文件。"""
    with open_ledger(ctx, must_exist=True) as ledger:
        written = maintenance.backup(ledger, file, overwrite=force)
    done(ctx, f"已备份到“{written}”")
    render.backup_done(written)


@commands.command()
def restore(
    ctx: typer.Context,
    file: Path = RestoreFileArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help="不再询问，直接恢复（供脚本使用）。"),
) -> None:
    """用备份替换当前数据库：先检查备份完好，再把当前数据库另存一份（文件名含 before-restore 和时间），然后在独占锁下一次性写入。

    不要直接把备份文件复制回原处：数据库旁残留的 -wal 文件会把它写坏。
    """
    target = database(ctx)
    # Restore opens the file itself, without a session's settings; it waits as every writer does.
    wait = busy_timeout()
    summary = maintenance.inspect_backup(file, target, timeout=wait)
    if not yes and not confirmed(
        f"用{render.backup_headline(summary)}替换数据库“{target}”",
        lambda: render.restore_preview(summary, target),
        "确认用这份备份替换当前数据库吗？",
    ):
        typer.echo("未做任何更改。")
        return
    result = maintenance.restore(file, target, timeout=wait)
    done(ctx, f"已用备份恢复数据库“{target}”（原数据库另存为“{result.aside}”）")
    render.restored(result)


@commands.command()
def copy(
    ctx: typer.Context,
    to: str = typer.Option(
        ..., "--to", metavar="目标", help="服务器上的空数据库（postgresql://账号@服务器/数据库），或一个新的 SQLite 文件名。"
    ),
) -> None:
    """把整个台账（计划、任务、分工、进展和全部历史记录）复制到服务器上的空数据库或一个新的 SQLite 文件，最后逐表核对行数。

    从一台电脑搬到服务器：gongkai copy --to postgresql://账号@服务器/gongkai；服务器台账的一致备份：gongkai copy --to 文件.db。复制时其他人可以照常写入，复制的是开始那一刻的台账；目标要么得到完整的副本，要么什么也不写入。
    """
    from ...usecases import copying

    with open_ledger(ctx, must_exist=True) as ledger:
        result = copying.copy(ledger, to)
    done(ctx, f"已复制到“{result.target}”")
    render.copied(result)


@commands.command()
def check(ctx: typer.Context) -> None:
    """检查数据库是否完好（完整性检查、外键检查，表、列、索引和触发器与 gongkai 建立的一致）；有问题时退出码为 4。"""
    with open_ledger(ctx, must_exist=True) as ledger:
        path = maintenance.check(ledger)
    render.check_passed(path)
