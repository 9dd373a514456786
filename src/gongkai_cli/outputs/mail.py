"""Reminders as e-mail: one message per unit with only its own tasks, the office's digest, and
the SMTP conversation that hands them to the office's mail server.

Messages are composed here from a ReminderReport (the same words `remind` prints) and never
query; which units are due a message, and which were reached already today, is the use case's
(usecases/mailing.py). `smtplib` and `email` are imported only when a reminder is mailed.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, NamedTuple

from ..domain import dates
from .render import reminder

if TYPE_CHECKING:
    import smtplib
    from email.message import EmailMessage

    from ..usecases.queries import Reminder, ReminderReport
    from ..usecases.settings import MailSettings

# The digest's name where a unit's would be: mail_sent's recipient and the .eml file's name.
DIGEST = ""
DIGEST_NAME = "公开办汇总"


class Letter(NamedTuple):
    """One message and whom it is for: a unit, or DIGEST."""

    recipient: str
    address: str | None  # None: the unit has no contact in the ledger
    message: EmailMessage


def _body(report: ReminderReport, sections: tuple[Reminder, ...]) -> str:
    out = io.StringIO()
    reminder(report._replace(sections=sections), "table", out)
    return out.getvalue()


def _message(subject: str, body: str, *, to: str | None, sender: str, reply_to: str, domain: str) -> EmailMessage:
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    if to is not None:
        message["To"] = to
    message["Reply-To"] = reply_to
    message["Date"] = format_datetime(dates.now())
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body, charset="utf-8")
    return message


def letters(
    report: ReminderReport, contacts: dict[str, str], *, sender: str, office: str, footer: str
) -> list[Letter]:
    """A letter for each unit with something due or overdue (its own section only), then the
    office's digest of every section. `footer` ends each unit's letter (how to answer)."""
    domain = office.rpartition("@")[2].rstrip(">") or "localhost"
    result = []
    for section in report.sections:
        if section.unit is None or section.vague or not (section.overdue or section.due_soon):
            continue
        subject = (f"【政务公开提醒】{section.unit}：已逾期 {len(section.overdue)} 项，"
                   f"{report.until.isoformat()} 前到期 {len(section.due_soon)} 项（{report.today.isoformat()}）")
        body = _body(report, (section,)) + "\n" + footer
        address = contacts.get(section.unit)
        result.append(Letter(section.unit, address,
                             _message(subject, body, to=address, sender=sender, reply_to=office, domain=domain)))
    units = sum(1 for section in report.sections if section.unit and not section.vague)
    subject = f"【政务公开提醒汇总】计划 {report.plan}：{units} 个单位有逾期或即将到期的任务（{report.today.isoformat()}）"
    result.append(Letter(DIGEST, office, _message(subject, _body(report, report.sections), to=office,
                                                  sender=sender, reply_to=office, domain=domain)))
    return result


class Refused(Exception):
    """The mail server did not take a message: `reason` in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Outbox:
    """One SMTP session with the office's mail server; `send` hands over one message."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Outbox:
        import smtplib
        import ssl

        settings = self.settings
        try:
            if settings.security == "tls":
                self._smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                              context=ssl.create_default_context())
            else:
                self._smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
                if settings.security == "starttls":
                    self._smtp.starttls(context=ssl.create_default_context())
            if settings.user is not None:
                assert settings.password is not None
                _log_in(self._smtp, settings.user, settings.password)
        except (OSError, smtplib.SMTPException, ssl.SSLError) as err:
            self.close()
            raise Refused(_reason(err)) from err
        return self

    def send(self, message: EmailMessage) -> None:
        import smtplib

        assert self._smtp is not None
        try:
            refused = self._smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as err:
            raise Refused(_reason(err)) from err
        if refused:
            raise Refused(_reason_for(next(iter(refused.values()))))

    def close(self) -> None:
        import smtplib

        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                # A session already broken has nothing left to say goodbye to.
                self._smtp.close()
            self._smtp = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def _log_in(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """Log in with AUTH PLAIN where the server offers it, in UTF-8 (RFC 4616): smtplib's own
    login encodes credentials as ASCII only, so a password with Chinese characters fails there."""
    import smtplib

    smtp.ehlo_or_helo_if_needed()
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        if not (user + password).isascii():
            raise smtplib.SMTPNotSupportedError("用户名或密码含有非 ASCII 字符，须服务器支持 AUTH PLAIN")
        smtp.login(user, password)
        return
    from base64 import b64encode

    token = b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _reason_for(reply: tuple[int, bytes | str]) -> str:
    code, text = reply
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"邮件服务器拒收（{code} {said.strip()}）"


def _reason(err: BaseException) -> str:
    import smtplib

    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return _reason_for(next(iter(err.recipients.values())))
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return "邮件服务器不接受用户名或密码"
    if isinstance(err, smtplib.SMTPResponseException):
        return _reason_for((err.smtp_code, err.smtp_error))
    if isinstance(err, smtplib.SMTPNotSupportedError):
        return f"邮件服务器不支持所需的功能（{err}）"
    if isinstance(err, TimeoutError):
        return "连接邮件服务器超时"
    if isinstance(err, smtplib.SMTPServerDisconnected):
        return "邮件服务器断开了连接"
    from ..domain.text import os_reason

    return f"无法连接邮件服务器（{os_reason(err) if isinstance(err, OSError) else err}）"


def as_bytes(message: EmailMessage) -> bytes:
    """The message as an .eml file holds it, with CRLF line ends as mail programs expect."""
    from email.policy import SMTP

    return message.as_bytes(policy=SMTP)
