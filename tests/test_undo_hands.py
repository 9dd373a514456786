"""Undo for many hands (issue 23, item 5): each caller undoes its own newest change, a batch is
one step, the office may name any change, and every confirmation numbers changes as undo does."""

from __future__ import annotations

import json
import re

from conftest import write_csv


def _texts(gk, task: str = "40") -> list[str]:
    shown = json.loads(gk("show", task, "--format", "json").stdout)
    notes = [note["text"] for note in shown["notes"]]
    return notes + [note["text"] for assignment in shown["assignments"] for note in assignment["notes"]]


def _change(result) -> int:
    assert result.exit_code == 0, result.stderr
    return int(re.search(r"更改 #(\d+)", result.stdout).group(1))


def test_two_units_and_the_office_each_undo_only_their_own_change(gk, monkeypatch):
    assert gk("note", "40", "公开办的说明").exit_code == 0
    assert gk("--unit", "区经委", "note", "40", "经委的进展").exit_code == 0
    assert gk("--unit", "区教育局", "note", "40", "商务委的进展").exit_code == 0

    office = gk("undo", "--yes")
    assert office.exit_code == 0, office.stderr
    assert sorted(_texts(gk)) == sorted(["经委的进展", "商务委的进展"])

    economy = gk("--unit", "区经委", "undo", "--yes")
    assert economy.exit_code == 0, economy.stderr
    assert _texts(gk) == ["商务委的进展"]

    monkeypatch.setenv("GONGKAI_UNIT", "区教育局")
    commerce = gk("undo", "--yes")
    assert commerce.exit_code == 0, commerce.stderr
    assert _texts(gk) == []


def test_a_unit_set_in_the_environment_undoes_its_own(gk, monkeypatch):
    assert gk("--unit", "区教育局", "note", "40", "商务委的进展").exit_code == 0
    assert gk("note", "40", "公开办的说明").exit_code == 0
    monkeypatch.setenv("GONGKAI_UNIT", "区教育局")
    result = gk("undo", "--yes")
    assert result.exit_code == 0, result.stderr
    assert _texts(gk) == ["公开办的说明"]
    nothing = gk("undo", "--yes")
    assert nothing.exit_code == 3 and "区教育局写入的没有可以撤销的更改" in nothing.stderr


def test_the_office_undoes_its_own_mistake_after_a_unit_has_written(gk):
    assert gk("status", "40", "--all", "进行").exit_code == 0
    assert gk("--unit", "区经委", "note", "40", "经委的进展").exit_code == 0
    result = gk("undo", "--yes")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(gk("show", "40", "--format", "json").stdout)
    assert shown["status"] == "todo"
    assert _texts(gk) == ["经委的进展"]


def test_a_change_someone_else_built_on_is_refused_with_what_to_undo_first(gk):
    assert gk("status", "40", "--all", "进行").exit_code == 0
    later = _change(gk("--unit", "区经委", "status", "40", "完成"))
    result = gk("undo", "--yes")
    assert result.exit_code == 2
    assert f"要先撤销 #{later}" in result.stderr and "未撤销任何内容" in result.stderr
    shown = json.loads(gk("show", "40", "--format", "json").stdout)
    assert {a["unit"]: a["status"] for a in shown["assignments"]}["区经委"] == "done"


def test_a_batch_of_notes_is_one_undoable_step(gk, tmp_path):
    batch = write_csv(tmp_path / "notes.csv", "id,text\n40,甲\n41,乙\n42,丙\n")
    assert gk("note", "--from", str(batch)).exit_code == 0
    result = gk("undo", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "已撤销同一批写入的 3 项更改" in result.stdout
    assert all(_texts(gk, task) == [] for task in ("40", "41", "42"))
    events = json.loads(gk("log", "--format", "json").stdout)
    assert [event["action"] for event in events].count("undo") == 3


def test_the_office_names_a_change_that_is_not_its_newest(gk):
    first = _change(gk("note", "40", "写错的说明"))
    assert gk("note", "41", "另一条").exit_code == 0
    result = gk("undo", str(first), "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"已撤销 #{first}" in result.stdout
    assert _texts(gk) == [] and _texts(gk, "41") == ["另一条"]


def test_a_unit_cannot_undo_a_change_of_someone_else(gk):
    office = _change(gk("note", "40", "公开办的说明"))
    result = gk("--unit", "区经委", "undo", str(office), "--yes")
    assert result.exit_code != 0
    assert "单位只能撤销本单位自己的更改" in result.stderr
    assert _texts(gk) == ["公开办的说明"]


def test_a_notes_confirmation_and_undo_print_the_same_number(gk):
    number = _change(gk("note", "40", "试点完成"))
    preview = gk("undo", "--yes").stdout.splitlines()[0]
    assert preview.startswith(f"将撤销：#{number}（")
    shown = json.loads(gk("note", "40", "再写一条", "--format", "json").stdout)
    events = json.loads(gk("log", "--format", "json").stdout)
    assert shown["change"] == events[-1]["id"]
