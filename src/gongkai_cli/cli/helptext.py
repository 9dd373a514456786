"""Help laid out for Chinese text, from a command's own parameters.

The framework's help is English and measures a line in characters, where a Chinese character
takes two columns; every command's `-h` (cli.py) prints this instead. It reads only what the
framework documents of a command and its parameters (click's `params`, `opts`, `help`…).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Sequence
from typing import Any

import typer

from .command_line import DB_METAVAR

# Options the framework adds to the root command, described here in Chinese.
_FRAMEWORK_OPTION_HELP = {
    "install_completion": "为当前的 shell 安装 Tab 补全（命令、选项和单位名称）。",
    "show_completion": "显示当前 shell 的补全脚本，便于手动安装。",
}


def help_text(ctx: typer.Context, command: Any, order: Sequence[str] = ()) -> str:
    """Help laid out for Chinese: every line fits the terminal (two columns per CJK
    character), option placeholders in words, nothing cut off; a group's commands in `order`."""
    width = max(50, min(shutil.get_terminal_size((80, 24)).columns, 100))
    params = command.get_params(ctx)
    arguments = [p for p in params if p.param_type_name == "argument"]
    options = [p for p in params if p.param_type_name == "option" and not p.hidden]
    path = ctx.command_path
    usage = [path, "[选项]"] + [_argument_usage(p) for p in arguments]
    if _is_group(command):
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
    if _is_group(command):
        out += ["", "命令："]
        rows = []
        names = command.list_commands(ctx)
        for name in sorted(names, key=lambda name: order.index(name) if name in order else len(order)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                rows.append((name, (sub.help or "").splitlines()[0] if sub.help else ""))
        out += _rows(rows, width)
        example = "list" if any(name == "list" for name, _ in rows) else rows[0][0]
        out += ["", f"每个命令的用法：{path} 命令 -h，例如 {path} {example} -h。"]
    return "\n".join(out) + "\n"


def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def _argument_usage(param: Any) -> str:
    name = (param.metavar or param.name or "").strip("[]")
    return name if param.required else f"[{name}]"


# Placeholders for options declared without a metavar: what the value means, in words.
_PLACEHOLDERS = {
    "--format": "格式", "--output": "文件", "--from": "文件", "--by": "姓名", "--note": "说明",
    "--status": "状态", "--since": "日期", "--before": "日期", "--after": "日期", "--count": "次数",
    "--unit": "单位", "--plan": "计划", "--db": DB_METAVAR, "--within": "期限", "--year": "年度",
    "--ics-kind": "类型", "--alarm": "提前量",
}


def _option_usage(param: Any) -> str:
    names = ", ".join(sorted(param.opts, key=len) + list(param.secondary_opts))
    if param.is_flag or param.count:
        return names
    long_name = max(param.opts, key=len)
    return f"{names} {param.metavar or _PLACEHOLDERS.get(long_name, '值')}"


def _option_help(param: Any) -> str:
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
