"""What the SQL of the two backends spells differently, so that each statement is written once.

A statement is built with its dialect's markers (`p` for a positional parameter, `named(...)`
for a named one, `among` for "is one of a list") and goes to the driver as built: no statement
text is ever rewritten afterwards, so a string literal holding `?` or `:word` cannot be
mistaken for a parameter. Values go the other way through the same object: what a query
compares with stored dates and timestamps, and what a stored timestamp, date or payload
becomes in the models. The drivers themselves are not imported here (start-up time).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from ..domain import dates
from . import common


class Dialect:
    """SQLite's spelling and storage: the ledger file's; PostgreSQL's is `PostgresDialect`."""

    name = "sqlite"
    # A positional parameter.
    p = "?"
    # "is one of the list given as the parameter": a JSON array, read back as rows.
    among = "IN (SELECT value FROM json_each(?))"
    # SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE answers alike.
    like = "LIKE"
    # Names in code point order, as SQLite compares text, whatever PostgreSQL's collation.
    binary = ""

    def __call__(self, name: str) -> str:
        """A named parameter."""
        return f":{name}"

    def among_named(self, name: str) -> str:
        """`among` a list given as the named parameter `name`."""
        return f"IN (SELECT value FROM json_each(:{name}))"

    def marks(self, count: int) -> str:
        """`count` positional parameters, as a VALUES list takes them."""
        return ", ".join([self.p] * count)

    def import_wrote(self, key: str) -> str:
        """An import event `e` (task NULL) that wrote the task keyed by the named parameter `key`."""
        return f"""(
            EXISTS (SELECT 1 FROM json_each(e.before, '$.tasks') WHERE key = :{key})
            OR EXISTS (SELECT 1 FROM json_each(e.after, '$.tasks') WHERE key = :{key}))"""

    def json_int(self, column: str, key: str) -> str:
        """The integer under `key` of the json object in `column`."""
        return f"json_extract({column}, '$.{key}')"

    def count_where(self, condition: str) -> str:
        """How many rows of the group meet `condition` (0 for none)."""
        return f"sum({condition})"

    def instant(self, column: str) -> str:
        """The stored timestamp in `column` as a moment to order by: text written under another
        GONGKAI_TZ carries another offset, and its text order is not time order."""
        return f"julianday({column})"

    @staticmethod
    def list_value(values: Iterable[object]) -> object:
        """The parameter of `among`."""
        return json.dumps(list(values), ensure_ascii=False)

    @staticmethod
    def date_value(day: date) -> object:
        """A date as a query parameter compared with the stored dates."""
        return day.isoformat()

    @staticmethod
    def start_of(day: date) -> object:
        """The first moment of `day` in the office's time zone, compared with stored timestamps
        as moments (`instant`): those written under another GONGKAI_TZ carry another offset."""
        return datetime.combine(day, time(), tzinfo=dates.tz()).isoformat()

    @staticmethod
    def stamp(value: Any) -> str:
        """A stored timestamp as ISO 8601 text in the office's time zone."""
        # Stored as the text shown (dates.timestamp).
        text: str = value
        return text

    @staticmethod
    def day(value: Any) -> date | None:
        """A stored date."""
        return date.fromisoformat(value) if value else None

    @staticmethod
    def day_text(value: Any) -> str | None:
        """A stored date as ISO text, as events keep it."""
        text: str | None = value
        return text

    @staticmethod
    def json(value: Any) -> dict[str, Any] | None:
        """A stored json payload."""
        return common.load(value)


class PostgresDialect(Dialect):
    """PostgreSQL's spelling (psycopg's parameters) and its typed columns."""

    name = "postgres"
    p = "%s"
    among = "= ANY(%s)"
    like = "ILIKE"
    binary = ' COLLATE "C"'

    def __call__(self, name: str) -> str:
        """A named parameter."""
        return f"%({name})s"

    def among_named(self, name: str) -> str:
        return f"= ANY(%({name})s)"

    def import_wrote(self, key: str) -> str:
        return f"""(
            jsonb_exists(e.before -> 'tasks', %({key})s) OR jsonb_exists(e.after -> 'tasks', %({key})s))"""

    def json_int(self, column: str, key: str) -> str:
        return f"({column} ->> '{key}')::bigint"

    def count_where(self, condition: str) -> str:
        return f"count(*) FILTER (WHERE {condition})"

    def instant(self, column: str) -> str:
        """A timestamptz orders as the moment it is."""
        return column

    @staticmethod
    def list_value(values: Iterable[object]) -> object:
        return list(values)

    @staticmethod
    def date_value(day: date) -> object:
        return day

    @staticmethod
    def start_of(day: date) -> object:
        return datetime.combine(day, time(), tzinfo=dates.tz())

    @staticmethod
    def stamp(value: Any) -> str:
        return stamp_text(value)

    @staticmethod
    def day(value: Any) -> date | None:
        day: date | None = value
        return day

    @staticmethod
    def day_text(value: Any) -> str | None:
        return value.isoformat() if value else None

    @staticmethod
    def json(value: Any) -> dict[str, Any] | None:
        # jsonb columns come back parsed, their keys in jsonb's order (models.Event.shown orders them).
        payload: dict[str, Any] | None = value
        return payload


def stamp_text(value: datetime) -> str:
    """A timestamp as the SQLite ledger writes it (dates.timestamp): ISO 8601 in the office's time zone."""
    return value.astimezone(dates.tz()).isoformat()


SQLITE = Dialect()
POSTGRES = PostgresDialect()
