"""What typed text may contain, and how stored text is shown so that it can only be read.

One policy for every place text enters or leaves the ledger:

- In: characters that XML 1.0 forbids (C0 controls other than tab, newline and
  carriage return; U+FFFE and U+FFFF; lone surrogates) are refused wherever text is
  stored (notes, authors, plan names, imported cells). The xlsx, ics and HTML
  exports are XML or read by XML tools, and one such character makes the whole
  file unreadable; nobody types them on purpose.
- Out: text already in a ledger (written by an older version or by hand) is
  neutralised by `inert`, which every terminal, CSV, Markdown, xlsx, ics and HTML
  writer applies: control characters, bidi overrides and the XML-forbidden
  characters appear as visible escapes (\\x1b, \\u202e, \\uffff). JSON keeps the
  exact text, with those characters written as \\uXXXX escapes.
"""

from __future__ import annotations

import functools
import re

from .errors import UsageError

_FORBIDDEN = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"

# C0/C1 controls (except tab and newline), bidi controls and the XML-forbidden
# characters: shown text must never move the cursor, clear the screen, flip the
# reading order of a table or make an export unreadable.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff"
_UNSAFE_CHAR = f"[{_UNSAFE}]"
_UNSAFE_IN_LINE = f"[{_UNSAFE}\n]"

# What turns Markdown text into markup: the escape character itself, links and
# images ([ ] !), emphasis and strike-through (* _ ~), code spans (`) and table
# cells (|). Raw HTML (< > &) is escaped as HTML, which every Markdown viewer honours.
_MARKDOWN_SPECIAL = r"([\\`*_\[\]!|~])"
# What makes GitHub-flavoured viewers turn a bare URL into a live link: the ":" of a scheme
# before "//", the "." after "www". Escaped, each is the same character on screen, and cmark-gfm
# links neither (an e-mail address it still links, escaped or not).
_MARKDOWN_AUTOLINK = r"(?i)(?<=[a-z0-9]):(?=//)|(?<=\bwww)\."


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    # Compiled on first use: these character classes take about 0.3 ms each, and a
    # script's JSON listing needs one of them, a note without output none.
    return re.compile(source)


def _printable(text: str, *, line_breaks: bool = True) -> bool:
    """Whether `text` surely holds none of the unsafe characters, checked at C speed.

    Every unsafe character is one that str.isprintable rejects (tests/test_text_safety.py
    checks this), so a printable text needs no escaping and the command is spared compiling
    the unsafe-character classes, the slowest regular expressions of a listing's run.
    """
    text = text.replace("\t", " ")
    return (text.replace("\n", " ") if line_breaks else text).isprintable()


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def inert(text: str) -> str:
    """Make control characters visible (as \\xNN / \\uNNNN) instead of letting a terminal or parser act on them."""
    return text if _printable(text) else _pattern(_UNSAFE_CHAR).sub(_visible, text)


def inert_line(text: str) -> str:
    """`inert`, and a line break shown as \\x0a too: for messages that must stay one line."""
    return text if _printable(text, line_breaks=False) else _pattern(_UNSAFE_IN_LINE).sub(_visible, text)


def json_inert(document: str) -> str:
    """A JSON document whose unsafe characters are written as \\uXXXX escapes: the same data, inert."""
    if _printable(document):
        return document
    return _pattern(_UNSAFE_CHAR).sub(lambda match: f"\\u{ord(match.group()):04x}", document)


def markdown_text(value: object) -> str:
    """Text for any place in a Markdown document (table cell, list item, heading): shown, never rendered.

    Line breaks become <br>, which GitHub, Typora and the Markdown viewers of the
    office's mail and wiki render inside tables and list items alike.
    """
    text = inert("" if value is None else str(value))
    text = _pattern(_MARKDOWN_SPECIAL).sub(r"\\\1", text)
    text = _pattern(_MARKDOWN_AUTOLINK).sub(r"\\\g<0>", text)
    # What html.escape(quote=False) does, without importing html and its entity table on every run.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\n", "<br>")


def check_text(text: str, what: str) -> str:
    """Refuse text holding a character no export could carry; `what` names the input in the message."""
    found = _pattern(_FORBIDDEN).search(text)
    if found is None:
        return text
    code = ord(found.group())
    where = f"{what}的第 {found.start() + 1} 个字符"
    if 0xD800 <= code <= 0xDFFF:
        # Python hands command-line bytes that are not UTF-8 over as U+DC80..U+DCFF, one
        # per byte, so the byte itself can be named; JSON escapes give any lone surrogate.
        shown = f"字节 \\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
        raise UsageError(
            f"{where}不是有效的 UTF-8 文本（{shown}），未保存；请检查终端、脚本或文件的编码设置（应为 UTF-8）。"
        )
    kind = "控制字符" if code <= 0x1F else " Unicode 非字符"
    raise UsageError(
        f"{where} U+{code:04X} 是{kind}，Excel、日历和网页导出都无法容纳，未保存；请删去该字符后重试。"
    )


def _reasons() -> dict[int, str]:
    import errno

    reasons = {
        errno.ENOSPC: "磁盘空间已满",
        errno.EPIPE: "管道已断开",
        errno.EBADF: "标准输出已关闭",
        errno.EACCES: "没有权限",
        errno.EPERM: "没有权限",
        errno.EROFS: "文件系统是只读的",
        errno.ENOENT: "不存在",
        errno.EISDIR: "是目录",
        errno.EFBIG: "文件超过大小上限",
        errno.EIO: "读写出错",
    }
    # Not every platform has disk quotas (Windows lacks EDQUOT).
    if hasattr(errno, "EDQUOT"):
        reasons[errno.EDQUOT] = "超出磁盘配额"
    return reasons


def os_reason(err: OSError) -> str:
    """Why an operating-system call failed, in Chinese where the error is a common one.

    The system's own text (err.strerror) is English on most servers, and would be
    the only English in an otherwise Chinese sentence; rarer errors keep it.
    """
    reason = _reasons().get(err.errno) if err.errno is not None else None
    return reason or err.strerror or str(err) or type(err).__name__
