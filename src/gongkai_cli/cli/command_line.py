"""The command line as typed and as read: the options every command shares (--db and --plan
before or after the command name, the clerk's own --unit, and where each value came from);
which words are the command and its arguments, which are the root's options, the words the
shell's Tab completes, a mistyped command; and the framework's usage errors worded in Chinese
from their documented fields, never from their English text."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple, Protocol

import typer

from ..domain.errors import UsageError

# The root options that take a value, so that the word after one is not taken for a command.
ROOT_VALUE_OPTIONS = ("--db", "--plan", "--unit")


def command_words(argv: Sequence[str]) -> list[tuple[int, str]]:
    """The words that are not options or their values, with their places: the command, then
    its arguments (as far as a root option's value can be told from them)."""
    words: list[tuple[int, str]] = []
    skip = False
    for place, word in enumerate(argv):
        if skip:
            skip = False
        elif word == "--":
            break
        elif word.startswith("-"):
            skip = word in ROOT_VALUE_OPTIONS and not words
        else:
            words.append((place, word))
    return words


def root_options(argv: Sequence[str]) -> Sequence[str]:
    """The words before the command: the root's own options."""
    words = command_words(argv)
    return argv[: words[0][0]] if words else argv


def completion_words() -> list[str]:
    """The words on the command line being completed, as the completion script passes them."""
    import shlex

    given = os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS") or ""
    try:
        return shlex.split(given)[1:]
    except ValueError:
        return []


def check_command(name: str, known: Collection[str], path: str) -> None:
    if name in known:
        return
    import difflib  # only a mistyped command needs it

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f"，是不是想用 {'、'.join(close)}" if close else ""
    raise UsageError(f"没有“{name}”这个命令{hint}？可用的命令见 {path} -h。")


def completion_option(argv: Sequence[str]) -> str | None:
    """`--install-completion` or `--show-completion` before any command: answered in Chinese."""
    return next((word for word in root_options(argv) if word in ("--install-completion", "--show-completion")), None)


def usage_message(err: Exception, argv: Sequence[str], groups: Collection[str]) -> str:
    """A usage error the framework raised while parsing, as one Chinese sentence with the way to help.

    The kind of error is read from what the framework's exceptions document (the option's
    name, the parameter) and from the command line itself, never from their English text.
    """
    ctx = getattr(err, "ctx", None)
    option = getattr(err, "option_name", None)
    given = _where_given(argv, option) if isinstance(option, str) else None
    if ctx is not None:
        path = ctx.command_path
    else:
        # The parser raises a misused option without its context: the words before it say whose it is.
        before = [word for place, word in command_words(argv) if given is None or place < given]
        path = " ".join(["gongkai", *before[: 2 if before and before[0] in groups else 1]])
    param = getattr(err, "param", None)
    if isinstance(option, str) and option[1:].isdigit():
        # The parser takes `show -1` for an unknown option; the user typed a number.
        command = ctx.command if ctx is not None else None
        if any(p.name == "task_id" for p in getattr(command, "params", ())):
            return f"无效的任务序号“{option}”，序号应为正整数（最多 9 位），例如 40。"
        return f"无效的参数“{option}”：这里不接受负数。"
    if isinstance(option, str) and hasattr(err, "possibilities"):
        possible = sorted(getattr(err, "possibilities", None) or ())
        hint = f"，是不是想用 {'、'.join(possible)}" if possible else ""
        message = f"没有“{option}”这个选项{hint}"
    elif isinstance(option, str):
        # Misused, an option was either given a value it does not take (--quiet=yes) or none.
        valued = given is not None and argv[given].startswith(f"{option}=")
        message = f"选项 {option} 不带值" if valued else f"选项 {option} 后面缺少值"
    elif isinstance(err, typer.BadParameter) and hasattr(err, "param_type"):
        message = f"缺少{_param_label(param)}"
    elif isinstance(err, typer.BadParameter):
        message = f"{_param_label(param)} 的值无效：{err.message.rstrip('。.')}"
    else:
        message = f"命令行有误（{getattr(err, 'message', err)}）"
    return f"{message}（用法见 {path} -h）。"


def _where_given(argv: Sequence[str], option: str) -> int | None:
    """The place on the command line of the last use of `option` (the one the parser stopped at)."""
    places = [place for place, word in enumerate(argv) if word == option or word.startswith(f"{option}=")]
    return places[-1] if places else None


def _param_label(param: Any) -> str:
    if param is None:
        return "参数"
    if param.param_type_name == "argument":
        return f"参数“{param.metavar or param.name}”"
    return f"选项 {param.opts[0]}"


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
