"""The terminal: standard output guarded (a failed write is exit 7, not a traceback), one line
for the user, and the question asked before a change that --yes makes without asking."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer

from ..domain.errors import ExitCode, UsageError
from ..domain.text import inert_line


class OutputError(OSError):
    """Standard output could not be written: full, closed or a broken pipe."""


class _Stdout(io.RawIOBase):
    """File descriptor 1, with every write failure raised as `OutputError`.

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
            raise OutputError(errno.EBADF, "标准输出已关闭")
        return self._fd

    def write(self, data: Any) -> int:
        if self.discarding:
            return len(data)
        if self._fd is None:
            raise OutputError(errno.EBADF, "标准输出已关闭")
        try:
            return os.write(self._fd, data)
        except OSError as err:
            raise OutputError(err.errno, err.strerror) from None


def guard_stdout() -> None:
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


class _Stderr(io.RawIOBase):
    """File descriptor 2, whose write failures are dropped: stderr only explains the exit code,
    and a full or closed stderr must not turn the code the command decided into 1."""

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def fileno(self) -> int:
        return self._fd

    def write(self, data: Any) -> int:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            pass
        return len(data)


def guard_stderr() -> None:
    current = sys.stderr
    try:
        fd = current.fileno() if current is not None else None
    except (OSError, ValueError):
        return  # not a file descriptor (an embedding host): leave it as it is
    if fd is None:
        return
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(_Stderr(fd)),
        encoding=current.encoding if current is not None else "utf-8",
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )


def discard_stdout() -> None:
    """After a failed write, drop the rest of the output, so that later flushes cannot fail again."""
    raw = getattr(getattr(sys.stdout, "buffer", None), "raw", None)
    if isinstance(raw, _Stdout):
        raw.discarding = True
    else:
        # Not our wrapper (run in-process): later flushes must not fail either.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def fail(message: str, code: ExitCode) -> NoReturn:
    # Messages quote what the user typed or what the ledger holds (--unit, --plan, ids,
    # cells); here, once, it is made inert and kept to one line.
    say(f"错误：{message}", err=True)
    raise typer.Exit(code)


def say(message: str, *, err: bool = False) -> None:
    """A plain line for the user; every message that can quote user text goes out through here."""
    typer.echo(inert_line(message), err=err)


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
