"""Quantitative targets (不少于4次): detection, counting notes, and where progress shows."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from datetime import date

import pytest

from gongkai_cli.domain.targets import detect_target
from gongkai_cli.ledger import bundled_plan_path
from gongkai_cli.store.migrations import SCHEMA_VERSION, SQLITE_MIGRATIONS as MIGRATIONS
from gongkai_cli.store.sqlite import SQLiteStore as Store


@pytest.mark.no_ledger
def test_every_target_of_the_2023_plan_is_found_and_nothing_else():
    with bundled_plan_path().open(encoding="utf-8") as plan:
        found = {int(row["id"]): detect_target(row["content"]) for row in csv.DictReader(plan)}
    assert {task: target for task, target in found.items() if target} == {60: 4, 84: 1, 86: 1}


@pytest.mark.no_ledger
@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("区政府年内不少于4次，各单位不少于1次", 4),   # the first count is the lead's
        ("主要负责同志每年至少专题听取1次工作汇报", 1),
        ("每年开展两次以上专题培训", 2),
        ("不少于 4 次", 4),
        ("决策出台后的10个工作日内公开", None),
        ("至少一项，不少于3次", 3),
        ("不少于0次", None),
    ],
)
def test_detect_target(text, target):
    assert detect_target(text) == target


def test_notes_count_towards_the_target(gk):
    assert gk("note", "60", "第一次列席", "--count", "1").exit_code == 0
    gk("note", "60", "第二、三次列席", "-c", "2")
    gk("note", "60", "筹备第四次")  # an ordinary note counts nothing
    task = json.loads(gk("show", "60", "-f", "json").stdout)
    assert (task["target"], task["progress"]) == (4, 3)
    assert [n["count"] for n in task["notes"]] == [1, 2, None]
    assert re.search(r"目标次数 +3/4", gk("show", "60").stdout)
    listed = gk("list", "--search", "列席")
    assert "次数" in listed.stdout and "3/4" in listed.stdout


def test_tasks_without_a_target(gk):
    task = json.loads(gk("show", "40", "-f", "json").stdout)
    assert (task["target"], task["progress"]) == (None, 0)
    assert "次数" not in gk("list", "--unit", "区财政局", "--direct").stdout


@pytest.mark.parametrize("count", ["0", "-1", "abc", "1.5", ""])
def test_bad_counts_are_exit_2_and_write_nothing(gk, count):
    result = gk("note", "60", "x", "--count", count)
    assert result.exit_code == 2 and f"“{count}”" in result.stderr
    assert json.loads(gk("show", "60", "-f", "json").stdout)["notes"] == []


def test_reaching_the_target_does_not_close_the_task_but_summary_says_so(gk):
    gk("note", "84", "已专题听取汇报", "--count", "1")
    task = json.loads(gk("show", "84", "-f", "json").stdout)
    assert task["status"] == "todo" and task["progress"] == task["target"] == 1
    data = json.loads(gk("summary", "-f", "json").stdout)
    assert data["target_reached"] == [84]
    assert "已达到目标次数但尚未标记完成：任务 84（1/1）" in gk("summary").stdout
    gk("status", "84", "--all", "done")
    assert json.loads(gk("summary", "-f", "json").stdout)["target_reached"] == []


@pytest.mark.sqlite_only("upgrades an old release's SQLite file")
def test_a_version_1_database_is_migrated_keeping_its_notes(tmp_path):
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0].body("sqlite")(conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO plans VALUES ('2023', 2023, 'a.csv', 'x', 'x')")
    conn.execute("INSERT INTO tasks (plan, id, group_name, content, units, deadline, status, updated_at) "
                 "VALUES ('2023', 1, '组', '不少于2次', '', '全年', 'todo', 'x')")
    conn.execute("INSERT INTO notes (task, at, by, text) VALUES (1, 'x', '甲', '旧记录')")
    conn.close()
    store = Store.open(path)
    try:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        task = store.tasks.task("2023", 1, today=date(2023, 4, 1))
        assert [(n.text, n.count) for n in task.notes] == [("旧记录", None)]
        assert (task.target, task.progress) == (2, 0)
    finally:
        store.close()


def test_undoing_a_counted_note_takes_its_count_back(gk):
    gk("note", "60", "第一次列席", "--count", "2")
    assert "进展：第一次列席（计 2 次）" in gk("log", "60").stdout
    assert gk("undo", "--yes").exit_code == 0
    task = json.loads(gk("show", "60", "-f", "json").stdout)
    assert (task["progress"], task["notes"]) == (0, [])
