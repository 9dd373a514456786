"""Status words: what clerks type for each status (docs/dates.md); the order a history payload is shown in."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongkai_cli.domain.errors import UsageError
from gongkai_cli.domain.records import Event
from gongkai_cli.domain.statuses import STATUS_WORDS, Status
from gongkai_cli.inputs.typed import parse_status

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


def _event(action: str, before, after, undoes_action: str | None = None) -> Event:
    return Event(id=2, at="2023-04-01T09:00:00+08:00", by="甲", action=action, plan="2023", task=None,
                 before=before, after=after, undoes=1 if undoes_action else None, undoes_action=undoes_action)


def test_a_payload_is_shown_in_its_actions_key_order_whatever_order_it_was_read_in():
    """As a server's jsonb returns them: keys by length. Shown as the store writes them (models.PAYLOAD_KEYS)."""
    task = {"due": None, "group": "g", "start": None, "units": ["乙"], "content": "c", "deadline": "全年"}
    read = {"plan": None, "tasks": {"3": task, "12": None, "100": task}, "assignments": {}}
    shown = _event("import", read, None).shown("before")
    assert list(shown) == ["plan", "tasks", "assignments"]
    assert list(shown["tasks"]) == ["3", "12", "100"]
    assert list(shown["tasks"]["3"]) == ["group", "content", "units", "deadline", "start", "due"]
    status = _event("status", {"units": {"区农业农村委": "todo", "区交通委": "doing"}, "status": "todo"},
                    {"all": True, "note": 4, "text": "t", "status": "done", "later": 1, "count": 2})
    assert list(status.shown("before")) == ["status", "units"]
    assert list(status.shown("before")["units"]) == ["区交通委", "区农业农村委"]  # code point order
    assert list(status.shown("after")) == ["note", "text", "count", "status", "all", "later"]  # unknown keys last
    undo = _event("undo", status.after, status.before, undoes_action="status")
    assert list(undo.shown("before")) == ["note", "text", "count", "status", "all", "later"]
    assert list(undo.shown("after")) == ["status", "units"]
    assert list(_event("newer", {"b": 1, "a": {"d": 1, "c": 2}}, None).shown("before")["a"]) == ["c", "d"]
    assert _event("note", None, {"text": "x", "note": 1}).shown("before") is None
