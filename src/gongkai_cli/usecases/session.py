"""One command's open ledger: its store, its settings, and the plan it works on.

Opening is here too, because a missing database is created by the first
command that needs it, in a way that several processes can race safely.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from ..domain import dates
from ..domain.errors import NotFound, StoreError, UsageError
from ..domain.records import Plan
from ..domain.text import check_text, os_reason
from ..domain.units import UnitDirectory
from ..inputs.unit_file import load_directory, parse_directory, read_unit_file
from ..store import UNIT_FILE, BadServerURL, Database, DriverMissing, Location, locate, login_name, open_store
from .settings import Settings

if TYPE_CHECKING:
    from ..store import Feature, UnitFile
    from ..store.protocol import Storage
    from .plans import ImportResult

# The repository keeps the bundled table and unit file in its top-level data/; the wheel
# copies that folder into the package (pyproject's force-include), so an installed copy
# finds it next to this package and a source checkout (editable install) three levels up.
# A path is cheaper to get than importlib.resources, which every --unit command would pay.
BUNDLED_PLAN = "tasks_2023.csv"
_PACKAGE = Path(__file__).resolve().parent.parent
DATA_DIR = _PACKAGE / "data" if (_PACKAGE / "data" / BUNDLED_PLAN).is_file() else _PACKAGE.parent.parent / "data"


def bundled_plan_path() -> Path:
    return DATA_DIR / BUNDLED_PLAN


def unit_file_for(database: Database) -> Path:
    """The unit file of a ledger that keeps none inside: the office's own units.csv next to a
    SQLite database, else the bundled one (a server's ledger keeps the office's in it)."""
    local = locate(database).unit_file_beside()
    if local is not None and local.is_file():
        return local
    return DATA_DIR / UNIT_FILE


def unit_directory(store: Storage, database: Database) -> UnitDirectory:
    """The units a ledger works with: the unit file stored in it (a server's, `gongkai server
    units`), else `unit_file_for`'s. `source` says which, for the footer of `gongkai units`."""
    stored = store.unit_file()
    if stored is not None:
        return parse_directory(stored.text, stored_label(stored), label=f"服务器台账中的单位数据文件“{stored.name}”")
    path = unit_file_for(database)
    if "unit_file_inside" in locate(database).features:
        # None stored yet: the bundled file stands in, and is called that.
        return parse_directory(read_unit_file(path), f"内置（{path}）", label=f"单位数据文件“{path}”")
    return load_directory(path)


# What a ledger cannot do where it lives, as the user is told: one message per feature.
_CANNOT: dict[Feature, str] = {
    "backup": "备份只适用于 SQLite 台账文件；PostgreSQL 台账“{location}”请用 gongkai copy --to 文件.db 备份成 SQLite 文件，"
    "或用 pg_dump（见 docs/team.md）。",
    "restore": "恢复只适用于 SQLite 台账文件；PostgreSQL 台账“{location}”请用 gongkai copy 把备份文件复制到一个空数据库，"
    "或用 pg_restore（见 docs/team.md）。",
    "team": "gongkai server 只用于 PostgreSQL 台账（GONGKAI_DB=postgresql://…），SQLite 台账没有账号之分。",
    "unit_file_inside": "SQLite 台账不把单位数据文件存进数据库：请把它命名为 units.csv，放在数据库文件所在的目录"
    "“{location.file.parent}”中。gongkai server units 只用于 PostgreSQL 台账。",
}


def refused(location: Location, feature: Feature) -> UsageError:
    """The one refusal of what a ledger cannot do where it lives (exit 2)."""
    return UsageError(_CANNOT[feature].format(location=location))


def require(location: Location, feature: Feature) -> None:
    """Refuse, before anything is opened, what the ledger cannot do where it lives."""
    if feature not in location.features:
        raise refused(location, feature)


def stored_label(stored: UnitFile) -> str:
    """A stored unit file as the user is told of it: its name, who stored it and when."""
    return f"服务器台账中的“{stored.name}”（{stored_when(stored)}）"


def stored_when(stored: UnitFile) -> str:
    return f"{stored.stored_by} 于 {stored.stored_at[:16].replace('T', ' ')} 存入"


_S = TypeVar("_S", bound="Session")
_T = TypeVar("_T")


class Session:
    """The ledger of one database, with the plan a command works on."""

    def __init__(self, store: Storage, settings: Settings):
        self.store = store
        self.settings = settings
        self.database = settings.database
        self.location = locate(settings.database)
        self.today = settings.today
        self._directory: UnitDirectory | None = None
        # Whether this process made the database (and, unless --empty, loaded its first plan).
        self.created = False
        # The bundled plan this process loaded into the ledger it made: what to tell the user was loaded.
        self.loaded: ImportResult | None = None

    @property
    def directory(self) -> UnitDirectory:
        if self._directory is None:
            self._directory = unit_directory(self.store, self.database)
        return self._directory

    @classmethod
    def open_for(
        cls: type[_S], settings: Settings, *, bootstrap: bool = True, create_parents: bool = False,
        must_exist: bool = False,
    ) -> _S:
        """The ledger `settings` names; one that does not exist yet is created and, with
        `bootstrap`, filled with the bundled 2023 plan, so a fresh install answers
        `gongkai list` straight away. See `open_with` for the other flags."""
        fill = _load_bundled_plan if bootstrap else None
        ledger, loaded = cls.open_with(settings, fill=fill, create_parents=create_parents, must_exist=must_exist)
        ledger.loaded = loaded
        return ledger

    @classmethod
    def open_with(
        cls: type[_S],
        settings: Settings,
        *,
        fill: Callable[[Session], _T] | None = None,
        create_parents: bool = False,
        must_exist: bool = False,
    ) -> tuple[_S, _T | None]:
        """The ledger `settings` names, and what `fill` returned if this process created it.

        A database that does not exist yet is created, and `fill` runs inside the
        transaction that makes it (the bundled plan, or the first import), so no
        other process ever sees it empty. A named database in a missing directory is
        refused (a typo should not scatter databases) unless `create_parents`
        (`init`); `must_exist` creates, upgrades and writes nothing: the file must
        already be a ledger, and is read as it is (`backup`, `check`).
        """
        path = _checked_path(settings, create_parents=create_parents, must_exist=must_exist)
        create = not must_exist
        created: list[_T | None] = []

        def on_create(store: Storage) -> None:
            created.append(fill(cls(store, settings)) if fill else None)

        def on_upgrade(store: Storage, applied: list[str]) -> None:
            from .assignments import expand_after_upgrade

            expand_after_upgrade(store, unit_directory(store, path), applied)

        # A server's database is created with its schema, inside `open_store`'s transaction.
        file = locate(path).file
        if (create and file is not None and not file.exists()
                and not _create(file, on_create, timeout=settings.busy_timeout)):
            created.clear()  # another process linked its ledger first; ours was thrown away
        try:
            store = open_store(
                path, create=create, upgrade=create, timeout=settings.busy_timeout, on_create=on_create,
                on_upgrade=on_upgrade,
            )
        except DriverMissing:
            raise UsageError("使用 PostgreSQL 数据库需要先安装驱动：pip install 'gongkai[postgres]'。") from None
        except BadServerURL as err:
            raise UsageError(f"数据库地址“{err.url}”无效：{err.reason}。") from None
        session = cls(store, settings)
        session.created = bool(created)
        return session, (created[0] if created else None)

    def close(self) -> None:
        self.store.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def default_plan(self) -> Plan | None:
        """This year's plan (in the office's time zone), else the newest; None in an empty ledger.

        Tying the default to the calendar, not to the last import, keeps it still when next
        year's table is loaded in advance: writes keep landing in this year's plan.
        """
        this_year = self.store.plans.plan(year=self.today.year)
        if this_year is not None:
            return this_year._replace(default="current_year")
        newest = self.store.plans.plan()
        return newest._replace(default="newest") if newest is not None else None

    def plan(self) -> Plan:
        """The plan this command works on: the one asked for, else the default one."""
        name = self.settings.plan
        plan = self.store.plans.plan(name) if name is not None else self.default_plan()
        if plan is None:
            names = self.store.plans.plan_names()
            if not names:
                raise NotFound("台账中还没有任何计划，请先用 gongkai import 导入任务分解表。")
            raise NotFound(f"没有名为“{name}”的计划；已有计划：{'、'.join(names)}。")
        return plan

    def parse_date(self, text: str, plan: Plan | None = None) -> date:
        year = (plan or self.plan()).year
        return dates.parse_user_date(text, today=self.today, year=year)

    def author(self, by: str | None) -> str:
        """Who makes a change: --by, else the settings' user. It is stored, so it obeys the text rule too.
        A unit's login on a server records as its unit and login, whatever was typed (docs/team.md)."""
        # Every write asks who makes it first: the unit it is written as goes on its events too.
        from .team import acting_unit

        self.store.acting_as = acting_unit(self)
        if self.store.team is not None:
            from .team import recorder

            if (fixed := recorder(self)) is not None:
                return fixed
        return check_text((by or "").strip() or self.settings.user or login_name(), "记录人")


def _load_bundled_plan(ledger: Session) -> ImportResult:
    from .plans import import_file

    # Loaded for everyone, as the office: not the change of the unit whose command made the ledger.
    settings = ledger.settings
    ledger.settings = settings._replace(unit=None)
    try:
        return import_file(ledger, bundled_plan_path())
    finally:
        ledger.settings = settings


def no_task(plan: str, task_id: int) -> NotFound:
    return NotFound(f"计划“{plan}”中没有序号为 {task_id} 的任务。")


def _checked_path(settings: Settings, *, create_parents: bool, must_exist: bool) -> Database:
    path = locate(settings.database).file
    if path is None:
        return settings.database  # whether it exists is the server's to say, when the store connects
    if not path.exists():
        if must_exist:
            raise StoreError(f"数据库“{path}”不存在。")
        if settings.database_named and not create_parents and not path.parent.is_dir():
            raise StoreError(
                f"数据库所在目录“{path.parent}”不存在；请先创建该目录，或用 gongkai init 创建数据库。"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"无法创建数据库所在目录“{path.parent}”：{os_reason(err)}。") from err
    return path


def _create(path: Path, on_create: Callable[[Storage], None], *, timeout: float) -> bool:
    """Build a complete ledger beside `path` and link it into place in one step.

    Several processes meeting a missing database each build one and the first
    link wins; the others open the winner's. So no process ever sees a ledger
    without its first plan, and a failed first import leaves no file at all.
    False when another process's ledger won.
    """
    import secrets

    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:
        # The mode SQLite itself gives a new database.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError as err:
        raise StoreError(f"无法在“{path.parent}”中创建数据库：{os_reason(err)}。") from err
    try:
        store = open_store(temp, timeout=timeout, on_create=on_create)
        try:
            store.checkpoint()
        finally:
            store.close()
        return _link_new(temp, path)
    except OSError as err:
        raise StoreError(f"无法创建数据库“{path}”：{os_reason(err)}。") from err
    finally:
        for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm")):
            leftover.unlink(missing_ok=True)


def _link_new(temp: Path, path: Path) -> bool:
    """Give the finished database `temp` the name `path`, unless that name is taken already."""
    from ..outputs.files import link_new

    try:
        # Two processes creating the same database: the second finds the name taken.
        link_new(temp, path)
    except FileExistsError:
        return False
    # No fsync of the directory here: the first write creates the -wal beside the new name,
    # and SQLite syncs the directory then, before anything but the first plan depends on it.
    return True
