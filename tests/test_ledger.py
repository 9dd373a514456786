"""Use cases on a real database file: first-run bootstrap, import, plans, queries, writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from conftest import write_csv
from gongkai_cli.domain.errors import NotFound, StoreError, UsageError
from gongkai_cli.domain.statuses import Status
from gongkai_cli.inputs.typed import parse_task_id
from gongkai_cli.ledger import Ledger, bundled_plan_path
from gongkai_cli.outputs.columns import TASK_JSON
from gongkai_cli.outputs.writers import json_object

HEADER = "id,group,content,units,deadline\n"


@pytest.fixture
def ledger(db_path: Path):
    with Ledger.open(db_path) as opened:
        yield opened


def test_first_use_fills_the_bundled_2023_plan(ledger: Ledger):
    (plan,) = ledger.plans()
    assert (plan.name, plan.year, plan.tasks, plan.source) == ("2023", 2023, 91, "tasks_2023.csv")


def test_default_path_comes_from_gongkai_db(db_path: Path, backend: str):
    with Ledger.open() as opened:
        assert (opened.store.path if backend == "sqlite" else opened.store.url.url) == db_path


@pytest.mark.sqlite_only("a file path in a missing directory")
def test_explicit_path_in_a_missing_directory_is_explained(tmp_path: Path):
    with pytest.raises(StoreError, match="不存在"):
        Ledger.open(tmp_path / "no" / "such" / "dir" / "x.db")


def test_import_into_a_missing_database_holds_only_that_plan(tmp_path: Path, db_path: Path):
    csv_file = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n")
    with Ledger.open(db_path, bootstrap=False) as opened:
        result = opened.import_file(csv_file)
        assert (result.plan, result.year, result.tasks) == ("2024", 2024, 1)
        assert [p.name for p in opened.plans()] == ["2024"]


@pytest.mark.parametrize(
    ("file_name", "plan", "year", "expected"),
    [
        ("tasks_2024.csv", None, None, ("2024", 2024)),
        ("plan.csv", "2025", None, ("2025", 2025)),
        ("plan.csv", "嘉定区2026年", None, ("嘉定区2026年", 2026)),
        ("tasks_2024.csv", "试点", 2027, ("试点", 2027)),
        ("plan.csv", None, None, ("2023", 2023)),  # no year anywhere: today's year (GONGKAI_TODAY)
    ],
)
def test_plan_name_and_year(tmp_path, db_path, file_name, plan, year, expected):
    csv_file = write_csv(tmp_path / file_name, HEADER + "1,组,内容,区财政局,4月20日前\n")
    with Ledger.open(db_path, bootstrap=False) as opened:
        result = opened.import_file(csv_file, plan=plan, year=year)
        assert (result.plan, result.year) == expected
        shown = Ledger(opened.store, opened.settings._replace(plan=result.plan)).show(1)
        assert shown.due == date(expected[1], 4, 20)


def test_unknown_deadline_is_kept_with_a_warning(tmp_path, db_path):
    csv_file = write_csv(tmp_path / "p2024.csv", HEADER + "1,组,内容,区财政局,视情而定\n")
    with Ledger.open(db_path, bootstrap=False) as opened:
        result = opened.import_file(csv_file)
        assert len(result.warnings) == 1 and "视情而定" in result.warnings[0]
        task = Ledger(opened.store, opened.settings).show(1)
        assert (task.deadline, task.start, task.due) == ("视情而定", None, None)


def test_bad_file_changes_nothing(tmp_path, ledger: Ledger):
    bad = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n1,组,重复,区财政局,全年\n")
    with pytest.raises(UsageError, match="重复"):
        ledger.import_file(bad)
    assert [p.name for p in ledger.plans()] == ["2023"]


def test_reimport_keeps_notes_and_statuses(tmp_path, ledger: Ledger):
    ledger.set_status(40, Status.DOING, note="启动", all_units=True)
    ledger.add_note(40, "试点完成")
    edited = tmp_path / "tasks_2023.csv"
    text = bundled_plan_path().read_text(encoding="utf-8")
    edited.write_text(text.replace("政策文件体量大", "政策文件数量大"), encoding="utf-8")
    result = ledger.import_file(edited)
    assert (result.counts.updated, result.counts.added) == (1, 0)
    task = ledger.show(40)
    assert "政策文件数量大" in task.content
    assert task.status is Status.DOING
    assert [n.text for n in task.notes] == ["启动", "试点完成"]


def test_this_years_plan_is_the_default_and_plan_can_be_chosen(tmp_path, db_path):
    """Next year's table loaded in advance (December 2023) does not move the default."""
    write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,二〇二四年的任务,区财政局,全年\n")
    with Ledger.open(db_path) as opened:
        opened.import_file(tmp_path / "tasks_2024.csv")
        december = Ledger(opened.store, opened.settings._replace(today=date(2023, 12, 20)))
        assert december.plan().name == "2023" and december.plan().default == "current_year"
        assert december.show(1).plan == "2023"
        january = Ledger(opened.store, opened.settings._replace(today=date(2024, 1, 2)))
        assert january.show(1).content == "二〇二四年的任务"
        assert Ledger(opened.store, opened.settings._replace(plan="2024", today=date(2023, 12, 20))).show(1).plan == "2024"
        later = Ledger(opened.store, opened.settings._replace(today=date(2026, 3, 1)))
        assert (later.plan().name, later.plan().default) == ("2024", "newest")
        assert [(p.name, p.default) for p in december.plans()] == [("2023", "current_year"), ("2024", None)]
        with pytest.raises(NotFound, match=r"2030.*2024、2023"):
            Ledger(opened.store, opened.settings._replace(plan="2030")).plan()


def test_gongkai_plan_env_picks_the_plan(tmp_path, db_path, monkeypatch):
    write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n")
    with Ledger.open(db_path) as opened:
        opened.import_file(tmp_path / "tasks_2024.csv")
    monkeypatch.setenv("GONGKAI_PLAN", "2023")
    with Ledger.open(db_path) as opened:
        assert opened.plan().name == "2023"


def test_empty_ledger_says_how_to_start(db_path):
    with Ledger.open(db_path, bootstrap=False) as opened, pytest.raises(NotFound, match="gongkai import"):
        opened.list_tasks()


def test_my_tasks_named_directly(ledger: Ledger):
    assert [t.id for t in ledger.list_tasks(units=("区财政局",), direct=True)] == [26, 28, 29, 30]


def test_unknown_unit_is_an_error_with_suggestions(ledger: Ledger):
    with pytest.raises(UsageError, match=r"区财政.*区财政局") as info:
        ledger.list_tasks(units=("区财政",))
    assert info.value.exit_code == 2


def test_due_before_is_inclusive_and_sorted_by_due(ledger: Ledger):
    assert [(t.id, t.due.isoformat()) for t in ledger.due(before="2023-04-20")] == [
        (62, "2023-03-31"),
        (40, "2023-04-20"),
    ]


def test_due_leaves_out_closed_tasks_unless_all(ledger: Ledger):
    ledger.set_status(62, Status.DONE, all_units=True)
    assert [t.id for t in ledger.due(before="2023-04-20")] == [40]
    assert [t.id for t in ledger.due(before="2023-04-20", include_closed=True)] == [62, 40]


def test_due_within_counts_from_today(ledger: Ledger):
    # today is 2023-04-01 (conftest): 40 is due on 04-20, 62 was due on 03-31.
    assert [t.id for t in ledger.due(within="3w")] == [40]
    assert ledger.due(within="7d") == []
    assert [t.id for t in ledger.due(overdue=True)] == [62]


def test_due_with_an_empty_range_is_an_error(ledger: Ledger):
    with pytest.raises(UsageError, match="日期范围为空"):
        ledger.due(before="2023-03-01", after="2023-04-01")


@pytest.mark.parametrize("value", ["2023-13-01", "soon", "2023-02-30", ""])
def test_due_rejects_invalid_dates(ledger: Ledger, value):
    """An empty --before is a mistake in a script, not "no filter"."""
    with pytest.raises(UsageError) as info:
        ledger.due(before=value)
    assert info.value.exit_code == 2


def test_chinese_date_uses_the_plan_year(ledger: Ledger):
    assert [t.id for t in ledger.due(before="4月20日")] == [62, 40]


def test_note_is_timestamped_in_shanghai_and_attributed(ledger: Ledger, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    note = ledger.add_note(40, "  试点完成  ")
    assert note.text == "试点完成"
    assert note.by == "测试员"
    assert note.at.endswith("+08:00")
    assert ledger.add_note(40, "x", by="王五").by == "王五"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_note_is_refused(ledger: Ledger, text):
    with pytest.raises(UsageError, match="不能为空"):
        ledger.add_note(40, text)
    assert ledger.show(40).notes == ()


def test_note_to_a_missing_task_names_id_and_plan(ledger: Ledger):
    with pytest.raises(NotFound, match=r"2023.*99"):
        ledger.add_note(99, "x")


def test_status_change_is_recorded_as_a_note(ledger: Ledger):
    change = ledger.set_status(40, Status.DONE, note="已发布", all_units=True)
    assert (change.before, change.after) == (Status.TODO, Status.DONE)
    task = ledger.show(40)
    assert task.status is Status.DONE
    assert [(n.status, n.text) for n in task.notes] == [(Status.DONE, "已发布")]


def test_setting_the_same_status_again_writes_nothing(ledger: Ledger):
    ledger.set_status(40, Status.DONE, all_units=True)
    again = ledger.set_status(40, Status.DONE, all_units=True)
    assert again.note is None
    assert len(ledger.show(40).notes) == 1


@pytest.mark.no_ledger
@pytest.mark.parametrize("text", ["0", "-1", "abc", "1e3", "1.0", "", " "])
def test_task_ids_must_be_positive_integers(text):
    with pytest.raises(UsageError, match="序号"):
        parse_task_id(text)


@pytest.mark.no_ledger
def test_task_id_accepts_surrounding_spaces():
    assert parse_task_id(" 40 ") == 40


# -- units: groups, aliases, lead ---------------------------------------------------------


def test_a_town_sees_tasks_given_to_all_towns_via_the_group(ledger: Ledger):
    tasks = {t.id: t for t in ledger.list_tasks(units=("马陆镇",))}
    assert tasks[1].via is None  # named directly
    assert tasks[4].via == "各街镇"
    assert json_object(TASK_JSON, tasks[4])["via"] == "各街镇"
    assert "via" not in json_object(TASK_JSON, tasks[1])


def test_direct_drops_tasks_that_came_through_a_group(ledger: Ledger):
    assert [t.id for t in ledger.list_tasks(units=("马陆镇",), direct=True)] == [1, 2]


def test_a_department_sees_tasks_of_all_government_departments(ledger: Ledger):
    tasks = {t.id: t for t in ledger.list_tasks(units=("区财政局",))}
    assert {26, 28, 29, 30} <= set(tasks)
    assert tasks[45].via == "区政府各部门"


def test_vague_groups_are_never_expanded(ledger: Ledger):
    # Task 74 is given only to 区政府各相关部门, which has no members.
    assert 74 not in {t.id for t in ledger.list_tasks(units=("区财政局",))}
    assert [t.id for t in ledger.list_tasks(units=("区政府各相关部门",))] == [74, 81]


def test_alias_finds_the_canonical_units_tasks(ledger: Ledger):
    by_alias = [t.id for t in ledger.list_tasks(units=("区大数据中心",), direct=True)]
    assert by_alias == [41, 42, 55, 56, 57, 81]
    task = ledger.show(41)
    assert "区行政服务中心（区大数据中心）" in task.units


def test_aliases_are_canonical_in_stored_tasks(ledger: Ledger):
    # The 2023 table writes 区教委 once (task 40); the unit file makes it 区教育局.
    assert "区教育局" in ledger.show(40).units
    assert 40 in [t.id for t in ledger.list_tasks(units=("区教委",), direct=True)]


def test_lead_keeps_only_tasks_the_unit_leads(ledger: Ledger):
    assert [t.id for t in ledger.list_tasks(units=("区财政局",), lead=True)] == [28, 29, 30]
    assert [t.id for t in ledger.due(units=("区住房保障房屋管理局",), lead=True)] == [13, 14, 15, 27]


def test_due_uses_groups_too(ledger: Ledger):
    assert [(t.id, t.via) for t in ledger.due(before="2023-04-20", units=("马陆镇",))] == [(62, "各街镇")]


def test_unit_summary_counts_assignments(ledger: Ledger):
    ledger.set_status(28, Status.DONE)
    rows = {row.name: row for row in ledger.units()}
    finance = rows["区财政局"]
    # 4 tasks name it, 44 more reach it through 区政府各部门; 62 (due 2023-03-31) is overdue for it.
    assert (finance.kind, finance.tasks, finance.led, finance.done, finance.overdue) == ("department", 48, 3, 1, 1)
    assert rows["区教育局"].aliases == ("区教委",)
    # A collective has no assignments of its own: its members carry them.
    assert rows["各街镇"].members[0] == "嘉定镇街道" and rows["各街镇"].tasks == 0
    assert rows["马陆镇"].tasks > 50 and rows["江桥镇"].tasks > 50


@pytest.mark.sqlite_only("the unit file beside the database file")
def test_a_unit_file_next_to_the_database_overrides_the_bundled_one(db_path: Path):
    db_path.parent.joinpath("units.csv").write_text(
        "name,kind,aliases,members\n区财政局,department,财政局,\n东片,group,,区财政局\n", encoding="utf-8"
    )
    with Ledger.open(db_path) as opened:
        assert opened.directory.source.endswith(str(db_path.parent / "units.csv"))
        assert [t.id for t in opened.list_tasks(units=("财政局",))] == [26, 28, 29, 30]
        # 区政府各部门 is not a group in this office's file, so nothing comes through it.
        assert all(t.via is None for t in opened.list_tasks(units=("区财政局",)))


def test_units_named_in_the_table_but_not_in_the_file_are_known(tmp_path, ledger: Ledger):
    plan = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,新成立的区数据局,全年\n")
    ledger.import_file(plan)
    ledger = Ledger(ledger.store, ledger.settings._replace(plan="2024"))
    assert [t.id for t in ledger.list_tasks(units=("新成立的区数据局",))] == [1]
    assert {row.name: row.kind for row in ledger.units()}["新成立的区数据局"] == "other"


def test_a_unit_dropped_by_a_reimport_stays_known(tmp_path, ledger: Ledger):
    first = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,临时专班、区财政局,全年\n")
    ledger.import_file(first)
    ledger.add_note(1, "专班已成立")
    second = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n")
    ledger.import_file(second)
    assert ledger.list_tasks(units=("临时专班",)) == []  # known, just no task any more
    assert ledger.show(1).notes[0].text == "专班已成立"


def test_export_tasks_is_the_current_plan_with_notes(ledger: Ledger):
    ledger.add_note(40, "试点完成")
    exported = ledger.export_tasks()
    assert exported.plan.name == "2023"
    assert [t.id for t in exported.tasks] == list(range(1, 92))
    assert [n.text for n in exported.tasks[39].notes] == ["试点完成"]
    assert exported.tasks[61].overdue  # 62 is due 3月31日; today is 2023-04-01
