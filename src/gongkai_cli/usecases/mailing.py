"""Routed reminders: the units' contacts, and `remind --mail` / `--to-dir`, which give each unit
with something due or overdue its own message and the office one digest, at most once a day."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..domain import dates
from ..domain.errors import UsageError
from . import team
from .session import Session
from .settings import mail_addresses

if TYPE_CHECKING:
    from ..outputs.mail import Letter
    from .queries import ReminderReport
    from .settings import MailSettings

# What ends each unit's message: the office reads the replies (Reply-To), the clerk can record
# the progress without writing back at all.
FOOTER = ("如有进展，请在 gongkai 中记录（gongkai note 序号 \"进展\"），或直接回复本邮件告知公开办。\n"
          "本邮件由 gongkai 根据政务公开工作要点任务台账自动生成。\n")


class Contact(NamedTuple):
    unit: str
    email: str


class Delivery(NamedTuple):
    """What became of each letter of one run."""

    sent: tuple[tuple[str, str], ...]  # (recipient, address): the server took it now
    earlier: tuple[str, ...]  # recipients reached earlier today: not sent again
    unreached: tuple[tuple[str, str], ...]  # (recipient, why)
    written: tuple[Path, ...]  # --to-dir: the .eml files


def contacts(ledger: Session) -> list[Contact]:
    """Every unit's address, in the unit file's order; units it does not know last, by name."""
    stored = ledger.store.contacts.contacts()
    order = {unit.name: index for index, unit in enumerate(ledger.directory)}
    return [Contact(unit, email) for unit, email in
            sorted(stored.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))]


def set_contact(ledger: Session, typed: str, address: str, *, by: str | None = None) -> tuple[Contact, str | None]:
    """Send `typed`'s reminders to `address`; the contact and the address it replaced."""
    from ..domain.mail import check_address

    team.require_office(ledger, "修改单位的联系邮箱")
    unit = team.known_unit(ledger, typed, one_unit_for="联系邮箱只能属于")
    email = check_address(address, f"{unit}的邮箱")
    before = ledger.store.contacts.set_contact(unit, email, at=dates.timestamp(), by=ledger.author(by))
    return Contact(unit, email), before


def remove_contact(ledger: Session, typed: str) -> tuple[str, bool]:
    """Forget `typed`'s address: (the unit, whether it had one)."""
    team.require_office(ledger, "修改单位的联系邮箱")
    unit = team.known_unit(ledger, typed, one_unit_for="联系邮箱只能属于")
    return unit, ledger.store.contacts.remove_contact(unit)


def require_sender(ledger: Session) -> None:
    """Refuse a unit's login at once: only the office sends the reminders (and records them)."""
    team.require_office(ledger, "发送提醒邮件")


def deliver(
    ledger: Session, report: ReminderReport, *, settings: MailSettings | None = None, to_dir: Path | None = None
) -> Delivery:
    """Mail each unit of `report` its own part and the office the digest (`settings`), or write
    the same messages as .eml files into `to_dir`. A recipient reached earlier today is skipped;
    each message the server takes is recorded at once, so a run cut short resends nothing."""
    from ..outputs import mail

    require_sender(ledger)
    if settings is None and to_dir is None:
        raise ValueError("deliver needs mail settings or a directory")
    sender, office = (settings.sender, settings.office) if settings else mail_addresses()
    letters = mail.letters(report, ledger.store.contacts.contacts(), sender=sender, office=office, footer=FOOTER)
    if to_dir is not None:
        return Delivery((), (), tuple(_no_address(letters)), tuple(_write(letters, to_dir, report.today)))
    assert settings is not None
    plan, day = report.plan, report.today
    reached = ledger.store.contacts.reached(day, plan)
    earlier = tuple(letter.recipient for letter in letters if letter.recipient in reached)
    pending = [letter for letter in letters if letter.recipient not in reached and letter.address is not None]
    sent: list[tuple[str, str]] = []
    unreached = list(_no_address([letter for letter in letters if letter.recipient not in reached]))
    if pending:
        try:
            with mail.Outbox(settings) as outbox:
                for letter in pending:
                    assert letter.address is not None
                    try:
                        outbox.send(letter.message)
                    except mail.Refused as refused:
                        unreached.append((letter.recipient, refused.reason))
                        continue
                    ledger.store.contacts.record_sent(
                        day, plan, letter.recipient, address=letter.address, at=dates.timestamp(),
                        message_id=letter.message["Message-ID"],
                    )
                    sent.append((letter.recipient, letter.address))
        except mail.Refused as refused:
            done = {recipient for recipient, _ in sent} | {recipient for recipient, _ in unreached}
            unreached += [(letter.recipient, refused.reason) for letter in pending if letter.recipient not in done]
    return Delivery(tuple(sent), earlier, tuple(unreached), ())


def _no_address(letters: list[Letter]) -> list[tuple[str, str]]:
    return [(letter.recipient, "台账中没有该单位的联系邮箱（gongkai contacts set 单位 邮箱）")
            for letter in letters if letter.address is None]


def _write(letters: list[Letter], directory: Path, day: date) -> list[Path]:
    from ..outputs.files import write_atomically
    from ..outputs.mail import DIGEST, DIGEST_NAME, as_bytes

    if not directory.is_dir():
        raise UsageError(f"目录“{directory}”不存在；--to-dir 须指向已有的目录。")
    written = []
    for letter in letters:
        path = directory / f"{day}-{letter.recipient if letter.recipient != DIGEST else DIGEST_NAME}.eml"
        content = as_bytes(letter.message)

        def fill(handle: int, temp: Path, content: bytes = content) -> None:
            with os.fdopen(os.dup(handle), "wb") as out:
                out.write(content)

        try:
            write_atomically(path, fill, mode=0o644, overwrite=True)
        except OSError as err:
            from ..domain.text import os_reason

            raise UsageError(f"无法写入文件“{path}”：{os_reason(err)}。") from err
        written.append(path)
    return written
