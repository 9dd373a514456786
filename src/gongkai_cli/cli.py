"""Command line. Parses arguments, calls the ledger, hands records to render.

No SQL here and no business rules: a command is argument handling plus one
use-case call plus one render call. Errors are turned into exit codes in one
place, `_Group.invoke`; the framework's own usage errors are put into the same
Chinese one-line shape by `_framework_message`, and help is laid out by
`_help_text`, both here.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

# Typer vendors click; its exception classes are reached here because the framework's
# English messages are rewritten into Chinese. pyproject pins Typer to the 0.28 line.
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from . import __version__
from .errors import GongkaiError, UsageError

EXIT_CODES_HELP = """退出码：
  0 成功（结果为空也算成功）
  1 内部错误
  2 用法或输入错误（日期、状态、单位、文件格式）
  3 找不到（计划中没有该任务）
  4 数据库问题（被占用超时、损坏、只读、版本过新、不是 gongkai 台账）
  5 remind --fail-on-overdue 发现了逾期任务（供监控用，不是出错）
  6 无权操作（团队模式，预留）
  7 更改已保存，但确认信息无法输出（标准输出已满、已关闭或管道已断开）：不要重试
除 7 外，出错时台账未做任何更改。"""

# `remind --fail-on-overdue`: a signal for monitors, distinct from 1 (crashed) and 2 (misused).
OVERDUE_EXIT_CODE = 5

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

    def write(self, data) -> int:
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
        line_buffering=current.line_buffering if current is not None else False,
    )


class _Group(TyperGroup):
    """The one place where errors become a Chinese sentence on stderr and an exit code.

    It also builds each command only when it is asked for (see `_Commands`), and gives
    every command the `--db` and `--plan` options, so they work after the command name too.
    """

    def __init__(self, **settings):
        super().__init__(**settings)
        # The shell's Tab requests (_GONGKAI_COMPLETE=complete_bash …) speak Typer's protocol,
        # which Typer registers only for apps that add its own English completion options.
        from typer._completion_classes import completion_init

        completion_init()

    def invoke(self, ctx: typer.Context):
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
            if _is_undecodable_argument(err):
                _fail(_undecodable_message(err), 2)
            if _is_negative_number(err):
                _fail(_negative_number_message(err), 2)
            if _from_framework(err) or _debug(ctx):
                raise
            _fail(f"内部错误：{type(err).__name__}: {err}（加 --debug 查看详细信息）", 1)

    def make_context(self, info_name, args, parent=None, **extra):
        return _translated(super().make_context, info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(app.lazy_commands)

    def get_command(self, ctx: typer.Context, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in app.lazy_commands:
            self.commands[cmd_name] = _build_command(cmd_name, app.lazy_commands[cmd_name])
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: typer.Context, args: list[str]):
        name = args[0] if args else ""
        if ctx.resilient_parsing or name.startswith("-") or self.get_command(ctx, name) is not None:
            return super().resolve_command(ctx, args)
        import difflib

        close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.5)
        hint = f"，是不是想用 {'、'.join(close)}" if close else ""
        raise UsageError(f"没有“{name}”这个命令{hint}？可用的命令见 gongkai -h。")

    def format_help(self, ctx: typer.Context, formatter) -> None:
        formatter.write(_help_text(ctx, self))


class _Command(TyperCommand):
    """Every command: framework errors in Chinese, help laid out for Chinese text."""

    def make_context(self, info_name, args, parent=None, **extra):
        return _translated(super().make_context, info_name, args, parent=parent, **extra)

    def format_help(self, ctx: typer.Context, formatter) -> None:
        formatter.write(_help_text(ctx, self))


class _Commands(typer.Typer):
    """A Typer that keeps its commands aside until the command line names one.

    Typer builds the parameters of every registered command on each run, while a run
    needs only the command it invokes; `_Group.get_command` builds that one, and help
    and completion build each as they list it.
    """

    def __init__(self, **settings):
        super().__init__(**settings)
        self.lazy_commands: dict = {}

    def command(self, name: Optional[str] = None, **settings):
        register = super().command(name, cls=settings.pop("cls", _Command), **settings)

        def decorator(function):
            register(function)
            info = self.registered_commands.pop()
            self.lazy_commands[info.name or typer.main.get_command_name(function.__name__)] = info
            return function

        return decorator


def _build_command(name: str, info):
    command = typer.main.get_command_from_info(
        info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
    )
    command.params.append(_after_option("db", "--db", "文件", DB_HELP))
    if name in PLAN_COMMANDS:
        command.params.append(_after_option("plan", "--plan", "计划", PLAN_RULE_HELP))
    return command


def _output_failed(ctx: typer.Context, err: OSError) -> None:
    """Standard output failed: say what happened to the data, which is what a retry depends on."""
    raw = getattr(getattr(sys.stdout, "buffer", None), "raw", None)
    if isinstance(raw, _Stdout):
        raw.discarding = True
    else:
        # Not our wrapper (run in-process): later flushes must not fail either.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    from .text import os_reason

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


def _saved_changes(commits) -> str:
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


def _is_undecodable_argument(err: Exception) -> bool:
    # Python hands over command-line bytes that are not UTF-8 as lone surrogates;
    # they fail the moment they are stored or printed, before anything is committed.
    # Other lone surrogates (a JSON "\ud800") are not bytes from the command line.
    return (isinstance(err, UnicodeEncodeError) and err.reason == "surrogates not allowed"
            and all(0xDC80 <= ord(char) <= 0xDCFF for char in err.object[err.start:err.end]))


def _undecodable_message(err: UnicodeEncodeError) -> str:
    raw = err.object[err.start:err.end].encode("utf-8", "surrogateescape")
    shown = raw.decode("utf-8", "backslashreplace")
    return f"输入中含有不是 UTF-8 编码的字节“{shown}”，请检查终端或脚本的编码设置（应为 UTF-8）。"


def _is_negative_number(err: Exception) -> bool:
    # The parser takes `show -1` for an unknown option; the user typed a number.
    name = getattr(err, "option_name", None)
    return type(err).__name__ == "NoSuchOption" and bool(name) and name[1:].isdigit()


def _negative_number_message(err: Exception) -> str:
    command = getattr(getattr(err, "ctx", None), "command", None)
    if any(param.name == "task_id" for param in getattr(command, "params", ())):
        return f"无效的任务序号“{err.option_name}”，序号应为正整数（最多 9 位），例如 40。"
    return f"无效的参数“{err.option_name}”：这里不接受负数。"


def _debug(ctx: typer.Context) -> bool:
    options = ctx.find_object(GlobalOptions)
    return bool(options and options.debug) or bool(os.environ.get("GONGKAI_DEBUG"))


def _fail(message: str, code: int) -> None:
    # Messages quote what the user typed or what the ledger holds (--unit, --plan, ids,
    # cells); here, once, it is made inert and kept to one line.
    _say(f"错误：{message}", err=True)
    raise typer.Exit(code)


def _say(message: str, *, err: bool = False) -> None:
    """A plain line for the user; every message that can quote user text goes out through here."""
    from .text import inert_line

    typer.echo(inert_line(message), err=err)


# -- the framework's usage errors, in Chinese -----------------------------------------


def _translated(make_context, info_name, args, **extra):
    """Parse the command line; a usage error the framework raises becomes `错误：…`, exit 2."""
    try:
        return make_context(info_name, args, **extra)
    except NoArgsIsHelpError as err:
        # `gongkai` alone prints the help, as `gongkai -h` does. Left to the framework, its
        # rich error printer prints nothing for this error and the exit code is 2.
        typer.echo(err.ctx.get_help(), color=err.ctx.color)
        raise typer.Exit(0) from None
    except ClickException as err:
        parent = extra.get("parent")
        path = " ".join(filter(None, (parent.command_path if parent else "", info_name or "gongkai")))
        _fail(f"{_framework_message(err).rstrip('。')}（用法见 {path} -h）。", err.exit_code)


def _framework_message(err: ClickException) -> str:
    import re

    from typer._click import exceptions as click_errors

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


def _param_label(param) -> str:
    if param is None:
        return "参数"
    if param.param_type_name == "argument":
        return f"参数“{param.metavar or param.name}”"
    return f"选项 {param.opts[0]}"


# -- help --------------------------------------------------------------------------------

_FRAMEWORK_OPTION_HELP = {"help": "显示本帮助并退出。"}


def _help_text(ctx: typer.Context, command) -> str:
    """Help laid out for Chinese: every line fits the terminal (two columns per CJK
    character), option placeholders in words, nothing cut off."""
    import shutil

    width = max(50, min(shutil.get_terminal_size((80, 24)).columns, 100))
    params = command.get_params(ctx)
    arguments = [p for p in params if p.param_type_name == "argument"]
    options = [p for p in params if p.param_type_name == "option" and not p.hidden]
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


def _argument_usage(param) -> str:
    name = param.metavar or param.name
    name = name.strip("[]")
    return name if param.required else f"[{name}]"


# Placeholders for options declared without a metavar: what the value means, in words.
_PLACEHOLDERS = {
    "--format": "格式", "--output": "文件", "--from": "文件", "--by": "姓名", "--note": "说明",
    "--status": "状态", "--since": "日期", "--before": "日期", "--after": "日期", "--count": "次数",
    "--unit": "单位", "--plan": "计划", "--db": "文件", "--within": "期限", "--year": "年度",
    "--ics-kind": "类型", "--alarm": "提前量",
}


def _option_usage(param) -> str:
    names = ", ".join(sorted(param.opts, key=len) + list(param.secondary_opts))
    if param.is_flag or param.count:
        return names
    long_name = max(param.opts, key=len)
    return f"{names} {param.metavar or _PLACEHOLDERS.get(long_name, '值')}"


def _option_help(param) -> str:
    text = _FRAMEWORK_OPTION_HELP.get(param.name) or getattr(param, "help", None) or ""
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
    import unicodedata

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
    import re

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
        carried = []
        while token[0] in _NO_LINE_START and line and len(line) > 1 and line[-1] != " ":
            carried.insert(0, line.pop())
            if carried[0][0] not in _NO_LINE_START:
                break
        lines.append([*carried, token])
    return ["".join(line).rstrip() for line in lines if "".join(line).strip()]


app = _Commands(
    cls=_Group,
    help="政务公开工作要点任务台账：查看“我的任务”、临近截止与逾期任务，记录进展和状态。\n\n" + EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class GlobalOptions(NamedTuple):
    db: Optional[Path]
    plan: Optional[str]
    debug: bool
    unit: Optional[str] = None  # the clerk's own unit, for notes and status changes


DB_HELP = "数据库文件（默认为用户数据目录下的 gongkai.db）。"

DbOption = typer.Option(
    None, "--db", envvar="GONGKAI_DB", show_envvar=True, metavar="文件", help=DB_HELP, dir_okay=True,
)
PlanOption = typer.Option(None, "--plan", envvar="GONGKAI_PLAN", show_envvar=True, metavar="计划", help=PLAN_RULE_HELP)
FormatOption = typer.Option(
    "table", "--format", "-f", metavar="格式", help="输出格式：table（默认）、json、csv、tsv、markdown。"
)
# Outputs never overwrite the database; a read-only file is replaced only when asked.
ForceReadOnlyOption = typer.Option(False, "--force", help="输出文件是只读文件时也替换它。")

# Commands that work on one plan, so `--plan` after their name means something. `import`
# has its own --plan (the name of the plan it creates); `log` without --plan shows all plans.
PLAN_COMMANDS = frozenset(
    {"list", "due", "remind", "summary", "report", "show", "units", "note", "status", "export", "log", "undo",
     "assign", "unassign"}
)


def _after_option(key: str, name: str, metavar: str, help_text: str):
    """`--db`/`--plan` given after the command name (`gongkai list --plan 2023`)."""
    from typer.core import TyperOption

    def remember(ctx: typer.Context, param, value):
        if value is not None:
            ctx.meta[f"gongkai.{key}"] = value
        return value

    return TyperOption(param_decls=[name, f"{key}_after_command"], metavar=metavar, help=help_text,
                       expose_value=False, callback=remember)


def _options(ctx: typer.Context) -> GlobalOptions:
    """--db and --plan: on the command line before or after the command name, else from
    the environment (GONGKAI_DB, GONGKAI_PLAN), else the default. The same value given in
    both places is fine; two different values are refused rather than one silently winning."""
    root = ctx.find_root()
    given = root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions(
        db=root.params.get("db"), plan=root.params.get("plan"), debug=False
    )
    db = _one_value(root, "db", given.db, ctx.meta.get("gongkai.db"))
    plan = _one_value(root, "plan", given.plan, ctx.meta.get("gongkai.plan"))
    return given._replace(db=Path(db) if db is not None else None, plan=plan)


def _one_value(root: typer.Context, name: str, before, after):
    if after is None:
        return before
    if before is None or root.get_parameter_source(name).name != "COMMANDLINE":
        return after  # the command line wins over the environment
    if str(before) != str(after):
        raise UsageError(
            f"--{name} 在命令名前后给了两个不同的值（“{before}”和“{after}”），请只写一个。"
        )
    return after


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gongkai {__version__}")
        raise typer.Exit()


def _shell(given: Optional[str]) -> str:
    from typer._completion_shared import _get_shell_name

    shell = given or _get_shell_name()
    if shell not in ("bash", "zsh", "fish", "powershell", "pwsh"):
        raise UsageError(f"无法为“{shell or '未知的 shell'}”安装补全；支持 bash、zsh、fish 和 PowerShell。")
    return shell


def _install_completion(ctx: typer.Context, param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from typer._completion_shared import install

    try:
        shell, path = install(shell=_shell(None), prog_name="gongkai")
    except GongkaiError as err:
        _fail(err.message, err.exit_code)
    _say(f"已为 {shell} 安装 Tab 补全（写入 {path}），重新打开终端后生效。")
    raise typer.Exit(0)


def _show_completion(ctx: typer.Context, param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from typer._completion_shared import get_completion_script

    try:
        shell = _shell(None)
    except GongkaiError as err:
        _fail(err.message, err.exit_code)
    typer.echo(get_completion_script(prog_name="gongkai", complete_var="_GONGKAI_COMPLETE", shell=shell))
    raise typer.Exit(0)


@app.callback()
def _main(
    ctx: typer.Context,
    db: Optional[Path] = DbOption,
    plan: Optional[str] = PlanOption,
    unit: Optional[str] = typer.Option(
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
    ctx.obj = GlobalOptions(db=db, plan=plan, debug=debug, unit=unit)


def _settings(ctx: typer.Context):
    """The command's settings, from its options and the environment: built here once."""
    from .settings import from_environment

    options = _options(ctx)
    return from_environment(options.db, options.plan, options.unit)


def _ledger(ctx: typer.Context, *, bootstrap: bool = True, **how):
    from .usecases.session import Session

    ledger = Session.open_for(_settings(ctx), bootstrap=bootstrap, **how)
    # Commits are recorded from here on, so an output failure after one is reported as such.
    ctx.find_root().meta[_SAVED] = ledger.store.commits
    if ledger.created:
        ctx.find_root().meta[_CREATED] = ledger.database
    return ledger


def _complete_unit(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion for --unit: unit names and aliases known to this ledger."""
    from .usecases import reading

    try:
        with _ledger(ctx, must_exist=True) as ledger:
            names = reading.unit_spellings(ledger)
    except GongkaiError:
        return []
    return [name for name in names if name.startswith(incomplete)]


UNIT_HELP = "责任单位，可重复，例如 --unit 区财政局；也包括通过“各街镇”“区政府各部门”等集合分配的任务。"


def _unit_option():
    return typer.Option(None, "--unit", "-u", metavar="单位", help=UNIT_HELP, autocompletion=_complete_unit)


DirectOption = typer.Option(False, "--direct", help="只看直接写明该单位的任务，不含通过集合（如各街镇）分配的任务。")
LeadOption = typer.Option(False, "--lead", help="只看该单位牵头（排在第一位）的任务。")
STATUS_HELP = (
    "未开始、进行中、已完成、受阻、已取消，也可写 todo、doing、done、blocked、cancelled "
    "或 完成、卡住 等常用说法（见 docs/dates.md）。"
)
DATE_HELP = "日期，例如 2023-04-20、4月20日、4/20、4月底、本周、下月、今天、7d（见 docs/dates.md）。"


def _statuses(values: Optional[List[str]]):
    from .inputs import parse_status

    return tuple(parse_status(value) for value in values or ())


def _render_format(fmt: str, *, confirmation: bool = False) -> str:
    from .writers import CONFIRMATION_FORMATS, FORMATS, check_format

    return check_format(fmt, CONFIRMATION_FORMATS if confirmation else FORMATS)


# -- set-up -------------------------------------------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    empty: bool = typer.Option(False, "--empty", help="创建空台账，不载入内置的 2023 年计划。"),
) -> None:
    """创建数据库（已存在时不做任何改动；所在目录不存在时一并创建）。"""
    from .usecases.plans import plans as plans_of

    with _ledger(ctx, bootstrap=not empty, create_parents=True) as ledger:
        plans = plans_of(ledger)
        where = ledger.database
    summary = "、".join(f"{p.name}（{p.tasks} 项）" for p in plans) or "无计划"
    _say(f"台账就绪：{where}；计划：{summary}。")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ..., metavar="文件",
        help="任务分解表：Word 文档（.docx）、PDF、Excel 文件（.xlsx），或 CSV 文件（UTF-8、带 BOM 的 UTF-8 或 "
        "GBK/GB18030，以逗号、制表符或分号分隔）。按内容识别格式，不看扩展名。",
    ),
    plan: Optional[str] = typer.Option(
        None, "--plan", metavar="计划", help="新计划的名称（默认取文件名中的年份，例如 2024）；也可写在 import 之前。"
    ),
    year: Optional[int] = typer.Option(
        None, "--year", metavar="年度", help="计划年度，用于把“全年”“4月20日前”换算成日期。"
    ),
    strict: bool = typer.Option(False, "--strict", help="有责任单位不在单位数据文件中时拒绝导入（默认照原样导入并警告）。"),
) -> None:
    """导入（或重新导入）一份任务分解表。重新导入只更新任务文字，不丢失进展和状态。"""
    from .inputs import parse_year
    from .usecases.plans import import_into

    year = parse_year(year) if year is not None else None

    options = _options(ctx)
    root = ctx.find_root()
    # GONGKAI_PLAN selects the plan other commands work on; the plan an import creates is
    # named on the command line or by the file's year, never by the environment.
    before = options.plan if root.get_parameter_source("plan").name == "COMMANDLINE" else None
    name = _one_value(root, "plan", before, plan)
    result, committed = import_into(_settings(ctx), file, plan=name, year=year, strict=strict)
    # The import is in the ledger now: a confirmation that cannot be printed is reported as saved.
    ctx.find_root().meta[_SAVED] = committed
    for warning in result.warnings:
        _say(f"警告：{warning}", err=True)
    counts = result.counts
    _say(
        f"已导入计划“{result.plan}”（{result.year} 年，来自 {result.source}）：共 {result.tasks} 项，"
        f"新增 {counts.added}，更新 {counts.updated}，未变 {counts.unchanged}。"
    )
    why = {"current_year": "今年的计划", "newest": "没有今年的计划，它是最新的"}[result.default.default]
    if result.default.name == result.plan:
        _say(f"计划“{result.plan}”现在是默认计划（{why}）。")
    else:
        _say(f"默认计划仍是“{result.default.name}”（{why}）；操作这份计划请加 --plan {result.plan}。")
    if counts.kept:
        kept = "、".join(str(task_id) for task_id in counts.kept)
        _say(f"注意：台账中序号 {kept} 的任务不在此文件中，已原样保留。", err=True)


@app.command()
def plans(ctx: typer.Context, fmt: str = FormatOption) -> None:
    """列出已导入的计划及其任务数，标出默认计划及原因（今年的计划，没有时为最新的计划）。"""
    from . import render
    from .usecases import plans

    fmt = _render_format(fmt)
    with _ledger(ctx) as ledger:
        items = plans.plans(ledger)
    render.plans(items, fmt)


# -- reading --------------------------------------------------------------------------


@app.command("list")
def list_(
    ctx: typer.Context,
    unit: Optional[List[str]] = _unit_option(),
    direct: bool = DirectOption,
    lead: bool = LeadOption,
    status: Optional[List[str]] = typer.Option(None, "--status", "-s", metavar="状态", help="状态，可重复：" + STATUS_HELP),
    group: Optional[str] = typer.Option(None, "--group", "-g", metavar="文字", help="任务名称中包含的文字。"),
    search: Optional[str] = typer.Option(None, "--search", "-q", metavar="文字", help="任务内容中包含的文字。"),
    overdue: bool = typer.Option(False, "--overdue", help="只看已逾期（截止日期已过且未完成）的任务。"),
    fmt: str = FormatOption,
) -> None:
    """列出任务，按序号排列。例如：gongkai list --unit 区财政局"""
    from . import render
    from .usecases import reading

    fmt = _render_format(fmt)
    statuses = _statuses(status)
    with _ledger(ctx) as ledger:
        items = reading.list_tasks(
            ledger, units=tuple(unit or ()), statuses=statuses, group=group, search=search, overdue=overdue,
            direct=direct, lead=lead,
        )
    render.tasks(items, fmt)


@app.command()
def due(
    ctx: typer.Context,
    before: Optional[str] = typer.Option(
        None, "--before", metavar="日期", help="截止日期不晚于该日（含当天）。" + DATE_HELP
    ),
    after: Optional[str] = typer.Option(None, "--after", metavar="日期", help="截止日期不早于该日（含当天）。"),
    within: Optional[str] = typer.Option(
        None, "--within", metavar="期限", help="从今天起的时间范围内到期，例如 7d、2w、1m。"
    ),
    overdue: bool = typer.Option(False, "--overdue", help="只看已逾期的任务。"),
    unit: Optional[List[str]] = _unit_option(),
    direct: bool = DirectOption,
    lead: bool = LeadOption,
    all_: bool = typer.Option(False, "--all", help="也列出已完成和已取消的任务。"),
    fmt: str = FormatOption,
) -> None:
    """按截止日期列出任务（最早的在前）。默认不含已完成、已取消的任务。

    例如：gongkai due --before 2023-04-20
    """
    from . import render
    from .usecases import reading

    fmt = _render_format(fmt)
    with _ledger(ctx) as ledger:
        items = reading.due(
            ledger, before=before, after=after, within=within, overdue=overdue,
            units=tuple(unit or ()), include_closed=all_, direct=direct, lead=lead,
        )
    render.tasks(items, fmt)


@app.command()
def remind(
    ctx: typer.Context,
    within: str = typer.Option("7d", "--within", metavar="期限", help="提醒多久之内到期的任务，例如 7d（默认）、2w、1m。"),
    unit: Optional[List[str]] = _unit_option(),
    by_unit: bool = typer.Option(False, "--by-unit", help="按责任单位分段（集合展开到各成员单位），便于分别发送。"),
    fail_on_overdue: bool = typer.Option(
        False, "--fail-on-overdue", help="有逾期任务时以退出码 5 结束（供监控区分“有逾期”和“出错”）。"
    ),
    fmt: str = FormatOption,
) -> None:
    """生成提醒：先列逾期任务，再列即将到期的任务。没有需要提醒的内容时什么也不输出（cron 不会发空邮件）。

    例如：gongkai remind --within 7d --unit 区财政局
    """
    from . import render
    from .usecases import reading

    fmt = _render_format(fmt)
    with _ledger(ctx) as ledger:
        report = reading.remind(ledger, within=within, units=tuple(unit or ()), by_unit=by_unit)
    render.reminder(report, fmt)
    if fail_on_overdue and any(section.overdue for section in report.sections):
        raise typer.Exit(OVERDUE_EXIT_CODE)


@app.command()
def summary(
    ctx: typer.Context,
    by: Optional[str] = typer.Option(
        None, "--by", metavar="分组", help="分组统计：unit（按单位）、group（按任务名称）、month（按截止月份）。"
    ),
    fmt: str = FormatOption,
) -> None:
    """计划进度总览：各状态任务数、完成率、逾期数和 30 天内到期数。"""
    from . import render
    from .usecases import reading

    fmt = _render_format(fmt)
    with _ledger(ctx) as ledger:
        result = reading.summary(ledger, by=by)
    render.summary(result, fmt)


@app.command()
def report(
    ctx: typer.Context,
    unit: Optional[str] = typer.Option(None, "--unit", "-u", metavar="单位", help="单位名称（默认为全部单位）；含通过集合分配的任务。",
                                       autocompletion=_complete_unit),
    since: Optional[str] = typer.Option(
        None, "--since", metavar="日期", help="列出自该日以来的进展记录，例如 2023-04-01、4月初、-1m（默认全部）。"
    ),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="文件", help="写入的文件（默认输出到屏幕）；写文件时先写临时文件再替换。"
    ),
    as_html: bool = typer.Option(
        False, "--html", help="输出独立的 HTML 页面（无外部资源，可直接粘贴到 Word/WPS）；-o 以 .html 或 .htm 结尾时自动选用。"
    ),
    as_docx: bool = typer.Option(False, "--docx", help="输出公文格式（GB/T 9704）的 Word 文档，须用 -o 指定文件；-o 以 .docx 结尾时自动选用。"),
    quiet: bool = typer.Option(False, "--quiet", help="写入文件成功时不输出确认信息。"),
    force: bool = ForceReadOnlyOption,
) -> None:
    """生成进展报告（Markdown、HTML 或 Word）：总体情况、任务清单与最新进展、逾期任务、期间进展记录。

    例如：gongkai report --unit 区财政局 --since 2023-04-01 -o 区财政局进展.md
    """
    import sys

    from . import reporting
    from .files import STDOUT, check_output, write_output
    from .usecases import reading

    if as_docx and as_html:
        raise UsageError("--docx 与 --html 只能选一个。")
    if not (as_docx or as_html):
        # Like export: the file name says what it holds; an explicit flag beats the suffix.
        suffix = Path(output).suffix.lower() if output != STDOUT else ""
        as_docx, as_html = suffix == ".docx", suffix in (".html", ".htm")
    if as_docx and output == STDOUT and sys.stdout.isatty():
        raise UsageError("Word 文档是二进制文件，不能直接输出到终端，请用 -o 指定文件名（例如 -o 进展报告.docx）。")
    check_output(output, what="报告", force=force)
    with _ledger(ctx) as ledger:
        result = reading.report(ledger, unit=unit, since=since)
    if as_docx:
        produce = lambda out: reporting.docx(result, out)  # noqa: E731
    else:
        text = reporting.html_page(result) if as_html else reporting.markdown(result)
        produce = lambda out: out.write(text.encode("utf-8"))  # noqa: E731
    write_output(output, produce, ledger=ledger.database, what="报告", force=force)
    if not quiet and output != STDOUT:
        kind = "Word" if as_docx else "HTML" if as_html else "Markdown"
        _say(f"已写入报告“{output}”（{kind}）。")


@app.command()
def show(
    ctx: typer.Context,
    task_id: str = typer.Argument(..., metavar="序号", help="任务序号，例如 40。"),
    fmt: str = FormatOption,
) -> None:
    """查看一项任务的全部信息和进展记录。"""
    from . import render
    from .inputs import parse_task_id
    from .usecases import reading

    fmt = _render_format(fmt)
    number = parse_task_id(task_id)
    with _ledger(ctx) as ledger:
        task = reading.show(ledger, number)
    render.task_detail(task, fmt)


@app.command()
def units(
    ctx: typer.Context,
    tree: bool = typer.Option(False, "--tree", help="按集合（各街镇、区政府各部门等）列出成员。"),
    fmt: str = FormatOption,
) -> None:
    """列出所有责任单位：类型、别名，以及在当前计划中分配给它（含经由集合分配）、由它牵头、它已完成、它逾期的任务数。"""
    from . import render
    from .usecases import reading

    fmt = _render_format(fmt)
    with _ledger(ctx) as ledger:
        items = reading.units(ledger)
        source = ledger.directory.source
    if tree:
        render.unit_tree(items, fmt)
    else:
        render.units(items, fmt, source=source)


# -- writing ----------------------------------------------------------------------------


def _read_text(text: str) -> str:
    from .inputs import MAX_NOTE_BYTES

    if text != "-":
        return text
    # Bounded, so `note 40 - < /dev/zero` fails instead of eating memory; the room
    # above the note limit is for whitespace around the text, which is trimmed.
    limit = 4 * MAX_NOTE_BYTES
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"标准输入中的进展说明超过 {limit} 字节，上限为 {MAX_NOTE_BYTES} 字节（64 KiB）。")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError("标准输入中的进展说明不是有效的 UTF-8 文本。") from None


@app.command()
def note(
    ctx: typer.Context,
    task_id: Optional[str] = typer.Argument(None, metavar="序号", help="任务序号，例如 40。"),
    text: Optional[str] = typer.Argument(None, metavar="说明", help="进展说明；为 - 时从标准输入读取。"),
    from_file: Optional[str] = typer.Option(
        None, "--from", metavar="文件",
        help="从文件批量记录（CSV 表头 id,text[,status,count,by,key]，或每行一个 JSON 对象）；- 为标准输入。整批一次写入，出错则全部不写。",
    ),
    by: Optional[str] = typer.Option(None, "--by", help="记录人（默认取环境变量 GONGKAI_USER，否则为登录名）。"),
    status: Optional[str] = typer.Option(
        None, "--status", "-s", help="同时修改状态，例如 进行中、完成；与当前状态相同时只记录进展，不算状态修改。"
    ),
    count: Optional[str] = typer.Option(
        None, "--count", "-c", help="本条进展计入目标次数（如任务要求“不少于4次”），例如 --count 1。"
    ),
    key: Optional[str] = typer.Option(
        None, "--key", metavar="键",
        help="幂等键（例如脚本生成一次、重试时沿用的 UUID）：同一个键、同样内容再次执行时不重复记录，"
             "输出原记录；同一个键内容不同则报错（退出码 2）。",
    ),
    unit: Optional[str] = typer.Option(
        None, "--unit", "-u", metavar="单位", autocompletion=_complete_unit,
        help="记在这个单位名下（该单位的进展）；默认取 gongkai --unit 或环境变量 GONGKAI_UNIT，都没有时是对任务整体的说明。",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="成功时不输出确认信息。"),
    fmt: str = typer.Option("table", "--format", "-f", help="确认信息格式：table 或 json（json 输出新记录）。"),
) -> None:
    """为任务记录一条进展（带时间和记录人）。例如：gongkai note 40 "试点完成"；批量：gongkai note --from 进展.csv"""
    from .inputs import parse_count, parse_key, parse_status, parse_task_id
    from .usecases import progress

    fmt = _render_format(fmt, confirmation=True)
    if from_file is not None:
        if (task_id is not None or text is not None or status is not None or count is not None or key is not None
                or unit is not None):
            raise UsageError("--from 批量记录时不能再给出 ID、TEXT、--status、--count 或 --key，这些写在文件的各行里。")
        _note_batch(ctx, from_file, by=by, quiet=quiet, fmt=fmt)
        return
    if task_id is None or text is None:
        raise UsageError("请给出任务序号和进展说明，例如 gongkai note 40 \"试点完成\"；批量记录用 --from FILE。")
    number = parse_task_id(task_id)
    new_status = parse_status(status) if status is not None else None
    amount, idempotency_key = parse_count(count), parse_key(key)
    body = _read_text(text)
    with _ledger(ctx) as ledger:
        written = progress.add_note(
            ledger, number, body, by=by, status=new_status, count=amount, key=idempotency_key, unit=unit
        )
        plan = None if quiet else ledger.plan().name
    from . import render

    render.repeated_notes([written])
    if not quiet:
        render.note_saved(written, fmt, plan=plan)


def _note_batch(ctx: typer.Context, source: str, *, by: Optional[str], quiet: bool, fmt: str) -> None:
    from .usecases import progress
    from .batch import MAX_BATCH_BYTES

    if source == "-":
        data, name = sys.stdin.buffer.read(MAX_BATCH_BYTES + 1), "标准输入"
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"找不到文件“{source}”。" if not path.exists() else f"“{source}”不是文件。")
        try:
            with path.open("rb") as handle:
                data, name = handle.read(MAX_BATCH_BYTES + 1), source
        except OSError as err:
            from .text import os_reason

            raise UsageError(f"无法读取文件“{source}”：{os_reason(err)}；未写入任何记录。") from None
    with _ledger(ctx) as ledger:
        written = progress.add_notes_from(ledger, data, name, by=by)
        plan = None if quiet else ledger.plan().name
    from . import render

    if not written:
        render.empty_batch(name)
    render.repeated_notes(written)
    if not quiet:
        render.notes_saved(written, fmt, plan=plan)


@app.command("status")
def status_(
    ctx: typer.Context,
    task_id: str = typer.Argument(..., metavar="序号", help="任务序号，例如 40。"),
    new_status: str = typer.Argument(
        ..., metavar="状态", help="新状态：" + STATUS_HELP
    ),
    note_text: Optional[str] = typer.Option(None, "--note", "-m", help="附带的说明。"),
    unit: Optional[str] = typer.Option(
        None, "--unit", "-u", metavar="单位", autocompletion=_complete_unit,
        help="修改这个单位的状态；默认取 gongkai --unit 或环境变量 GONGKAI_UNIT。任务只有一个责任单位时可省略。",
    ),
    all_units: bool = typer.Option(False, "--all", help="把所有责任单位的状态都改为新状态（公开办办结或取消整项任务时用）。"),
    by: Optional[str] = typer.Option(None, "--by", help="记录人（默认取环境变量 GONGKAI_USER，否则为登录名）。"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="成功时不输出确认信息。"),
    fmt: str = typer.Option("table", "--format", "-f", help="确认信息格式：table 或 json。"),
) -> None:
    """修改一个责任单位的状态（任务的状态由各单位的状态得出）；每次修改都会记入进展记录。

    例如：gongkai status 62 done --unit 马陆镇；只有一个责任单位的任务：gongkai status 28 done
    """
    from .inputs import parse_status, parse_task_id
    from .usecases import progress

    fmt = _render_format(fmt, confirmation=True)
    number = parse_task_id(task_id)
    target = parse_status(new_status)
    with _ledger(ctx) as ledger:
        change = progress.set_status(ledger, number, target, note=note_text, by=by, unit=unit, all_units=all_units)
        plan = None if quiet else ledger.plan().name
    if quiet:
        return
    from . import render

    if change.note is None:
        render.status_unchanged(change.task_id, change.after, fmt, plan=plan, unit=change.unit)
    else:
        render.note_saved(change.note, fmt, plan=plan)


@app.command()
def assign(
    ctx: typer.Context,
    task_id: str = typer.Argument(..., metavar="序号", help="任务序号，例如 40。"),
    unit: List[str] = typer.Option(
        ..., "--unit", "-u", metavar="单位", autocompletion=_complete_unit,
        help="分配给这个单位，可重复；集合（如各街镇）分配给其全部成员。",
    ),
    by: Optional[str] = typer.Option(None, "--by", help="记录人（默认取环境变量 GONGKAI_USER，否则为登录名）。"),
) -> None:
    """把任务分配给更多单位（例如把“各相关部门”落实为具体单位）；记入历史，可撤销。

    例如：gongkai assign 40 --unit 区财政局
    """
    from . import render
    from .inputs import parse_task_id
    from .usecases import assignments

    number = parse_task_id(task_id)
    with _ledger(ctx) as ledger:
        event = assignments.assign(ledger, number, unit, by=by)
    render.assignment_changed(event)


@app.command()
def unassign(
    ctx: typer.Context,
    task_id: str = typer.Argument(..., metavar="序号", help="任务序号，例如 40。"),
    unit: List[str] = typer.Option(..., "--unit", "-u", metavar="单位", autocompletion=_complete_unit,
                                   help="取消分配给这个单位，可重复。"),
    by: Optional[str] = typer.Option(None, "--by", help="记录人（默认取环境变量 GONGKAI_USER，否则为登录名）。"),
) -> None:
    """取消把任务分配给某些单位（已有该单位进展记录的不能取消）；记入历史，可撤销。

    例如：gongkai unassign 40 --unit 各相关单位
    """
    from . import render
    from .inputs import parse_task_id
    from .usecases import assignments

    number = parse_task_id(task_id)
    with _ledger(ctx) as ledger:
        event = assignments.unassign(ledger, number, unit, by=by)
    render.assignment_changed(event)


# -- export ---------------------------------------------------------------------------


@app.command()
def export(
    ctx: typer.Context,
    fmt: Optional[str] = typer.Option(
        None, "--format", "-f",
        help="导出格式：xlsx、csv、json、markdown、ics、vdir（默认按 -o 文件的扩展名判断；输出到标准输出时为 csv）。",
    ),
    output: str = typer.Option("-", "--output", "-o", help="输出文件（vdir 格式为文件夹）；为 - 时写到标准输出（默认）。"),
    ics_kind: Optional[str] = typer.Option(
        None, "--ics-kind", help="ics/vdir 的条目类型：event（日程，默认，日历订阅可见）或 todo（待办，任务应用可见）。",
    ),
    alarm: Optional[str] = typer.Option(
        None, "--alarm", help="ics/vdir：到期前多久提醒，例如 3d（默认）、12h、1w；不提醒用 none。",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="成功时不输出确认信息。"),
    force: bool = ForceReadOnlyOption,
) -> None:
    """导出当前计划的全部任务（按序号）及进展记录。例如：gongkai export -o 任务台账.xlsx

    写入文件时先写临时文件再替换，不会留下写了一半的文件。
    """
    from . import export as exporter
    from .usecases import reading

    fmt = exporter.resolve_format(fmt, output)
    calendar = exporter.calendar_options(fmt, ics_kind, alarm)
    exporter.check_target(fmt, output, force=force)
    with _ledger(ctx) as ledger:
        plan = reading.export_tasks(ledger)
    if fmt == "vdir":
        result = exporter.write_vdir(plan, output, calendar, ledger=ledger.database, force=force)
        if not quiet:
            _say(
                f"已导出计划“{plan.plan.name}”到文件夹“{output}”（vdir）：写入 {result.written} 个文件，"
                f"未变 {result.unchanged} 个，删除 {result.removed} 个。"
            )
        return
    exporter.write(plan, fmt, output, calendar, ledger=ledger.database, force=force)
    if not quiet and output != exporter.STDOUT:
        _say(f"已导出计划“{plan.plan.name}”的 {len(plan.tasks)} 项任务到“{output}”（{fmt}）。")


# -- history ----------------------------------------------------------------------------


@app.command()
def log(
    ctx: typer.Context,
    task_id: Optional[str] = typer.Argument(None, metavar="序号", help="只看这项任务的历史（含改动它的导入）。"),
    since: Optional[str] = typer.Option(None, "--since", help="只看该日及以后的更改，例如 2023-04-01、4月1日，或 -7d（7 天前）。"),
    fmt: str = FormatOption,
) -> None:
    """查看更改历史：谁、何时、做了什么（原值 → 新值）。不加 --plan 时列出所有计划的更改。"""
    from . import render
    from .inputs import parse_task_id
    from .usecases import history

    fmt = _render_format(fmt)
    number = parse_task_id(task_id) if task_id is not None else None
    with _ledger(ctx) as ledger:
        items = history.history(ledger, number, since=since)
    render.events(items, fmt)


def _interactive() -> bool:
    # A job started with its standard input closed has no sys.stdin at all.
    return sys.stdin is not None and sys.stdin.isatty()


_YES = {"是", "y", "yes", "确认"}
_NO = {"否", "n", "no", ""}


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


@app.command()
def undo(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="不再询问，直接撤销（供脚本使用）。"),
    event_id: Optional[str] = typer.Option(
        None, "--event", metavar="编号",
        help="只在更改 #N 仍是最近一次可撤销的更改时撤销它；#N 已撤销时什么也不做（退出码 0），重试不会多撤销一项。",
    ),
    by: Optional[str] = typer.Option(None, "--by", help="记录人（默认取环境变量 GONGKAI_USER，否则为登录名）。"),
) -> None:
    """撤销最近一次尚未撤销的更改（进展、状态或导入），先显示将撤销的内容。撤销本身也记入历史。

    指定 --plan（或 GONGKAI_PLAN）时只撤销该计划中最近的更改。
    """
    from . import render
    from .inputs import parse_event_id
    from .usecases import history

    number = parse_event_id(event_id) if event_id is not None else None
    with _ledger(ctx) as ledger:
        event = history.change(ledger, number) if number is not None else history.last_change(ledger)
        if event.undone_by is not None:
            render.already_undone(event)
            return
        if yes:
            render.undo_preview(event)
            # Shown before the change is made: a stdout that cannot take it fails here, with nothing undone.
            sys.stdout.flush()
        else:
            if not _interactive():
                raise UsageError(
                    f"将撤销 {render.headline(event)}；当前不是交互式运行，确认无误请加 --yes，本次未做任何更改。"
                )
            render.undo_preview(event)
            if not _confirm("确认撤销这项更改吗？"):
                _say("未撤销任何更改。")
                return
        done = history.undo(ledger, event, by=by)
    render.undone(done)


# -- maintenance ------------------------------------------------------------------------


@app.command()
def backup(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="文件", help="备份文件路径，例如 gongkai-2023-04-01.db。"),
    force: bool = typer.Option(False, "--force", help="备份文件已存在时覆盖它。"),
) -> None:
    """在不停止其他写入的情况下，把数据库完整复制到一个文件（SQLite 在线备份）。恢复请用 gongkai restore 备份文件。"""
    from . import render
    from .usecases import maintenance

    with _ledger(ctx, must_exist=True) as ledger:
        written = maintenance.backup(ledger, file, overwrite=force)
    ctx.find_root().meta[_DONE] = f"已备份到“{written}”"
    render.backup_done(written)


@app.command()
def restore(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="备份文件", help="用 gongkai backup 做的备份文件。"),
    yes: bool = typer.Option(False, "--yes", "-y", help="不再询问，直接恢复（供脚本使用）。"),
) -> None:
    """用备份替换当前数据库：先检查备份完好，再把当前数据库另存一份（文件名含 before-restore 和时间），然后在独占锁下一次性写入。

    不要直接把备份文件复制回原处：数据库旁残留的 -wal 文件会把它写坏。
    """
    from . import render
    from .settings import database_path
    from .usecases.maintenance import inspect_backup, restore as restore_backup

    database = database_path(_options(ctx).db)
    summary = inspect_backup(file, database)
    if not yes:
        if not _interactive():
            raise UsageError(
                f"将用{render.backup_headline(summary)}替换数据库“{database}”；当前不是交互式运行，"
                "确认无误请加 --yes，本次未做任何更改。"
            )
        render.restore_preview(summary, database)
        if not _confirm("确认用这份备份替换当前数据库吗？"):
            typer.echo("未做任何更改。")
            return
    result = restore_backup(file, database)
    ctx.find_root().meta[_DONE] = f"已用备份恢复数据库“{database}”（原数据库另存为“{result.aside}”）"
    render.restored(result)


@app.command()
def check(ctx: typer.Context) -> None:
    """检查数据库是否完好（完整性检查与外键检查）；有问题时退出码为 4。"""
    from . import render
    from .usecases import maintenance

    with _ledger(ctx, must_exist=True) as ledger:
        path = maintenance.check(ledger)
    render.check_passed(path)


def main() -> None:
    _guard_stdout()
    app(prog_name="gongkai")
