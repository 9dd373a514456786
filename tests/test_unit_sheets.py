"""The Excel round trip of issue 12: a unit fills in its rows of the 各单位进展 sheet, the office
imports the file back; through the installed executable, the files edited with openpyxl."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import openpyxl
import pytest

from gongkai_cli.outputs.columns import ASSIGNMENT_SHEET, ASSIGNMENT_SHEET_TITLE
from processes import cron_env, in_process, without_notice

TOWNS = ("嘉定镇街道", "新成路街道", "真新街道", "菊园新区", "南翔镇", "安亭镇", "马陆镇", "徐行镇", "华亭镇", "外冈镇",
         "江桥镇", "嘉定工业区")
VISIBLE = ["序号", "任务内容", "责任单位", "经", "牵头", "时间节点", "截止日期", "状态", "最新进展"]


@pytest.fixture
def run(executable: str, tmp_path: Path, ledger_db: str):
    """The installed executable against a fresh ledger, on each backend; `run.read` runs the reads
    that check its work in-process, against the same ledger."""
    env = cron_env(tmp_path, Path(ledger_db), today="2023-04-14", user="公开办") | {"GONGKAI_DB": ledger_db}

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
                              env=env, cwd=tmp_path, timeout=60)

    call.read = in_process(env)
    return call


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]):
    return json.loads(ok(result))


def refused(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    error = without_notice(result.stderr)
    assert result.stdout == "" and error.startswith("错误：") and error.count("\n") == 1
    for needle in needles:
        assert needle in error, result.stderr
    return error


def sheet_rows(path: Path) -> dict[tuple[int, str], dict[str, object]]:
    """The 各单位进展 sheet's rows by (序号, 责任单位), each {header: value}."""
    sheet = openpyxl.load_workbook(path)[ASSIGNMENT_SHEET_TITLE]
    header = [cell.value for cell in sheet[1]]
    rows = {}
    for values in sheet.iter_rows(min_row=2, values_only=True):
        row = dict(zip(header, values, strict=True))
        rows[(row["序号"], row["责任单位"])] = row
    return rows


def edit(path: Path, target: Path, changes: dict[tuple[int, str], dict[str, object]]) -> Path:
    """What a clerk does in Excel: change cells of some rows, save under another name."""
    book = openpyxl.load_workbook(path)
    sheet = book[ASSIGNMENT_SHEET_TITLE]
    header = [cell.value for cell in sheet[1]]
    found = set()
    for number in range(2, sheet.max_row + 1):
        key = (sheet.cell(number, 1).value, sheet.cell(number, header.index("责任单位") + 1).value)
        for name, value in changes.get(key, {}).items():
            sheet.cell(number, header.index(name) + 1).value = value
            found.add(key)
    assert found == set(changes), set(changes) - found
    book.save(target)
    return target


def unit_status(run, task_id: int, unit: str) -> dict:
    shown = as_json(run.read("show", str(task_id), "--format", "json"))
    return next(a for a in shown["assignments"] if a["unit"] == unit)


def event_count(run) -> int:
    return len(as_json(run.read("log", "--format", "json")))


# -- the export ------------------------------------------------------------------------------


@pytest.mark.slow  # the whole plan's workbook, checked row by row against 91 tasks: over a second
def test_the_workbook_has_one_row_per_task_and_unit_with_only_status_and_progress_open(run, tmp_path):
    ok(run("status", "62", "doing", "--unit", "马陆镇", "--note", "已起草目录"))
    ok(run("status", "62", "done", "--unit", "江桥镇"))  # a status change says nothing: the words stay
    ok(run("export", "-o", "台账.xlsx"))
    book = openpyxl.load_workbook(tmp_path / "台账.xlsx")
    assert book.sheetnames == ["任务", "进展记录", ASSIGNMENT_SHEET_TITLE, "打印版", "打印版（各单位）"]
    sheet = book[ASSIGNMENT_SHEET_TITLE]
    header = [cell.value for cell in sheet[1]]
    assert header[:9] == VISIBLE
    assert header == [column.header for column in ASSIGNMENT_SHEET]

    rows = sheet_rows(tmp_path / "台账.xlsx")
    assert len([key for key in rows if key[0] == 62]) == 43
    malu = rows[(62, "马陆镇")]
    assert (malu["经"], malu["牵头"], malu["状态"], malu["最新进展"]) == ("各街镇", None, "进行中", "已起草目录")
    assert (malu["时间节点"], malu["截止日期"].date().isoformat(), malu["计划"]) == ("3月31日前", "2023-03-31", "2023")
    assert rows[(62, "江桥镇")]["状态"] == "已完成" and rows[(62, "江桥镇")]["最新进展"] is None
    shown = as_json(run.read("show", "40", "--format", "json"))
    lead = shown["assignments"][0]["unit"]
    assert rows[(40, lead)]["牵头"] == "牵头"
    total = sum(len(as_json(run.read("show", str(task["id"]), "--format", "json"))["assignments"])
                for task in as_json(run.read("list", "--format", "json")))
    assert len(rows) == total

    # Only 状态 and 最新进展 can be typed in (no password: a guard against slips), 状态 from a
    # list, and the stamps import reads back are hidden.
    assert sheet.protection.sheet
    letters = {name: openpyxl.utils.get_column_letter(index) for index, name in enumerate(header, start=1)}
    assert not sheet[f"{letters['状态']}2"].protection.locked
    assert not sheet[f"{letters['最新进展']}2"].protection.locked
    assert sheet[f"{letters['序号']}2"].protection.locked and sheet[f"{letters['责任单位']}2"].protection.locked
    assert [name for name, letter in letters.items() if sheet.column_dimensions[letter].hidden] == header[9:]
    (choices,) = sheet.data_validations.dataValidation
    assert choices.formula1 == '"未开始,进行中,已完成,受阻,已取消"'
    # A typed 完成 is warned about, never refused: the importer reads it (docs/exports.md).
    assert choices.errorStyle == "warning" and choices.showErrorMessage
    assert str(choices.sqref) == f"{letters['状态']}2:{letters['状态']}{len(rows) + 1}"


def test_export_unit_gives_one_unit_its_own_rows_under_any_of_its_names(run, tmp_path):
    out = ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    assert out.startswith("已导出计划“2023”中“马陆镇”的 ") and "gongkai import" in out
    book = openpyxl.load_workbook(tmp_path / "马陆镇.xlsx")
    assert book.sheetnames == [ASSIGNMENT_SHEET_TITLE]
    rows = sheet_rows(tmp_path / "马陆镇.xlsx")
    mine = as_json(run.read("list", "--unit", "马陆镇", "--format", "json"))
    assert sorted(task_id for task_id, _ in rows) == [task["id"] for task in mine]
    assert {unit for _, unit in rows} == {"马陆镇"}

    ok(run("export", "--unit", "区大数据中心", "-o", "大数据.xlsx"))
    assert {unit for _, unit in sheet_rows(tmp_path / "大数据.xlsx")} == {"区行政服务中心（区大数据中心）"}

    ok(run("export", "--unit", "各街镇", "-o", "街镇.xlsx"))
    towns = sheet_rows(tmp_path / "街镇.xlsx")
    assert {unit for _, unit in towns} == set(TOWNS)
    assert {unit for task_id, unit in towns if task_id == 62} == set(TOWNS)


def test_export_unit_refuses_an_unknown_unit_and_formats_without_the_round_trip(run, tmp_path):
    refused(run("export", "--unit", "马陆", "-o", "x.xlsx"), "未知的责任单位“马陆”", "马陆镇")
    refused(run("export", "--unit", "马陆镇", "-o", "x.csv"), "xlsx")
    refused(run("export", "--unit", "马陆镇", "-f", "json"), "xlsx")
    assert not list(tmp_path.glob("x.*"))


# -- the round trip (the Done-when) -----------------------------------------------------


@pytest.mark.slow  # the whole plan's workbook exported, edited and imported: about two seconds
def test_edited_workbook_applies_one_units_statuses_and_progress_as_its_own_events(run, tmp_path):
    ok(run("export", "-o", "台账.xlsx"))
    before = event_count(run)
    edit(tmp_path / "台账.xlsx", tmp_path / "填好.xlsx", {
        (62, "马陆镇"): {"状态": "已完成", "最新进展": "目录已于3月28日在门户网站公开"},
        (1, "马陆镇"): {"状态": "进行中"},
        (2, "马陆镇"): {"最新进展": "已报送区新城推进办"},
        (4, "马陆镇"): {"状态": "完成"},  # any word status accepts
    })
    result = run("import", "填好.xlsx")
    out = ok(result)
    assert result.stderr == ""
    assert "计划“2023”" in out and "更新 4 行" in out and "冲突 0 行" in out
    assert "任务 62 马陆镇：状态 未开始 → 已完成；新进展“目录已于3月28日在门户网站公开”" in out
    assert "任务 2 马陆镇：新进展“已报送区新城推进办”" in out

    malu = unit_status(run, 62, "马陆镇")
    assert malu["status"] == "done" and malu["notes"][-1]["text"] == "目录已于3月28日在门户网站公开"
    assert malu["notes"][-1]["by"] == "马陆镇"
    assert unit_status(run, 62, "江桥镇")["status"] == "todo"
    shown = as_json(run.read("show", "62", "--format", "json"))
    assert shown["unit_progress"] == {"done": 1, "total": 43}
    listed = {task["id"]: task["assignment"]["status"] for task in as_json(run.read("list", "--unit", "马陆镇", "--format", "json"))}
    assert (listed[62], listed[1], listed[2], listed[4]) == ("done", "doing", "todo", "done")
    assert unit_status(run, 2, "马陆镇")["notes"][-1]["text"] == "已报送区新城推进办"

    events = as_json(run.read("log", "--format", "json"))
    assert len(events) == before + 4
    assert {(e["task"], e["action"], e["by"]) for e in events[before:]} == {
        (62, "status", "马陆镇"), (1, "status", "马陆镇"), (2, "note", "马陆镇"), (4, "status", "马陆镇")}

    # The same file again: everything in it is in the ledger already.
    again = ok(run("import", "填好.xlsx"))
    assert "更新 0 行" in again and "冲突 0 行" in again
    assert event_count(run) == before + 4


def test_undo_takes_back_an_applied_row_like_any_write(run, tmp_path):
    ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    edit(tmp_path / "马陆镇.xlsx", tmp_path / "填好.xlsx", {(62, "马陆镇"): {"状态": "已完成", "最新进展": "已公开"}})
    ok(run("import", "填好.xlsx"))
    assert unit_status(run, 62, "马陆镇")["status"] == "done"
    ok(run("undo", "--yes"))
    undone = unit_status(run, 62, "马陆镇")
    assert undone["status"] == "todo" and undone["notes"] == []
    # Undone, the ledger is as exported again: the file applies once more.
    assert "更新 1 行" in ok(run("import", "填好.xlsx"))


def test_a_row_changed_in_the_ledger_since_the_export_is_a_conflict_and_the_newer_work_stays(run, tmp_path):
    ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    ok(run("status", "62", "blocked", "--unit", "马陆镇", "--note", "等待区司法局审核"))
    edit(tmp_path / "马陆镇.xlsx", tmp_path / "填好.xlsx", {
        (62, "马陆镇"): {"状态": "已完成"},
        (2, "马陆镇"): {"最新进展": "已报送"},
    })
    before = event_count(run)
    result = run("import", "填好.xlsx")
    out = ok(result)
    assert "更新 1 行" in out and "冲突 1 行" in out
    (line,) = result.stderr.splitlines()
    assert line.startswith("冲突：第 ") and "任务 62 马陆镇" in line and "受阻" in line and "等待区司法局审核" in line
    assert "已完成" in line and "台账保持不变" in line
    kept = unit_status(run, 62, "马陆镇")
    assert kept["status"] == "blocked" and kept["notes"][-1]["text"] == "等待区司法局审核"
    assert unit_status(run, 2, "马陆镇")["notes"][-1]["text"] == "已报送"
    assert event_count(run) == before + 1

    # Only conflicts left: exit 2, nothing written.
    result = run("import", "填好.xlsx")
    assert result.returncode == 2 and result.stdout.count("\n") == 1
    assert result.stderr.splitlines()[0].startswith("冲突：第 ")
    assert result.stderr.splitlines()[-1].startswith("错误：") and "未做任何更改" in result.stderr
    assert event_count(run) == before + 1


def test_a_row_left_as_exported_is_unchanged_even_when_the_ledger_moved_on(run, tmp_path):
    ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    ok(run("status", "62", "done", "--unit", "马陆镇"))
    result = run("import", "马陆镇.xlsx")
    assert "更新 0 行" in ok(result) and "冲突 0 行" in result.stdout and result.stderr == ""
    assert unit_status(run, 62, "马陆镇")["status"] == "done"


def test_a_towns_collective_file_is_edited_and_imported(run, tmp_path):
    ok(run("export", "--unit", "各街镇", "-o", "街镇.xlsx"))
    edit(tmp_path / "街镇.xlsx", tmp_path / "填好.xlsx", {
        (62, "江桥镇"): {"状态": "已完成"},
        (62, "南翔镇"): {"状态": "受阻", "最新进展": "待区政府办复核"},
    })
    assert "更新 2 行" in ok(run("import", "填好.xlsx"))
    assert unit_status(run, 62, "江桥镇")["status"] == "done"
    assert unit_status(run, 62, "南翔镇")["status"] == "blocked"
    assert as_json(run.read("show", "62", "--format", "json"))["status"] == "blocked"


# -- bad input: one Chinese sentence naming the row, nothing changed ------------------------------


@pytest.mark.parametrize(("changes", "needles"), [
    ({"状态": "差不多了"}, ("第 ", "无效的状态“差不多了”")),
    ({"状态": None}, ("“状态”是空的",)),
    ({"序号": 63}, ("“序号”或“责任单位”与导出时不同", "导出时为序号 62、马陆镇", "现为序号 63、马陆镇")),
    ({"责任单位": "江桥镇"}, ("“序号”或“责任单位”与导出时不同", "现为序号 62、江桥镇")),
    ({"序号": 999, "行标识": "999/马陆镇"}, ("计划“2023”中没有序号为 999 的任务",)),
    ({"责任单位": "某某单位", "行标识": "62/某某单位"}, ("任务 62 没有分配给“某某单位”",)),
    ({"行标识": "马陆镇"}, ("隐藏的“行标识”列被改动了",)),
    # A superscript two is a digit to str.isdigit, not to int().
    ({"行标识": "²/马陆镇"}, ("隐藏的“行标识”列被改动了",)),
    ({"行标识": f"{'6' * 5000}/马陆镇"}, ("隐藏的“行标识”列被改动了",)),
    ({"计划": "2022"}, ("这一行属于计划“2022”", "计划“2023”")),
], ids=["status-word", "status-empty", "id-edited", "unit-edited", "no-such-task", "unit-not-assigned",
        "key-broken", "key-superscript", "key-huge", "two-plans"])
def test_a_bad_row_refuses_the_whole_sheet_naming_the_row(run, tmp_path, changes, needles):
    ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    rows = sheet_rows(tmp_path / "马陆镇.xlsx")
    line = 2 + list(rows).index((62, "马陆镇"))
    edits = {(1, "马陆镇"): {"状态": "已完成"}, (62, "马陆镇"): {"最新进展": "已公开", **changes}}
    edit(tmp_path / "马陆镇.xlsx", tmp_path / "坏.xlsx", edits)
    before = event_count(run)
    message = refused(run("import", "坏.xlsx"), *needles, "整个表格未导入")
    assert f"第 {line} 行：" in message
    assert event_count(run) == before
    assert unit_status(run, 1, "马陆镇")["status"] == "todo"


def test_a_sheet_of_another_plan_is_refused(run, tmp_path):
    ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    refused(run("import", "--plan", "2024", "马陆镇.xlsx"), "是计划“2023”的各单位进展表，不是计划“2024”的")
    book = openpyxl.load_workbook(tmp_path / "马陆镇.xlsx")
    sheet = book[ASSIGNMENT_SHEET_TITLE]
    column = [cell.value for cell in sheet[1]].index("计划") + 1
    for number in range(2, sheet.max_row + 1):
        sheet.cell(number, column).value = "2022"
    book.save(tmp_path / "2022.xlsx")
    refused(run("import", "2022.xlsx"), "是计划“2022”的各单位进展表，但台账中没有这份计划")
    refused(run("import", "--year", "2023", "马陆镇.xlsx"), "--year 和 --strict 只用于导入任务分解表")
    assert event_count(run) == 1  # the bundled plan's import


def test_a_workbook_without_the_sheet_is_still_a_plan_table(run, tmp_path):
    ok(run("export", "-o", "台账.xlsx"))
    book = openpyxl.load_workbook(tmp_path / "台账.xlsx")
    del book[ASSIGNMENT_SHEET_TITLE]
    book.save(tmp_path / "tasks_2023.xlsx")
    assert "已导入计划“2023”" in ok(run("import", "tasks_2023.xlsx"))


@pytest.mark.slow
def test_libreoffice_opens_the_unit_sheet(run, tmp_path):
    from libreoffice import convert

    ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    # 76: UTF-8, so the Chinese cells can be compared.
    converted = convert(tmp_path / "马陆镇.xlsx", "csv:Text - txt - csv (StarCalc):44,34,76", tmp_path)
    lines = converted.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith(",".join(VISIBLE))
    assert len(lines) == 1 + len(sheet_rows(tmp_path / "马陆镇.xlsx"))
    assert "马陆镇" in lines[1] and "未开始" in lines[1]


# -- a note longer than a cell holds ----------------------------------------------------------


def test_a_note_too_long_for_a_cell_is_not_taken_back_as_an_edit(run, tmp_path):
    from gongkai_cli.outputs.columns import CUT_MARK, SHEET_CELL_CHARS

    long = "甲" * 10_000 + "a" * 25_000  # 35,000 characters in 55,000 bytes: within the 64 KiB a note may hold
    ok(run("note", "62", long, "--unit", "马陆镇"))
    ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    cell = sheet_rows(tmp_path / "马陆镇.xlsx")[(62, "马陆镇")]["最新进展"]
    assert len(cell) == SHEET_CELL_CHARS and cell.endswith(CUT_MARK)
    before = event_count(run)
    # The untouched sheet: nothing changed.
    assert "更新 0 行" in ok(run("import", "马陆镇.xlsx"))
    assert event_count(run) == before
    # Only the status changed: no cut copy of the note is stored.
    edit(tmp_path / "马陆镇.xlsx", tmp_path / "改.xlsx", {(62, "马陆镇"): {"状态": "进行中"}})
    assert "更新 1 行" in ok(run("import", "改.xlsx"))
    shown = unit_status(run, 62, "马陆镇")
    assert shown["status"] == "doing"
    assert [note["text"] for note in shown["notes"] if note["text"]] == [long]


def test_a_cut_note_rewritten_in_the_sheet_is_refused(run, tmp_path):
    from gongkai_cli.outputs.columns import CUT_MARK

    ok(run("note", "62", "b" * 40_000, "--unit", "马陆镇"))
    ok(run("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx"))
    edit(tmp_path / "马陆镇.xlsx", tmp_path / "改.xlsx", {(62, "马陆镇"): {"最新进展": "改了开头" + CUT_MARK}})
    before = event_count(run)
    refused(run("import", "改.xlsx"), "被截断", "整个表格未导入")
    assert event_count(run) == before
