"""What a command works with, read once from its options and the environment.

The CLI builds one `Settings` and hands it to the use cases, which never read the
environment themselves. The clock (GONGKAI_TZ, GONGKAI_NOW) stays with `dates`,
which every timestamp goes through.
"""


import math
import os
from datetime import date
from pathlib import Path
from typing import NamedTuple

from ..domain.errors import UsageError
from ..store import BUSY_TIMEOUT_SECONDS, Database, database_named, special_sqlite_name

# An hour: beyond that a queued cron job is better failed and reported than left hanging.
MAX_BUSY_TIMEOUT = 3600


class Settings(NamedTuple):
    database: Database  # a SQLite file, or a server's postgresql:// URL
    # --db or GONGKAI_DB named the database: a typo must not scatter databases, so a
    # missing directory is refused instead of created.
    database_named: bool
    plan: str | None  # --plan or GONGKAI_PLAN; None: the default plan
    # Who makes changes unless --by says otherwise: GONGKAI_USER; None: the login name, which
    # is looked up only when a change is written (`login_name`), so reads do not pay for it.
    user: str | None
    today: date
    busy_timeout: float  # seconds to wait for another process's write lock
    # The clerk's own unit (--unit before the command, or GONGKAI_UNIT): the unit notes and
    # status changes are written for unless the command names another. Reads ignore it.
    unit: str | None = None
    unit_source: str | None = None  # where `unit` came from, for messages: 环境变量 GONGKAI_UNIT…


def from_environment(
    db: Path | str | None = None, plan: str | None = None, unit: str | None = None, *, unit_option: bool = False
) -> Settings:
    """Settings from the options given (None: not given) and the environment."""
    from ..domain import dates

    return Settings(
        database=database_path(db),
        database_named=db is not None or "GONGKAI_DB" in os.environ,
        plan=plan or os.environ.get("GONGKAI_PLAN") or None,
        user=os.environ.get("GONGKAI_USER", "").strip() or None,
        today=dates.today(),
        busy_timeout=busy_timeout(),
        unit=(unit or os.environ.get("GONGKAI_UNIT", "")).strip() or None,
        unit_source="命令名前的 --unit" if unit_option else "环境变量 GONGKAI_UNIT",
    )


def database_path(db: Path | str | None = None) -> Database:
    """The database a command works on: `--db`, else GONGKAI_DB, else the per-user data directory.

    A postgresql:// (or postgres://) URL stays the URL it is, a server's database."""
    if db is not None:
        return file_or_server(str(db))
    if env := os.environ.get("GONGKAI_DB"):
        return file_or_server(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("gongkai", appauthor=False)) / "gongkai.db"


def file_or_server(text: str) -> Database:
    """The database `text` names (store.database_named), once it is no SQLite special name."""
    if special_sqlite_name(text):
        raise UsageError(
            f"数据库“{text}”是 SQLite 的特殊名称（内存数据库或 file: 地址），写入的内容不会留在任何文件里；"
            "请给出台账文件的路径，例如 ./gongkai.db。"
        )
    return database_named(text)


def busy_timeout() -> float:
    """Seconds to wait for another process's write lock: GONGKAI_BUSY_TIMEOUT, else the default."""
    text = os.environ.get("GONGKAI_BUSY_TIMEOUT", "").strip()
    if not text:
        return BUSY_TIMEOUT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_BUSY_TIMEOUT:  # also refuses nan
        raise UsageError(
            f"环境变量 GONGKAI_BUSY_TIMEOUT 的值“{text}”无效，应为 0 到 {MAX_BUSY_TIMEOUT} 之间的秒数，例如 30。"
        )
    return seconds
