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
from ..domain.records import Commit
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
from .console import OutputError, discard_stdout, fail, guard_stderr, guard_stdout

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
    if isinstance(err, UnicodeEncodeError) and _is_undecodable_argument(err):
        fail(_undecodable_message(err), ExitCode.USAGE)
    if _debug(ctx):
        raise err
    fail(f"内部错误：{type(err).__name__}: {err}（加 --debug 查看详细信息）", ExitCode.INTERNAL)


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
    discard_stdout()
    reason = os_reason(err)
    commits = ctx.meta.get(SAVED) or []
    if commits:
        fail(f"{_saved_changes(commits)}已保存，但确认信息无法写入标准输出（{reason}）；"
              "请不要重试，可用 gongkai log 核对。", ExitCode.SAVED_BUT_UNCONFIRMED)
    if done := ctx.meta.get(DONE):
        fail(f"{done}，但确认信息无法写入标准输出（{reason}）；请不要重试。", ExitCode.SAVED_BUT_UNCONFIRMED)
    if err.errno == errno.EPIPE:
        # The reader (`| head`) has all it wanted.
        raise typer.Exit(ExitCode.SUCCESS)
    # A read that made a new ledger (first use) is still a read: a retry is safe, but the new file is real.
    created = ctx.meta.get(CREATED)
    unchanged = f"已新建台账“{created}”，此外未做任何更改" if created else "台账未做任何更改"
    fail(f"无法写入标准输出（{reason}）；{unchanged}。", ExitCode.USAGE)


def _saved_changes(commits: Sequence[Commit]) -> str:
    first, last = commits[0], commits[-1]
    events = sum(commit.events for commit in commits)
    span = f"#{first.first_event}" if events == 1 else f"#{first.first_event}–#{last.last_event}"
    notes = [n for commit in commits for n in (commit.first_note, commit.last_note) if n is not None]
    if not notes:
        return f"更改（历史记录 {span}）"
    low, high = min(notes), max(notes)
    what = f"进展记录 #{low}" if low == high else f"进展记录 #{low}–#{high}"
    return f"{what}（历史记录 {span}）"


def _is_undecodable_argument(err: UnicodeEncodeError) -> bool:
    # Python hands over command-line bytes that are not UTF-8 as lone surrogates;
    # they fail the moment they are stored or printed, before anything is committed.
    # Other lone surrogates (a JSON "\ud800") are not bytes from the command line.
    return (err.reason == "surrogates not allowed"
            and all(0xDC80 <= ord(char) <= 0xDCFF for char in err.object[err.start:err.end]))


def _undecodable_message(err: UnicodeEncodeError) -> str:
    raw = err.object[err.start:err.end].encode("utf-8", "surrogateescape")
    shown = raw.decode("utf-8", "backslashreplace")
    return f"输入中含有不是 UTF-8 编码的字节“{shown}”，请检查终端或脚本的编码设置（应为 UTF-8）。"


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


app = typer.Typer(
    help="政务公开工作要点任务台账：查看“我的任务”、临近截止与逾期任务，记录进展和状态。\n\n" + EXIT_CODES_HELP,
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


# -- running the app -------------------------------------------------------------------


def run(args: Sequence[str] | None = None) -> int:
    """Run the command line `args` (default: the process's own) and return the exit code."""
    argv = list(sys.argv[1:] if args is None else args)
    try:
        add_commands(argv)
        if completion := completion_option(argv):
            from .completion import answer

            return answer(app, completion, COMPLETE_VAR)
        result = app(args=argv, prog_name="gongkai", complete_var=COMPLETE_VAR, standalone_mode=False)
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


