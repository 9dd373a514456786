"""A server's ledger as a team works on it: logins, roles, the stored unit file, a unit's own undo.

`PostgresStore.team` hands this out; a SQLite file has no logins, and its store no team
(`team` is None). It adds no SQL of its own: the roles are store/postgres_roles.py's, the
writes PostgresStore's. Refusals (`NotOwner`, `NoTeam`, `BadLogin`, `AlreadyOther`) come
from postgres_roles unchanged, for the use case to word.

Imported only for a server URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from . import postgres_roles

if TYPE_CHECKING:
    from ..domain.records import Event
    from . import UnitFile
    from .postgres import PostgresStore
    from .postgres_roles import Login, Roles


class Team(NamedTuple):
    """What only a team's ledger does, on the store `store`."""

    store: PostgresStore

    def login(self) -> Login:
        """Who this connection writes as (a read: no turn among the writers)."""
        return postgres_roles.in_transaction(self.store, postgres_roles.login)

    # Changing roles, grants or policies runs as a write (`PostgresStore.administer`).
    def init(self) -> Roles:
        return self.store.administer(postgres_roles.init)

    def grant_office(self, user: str) -> None:
        self.store.administer(lambda conn: postgres_roles.grant_office(conn, user))

    def grant_unit(self, unit: str, user: str, *, idle_timeout: float) -> str | None:
        """Map `user` to `unit`; the unit (or 办公室) it had before, when another."""
        return self.store.administer(lambda conn: postgres_roles.grant_unit(conn, unit, user, idle_timeout=idle_timeout))

    def revoke(self, user: str) -> str | None:
        return self.store.administer(lambda conn: postgres_roles.revoke(conn, user))

    def store_unit_file(self, unit_file: UnitFile) -> None:
        self.store.store_unit_file(unit_file)

    def last_undoable(self, plan: str | None, *, unit: str | None) -> Event | None:
        """The newest note or status change on `unit`'s assignments: what its login may undo."""
        return self.store.history.last_undoable(plan, unit=unit)

    def undo(self, event_id: int, *, at: str, by: str, plan: str | None, unit: str | None) -> list[Event]:
        return self.store.history.undo(event_id, at=at, by=by, plan=plan, unit=unit)
