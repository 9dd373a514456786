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
    if (keywords := _libpq_keywords(text)) is not None:
        raise UsageError(
            f"数据库“{text}”是 PostgreSQL 的连接参数，不是台账文件的路径；请写成地址的形式："
            f"{_as_url(keywords)}（密码放在 ~/.pgpass 或环境变量 PGPASSWORD 中）。"
        )
    return database_named(text)


# libpq's connection keywords (a "key=value key=value" string): such a string is never a file name.
_LIBPQ_KEYWORDS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "service", "sslmode", "sslrootcert",
    "sslcert", "sslkey", "connect_timeout", "options", "application_name", "target_session_attrs",
})


def _libpq_keywords(text: str) -> dict[str, str] | None:
    """The keywords of a libpq connection string, or None when `text` is not one."""
    if "=" not in text:
        return None  # every keyword has its "=": a plain path is spared compiling the patterns
    import re

    pairs = re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)", text)
    if not pairs or not re.fullmatch(r"\s*(?:\w+\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S*)\s*)+", text):
        return None
    keywords = {key.lower(): value.strip("'") for key, value in pairs}
    return keywords if set(keywords) & _LIBPQ_KEYWORDS else None


def _as_url(keywords: dict[str, str]) -> str:
    from urllib.parse import quote

    user = f"{quote(keywords['user'])}@" if keywords.get("user") else ""
    host = keywords.get("host") or keywords.get("hostaddr") or ""
    port = f":{keywords['port']}" if keywords.get("port") else ""
    extra = "&".join(f"{key}={quote(keywords[key])}" for key in ("sslmode", "service") if keywords.get(key))
    if host.startswith("/"):
        extra = "&".join(filter(None, (f"host={quote(host)}", extra)))
        host = ""
    return f"postgresql://{user}{host}{port}/{quote(keywords.get('dbname', ''))}" + (f"?{extra}" if extra else "")


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


class MailSettings(NamedTuple):
    """How `remind --mail` reaches the mail server, from the environment (docs/cron.md)."""

    host: str
    port: int
    security: str  # "none", "starttls" or "tls" (implicit, smtps)
    user: str | None
    password: str | None
    sender: str  # GONGKAI_MAIL_FROM: the From header, "区政务公开办 <gkb@example.gov.cn>" or an address
    office: str  # GONGKAI_MAIL_OFFICE: Reply-To of every unit's message, and where the digest goes
    timeout: float


# Scheme → (security, default port). A password never goes in the URL: it would show in `ps`
# and crontabs; it comes from GONGKAI_SMTP_PASSWORD or the file GONGKAI_SMTP_PASSWORD_FILE names.
_SMTP_SCHEMES = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}
SMTP_TIMEOUT_SECONDS = 30.0


def mail_settings() -> MailSettings:
    """The mail server and addresses from the environment; UsageError naming what is missing or wrong."""
    from urllib.parse import unquote, urlsplit

    url = os.environ.get("GONGKAI_SMTP_URL", "").strip()
    if not url:
        raise UsageError(
            "发送邮件需要设置环境变量 GONGKAI_SMTP_URL，例如 smtp+starttls://gkb@mail.example.gov.cn:587"
            "（另见 GONGKAI_SMTP_PASSWORD_FILE、GONGKAI_MAIL_FROM，docs/cron.md）。"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in _SMTP_SCHEMES or not parts.hostname:
        raise UsageError(
            f"环境变量 GONGKAI_SMTP_URL 的值“{url}”不是邮件服务器地址，"
            "应形如 smtp+starttls://用户名@服务器:587、smtps://用户名@服务器:465 或 smtp://服务器:25。"
        )
    if parts.password is not None:
        raise UsageError(
            "GONGKAI_SMTP_URL 中不能写密码（会出现在进程列表和 crontab 中）；"
            "请把密码放在环境变量 GONGKAI_SMTP_PASSWORD 或 GONGKAI_SMTP_PASSWORD_FILE 指向的文件中。"
        )
    security, default_port = _SMTP_SCHEMES[parts.scheme]
    user = unquote(parts.username) if parts.username else None
    password = _smtp_password() if user else None
    if user and password is None:
        raise UsageError(
            f"GONGKAI_SMTP_URL 写了用户名 {user}，但没有密码：请设置 GONGKAI_SMTP_PASSWORD "
            "或 GONGKAI_SMTP_PASSWORD_FILE（只有本人可读的文件）。"
        )
    if not os.environ.get("GONGKAI_MAIL_FROM", "").strip():
        raise UsageError("发送邮件需要设置环境变量 GONGKAI_MAIL_FROM（发件人，例如 区政务公开办 <gkb@example.gov.cn>）。")
    sender, office = mail_addresses()
    return MailSettings(parts.hostname, port or default_port, security, user, password, sender, office,
                        SMTP_TIMEOUT_SECONDS)


# Where `remind --to-dir` says its messages are from when GONGKAI_MAIL_FROM is not set: the
# files are for looking at, and a mail program shows this rather than nothing.
UNSET_SENDER = "gongkai@localhost"


def mail_addresses() -> tuple[str, str]:
    """(From, the office's address) from GONGKAI_MAIL_FROM and GONGKAI_MAIL_OFFICE (default: From)."""
    from ..domain.mail import check_address

    sender = os.environ.get("GONGKAI_MAIL_FROM", "").strip() or UNSET_SENDER
    check_address(sender, "环境变量 GONGKAI_MAIL_FROM")
    office = os.environ.get("GONGKAI_MAIL_OFFICE", "").strip() or sender
    check_address(office, "环境变量 GONGKAI_MAIL_OFFICE")
    return sender, office


def _smtp_password() -> str | None:
    if (password := os.environ.get("GONGKAI_SMTP_PASSWORD")) is not None:
        return password
    path = os.environ.get("GONGKAI_SMTP_PASSWORD_FILE", "").strip()
    if not path:
        return None
    try:
        # One line: a trailing newline from `echo pw > file` is not part of the password.
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"无法读取 GONGKAI_SMTP_PASSWORD_FILE 指向的文件“{path}”：{err}") from None
