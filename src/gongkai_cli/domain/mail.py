"""E-mail addresses as the office types them, checked before they are kept or used."""

from __future__ import annotations

import re

from .errors import UsageError

# RFC 5321's limit on a whole address.
MAX_ADDRESS = 254
# Deliberately plain: one @, no spaces, brackets, commas or quotes, a dotted domain. A mail
# server decides the rest; this only keeps out what would break a header or name two people.
_ADDRESS = r"[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\.]+(?:\.[^@\s<>,;:\"()\[\]\\.]+)+"


def check_address(text: str, what: str) -> str:
    """The address in `text` ("名称 <a@b.cn>" or "a@b.cn"), or UsageError naming `what`."""
    from email.utils import parseaddr

    if "\n" in text or "\r" in text:
        raise UsageError(f"{what}“{text.strip()}”含有换行，不是邮件地址。")
    _, address = parseaddr(text)
    if not address or len(address) > MAX_ADDRESS or not re.fullmatch(_ADDRESS, address):
        raise UsageError(f"{what}“{text}”不是有效的邮件地址，应形如 gkb@example.gov.cn。")
    return address
