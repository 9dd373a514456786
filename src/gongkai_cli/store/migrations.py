"""Every migration of either backend, each named once, and the one runner that applies them.

A migration is a row of `MIGRATIONS`: its name, and which backends it has a body for. The
bodies are the functions of that name in store/sqlite_schema.py and store/postgres_schema.py,
found when a ledger is upgraded, so that a command on one backend never loads the other's
schema. A new migration gives both. The shipped ones kept the names the two backends' separate lists gave
them, and a body is None on the backend whose ledgers never had it: the server's schema
began as the SQLite ledger's after m007_assignments (m001_ledger), so nothing is recorded
there under SQLite's first seven names, nor on a SQLite ledger under the server's own.

Each ledger keeps the names it has had in its `migrations` table, and an upgrade applies
every one of its backend's missing there, in list order, so two branches that each add one
cannot, once merged, leave a ledger without either. On SQLite `PRAGMA user_version` still
counts them: releases from before the table refuse a ledger whose version is beyond theirs,
and that is what keeps them away from it; a ledger from before the table has had exactly
the first `user_version` of them. Where a ledger records them is its backend's `Book`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

Backend = Literal["sqlite", "postgres"]


class Migration:
    # A plain class, not a NamedTuple: every command reads this table, and building a
    # NamedTuple class costs start-up time that a three-field record does not need.
    __slots__ = ("name", "postgres", "sqlite")

    def __init__(self, name: str, *, sqlite: bool = False, postgres: bool = False) -> None:
        self.name = name
        self.sqlite = sqlite  # a SQLite ledger gets it: store/sqlite_schema.py has its body
        self.postgres = postgres  # a server's ledger gets it: store/postgres_schema.py has its body

    def __repr__(self) -> str:
        return f"Migration({self.name!r})"

    def on(self, backend: Backend) -> bool:
        return self.sqlite if backend == "sqlite" else self.postgres

    def body(self, backend: Backend) -> Callable[[Any], None]:
        """The function that applies it to a ledger of `backend`, given that ledger's connection."""
        from importlib import import_module

        body: Callable[[Any], None] = getattr(import_module(f"{__package__}.{backend}_schema"), self.name)
        return body


# Append only: a migration that has shipped is never edited, renamed or reordered.
MIGRATIONS: tuple[Migration, ...] = (
    *(Migration(name, sqlite=True) for name in (
        "m001_initial", "m002_note_counts", "m003_history", "m004_counted_notes_index", "m005_event_keys",
        "m006_drop_task_units_text", "m007_assignments",
    )),
    # A server's own list, begun from a SQLite ledger's schema after m007_assignments.
    *(Migration(name, postgres=True) for name in (
        "m001_ledger", "m002_events_append_only", "m003_indexes", "m004_jsonb_payloads", "m005_unit_file",
    )),
    # From here on, one row a migration, with a body for each backend.
    Migration("m008_unit_contacts", sqlite=True, postgres=True),
    Migration("m009_plan_edits", sqlite=True, postgres=True),
    Migration("m010_units_and_changes", sqlite=True, postgres=True),
    Migration("m011_server_stamped", sqlite=True, postgres=True),
)


def of(backend: Backend) -> list[Migration]:
    """A backend's migrations, in the order its ledgers get them."""
    return [migration for migration in MIGRATIONS if migration.on(backend)]


SQLITE_MIGRATIONS = of("sqlite")
POSTGRES_MIGRATIONS = of("postgres")
SCHEMA_VERSION = len(SQLITE_MIGRATIONS)


if TYPE_CHECKING:
    class Book(Protocol):
        """Where a ledger records the migrations it has had: all the runner asks of a backend.

        A typing construct only, like store/protocol.py: a class with abstract methods would be
        built by every command, for the runner that only an upgrade uses."""

        backend: ClassVar[Backend]
        conn: Any  # the ledger's connection, as its driver gives it

        def names(self) -> list[str]:
            """The names of the migrations the ledger has had."""

        def begin(self, had: Sequence[str]) -> None:
            """Ready the record for new names; `had`: the names the ledger has had."""

        def record(self, name: str) -> None:
            """Note `name` as applied."""

        def end(self) -> None:
            """Close the record once every missing migration is applied."""


class SQLiteBook:
    """A SQLite ledger's record: the `migrations` table, or before that table, `user_version` alone."""

    backend: ClassVar[Backend] = "sqlite"

    def __init__(self, conn: Any, version: int, *, at: str = "") -> None:
        self.conn = conn
        self.version = version
        self.at = at

    def names(self) -> list[str]:
        if not self._tracked():
            return [migration.name for migration in SQLITE_MIGRATIONS[: self.version]]
        return [row[0] for row in self.conn.execute("SELECT name FROM migrations")]

    def begin(self, had: Sequence[str]) -> None:
        if not self._tracked():
            self.conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            self.conn.executemany("INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                                  [(name, self.at) for name in had])

    def record(self, name: str) -> None:
        self.conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, self.at))

    def end(self) -> None:
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _tracked(self) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
        ).fetchone() is not None


class PostgresBook:
    """Where a server's ledger records its migrations: `migrations` in its own schema, made
    with the schema by the first upgrade. The caller holds `postgres_schema.SCHEMA_LOCK`."""

    backend: ClassVar[Backend] = "postgres"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def names(self) -> list[str]:
        from . import postgres_schema

        if not postgres_schema.exists(self.conn):
            return []
        return [row[0] for row in self.conn.execute(
            f"SELECT name FROM {postgres_schema.SCHEMA}.migrations ORDER BY applied_at, name"
        ).fetchall() if isinstance(row[0], str)]

    def begin(self, had: Sequence[str]) -> None:
        from . import postgres_schema

        schema = postgres_schema.SCHEMA
        self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        # The search path points at the schema until the caller's transaction ends.
        self.conn.execute(f"SET LOCAL search_path = {schema}")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )

    def record(self, name: str) -> None:
        # clock_timestamp, not now(): one transaction's migrations keep their order.
        self.conn.execute("INSERT INTO migrations (name, applied_at) VALUES (%s, clock_timestamp())", (name,))

    def end(self) -> None:
        # A server's ledger has no version number beside its names.
        return


def missing(book: Book, migrations: Sequence[Migration] | None = None) -> list[Migration]:
    """The migrations (of `book`'s backend, or only `migrations`) the ledger has not had, in order."""
    had = set(book.names())
    return [migration for migration in (of(book.backend) if migrations is None else migrations) if migration.name not in had]


def unknown(book: Book) -> list[str]:
    """The names the ledger has had that this release has no migration of: written by a newer one."""
    known = {migration.name for migration in of(book.backend)}
    return [name for name in book.names() if name not in known]


def apply(book: Book, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Bring the ledger to every migration of its backend (or to `migrations`, for tests), inside
    the caller's write transaction; returns the names of those applied."""
    todo = missing(book, migrations)
    book.begin([migration.name for migration in of(book.backend) if migration not in todo])
    for migration in todo:
        migration.body(book.backend)(book.conn)
        book.record(migration.name)
    book.end()
    return [migration.name for migration in todo]
