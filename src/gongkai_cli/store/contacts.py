"""Contacts: where each unit's reminders go, and the reminders the mail server has taken."""

from __future__ import annotations

from datetime import date

from .base import writes
from .subject import Subject


class Contacts(Subject):
    """Each unit's e-mail address, and which reminders went out on which day."""

    def contacts(self) -> dict[str, str]:
        """unit → e-mail address, by unit name."""
        with self.db._errors():
            return dict(self.db._all("SELECT unit, email FROM unit_contacts ORDER BY unit"))

    @writes
    def set_contact(self, unit: str, email: str, *, at: str, by: str) -> str | None:
        """Send `unit`'s reminders to `email`; the address it replaced, if any."""
        before = self.db._one(f"SELECT email FROM unit_contacts WHERE unit = {self.sql.p}", (unit,))
        self.db._run(
            f"""INSERT INTO unit_contacts (unit, email, changed_at, changed_by)
                VALUES ({self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p})
                ON CONFLICT (unit) DO UPDATE SET email = excluded.email, changed_at = excluded.changed_at,
                    changed_by = excluded.changed_by""",
            (unit, email, at, by),
        )
        return before[0] if before else None

    @writes
    def remove_contact(self, unit: str) -> bool:
        """Forget `unit`'s address; whether it had one."""
        before = self.db._one(f"SELECT 1 FROM unit_contacts WHERE unit = {self.sql.p}", (unit,))
        self.db._run(f"DELETE FROM unit_contacts WHERE unit = {self.sql.p}", (unit,))
        return before is not None

    def reached(self, day: date, plan: str) -> set[str]:
        """The recipients (units, and '' for the office's digest) already sent `plan`'s reminder on `day`."""
        with self.db._errors():
            rows = self.db._all(
                f"SELECT recipient FROM mail_sent WHERE day = {self.sql.p} AND plan = {self.sql.p}",
                (self.sql.date_value(day), plan),
            )
        return {recipient for (recipient,) in rows}

    @writes
    def record_sent(self, day: date, plan: str, recipient: str, *, address: str, at: str, message_id: str) -> None:
        """The mail server took `recipient`'s reminder of `day`: never send it again that day."""
        self.db._run(
            f"""INSERT INTO mail_sent (day, plan, recipient, address, sent_at, message_id)
                VALUES ({self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p}, {self.sql.p})
                ON CONFLICT (day, plan, recipient) DO NOTHING""",
            (self.sql.date_value(day), plan, recipient, address, at, message_id),
        )
