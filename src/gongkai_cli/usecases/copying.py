"""Copying the whole ledger into another database: `gongkai copy --to postgresql://… | FILE.db`.

How an office moves its ledger from one PC to a server, and back: also a consistent backup of
a server's ledger into one SQLite file. The source is read in one snapshot while others keep
writing; the target is written in one transaction (a server's database) or as a temporary
file linked into place once complete (a SQLite file), so it holds the whole copy or nothing.
The rows are counted again, table by table, before the target's transaction commits.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..domain.errors import StoreError, UsageError
from ..domain.text import os_reason
from ..store import (
    UNIT_FILE,
    BadServerURL,
    Database,
    DriverMissing,
    UnitFile,
    locate,
    open_store,
    transfer,
)
from .session import Session
from .settings import file_or_server

if TYPE_CHECKING:
    from ..store.protocol import Storage

# How the tables are named to the user, in transfer.TABLES' order.
TABLE_NAMES = {
    "plans": "计划", "tasks": "任务", "units": "单位", "task_units": "任务的责任单位", "assignments": "各单位分工",
    "events": "历史记录", "notes": "进展", "unit_contacts": "单位联系邮箱", "mail_sent": "已发送的提醒邮件",
}
# Tables most ledgers leave empty: a copy names them only when they hold rows.
OPTIONAL_TABLES = frozenset({"unit_contacts", "mail_sent"})


class CarriedUnits(NamedTuple):
    """The office's unit file, carried along with a ledger that moved between a file and a server."""

    unit_file: UnitFile
    beside: Path  # the units.csv read beside the source file, or written beside the target file
    kept: bool = False  # a units.csv was beside the target file already: left as it was, nothing written
    inside: bool = False  # stored inside the target's ledger (a server's), not written beside it


class Copied(NamedTuple):
    source: Database
    target: Database
    counts: dict[str, int]  # rows per table, the same in both
    units: CarriedUnits | None = None


def copy(ledger: Session, to: str) -> Copied:
    """Copy the ledger into `to`: an empty database on a server, or a SQLite file that does not exist yet.

    The office's unit file goes with it: the units.csv beside a SQLite source into a server's
    ledger (in the transaction of the copy), and a server's stored one to a units.csv beside
    the target file, unless one is there already (never replaced).
    """
    target = file_or_server(to)
    where = locate(target)
    carried = _units_beside(ledger) if "unit_file_inside" in where.features else None
    with ledger.store.snapshot() as taken:
        snapshot = taken._replace(unit_file=carried.unit_file) if carried is not None else taken
        try:
            # A new file is written beside its name and linked into place; a database that is
            # not a file takes the copy in one transaction of its own.
            file = where.file
            if file is None:
                counts = _to_server(snapshot, target)
            else:
                counts = _to_file(ledger, snapshot, file)
                if snapshot.unit_file is not None:
                    carried = _write_beside(file, snapshot.unit_file)
        except transfer.NotEmpty as refusal:
            held = "、".join(f"{TABLE_NAMES[table]} {count}" for table, count in refusal.counts.items())
            raise UsageError(
                f"复制目标“{target}”中已有台账内容（{held}），gongkai copy 只复制到空的数据库；本次未做任何更改。"
            ) from None
        except transfer.CountsDiffer as refusal:
            table, expected, found = refusal.first()
            raise StoreError(
                f"复制到“{target}”后核对行数不一致（{TABLE_NAMES[table]}：来源 {expected} 行，写入 {found} 行），"
                "已整个撤销，目标未写入任何内容。"
            ) from None
    return Copied(source=ledger.database, target=target, counts=counts, units=carried)


def _units_beside(ledger: Session) -> CarriedUnits | None:
    """The units.csv beside a SQLite source, checked as `gongkai server units` checks one."""
    from ..domain import dates
    from ..inputs.unit_file import read_to_store

    beside = ledger.location.unit_file_beside()
    if beside is None or not beside.is_file():
        return None
    text, _ = read_to_store(beside)
    return CarriedUnits(UnitFile(UNIT_FILE, text, dates.timestamp(), ledger.author(None)), beside, inside=True)


def _write_beside(target: Path, unit_file: UnitFile) -> CarriedUnits:
    """The server's unit file as units.csv beside the new ledger file, where the ledger there
    reads it; one already there is the office's and is kept."""
    from ..outputs import files

    beside = target.parent / UNIT_FILE
    # With a BOM: Excel, where offices edit the file, reads UTF-8 without one as GBK.
    data = unit_file.text.encode("utf-8-sig")

    def fill(handle: int, temp: Path) -> None:
        with os.fdopen(os.dup(handle), "wb") as out:
            out.write(data)

    try:
        files.write_atomically(beside, fill, mode=stat.S_IMODE(target.stat().st_mode), overwrite=False)
    except FileExistsError:
        return CarriedUnits(unit_file, beside, kept=True)
    except OSError as err:
        raise StoreError(
            f"台账已完整复制到“{target}”，但无法写入单位数据文件“{beside}”：{os_reason(err)}。"
        ) from err
    return CarriedUnits(unit_file, beside)


def _to_server(snapshot: transfer.Snapshot, target: Database) -> dict[str, int]:
    loaded: list[dict[str, int]] = []

    def fill(store: Storage) -> None:
        loaded.append(store.load(snapshot))

    # A database without a ledger gets the schema and the copy in one transaction; one whose
    # ledger exists (`init --empty`, or a DBA's `server init`) gets the copy in its own.
    try:
        store = open_store(target, on_create=fill)
    except DriverMissing:
        raise UsageError("使用 PostgreSQL 数据库需要先安装驱动：pip install 'gongkai[postgres]'。") from None
    except BadServerURL as err:
        raise UsageError(f"数据库地址“{err.url}”无效：{err.reason}。") from None
    try:
        return loaded[0] if loaded else store.load(snapshot)
    finally:
        store.close()


def _to_file(ledger: Session, snapshot: transfer.Snapshot, target: Path) -> dict[str, int]:
    from ..outputs import files

    if target.is_dir():
        raise UsageError(f"复制目标“{target}”是一个目录，请指定文件名，例如 {target / 'gongkai.db'}。")
    if not target.parent.is_dir():
        raise UsageError(f"复制目标所在目录“{target.parent}”不存在。")
    files.refuse_ledger_files(target, ledger.database, what="复制")
    if target.exists():
        raise UsageError(_file_exists(target))
    loaded: list[dict[str, int]] = []

    def fill(handle: int, temp: Path) -> None:
        open_store(temp, on_create=lambda store: loaded.append(store.load(snapshot))).close()

    # The copy of a file gets that file's readers, never more; a server's ledger, everyone's
    # work, its owner's only.
    source = ledger.location.file
    mode = stat.S_IMODE(source.stat().st_mode) if source is not None else 0o600
    try:
        files.write_atomically(target, fill, mode=mode, overwrite=False)
    except FileExistsError:
        raise UsageError(_file_exists(target)) from None
    except OSError as err:
        raise StoreError(f"无法写入复制目标“{target}”：{os_reason(err)}。") from err
    return loaded[0]


def _file_exists(target: Path) -> str:
    return f"复制目标“{target}”已存在；gongkai copy 只写入新文件，请换一个文件名。本次未做任何更改。"
