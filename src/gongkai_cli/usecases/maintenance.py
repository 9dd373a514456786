"""Maintenance: backup, integrity check, and restoring a backup over the ledger."""

from __future__ import annotations

import os
import re
import shutil
import stat
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..domain import dates
from ..domain.errors import StoreError, UsageError
from ..domain.text import os_reason
from ..store import Database, Location, NotADatabase, NotALedger, exclusive, locate, open_backup, open_store
from .session import Session, refused

if TYPE_CHECKING:
    from ..store import Feature
    from ..store.protocol import Pages


def backup(ledger: Session, target: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Copy the live database to `target`; a crash never leaves a half-written file under that name."""
    from ..outputs import files

    database, pages = _file_of(ledger.location, "backup"), ledger.store.pages
    if pages is None:
        raise refused(ledger.location, "backup")
    target = Path(target).expanduser()
    if target.is_dir():
        raise UsageError(f"备份目标“{target}”是一个目录，请指定文件名，例如 {target / 'gongkai-backup.db'}。")
    if not target.parent.is_dir():
        raise UsageError(f"备份目标所在目录“{target.parent}”不存在。")
    files.refuse_ledger_files(target, ledger.database, what="备份")
    if target.exists() and not overwrite:
        raise UsageError(_backup_exists(target))
    try:
        # The copy holds the same data, so it gets the same readers as the live file, never more;
        # applied once the copy is complete, so a read-only ledger still gets its backup.
        files.write_atomically(
            target, lambda handle, temp: pages.copy_to(temp, shown_as=target),
            mode=stat.S_IMODE(database.stat().st_mode), overwrite=overwrite,
        )
    except FileExistsError:
        raise UsageError(_backup_exists(target)) from None
    except OSError as err:
        raise StoreError(f"无法写入备份文件“{target}”：{os_reason(err)}。") from err
    return target


def check(ledger: Session) -> Database:
    """The database's own integrity and foreign-key checks, then whether every value can be read.

    StoreError naming the first problem found.
    """
    # Content is read only from a database that its own checks find sound.
    problems = ledger.store.problems() or ledger.store.content_problems()
    if problems:
        count = f"共 {len(problems)} 个问题，" if len(problems) > 1 else ""
        # A file's answer is its backup; a server's depends on the problem (docs/team.md).
        remedy = "；请从备份恢复" if "restore" in ledger.location.features else "；处理办法见 docs/team.md 的“检查”一节"
        raise StoreError(f"数据库“{ledger.database}”检查未通过：{count}第一个是“{problems[0]}”{remedy}。")
    return ledger.database


class BackupSummary(NamedTuple):
    """What a backup holds, shown before it replaces the ledger."""

    path: Path
    tasks: int
    notes: int
    newest_note: str | None


class Restored(NamedTuple):
    database: Path
    backup: BackupSummary
    aside: Path  # the replaced database, kept as it was


def inspect_backup(backup: str | os.PathLike[str], database: Database, *, timeout: float) -> BackupSummary:
    """Check that `backup` is a whole gongkai ledger that may replace `database`; what it holds."""
    backup = _existing_backup(backup, _file_of(locate(database), "restore"), timeout)
    source = open_backup(backup, timeout=timeout)
    try:
        return _checked_backup(source, backup)
    finally:
        source.close()


def restore(backup: str | os.PathLike[str], database: Database, *, timeout: float) -> Restored:
    """Replace the ledger at `database` by the content of `backup`, keeping the replaced one aside.

    Under one exclusive lock on the live database (no reader or writer in
    between): the backup is checked again, the live content is copied to a
    timestamped file next to it, and the backup's pages are written into the
    live database through the store, which keeps its journal consistent.
    """
    from ..outputs import files

    database = _file_of(locate(database), "restore")
    backup = _existing_backup(backup, database, timeout)
    source = open_backup(backup, timeout=timeout)
    try:
        if _damaged(database):
            return _replace_damaged(database, source, backup)
        with exclusive(database, timeout=timeout) as live:
            summary = _checked_backup(source, backup)
            aside = _aside(database)
            try:
                files.write_atomically(
                    aside, lambda handle, temp: live.copy_to(temp, shown_as=aside),
                    mode=stat.S_IMODE(database.stat().st_mode), overwrite=False,
                )
            except FileExistsError:
                raise UsageError(f"“{aside}”已存在（同一秒内的另一次恢复？），本次未做任何更改，请稍后重试。") from None
            except OSError as err:
                raise StoreError(f"无法保存被替换的数据库副本“{aside}”：{os_reason(err)}；本次未做任何更改。") from err
            try:
                live.replace_with(source)
            except BaseException:
                # Nothing was replaced: a copy of a ledger that is still in place is only clutter.
                aside.unlink(missing_ok=True)
                raise
    finally:
        source.close()
    return Restored(database=database, backup=summary, aside=aside)


def _aside(database: Path) -> Path:
    """Where the replaced ledger is kept, once the leftovers of killed restores are cleared."""
    from ..outputs import files

    stamp = datetime.now(dates.tz()).strftime("%Y%m%dT%H%M%S")
    # A restore killed while copying left its half-made copy: each is named for its own
    # second, so no later copy to the same name would ever clear it.
    files.remove_stale_temps(database.parent, rf"{re.escape(database.name)}\.before-restore-[0-9T]+\.db")
    return database.with_name(f"{database.name}.before-restore-{stamp}.db")


def _damaged(database: Path) -> bool:
    """A ledger whose header is destroyed (zeroed, overwritten): no longer SQLite's, so SQLite
    cannot open it even to be replaced, yet sized in whole pages as only a database file is."""
    try:
        with database.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
        size = database.stat().st_size
    except OSError:
        return False
    return head != _SQLITE_MAGIC and size >= _SMALLEST_PAGE and size % _SMALLEST_PAGE == 0


# What every SQLite database file starts with, and its smallest page: every database is whole pages.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SMALLEST_PAGE = 512


def _replace_damaged(database: Path, source: Pages, backup: Path) -> Restored:
    """Replace a ledger SQLite cannot open by a copy of `backup`, file for file.

    Its bytes are kept aside as they are, with its -wal, -shm and -journal: left in place,
    SQLite would replay a -wal or -journal of the damaged file onto the restored one.
    """
    from ..outputs import files
    from ..store import COMPANIONS

    summary = _checked_backup(source, backup)
    aside = _aside(database)
    mode = stat.S_IMODE(database.stat().st_mode)
    def keep(handle: int, temp: Path) -> None:
        shutil.copyfile(database, temp)

    try:
        files.write_atomically(aside, keep, mode=mode, overwrite=False)
    except FileExistsError:
        raise UsageError(f"“{aside}”已存在（同一秒内的另一次恢复？），本次未做任何更改，请稍后重试。") from None
    except OSError as err:
        raise StoreError(f"无法保存被替换的数据库副本“{aside}”：{os_reason(err)}；本次未做任何更改。") from err
    try:
        for suffix in COMPANIONS:
            companion = Path(f"{database}{suffix}")
            if companion.exists():
                os.replace(companion, f"{aside}{suffix}")
        files.write_atomically(
            database, lambda handle, temp: source.copy_to(temp, shown_as=database), mode=mode, overwrite=True
        )
    except OSError as err:
        raise StoreError(f"无法写入数据库“{database}”：{os_reason(err)}；损坏的原文件已另存为“{aside}”。") from err
    return Restored(database=database, backup=summary, aside=aside)


def _file_of(location: Location, feature: Feature) -> Path:
    """The ledger's file, which backup and restore copy page for page; refused where there is none."""
    file = location.file
    if file is None or feature not in location.features:
        raise refused(location, feature)
    return file


def _check_replaceable(database: Path, timeout: float) -> None:
    """StoreError unless `database` is an existing gongkai ledger: another program's
    SQLite file is left as every other command leaves it, untouched."""
    if database.is_dir():
        raise StoreError(f"数据库路径“{database}”是一个目录，请指定文件。")
    if not database.is_file():
        raise StoreError(f"数据库“{database}”不存在；恢复只替换已有的台账，新建请先运行 gongkai init --empty。")
    if _damaged(database):
        return  # nobody's database any more: what restore is for
    # Opened as `check` opens it: the file is recognised, nothing is written.
    open_store(database, create=False, upgrade=False, timeout=timeout).close()


def _existing_backup(backup: str | os.PathLike[str], database: Path, timeout: float) -> Path:
    """The backup file named, once it is known to exist and may replace `database`."""
    from ..outputs import files

    backup = Path(backup).expanduser()
    files.refuse_ledger_files(backup, database, what="恢复来源")
    _check_replaceable(database, timeout)
    if not backup.is_file():
        raise UsageError(f"找不到备份文件“{backup}”。" if not backup.exists() else f"备份“{backup}”不是文件。")
    return backup


def _checked_backup(source: Pages, path: Path) -> BackupSummary:
    try:
        problems = source.backup_problems()
    except NotADatabase:
        raise UsageError(f"“{path}”不是 SQLite 数据库，不能用来恢复台账。") from None
    except NotALedger as refusal:
        why = f"缺少数据表 {'、'.join(refusal.missing)}" if refusal.missing else "结构版本为 0"
        raise UsageError(f"“{path}”不是 gongkai 的台账备份（{why}），不能用来恢复台账。") from None
    if problems:
        raise StoreError(
            f"备份“{path}”检查未通过：第一个问题是“{problems[0]}”；它不能用来恢复，本次未做任何更改。"
        )
    tasks, notes, newest = source.backup_contents()
    return BackupSummary(path=path, tasks=tasks, notes=notes, newest_note=newest)


def _backup_exists(target: Path) -> str:
    return f"备份文件“{target}”已存在；确需覆盖请加 --force。"
