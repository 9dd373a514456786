"""Storage: what the use cases may ask of a ledger's database, and the one place a backend is chosen.

The use cases see only `Storage` (store/protocol.py). `store/sqlite.py` implements it
for a file, `store/postgres.py` for a server named by a `postgresql://` URL (a
`ServerURL`); what their writes decide alike, without SQL, is `store/common.py`.
`_backend` picks one by the database's name.

The use cases never ask which backend they hold. A database's location (`locate`: a
`LedgerFile` or a `ServerURL`) says what its ledger can do (`Feature`) and where it
keeps what lives beside it, before anything is opened; an open store hands out the
faces only one backend has (`Storage.team`, `Storage.pages`), or None.

A store reports facts (`Refusal` and its kinds); turning them into the user's
language and an exit code is the use cases' business.
"""

import contextlib
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypedDict, TypeVar, overload

from ..domain.records import Event
from ..domain.statuses import Status

if TYPE_CHECKING:
    from typing import Literal

    from typing_extensions import dataclass_transform

    from .postgres import PostgresStore
    from .protocol import Pages, Storage
    from .sqlite import SQLiteStore
else:
    _C = TypeVar("_C")

    # Only type checkers act on it (typing has it from Python 3.11 on); at run time it is a no-op.
    def dataclass_transform(**_: object) -> Callable[[_C], _C]:
        return lambda cls: cls

# How long a command waits for another one's write lock unless GONGKAI_BUSY_TIMEOUT says otherwise.
# A burst of cron jobs queues behind the longest write among them; see docs/reliability.md.
BUSY_TIMEOUT_SECONDS = 30.0


# What libpq accepts as a server URL; anything else names a SQLite file.
SERVER_SCHEMES = ("postgresql://", "postgres://")


class ServerURL(NamedTuple):
    """A database on a server, as the user wrote its URL (the password, if any, included).

    Shown (str) with the password masked: messages name the database, and a terminal,
    a log or a cron mail must not carry the password.
    """

    url: str

    def __str__(self) -> str:
        import re
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.url)
        credentials, at, host = parts.netloc.rpartition("@")
        if ":" in credentials:
            credentials = credentials.split(":", 1)[0] + ":***"
        # libpq also takes the password as a query parameter.
        query = re.sub(r"(?i)(\bpassword=)[^&]*", r"\g<1>***", parts.query)
        return urlunsplit(parts._replace(netloc=f"{credentials}{at}{host}", query=query))

    @property
    def features(self) -> "frozenset[Feature]":
        return _SERVER_FEATURES

    @property
    def file(self) -> None:
        """No file here: the ledger is the server's."""

    def might_hold_ledger(self) -> bool:
        """Whether a ledger may be there already: the server says so only once connected."""
        return True

    def unit_file_beside(self) -> None:
        """A server's ledger keeps the office's unit file inside it ("unit_file_inside")."""

    def is_ledger_file(self, target: Path) -> None:
        """No file of a server's ledger can be overwritten from here."""


# A ledger: a SQLite file, or a database on a server.
Database = Path | ServerURL

# The office's own unit file, read beside a SQLite ledger in place of the bundled one.
UNIT_FILE = "units.csv"
# SQLite keeps these next to a database; a temporary backup copy may grow them too.
COMPANIONS = ("-wal", "-shm", "-journal")


# What a ledger may or may not do, depending on where it lives: copied page for page into a
# file (`gongkai backup`), replaced page for page by such a copy (`gongkai restore`), logins of
# the office and of units with their roles (`gongkai server`), the office's unit file kept in it
# (`gongkai server units`). Strings, not an Enum: every command would pay for building a class.
if TYPE_CHECKING:
    Feature = Literal["backup", "restore", "team", "unit_file_inside"]
_FILE_FEATURES: "frozenset[Feature]" = frozenset({"backup", "restore"})
_SERVER_FEATURES: "frozenset[Feature]" = frozenset({"team", "unit_file_inside"})


class LedgerFile:
    """A SQLite ledger's file, as `ServerURL` is a server's database: what it can do, what lives beside it.

    A plain class: a NamedTuple costs every command's start-up more to build."""

    __slots__ = ("path",)

    def __init__(self, path: Path):
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    @property
    def features(self) -> "frozenset[Feature]":
        return _FILE_FEATURES

    @property
    def file(self) -> Path:
        return self.path

    def might_hold_ledger(self) -> bool:
        return self.path.exists()

    def unit_file_beside(self) -> Path:
        """Where the office's own unit file for this ledger goes: units.csv in its directory."""
        return self.path.parent / UNIT_FILE

    def is_ledger_file(self, target: Path) -> str | None:
        """Which of the ledger's files writing `target` would overwrite: "" for the database itself,
        a suffix for a companion; None when none."""
        resolved = os.path.realpath(target)
        for name in (str(self.path), os.path.realpath(self.path)):
            for suffix in ("", *COMPANIONS):
                guarded = name + suffix
                # realpath sees a symlink or a symlinked directory even when the file does
                # not exist yet (a -wal between two writes); samefile sees a hard link.
                if resolved == os.path.realpath(guarded) or _same_file(target, guarded):
                    return suffix
        # The same directory reached by another path (a bind mount, a second mount of one
        # file system): the name decides, whether or not the companion exists right now.
        where = _directory_key(resolved)
        if where is not None and where == _directory_key(os.path.realpath(self.path)):
            name = os.path.basename(resolved)
            for suffix in ("", *COMPANIONS):
                if name == self.path.name + suffix:
                    return suffix
        return None


def _directory_key(path: str) -> tuple[int, int] | None:
    """The device and inode of the directory holding `path`: one directory has one, whatever its path."""
    try:
        found = os.stat(os.path.dirname(path) or ".")
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _same_file(first: Path, second: str) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


# Where a ledger lives, as the use cases ask of it.
Location = LedgerFile | ServerURL


def login_name() -> str:
    """The operating system's login name: who writes when nobody says (GONGKAI_USER, --by), and
    the user a server is logged into when its URL names none, as libpq does."""
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):
        # No login name at all happens in containers and some cron setups.
        return "unknown"


def locate(database: Database) -> Location:
    """The location of the ledger `database` names: the one place a file and a server are told apart."""
    return database if isinstance(database, ServerURL) else LedgerFile(database)


def database_named(text: str) -> Database:
    """The database `text` names: a server for a postgresql:// (or postgres://) URL, else a file."""
    if text.lower().startswith(SERVER_SCHEMES):
        return ServerURL(text)
    return Path(text).expanduser()


def special_sqlite_name(text: str) -> bool:
    """Whether `text` is one of SQLite's own special names rather than a file: `:memory:` takes
    every write and forgets it when the command ends, and a `file:` URI says options, not a place."""
    return text.strip() == ":memory:" or text.lower().startswith("file:")


class AssignmentInput(NamedTuple):
    """One unit's part of a task as the use cases planned it from the 责任单位 cell."""

    unit: str
    via: str | None = None
    lead: bool = False
    vague: bool = False  # a group without members: waits for the office to assign units


class TaskFields(TypedDict):
    """What an import writes of one task (`Task`'s fields from the table), in the terms its
    event stores per task id: ISO dates, units in the cell's order."""

    group: str
    content: str
    units: list[str]
    deadline: str
    start: str | None
    due: str | None


class TaskInput(NamedTuple):
    """One task as an import hands it to the store."""

    id: int
    fields: TaskFields
    assignments: tuple[AssignmentInput, ...] = ()  # in position order


class NoteInput(NamedTuple):
    """One note to append, as the use cases hand it to the store."""

    task_id: int
    text: str
    by: str
    status: Status | None = None
    # Shadows tuple.count, which nothing calls on a NoteInput; Note names the field the same.
    count: int | None = None  # type: ignore[assignment]
    key: str | None = None  # idempotency key: a retry with the same key writes nothing
    unit: str | None = None  # the assignment to write on; None: the task as a whole
    all_units: bool = False  # a status for every assignment of the task (the office closing it)


class Hand(NamedTuple):
    """Whose changes `undo` looks among: the ones written as `unit`, or with `unit` None the
    office's (written as no unit)."""

    unit: str | None


class ImportCounts(NamedTuple):
    added: int
    updated: int
    unchanged: int
    kept: tuple[int, ...]  # ids in the ledger but not in the file: kept, never deleted


class TaskQuery(NamedTuple):
    """Filters for `Store.tasks`; every field narrows the result (AND)."""

    # Tasks with an assignment of one of these units, or that came through one of these collectives.
    units: tuple[str, ...] = ()
    lead_only: bool = False  # with `units`: only tasks one of them leads (listed first)
    direct_only: bool = False  # with `units`: only assignments named in the cell, not via a collective
    # One unit's listing: rows carry its assignment, and statuses, overdue and open mean its own.
    own_unit: str | None = None
    statuses: tuple[Status, ...] = ()
    group: str | None = None
    search: str | None = None
    due_before: date | None = None
    due_after: date | None = None
    with_due_only: bool = False
    overdue_only: bool = False
    open_only: bool = False
    order_by_due: bool = False
    key_only: bool = False  # only the 重点任务 the office marked


class UnitFile(NamedTuple):
    """An office's unit file as a server's ledger keeps it (`gongkai server units`): its text
    (decoded, checked by units.read_to_store before it is stored), the name it had, and when
    (ISO 8601, as dates.timestamp writes it) and by whom it was stored."""

    name: str
    text: str
    stored_at: str
    stored_by: str


@dataclass_transform()
class Refusal(Exception):
    """A fact that makes the store write nothing; the use case says what it means to the user.

    A kind of refusal declares its facts as annotations. Raised with them, in that order or by
    name, it keeps each as an attribute and all of them as its `args`; type checkers read the
    annotations as its constructor's parameters (`dataclass_transform`).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        names = tuple(vars(type(self)).get("__annotations__", ()))
        facts = dict(zip(names, args, strict=False)) | kwargs  # more args than names: refused below
        if len(args) > len(names) or facts.keys() != set(names):
            raise TypeError(f"{type(self).__name__} takes the facts ({', '.join(names)})")
        super().__init__(*(facts[name] for name in names))
        for name in names:
            setattr(self, name, facts[name])


class AddedTasksHaveNotes(Refusal):
    """Undoing import `event_id` would delete tasks it added that have notes since."""

    event_id: int
    task_ids: list[int]


# (plan, task id, text, status value, count): what a key's note says, compared field by field.
# (plan, task id, text, status, count, unit): what a keyed note says, compared on a retry.
NoteContent = tuple[str, int, str, str | None, int | None, str | None]


class KeyUsed(Refusal):
    """A note's key is taken by an earlier note (`event_id`, `note`) with other content.

    `stored` and `asked`: (plan, task id, text, status value, count) of the two notes.
    """

    key: str
    event_id: int
    note: int
    stored: NoteContent
    asked: NoteContent


class KeyUndone(Refusal):
    """A note's key belongs to note `note`, which undo `undone_by` retracted."""

    key: str
    note: int
    undone_by: int


class NotAssigned(Refusal):
    """Task `task_id` has no assignment of `unit`; `units` are the ones it has."""

    task_id: int
    unit: str
    units: list[str]


class UnitRequired(Refusal):
    """A status for task `task_id`, which has several assignments, named none of them."""

    task_id: int
    units: list[str]


class TaskExists(Refusal):
    """A task added by hand would take the 序号 `task_id`, which the plan already has."""

    task_id: int


class KeyUnchanged(Refusal):
    """Task `task_id` is already marked (`key`) or already not."""

    task_id: int
    key: bool


class TaskDropped(Refusal):
    """Task `task_id` is already dropped."""

    task_id: int


class AlreadyAssigned(Refusal):
    """Assigning would add to task `task_id` units it already has: `units`."""

    task_id: int
    units: list[str]


class AssignmentHasNotes(Refusal):
    """Unassigning would drop the notes units wrote on their assignments of task `task_id`."""

    task_id: int
    units: list[str]


class LastAssignment(Refusal):
    """Unassigning would leave task `task_id` with no unit at all."""

    task_id: int


class UnitsChangedSince(Refusal):
    """Event `event_id` set one status for a whole task before it had assignments, and its
    units' statuses have differed since: which of them to put back is not known."""

    event_id: int
    task_id: int


class NotNewest(Refusal):
    """The change asked to be undone, `event_id`, is no longer the newest undoable one."""

    event_id: int


class ChangedSince(Refusal):
    """Change `event_id` cannot be undone while change `later`, newer and not undone, touches
    what it changed (the same task, or the whole plan)."""

    event_id: int
    later: Event


class NotADatabase(Refusal):
    """A backup file is not a database of this backend at all."""


class NotALedger(Refusal):
    """A backup file is a database but not a gongkai ledger: these tables are missing (none: version 0)."""

    missing: list[str]


class DriverMissing(Refusal):
    """A server's database was named, and its driver (psycopg, an optional extra) is not installed."""


class BadServerURL(Refusal):
    """The driver cannot read the URL of a server's database; `reason` in its words."""

    url: ServerURL
    reason: str


def open_store(
    database: Database,
    *,
    create: bool = True,
    upgrade: bool = True,
    timeout: float = BUSY_TIMEOUT_SECONDS,
    on_create: "Callable[[Storage], None] | None" = None,
    on_upgrade: "Callable[[Storage, list[str]], None] | None" = None,
) -> "Storage":
    """The store of the ledger `database`; see `SQLiteStore.open` for what each flag allows."""
    if isinstance(database, ServerURL):
        return _backend(database).open(
            database, create=create, upgrade=upgrade, timeout=timeout, on_create=on_create, on_upgrade=on_upgrade
        )
    return _backend(database).open(
        database, create=create, upgrade=upgrade, timeout=timeout, on_create=on_create, on_upgrade=on_upgrade
    )


def open_backup(backup: Path, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> "Pages":
    """A backup file as it is, read-only: nothing is migrated or written."""
    return _backend(backup).open_backup(backup, timeout)


def exclusive(
    database: Path, *, timeout: float = BUSY_TIMEOUT_SECONDS
) -> "contextlib.AbstractContextManager[Pages]":
    """The ledger `database` with no other process reading or writing it until the block ends."""
    return _backend(database).exclusive(database, timeout)


@overload
def _backend(database: Path) -> "type[SQLiteStore]": ...
@overload
def _backend(database: ServerURL) -> "type[PostgresStore]": ...
def _backend(database: Database) -> "type[SQLiteStore] | type[PostgresStore]":
    """The one place a backend is chosen: a server's URL is PostgreSQL's, a file SQLite's."""
    if isinstance(database, Path):
        from .sqlite import SQLiteStore

        return SQLiteStore
    # The driver is an optional extra: SQLite users neither install nor import it.
    try:
        import psycopg  # noqa: F401
    except ImportError as err:
        raise DriverMissing() from err
    from .postgres import PostgresStore

    return PostgresStore
