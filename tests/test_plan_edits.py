"""The office changes the plan during the year (issue 23): `task add / edit / drop`, each in the
history and undone by `undo`, and the units every command prints are the current assignments."""

from __future__ import annotations

import csv
import io
import json

import pytest

SOURCE = "沪府办〔2023〕5号"


def ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def refused(result, code: int, needle: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "" and needle in result.stderr, result.stderr


def task(gk, task_id: int) -> dict:
    return json.loads(ok(gk("show", str(task_id), "-f", "json")))


def listed_ids(gk, *args: str) -> list[int]:
    return [row["id"] for row in json.loads(ok(gk("list", *args, "-f", "json")))]


def last_log(gk) -> dict:
    return json.loads(ok(gk("log", "-f", "json")))[-1]


def test_task_edit_due_is_in_the_log_shows_the_original_and_undo_puts_it_back(gk):
    assert task(gk, 40)["due"] == "2023-04-20"
    said = ok(gk("task", "edit", "40", "--due", "2023-05-31"))
    assert "截止日期：2023-04-20 → 2023-05-31" in said and f"#{last_log(gk)['id']}" in said
    shown = task(gk, 40)
    assert shown["due"] == "2023-05-31" and shown["deadline"] == "4月20日前"
    assert shown["planned"] == {"content": shown["content"], "deadline": "4月20日前", "start": None,
                                "due": "2023-04-20"}
    assert "2023-05-31（调整过，原为 2023-04-20）" in ok(gk("show", "40"))
    entry = last_log(gk)
    assert entry["action"] == "task_edit" and entry["task"] == 40 and entry["by"]
    ok(gk("undo", "--yes"))
    shown = task(gk, 40)
    assert shown["due"] == "2023-04-20" and "planned" not in shown


def test_a_second_edit_keeps_the_plans_original_and_undo_goes_back_one_step(gk):
    ok(gk("task", "edit", "40", "--due", "2023-05-31"))
    ok(gk("task", "edit", "40", "--deadline", "6月底前", "--content", "更正后的内容"))
    shown = task(gk, 40)
    assert (shown["content"], shown["deadline"], shown["due"]) == ("更正后的内容", "6月底前", "2023-06-30")
    assert shown["planned"]["due"] == "2023-04-20" and shown["planned"]["deadline"] == "4月20日前"
    ok(gk("undo", "--yes"))
    shown = task(gk, 40)
    assert (shown["deadline"], shown["due"]) == ("4月20日前", "2023-05-31")
    assert shown["planned"]["due"] == "2023-04-20"


def test_task_add_with_its_source_is_listed_logged_and_undone(gk):
    said = ok(gk("task", "add", "开展政务公开专项检查", "--unit", "区财政局", "--unit", "区审计局",
                 "--deadline", "6月底前", "--source", SOURCE))
    assert "第 92 项" in said and SOURCE in said
    added = task(gk, 92)
    assert added["units"] == ["区财政局", "区审计局"] and added["lead_unit"] == "区财政局"
    assert added["source"] == SOURCE and added["due"] == "2023-06-30"
    assert [a["unit"] for a in added["assignments"]] == ["区财政局", "区审计局"]
    assert 92 in listed_ids(gk, "--unit", "区审计局")
    assert "来源" in ok(gk("show", "92")) and SOURCE in ok(gk("show", "92"))
    assert last_log(gk)["action"] == "task_add"
    ok(gk("note", "92", "已开始", "--unit", "区财政局"))
    ok(gk("undo", "--yes"))
    ok(gk("undo", "--yes"))
    assert 92 not in listed_ids(gk)
    refused(gk("show", "92"), 3, "没有序号为 92 的任务")


def test_task_add_takes_a_chosen_id_and_refuses_one_the_plan_has(gk):
    ok(gk("task", "add", "内容", "--unit", "区财政局", "--deadline", "6月底前", "--source", SOURCE, "--id", "200"))
    assert task(gk, 200)["content"] == "内容"
    refused(gk("task", "add", "内容", "--unit", "区财政局", "--deadline", "6月底前", "--source", SOURCE, "--id", "40"),
            2, "已有序号为 40 的任务")


@pytest.mark.parametrize(("args", "needle"), [
    (("--unit", "区财政局", "--deadline", "择机", "--source", SOURCE), "无法识别时间节点"),
    (("--unit", "区不存在局", "--deadline", "6月底前", "--source", SOURCE), "未知的责任单位"),
    (("--unit", "区财政局", "--deadline", "6月底前", "--source", "  "), "来源不能为空"),
])
def test_task_add_refuses_bad_input_and_writes_nothing(gk, args, needle):
    before = last_log(gk)
    refused(gk("task", "add", "内容", *args), 2, needle)
    assert last_log(gk) == before


def test_task_add_refuses_empty_content(gk):
    refused(gk("task", "add", " ", "--unit", "区财政局", "--deadline", "6月底前", "--source", SOURCE), 2, "任务内容不能为空")


def test_task_edit_refuses_no_change_a_missing_task_and_a_bad_date(gk):
    before = last_log(gk)
    refused(gk("task", "edit", "40"), 2, "请至少指定一项修改")
    refused(gk("task", "edit", "999", "--due", "2023-05-31"), 3, "没有序号为 999 的任务")
    refused(gk("task", "edit", "40", "--due", "明年某天"), 2, "")
    assert last_log(gk) == before


def test_task_drop_hides_the_task_keeps_its_notes_and_undo_brings_it_back(gk):
    ok(gk("note", "85", "已有进展"))
    before = len(listed_ids(gk))
    ok(gk("task", "drop", "85"))
    assert 85 not in listed_ids(gk) and len(listed_ids(gk)) == before - 1
    plans = json.loads(ok(gk("plans", "-f", "json")))
    assert plans[0]["tasks"] == before - 1
    shown = task(gk, 85)
    assert shown["dropped_at"] and shown["notes"][0]["text"] == "已有进展"
    assert "已删除" in ok(gk("show", "85"))
    assert last_log(gk)["action"] == "task_drop"
    refused(gk("task", "drop", "85"), 2, "已经删除过了")
    ok(gk("undo", "--yes"))
    assert 85 in listed_ids(gk) and "dropped_at" not in task(gk, 85)


def test_after_assign_every_format_names_the_new_unit_and_keeps_the_cells(gk):
    planned = task(gk, 40)["units"]
    assert len(planned) == 8 and "区财政局" not in planned
    ok(gk("assign", "40", "--unit", "区财政局"))
    shown = task(gk, 40)
    assert shown["units"] == [*planned, "区财政局"] and shown["planned_units"] == planned
    assert "区财政局" in ok(gk("show", "40"))
    assert "区财政局" in ok(gk("show", "40", "-f", "markdown"))
    row = next(r for r in csv.DictReader(io.StringIO(ok(gk("list", "-f", "csv")))) if r["id"] == "40")
    assert row["units"].endswith("区财政局")
    listing = {r["id"]: r for r in json.loads(ok(gk("list", "-f", "json")))}
    assert listing[40]["units"][-1] == "区财政局"
    assert "等 9 家" in ok(gk("list", "--search", "政策集成"))
    ok(gk("unassign", "40", "--unit", "区财政局"))
    assert task(gk, 40)["units"] == planned


def test_unassigning_a_planned_unit_takes_it_off_the_printed_units(gk):
    ok(gk("assign", "40", "--unit", "区财政局"))
    ok(gk("unassign", "40", "--unit", "区民政局"))
    shown = task(gk, 40)
    assert "区民政局" not in shown["units"] and "区民政局" in shown["planned_units"]


def test_key_tasks_are_listed_alone_head_the_report_and_undo_unmarks(gk):
    ok(gk("note", "40", "已开始"))
    ok(gk("note", "62", "已开始", "--unit", "马陆镇"))
    said = ok(gk("task", "key", "62"))
    assert "标为重点任务" in said
    assert listed_ids(gk, "--key") == [62]
    assert task(gk, 62)["key_task"] is True and "key_task" not in task(gk, 40)
    assert "重点任务      是" in ok(gk("show", "62"))
    report = ok(gk("report"))
    assert "重点任务 1 项（第 62 项），已完成 0 项，已逾期 1 项：第 62 项。" in report
    listing = report[report.index("任务清单"):]
    assert listing.index("| 62 |") < listing.index("| 40 |")
    refused(gk("task", "key", "62"), 2, "已经是重点任务")
    assert last_log(gk)["action"] == "task_key"
    ok(gk("undo", "--yes"))
    assert listed_ids(gk, "--key") == []
    refused(gk("task", "key", "62", "--off"), 2, "本来就不是重点任务")
    ok(gk("task", "key", "62"))
    ok(gk("task", "key", "62", "--off"))
    assert listed_ids(gk, "--key") == []


def test_task_60_counts_each_assignment_against_its_own_level_target(gk):
    """The district government (the lead, 区政府办公室) is asked for 4 meetings, each unit for 1."""
    from gongkai_cli.domain.targets import level_targets

    assert level_targets("区政府年内不少于4次，各单位年内不少于1次。") == (4, 1)
    assert level_targets("年内不少于4次，并于3次以上公开") == (4, 4)
    assert level_targets("开展培训") == (None, None)
    shown = task(gk, 60)
    targets = {a["unit"]: a["target"] for a in shown["assignments"]}
    assert targets["区政府办公室"] == 4 and targets["区财政局"] == 1 and targets["马陆镇"] == 1
    ok(gk("note", "60", "列席一次", "--unit", "区财政局", "--count", "1"))
    own = next(row for row in json.loads(ok(gk("list", "--unit", "区财政局", "-f", "json"))) if row["id"] == 60)
    assert own["assignment"]["progress"] == 1 and own["assignment"]["target"] == 1
    assert "1/1" in ok(gk("list", "--unit", "区财政局", "--search", "列席政府决策会议"))
    assert "1/1" in ok(gk("show", "60")) and "0/4" in ok(gk("show", "60"))
