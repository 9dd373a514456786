"""Commands through Typer's CliRunner: output, messages and exit codes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from conftest import write_csv
from gongkai_cli.store.sqlite import APPLICATION_ID
from processes import without_notice


def test_list_my_tasks_as_json(gk):
    result = gk("list", "--unit", "区财政局", "--format", "json")
    assert result.exit_code == 0, result.output
    tasks = {t["id"]: t for t in json.loads(result.stdout)}
    assert len(tasks) == 48
    assert tasks[28]["lead_unit"] == "区财政局" and "via" not in tasks[28]
    assert tasks[45]["via"] == "区政府各部门"


def test_list_direct_and_lead(gk):
    ids = lambda *args: [t["id"] for t in json.loads(gk("list", *args, "-f", "json").stdout)]  # noqa: E731
    assert ids("--unit", "区财政局", "--direct") == [26, 28, 29, 30]
    assert ids("--unit", "区财政局", "--lead") == [28, 29, 30]
    assert 4 in ids("--unit", "马陆镇") and 4 not in ids("--unit", "马陆镇", "--direct")


def test_list_table_is_readable_and_marks_group_tasks(gk):
    result = gk("list", "--unit", "马陆镇")
    assert result.exit_code == 0
    assert "序号" in result.stdout and "共 60 项任务" in result.stdout
    assert "经“各街镇”" in result.stdout
    assert "\x1b" not in result.stdout


def test_list_filters(gk):
    ids = lambda *args: [t["id"] for t in json.loads(gk("list", *args, "-f", "json").stdout)]  # noqa: E731
    assert ids("--group", "财政和审计") == [28, 29, 30, 31]
    assert ids("--search", "债务") == [29]
    assert ids("--unit", "区财政局", "--unit", "区审计局", "--direct") == [26, 28, 29, 30, 31]
    gk("status", "28", "done")
    assert ids("--unit", "区财政局", "--direct", "--status", "已完成") == [28]
    assert ids("--unit", "区财政局", "--direct", "--status", "todo", "--status", "doing") == [26, 29, 30]
    assert ids("--overdue", "--unit", "区财政局", "--direct") == []  # today is 2023-04-01


def test_due_before(gk):
    result = gk("due", "--before", "2023-04-20", "--format", "json")
    assert [(t["id"], t["due"]) for t in json.loads(result.stdout)] == [(62, "2023-03-31"), (40, "2023-04-20")]


@pytest.mark.parametrize("value", ["2023-13-01", "soon", "2023-02-30", "32/13", ""])
def test_due_invalid_date_is_exit_2_naming_the_value(gk, value):
    result = gk("due", "--before", value)
    assert result.exit_code == 2
    assert f"“{value}”" in result.stderr
    assert result.stdout == ""


def test_show_table_and_json(gk):
    gk("note", "40", "试点完成")
    table = gk("show", "40")
    assert table.exit_code == 0
    assert "区政府办公室（牵头）" in table.stdout and "试点完成" in table.stdout
    data = json.loads(gk("show", "40", "--format", "json").stdout)
    assert data["id"] == 40 and data["due"] == "2023-04-20"
    assert [n["text"] for n in data["notes"]] == ["试点完成"]
    assert data["notes"][0]["by"] == "测试员"


def test_show_unknown_task_is_exit_3_naming_id_and_plan(gk):
    result = gk("show", "999")
    assert result.exit_code == 3
    assert "999" in result.stderr and "2023" in result.stderr


@pytest.mark.no_ledger
@pytest.mark.parametrize("value", ["0", "-1", "abc", "1e3"])
def test_bad_task_id_is_exit_2(gk, value):
    result = gk("show", "--", value) if value.startswith("-") else gk("show", value)
    assert result.exit_code == 2
    assert f"“{value}”" in result.stderr


def test_note_then_status_in_one_command(gk):
    result = gk("note", "40", "开始推进", "--status", "doing", "--unit", "区经委")
    assert result.exit_code == 0
    assert "（区经委）：状态已改为“进行中”" in result.stdout
    assert json.loads(gk("show", "40", "-f", "json").stdout)["status"] == "doing"


def test_note_reads_stdin_with_dash(gk):
    result = gk("note", "40", "-", "--format", "json", input="从脚本写入的进展\n")
    assert result.exit_code == 0
    note = json.loads(result.stdout)
    assert note["text"] == "从脚本写入的进展" and note["task"] == 40 and note["id"] >= 1


def test_note_quiet_prints_nothing(gk):
    result = gk("note", "40", "x", "--quiet")
    assert result.exit_code == 0 and result.stdout == ""


def test_note_by_option_and_env(gk, monkeypatch):
    gk("note", "40", "甲", "--by", "王五")
    monkeypatch.setenv("GONGKAI_USER", "赵六")
    gk("note", "40", "乙")
    notes = json.loads(gk("show", "40", "-f", "json").stdout)["notes"]
    assert [n["by"] for n in notes] == ["王五", "赵六"]


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_note_is_exit_2(gk, text):
    result = gk("note", "40", text)
    assert result.exit_code == 2 and "不能为空" in result.stderr


def test_status_accepts_chinese_and_english_and_records_a_note(gk):
    assert gk("status", "40", "--all", "已完成", "--note", "已发布").exit_code == 0
    data = json.loads(gk("show", "40", "-f", "json").stdout)
    assert data["status"] == "done"
    assert data["notes"][-1] == {**data["notes"][-1], "status": "done", "text": "已发布"}
    unchanged = gk("status", "40", "--all", "done")
    assert unchanged.exit_code == 0 and "未做更改" in unchanged.stdout


@pytest.mark.no_ledger
@pytest.mark.parametrize("value", ["finished", ""])
def test_bad_status_is_exit_2_listing_choices(gk, value):
    result = gk("status", "40", "--all", value)
    assert result.exit_code == 2
    assert f"“{value}”" in result.stderr and "已完成" in result.stderr


def test_unknown_unit_suggests_names(gk):
    result = gk("list", "--unit", "区财政")
    assert result.exit_code == 2
    assert "区财政局" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("fmt", ["json", "csv", "tsv", "markdown", "table"])
def test_every_listing_takes_every_format(gk, fmt):
    for command in (["list"], ["due"], ["plans"], ["show", "40"]):
        result = gk(*command, "--format", fmt)
        assert result.exit_code == 0, (command, result.output)
        assert result.stdout.strip()
        assert "\x1b" not in result.stdout


def test_csv_output_parses(gk):
    rows = list(csv.DictReader(io.StringIO(gk("list", "-f", "csv").stdout)))
    assert len(rows) == 91 and rows[39]["id"] == "40"


@pytest.mark.no_ledger
def test_unsupported_format_is_exit_2(gk):
    result = gk("list", "--format", "xml")
    assert result.exit_code == 2 and "xml" in result.stderr


def test_import_reports_counts_and_reimport_keeps_progress(gk, tmp_path: Path):
    plan = write_csv(
        tmp_path / "tasks_2024.csv",
        "序号,任务名称,任务内容,责任单位,时间节点\n1,组一,内容一,区财政局、区审计局,全年\n2,,内容二,,6月底前\n",
        encoding="gb18030",
    )
    first = gk("import", str(plan))
    assert first.exit_code == 0, first.output
    assert "2024" in first.stdout and "新增 2" in first.stdout
    gk("status", "2", "--all", "doing", "--note", "已启动")
    plan.write_text(
        "序号,任务名称,任务内容,责任单位,时间节点\n1,组一,内容一（修订）,区财政局、区审计局,全年\n2,,内容二,,6月底前\n",
        encoding="gb18030",
    )
    second = gk("import", str(plan))
    assert "更新 1" in second.stdout and "未变 1" in second.stdout
    task = json.loads(gk("show", "2", "-f", "json").stdout)
    assert (task["plan"], task["status"], task["units"], task["due"]) == (
        "2024", "doing", ["区财政局", "区审计局"], "2024-06-30")
    assert [n["text"] for n in task["notes"]] == ["已启动"]
    # The database did not exist before the import, so it holds only the office's own plan.
    plans = json.loads(gk("plans", "-f", "json").stdout)
    assert [(p["name"], p["tasks"]) for p in plans] == [("2024", 2)]


def test_import_bad_file_is_exit_2_with_line_number_and_changes_nothing(gk, tmp_path: Path, db_path):
    gk("init")
    bad = write_csv(tmp_path / "tasks_2024.csv", "id,group,content,units,deadline\n1,组,内容,区财政局,全年\nx,组,内容,区财政局,全年\n")
    result = gk("import", str(bad))
    assert result.exit_code == 2
    assert "第 3 行" in result.stderr and "“x”" in result.stderr
    assert [p["name"] for p in json.loads(gk("plans", "-f", "json").stdout)] == ["2023"]


@pytest.mark.no_ledger
def test_import_missing_file_is_exit_2(gk, tmp_path):
    result = gk("import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2 and "nope.csv" in result.stderr


def test_import_warns_about_unknown_deadlines(gk, tmp_path):
    plan = write_csv(tmp_path / "p2025.csv", "id,group,content,units,deadline\n1,组,内容,区财政局,视情况\n")
    result = gk("import", str(plan))
    assert result.exit_code == 0
    assert "视情况" in result.stderr


def test_init_is_idempotent_and_empty_init_has_no_plan(gk, db_path: Path, tmp_path, monkeypatch):
    assert gk("init").exit_code == 0
    again = gk("init")
    assert again.exit_code == 0 and "2023（91 项）" in again.stdout
    monkeypatch.setenv("GONGKAI_DB", str(tmp_path / "empty.db"))
    empty = gk("init", "--empty")
    assert "无计划" in empty.stdout
    result = gk("list")
    assert result.exit_code == 3 and "gongkai import" in result.stderr


def test_db_and_plan_options_override_env(gk, tmp_path):
    other = tmp_path / "other.db"
    assert gk("--db", str(other), "note", "40", "x").exit_code == 0
    assert other.exists()
    result = gk("--plan", "2099", "list")
    assert result.exit_code == 3 and "2099" in result.stderr


@pytest.mark.sqlite_only("a corrupt database file")
def test_corrupt_database_is_exit_4_without_traceback(gk, tmp_path, monkeypatch):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    monkeypatch.setenv("GONGKAI_DB", str(broken))
    result = gk("list")
    assert result.exit_code == 4
    assert "Traceback" not in result.output and result.stderr.startswith("错误：")


@pytest.mark.sqlite_only("writes a newer schema version into the file header with sqlite3")
def test_newer_schema_is_exit_4_asking_to_upgrade(gk, db_path):
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    result = gk("list")
    assert result.exit_code == 4 and "请升级 gongkai" in result.stderr


@pytest.mark.no_ledger
def test_help_is_chinese_and_lists_exit_codes(gk):
    result = gk("--help")
    assert result.exit_code == 0
    assert "退出码" in result.stdout and "数据库问题" in result.stdout
    assert "截止日期" in gk("due", "--help").stdout


def test_internal_errors_are_one_line_unless_debug(gk, monkeypatch):
    from gongkai_cli.usecases import queries

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(queries, "list_tasks", explode)
    result = gk("list")
    assert result.exit_code == 1
    assert without_notice(result.stderr).count("\n") == 1 and "boom" in result.stderr
    with pytest.raises(RuntimeError):
        gk("--debug", "list")


def test_units_json_keys_and_counts(gk):
    rows = {row["name"]: row for row in json.loads(gk("units", "-f", "json").stdout)}
    assert set(rows["区财政局"]) == {"name", "kind", "aliases", "members", "tasks", "led", "done", "overdue"}
    # Assignments: the 4 tasks naming it, and the 44 it has as one of 区政府各部门.
    assert (rows["区财政局"]["tasks"], rows["区财政局"]["led"]) == (48, 3)
    assert rows["区行政服务中心（区大数据中心）"]["aliases"] == ["区大数据中心", "区行政服务中心"]
    assert len(rows["各街镇"]["members"]) == 12


def test_units_table_and_tree(gk):
    table = gk("units")
    assert table.exit_code == 0 and "区财政局" in table.stdout and "单位数据" in table.stdout
    tree = gk("units", "--tree")
    assert "各街镇" in tree.stdout and "马陆镇" in tree.stdout and "泛指，不展开" in tree.stdout


def test_unknown_unit_in_due_is_exit_2(gk):
    result = gk("due", "--unit", "马路镇")
    assert result.exit_code == 2 and "马陆镇" in result.stderr


def test_remind_text_markdown_and_csv(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-04-14")
    text = gk("remind").stdout
    assert text.startswith("政务公开任务提醒（计划 2023，2023-04-14）")
    markdown = gk("remind", "-f", "markdown").stdout
    assert markdown.startswith("# 政务公开任务提醒") and "- [62]" in markdown
    rows = list(csv.DictReader(io.StringIO(gk("remind", "-f", "csv").stdout)))
    assert [(r["section"], r["id"], r["days_left"]) for r in rows] == [("overdue", "62", "-14"), ("due_soon", "40", "6")]


def test_remind_leaves_out_done_tasks(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-04-14")
    gk("status", "62", "--all", "done")
    gk("status", "40", "--all", "cancelled")
    assert gk("remind").stdout == ""


@pytest.mark.parametrize("within", ["soon", "-3d"])
def test_remind_rejects_a_bad_window(gk, within):
    result = gk("remind", "--within", within)
    assert result.exit_code == 2 and within in result.stderr


@pytest.mark.no_ledger
def test_typer_usage_errors_keep_exit_2_and_are_not_internal_errors(gk):
    result = gk("status", "40", "--all", "done", "--bogus")
    assert result.exit_code == 2
    assert "内部错误" not in result.output
    missing = gk("note", "40")
    assert missing.exit_code == 2 and "内部错误" not in missing.output


# -- summary ----------------------------------------------------------------------------------


def _progress(gk):
    gk("status", "28", "done")
    gk("status", "29", "done")
    gk("status", "30", "cancelled")
    gk("status", "40", "--all", "doing")
    gk("status", "4", "--all", "blocked")


def test_summary_numbers_after_a_scripted_session(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-04-15")
    _progress(gk)
    data = json.loads(gk("summary", "-f", "json").stdout)
    assert data == {
        "plan": "2023", "total": 91,
        "status": {"todo": 86, "doing": 1, "done": 2, "blocked": 1, "cancelled": 1},
        "done_percent": round(100 * 2 / 90, 1),
        "overdue": 1,     # 62, due 2023-03-31
        "due_soon": 1,    # 40, due 2023-04-20 (within 30 days)
        "target_reached": [],
    }
    table = gk("summary").stdout
    assert "任务总数" in table and "2.2%" in table


def test_summary_by_unit_counts_group_tasks_and_puts_the_worst_first(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-04-15")
    _progress(gk)
    rows = json.loads(gk("summary", "--by", "unit", "-f", "json").stdout)
    by_name = {row["unit"]: row for row in rows}
    assert set(rows[0]) == {"unit", "total", "done", "overdue", "done_percent"}
    finance = by_name["区财政局"]
    listed = json.loads(gk("list", "--unit", "区财政局", "-f", "json").stdout)
    assert finance["total"] == len(listed) == 48
    assert (finance["done"], finance["overdue"]) == (2, 1)
    assert by_name["马陆镇"]["total"] == len(json.loads(gk("list", "--unit", "马陆镇", "-f", "json").stdout))
    assert "各街镇" not in by_name and "区政府各部门" not in by_name  # distributed to their members
    keys = [(-row["overdue"], row["done_percent"]) for row in rows]
    assert keys == sorted(keys)


def test_summary_by_group_and_month(gk):
    groups = json.loads(gk("summary", "--by", "group", "-f", "json").stdout)
    assert groups[0] == {"group": "城市空间格局优化提升信息公开", "total": 3, "done": 0, "overdue": 0, "done_percent": 0.0}
    months = json.loads(gk("summary", "--by", "month", "-f", "json").stdout)
    assert [(m["month"], m["total"]) for m in months] == [
        ("2023-03", 1), ("2023-04", 1), ("2023-08", 2), ("2023-11", 1), ("2023-12", 86)]


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "tsv"])
def test_summary_formats(gk, fmt):
    for args in ([], ["--by", "unit"], ["--by", "month"]):
        result = gk("summary", *args, "-f", fmt)
        assert result.exit_code == 0 and result.stdout.strip() and "\x1b" not in result.stdout


def test_summary_rejects_an_unknown_breakdown(gk):
    result = gk("summary", "--by", "week")
    assert result.exit_code == 2 and "week" in result.stderr


# -- issue 14: the default plan, confirmations that name it, the words clerks type -------------

PLAN_HEADER = "序号,任务名称,任务内容,责任单位,时间节点\n"


def _next_years_plan(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "tasks_2024.csv", PLAN_HEADER + "40,组,二〇二四年的第 40 项,区财政局,全年\n"
                                                                 "60,组,二〇二四年的第 60 项,区财政局,全年\n")


def test_importing_next_years_plan_early_leaves_this_years_plan_the_default(gk, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-12-10")
    gk("init")
    imported = gk("import", str(_next_years_plan(tmp_path)))
    assert imported.exit_code == 0
    assert "默认计划仍是“2023”（今年的计划）；操作这份计划请加 --plan 2024。" in imported.stdout
    noted = gk("note", "60", "--count", "1", "已列席")
    assert noted.stdout.startswith("计划 2023 第 60 项：已记录进展，计 1 次")
    assert json.loads(gk("show", "60", "--plan", "2024", "-f", "json").stdout)["notes"] == []
    listing = gk("plans").stdout
    assert "默认（今年）" in listing
    assert [p["default"] for p in json.loads(gk("plans", "-f", "json").stdout)] == ["current_year", None]


def test_with_no_plan_of_this_year_the_newest_is_the_default_and_import_says_so(gk, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2025-02-01")
    gk("init")
    imported = gk("import", str(_next_years_plan(tmp_path)))
    assert "计划“2024”现在是默认计划（没有今年的计划，它是最新的）。" in imported.stdout
    assert "默认（最新）" in gk("plans").stdout
    assert json.loads(gk("show", "40", "-f", "json").stdout)["plan"] == "2024"


def test_every_write_confirmation_names_the_plan(gk, tmp_path):
    assert gk("note", "40", "试点完成").stdout.startswith("计划 2023 第 40 项：已记录进展")
    assert gk("status", "40", "--all", "进行").stdout.startswith("计划 2023 第 40 项：状态已改为“进行中”")
    assert gk("status", "40", "--all", "进行中").stdout.startswith("计划 2023 第 40 项已经是“进行中”，未做更改")
    batch = write_csv(tmp_path / "notes.csv", "id,text\n40,甲\n41,乙\n")
    assert gk("note", "--from", str(batch)).stdout.startswith("计划 2023：已记录 2 条进展")
    preview, done = gk("undo", "--yes").stdout.splitlines()
    assert preview.startswith("将撤销：#5") and "计划 2023 第 41 项" in preview and "批次 #4" in preview
    assert done.startswith("计划 2023：已撤销同一批写入的 2 项更改 #4–#5")
    assert json.loads(gk("note", "40", "x", "-f", "json").stdout)["plan"] == "2023"


@pytest.mark.parametrize(("word", "label"), [("完成", "已完成"), ("做完", "已完成"), ("办结", "已完成"),
                                             ("卡住", "受阻"), ("作废", "已取消"), ("开始", "进行中")])
def test_status_accepts_the_words_clerks_type(gk, word, label):
    result = gk("status", "40", "--all", word)
    assert result.exit_code == 0, result.stderr
    assert f"状态已改为“{label}”" in result.stdout


@pytest.mark.no_ledger
def test_an_unknown_status_word_lists_the_accepted_ones(gk):
    result = gk("status", "40", "--all", "差不多了")
    assert result.exit_code == 2
    assert "完成" in result.stderr and "卡住" in result.stderr and "作废" in result.stderr


@pytest.mark.parametrize(("word", "before"), [("本周", "2023-04-02"), ("下周", "2023-04-09"), ("月底", "2023-04-30"),
                                               ("4月底", "2023-04-30"), ("4/20", "2023-04-20"), ("下月", "2023-05-31")])
def test_due_before_accepts_the_dates_clerks_type(gk, word, before):
    # GONGKAI_TODAY is Saturday 2023-04-01.
    by_word = gk("due", "--before", word, "-f", "json")
    by_date = gk("due", "--before", before, "-f", "json")
    assert by_word.exit_code == 0, by_word.stderr
    assert by_word.stdout == by_date.stdout


def test_fail_on_overdue_is_exit_5(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-05-01")
    assert gk("remind", "--fail-on-overdue").exit_code == 5
    assert gk("remind").exit_code == 0


def test_import_keeps_its_own_plan_option_under_the_same_rule(gk, tmp_path):
    table = _next_years_plan(tmp_path)
    gk("init")
    assert "已导入计划“二〇二四”" in gk("import", str(table), "--plan", "二〇二四").stdout
    assert "已导入计划“甲”" in gk("--plan", "甲", "import", str(table), "--plan", "甲").stdout
    both = gk("--plan", "甲", "import", str(table), "--plan", "乙")
    assert both.exit_code == 2 and "两个不同的值" in both.stderr
    other = tmp_path / "other.db"
    gk("init", "--empty", "--db", str(other))
    assert gk("import", str(table), "--db", str(other)).exit_code == 0
    assert [p["name"] for p in json.loads(gk("plans", "--db", str(other), "-f", "json").stdout)] == ["2024"]


def test_tasks_for_every_government_department_reach_the_departments_the_plan_never_names(gk):
    """Issue 23: 区司法局 was missing from 区政府各部门, so task 62 never reached it; 区气象局,
    not a government department, no longer gets it."""
    justice = json.loads(gk("list", "--unit", "区司法局", "--format", "json").stdout)
    assert 62 in [task["id"] for task in justice]
    weather = json.loads(gk("list", "--unit", "区气象局", "--format", "json").stdout)
    assert 62 not in [task["id"] for task in weather]
