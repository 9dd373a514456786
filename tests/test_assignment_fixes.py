"""Defects QA found in per-unit assignments (issue 12), through the installed executable."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from processes import cron_env, in_process
from test_assignments import as_json, listed, refused


@pytest.fixture
def run(executable: str, tmp_path: Path, ledger_db: str):
    """The installed executable against a fresh ledger, as in test_assignments, on each backend;
    `run.read` runs the reads that check its work in-process, against the same ledger."""
    env = cron_env(tmp_path, Path(ledger_db), today="2023-04-14", user="测试员") | {"GONGKAI_DB": ledger_db}

    def call(*args: str, extra_env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([executable, *args], check=False, input=input, capture_output=True, text=True,
                              encoding="utf-8", env={**env, **(extra_env or {})}, cwd=tmp_path, timeout=60)

    call.read = in_process(env)
    return call


def shown(run, task_id: str) -> dict:
    return as_json(run.read("show", task_id, "--format", "json"))


def no_empty_note(run, task_id: str) -> bool:
    """Every task-level note says something: a text, or the status it set."""
    return all(note["text"] or note["status"] for note in shown(run, task_id)["notes"])


def statuses(run, task_id: str) -> dict[str, str]:
    return {a["unit"]: a["status"] for a in shown(run, task_id)["assignments"]}


# -- status --all --------------------------------------------------------------------------


def test_all_sets_every_unit_even_when_the_derived_status_already_is_the_new_one(run):
    assert run("status", "62", "doing", "--unit", "马陆镇").returncode == 0
    changed = run("status", "62", "doing", "--all")
    assert changed.returncode == 0, changed.stderr
    assert set(statuses(run, "62").values()) == {"doing"}
    assert no_empty_note(run, "62")
    assert "所有单位的状态：未开始 → 进行中" in run("log", "62").stdout

    undone = run("undo", "--yes")
    assert undone.returncode == 0, undone.stderr
    after = statuses(run, "62")
    assert after["马陆镇"] == "doing" and after["江桥镇"] == "todo"


def test_all_after_one_unit_blocked_blocks_the_rest(run):
    run("status", "62", "blocked", "--unit", "马陆镇")
    assert run("status", "62", "blocked", "--all").returncode == 0
    assert set(statuses(run, "62").values()) == {"blocked"}
    assert no_empty_note(run, "62")


def test_all_leaves_a_cancelled_unit_cancelled_unless_it_cancels(run):
    run("status", "62", "done", "--unit", "马陆镇")
    run("status", "62", "cancelled", "--unit", "江桥镇")
    written = as_json(run("status", "62", "done", "--all", "--format", "json"))
    assert written["all"] is True and written["status"] == "done"
    after = statuses(run, "62")
    assert after.pop("江桥镇") == "cancelled" and set(after.values()) == {"done"}
    log = as_json(run.read("log", "62", "--format", "json"))
    assert "马陆镇" not in log[-1]["before"]["units"] and len(log[-1]["before"]["units"]) == 41  # what it changed
    assert no_empty_note(run, "62")

    assert run("status", "62", "cancelled", "--all").returncode == 0
    assert set(statuses(run, "62").values()) == {"cancelled"}


def test_all_on_a_task_with_one_unit_done_and_one_cancelled_changes_nothing(run):
    first, second = statuses(run, "42")
    run("status", "42", "done", "--unit", first)
    run("status", "42", "cancelled", "--unit", second)
    again = run("status", "42", "done", "--all")
    assert again.returncode == 0 and "未做更改" in again.stdout
    assert no_empty_note(run, "42")
    assert statuses(run, "42") == {first: "done", second: "cancelled"}


def test_the_log_of_all_says_what_the_units_really_were(run):
    run("status", "62", "blocked", "--unit", "马陆镇")
    run("status", "62", "done", "--all")
    summary = as_json(run.read("log", "62", "--format", "json"))[-1]["summary"]
    assert summary == "所有单位的状态：未开始 42 个单位、受阻 1 个单位 → 已完成", summary


# -- a note's key and its unit -------------------------------------------------------------


def test_a_key_is_its_units_own(run):
    """Issue 25: an idempotency key is scoped to the unit whose note it is. 江桥镇's k1 after
    马陆镇's is 江桥镇's own note, the office's k1 on the task as a whole another; a retry for
    the same unit still finds its first note."""
    assert run("note", "62", "已公开", "--unit", "马陆镇", "--key", "k1").returncode == 0
    assert run("note", "62", "已公开", "--unit", "江桥镇", "--key", "k1").returncode == 0
    assert run("note", "62", "已公开", "--key", "k1").returncode == 0
    units = [a["unit"] for a in shown(run, "62")["assignments"] if a["notes"]]
    assert units == ["马陆镇", "江桥镇"] and len(shown(run, "62")["notes"]) == 1
    again = run("note", "62", "已公开", "--unit", "马陆镇", "--key", "k1")
    assert again.returncode == 0, again.stderr
    assert [len(a["notes"]) for a in shown(run, "62")["assignments"] if a["notes"]] == [1, 1]
    refused(run("note", "62", "另一句", "--unit", "江桥镇", "--key", "k1"), "但进展说明不同")


def test_a_batch_key_is_its_units_own(run, tmp_path):
    (tmp_path / "a.csv").write_text("id,text,unit,key\n62,已公开,马陆镇,k2\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,text,unit,key\n62,已公开,江桥镇,k2\n", encoding="utf-8")
    assert run("note", "--from", "a.csv").returncode == 0
    assert run("note", "--from", "b.csv").returncode == 0
    assert run("note", "--from", "b.csv").returncode == 0  # a retry: nothing more
    assert [len(a["notes"]) for a in shown(run, "62")["assignments"] if a["notes"]] == [1, 1]


# -- one unit's listing in CSV, and its targets ------------------------------------------------


def test_csv_of_a_one_unit_listing_carries_the_units_own_part(run):
    run("status", "62", "done", "--unit", "马陆镇")
    import csv
    import io

    for command in (("list", "--unit", "马陆镇"), ("due", "--all", "--unit", "马陆镇")):
        rows = {row["id"]: row for row in csv.DictReader(io.StringIO(run(*command, "-f", "csv").stdout))}
        assert rows["62"]["status"] == "doing"  # the task's, as in JSON
        own = {key: value for key, value in rows["62"].items() if key.startswith("assignment_")}
        assert own == {"assignment_status": "done", "assignment_overdue": "false", "assignment_via": "各街镇",
                       "assignment_lead": "false", "assignment_updated_at": own["assignment_updated_at"],
                       "assignment_progress": "0"}
    tsv = run("list", "--unit", "马陆镇", "-f", "tsv").stdout.splitlines()[0].split("\t")
    assert "assignment_status" in tsv
    assert "assignment_status" not in run("list", "-f", "csv").stdout.splitlines()[0]


def test_a_target_counts_per_unit(run):
    run("note", "60", "一", "--count", "1", "--unit", "马陆镇")
    run("note", "60", "二", "--count", "2", "--unit", "马陆镇")
    run("note", "60", "整体", "--count", "1")
    run("note", "60", "江桥", "--count", "1", "--unit", "江桥镇")
    own = listed(run, "--unit", "马陆镇")[60]
    assert own["progress"] == own["assignment"]["progress"] == 3
    import csv
    import io

    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(run("list", "--unit", "马陆镇", "-f", "csv").stdout))}
    assert rows["60"]["progress"] == "3"
    detail = shown(run, "60")
    assert {a["unit"]: a["progress"] for a in detail["assignments"]}["江桥镇"] == 1
    assert "（已达到）" not in run("show", "60").stdout
    assert as_json(run.read("summary", "-f", "json"))["target_reached"] == []


# -- which unit a write is for -----------------------------------------------------------------


def test_a_repeated_unit_is_refused_not_settled_by_the_last(run):
    refused(run("status", "62", "done", "--unit", "马陆镇", "--unit", "江桥镇"), "只能给一个单位", "--all")
    refused(run("note", "62", "已公开", "-u", "马陆镇", "-u", "江桥镇"), "只能给一个单位")
    refused(run("--unit", "马陆镇", "--unit", "江桥镇", "note", "62", "已公开"), "gongkai --unit 只能给一个单位")
    assert all(a["notes"] == [] and a["status"] == "todo" for a in shown(run, "62")["assignments"])


def test_a_collective_as_the_unit_of_a_write_says_it_is_one(run):
    refused(run("status", "62", "done", "--unit", "各街镇"), "“各街镇”是 12 个单位的集合", "--unit 嘉定镇街道", "--all")
    refused(run("note", "62", "已公开", "--unit", "各街镇"), "“各街镇”是 12 个单位的集合", "对任务整体")


def test_an_unknown_unit_in_a_write_is_unknown_and_says_where_it_came_from(run):
    refused(run("status", "62", "done", "--unit", "区财政"), "未知的责任单位“区财政”", "区财政局")
    refused(run("note", "62", "x", extra_env={"GONGKAI_UNIT": "区财政"}),
            "未知的责任单位“区财政”（来自环境变量 GONGKAI_UNIT）")
    refused(run("--unit", "区财政局", "status", "42", "done"), "没有分配给“区财政局”（来自命令名前的 --unit）")


def test_unassign_of_a_collective_takes_back_its_members(run):
    assert run("assign", "7", "--unit", "各街镇").returncode == 0
    taken = run("unassign", "7", "--unit", "各街镇")
    assert taken.returncode == 0, taken.stderr
    assert not {"马陆镇", "江桥镇"} & set(statuses(run, "7"))


def test_assign_of_the_unit_the_cell_names_first_marks_it_lead(run):
    assert run("unassign", "40", "--unit", "区政府办公室").returncode == 0
    assert run("assign", "40", "--unit", "区政府办公室").returncode == 0
    leads = [a["unit"] for a in shown(run, "40")["assignments"] if a["lead"]]
    assert leads == ["区政府办公室"]
    assert run("assign", "40", "--unit", "区财政局").returncode == 0
    assert [a["unit"] for a in shown(run, "40")["assignments"] if a["lead"]] == ["区政府办公室"]


# -- note's messages -----------------------------------------------------------------------------


def test_note_with_a_status_and_no_unit_names_unit_not_its_missing_all(run, tmp_path):
    line = refused(run("note", "62", "已公开", "--status", "done"), "--unit", "gongkai status 62 状态 --all")
    assert "请加 --all" not in line
    (tmp_path / "n.csv").write_text("id,text,status\n62,已公开,done\n", encoding="utf-8")
    line = refused(run("note", "--from", "n.csv"), "第 2 行", "“单位”（unit）列", "整批未写入")
    assert "请加 --all" not in line


@pytest.mark.no_ledger
def test_note_from_with_a_unit_names_the_option(run, tmp_path):
    (tmp_path / "n.csv").write_text("id,text\n62,已公开\n", encoding="utf-8")
    line = refused(run("note", "--from", "n.csv", "--unit", "马陆镇"), "--unit", "序号、说明")
    assert "ID" not in line and "TEXT" not in line
    assert "key,unit" in run("note", "-h", extra_env={"COLUMNS": "200"}).stdout


def test_show_markdown_matches_the_table(run):
    run("note", "62", "已公开", "--unit", "马陆镇")
    markdown = run("show", "62", "-f", "markdown").stdout
    assert "未开始·逾期" in markdown and "### 进展记录（任务整体）" in markdown and "暂无任务整体的进展记录。" in markdown
    assert "暂无进展记录。" not in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| 单位 |"))
    assert header.split(" | ")[:3] == ["| 单位", "经由", "牵头"]
    table = run("show", "40", extra_env={"COLUMNS": "200"}).stdout
    assert any("牵头" in line and "单位" in line and "经由" in line for line in table.splitlines())


def test_log_json_of_assign_shows_no_storage_columns(run):
    run("assign", "40", "--unit", "区财政局")
    run("unassign", "40", "--unit", "区财政局")
    run("undo", "--yes")
    for event in as_json(run.read("log", "40", "--format", "json")):
        for side in (event["before"], event["after"]):
            for row in (side or {}).get("assignments", []):
                assert set(row) == {"unit", "via", "lead", "vague", "status", "updated_at"}
                assert row["lead"] is False and row["vague"] is False


def test_assign_and_unassign_are_quiet_or_json_on_request(run):
    quiet = run("assign", "40", "--unit", "区财政局", "-q")
    assert quiet.returncode == 0 and quiet.stdout == ""
    event = as_json(run("unassign", "40", "--unit", "区财政局", "--format", "json"))
    assert event["action"] == "unassign" and event["task"] == 40
    assert event["before"]["assignments"][0]["unit"] == "区财政局" and event["before"]["assignments"][0]["lead"] is False


def test_remind_by_unit_says_a_task_contains_a_vague_group(run):
    out = run("remind", "--by-unit", "--within", "30d").stdout
    assert "以下任务含有泛指的单位（如“各相关部门”），须由公开办用 gongkai assign 落实到具体单位" in out
    assert "只写了泛指的单位" not in out


def test_summary_counts_a_target_reached_by_every_unit_and_suggests_all(run, tmp_path):
    units = list(statuses(run, "84"))
    run("note", "84", "一", "--count", "1", "--unit", units[0])
    assert 84 not in as_json(run.read("summary", "-f", "json"))["target_reached"]
    lines = "id,text,count,unit\n" + "".join(f"84,已听取汇报,1,{unit}\n" for unit in units[1:])
    (tmp_path / "n.csv").write_text(lines, encoding="utf-8")
    assert run("note", "--from", "n.csv", "-q").returncode == 0
    assert as_json(run.read("summary", "-f", "json"))["target_reached"] == [84]
    hint = run("summary").stdout
    assert "任务 84（各单位均已达到）" in hint and "--all" in hint
    assert "（已达到）" in run("show", "84").stdout
