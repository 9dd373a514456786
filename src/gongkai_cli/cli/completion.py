"""`gongkai --install-completion` and `--show-completion`, in Chinese.

The completion script itself is the framework's: asked for through its documented protocol
(the completion variable set to `source_<shell>`), it speaks the same protocol back when the
shell asks for completions. Here it is fetched that way, then shown or installed where each
shell reads it on start.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import typer

from ..domain.errors import ExitCode, GongkaiError, UsageError

SHELLS = ("bash", "zsh", "fish")


def answer(app: typer.Typer, option: str, complete_var: str) -> int:
    """Install or show the script for the user's shell; the exit code."""
    from .console import say

    try:
        shell = _shell()
        script = _script(app, shell, complete_var)
        if option == "--show-completion":
            typer.echo(script)
            return ExitCode.SUCCESS
        path = _install(shell, script)
    except GongkaiError as err:
        say(f"错误：{err.message}", err=True)
        return err.exit_code
    except OSError as err:
        say(f"错误：无法写入补全脚本（{err.strerror or err}）；未做任何更改。", err=True)
        return ExitCode.USAGE
    say(f"已为 {shell} 安装 Tab 补全（写入 {path}），重新打开终端后生效。")
    return ExitCode.SUCCESS


def _shell() -> str:
    # The login shell is the one whose start-up files get the script; a shell started from
    # another keeps the outer SHELL, which is the user's usual one.
    shell = Path(os.environ.get("SHELL", "")).name
    if shell not in SHELLS:
        raise UsageError(
            f"无法为“{shell or '未知的 shell'}”安装补全；支持 bash、zsh 和 fish（由环境变量 SHELL 判断）。"
        )
    return shell


def _script(app: typer.Typer, shell: str, complete_var: str) -> str:
    """The framework's completion script for `shell`, asked for as the shell itself would."""
    previous = os.environ.get(complete_var)
    os.environ[complete_var] = f"source_{shell}"
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
            app(args=[], prog_name="gongkai", complete_var=complete_var)
    finally:
        if previous is None:
            del os.environ[complete_var]
        else:
            os.environ[complete_var] = previous
    script = printed.getvalue()
    if not script.strip():
        raise UsageError(f"无法生成 {shell} 的补全脚本。")
    return script


def _install(shell: str, script: str) -> Path:
    """Write the script where `shell` finds it; the file written."""
    home = Path.home()
    if shell == "fish":
        # fish loads every file of this directory by the command's name, no start-up line needed.
        return _write(home / ".config" / "fish" / "completions" / "gongkai.fish", script)
    if shell == "zsh":
        path = _write(home / ".zfunc" / "_gongkai", script)
        _add_line(home / ".zshrc", "fpath+=~/.zfunc; autoload -Uz compinit; compinit")
        return path
    path = _write(home / ".bash_completions" / "gongkai.sh", script)
    _add_line(home / ".bashrc", f"source '{path}'")
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _add_line(rc: Path, line: str) -> None:
    """Add `line` to a shell's start-up file once: a second install changes nothing there."""
    text = rc.read_text(encoding="utf-8") if rc.is_file() else ""
    if line not in text.splitlines():
        with rc.open("a", encoding="utf-8") as out:
            out.write(("" if not text or text.endswith("\n") else "\n") + line + "\n")
