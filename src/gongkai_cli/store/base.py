"""The store of either SQL backend: its connection, its transactions, and its subjects.

`SQLStore` is the base of `SQLiteStore` and `PostgresStore`. A store is its subjects, each
written once over the store's connection and dialect (store/dialect.py): `store.plans`
(store/plans.py), `store.tasks`, `store.notes`, `store.assignments`, `store.history`; each is
made the first time it is asked for, so a command imports only the subjects it uses. Every
statement is built with the store's dialect (`self.sql.p`, `self.sql("name")`, `self.sql.among`)
and goes to the driver as built. What only one backend does (opening, locks, copies, `check`)
is its own module's.
"""

from __future__ import annotations

import abc
import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from ..domain.records import Commit
from . import BUSY_TIMEOUT_SECONDS

Row = tuple[Any, ...]
Params = Sequence[object] | Mapping[str, object]

if TYPE_CHECKING:
    from typing_extensions import Self

    from .assignments import Assignments
    from .contacts import Contacts
    from .dialect import Dialect
    from .edits import Edits
    from .history import History
    from .notes import Notes
    from .plans import Plans
    from .tasks import Tasks

_Where = TypeVar("_Where")  # where a backend's ledger is: a file's path, a server's URL
_P = ParamSpec("_P")
_R = TypeVar("_R")


if TYPE_CHECKING:
    class _Writer(Protocol):
        def _write_transaction(self, work: Callable[[], _R]) -> _R: ...


_S = TypeVar("_S", bound="_Writer")


def writes(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """Run a write method (of a store or of one of its subjects) as one transaction of the store."""

    @functools.wraps(method)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self._write_transaction(functools.partial(method, self, *args, **kwargs))

    return wrapper


_T = TypeVar("_T")


class SubjectAttribute(Generic[_T]):
    """A store's subject (`store.notes`…): made, and its module imported, the first time a store
    is asked for it, then kept in the store's own attributes, which come before this."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def __set_name__(self, owner: type, attribute: str) -> None:
        self._attribute = attribute

    @overload
    def __get__(self, store: None, owner: type) -> Self: ...
    @overload
    def __get__(self, store: object, owner: type) -> _T: ...
    def __get__(self, store: object | None, owner: type) -> Self | _T:
        if store is None:
            return self
        from importlib import import_module

        subject: _T = getattr(import_module(f"{__package__}.{self._module}"), self._name)(store)
        vars(store)[self._attribute] = subject
        return subject


class SQLStore(abc.ABC, Generic[_Where]):
    """What both SQL backends of `Storage` read and write alike."""

    # How this backend spells what SQL spells differently, and how its values come back.
    sql: ClassVar[Dialect]
    # Every committed write that recorded a change; the CLI reads it when a later step fails,
    # to say the change was saved nonetheless.
    commits: list[Commit]
    # The unit this command writes as (the events' `actor`); None: the office. Set by the use
    # case that knows the caller (usecases/session.py `Session.author`).
    acting_as: str | None = None

    @classmethod
    def open(
        cls, where: _Where, *, create: bool = True, upgrade: bool = True, timeout: float = BUSY_TIMEOUT_SECONDS,
        on_create: Callable[[Self], None] | None = None, on_upgrade: Callable[[Self, list[str]], None] | None = None,
    ) -> Self:
        """Open the ledger `where` names (a file, or a server's database).

        Nothing is written until it is known to be a gongkai ledger, or an empty
        database (a missing file too; on a server, one without the `gongkai`
        schema), which becomes one when `create`; anything else is refused
        untouched; a ledger of a newer gongkai is refused. With `upgrade`, an older
        ledger is upgraded (a file's only when it and its directory are writable);
        without, nothing is written at all (`check`, `backup`). `on_create` runs
        inside the transaction that turns an empty database into a ledger, so no
        other process ever sees that ledger without what it puts there;
        `on_upgrade`, given the names of the migrations applied, runs inside the
        transaction that upgrades an existing ledger (to fill what a migration made
        room for). `timeout`: how many seconds to wait for another process's lock.
        """
        store = cls._connected(where, create=create, timeout=timeout)
        try:
            store._prepare(create=create, upgrade=upgrade, on_create=on_create, on_upgrade=on_upgrade)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    @abc.abstractmethod
    def _connected(cls, where: _Where, *, create: bool, timeout: float) -> Self:
        """A store on the ledger `where` names, not yet read."""

    @abc.abstractmethod
    def _prepare(
        self, *, create: bool, upgrade: bool, on_create: Callable[[Self], None] | None,
        on_upgrade: Callable[[Self, list[str]], None] | None,
    ) -> None:
        """Recognise, create or upgrade the ledger (see `open`)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of the database."""

    # -- what each backend supplies ------------------------------------------------

    @abc.abstractmethod
    def _errors(self) -> contextlib.AbstractContextManager[None]:
        """Turns a driver's error into the one-line StoreError naming the database."""

    @abc.abstractmethod
    def _write_transaction(self, work: Callable[[], _R]) -> _R:
        """`work` as one write transaction, or as part of the one already running."""

    @abc.abstractmethod
    def _all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row a query in the shared spelling returns."""

    @abc.abstractmethod
    def _run(self, sql: str, params: Params = ()) -> None:
        """A statement in the shared spelling, once."""

    @abc.abstractmethod
    def _many(self, sql: str, rows: Iterable[Params]) -> None:
        """A statement in the shared spelling, once per row of parameters."""

    @abc.abstractmethod
    def _read_snapshot(self) -> contextlib.AbstractContextManager[None]:
        """One read transaction: every query inside it reads the same committed ledger."""

    def _one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _next_id(self, table: str, key: str = "id") -> int:
        """One past the largest key of `table`: the key the next row gets under the write lock."""
        row = self._one(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}")
        assert row is not None
        next_id: int = row[0]
        return next_id

    def _next_note_id(self) -> int:
        """The id the next note gets under the write lock: past every note in the table, and past
        every note the history names. unassign and an undone import remove notes, and the
        largest id left would give a removed note's number, quoted in its confirmation and
        named by its events, to a new one. Ids are given in event order, so the newest note
        event names the largest id ever given."""
        note = self.sql.json_int("after", "note")
        row = self._one(
            f"""SELECT coalesce((SELECT max(id) FROM notes), 0),
                       coalesce((SELECT {note} FROM events WHERE action IN ('note', 'status')
                                 AND {note} IS NOT NULL ORDER BY id DESC LIMIT 1), 0)"""
        )
        assert row is not None
        return max(int(row[0]), int(row[1])) + 1

    def _events_since(self, last_before: int) -> Commit | None:
        """What the events after `last_before` committed, for `commits`."""
        note = f"CASE WHEN action IN ('note', 'status') THEN {self.sql.json_int('after', 'note')} END"
        row = self._one(
            f"SELECT min(id), max(id), count(*), min({note}), max({note}) FROM events WHERE id > {self.sql.p}",
            (last_before,),
        )
        assert row is not None
        first, last, count, first_note, last_note = row
        return Commit(first, last, count, first_note, last_note) if count else None

    def adopt_history(self) -> None:
        """Count every event in the ledger as committed by this process: it created the ledger
        (in another connection beside a file, or in the transaction that made a server's schema)."""
        with self._errors():
            written = self._events_since(0)
        if written is not None:
            self.commits.append(written)

    # -- its subjects: each made when first asked for, so a command imports only those it uses --

    plans: SubjectAttribute[Plans] = SubjectAttribute("plans", "Plans")
    tasks: SubjectAttribute[Tasks] = SubjectAttribute("tasks", "Tasks")
    notes: SubjectAttribute[Notes] = SubjectAttribute("notes", "Notes")
    assignments: SubjectAttribute[Assignments] = SubjectAttribute("assignments", "Assignments")
    history: SubjectAttribute[History] = SubjectAttribute("history", "History")
    contacts: SubjectAttribute[Contacts] = SubjectAttribute("contacts", "Contacts")
    edits: SubjectAttribute[Edits] = SubjectAttribute("edits", "Edits")
