"""Standard output and error, guarded, and what a run that ends badly says: without the
framework, so that cli/quick.py, which answers the most frequent commands without it, says it
in the very words the app does."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..domain.errors import ExitCode
from ..domain.records import Commit
from ..domain.text import inert_line, os_reason


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


def say(message: str, *, err: bool = False) -> None:
    """A plain line for the user; every message that can quote user text goes out through here."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:
        return
    stream.write(inert_line(message) + "\n")
    stream.flush()


def output_failed(err: OSError, commits: Sequence[Commit], done: str | None, created: object) -> tuple[str, ExitCode]:
    """Standard output failed: what to say about the data, which is what a retry depends on, and
    the exit code; an empty message for a closed pipe, whose reader (`| head`) has all it wanted."""
    discard_stdout()
    reason = os_reason(err)
    if commits:
        return (f"{saved_changes(commits)}已保存，但确认信息无法写入标准输出（{reason}）；请不要重试，可用 gongkai log 核对。",
                ExitCode.SAVED_BUT_UNCONFIRMED)
    if done:
        return f"{done}，但确认信息无法写入标准输出（{reason}）；请不要重试。", ExitCode.SAVED_BUT_UNCONFIRMED
    if err.errno == errno.EPIPE:
        return "", ExitCode.SUCCESS
    # A read that made a new ledger (first use) is still a read: a retry is safe, but the new file is real.
    unchanged = f"已新建台账“{created}”，此外未做任何更改" if created else "台账未做任何更改"
    return f"无法写入标准输出（{reason}）；{unchanged}。", ExitCode.USAGE


def saved_changes(commits: Sequence[Commit]) -> str:
    first, last = commits[0], commits[-1]
    events = sum(commit.events for commit in commits)
    span = f"#{first.first_event}" if events == 1 else f"#{first.first_event}–#{last.last_event}"
    notes = [n for commit in commits for n in (commit.first_note, commit.last_note) if n is not None]
    if not notes:
        return f"更改（历史记录 {span}）"
    low, high = min(notes), max(notes)
    what = f"进展记录 #{low}" if low == high else f"进展记录 #{low}–#{high}"
    return f"{what}（历史记录 {span}）"


def internal_error(err: Exception) -> tuple[str, ExitCode]:
    """What an unexpected error says (its traceback is for --debug), and its exit code."""
    if isinstance(err, UnicodeEncodeError) and _is_undecodable_argument(err):
        return _undecodable_message(err), ExitCode.USAGE
    return f"内部错误：{type(err).__name__}: {err}（加 --debug 查看详细信息）", ExitCode.INTERNAL


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
