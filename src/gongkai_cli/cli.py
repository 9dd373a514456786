"""Command line: the edge. The commands themselves are in commands/, one module per use-case group.

Here: the app and its group, which lists the commands from `COMMANDS` and imports only the
module of the one the command line names; the one place errors become exit codes,
`_Group.invoke`; stdout guarding (exit 7); the framework's usage errors put into the same
Chinese one-line shape by `_framework_message`; help laid out by `_help_text`; the root
options and the settings built from them; and what commands share (options, opening the
ledger, asking before a change).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import io
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn, TypeVar

import typer
import typer.main

# Typer vendors click; its classes are reached here because the framework's English messages
# are rewritten into Chinese and its help laid out anew. pyproject pins Typer to the 0.28 line.
from typer import _click as click
from typer._click import exceptions as click_errors
from typer._completion_classes import completion_init
from typer._completion_shared import _get_shell_name, get_completion_script, install
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from . import __version__
from .errors import GongkaiError, UsageError
from .models import Commit
from .text import inert_line, os_reason

EXIT_CODES_HELP = """退出码：
  0 成功（结果为空也算成功）
  1 内部错误
  2 用法或输入错误（日期、状态、单位、文件格式）
  3 找不到（计划中没有该任务）
  4 数据库问题（被占用超时、损坏、只读、版本过新、不是 gongkai 台账）
  5 remind --fail-on-overdue 发现了逾期任务（供监控用，不是出错）
  6 无权操作（团队模式：单位账号写别的单位的任务分工，或做只有办公室能做的事）
  7 更改已保存，但确认信息无法输出（标准输出已满、已关闭或管道已断开）：不要重试
除 7 外，出错时台账未做任何更改。"""

# Every command, in the order help lists them, and the module of commands/ that defines it.
COMMANDS = {
    "init": "plans",
    "import": "plans",
    "plans": "plans",
    "list": "reading",
    "due": "reading",
    "remind": "reading",
    "summary": "reading",
    "report": "outputs",
    "show": "reading",
    "units": "reading",
    "note": "progress",
    "status": "progress",
    "assign": "assignments",
    "unassign": "assignments",
    "export": "outputs",
    "log": "history",
    "undo": "history",
    "backup": "maintenance",
    "restore": "maintenance",
    "copy": "maintenance",
    "check": "maintenance",
    "server": "team",
}

# Commands that work on one plan, so `--plan` after their name means something. `import`
# has its own --plan (the name of the plan it creates); `log` without --plan shows all plans.
PLAN_COMMANDS = frozenset(
    {"list", "due", "remind", "summary", "report", "show", "units", "note", "status", "assign", "unassign", "export",
     "log", "undo"}
)

PLAN_RULE_HELP = "计划名称，例如 2023（默认：今年的计划，没有时为最新的计划）。"

# The exit code of a write that committed although its confirmation could not be written.
SAVED_BUT_UNCONFIRMED = 7
_SAVED = "gongkai.commits"
# What a command that changes files rather than the history (backup, restore) has done.
_DONE = "gongkai.done"
_CREATED = "gongkai.created"


class _OutputError(OSError):
    """Standard output could not be written: full, closed or a broken pipe."""


class _Stdout(io.RawIOBase):
    """File descriptor 1, with every write failure raised as `_OutputError`.

    The handler must tell a failed confirmation from a failed read of an input
    file; a stdout closed at start (`>&-`) fails the same way instead of being
    silently dropped, and after a failure the rest of the output is discarded so
    that the interpreter's final flush cannot fail a second time.
    """

    def __init__(self, fd: int | None):
        super().__init__()
        self._fd = fd
        self.discarding = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._fd is not None and os.isatty(self._fd)

    def fileno(self) -> int:
        if self._fd is None:
            raise _OutputError(errno.EBADF, "标准输出已关闭")
        return self._fd

    def write(self, data: Any) -> int:
        if self.discarding:
            return len(data)
        if self._fd is None:
            raise _OutputError(errno.EBADF, "标准输出已关闭")
        try:
            return os.write(self._fd, data)
        except OSError as err:
            raise _OutputError(err.errno, err.strerror) from None


def _guard_stdout() -> None:
    current = sys.stdout
    try:
        fd = current.fileno() if current is not None else None
    except (OSError, ValueError):
        return  # not a file descriptor (an embedding host): leave it as it is
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_Stdout(fd)),
        encoding=current.encoding if current is not None else "utf-8",
        errors=current.errors if current is not None else "strict",
        line_buffering=bool(current.line_buffering) if current is not None else False,
    )


class _Group(TyperGroup):
    """The one place where errors become a Chinese sentence on stderr and an exit code.

    It also lists the commands from `COMMANDS` and builds each only when it is asked for,
    importing only the module that defines it, and gives every command the `--db` and
    `--plan` options, so they work after the command name too.
    """

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        # The shell's Tab requests (_GONGKAI_COMPLETE=complete_bash …) speak Typer's protocol,
        # which Typer registers only for apps that add its own English completion options.
        completion_init()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                # Inside the handler: a confirmation that cannot reach a full disk or a
                # closed pipe must fail here, where the exit code is decided, not at exit.
                if sys.stdout is not None:
                    sys.stdout.flush()
        except GongkaiError as err:
            _fail(err.message, err.exit_code)
        except (_OutputError, BrokenPipeError) as err:
            _output_failed(ctx, err)
        except Exception as err:
            if isinstance(err, UnicodeEncodeError) and _is_undecodable_argument(err):
                _fail(_undecodable_message(err), 2)
            if _is_negative_number(err):
                _fail(_negative_number_message(err), 2)
            if _from_framework(err) or _debug(ctx):
                raise
            _fail(f"内部错误：{type(err).__name__}: {err}（加 --debug 查看详细信息）", 1)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        return _translated(super().make_context, info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = _build_command(cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if ctx.resilient_parsing or name.startswith("-") or self.get_command(ctx, name) is not None:
            return super().resolve_command(ctx, args)
        import difflib  # only a mistyped command needs it

        close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.5)
        hint = f"，是不是想用 {'、'.join(close)}" if close else ""
        raise UsageError(f"没有“{name}”这个命令{hint}？可用的命令见 gongkai -h。")

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(_help_text(ctx, self))


class _Command(TyperCommand):
    """Every command: framework errors in Chinese, help laid out for Chinese text."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        return _translated(super().make_context, info_name, args, parent=parent, **extra)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(_help_text(ctx, self))


_Function = TypeVar("_Function", bound=Callable[..., Any])


class Commands(typer.Typer):
    """The commands one module of commands/ defines, kept until the command line names one.

    Typer would build the parameters of every command on each run, while a run needs only
    the command it invokes: `_Group.get_command` imports the module and builds that one.
    """

    def command(self, name: str | None = None, **settings: Any) -> Callable[[_Function], _Function]:
        return super().command(name, cls=_Command, **settings)


def _build_command(name: str) -> click.Command:
    module = importlib.import_module(f"{__package__}.commands.{COMMANDS[name]}")
    registry: Commands = module.commands
    (info,) = [
        info for info in registry.registered_commands
        if (info.name or typer.main.get_command_name(getattr(info.callback, "__name__", ""))) == name
    ]
    command = typer.main.get_command_from_info(
        info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
    )
    command.params.append(_after_option("db", "--db", DB_METAVAR, DB_HELP))
    if name in PLAN_COMMANDS:
        command.params.append(_after_option("plan", "--plan", "计划", PLAN_RULE_HELP))
    return command


def _output_failed(ctx: click.Context, err: OSError) -> None:
    """Standard output failed: say what happened to the data, which is what a retry depends on."""
    raw = getattr(getattr(sys.stdout, "buffer", None), "raw", None)
    if isinstance(raw, _Stdout):
        raw.discarding = True
    else:
        # Not our wrapper (run in-process): later flushes must not fail either.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    reason = os_reason(err)
    commits = ctx.meta.get(_SAVED) or []
    if commits:
        _fail(f"{_saved_changes(commits)}已保存，但确认信息无法写入标准输出（{reason}）；"
              "请不要重试，可用 gongkai log 核对。", SAVED_BUT_UNCONFIRMED)
    if done := ctx.meta.get(_DONE):
        _fail(f"{done}，但确认信息无法写入标准输出（{reason}）；请不要重试。", SAVED_BUT_UNCONFIRMED)
    if err.errno == errno.EPIPE:
        # The reader (`| head`) has all it wanted.
        raise typer.Exit(0)
    # A read that made a new ledger (first use) is still a read: a retry is safe, but the new file is real.
    created = ctx.meta.get(_CREATED)
    unchanged = f"已新建台账“{created}”，此外未做任何更改" if created else "台账未做任何更改"
    _fail(f"无法写入标准输出（{reason}）；{unchanged}。", 2)


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


def _from_framework(err: Exception) -> bool:
    """Typer's own exits and usage errors (bad option, missing argument) keep their handling.

    Typer raises click's exception classes, or those of its vendored copy of click
    in newer releases, so they are recognised by where they come from.
    """
    return type(err).__module__.split(".")[0] in ("typer", "click")


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


def _is_negative_number(err: Exception) -> bool:
    # The parser takes `show -1` for an unknown option; the user typed a number.
    name = getattr(err, "option_name", None)
    return type(err).__name__ == "NoSuchOption" and isinstance(name, str) and name[1:].isdigit()


def _negative_number_message(err: Exception) -> str:
    option_name = getattr(err, "option_name", None)
    command = getattr(getattr(err, "ctx", None), "command", None)
    if any(param.name == "task_id" for param in getattr(command, "params", ())):
        return f"无效的任务序号“{option_name}”，序号应为正整数（最多 9 位），例如 40。"
    return f"无效的参数“{option_name}”：这里不接受负数。"


def _debug(ctx: click.Context) -> bool:
    options = ctx.find_object(GlobalOptions)
    return bool(options and options.debug) or bool(os.environ.get("GONGKAI_DEBUG"))


def _fail(message: str, code: int) -> NoReturn:
    # Messages quote what the user typed or what the ledger holds (--unit, --plan, ids,
    # cells); here, once, it is made inert and kept to one line.
    say(f"错误：{message}", err=True)
    raise typer.Exit(code)


def say(message: str, *, err: bool = False) -> None:
    """A plain line for the user; every message that can quote user text goes out through here."""
    typer.echo(inert_line(message), err=err)


# -- the framework's usage errors, in Chinese -----------------------------------------


def _translated(
    make_context: Callable[..., click.Context], info_name: str | None, args: list[str], **extra: Any
) -> click.Context:
    """Parse the command line; a usage error the framework raises becomes `错误：…`, exit 2."""
    try:
        return make_context(info_name, args, **extra)
    except click_errors.NoArgsIsHelpError as err:
        # `gongkai` alone prints the help, as `gongkai -h` does. Left to the framework, its
        # rich error printer prints nothing for this error and the exit code is 2.
        typer.echo(err.ctx.get_help(), color=err.ctx.color)
        raise typer.Exit(0) from None
    except click.ClickException as err:
        parent = extra.get("parent")
        path = " ".join(filter(None, (parent.command_path if parent else "", info_name or "gongkai")))
        _fail(f"{_framework_message(err).rstrip('。')}（用法见 {path} -h）。", err.exit_code)


def _framework_message(err: click.ClickException) -> str:
    english = err.message
    if isinstance(err, click_errors.NoSuchOption):
        hint = f"，是不是想用 {'、'.join(sorted(err.possibilities))}" if err.possibilities else ""
        return f"没有“{err.option_name}”这个选项{hint}。"
    if isinstance(err, click_errors.BadOptionUsage):
        if "does not take a value" in english:
            return f"选项 {err.option_name} 不带值。"
        return f"选项 {err.option_name} 后面缺少值。"
    if isinstance(err, click_errors.MissingParameter):
        return f"缺少{_param_label(err.param)}。"
    if isinstance(err, click_errors.BadParameter):
        value = re.search(r"'(.*?)' is not", english)
        shown = f"“{value.group(1)}”" if value else ""
        return f"{_param_label(err.param)} 的值{shown}无效。"
    extra = re.match(r"Got unexpected extra arguments?(?:\(s\))? \((.*)\)", english)
    if extra:
        return f"多余的参数：{extra.group(1)}。"
    return f"命令行有误（{english}）。"


def _param_label(param: click.Parameter | None) -> str:
    if param is None:
        return "参数"
    if param.param_type_name == "argument":
        return f"参数“{param.metavar or param.name}”"
    return f"选项 {param.opts[0]}"


# -- help --------------------------------------------------------------------------------

_FRAMEWORK_OPTION_HELP = {"help": "显示本帮助并退出。"}


def _help_text(ctx: click.Context, command: click.Command) -> str:
    """Help laid out for Chinese: every line fits the terminal (two columns per CJK
    character), option placeholders in words, nothing cut off."""
    width = max(50, min(shutil.get_terminal_size((80, 24)).columns, 100))
    params = command.get_params(ctx)
    arguments = [p for p in params if isinstance(p, TyperArgument)]
    options = [p for p in params if isinstance(p, TyperOption) and not p.hidden]
    path = ctx.command_path
    usage = [path, "[选项]"] + [_argument_usage(p) for p in arguments]
    if isinstance(command, TyperGroup):
        usage += ["命令", "[命令的选项和参数]"]
    out = [f"用法：{' '.join(usage)}", ""]
    for line in (command.help or "").splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        out += [indent + part for part in _wrap(line, width - len(indent))] if line.strip() else [""]
    if arguments:
        out += ["", "参数："]
        out += _rows([(_argument_usage(p).strip("[]"), getattr(p, "help", None) or "") for p in arguments], width)
    out += ["", "选项："]
    out += _rows([(_option_usage(p), _option_help(p)) for p in options], width)
    if isinstance(command, TyperGroup):
        out += ["", "命令："]
        rows = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                rows.append((name, (sub.help or "").splitlines()[0] if sub.help else ""))
        out += _rows(rows, width)
        out += ["", f"每个命令的用法：{path} 命令 -h，例如 {path} list -h。"]
    return "\n".join(out) + "\n"


def _argument_usage(param: TyperArgument) -> str:
    name = (param.metavar or param.name or "").strip("[]")
    return name if param.required else f"[{name}]"


# What --db takes: a SQLite file or a server's postgresql:// URL.
DB_METAVAR = "文件或地址"

# Placeholders for options declared without a metavar: what the value means, in words.
_PLACEHOLDERS = {
    "--format": "格式", "--output": "文件", "--from": "文件", "--by": "姓名", "--note": "说明",
    "--status": "状态", "--since": "日期", "--before": "日期", "--after": "日期", "--count": "次数",
    "--unit": "单位", "--plan": "计划", "--db": DB_METAVAR, "--within": "期限", "--year": "年度",
    "--ics-kind": "类型", "--alarm": "提前量",
}


def _option_usage(param: TyperOption) -> str:
    names = ", ".join(sorted(param.opts, key=len) + list(param.secondary_opts))
    if param.is_flag or param.count:
        return names
    long_name = max(param.opts, key=len)
    return f"{names} {param.metavar or _PLACEHOLDERS.get(long_name, '值')}"


def _option_help(param: TyperOption) -> str:
    text = _FRAMEWORK_OPTION_HELP.get(param.name or "") or getattr(param, "help", None) or ""
    if param.envvar and getattr(param, "show_envvar", False):
        text = text.rstrip("。") + f"（也可用环境变量 {param.envvar}）。"
    return text


def _rows(rows: list[tuple[str, str]], width: int) -> list[str]:
    """Two columns: the name, then its help wrapped beside it (or below a long name)."""
    column = min(max((_display_width(name) for name, _ in rows), default=0), 24) + 4
    lines = []
    for name, text in rows:
        wrapped = _wrap(text, width - column) or [""]
        head = f"  {name}"
        if _display_width(head) + 2 > column:
            lines.append(head)
        else:
            wrapped[0] = head + " " * (column - _display_width(head)) + wrapped[0]
            lines.append(wrapped.pop(0))
        lines += [" " * column + line for line in wrapped]
    return lines


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# Chinese punctuation that must not start a line; it hangs at the end of the line before.
_NO_LINE_START = "，。、；：？！）》」』”’.,;:!?)]"
# An example command (gongkai note 40 "试点完成"): it breaks only at its spaces, so each
# word of it, a quoted string or a file name like 任务台账.xlsx, is typed as shown.
_COMMAND = r'(?<![\w.-])gongkai(?: +(?:"[^"]*"|[^\s"“”‘’（）《》，。、；：？！]+))+'
# A file name in running text (例如 -o 进展报告.docx) stays whole too.
_FILE_NAME = r'(?<!\S)[^\s"“”‘’（）《》，。、；：？！]+\.[A-Za-z0-9]+'
# Opening punctuation stays with what follows it.
_TOKEN = r"[“‘（《「『]*(?:" + _COMMAND + "|" + _FILE_NAME + r"|[\x21-\x7e]+|\s+|.)"


def _tokens(text: str) -> list[str]:
    tokens = []
    for token in re.findall(_TOKEN, text):
        # A command is laid out word by word: a quoted string with spaces is one word.
        tokens += re.findall(r'"[^"]*"|[^\s"]+|\s+', token) if " " in token.strip() else [token]
    return tokens


def _wrap(text: str, width: int) -> list[str]:
    """Break text into lines of at most `width` display columns: between CJK characters
    anywhere, Latin words, option names, file names and the words of example commands kept
    whole, no line starting with 。，）…"""
    lines: list[list[str]] = [[]]
    for token in _tokens(text.strip()):
        line = lines[-1]
        if token.isspace():
            if line:
                line.append(" ")
            continue
        if _display_width("".join(line) + token) <= width or not line:
            line.append(token)
            continue
        # Closing punctuation (and ".xlsx" after 任务台账) takes the character before it along.
        carried: list[str] = []
        while token[0] in _NO_LINE_START and line and len(line) > 1 and line[-1] != " ":
            carried.insert(0, line.pop())
            if carried[0][0] not in _NO_LINE_START:
                break
        lines.append([*carried, token])
    return ["".join(line).rstrip() for line in lines if "".join(line).strip()]


app = typer.Typer(
    cls=_Group,
    help="政务公开工作要点任务台账：查看“我的任务”、临近截止与逾期任务，记录进展和状态。\n\n" + EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class GlobalOptions(NamedTuple):
    db: str | None  # a file, or a postgresql:// URL, which a Path would mangle
    plan: str | None
    debug: bool
    unit: str | None = None  # the clerk's own unit, for notes and status changes


DB_HELP = "数据库文件（默认为用户数据目录下的 gongkai.db），或团队模式的 postgresql:// 地址。"

DbOption = typer.Option(
    None, "--db", envvar="GONGKAI_DB", show_envvar=True, metavar=DB_METAVAR, help=DB_HELP,
)
PlanOption = typer.Option(None, "--plan", envvar="GONGKAI_PLAN", show_envvar=True, metavar="计划", help=PLAN_RULE_HELP)


def _after_option(key: str, name: str, metavar: str, help_text: str) -> TyperOption:
    """`--db`/`--plan` given after the command name (`gongkai list --plan 2023`)."""

    def remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            ctx.meta[f"gongkai.{key}"] = value
        return value

    return TyperOption(param_decls=[name, f"{key}_after_command"], metavar=metavar, help=help_text,
                       expose_value=False, callback=remember)


def _options(ctx: click.Context) -> GlobalOptions:
    """--db and --plan: on the command line before or after the command name, else from
    the environment (GONGKAI_DB, GONGKAI_PLAN), else the default. The same value given in
    both places is fine; two different values are refused rather than one silently winning."""
    root = ctx.find_root()
    given = root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions(
        db=root.params.get("db"), plan=root.params.get("plan"), debug=False
    )
    db = _one_value(root, "db", given.db, ctx.meta.get("gongkai.db"))
    plan = _one_value(root, "plan", given.plan, ctx.meta.get("gongkai.plan"))
    return given._replace(db=str(db) if db is not None else None, plan=plan)


def _on_command_line(root: click.Context, name: str) -> bool:
    source = root.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _one_value(root: click.Context, name: str, before: Any, after: Any) -> Any:
    if after is None:
        return before
    if before is None or not _on_command_line(root, name):
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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gongkai {__version__}")
        raise typer.Exit()


def _shell(given: str | None) -> str:
    shell = given or _get_shell_name()
    if shell not in ("bash", "zsh", "fish", "powershell", "pwsh"):
        raise UsageError(f"无法为“{shell or '未知的 shell'}”安装补全；支持 bash、zsh、fish 和 PowerShell。")
    return shell


def _install_completion(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    try:
        shell, path = install(shell=_shell(None), prog_name="gongkai")
    except GongkaiError as err:
        _fail(err.message, err.exit_code)
    say(f"已为 {shell} 安装 Tab 补全（写入 {path}），重新打开终端后生效。")
    raise typer.Exit(0)


def _show_completion(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    try:
        shell = _shell(None)
    except GongkaiError as err:
        _fail(err.message, err.exit_code)
    typer.echo(get_completion_script(prog_name="gongkai", complete_var="_GONGKAI_COMPLETE", shell=shell))
    raise typer.Exit(0)


@app.callback()
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
    install_completion: bool = typer.Option(
        False, "--install-completion", callback=_install_completion, expose_value=False, is_eager=True,
        help="为当前的 shell 安装 Tab 补全（命令、选项和单位名称）。",
    ),
    show_completion: bool = typer.Option(
        False, "--show-completion", callback=_show_completion, expose_value=False, is_eager=True,
        help="显示当前 shell 的补全脚本，便于手动安装。",
    ),
) -> None:
    ctx.obj = GlobalOptions(db=db, plan=plan, debug=debug, unit=one_unit(unit, "gongkai --unit"))


# -- what commands share ------------------------------------------------------------


def _interactive() -> bool:
    # A job started with its standard input closed has no sys.stdin at all.
    return sys.stdin is not None and sys.stdin.isatty()


_YES = {"是", "y", "yes", "确认"}
_NO = {"否", "n", "no", ""}


def confirmed(change: str, preview: Callable[[], None], question: str) -> bool:
    """Ask before a change that --yes makes without asking; with no one to answer, refuse it."""
    if not _interactive():
        raise UsageError(f"将{change}；当前不是交互式运行，确认无误请加 --yes，本次未做任何更改。")
    preview()
    return _confirm(question)


def _confirm(question: str) -> bool:
    """Ask before a change; an empty line, end of input or Ctrl-C is a no, as nothing has changed yet."""
    try:
        while True:
            typer.echo(f"{question}[是/否] ", nl=False)
            sys.stdout.flush()
            line = sys.stdin.readline()
            if not line.endswith("\n"):
                break
            answer = line.strip().lower()
            if answer in _YES or answer in _NO:
                return answer in _YES
            typer.echo("请回答“是”或“否”（直接回车为否）。")
    except KeyboardInterrupt:
        pass
    # Ctrl-C or Ctrl-D left the cursor after the question.
    typer.echo()
    return False


def main() -> None:
    _guard_stdout()
    app(prog_name="gongkai")
