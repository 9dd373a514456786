"""A note id is given once: removing notes (unassign, an undone import) never frees their
numbers for new notes, on either backend (issue 26)."""

from __future__ import annotations

import json
import re

from conftest import write_csv


def _note_id(result) -> int:
    assert result.exit_code == 0, result.stderr
    return int(re.search(r"记录 #(\d+)", result.stdout).group(1))


def test_unassign_does_not_free_the_ids_of_its_notes(gk):
    assert gk("assign", "40", "--unit", "区财政局", "-q").exit_code == 0
    first = _note_id(gk("note", "40", "第一条", "--unit", "区财政局"))
    assert gk("undo", "--yes").exit_code == 0
    # The retracted note goes with the assignment.
    assert gk("unassign", "40", "--unit", "区财政局", "-q").exit_code == 0
    second = _note_id(gk("note", "40", "第二条"))
    assert second > first
    events = json.loads(gk("log", "40", "--format", "json").stdout)
    named = [event["after"]["note"] for event in events if event["action"] == "note"]
    assert named == [first, second]


def test_an_undone_import_does_not_free_the_ids_of_its_notes(gk, tmp_path):
    table = write_csv(tmp_path / "tasks_2030.csv", "id,group,content,units,deadline\n1,组,内容,区财政局,全年\n")
    assert gk("init").exit_code == 0
    assert gk("import", str(table)).exit_code == 0
    first = _note_id(gk("--plan", "2030", "note", "1", "会被撤销"))
    assert gk("undo", "--yes").exit_code == 0  # the note
    assert gk("undo", "--yes").exit_code == 0  # the import, and the retracted note with its task
    second = _note_id(gk("note", "40", "新的一条"))
    assert second > first
