"""Status words: what clerks type for each status (docs/dates.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongkai_cli.errors import UsageError
from gongkai_cli.inputs import parse_status
from gongkai_cli.models import STATUS_WORDS, Status

pytestmark = pytest.mark.no_ledger

DOC = Path(__file__).resolve().parent.parent / "docs" / "dates.md"


@pytest.mark.parametrize(
    "word, status",
    [
        ("完成", Status.DONE), ("已完成", Status.DONE), ("做完", Status.DONE), ("办结", Status.DONE),
        ("done", Status.DONE), ("DONE", Status.DONE), (" 完成 ", Status.DONE),
        ("进行", Status.DOING), ("进行中", Status.DOING), ("开始", Status.DOING), ("在办", Status.DOING),
        ("受阻", Status.BLOCKED), ("卡住", Status.BLOCKED), ("阻塞", Status.BLOCKED),
        ("取消", Status.CANCELLED), ("作废", Status.CANCELLED), ("已取消", Status.CANCELLED),
        ("canceled", Status.CANCELLED),
        ("未开始", Status.TODO), ("待办", Status.TODO), ("todo", Status.TODO),
    ],
)
def test_status_words(word, status):
    assert parse_status(word) is status


def test_no_word_means_two_statuses():
    words = [word for group in STATUS_WORDS.values() for word in group]
    assert len(words) == len(set(words))
    assert all(STATUS_WORDS[status][:2] == (status.value, status.label) for status in Status)


def test_an_unknown_status_lists_every_accepted_word():
    with pytest.raises(UsageError) as caught:
        parse_status("差不多")
    assert "“差不多”" in caught.value.message
    for word in (w for group in STATUS_WORDS.values() for w in group):
        assert word in caught.value.message


def test_the_words_page_lists_every_status_word():
    page = DOC.read_text(encoding="utf-8")
    for word in (w for group in STATUS_WORDS.values() for w in group):
        assert word in page
