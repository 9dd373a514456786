"""The options every command shares: --db and --plan before or after the command name, the
clerk's own --unit, and where each value came from."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import typer

from ..domain.errors import UsageError

PLAN_RULE_HELP = "计划名称，例如 2023（默认：今年的计划，没有时为最新的计划）。"


SAVED = "gongkai.commits"


# What a command that changes files rather than the history (backup, restore) has done.
DONE = "gongkai.done"


CREATED = "gongkai.created"


class RootContext(Protocol):
    """What is read of the root's context (`ctx.find_root()`, typed as the framework's base class)."""

    params: dict[str, Any]
    obj: Any

    def get_parameter_source(self, name: str) -> Any: ...


class GlobalOptions(NamedTuple):
    db: str | None  # a file, or a postgresql:// URL, which a Path would mangle
    plan: str | None
    debug: bool
    unit: str | None = None  # the clerk's own unit, for notes and status changes


DB_HELP = "数据库文件（默认为用户数据目录下的 gongkai.db），或团队模式的 postgresql:// 地址。"


# What --db takes: a SQLite file or a server's postgresql:// URL.
DB_METAVAR = "文件或地址"


DbOption = typer.Option(
    None, "--db", envvar="GONGKAI_DB", show_envvar=True, metavar=DB_METAVAR, help=DB_HELP,
)


PlanOption = typer.Option(None, "--plan", envvar="GONGKAI_PLAN", show_envvar=True, metavar="计划", help=PLAN_RULE_HELP)


def global_options(ctx: typer.Context) -> GlobalOptions:
    """--db and --plan: on the command line before or after the command name, else from
    the environment (GONGKAI_DB, GONGKAI_PLAN), else the default. The same value given in
    both places is fine; two different values are refused rather than one silently winning."""
    root = ctx.find_root()
    given = root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions(
        db=root.params.get("db"), plan=root.params.get("plan"), debug=False
    )
    db = one_value(root, "db", given.db, ctx.meta.get("gongkai.db"))
    plan = one_value(root, "plan", given.plan, ctx.meta.get("gongkai.plan"))
    return given._replace(db=str(db) if db is not None else None, plan=plan)


def on_command_line(root: RootContext, name: str) -> bool:
    source = root.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def one_value(root: RootContext, name: str, before: Any, after: Any) -> Any:
    if after is None:
        return before
    if before is None or not on_command_line(root, name):
        return after  # the command line wins over the environment
    if str(before) != str(after):
        raise UsageError(
            f"--{name} 在命令名前后给了两个不同的值（“{before}”和“{after}”），请只写一个。"
        )
    return after


def one_unit(values: list[str] | None, option: str, *, status: bool = False) -> str | None:
    """The one unit a write is for: a repeated --unit is refused, never settled by the last one."""
    if not values:
        return None
    if len(values) > 1:
        also = "；要一次设置所有单位的状态请用 status --all" if status else ""
        raise UsageError(
            f"{option} 只能给一个单位（本次给了 {'、'.join(values)}），请每次写一个单位{also}。未做任何更改。"
        )
    value: str = values[0]
    return value
