"""What several commands share: their settings and ledger, and options declared alike.

Kept out of cli.py so that the edge (errors, help, --version) does not import the use
cases; every commands module imports this one.
"""

from __future__ import annotations

import functools

import typer

from ...domain.records import Commit
from ...store import Database
from ...usecases.session import Session
from ...usecases.settings import Settings, database_path, from_environment
from ..command_line import CREATED, DONE, SAVED, global_options, on_command_line, one_value
from ..frequent import open_session, render_format, statuses, unit_names

# What the commands modules take from here, though frequent.py defines it.
__all__ = ["render_format", "statuses"]


def settings(ctx: typer.Context) -> Settings:
    """The command's settings, from its options and the environment: built here once."""
    options = global_options(ctx)
    return from_environment(options.db, options.plan, options.unit,
                            unit_option=on_command_line(ctx.find_root(), "unit"))


def database(ctx: typer.Context) -> Database:
    """The database the command works on, for commands that replace the file rather than open it."""
    return database_path(global_options(ctx).db)


def plan_to_create(ctx: typer.Context, given: str | None) -> str | None:
    """The name `import` gives the plan it creates: its own --plan, or --plan before the command.

    GONGKAI_PLAN selects the plan other commands work on; the plan an import creates is
    named on the command line or by the file's year, never by the environment.
    """
    root = ctx.find_root()
    before = global_options(ctx).plan if on_command_line(root, "plan") else None
    name: str | None = one_value(root, "plan", before, given)
    return name


def open_ledger(ctx: typer.Context, *, bootstrap: bool = True, announce: bool = True, **how: bool) -> Session:
    """The command's ledger. One this command had to create is announced on stderr, unless the
    command confirms the creation itself (`announce=False`: `init`)."""

    def created(database: object) -> None:
        ctx.find_root().meta[CREATED] = database

    return open_session(settings(ctx), lambda commits: saved(ctx, commits), created,
                        bootstrap=bootstrap, announce=announce, **how)


def saved(ctx: typer.Context, commits: list[Commit]) -> None:
    """The changes the command has committed, so a confirmation that cannot be printed is reported as saved."""
    ctx.find_root().meta[SAVED] = commits


def done(ctx: typer.Context, what: str) -> None:
    """What a command that replaces files (backup, restore) has done, for the same report."""
    ctx.find_root().meta[DONE] = what


def complete_unit(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion for --unit: unit names and aliases known to this ledger."""
    return unit_names(functools.partial(open_ledger, ctx), incomplete)


# -- options several commands declare alike -------------------------------------------------

FormatOption = typer.Option(
    "table", "--format", "-f", metavar="格式", help="输出格式：table（默认）、json、csv、tsv、markdown。"
)
# Outputs never overwrite the database; a read-only file is replaced only when asked.
ForceReadOnlyOption = typer.Option(False, "--force", help="输出文件是只读文件时也替换它。")
TaskIdArgument = typer.Argument(..., metavar="序号", help="任务序号，例如 40。")
ByOption = typer.Option(None, "--by", help="记录人（默认取环境变量 GONGKAI_USER，否则为登录名）。")
QuietOption = typer.Option(False, "--quiet", "-q", help="成功时不输出确认信息。")
UNIT_HELP = "责任单位，可重复，例如 --unit 区财政局；也包括通过“各街镇”“区政府各部门”等集合分配的任务。"
UnitsOption = typer.Option(None, "--unit", "-u", metavar="单位", help=UNIT_HELP, autocompletion=complete_unit)
UnitOption = typer.Option(
    None, "--unit", "-u", metavar="单位", help="单位名称（默认为全部单位）；含通过集合分配的任务。",
    autocompletion=complete_unit,
)
DirectOption = typer.Option(False, "--direct", help="只看直接写明该单位的任务，不含通过集合（如各街镇）分配的任务。")
LeadOption = typer.Option(False, "--lead", help="只看该单位牵头（排在第一位）的任务。")
STATUS_HELP = (
    "未开始、进行中、已完成、受阻、已取消，也可写 todo、doing、done、blocked、cancelled "
    "或 完成、卡住 等常用说法（见 docs/dates.md）。"
)
DATE_HELP = "日期，例如 2023-04-20、4月20日、4/20、4月底、本周、下月、今天、7d（见 docs/dates.md）。"
