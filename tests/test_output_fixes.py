"""What a user sees from the installed executable: plan order, report files, tables and
help at 80 columns, and the formats each command accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_installed import run  # noqa: F401  (the fixture: the executable as cron runs it)


def _three_plans(run, tmp_path: Path) -> None:
    header = "id,group,content,units,deadline\n"
    (tmp_path / "p2024.csv").write_text(header + "1,组,二〇二四年的任务,区财政局,全年\n", encoding="utf-8")
    (tmp_path / "s.csv").write_text(header + "1,组,二〇二五年的任务,区财政局,全年\n", encoding="utf-8")
    for args in (("init",), ("import", "p2024.csv"), ("import", "s.csv", "--plan", "s2025", "--year", "2025")):
        result = run(*args)
        assert result.returncode == 0, result.stderr


def test_plans_lists_the_default_plan_first_then_the_newest(run, tmp_path):
    _three_plans(run, tmp_path)
    listed = json.loads(run("plans", "-f", "json").stdout)
    assert [(p["name"], p["default"]) for p in listed] == [("2023", "current_year"), ("s2025", None), ("2024", None)]
    table = run("plans", extra_env={"COLUMNS": "120"}).stdout
    names = [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]
    assert names == ["2023", "s2025", "2024"]
