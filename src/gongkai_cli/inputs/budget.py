"""Parsing an untrusted document under a memory and CPU budget, whatever the document holds.

The readers check what they can from a file's own structure (sizes in the zip
directory, counts of cells, styles and table lines) before building objects, but
openpyxl, python-docx and pdfminer do their own work behind that: a style table,
a Form XObject drawn inside itself, one content stream that inflates a
thousandfold. No check of ours can foresee every such shape, so the parse runs
in a forked child whose address space and CPU time the kernel limits. The child
sends back the parsed table, or the exception it raised; when the kernel stops
it, the parent reports which limit the file exceeded. Nothing has been written at
that point, and the parent holds no write lock while it waits.

Where there is no fork (Windows), the parse runs in-process, bounded only by the
structural checks.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..domain.errors import UsageError

_T = TypeVar("_T")

# Memory a parse may add to what the process already maps, and its CPU time, so that with
# gongkai's own start-up (about 75 MB mapped, 0.3 s) a command stays within 512 MB and 30 s.
# The limit is on top of the process's own mapping so that a larger process (a script using
# gongkai as a library, the test suite) is not refused a file the command line would read.
# Measured (docs/reliability.md): 20,000 tasks in an .xlsx take 83 MB and 4 s; the costliest
# files still read within the structural limits, 370 MB (a .docx of 15 MB of paragraphs) and
# 9–11 s (40 PDF pages each ruled to the crossings limit).
MAX_PARSE_BYTES = 400 * 1024 * 1024
MAX_PARSE_SECONDS = 20

_MEMORY = b"M"
_RESULT = b"R"
_OUT_OF_MEMORY = 3


def within_budget(work: Callable[[], _T], path: Path | str) -> _T:
    """`work()`'s result, computed in a child process that may map MAX_PARSE_BYTES more than this
    one and use MAX_PARSE_SECONDS of CPU.

    UsageError (and any other exception) raised by `work` is raised here as it was raised there.
    """
    if not hasattr(os, "fork"):
        return work()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(reader)
        _child(work, writer)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        payload = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    if payload.startswith(_RESULT):
        outcome, value = pickle.loads(payload[len(_RESULT):])
        if outcome == "error":
            raise value
        return value  # type: ignore[no-any-return]
    stopped_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    # SIGXCPU at the soft CPU limit; SIGKILL at the hard one, a second later, if SIGXCPU was survived.
    spent = usage.ru_utime + usage.ru_stime
    if stopped_by == signal.SIGXCPU or (stopped_by == signal.SIGKILL and spent >= MAX_PARSE_SECONDS):
        raise UsageError(
            f"解析文件“{path}”超过 {MAX_PARSE_SECONDS} 秒处理时间的上限，不像是任务分解表；数据库未做任何更改。"
        )
    if payload == _MEMORY or stopped_by is not None or os.WEXITSTATUS(status) == _OUT_OF_MEMORY:
        # An allocation the address-space limit refused, wherever it happened: in Python
        # (MemoryError), while reporting it, or in a library's C code (a signal).
        raise UsageError(
            f"解析文件“{path}”需要的内存超过 {MAX_PARSE_BYTES // 2**20} MB 的上限，不像是任务分解表；数据库未做任何更改。"
        )
    raise RuntimeError(f"the parse of {path} ended with wait status {status} and no result")


def count_in_part(archive: zipfile.ZipFile, name: str, pattern: re.Pattern[bytes], longest: int) -> int:
    """How often `pattern` (no match longer than `longest` bytes) occurs in the part `name`,
    counted in its bytes as they are unpacked, a megabyte at a time, before any parser sees them."""
    count = 0
    tail = b""
    with archive.open(name) as part:
        while chunk := part.read(2**20):
            window = tail + chunk
            # A match in the kept tail is counted again with the next chunk, so it is taken off here;
            # one the chunk boundary cut is counted only with the next chunk.
            tail = window[-longest:]
            count += len(pattern.findall(window)) - len(pattern.findall(tail))
    return count + len(pattern.findall(tail))


def _child(work: Callable[[], object], writer: int) -> None:  # pragma: no cover - runs in the child
    import resource

    status = 0
    try:
        # Every error travels back through the pipe; a library's own warnings would only
        # put lines before the one error line the parent prints.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        limit = _mapped_bytes() + MAX_PARSE_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (MAX_PARSE_SECONDS, MAX_PARSE_SECONDS + 1))
        try:
            outcome: tuple[str, object] = ("result", work())
        except MemoryError:
            outcome = ("memory", None)
        except BaseException as exc:  # every failure, KeyboardInterrupt too, is the parent's to raise
            outcome = ("error", _portable(exc))
        if outcome[0] == "memory":
            os.write(writer, _MEMORY)
        else:
            _write_all(writer, _RESULT + pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    except MemoryError:
        status = _OUT_OF_MEMORY
    except BaseException:  # the child must never return into the parent's code
        status = 1
    finally:
        os._exit(status)


def _mapped_bytes() -> int:
    """The address space the process maps now (Linux); 0 where that is not known."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # whatever pickle raises, the failure must still arrive
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
