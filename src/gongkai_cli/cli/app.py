"""Command line: the edge. The commands themselves are in commands/, one module per use-case group.

Here, on Typer's public API only: the app and `run`, which imports only the module of the
command the command line names; the one place errors become a Chinese sentence and an exit
code (`_reported` around every command, `run` around the framework's parsing); and
`Commands`, which gives every command `-h`, and `--db`/`--plan` after its name. Beside it:
console.py (guarded stdout, `say`, asking before a change), command_line.py (the options every
command shares, the words as typed, and usage errors in Chinese), helptext.py (help laid out
for Chinese) and completion.py (shell completion).
"""

from __future__ import annotations

import errno
import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any, NoReturn, TypeVar

import typer

from .. import __version__
from ..domain.errors import ExitCode, GongkaiError, help_lines
from ..domain.text import os_reason
from .command_line import (
    CREATED,
    DB_HELP,
    DB_METAVAR,
    DONE,
    PLAN_RULE_HELP,
    SAVED,
    DbOption,
    GlobalOptions,
    PlanOption,
    check_command,
    command_words,
    completion_option,
    completion_words,
    one_unit,
    root_options,
    usage_message,
)
from .console import OutputError, fail, guard_stderr, guard_stdout
from .streams import internal_error, output_failed

EXIT_CODES_HELP = f"退出码：\n{help_lines()}\n除 {ExitCode.SAVED_BUT_UNCONFIRMED.value} 外，出错时台账未做任何更改。"

# Every command, in the order help lists them, and the module of commands/ that defines it.
COMMANDS = {
    "init": "plans",
    "import": "plans",
    "plans": "plans",
    "list": "queries",
    "due": "queries",
    "remind": "queries",
    "summary": "queries",
    "report": "outputs",
    "show": "queries",
    "units": "queries",
    "contacts": "mailing",
    "note": "progress",
    "status": "progress",
    "assign": "assignments",
    "unassign": "assignments",
    "task": "edits",
    "export": "outputs",
    "log": "history",
    "undo": "history",
    "backup": "maintenance",
    "restore": "maintenance",
    "copy": "maintenance",
    "check": "maintenance",
    "server": "team",
}

# What the root help says of each command: the first line of its help, kept here so that
# `gongkai -h` lists the commands without importing them all and building each (tests/
# test_framework.py checks every line against the command's own help).
SUMMARIES = {
    "init": "创建数据库（所在目录不存在时一并创建）。已存在时不做任何改动，只有台账中没有任何计划时（例如撤销了首次载入的内置计划）重新载入内置计划。",
    "import": "导入（或重新导入）一份任务分解表。重新导入只更新任务文字，不丢失进展和状态。",
    "plans": "列出已导入的计划及其任务数，标出默认计划及原因（今年的计划，没有时为最新的计划）。",
    "list": "列出任务，按序号排列。例如：gongkai list --unit 区财政局",
    "due": "按截止日期列出任务（最早的在前）。默认不含已完成、已取消的任务。",
    "remind": "生成提醒：先列逾期任务，再列即将到期的任务。没有需要提醒的内容时什么也不输出（cron 不会发空邮件）。",
    "summary": "计划进度总览：各状态任务数、完成率、逾期数和 30 天内到期数。",
    "report": "生成进展报告（Markdown、HTML 或 Word）：总体情况、任务清单与最新进展、逾期任务、期间进展记录。",
    "show": "查看一项任务的全部信息和进展记录。",
    "units": "列出所有责任单位：类型、别名，以及在当前计划中分配给它（含经由集合分配）、由它牵头、它已完成、它逾期的任务数。",
    "contacts": "各单位的联系邮箱，按单位发送提醒邮件时使用。",
    "note": "为任务记录一条进展（带时间和记录人）。例如：gongkai note 40 \"试点完成\"；批量：gongkai note --from 进展.csv",
    "status": "修改一个责任单位的状态（任务的状态由各单位的状态得出）；每次修改都会记入进展记录。",
    "assign": "把任务分配给更多单位（例如把“各相关部门”落实为具体单位）；记入历史，可撤销。",
    "unassign": "取消把任务分配给某些单位（已有该单位进展记录的不能取消）；记入历史，可撤销。",
    "task": "公开办在年度中调整计划的任务；每次调整记入历史（gongkai log），可撤销（gongkai undo）。",
    "export": "导出当前计划的全部任务（按序号）及进展记录。例如：gongkai export -o 任务台账.xlsx",
    "log": "查看更改历史：谁、何时、做了什么（原值 → 新值）。不加 --plan 时列出所有计划的更改。",
    "undo": "撤销您自己最近一次尚未撤销的更改（进展、状态、分派或导入），先显示将撤销的内容。撤销本身也记入历史。",
    "backup": "在不停止其他写入的情况下，把数据库完整复制到一个文件（SQLite 在线备份）。恢复请用 gongkai restore 备份文件。",
    "restore": "用备份替换当前数据库：先检查备份完好，再把当前数据库另存一份（文件名含 before-restore 和时间），然后在独占锁下一次性写入。",
    "copy": "把整个台账（计划、任务、分工、进展和全部历史记录）复制到服务器上的空数据库或一个新的 SQLite 文件，最后逐表核对行数。",
    "check": "检查数据库是否完好（完整性检查、外键检查，表、列、索引和触发器与 gongkai 建立的一致）；有问题时退出码为 4。",
    "server": "PostgreSQL 台账的账号设置（须用台账所有者的连接运行）和单位数据文件（见 docs/team.md）。",
}

# The commands of the groups among COMMANDS, so that a mistyped one is answered in Chinese
# before the framework sees it (tests/test_cli.py checks them against what the modules define).
SUBCOMMANDS = {"server": ("init", "grant", "revoke", "units"), "contacts": ("list", "set", "remove"),
               "task": ("add", "edit", "drop", "key")}

# Commands that work on one plan, so `--plan` after their name means something. `import`
# has its own --plan (the name of the plan it creates); `log` without --plan shows all plans.
PLAN_COMMANDS = frozenset(
    {"list", "due", "remind", "summary", "report", "show", "units", "note", "status", "assign", "unassign", "export",
     "log", "undo"}
)



# Root options that answer on their own, whatever command follows.
_ROOT_ANSWERS = ("-h", "--help", "--version", "--install-completion", "--show-completion")
# The framework's protocol for the shell's Tab: the variable names the completion script sets.
COMPLETE_VAR = "_GONGKAI_COMPLETE"


def _debug(ctx: typer.Context | None) -> bool:
    options = ctx.find_object(GlobalOptions) if ctx is not None else None
    return bool(options and options.debug) or bool(os.environ.get("GONGKAI_DEBUG"))


def _internal_error(err: Exception, ctx: typer.Context | None) -> NoReturn:
    message, code = internal_error(err)
    if code == ExitCode.INTERNAL and _debug(ctx):
        raise err
    fail(message, code)


def _reported(function: Callable[..., Any], ctx: typer.Context, arguments: dict[str, Any]) -> Any:
    """Run one command (or a group's callback): its errors become `错误：…` on stderr and the
    exit code they carry."""
    try:
        try:
            return function(**arguments)
        finally:
            # Inside the handler: a confirmation that cannot reach a full disk or a
            # closed pipe must fail here, where the exit code is decided, not at exit.
            if sys.stdout is not None:
                sys.stdout.flush()
    except GongkaiError as err:
        fail(err.message, err.exit_code)
    except (OutputError, BrokenPipeError) as err:
        _output_failed(ctx, err)
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as err:
        _internal_error(err, ctx)


def _output_failed(ctx: typer.Context, err: OSError) -> NoReturn:
    """Standard output failed: say what happened to the data, which is what a retry depends on."""
    message, code = output_failed(err, ctx.meta.get(SAVED) or [], ctx.meta.get(DONE), ctx.meta.get(CREATED))
    if not message:
        raise typer.Exit(code)
    fail(message, code)


_Function = TypeVar("_Function", bound=Callable[..., Any])


class Commands:
    """The commands one module of commands/ defines, kept until a run needs them.

    The framework builds every command an app holds on each run, so `add_commands` adds to the
    app only the command named on the command line (all of them for help and completion). Each
    is added as a wrapper with the command's parameters and a few more, so that every command
    takes `-h` (help laid out for Chinese), `--db` and, where it works on one plan, `--plan`
    after its name (`gongkai list --plan 2023`); the wrapper reports the command's errors
    (`_reported`). The framework reads a command's parameters from its signature, so the
    wrapper's signature is the command's plus those. With a `group` name, the module's commands
    are that group's (`gongkai server init`), added together.
    """

    def __init__(self, group: str | None = None):
        self.group = group
        self.defined: dict[str, Callable[..., Any]] = {}
        self.group_callback: Callable[..., Any] | None = None

    def command(self, name: str | None = None) -> Callable[[_Function], _Function]:
        def define(function: _Function) -> _Function:
            self.defined[name or function.__name__] = function
            return function

        return define

    def callback(self) -> Callable[[_Function], _Function]:
        """The group's own callback, whose docstring is the group's help."""

        def define(function: _Function) -> _Function:
            self.group_callback = function
            return function

        return define

    def add_to(self, app: typer.Typer, names: Collection[str]) -> None:
        if self.group is None:
            for name in names:
                _add_command(app, name, self.defined[name])
            return
        group = typer.Typer(name=self.group)
        if self.group_callback is not None:
            _add_callback(group, self.group_callback)
        for name, function in self.defined.items():
            _add_command(group, name, function)
        app.add_typer(group)


def _add_command(app: typer.Typer, name: str, function: Callable[..., Any]) -> None:
    extra = [_HELP_PARAMETER, _after_parameter("db", DB_METAVAR, DB_HELP)]
    if name in PLAN_COMMANDS:
        extra.append(_after_parameter("plan", "计划", PLAN_RULE_HELP))
    # Extra words are collected rather than refused by the framework, so that the message is ours.
    app.command(name, context_settings={"allow_extra_args": True})(_with_parameters(function, extra, command=True))


def _add_callback(app: typer.Typer, function: Callable[..., Any]) -> None:
    """A group's callback: `-h` as on every command, and help when no command is named."""
    app.callback(invoke_without_command=True)(_with_parameters(function, [_HELP_PARAMETER], group=True))


def _with_parameters(
    function: Callable[..., Any], extra: list[inspect.Parameter], *, command: bool = False, group: bool = False,
) -> Callable[..., Any]:
    """`function` as the framework should see it: its own parameters and `extra` (options that
    only act through their callbacks, so the framework never passes them)."""
    signature = inspect.signature(function, eval_str=True)
    context = _context_parameter(signature)
    own = list(signature.parameters)

    @functools.wraps(function)
    def wrapper(**arguments: Any) -> Any:
        ctx = arguments[context]
        # A command collects extra words (context setting allow_extra_args), so that the message
        # is ours; a group's extra words are its command's.
        if command and ctx.args:
            fail(f"多余的参数：{' '.join(ctx.args)}（用法见 {ctx.command_path} -h）。", ExitCode.USAGE)
        # The framework passes every parameter of the signature, `extra` too (as its default).
        result = _reported(function, ctx, {name: arguments[name] for name in own})
        if group and ctx.invoked_subcommand is None:
            _show_help(ctx)
        return result

    parameters = [*signature.parameters.values(), *extra]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def _context_parameter(signature: inspect.Signature) -> str:
    """The parameter the framework passes the context in: every command and callback here has one."""
    (name,) = [p.name for p in signature.parameters.values() if p.annotation is typer.Context]
    return name


def _show_help(ctx: typer.Context) -> NoReturn:
    from .helptext import help_text

    order = list(COMMANDS) if ctx.parent is None else list(SUBCOMMANDS.get(ctx.info_name or "", ()))
    try:
        typer.echo(help_text(ctx, ctx.command, order), nl=False)
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OutputError, BrokenPipeError) as err:
        _output_failed(ctx, err)
    raise typer.Exit(ExitCode.SUCCESS)


def _help_callback(ctx: typer.Context, param: Any, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        _show_help(ctx)


def _remember(key: str) -> Callable[[typer.Context, Any, Any], Any]:
    """`--db`/`--plan` given after the command name (`gongkai list --plan 2023`), kept for `global_options`."""

    def remember(ctx: typer.Context, param: Any, value: Any) -> Any:
        if value is not None:
            ctx.meta[f"gongkai.{key}"] = value
        return value

    return remember


def _after_parameter(key: str, metavar: str, help_text: str) -> inspect.Parameter:
    option = typer.Option(None, f"--{key}", metavar=metavar, help=help_text, expose_value=False,
                          callback=_remember(key))
    return inspect.Parameter(f"{key}_after_command", inspect.Parameter.KEYWORD_ONLY, default=option,
                             annotation=str | None)


_HELP_PARAMETER = inspect.Parameter(
    "show_help", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
    default=typer.Option(False, "-h", "--help", is_eager=True, expose_value=False, callback=_help_callback,
                         help="显示本帮助并退出。"),
)


ROOT_HELP = "政务公开工作要点任务台账：查看“我的任务”、临近截止与逾期任务，记录进展和状态。\n\n" + EXIT_CODES_HELP

app = typer.Typer(
    help=ROOT_HELP,
    # Every command's -h is its own option (Commands), laid out for Chinese.
    context_settings={"help_option_names": []},
    pretty_exceptions_enable=False,
    # The framework's completion protocol (_GONGKAI_COMPLETE) comes with its two options;
    # `run` answers those options itself, in Chinese (completion.py).
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gongkai {__version__}")
        raise typer.Exit()


def _main(
    ctx: typer.Context,
    db: str | None = DbOption,
    plan: str | None = PlanOption,
    # A list, so that a second --unit is refused rather than silently replacing the first.
    unit: list[str] | None = typer.Option(
        None, "--unit", envvar="GONGKAI_UNIT", show_envvar=True, metavar="单位",
        help="本单位：note、status 默认记在这个单位名下（命令中的 --unit 优先）；查询命令不受影响。",
    ),
    debug: bool = typer.Option(False, "--debug", help="出错时显示完整的调用栈。"),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="显示版本号并退出。"
    ),
) -> None:
    ctx.obj = GlobalOptions(db=db, plan=plan, debug=debug, unit=one_unit(unit, "gongkai --unit"))


_add_callback(app, _main)


def _listing() -> typer.Typer:
    """The app as the root help shows it: the root's options, and each command by its summary
    alone, so that `gongkai -h` builds no command and imports none of their modules."""
    listing = typer.Typer(help=ROOT_HELP, context_settings={"help_option_names": []},
                          pretty_exceptions_enable=False, add_completion=True)
    _add_callback(listing, _main)
    for name, summary in SUMMARIES.items():
        # Never run: with a command named, the line goes to the whole app.
        listing.command(name, help=summary)(_summary_only)
    return listing


def _summary_only() -> None:
    raise AssertionError("a command of the root help's listing was run")


def _root_help(argv: Sequence[str]) -> bool:
    """Whether the line asks for the root help only: no command word (nothing to complete, no
    --version, --install-completion or --show-completion to answer)."""
    if os.environ.get(COMPLETE_VAR) or completion_option(argv) or command_words(argv):
        return False
    root = root_options(argv)
    return "--version" not in root or bool({"-h", "--help"} & set(root))


# -- running the app -------------------------------------------------------------------


def run(args: Sequence[str] | None = None) -> int:
    """Run the command line `args` (default: the process's own) and return the exit code."""
    argv = list(sys.argv[1:] if args is None else args)
    try:
        target = _listing() if _root_help(argv) else app
        if target is app:
            add_commands(argv)
        if completion := completion_option(argv):
            from .completion import answer

            return answer(app, completion, COMPLETE_VAR)
        result = target(args=argv, prog_name="gongkai", complete_var=COMPLETE_VAR, standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except GongkaiError as err:
        return _report(err.message, err.exit_code)
    except typer.TyperException as err:
        return _report(usage_message(err, argv, SUBCOMMANDS), getattr(err, "exit_code", ExitCode.USAGE))
    except typer.Abort:
        # Ctrl-C or end of input at a prompt: nothing was asked for yet, so nothing changed.
        typer.echo(err=True)
        return ExitCode.INTERNAL
    except (OutputError, BrokenPipeError) as err:
        # The framework's own output (completion) failed; nothing was changed.
        return ExitCode.SUCCESS if err.errno == errno.EPIPE else _report(f"无法写入标准输出（{os_reason(err)}）。",
                                                                         ExitCode.USAGE)
    except Exception as err:
        # A command's own errors are reported where they happen (`_reported`), which lets
        # them through only for --debug; the traceback is then what was asked for.
        if "--debug" in root_options(argv):
            raise
        try:
            _internal_error(err, None)
        except typer.Exit as done:
            return done.exit_code
    return result if isinstance(result, int) else 0


def _report(message: str, code: ExitCode) -> int:
    try:
        fail(message, code)
    except typer.Exit as done:
        return done.exit_code


def main() -> None:
    guard_stdout()
    guard_stderr()
    sys.exit(run())


def add_commands(argv: list[str]) -> None:
    """Add to the app the commands this run can need: those of the module of the command named
    (a run builds and imports only that), or all of them for help, completion and mistakes.

    A mistyped command is answered here, in Chinese, with the names it may have meant.
    """
    if os.environ.get(COMPLETE_VAR):
        words = [word for _, word in command_words(completion_words())]
        # The last word is the one being completed: until it is whole, every command may fit.
        names = [words[0]] if len(words) > 1 and words[0] in COMMANDS else list(COMMANDS)
    else:
        words = [word for _, word in command_words(argv)]
        root = root_options(argv)
        if completion_option(argv) or ("--version" in root and not {"-h", "--help"} & set(root)):
            return  # answered before any command is looked at
        if words and not any(word in _ROOT_ANSWERS for word in root):
            check_command(words[0], COMMANDS, "gongkai")
            if words[0] in SUBCOMMANDS and len(words) > 1:
                check_command(words[1], SUBCOMMANDS[words[0]], f"gongkai {words[0]}")
        names = [words[0]] if words and words[0] in COMMANDS else list(COMMANDS)
    modules: dict[str, list[str]] = {}
    for name in names:
        if name not in _added:
            modules.setdefault(COMMANDS[name], []).append(name)
            _added.add(name)
    for module, wanted in modules.items():
        commands: Commands = importlib.import_module(f"{__package__}.commands.{module}").commands
        commands.add_to(app, wanted)


# The commands already added: `run` can be called more than once in a process (tests).
_added: set[str] = set()


# -- the framework's usage errors, in Chinese -----------------------------------------


# -- what commands share ------------------------------------------------------------


