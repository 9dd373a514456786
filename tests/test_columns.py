"""Columns declared once: both CSV shapes of a task are selections of the same declarations."""

from __future__ import annotations

import csv
import io

import pytest

from gongkai_cli.domain.statuses import Status
from gongkai_cli.outputs.columns import TASK, TASK_FIELDS, TASK_JSON, TASK_OFFICE, TASK_SCRIPT


@pytest.mark.no_ledger
def test_script_csv_and_json_carry_the_same_contract_keys():
    # Objects have no CSV cell: a unit's own part and the units' progress are JSON only.
    objects = {"unit_progress", "assignment"}
    # What `task add / edit / drop` and the plan's own cell add to a task: JSON only (docs/json.md).
    objects |= {"planned_units", "source", "planned", "dropped_at", "key_task"}
    assert {column.key for column in TASK_SCRIPT} == {column.key for column in TASK_JSON} - objects
    assert {column.key for column in TASK_JSON} == set(TASK_FIELDS)


def test_list_csv_and_export_csv_show_the_same_task_two_ways(gk):
    gk("init")
    gk("note", "40", "试点完成")
    scripts = {row["id"]: row for row in csv.DictReader(io.StringIO(gk("list", "-f", "csv").stdout))}["40"]
    office_text = gk("export", "-f", "csv").stdout
    office = {row["序号"]: row for row in csv.DictReader(io.StringIO(office_text))}["40"]
    assert office_text.splitlines()[0] == ",".join(column.header for column in TASK_OFFICE)
    # Scripts get the contract's keys and values, offices the same columns' Chinese headers and text.
    for key in ("id", "group", "content", "units", "lead_unit", "deadline", "due", "updated_at"):
        assert office[TASK[key].header] == scripts[key], key
    assert office["状态"] == Status(scripts["status"]).label
    assert office["是否逾期"] == {"true": "是", "false": "否"}[scripts["overdue"]]
    assert office["最新进展"] == "试点完成"
