"""Copying a whole ledger from one database into another (`gongkai copy`), between either backends.

A source store hands out a `Snapshot`: how many rows each table has and the rows themselves,
all read in one consistent view of the source (one read transaction), while other processes
go on writing. A target store loads it into its empty ledger in one transaction, keys and
all, and counts every table again before committing: the copy is whole or not there.

Rows travel in one portable form, the SQLite ledger's: dates and timestamps as ISO 8601 text
(timestamps in the office's time zone, dates.tz(), as dates.timestamp writes them), flags as
0/1, event payloads as JSON text. A SQLite ledger therefore goes to a server and back
unchanged, byte for byte in every column but the payloads: a server keeps them as jsonb,
which keeps their JSON but not their text, so the copy back holds the same JSON with its keys
in jsonb's order and jsonb's spacing. Nothing shown depends on either (models.Event.shown).

Each store reads and writes its own tables (`snapshot`, `load`); only the counts are written here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from . import Refusal, UnitFile

if TYPE_CHECKING:
    from .base import SQLStore

# Every table of a ledger's content, parents before children, with every column. The
# schema's own bookkeeping (migrations, versions) is the target's, not copied.
TABLES: dict[str, tuple[str, ...]] = {
    "plans": ("name", "year", "source", "created_at", "imported_at"),
    "tasks": ("pk", "plan", "id", "group_name", "content", "deadline", "start", "due", "status", "updated_at",
              "source", "planned_content", "planned_deadline", "planned_start", "planned_due", "dropped_at",
              "key_task"),
    "units": ("id", "name"),
    "task_units": ("task", "unit", "position"),
    "assignments": ("pk", "task", "unit", "via", "lead", "position", "vague", "manual", "status", "updated_at"),
    "events": ("id", "at", "by", "action", "plan", "task", "before", "after", "undoes", "key", "actor", "batch"),
    "notes": ("id", "task", "at", "by", "text", "status", "count", "retracted_at", "retracted_by", "assignment"),
    "unit_contacts": ("unit", "email", "changed_at", "changed_by"),
    "mail_sent": ("day", "plan", "recipient", "address", "sent_at", "message_id"),
}
# The order rows are read in: by key, so that a copy lists them as the source does.
ORDER: dict[str, str] = {
    "plans": "name", "tasks": "pk", "units": "id", "task_units": "task, position", "assignments": "pk",
    "events": "id", "notes": "id", "unit_contacts": "unit", "mail_sent": "day, plan, recipient",
}
# Columns that are booleans on a server and 0/1 in a SQLite file.
FLAGS = frozenset({"lead", "vague", "manual", "key_task"})
# Event payloads: jsonb on a server, TEXT in a SQLite file; copied as JSON text.
PAYLOADS = frozenset({"before", "after"})


class Snapshot(NamedTuple):
    """A ledger's content at one moment, table by table in TABLES' order, and its unit file.

    A server's ledger keeps the office's unit file inside it, and a server target stores the
    one a snapshot carries; a SQLite ledger's unit file is the units.csv beside it, which the
    use case (usecases/copying.py) reads into a snapshot and writes beside a target file.
    """

    counts: Mapping[str, int]
    rows: Callable[[str], Iterator[tuple[object, ...]]]  # a table's rows, in TABLES' columns and ORDER
    unit_file: UnitFile | None = None


class NotEmpty(Refusal):
    """The target already holds a ledger's content: `counts` of the tables that have rows."""

    counts: dict[str, int]


class CountsDiffer(Refusal):
    """After loading, the target's rows per table were not the source's: nothing was kept."""

    expected: dict[str, int]
    found: dict[str, int]

    def first(self) -> tuple[str, int, int]:
        """The first table that differs: (table, rows in the source, rows written)."""
        table = next(name for name in TABLES if self.expected.get(name) != self.found.get(name))
        return table, self.expected.get(table, 0), self.found.get(table, 0)


def refuse_content(counts: Mapping[str, int]) -> None:
    """NotEmpty unless every table counted is empty."""
    if any(counts.values()):
        raise NotEmpty({table: count for table, count in counts.items() if count})


def verify(expected: Mapping[str, int], found: Mapping[str, int]) -> dict[str, int]:
    """`found` when it is `expected` table for table, else CountsDiffer."""
    if dict(expected) != dict(found):
        raise CountsDiffer(dict(expected), dict(found))
    return dict(found)


def counts(store: SQLStore[Any]) -> dict[str, int]:
    """How many rows each table of `store`'s ledger holds, counted in one statement (one view)."""
    (counted,) = store._all("SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in TABLES))
    return dict(zip(TABLES, counted, strict=True))
