"""Each unit's own progress (issue 12): assignments, through the installed executable."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from gongkai_cli.domain.statuses import Status, derived_status
from postgres import query
from processes import cron_env, in_process, without_notice

FIXTURES = Path(__file__).parent / "fixtures"
TOWNS = ("嘉定镇街道", "新成路街道", "真新街道", "菊园新区", "南翔镇", "安亭镇", "马陆镇", "徐行镇", "华亭镇", "外冈镇",
         "江桥镇", "嘉定工业区")


@pytest.fixture
def run(executable: str, tmp_path: Path, ledger_db: str):
    db = ledger_db
    env = cron_env(tmp_path, Path(db), today="2023-04-14", user="测试员") | {"GONGKAI_DB": db}

    def call(*args: str, extra_env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([executable, *args], check=False, input=input, capture_output=True, text=True, encoding="utf-8",
                              env={**env, **(extra_env or {})}, cwd=tmp_path, timeout=60)

    call.db = db
    # The reads that only check what the executable wrote run in-process, against the same ledger.
    call.read = in_process(env)
    return call


def as_json(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def listed(run, *args) -> dict[int, dict]:
    return {task["id"]: task for task in as_json(run("list", *args, "--format", "json"))}


def refused(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    error = without_notice(result.stderr)
    assert result.stdout == "" and error.count("\n") == 1 and error.startswith("错误：")
    for needle in needles:
        assert needle in error
    return error


def table(db: str, sql: str) -> list[tuple]:
    return query(db, sql)


# -- the scenario --------------------------------------------------------------------


def test_one_town_finishing_task_62_leaves_the_other_44_units_open(run):
    done = run("status", "62", "done", "--unit", "马陆镇")
    assert done.returncode == 0, done.stderr
    assert "第 62 项（马陆镇）：状态已改为“已完成”" in done.stdout

    malu = listed(run, "--unit", "马陆镇")[62]
    assert malu["assignment"] == {"unit": "马陆镇", "via": "各街镇", "lead": False, "status": "done",
                                  "overdue": False, "updated_at": malu["assignment"]["updated_at"], "progress": 0}
    jiangqiao = listed(run, "--unit", "江桥镇")[62]
    assert (jiangqiao["assignment"]["status"], jiangqiao["assignment"]["overdue"]) == ("todo", True)
    assert "未开始·逾期" in run("list", "--unit", "江桥镇", "--search", "重大行政决策事项目录").stdout
    assert "已完成" in run("list", "--unit", "马陆镇", "--search", "重大行政决策事项目录").stdout

    assert "[62]" in run("remind", "--unit", "江桥镇").stdout
    assert "[62]" not in run("remind", "--unit", "马陆镇").stdout

    shown = as_json(run.read("show", "62", "--format", "json"))
    assert len(shown["assignments"]) == 43
    assert shown["unit_progress"] == {"done": 1, "total": 43}
    assert shown["status"] == "doing" and shown["notes"] == []
    (malu_part,) = [a for a in shown["assignments"] if a["unit"] == "马陆镇"]
    assert malu_part["status"] == "done" and [n["status"] for n in malu_part["notes"]] == ["done"]
    assert "1/43 单位已完成" in run("show", "62").stdout


def test_summary_by_unit_agrees_with_units_for_every_unit(run):
    run("status", "62", "done", "--unit", "马陆镇")
    run("status", "40", "blocked", "--unit", "区经委")
    run("status", "28", "done")
    summary = {row["unit"]: row for row in as_json(run("summary", "--by", "unit", "--format", "json"))}
    units = {row["name"]: row for row in as_json(run("units", "--format", "json"))}
    assert summary, "the bundled plan has assignments"
    for name, row in summary.items():
        assert name in units, name
        assert (row["total"], row["done"], row["overdue"]) == (
            units[name]["tasks"], units[name]["done"], units[name]["overdue"]), name
    # Units without any assignment in the plan have nothing to disagree about.
    assert all(units[name]["tasks"] == 0 for name in set(units) - set(summary))
    assert summary["马陆镇"]["done"] == 1 and summary["江桥镇"]["done"] == 0


def test_listing_filters_on_the_units_own_status(run):
    run("status", "62", "done", "--unit", "马陆镇")
    assert 62 in listed(run, "--unit", "马陆镇", "--status", "done")
    assert 62 not in listed(run, "--unit", "江桥镇", "--status", "done")
    assert 62 in listed(run, "--unit", "江桥镇", "--overdue")
    assert 62 not in listed(run, "--unit", "马陆镇", "--overdue")
    due = {t["id"] for t in as_json(run("due", "--unit", "马陆镇", "--before", "2023-04-30", "--format", "json"))}
    assert 62 not in due  # done for 马陆镇, so not open for it


def test_remind_by_unit_expands_a_collective_and_lists_vague_groups_once(run):
    text = run("remind", "--by-unit", "--unit", "各街镇", "--within", "1m").stdout
    for town in TOWNS:
        assert f"【{town}】" in text, town
    data = as_json(run("remind", "--by-unit", "--unit", "各街镇", "--within", "1m", "--format", "json"))
    assert [section["unit"] for section in data["units"]] == list(TOWNS)
    whole = as_json(run("remind", "--by-unit", "--within", "1m", "--format", "json"))
    vague = [section for section in whole["units"] if section["vague"]]
    assert len(vague) == 1 and vague[0]["unit"] is None
    ids = [task["id"] for part in ("overdue", "due_soon") for task in vague[0][part]]
    assert 40 in ids and len(ids) == len(set(ids))  # 40 names 各相关单位: listed once, for the office
    assert "须由公开办用 gongkai assign 落实到具体单位" in run("remind", "--by-unit", "--within", "1m").stdout


def test_gongkai_unit_makes_notes_and_statuses_the_clerks_own(run):
    clerk = {"GONGKAI_UNIT": "马陆镇"}
    assert run("status", "62", "doing", extra_env=clerk).returncode == 0
    assert run("note", "62", "目录已起草", extra_env=clerk).returncode == 0
    assert run("--unit", "江桥镇", "note", "62", "江桥已报送").returncode == 0
    shown = as_json(run.read("show", "62", "--format", "json"))
    parts = {a["unit"]: a for a in shown["assignments"]}
    assert parts["马陆镇"]["status"] == "doing"
    assert [n["text"] for n in parts["马陆镇"]["notes"]] == ["", "目录已起草"]
    assert [n["text"] for n in parts["江桥镇"]["notes"]] == ["江桥已报送"]
    # Reads ignore the clerk's unit: the whole plan is still listed.
    assert len(as_json(run("list", "--format", "json", extra_env=clerk))) == 91


def test_a_note_without_a_unit_is_on_the_task_as_a_whole(run):
    assert run("note", "40", "试点完成").returncode == 0
    shown = as_json(run.read("show", "40", "--format", "json"))
    assert [n["text"] for n in shown["notes"]] == ["试点完成"] and "unit" not in shown["notes"][0]
    assert all(a["notes"] == [] for a in shown["assignments"])
    assert shown["status"] == "todo"


def test_an_alias_names_the_unit(run):
    assert run("status", "40", "doing", "--unit", "区教委").returncode == 0  # 区教育局's alias
    parts = {a["unit"]: a for a in as_json(run.read("show", "40", "--format", "json"))["assignments"]}
    assert parts["区教育局"]["status"] == "doing"


def test_a_task_with_one_unit_needs_none(run):
    assert run("status", "28", "done").returncode == 0
    shown = as_json(run.read("show", "28", "--format", "json"))
    assert shown["status"] == "done" and shown["assignments"][0]["status"] == "done"


def test_all_sets_every_unit_the_office_closing_a_task(run):
    assert run("status", "62", "done", "--all").returncode == 0
    shown = as_json(run.read("show", "62", "--format", "json"))
    assert shown["status"] == "done" and shown["unit_progress"] == {"done": 43, "total": 43}
    assert "所有单位的状态：未开始 → 已完成" in run("log", "62").stdout


def test_a_units_report_shows_its_own_status_and_the_plan_report_counts_assignments(run):
    run("status", "62", "done", "--unit", "马陆镇")
    mine = run("report", "--unit", "马陆镇").stdout
    row = next(line for line in mine.splitlines() if line.startswith("| 62 |"))  # 任务清单 comes first
    assert "已完成" in row
    theirs = run("report", "--unit", "江桥镇").stdout
    # No progress of its own: none of its tasks has a row of its own, and 62 is overdue.
    assert "暂无进展记录的任务 59 项" in theirs and "\n| 62 | 决策单位" not in theirs[:theirs.index("逾期任务")]
    overdue = theirs[theirs.index("逾期任务"):]
    assert any(line.startswith("| 62 |") for line in overdue.splitlines())
    # The per-unit table comes first; the collectives' tables name the units again.
    rows: dict[str, str] = {}
    for line in run("report").stdout.splitlines():
        if line.startswith("| "):
            rows.setdefault(line.split("|")[1].strip(), line)
    units = {row["name"]: row for row in as_json(run("units", "--format", "json"))}
    cells = [cell.strip() for cell in rows["马陆镇"].split("|")[1:-1]]
    assert cells[:4] == ["马陆镇", str(units["马陆镇"]["tasks"]), "1", str(units["马陆镇"]["overdue"])]


# -- refusals ------------------------------------------------------------------------------


def test_a_status_without_a_unit_on_a_task_with_several_is_refused(run):
    line = refused(run("status", "62", "done"), "--unit", "--all", "43 个单位")
    assert "未做任何更改" in line
    refused(run("note", "62", "完成", "--status", "done"), "--unit", "--all")
    assert table(run.db, "SELECT count(*) FROM notes") == [(0,)]
    assert table(run.db, "SELECT DISTINCT status FROM assignments") == [("todo",)]


def test_a_unit_not_assigned_to_the_task_is_refused_naming_its_units(run):
    refused(run("status", "40", "done", "--unit", "马陆镇"), "任务 40 没有分配给“马陆镇”", "区政府办公室", "各相关单位")
    refused(run("note", "40", "x", "--unit", "马陆镇"), "没有分配给“马陆镇”")
    refused(run("note", "40", "x", extra_env={"GONGKAI_UNIT": "马陆镇"}), "没有分配给“马陆镇”")
    # A typo is an unknown unit, with the closest spellings, not all 43 of the task's.
    line = refused(run("status", "62", "done", "--unit", "马路镇"), "未知的责任单位“马路镇”", "马陆镇")
    assert "区政府办公室" not in line
    assert table(run.db, "SELECT count(*) FROM notes") == [(0,)]


def test_all_and_unit_together_are_refused(run):
    refused(run("status", "62", "done", "--all", "--unit", "马陆镇"), "--all", "--unit")


# -- assign and unassign ---------------------------------------------------------------------


def test_the_office_turns_a_vague_group_into_units_and_can_undo_it(run):
    done = run("assign", "40", "--unit", "区财政局", "--unit", "区审计局")
    assert done.returncode == 0, done.stderr
    assert "分配给：区财政局、区审计局" in done.stdout
    removed = run("unassign", "40", "--unit", "各相关单位")
    assert removed.returncode == 0, removed.stderr
    units = [a["unit"] for a in as_json(run.read("show", "40", "--format", "json"))["assignments"]]
    assert "各相关单位" not in units and units[-2:] == ["区财政局", "区审计局"]
    assert 40 in listed(run, "--unit", "区审计局")
    assert [e["action"] for e in as_json(run.read("log", "40", "--format", "json"))][-2:] == ["assign", "unassign"]
    assert run("undo", "--yes").returncode == 0
    assert run("undo", "--yes").returncode == 0
    units = [a["unit"] for a in as_json(run.read("show", "40", "--format", "json"))["assignments"]]
    assert units[-1] == "各相关单位" and "区审计局" not in units


def test_assign_of_a_collective_gives_the_task_to_its_members(run):
    assert run("assign", "28", "--unit", "各街镇").returncode == 0
    parts = as_json(run.read("show", "28", "--format", "json"))["assignments"]
    assert [a["unit"] for a in parts[1:]] == list(TOWNS) and {a["via"] for a in parts[1:]} == {"各街镇"}


def test_assign_and_unassign_refusals(run):
    refused(run("assign", "40", "--unit", "区经委"), "已经分配给 区经委")
    refused(run("assign", "40", "--unit", "区财政厅"), "未知的责任单位“区财政厅”", "区财政局")
    refused(run("unassign", "40", "--unit", "马陆镇"), "没有分配给“马陆镇”")
    refused(run("unassign", "28", "--unit", "区财政局"), "不能没有责任单位")
    run("note", "40", "已报送", "--unit", "区经委")
    refused(run("unassign", "40", "--unit", "区经委"), "区经委 已在任务 40 上记录了进展", "gongkai undo")
    assert run("assign", "999", "--unit", "区经委").returncode == 3


# -- undo of unit writes ---------------------------------------------------------------------


def test_undo_restores_one_units_status_and_the_derived_task_status(run):
    run("status", "62", "done", "--unit", "马陆镇")
    run("status", "62", "blocked", "--unit", "江桥镇", "--note", "等待材料")
    assert as_json(run.read("show", "62", "--format", "json"))["status"] == "blocked"
    assert "江桥镇的状态：未开始 → 受阻" in run("undo", "--yes").stdout
    shown = as_json(run.read("show", "62", "--format", "json"))
    parts = {a["unit"]: a["status"] for a in shown["assignments"]}
    assert (shown["status"], parts["江桥镇"], parts["马陆镇"]) == ("doing", "todo", "done")
    run("undo", "--yes")
    assert as_json(run.read("show", "62", "--format", "json"))["status"] == "todo"
    run("status", "62", "done", "--all")
    run("undo", "--yes")
    assert {a["status"] for a in as_json(run.read("show", "62", "--format", "json"))["assignments"]} == {"todo"}
    assert table(run.db, "SELECT status FROM tasks WHERE id = 62") == [("todo",)]


# -- re-import -------------------------------------------------------------------------------


def test_reimport_adds_missing_units_and_removes_only_untouched_ones(run, tmp_path):
    header = "序号,任务名称,任务内容,责任单位,时间节点\n"
    plan = tmp_path / "tasks_2024.csv"
    plan.write_text(header + "1,组,甲,区财政局、区审计局、区经委,全年\n", encoding="utf-8")
    assert run("import", str(plan)).returncode == 0
    run("--plan", "2024", "status", "1", "doing", "--unit", "区审计局")
    run("--plan", "2024", "assign", "1", "--unit", "区商务委")
    plan.write_text(header + "1,组,甲,区财政局、区民政局,全年\n", encoding="utf-8")
    assert run("import", str(plan)).returncode == 0
    parts = as_json(run.read("--plan", "2024", "show", "1", "--format", "json"))["assignments"]
    # 区经委 untouched: gone; 区审计局 worked on it and 区商务委 was the office's: kept.
    assert [(a["unit"], a["status"]) for a in parts] == [
        ("区财政局", "todo"), ("区民政局", "todo"), ("区审计局", "doing"), ("区商务委", "todo")]
    assert parts[0]["lead"] is True
    assert run("undo", "--yes").returncode == 0
    parts = as_json(run.read("--plan", "2024", "show", "1", "--format", "json"))["assignments"]
    assert [a["unit"] for a in parts] == ["区财政局", "区审计局", "区经委", "区商务委"]


# -- the upgrade from releases before assignments ------------------------------------------------


@pytest.mark.sqlite_only("upgrades an old release's SQLite file")
@pytest.mark.parametrize("fixture", ["ledger_schema4.db", "ledger_schema5.db"])
def test_upgrade_keeps_every_note_status_and_event(run, fixture):
    shutil.copy(FIXTURES / fixture, run.db)
    before_tasks = dict(table(run.db, "SELECT id, status FROM tasks"))
    before_notes = table(run.db, "SELECT id, text, status FROM notes ORDER BY id")
    before_events = table(run.db, "SELECT id, action, before, after FROM events ORDER BY id")
    shown = as_json(run.read("show", "62", "--format", "json"))
    assert len(shown["assignments"]) == 43
    assert {a["status"] for a in shown["assignments"]} == {before_tasks[62]}
    assert dict(table(run.db, "SELECT id, status FROM tasks")) == before_tasks
    assert table(run.db, "SELECT id, text, status FROM notes ORDER BY id") == before_notes
    assert table(run.db, "SELECT id, action, before, after FROM events ORDER BY id") == before_events
    assert table(run.db, "SELECT count(*) FROM notes WHERE assignment IS NOT NULL") == [(0,)]
    # Every assignment took its task's status, so every task's status is what its units give.
    for task_id, statuses in table(run.db, """SELECT t.id, json_group_array(a.status) FROM tasks t
                                              JOIN assignments a ON a.task = t.pk GROUP BY t.pk"""):
        assert derived_status(Status(s) for s in json.loads(statuses)).value == before_tasks[task_id]
    assert run("check").returncode == 0
    assert len(as_json(run.read("log", "--format", "json"))) == len(before_events)
    assert "m007_assignments" in {name for (name,) in table(run.db, "SELECT name FROM migrations")}


@pytest.mark.sqlite_only("upgrades an old release's SQLite file")
def test_the_schema4_task_62_done_becomes_done_for_all_45_units_and_its_undo_reopens_them(run):
    shutil.copy(FIXTURES / "ledger_schema4.db", run.db)
    shown = as_json(run.read("show", "62", "--format", "json"))
    assert shown["status"] == "done" and shown["unit_progress"] == {"done": 43, "total": 43}
    assert "[62]" not in run("remind", "--unit", "江桥镇", "--within", "1m").stdout
    undone = run("undo", "--yes")  # the fixture's last change: `status 62 done`, made before assignments
    assert undone.returncode == 0, undone.stderr
    shown = as_json(run.read("show", "62", "--format", "json"))
    assert shown["status"] == "todo" and {a["status"] for a in shown["assignments"]} == {"todo"}
    assert "[62]" in run("remind", "--unit", "江桥镇", "--within", "1m").stdout


@pytest.mark.sqlite_only("upgrades an old release's SQLite file")
def test_undo_of_a_pre_assignment_status_is_refused_once_its_units_differ(run):
    shutil.copy(FIXTURES / "ledger_schema4.db", run.db)
    assert run("show", "62").returncode == 0  # upgrades
    # Only an edit behind gongkai's back can make them differ with no newer change to undo first.
    conn = sqlite3.connect(run.db)
    conn.execute("UPDATE assignments SET status = 'todo' WHERE unit = '马陆镇' AND task = "
                 "(SELECT pk FROM tasks WHERE id = 62)")
    conn.execute("UPDATE tasks SET status = 'doing' WHERE id = 62")
    conn.commit()
    conn.close()
    result = run("undo", "--yes")  # the preview is printed first, as for every undo --yes
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    for needle in ("按单位分别记录状态之前", "任务 62", "未做任何更改", "gongkai status 62"):
        assert needle in result.stderr
    assert table(run.db, "SELECT status FROM tasks WHERE id = 62") == [("doing",)]


def test_check_reports_a_task_whose_status_disagrees_with_its_units(run):
    run("init")
    query(run.db, "UPDATE tasks SET status = 'done' WHERE id = 40")
    result = run("check")
    assert result.returncode == 4 and "各单位（assignments）的状态不一致" in result.stderr


# -- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("statuses", "expected"), [
    (["cancelled", "cancelled"], "cancelled"),
    (["done", "cancelled", "done"], "done"),
    (["done", "blocked", "todo"], "blocked"),
    (["done", "todo"], "doing"),
    (["doing", "todo"], "doing"),
    (["todo", "cancelled"], "todo"),
    (["todo"], "todo"),
])
def test_the_derived_status_rule(statuses, expected):
    assert derived_status(Status(s) for s in statuses) is Status(expected)


def test_targets_count_per_unit_when_a_unit_is_named(run):
    run("note", "60", "第一次列席", "--count", "1", "--unit", "区政府办公室")
    run("note", "60", "第二次", "--count", "2")
    own = listed(run, "--unit", "区政府办公室", "--search", "列席")[60]
    assert own["progress"] == own["assignment"]["progress"] == 1  # the unit's own count, as the table shows
    assert "1/4" in run("list", "--unit", "区政府办公室", "--search", "列席").stdout
