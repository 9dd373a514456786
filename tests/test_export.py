"""`gongkai export` in every format, and .xlsx import through the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime

import icalendar
import openpyxl
import pytest

from conftest import write_csv
from postgres import query

TASK_HEADERS = [
    "序号", "任务名称", "任务内容", "责任单位", "牵头单位", "时间节点", "开始日期", "截止日期",
    "状态", "是否逾期", "最新进展", "最新进展时间", "更新时间", "最新进展单位",
]
NOTE_HEADERS = ["序号", "时间", "单位", "记录人", "状态变更", "内容"]


def tasks_json(gk, *args: str) -> list[dict]:
    result = gk(*args, "list", "-f", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def essentials(tasks: list[dict]) -> list[tuple]:
    return [(t["id"], t["group"], t["content"], t["units"], t["deadline"], t["start"], t["due"]) for t in tasks]


# -- xlsx -------------------------------------------------------------------------------


def test_xlsx_round_trip_into_a_new_database(gk, tmp_path, monkeypatch, other_ledger):
    gk("note", "40", "试点完成")
    target = tmp_path / "台账.xlsx"
    result = gk("export", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "91 项任务" in result.stdout and "xlsx" in result.stdout
    original = tasks_json(gk)

    monkeypatch.setenv("GONGKAI_DB", other_ledger)
    imported = gk("import", str(target), "--plan", "2023")
    assert imported.exit_code == 0, imported.output
    assert "共 91 项" in imported.stdout and imported.stderr == ""
    # The workbook is the new ledger's only plan, on a server too (where a look at the database
    # made the ledger before the import): said once, with the confirmation.
    assert imported.stdout.startswith(f"已新建台账“{other_ledger}”，其中只有本次导入的计划。\n")
    again = tasks_json(gk)
    assert len(again) == 91
    assert essentials(again) == essentials(original)


def test_xlsx_sheets_columns_and_cell_types(gk, tmp_path):
    gk("note", "40", "试点完成", "--by", "张三")
    gk("status", "40", "--all", "done", "--note", "专栏上线", "--by", "李四")
    gk("note", "62", "目录已编制", "--unit", "马陆镇", "--by", "王五")
    target = tmp_path / "out.xlsx"
    gk("export", "-o", str(target))
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["任务", "进展记录", "各单位进展", "打印版", "打印版（各单位）"]
    tasks, notes = book["任务"], book["进展记录"]

    assert [c.value for c in tasks[1]] == TASK_HEADERS
    assert all(c.font.bold for c in tasks[1])
    assert tasks.freeze_panes == "B2"
    assert tasks.max_row == 92
    row = dict(zip(TASK_HEADERS, tasks[41], strict=True))
    assert row["序号"].value == 40
    assert row["截止日期"].value == datetime(2023, 4, 20) and row["截止日期"].is_date
    assert row["截止日期"].number_format == "yyyy-mm-dd"
    assert row["开始日期"].value is None
    assert row["状态"].value == "已完成" and row["是否逾期"].value == "否"
    assert row["最新进展"].value == "［状态改为：已完成］ 专栏上线"
    assert row["最新进展时间"].is_date and row["更新时间"].is_date
    assert row["任务内容"].alignment.wrap_text
    assert tasks.column_dimensions["C"].width > tasks.column_dimensions["A"].width
    overdue = {header: cell.value for header, cell in zip(TASK_HEADERS, tasks[63], strict=True)}
    assert (overdue["序号"], overdue["是否逾期"]) == (62, "是")  # due 3月31日, today 2023-04-01

    assert [c.value for c in notes[1]] == NOTE_HEADERS
    assert notes.freeze_panes == "B2"
    body = [[c.value for c in r][:1] + [c.value for c in r][2:] for r in notes.iter_rows(min_row=2)]
    # 单位: whose part a note is on; empty for a note on the task as a whole.
    assert body == [[40, None, "张三", None, "试点完成"], [40, "全部单位", "李四", "已完成", "专栏上线"],
                    [62, "马陆镇", "王五", None, "目录已编制"]]
    assert dict(zip(TASK_HEADERS, (c.value for c in tasks[63]), strict=True))["最新进展单位"] == "马陆镇"
    assert notes["B2"].is_date


def test_xlsx_keeps_typed_text_literal(gk, tmp_path, db_path):
    gk("note", "40", "=1+1")
    gk("note", "41", "响铃了")
    # A control character is refused at input now; a ledger may still hold one from before.
    query(db_path, "UPDATE notes SET text = ? WHERE text = ?", ("响铃\x07了", "响铃了"))
    target = tmp_path / "out.xlsx"
    assert gk("export", "-o", str(target)).exit_code == 0
    notes = openpyxl.load_workbook(target)["进展记录"]
    assert notes["F2"].value == "=1+1" and notes["F2"].data_type == "s"
    assert notes["F3"].value == "响铃\\x07了"


def test_xlsx_goes_to_stdout_when_it_is_not_a_terminal(gk):
    result = gk("export", "-f", "xlsx", "-o", "-")
    assert result.exit_code == 0
    book = openpyxl.load_workbook(io.BytesIO(result.stdout_bytes))
    assert book["任务"].max_row == 92


@pytest.mark.no_ledger
def test_xlsx_to_a_terminal_is_refused(tmp_path):
    pty = pytest.importorskip("pty", reason="needs a POSIX pseudo-terminal")
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gongkai_cli", "export", "-f", "xlsx"],
            stdout=terminal, stderr=subprocess.PIPE, text=True, timeout=60, check=False,
            env={**os.environ, "GONGKAI_DB": str(tmp_path / "tty.db")},
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2
    assert "xlsx" in result.stderr and "-o" in result.stderr
    assert not (tmp_path / "tty.db").exists()


# -- csv / json / markdown ----------------------------------------------------------------


def test_stdout_is_the_default_and_csv_is_the_default_format(gk):
    result = gk("export")
    assert result.exit_code == 0
    assert not result.stdout.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == TASK_HEADERS
    assert len(rows) == 91
    assert rows[39]["序号"] == "40" and rows[39]["截止日期"] == "2023-04-20" and rows[39]["状态"] == "未开始"


def test_csv_file_has_a_bom_for_excel_and_imports_back(gk, tmp_path, monkeypatch, other_ledger):
    target = tmp_path / "tasks_2023.csv"
    assert gk("export", "-o", str(target)).exit_code == 0
    assert target.read_bytes().startswith(b"\xef\xbb\xbf\xe5\xba\x8f\xe5\x8f\xb7")  # BOM + 序号
    original = tasks_json(gk)
    monkeypatch.setenv("GONGKAI_DB", other_ledger)
    assert gk("import", str(target)).exit_code == 0
    assert essentials(tasks_json(gk)) == essentials(original)


def test_json_has_task_objects_with_notes_and_latest_note(gk):
    gk("note", "40", "第一次")
    gk("status", "40", "--all", "doing", "--note", "第二次")
    data = json.loads(gk("export", "-f", "json", "-o", "-").stdout)
    assert [t["id"] for t in data] == list(range(1, 92))
    task = data[39]
    listed = json.loads(gk("show", "40", "-f", "json").stdout)
    assert {k: v for k, v in task.items() if k != "latest_note"} == listed
    assert [n["text"] for n in task["notes"]] == ["第一次", "第二次"]
    assert task["latest_note"] == task["notes"][-1] and task["latest_note"]["status"] == "doing"
    assert data[0]["notes"] == [] and data[0]["latest_note"] is None


def test_markdown_has_the_task_sheet_columns(gk):
    gk("note", "29", "已公开|限额")
    lines = gk("export", "-f", "markdown", "-o", "-").stdout.splitlines()
    assert lines[0] == "| " + " | ".join(TASK_HEADERS) + " |"
    assert len(lines) == 93
    assert lines[30].startswith("| 29 | 财政和审计整改信息公开 |") and "已公开\\|限额" in lines[30]


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("a.xlsx", b"PK\x03\x04"),
        ("a.CSV", "\ufeff序号,".encode()),
        ("a.json", b"[{\"id\": 1"),
        ("a.md", "| 序号 |".encode()),
        ("a.markdown", "| 序号 |".encode()),
        ("a.ics", b"BEGIN:VCALENDAR\r\n"),
    ],
)
def test_format_is_inferred_from_the_suffix(gk, tmp_path, name, start):
    result = gk("export", "-o", str(tmp_path / name))
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).read_bytes().startswith(start)


def test_explicit_format_wins_over_the_suffix(gk, tmp_path):
    target = tmp_path / "tasks.txt"
    assert gk("export", "-f", "json", "-o", str(target)).exit_code == 0
    assert len(json.loads(target.read_text(encoding="utf-8"))) == 91


@pytest.mark.no_ledger
@pytest.mark.parametrize("args", [("-f", "xml"), ("-f", "xls", "-o", "x.xlsx"), ("-o", "tasks.txt"), ("-o", "tasks.xls")])
def test_unknown_format_is_exit_2_and_writes_nothing(gk, tmp_path, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = gk("export", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("错误：") and result.stdout == ""
    assert "xlsx、csv、json、markdown、ics" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_export_uses_the_chosen_plan(gk, tmp_path):
    write_csv(tmp_path / "tasks_2024.csv", "序号,任务名称,任务内容,责任单位,时间节点\n1,组,内容,区财政局,全年\n")
    gk("init")
    gk("import", str(tmp_path / "tasks_2024.csv"))
    assert len(json.loads(gk("export", "-f", "json").stdout)) == 91  # this year's plan (GONGKAI_TODAY 2023)
    assert len(json.loads(gk("--plan", "2024", "export", "-f", "json").stdout)) == 1
    assert len(json.loads(gk("export", "--plan", "2024", "-f", "json").stdout)) == 1
    assert gk("--plan", "2099", "export").exit_code == 3


# -- ics ---------------------------------------------------------------------------------


def test_ics_parses_back_with_stable_uids_and_identical_bytes(gk, tmp_path):
    first, second = tmp_path / "a.ics", tmp_path / "b.ics"
    gk("export", "-o", str(first))
    gk("export", "-o", str(second))
    assert first.read_bytes() == second.read_bytes()
    assert gk("export", "-f", "ics", "-o", "-").stdout_bytes == first.read_bytes()

    calendar = icalendar.Calendar.from_ical(first.read_bytes())
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert len(events) == 91
    event = events["gongkai-2023-40@gongkai"]
    assert event.decoded("dtstart") == date(2023, 4, 20)
    assert event.decoded("dtend") == date(2023, 4, 21)
    assert str(event["summary"]).startswith("[40] 选取部分市民企业关注度高")
    description = str(event["description"])
    assert "着力解决政策分散、查找难、适用难等问题。" in description
    assert "区政府办公室（牵头）" in description and "区住房保障房屋管理局" in description
    assert "状态：未开始" in description
    assert not calendar.walk("VTODO")

    gk("status", "40", "--all", "cancelled", "--note", "并入其他试点")
    changed = tmp_path / "c.ics"
    gk("export", "-o", str(changed))
    again = {str(e["uid"]): e for e in icalendar.Calendar.from_ical(changed.read_bytes()).walk("VEVENT")}
    assert set(again) == set(events)
    updated_at = datetime.fromisoformat(json.loads(gk("show", "40", "-f", "json").stdout)["updated_at"])
    assert again["gongkai-2023-40@gongkai"].decoded("dtstamp") == updated_at
    assert str(again["gongkai-2023-40@gongkai"]["status"]) == "CANCELLED"
    assert "并入其他试点" in str(again["gongkai-2023-40@gongkai"]["description"])
    assert again["gongkai-2023-41@gongkai"].to_ical() == events["gongkai-2023-41@gongkai"].to_ical()


def test_ics_leaves_out_tasks_without_a_due_date(gk, tmp_path):
    write_csv(tmp_path / "p2024.csv", "id,group,content,units,deadline\n1,组,有期限,区财政局,5月1日前\n2,组,无期限,区财政局,视情况\n")
    gk("import", str(tmp_path / "p2024.csv"))
    calendar = icalendar.Calendar.from_ical(gk("export", "-f", "ics").stdout_bytes)
    assert [str(e["uid"]) for e in calendar.walk("VEVENT")] == ["gongkai-2024-1@gongkai"]


# -- writing files safely ---------------------------------------------------------------


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary_file(gk, tmp_path, monkeypatch):
    exports = tmp_path / "exports"
    exports.mkdir()
    target = exports / "out.xlsx"
    target.write_bytes(b"yesterday's export")

    def half_then_crash(self, out):
        out.write(b"PK\x03\x04 half a workbook")
        raise RuntimeError("disk unplugged")

    monkeypatch.setattr(openpyxl.Workbook, "save", half_then_crash)
    result = gk("export", "-o", str(target))
    assert result.exit_code == 1 and "disk unplugged" in result.stderr
    assert target.read_bytes() == b"yesterday's export"
    assert [p.name for p in exports.iterdir()] == ["out.xlsx"]


def test_an_os_error_while_writing_is_exit_2_naming_the_file(gk, tmp_path, monkeypatch):
    import gongkai_cli.outputs.files as files

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    exports = tmp_path / "exports"
    exports.mkdir()
    result = gk("export", "-o", str(exports / "out.csv"))
    assert result.exit_code == 2 and "out.csv" in result.stderr
    assert list(exports.iterdir()) == []


def test_replacing_keeps_permissions_and_new_files_are_not_private(gk, tmp_path):
    kept = tmp_path / "shared.csv"
    kept.write_text("old", encoding="utf-8")
    kept.chmod(0o640)
    gk("export", "-o", str(kept))
    assert kept.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.csv"
    gk("export", "-o", str(fresh))
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.no_ledger
def test_bad_targets_are_exit_2(gk, tmp_path):
    missing = gk("export", "-o", str(tmp_path / "no" / "such" / "out.csv"))
    assert missing.exit_code == 2 and "不存在" in missing.stderr
    directory = tmp_path / "exports.csv"
    directory.mkdir()
    assert gk("export", "-o", str(directory)).exit_code == 2


# -- xlsx import through the CLI ----------------------------------------------------------


# CSV text named .xlsx is imported as the CSV it is (tests/test_tables.py).
@pytest.mark.parametrize("content", [b"PK\x03\x04broken", b""])
def test_importing_a_bad_xlsx_is_exit_2_and_changes_nothing(gk, tmp_path, content):
    gk("note", "40", "进展")
    before = tasks_json(gk)
    bad = tmp_path / "tasks_2024.xlsx"
    bad.write_bytes(content)
    result = gk("import", str(bad))
    assert result.exit_code == 2
    assert "tasks_2024.xlsx" in result.stderr and result.stderr.count("\n") == 1
    assert tasks_json(gk) == before
    assert [p["name"] for p in json.loads(gk("plans", "-f", "json").stdout)] == ["2023"]


@pytest.mark.no_ledger
def test_heavy_export_libraries_load_only_when_used():
    code = (
        "import sys, gongkai_cli.cli.app, gongkai_cli.outputs.exports, gongkai_cli.inputs.plan_files, gongkai_cli.ledger, gongkai_cli.outputs.report;"
        "print(sorted(m for m in ('openpyxl', 'icalendar', 'rich', 'docx') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
