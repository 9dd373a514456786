"""Renderers: every format from the same records, nothing interpreted from user text."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from gongkai_cli.domain.errors import UsageError
from gongkai_cli.domain.records import Note, Plan, Task
from gongkai_cli.domain.statuses import Status
from gongkai_cli.outputs import render, writers
from gongkai_cli.outputs.columns import TASK_SCRIPT

pytestmark = pytest.mark.no_ledger

ESC = "\x1b"


def make_task(**changes) -> Task:
    fields = {
        "id": 40, "plan": "2023", "group": "推进政策集中发布", "content": "选取部分领域开展试点",
        "units": ("区政府办公室", "区发展改革委"), "deadline": "4月20日前", "start": None,
        "due": date(2023, 4, 20), "status": Status.TODO, "updated_at": "2023-04-01T09:00:00+08:00",
    }
    fields.update(changes)
    return Task(**fields)


def rendered(fn, *args) -> str:
    out = io.StringIO()
    fn(*args, out)
    return out.getvalue()


def test_json_follows_the_contract():
    (data,) = json.loads(rendered(render.tasks, [make_task(overdue=True)], "json"))
    assert data == {
        "id": 40, "plan": "2023", "group": "推进政策集中发布", "content": "选取部分领域开展试点",
        "units": ["区政府办公室", "区发展改革委"], "lead_unit": "区政府办公室",
        "deadline": "4月20日前", "start": None, "due": "2023-04-20", "status": "todo",
        "overdue": True, "updated_at": "2023-04-01T09:00:00+08:00", "target": None, "progress": 0,
        "unit_progress": {"done": 0, "total": 0},
    }


def test_show_json_carries_notes():
    note = Note(id=7, task_id=40, at="2023-04-02T10:00:00+08:00", by="张三", text="完成", status=Status.DONE)
    data = json.loads(rendered(render.task_detail, make_task(notes=(note,)), "json"))
    assert data["notes"] == [
        {"id": 7, "at": "2023-04-02T10:00:00+08:00", "by": "张三", "text": "完成", "status": "done", "count": None}
    ]


def test_csv_round_trips_commas_quotes_and_newlines():
    tricky = 'a,b "引号"\n第二行'
    text = rendered(render.tasks, [make_task(content=tricky)], "csv")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["content"] == tricky
    assert row["units"] == "区政府办公室、区发展改革委"
    assert row["overdue"] == "false"


def test_tsv_has_one_line_per_task_even_with_tabs_in_text():
    text = rendered(render.tasks, [make_task(content="甲\t乙\n丙"), make_task(id=41)], "tsv")
    lines = text.splitlines()
    assert len(lines) == 3
    assert all(len(line.split("\t")) == len(TASK_SCRIPT) for line in lines)


def test_markdown_escapes_pipes_and_newlines():
    text = rendered(render.tasks, [make_task(content="甲|乙\n丙")], "markdown")
    assert "甲\\|乙<br>丙" in text
    assert text.splitlines()[0].startswith("| 序号 |")


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "tsv", "json"])
def test_no_format_emits_escape_sequences(fmt, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # keep the cell on one line so the check can read it
    hostile = make_task(content="清屏\x1b[2J[bold red]x[/]\u202e倒序", overdue=True)
    text = rendered(render.tasks, [hostile], fmt)
    assert ESC not in text
    if fmt == "json":
        # JSON keeps the stored text exactly, as escapes a parser turns back into it.
        assert json.loads(text)[0]["content"] == hostile.content
    else:
        assert "\u202e" not in text
        # Markup shown literally, not interpreted; Markdown escapes its own link brackets too.
        assert ("\\[bold red\\]x\\[/\\]" if fmt == "markdown" else "[bold red]x[/]") in text


def test_table_on_a_pipe_has_fixed_width_and_no_trailing_spaces(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    text = rendered(render.tasks, [make_task(content="很长的任务内容" * 30)], "table")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert all(line == line.rstrip() for line in lines)
    assert "共 1 项任务" in text


def test_overdue_is_visible_in_table_and_markdown():
    task = make_task(overdue=True)
    assert "未开始·逾期" in rendered(render.tasks, [task], "table")
    assert "未开始·逾期" in rendered(render.tasks, [task], "markdown")


def test_empty_listing_writes_nothing_to_stdout(capsys):
    assert rendered(render.tasks, [], "table") == ""
    assert "没有符合条件的任务" in capsys.readouterr().err
    assert json.loads(rendered(render.tasks, [], "json")) == []
    assert rendered(render.tasks, [], "csv").strip() == ",".join(column.key for column in TASK_SCRIPT)


def test_show_table_marks_the_lead_and_lists_notes():
    note = Note(id=1, task_id=40, at="2023-04-02T10:00:00+08:00", by="张三", text="", status=Status.DONE)
    text = rendered(render.task_detail, make_task(notes=(note,)), "table")
    assert "区政府办公室（牵头）" in text
    assert "状态改为：已完成" in text


def test_plans_mark_the_default():
    plans = [Plan("2024", 2024, 3, "2024-01-02T00:00:00+08:00", "b.csv"),
             Plan("2023", 2023, 91, "2023-01-02T00:00:00+08:00", "a.csv", default="current_year")]
    assert "默认（今年）" in rendered(render.plans, plans, "table")
    assert "默认（最新）" in rendered(render.plans, [plans[0]._replace(default="newest")], "markdown")
    shown = json.loads(rendered(render.plans, plans, "json"))
    assert shown[1]["tasks"] == 91
    assert [plan["default"] for plan in shown] == [None, "current_year"]


def test_unknown_format_names_the_value():
    with pytest.raises(UsageError, match="xml"):
        writers.check_format("xml")


def test_inert_makes_control_characters_visible():
    assert render.inert("a\x1b[2Jb\x00c\u202ed") == "a\\x1b[2Jb\\x00c\\u202ed"
    assert render.inert("保留\n换行") == "保留\n换行"
