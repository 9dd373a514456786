"""Writing an output file so that nobody ever sees half of it.

The content goes to a temporary file in the target's directory and is renamed
over the target, so neither a crash nor a reader running at the same moment
(a nightly export picked up by a sync job) sees a partial file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Callable

from .errors import UsageError

STDOUT = "-"


def check_output(output: str, *, what: str) -> None:
    """Refuse a target path that cannot work, before any work is done."""
    if output == STDOUT:
        return
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"{what}目标“{path}”是目录，请指定文件名。")
    if not path.parent.is_dir():
        raise UsageError(f"{what}文件所在目录“{path.parent}”不存在，请先创建该目录。")


def write_output(output: str, produce: Callable[[IO[bytes]], None]) -> None:
    """Let `produce` write bytes to stdout ("-") or, atomically, to the file `output`."""
    if output == STDOUT:
        sys.stdout.flush()
        produce(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    path = Path(output)
    try:
        _replace_atomically(path, produce)
    except OSError as exc:
        raise UsageError(f"无法写入文件“{path}”：{exc.strerror or exc}。") from exc


def _replace_atomically(path: Path, produce: Callable[[IO[bytes]], None]) -> None:
    mode = _mode_for(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            produce(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _mode_for(path: Path) -> int:
    """Keep the permissions of the file being replaced; a new file gets the usual umask ones.

    mkstemp creates its file readable by the owner only, which would hide a
    nightly export from the colleagues or web server meant to read it.
    """
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
