"""Writes land once and where they belong, on either backend (issue 26): a note id is given once,
and removing notes (unassign, an undone import) never frees their numbers; a unit a re-import
keeps because it worked on the task no longer leads it."""

from __future__ import annotations

import json

from conftest import write_csv


def _note_id(result) -> int:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["id"]


def test_unassign_does_not_free_the_ids_of_its_notes(gk):
    assert gk("assign", "40", "--unit", "区财政局", "-q").exit_code == 0
    first = _note_id(gk("note", "40", "第一条", "--unit", "区财政局", "-f", "json"))
    assert gk("undo", "--yes").exit_code == 0
    # The retracted note goes with the assignment.
    assert gk("unassign", "40", "--unit", "区财政局", "-q").exit_code == 0
    second = _note_id(gk("note", "40", "第二条", "-f", "json"))
    assert second > first
    events = json.loads(gk("log", "40", "--format", "json").stdout)
    named = [event["after"]["note"] for event in events if event["action"] == "note"]
    assert named == [first, second]


def test_an_undone_import_does_not_free_the_ids_of_its_notes(gk, tmp_path):
    table = write_csv(tmp_path / "tasks_2030.csv", "id,group,content,units,deadline\n1,组,内容,区财政局,全年\n")
    assert gk("init").exit_code == 0
    assert gk("import", str(table)).exit_code == 0
    first = _note_id(gk("--plan", "2030", "note", "1", "会被撤销", "-f", "json"))
    assert gk("undo", "--yes").exit_code == 0  # the note
    assert gk("undo", "--yes").exit_code == 0  # the import, and the retracted note with its task
    second = _note_id(gk("note", "40", "新的一条", "-f", "json"))
    assert second > first


def test_a_reimport_that_drops_the_lead_unit_with_notes_leaves_one_lead(gk, tmp_path):
    header = "id,group,content,units,deadline\n"
    table = write_csv(tmp_path / "tasks_2030.csv", header + "1,组,内容,区财政局、区民政局,全年\n")
    assert gk("init").exit_code == 0
    assert gk("import", str(table)).exit_code == 0
    assert gk("--plan", "2030", "note", "1", "已开始", "--unit", "区财政局").exit_code == 0
    # The new table names another lead; the old one worked on the task, so it stays.
    write_csv(table, header + "1,组,内容,区民政局、区司法局,全年\n")
    assert gk("import", str(table)).exit_code == 0
    shown = json.loads(gk("--plan", "2030", "show", "1", "--format", "json").stdout)
    leads = [part["unit"] for part in shown["assignments"] if part["lead"]]
    assert leads == ["区民政局"]
    assert shown["lead_unit"] == "区民政局"
    assert "区财政局" in [part["unit"] for part in shown["assignments"]]
    # Undoing the re-import gives the old lead back.
    assert gk("undo", "--yes").exit_code == 0
    shown = json.loads(gk("--plan", "2030", "show", "1", "--format", "json").stdout)
    assert [part["unit"] for part in shown["assignments"] if part["lead"]] == ["区财政局"]
