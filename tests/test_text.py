"""The text policy itself: what check_text refuses, what inert shows, what markdown_text escapes."""

from __future__ import annotations

import pytest

from gongkai_cli.domain.errors import UsageError
from gongkai_cli.domain.text import check_text, inert, inert_line, markdown_text

pytestmark = pytest.mark.no_ledger


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("甲\x00", "第 2 个字符 U+0000 是控制字符"),
        ("\x1b[2J", "第 1 个字符 U+001B 是控制字符"),
        ("ab\x7f\x1f", "第 4 个字符 U+001F"),
        ("\ufffe", "U+FFFE 是 Unicode 非字符"),
        ("甲乙\uffff", "第 3 个字符 U+FFFF"),
        ("坏\udcff", "字节 \\xff"),
        ("\ud800", "U+D800"),
    ],
)
def test_check_text_refuses_what_xml_forbids_naming_position_and_character(text, needle):
    with pytest.raises(UsageError) as refused:
        check_text(text, "进展说明")
    assert refused.value.message.startswith("进展说明的第 ")
    assert needle in refused.value.message
    assert inert_line(refused.value.message) == refused.value.message


@pytest.mark.parametrize("text", ["", "制表\t换行\n回车\r", "\x7f\x85\x9b", "\u202e倒序", "\ufffd", "😀", "\U0010fffd"])
def test_check_text_keeps_what_xml_allows(text):
    assert check_text(text, "进展说明") == text


def test_inert_shows_every_control_and_forbidden_character_as_an_escape():
    assert inert("a\x1b[2Jb\x07\x9b\u202e\u2066\u061c\ufffe\uffff\ud800") == (
        "a\\x1b[2Jb\\x07\\x9b\\u202e\\u2066\\u061c\\ufffe\\uffff\\ud800"
    )
    assert inert("制表\t换行\n") == "制表\t换行\n"
    assert inert_line("第一行\n第二行\r") == "第一行\\x0a第二行\\x0d"
    assert inert(inert("\x1b")) == inert("\x1b")


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("![t](http://e/x.png)", "\\!\\[t\\](http\\://e/x.png)"),
        # Bare URLs, which GitHub-flavoured viewers would link by themselves; 10:30 is left alone.
        ("见 https://gk.example.gov.cn/a 与 www.example.cn，10:30", "见 https\\://gk.example.gov.cn/a 与 www\\.example.cn，10:30"),
        ("**粗** _斜_ `码` ~~删~~", "\\*\\*粗\\*\\* \\_斜\\_ \\`码\\` \\~\\~删\\~\\~"),
        ("甲|乙\n丙", "甲\\|乙<br>丙"),
        ("a\\b & c", "a\\\\b &amp; c"),
        ("\x1b[2J", "\\\\x1b\\[2J"),
        (None, ""),
        (40, "40"),
    ],
)
def test_markdown_text_escapes_html_and_markdown_syntax(text, escaped):
    assert markdown_text(text) == escaped
