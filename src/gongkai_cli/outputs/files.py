"""Every file gongkai writes besides the database itself: reports, exports, backups.

One writer for all of them. The content goes to a temporary file in the
target's directory, is fsynced, gets its final permissions, and is then renamed
(or hard-linked, when an existing file must not be replaced) over the target;
the directory is fsynced so the rename survives a power cut (as are a folder
created for a calendar export and a file removed from it). Neither a crash nor
a reader running at the same moment (a nightly export picked up by a sync job)
ever sees a partial file.

Before anything is written the target is compared with the live database and
its `-wal`, `-shm` and `-journal` companions, through symbolic links, hard links
and symlinked directories: an output path that is one of them is refused, since
replacing it would destroy the ledger.

A temporary file is named `.TARGET.XXXXXXXX.tmp` and its writer holds an
exclusive `flock` on it while writing. A writer that is killed leaves the file
behind but loses the lock, so the next write to the same target removes every
unlocked temporary file of that name: they cannot accumulate.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..domain.errors import UsageError
from ..domain.text import os_reason
from ..store import COMPANIONS, locate

if TYPE_CHECKING:
    from ..store import Database

STDOUT = "-"


def check_output(output: str, *, what: str, force: bool = False) -> None:
    """Refuse a target path that cannot work, before any work is done."""
    if output == STDOUT:
        return
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"{what}目标“{path}”是目录，请指定文件名。")
    if not path.parent.is_dir():
        raise UsageError(f"{what}文件所在目录“{path.parent}”不存在，请先创建该目录。")
    if not force:
        _refuse_read_only(path, what)


def refuse_ledger_files(target: str | os.PathLike[str], ledger: Database, *, what: str) -> None:
    """UsageError when writing `target` would overwrite the live database or one of its companions."""
    target = Path(target)
    suffix = locate(ledger).is_ledger_file(target)
    if suffix is not None:
        shown = f"的 {suffix} 文件" if suffix else ""
        raise UsageError(f"{what}目标“{target}”就是正在使用的数据库“{ledger}”{shown}，写入会毁掉台账；请换一个文件名。")


def _refuse_read_only(path: Path, what: str) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    # The mode bits count for root too, whom os.access always lets write.
    if stat.S_ISREG(mode) and (not mode & 0o222 or not os.access(path, os.W_OK)):
        raise UsageError(f"{what}目标“{path}”是只读文件；确需替换它请加 --force。")


def write_output(
    output: str, produce: Callable[[IO[bytes]], None], *, ledger: Database, what: str, force: bool = False
) -> None:
    """Let `produce` write bytes to stdout ("-") or, atomically, to the file `output`."""
    if output == STDOUT:
        sys.stdout.flush()
        produce(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    path = Path(output)
    refuse_ledger_files(path, ledger, what=what)
    if not force:
        _refuse_read_only(path, what)

    def fill(handle: int, temp: Path) -> None:
        with os.fdopen(os.dup(handle), "wb") as out:
            produce(out)

    try:
        if _is_special(path):
            # A terminal, a pipe or /dev/null named as the output (-o /dev/stdout): there is
            # no file to replace, and replacing the name would put a file where the device was.
            with open(path, "wb") as out:
                produce(out)
            return
        write_atomically(path, fill, mode=_mode_for(path), overwrite=True)
    except OSError as exc:
        raise UsageError(f"无法写入文件“{path}”：{os_reason(exc)}。") from exc


def _is_special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def write_atomically(
    target: Path, fill: Callable[[int, Path], None], *, mode: int, overwrite: bool
) -> None:
    """Have `fill` write the new content, through the open descriptor or the path it is given, then put it at `target`.

    `mode` is applied once the content is complete, so a read-only mode cannot
    stop the writing. Without `overwrite` an existing `target` raises
    FileExistsError, also when it appears while the content is written.
    """
    # The file a symlink names is replaced, not the link: an export to a link the office
    # keeps on its shared drive must leave the link in place.
    target = Path(os.path.realpath(target)) if target.is_symlink() else target
    _remove_stale_temps(target)
    handle, temp = _locked_temp(target)
    try:
        fill(handle, temp)
        os.fsync(handle)
        os.chmod(temp, mode)
        if overwrite:
            os.replace(temp, target)
        else:
            link_new(temp, target)
        _fsync_directory(target.parent)
    finally:
        _unlink_with_companions(temp)
        os.close(handle)


def _locked_temp(target: Path) -> tuple[int, Path]:
    while True:
        temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            handle = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            continue
        _lock(handle, blocking=True)
        # A cleaner that found the file before the lock was taken has removed it; start over.
        if os.fstat(handle).st_nlink:
            return handle, temp
        os.close(handle)


def _remove_stale_temps(target: Path) -> None:
    """Remove temporary files of `target` whose writer has died: nobody holds their lock."""
    remove_stale_temps(target.parent, re.escape(target.name))


def remove_stale_temps(directory: Path, name: str) -> None:
    """Remove the temporary files in `directory` of any target whose name matches the regular
    expression `name` and whose writer has died: for targets named anew each time (a
    timestamped copy), which the next write to the same name would never meet."""
    if not _can_lock():
        return
    pattern = re.compile(rf"\.{name}\.[0-9a-z_]{{8}}\.tmp")
    try:
        found = os.listdir(directory)
    except OSError:
        return
    for entry in found:
        if not pattern.fullmatch(entry):
            continue
        temp = directory / entry
        try:
            handle = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(handle).st_mode) and _lock(handle, blocking=False):
                _unlink_with_companions(temp)
        finally:
            os.close(handle)


def _can_lock() -> bool:
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


def _lock(handle: int, *, blocking: bool) -> bool:
    """An exclusive flock, released by the kernel when the holder dies, even by SIGKILL."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _unlink_with_companions(temp: Path) -> None:
    for suffix in ("", *COMPANIONS):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{temp}{suffix}")


def link_new(temp: Path, target: Path) -> None:
    """Give the finished file `temp` the name `target`; FileExistsError if that name is taken."""
    try:
        # Unlike a rename, a hard link fails if the name was taken in the meantime.
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError:
        # File systems without hard links (FAT on a USB stick): check, then rename.
        if target.exists():
            raise FileExistsError(17, "File exists", str(target)) from None
        os.replace(temp, target)


def make_directory(path: Path) -> None:
    """Create the folder `path` if it is missing, durably: files later written into it
    are synced with their folder, but the folder's own name lives in its parent."""
    if path.is_dir():
        return
    path.mkdir(exist_ok=True)
    _fsync_directory(path.parent)


def remove(path: Path) -> None:
    """Delete the file `path`; like a write, the deletion survives a power cut once this returns."""
    os.unlink(path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _mode_for(path: Path) -> int:
    """Keep the permissions of the file being replaced; a new file gets the usual umask ones.

    The temporary file is created readable by the owner only, which would hide a
    nightly export from the colleagues or web server meant to read it.
    """
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
