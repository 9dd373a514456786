"""The terminal: standard output guarded (a failed write is exit 7, not a traceback), one line
for the user, and the question asked before a change that --yes makes without asking."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

import typer

from ..domain.errors import ExitCode, UsageError
from .streams import OutputError, discard_stdout, guard_stderr, guard_stdout, say

__all__ = ["OutputError", "confirmed", "discard_stdout", "fail", "guard_stderr", "guard_stdout", "say"]


def fail(message: str, code: ExitCode) -> NoReturn:
    # Messages quote what the user typed or what the ledger holds (--unit, --plan, ids,
    # cells); here, once, it is made inert and kept to one line.
    say(f"错误：{message}", err=True)
    raise typer.Exit(code)


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
