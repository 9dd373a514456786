"""A real SMTP server for the mail tests: aiosmtpd on a loopback port, serving from a thread of
the test process, so that gongkai (in-process or the installed executable) talks SMTP over TCP
to it exactly as to an office's mail server. It keeps what it accepted and refuses any
recipient whose address starts with "nobody@" (550), as a server does for an unknown mailbox."""

from __future__ import annotations

import email
import socket
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

aiosmtpd = pytest.importorskip("aiosmtpd", reason="aiosmtpd is not installed: pip install '.[test]'")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

USER, PASSWORD = "gkb", "口令-2023"


class Mailbox:
    """The server's side: every message it accepted, with the envelope's recipients."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in self.received if address in recipients]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    # handled=False: the server itself then answers 535, as a real one does.
    return AuthResult(success=ok, handled=False)


class Server:
    """A running server: its URL for GONGKAI_SMTP_URL and its mailbox."""

    def __init__(self, *, tls: Any = None) -> None:
        self.mailbox = Mailbox()
        self.port = _free_port()
        options: dict[str, Any] = {}
        if tls is not None:
            context = tls.server_context
            options = {"tls_context": context, "require_starttls": True, "authenticator": _authenticate,
                       "auth_required": True}
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()
        self.running = True

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False
