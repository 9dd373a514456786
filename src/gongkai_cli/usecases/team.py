"""Team mode's permissions: `gongkai server init|grant|revoke|units`, and what a unit login may write.

The server enforces every rule (store/postgres_roles.py); the checks here only say so
before trying, in the user's words: which unit's login, not allowed what, on which task.
On a SQLite ledger there are no logins, and every check passes.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ..domain import dates
from ..domain.errors import NotPermitted, UsageError
from ..domain.records import Event, Task
from ..domain.units import unit_name
from ..inputs.unit_file import read_to_store
from ..store import Database, Hand, UnitFile, locate
from .session import Session, refused, require

if TYPE_CHECKING:
    from ..store.postgres_roles import Login
    from ..store.protocol import Storage
    from ..store.team import Team

_T = TypeVar("_T")
_LOGINS: weakref.WeakKeyDictionary[Storage, Login] = weakref.WeakKeyDictionary()


class Grant(NamedTuple):
    user: str
    unit: str | None  # None: the office
    before: str | None  # the unit (or 办公室) it had before, when another


def login(ledger: Session) -> Login | None:
    """Who this command writes as on a server's ledger; None for a ledger without logins (a SQLite file)."""
    team = ledger.store.team
    if team is None:
        return None
    # Asked once per command: a write consults it several times.
    if ledger.store not in _LOGINS:
        _LOGINS[ledger.store] = _worded(team.login)
    return _LOGINS[ledger.store]


def unit_login(ledger: Session) -> Login | None:
    """The login, when it is a unit's (or a login with no rights at all: refused at once)."""
    who = login(ledger)
    if who is None or who.office:
        return None
    if who.unit is None:
        raise NotPermitted(f"账号“{who.user}”不是这个台账的单位账号或办公室账号，不能写入；请联系公开办。")
    return who


def require_office(ledger: Session, what: str) -> None:
    """Refuse, for a unit login, an action only the office may take (`what`: 导入计划…)."""
    who = unit_login(ledger)
    if who is not None:
        raise NotPermitted(f"{who.unit}的账号不能{what}，这需要办公室账号；未写入任何内容。")


def own_unit(ledger: Session) -> str | None:
    """The unit a unit login writes for; None for the office, the owner and a SQLite ledger."""
    who = unit_login(ledger)
    return who.unit if who is not None else None


def default_unit(ledger: Session, task: Task) -> str | None:
    """A unit login's own unit, when the task is assigned to it and the command names no unit."""
    unit = own_unit(ledger)
    return unit if any(assignment.unit == unit for assignment in task.assignments) else None


def require_own(ledger: Session, task_id: int, unit: str | None, *, status: bool, all_units: bool = False) -> None:
    """Refuse, for a unit login, a write on a task's assignment of another unit, or on the task
    as a whole (`unit` None, `all_units`)."""
    who = unit_login(ledger)
    if who is None or (unit == who.unit and not all_units):
        return
    if all_units:
        raise NotPermitted(f"{who.unit}的账号不能一次修改所有单位的状态（第 {task_id} 项），这需要办公室账号。")
    if unit is None:
        what = "修改任务整体的状态" if status else "记录对任务整体的说明"
        raise NotPermitted(f"{who.unit}的账号不能{what}（第 {task_id} 项），只能写本单位的任务分工。")
    raise NotPermitted(f"{who.unit}的账号不能修改{unit}的任务分工（第 {task_id} 项）。")


def undo_scope(ledger: Session) -> str:
    """Whose changes `undo` looks among, for messages ("马陆镇任务分工上", "马陆镇写入的"); "" for the office."""
    who = unit_login(ledger)
    if who is not None:
        return f"{who.unit}任务分工上"
    unit = hand(ledger).unit
    return f"{unit}写入的" if unit is not None else ""


def hand(ledger: Session) -> Hand:
    """The caller, as whose own changes `undo` takes back: the unit it writes as (`acting_unit`),
    else the office. The office's logins share its changes: their `by` is whatever they typed."""
    return Hand(acting_unit(ledger))


def acting_unit(ledger: Session) -> str | None:
    """The unit a command writes as: a unit login's, else the one named before the command
    (--unit, GONGKAI_UNIT); None: the office."""
    who = unit_login(ledger)
    if who is not None:
        return who.unit
    return ledger.directory.canonical(unit_name(ledger.settings.unit)) if ledger.settings.unit is not None else None


def last_undoable(ledger: Session, plan: str | None) -> Event | None:
    """The change `undo` reverts now: the caller's own newest (`hand`)."""
    who = unit_login(ledger)
    if who is None:
        return ledger.store.history.last_undoable(plan, hand=hand(ledger))
    return _team(ledger).last_undoable(plan, unit=who.unit)


def require_undoable(ledger: Session, event: Event) -> None:
    """Refuse, for a unit login, undoing a change that is not a note or status on its own assignments."""
    who = unit_login(ledger)
    if who is not None and getattr(event.payload, "unit", None) != who.unit:
        raise NotPermitted(
            f"{who.unit}的账号只能撤销本单位任务分工上的进展和状态，更改 #{event.id} 不是；未撤销任何内容。"
        )


def undo(ledger: Session, event_id: int, *, at: str, by: str, plan: str | None, named: bool = False) -> list[Event]:
    who = unit_login(ledger)
    if who is None:
        return ledger.store.history.undo(event_id, at=at, by=by, plan=plan, hand=hand(ledger), named=named)
    return _team(ledger).undo(event_id, at=at, by=by, plan=plan, unit=who.unit)


def recorder(ledger: Session) -> str | None:
    """The `by` of a unit login's changes (the server accepts no other); None: as typed."""
    who = login(ledger)
    return who.recorder if who is not None else None


def server_init(ledger: Session) -> tuple[str, str]:
    """Roles, grants and row-level security on the ledger; (office role, unit role)."""
    office, unit = _worded(_team(ledger).init)
    return office, unit


# Seconds a unit's login may leave a transaction open before the server ends its session.
DEFAULT_IDLE_TIMEOUT = 60


def grant(ledger: Session, user: str, unit: str | None, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> Grant:
    """Map the login role `user` to `unit` (any spelling the ledger knows), or make it an office account."""
    user = _role_name(user)
    team = _team(ledger)
    if unit is None:
        _worded(lambda: team.grant_office(user))
        return Grant(user, None, None)
    name = known_unit(ledger, unit, one_unit_for="登录角色只能对应")
    before = _worded(lambda: team.grant_unit(name, user, idle_timeout=idle_timeout))
    return Grant(user, name, before)


def revoke(ledger: Session, user: str) -> str | None:
    """Take the ledger's roles from `user`; what it was (a unit, 办公室), None if nothing."""
    user = _role_name(user)
    team = _team(ledger)
    return _worded(lambda: team.revoke(user))


class StoredUnits(NamedTuple):
    unit_file: UnitFile
    units: int  # how many units the file names
    replaced: UnitFile | None  # the file stored before, if any


def store_unit_file(ledger: Session, path: Path) -> StoredUnits:
    """Keep the office's unit file `path` in the server's ledger, for every command on it to read
    in place of the bundled one. Checked first as every command reads a unit file (encoding,
    header, kinds, repeats, groups that contain themselves; units.read_to_store): a bad file
    is refused and nothing is stored."""
    require(ledger.location, "unit_file_inside")
    require_office(ledger, "存入单位数据文件")
    text, units = read_to_store(path)
    stored = UnitFile(path.name, text, dates.timestamp(), ledger.author(None))
    replaced = ledger.store.unit_file()
    _team(ledger).store_unit_file(stored)
    return StoredUnits(stored, units, replaced)


def require_unit_file_on_server(database: Database) -> None:
    """A SQLite ledger's unit file is the units.csv beside it: nothing to store, refused before
    a missing file is even created."""
    require(locate(database), "unit_file_inside")


def known_unit(ledger: Session, typed: str, *, one_unit_for: str) -> str:
    """The one unit `typed` names (any alias); a collective or a name nobody knows is refused,
    saying that only one unit can be `one_unit_for` (登录角色只能对应…)."""
    name = ledger.directory.canonical(unit_name(typed))
    if ledger.directory.collective(name):
        raise UsageError(f"“{typed}”是单位的集合，{one_unit_for}一个单位。未做任何更改。")
    if ledger.directory.known(name) or name in ledger.store.tasks.unit_names():
        return name
    import difflib

    close = difflib.get_close_matches(name, list(dict.fromkeys(ledger.directory.spellings())), n=3, cutoff=0.5)
    hint = f"您是否要找：{'、'.join(close)}？" if close else "可用 gongkai units 查看所有单位。"
    raise UsageError(f"未知的责任单位“{typed}”。{hint}未做任何更改。")


def _role_name(text: str) -> str:
    name = text.strip()
    if not name or len(name.encode()) > 63:
        raise UsageError(f"“{text}”不是有效的登录角色名。")
    return name


def require_server(database: Database) -> None:
    """`gongkai server` is for a server's ledger; refused before a SQLite file is even created."""
    require(locate(database), "team")


def _team(ledger: Session) -> Team:
    """The store's team-only operations; refused on a ledger without logins."""
    team = ledger.store.team
    if team is None:
        raise refused(ledger.location, "team")
    return team


def _worded(work: Callable[[], _T]) -> _T:
    """`work` on the team's roles, with the server's refusals in the user's words."""
    from ..store.postgres_roles import AlreadyOther, BadLogin, NoTeam, NotOwner

    try:
        return work()
    except NotOwner as refusal:
        raise NotPermitted(
            f"账号“{refusal.user}”不是台账的所有者；gongkai server 的命令要用建立台账的所有者账号运行。"
        ) from None
    except NoTeam:
        raise UsageError("这个台账还没有做团队设置，请先用所有者账号运行 gongkai server init。未做任何更改。") from None
    except BadLogin as refusal:
        raise UsageError(_BAD_LOGIN[refusal.why].format(user=refusal.user) + "未做任何更改。") from None
    except AlreadyOther as refusal:
        now, then = ("办公室账号", "对应到单位") if refusal.unit is None else (f"{refusal.unit}的账号", "设为办公室账号")
        raise UsageError(
            f"登录角色“{refusal.user}”是{now}；请先 gongkai server revoke {refusal.user}，再把它{then}。未做任何更改。"
        ) from None


_BAD_LOGIN = {
    "missing": "服务器上没有登录角色“{user}”；请先由数据库管理员建立（CREATE ROLE {user} LOGIN PASSWORD …），gongkai 不保存密码。",
    "nologin": "角色“{user}”不能登录（NOLOGIN），不能作为单位或办公室的账号。",
    "superuser": "角色“{user}”是超级用户，行级安全对它不起作用，不能作为单位或办公室的账号。",
    "bypassrls": "角色“{user}”有 BYPASSRLS 属性，行级安全对它不起作用，不能作为单位或办公室的账号"
                 "（可由数据库管理员 ALTER ROLE {user} NOBYPASSRLS 后再授权）。",
}
