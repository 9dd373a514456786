"""History and undo: every change is an event; undo reverts the newest one, in one transaction."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import write_csv
from gongkai_cli.domain.errors import NotFound, StoreError, UsageError
from gongkai_cli.domain.statuses import Status
from gongkai_cli.ledger import Ledger
from gongkai_cli.store.migrations import SQLITE_MIGRATIONS as MIGRATIONS
from postgres import is_server, query
from processes import without_notice

HEADER = "id,group,content,units,deadline\n"


@pytest.fixture
def ledger(db_path: Path):
    with Ledger.open(db_path) as opened:
        yield opened


def table_rows(db: Path | str, table: str) -> list:
    return query(db, f"SELECT * FROM {table} ORDER BY 1", named=True)


def snapshot(db: Path) -> dict[str, list[tuple]]:
    return {t: table_rows(db, t) for t in ("plans", "tasks", "task_units", "units", "notes", "events")}


# -- recording ------------------------------------------------------------------------


def test_every_change_is_an_event_with_before_and_after(ledger: Ledger, tmp_path: Path):
    ledger.add_note(40, "试点完成", by="张三")
    ledger.set_status(40, Status.DONE, note="已发布", by="李四", all_units=True)
    edited = write_csv(tmp_path / "tasks_2023.csv", HEADER + "40,组,新的内容,区财政局,5月1日前\n999,组,新任务,区财政局,全年\n")
    ledger.import_file(edited)
    bootstrap, note, status, reimport = ledger.history()
    assert (bootstrap.action, bootstrap.before["plan"], len(bootstrap.after["tasks"])) == ("import", None, 91)
    assert (note.action, note.by, note.task, note.before, note.after["text"]) == ("note", "张三", 40, None, "试点完成")
    assert (status.action, status.before["status"], status.after["status"], status.after["text"]) == (
        "status", "todo", "done", "已发布")
    assert set(status.before["units"].values()) == {"todo"} and status.after["all"] is True
    assert reimport.before["tasks"]["999"] is None
    assert reimport.before["tasks"]["40"]["due"] == "2023-04-20"
    assert reimport.after["tasks"]["40"] == {
        "group": "组", "content": "新的内容", "units": ["区财政局"], "deadline": "5月1日前",
        "start": None, "due": "2023-05-01"}
    assert all(e.undone_by is None for e in ledger.history())


def test_history_is_append_only(ledger: Ledger, db_path: Path):
    ledger.add_note(40, "x")
    for statement in ("UPDATE events SET by = 'someone else'", "DELETE FROM events"):
        with pytest.raises(Exception, match="append-only"):  # sqlite3's or psycopg's IntegrityError
            query(db_path, statement)


def test_history_of_one_task_includes_imports_that_wrote_it(ledger: Ledger, tmp_path: Path):
    ledger.add_note(40, "四十")
    ledger.add_note(41, "四十一")
    ledger.import_file(write_csv(tmp_path / "tasks_2023.csv", HEADER + "41,组,改写,区财政局,全年\n"))
    assert [(e.action, e.task) for e in ledger.history(40)] == [("import", None), ("note", 40)]
    assert [(e.action, e.task) for e in ledger.history(41)] == [("import", None), ("note", 41), ("import", None)]


def test_history_of_a_missing_task_is_not_found(ledger: Ledger):
    with pytest.raises(NotFound, match="99999"):
        ledger.history(99999)


def test_history_since_a_date(ledger: Ledger, monkeypatch):
    from gongkai_cli.domain import dates

    stamps = iter(["2023-03-01T09:00:00+08:00", "2023-04-02T09:00:00+08:00"])
    monkeypatch.setattr(dates, "timestamp", lambda: next(stamps))
    ledger.add_note(40, "三月")
    ledger.add_note(40, "四月")
    def notes(since):
        return [e.after["text"] for e in ledger.history(40, since=since) if e.action == "note"]

    assert notes("2023-04-01") == ["四月"]
    assert notes("3月1日") == ["三月", "四月"]
    with pytest.raises(UsageError, match="2023-02-30"):
        ledger.history(since="2023-02-30")


def test_history_of_one_plan_or_all(ledger: Ledger, tmp_path: Path, db_path: Path):
    ledger.import_file(write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n"))
    assert [e.plan for e in ledger.history()] == ["2023", "2024"]
    with Ledger.open(db_path, plan="2023") as only_2023:
        assert [e.plan for e in only_2023.history()] == ["2023"]


# -- undo -----------------------------------------------------------------------------


def test_undo_a_note_retracts_it_but_keeps_it_in_the_history(ledger: Ledger, db_path: Path):
    ledger.add_note(40, "写错了的进展")
    event = ledger.last_change()
    undo = ledger.undo(event, by="王五")
    assert (undo.action, undo.undoes, undo.by, undo.task) == ("undo", event.id, "王五", 40)
    assert ledger.show(40).notes == ()
    (row,) = table_rows(db_path, "notes")
    assert row["text"] == "写错了的进展" and row["retracted_at"] and row["retracted_by"] == "王五"
    note_event = ledger.history(40)[1]
    assert note_event.undone_by == undo.id


def test_undo_a_status_change_restores_the_previous_status(ledger: Ledger):
    ledger.set_status(40, Status.DOING, all_units=True)
    ledger.set_status(40, Status.BLOCKED, note="等待数据", all_units=True)
    ledger.undo(ledger.last_change())
    task = ledger.show(40)
    assert task.status is Status.DOING
    assert [(n.status, n.text) for n in task.notes] == [(Status.DOING, "")]


@pytest.mark.parametrize("status", list(Status))
def test_every_status_comes_back(ledger: Ledger, status: Status):
    ledger.set_status(40, Status.DOING, all_units=True)
    ledger.set_status(40, status, note="改", all_units=True)
    ledger.undo(ledger.last_change())
    assert ledger.show(40).status is Status.DOING


def test_undo_steps_back_through_the_history_and_is_itself_recorded(ledger: Ledger):
    ledger.set_status(40, Status.DOING, all_units=True)
    ledger.set_status(40, Status.DONE, all_units=True)
    first = ledger.undo(ledger.last_change())
    second = ledger.undo(ledger.last_change())
    assert ledger.show(40).status is Status.TODO
    assert [e.action for e in ledger.history(40)] == ["import", "status", "status", "undo", "undo"]
    # Undo events are never undone themselves: the next undo reaches the bundled import.
    assert ledger.last_change().action == "import"
    assert (first.undoes_action, second.undoes_action) == ("status", "status")


def test_undo_a_reimport_restores_texts_dates_units_and_plan(ledger: Ledger, tmp_path: Path):
    before = ledger.show(40)
    plan_before = ledger.plan()
    ledger.set_status(40, Status.DOING, all_units=True)
    edited = write_csv(tmp_path / "tasks_2023.csv", HEADER + "40,新组,新内容,区财政局、马陆镇,11月底前\n")
    ledger.import_file(edited, year=2023)
    assert ledger.show(40).content == "新内容"
    ledger.undo(ledger.last_change())
    after = ledger.show(40)
    assert (after.group, after.content, after.units, after.deadline, after.start, after.due) == (
        before.group, before.content, before.units, before.deadline, before.start, before.due)
    assert after.status is Status.DOING  # statuses were never the import's to change
    plan_after = ledger.plan()
    assert (plan_after.source, plan_after.imported_at, plan_after.tasks) == (
        plan_before.source, plan_before.imported_at, 91)


def test_undo_an_import_removes_the_tasks_and_plan_it_created(ledger: Ledger, tmp_path: Path, db_path: Path):
    before = snapshot(db_path)
    ledger.import_file(write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,甲,区财政局,全年\n2,组,乙,新单位,全年\n"))
    ledger.undo(ledger.last_change())
    after = snapshot(db_path)
    assert [p.name for p in ledger.plans()] == ["2023"]
    for table in ("plans", "tasks", "task_units", "notes"):
        assert after[table] == before[table], table
    assert len(after["events"]) == len(before["events"]) + 2


def test_undo_of_an_import_takes_retracted_notes_of_its_tasks_along(ledger: Ledger, tmp_path: Path):
    ledger.import_file(write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,甲,区财政局,全年\n"))
    ledger.add_note(1, "记在新任务上")
    ledger.undo(ledger.last_change())
    ledger.undo(ledger.last_change())
    assert [p.name for p in ledger.plans()] == ["2023"]
    # The note's words live on in its event.
    assert [e.after["text"] for e in ledger.history() if e.action == "note"] == ["记在新任务上"]


def test_undo_of_an_import_refuses_while_its_new_tasks_have_live_notes(ledger: Ledger, tmp_path: Path, db_path: Path):
    ledger.import_file(write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,甲,区财政局,全年\n7,组,乙,区财政局,全年\n"))
    # Only a note written behind gongkai's back (no event) can still be live here.
    query(db_path, """INSERT INTO notes (task, at, by, text) SELECT pk, 'now', '外部', '外部写入'
                      FROM tasks WHERE plan = '2024' AND id = 7""")
    before = snapshot(db_path)
    with pytest.raises(UsageError, match="序号 7") as info:
        ledger.undo(ledger.last_change())
    assert info.value.exit_code == 2
    assert snapshot(db_path) == before


def test_undo_refuses_when_the_ledger_no_longer_matches_the_event(ledger: Ledger, db_path: Path):
    ledger.set_status(40, Status.DONE, all_units=True)
    query(db_path, "UPDATE tasks SET status = 'blocked' WHERE plan = '2023' AND id = 40")
    before = snapshot(db_path)
    with pytest.raises(StoreError, match="不一致") as info:
        ledger.undo(ledger.last_change())
    assert info.value.exit_code == 4
    assert snapshot(db_path) == before


def test_a_change_between_preview_and_undo_cancels_the_undo(ledger: Ledger, db_path: Path):
    ledger.add_note(40, "甲")
    shown = ledger.last_change()
    with Ledger.open(db_path) as other:
        other.add_note(41, "乙")
    before = snapshot(db_path)
    with pytest.raises(StoreError, match="重新运行"):
        ledger.undo(shown)
    assert snapshot(db_path) == before


def test_a_change_undone_elsewhere_while_it_is_checked_asks_for_a_rerun(db_path: Path, tmp_path: Path, monkeypatch):
    # Another process undoes the only undoable change between `change` reading it and
    # asking which change is newest: there is then none, which is not a crash.
    with Ledger.open(db_path, bootstrap=False) as ledger:
        ledger.import_file(write_csv(tmp_path / "tasks_2023.csv", HEADER + "1,组,内容,区财政局,全年\n"))
        imported = ledger.last_change()
        read_event = ledger.store.history.event

        def read_then_undone_elsewhere(event_id: int):
            found = read_event(event_id)
            with Ledger.open(db_path) as other:
                other.undo(other.last_change())
            return found

        monkeypatch.setattr(ledger.store.history, "event", read_then_undone_elsewhere)
        with pytest.raises(StoreError, match="重新运行 gongkai undo") as info:
            ledger.change(imported.id)
    assert info.value.exit_code == 4


def test_a_note_key_found_on_another_kind_of_event_is_a_damaged_ledger(ledger: Ledger, db_path: Path):
    # Only notes carry keys; a key on the import event was put there behind gongkai's back.
    tamper_with_history(db_path, "UPDATE events SET key = 'k1' WHERE action = 'import'")
    refused_as_damaged(db_path, "不是进展记录", lambda: ledger.add_note(40, "甲", key="k1"))


def test_undo_of_an_import_whose_stored_change_is_gone_refuses(ledger: Ledger, db_path: Path):
    tamper_with_history(db_path, "UPDATE events SET after = NULL WHERE action = 'import'")
    refused_as_damaged(db_path, "不一致", lambda: ledger.undo(ledger.last_change()))


def test_undo_is_one_transaction(ledger: Ledger, db_path: Path, monkeypatch):
    ledger.set_status(40, Status.DONE, all_units=True)
    before = snapshot(db_path)

    def fail(*args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(type(ledger.store.history), "_record", fail)
    with pytest.raises(RuntimeError):
        ledger.undo(ledger.last_change())
    assert snapshot(db_path) == before


def test_nothing_to_undo_is_not_found(db_path: Path):
    with Ledger.open(db_path, bootstrap=False) as empty, pytest.raises(NotFound, match="没有可以撤销的更改"):
        empty.last_change()


@pytest.mark.sqlite_only("upgrades an old release's SQLite file")
def test_upgrading_an_old_database_turns_its_notes_into_history(tmp_path: Path):
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    MIGRATIONS[0].body("sqlite")(conn)
    conn.executescript(
        """
        PRAGMA user_version = 1;
        INSERT INTO plans VALUES ('2023', 2023, 't.csv', 'x', 'x');
        INSERT INTO tasks (plan, id, group_name, content, units, deadline, status, updated_at)
            VALUES ('2023', 1, 'g', 'c', 'u', '全年', 'blocked', 'x');
        INSERT INTO notes (task, at, by, text, status) VALUES
            (1, '2023-01-01T09:00:00+08:00', '甲', '开始', 'doing'),
            (1, '2023-01-02T09:00:00+08:00', '乙', '进展', NULL),
            (1, '2023-01-03T09:00:00+08:00', '丙', '卡住', 'blocked');
        """
    )
    conn.close()
    with Ledger.open(path) as upgraded:
        history = upgraded.history(1)
        assert [(e.action, e.by, e.before) for e in history] == [
            ("status", "甲", {"status": "todo"}),
            ("note", "乙", None),
            ("status", "丙", {"status": "doing"}),
        ]
        upgraded.undo(upgraded.last_change())
        assert upgraded.show(1).status is Status.DOING
        assert [n.text for n in upgraded.show(1).notes] == ["开始", "进展"]


# -- the commands ---------------------------------------------------------------------


def test_log_command_formats(gk):
    gk("note", "40", "试点完成")
    gk("status", "40", "--all", "done")
    table = gk("log", "40")
    assert table.exit_code == 0
    assert "未开始 → 已完成" in table.stdout and "试点完成" in table.stdout and "共 3 条历史记录" in table.stdout
    data = json.loads(gk("log", "40", "--format", "json").stdout)
    assert [e["action"] for e in data] == ["import", "note", "status"]
    assert set(data[2]) >= {"id", "at", "by", "action", "plan", "task", "before", "after", "undone_by", "summary"}
    rows = list(csv.DictReader(io.StringIO(gk("log", "--format", "csv").stdout)))
    assert rows[2]["summary"] == "所有单位的状态：未开始 → 已完成" and rows[2]["by"] == "测试员"
    assert len(gk("log", "--format", "tsv").stdout.splitlines()) == 4
    assert "| 编号 |" in gk("log", "--format", "markdown").stdout


@pytest.mark.parametrize(("args", "code"), [(("0",), 2), (("abc",), 2), (("99999",), 3), (("--since", "32/13"), 2),
                                             (("--since", ""), 2), (("--format", "xml"), 2)])
def test_log_bad_input(gk, args, code):
    result = gk("log", *args)
    assert result.exit_code == code and result.stdout == ""
    error = without_notice(result.stderr)
    assert error.startswith("错误：") and error.count("\n") == 1


def test_undo_without_a_terminal_needs_yes_and_changes_nothing(gk, db_path):
    gk("status", "40", "--all", "done")
    before = snapshot(db_path)
    result = gk("undo")
    assert result.exit_code == 2
    assert "--yes" in result.stderr and "未开始 → 已完成" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert snapshot(db_path) == before
    done = gk("undo", "--yes")
    assert done.exit_code == 0 and "已撤销" in done.stdout
    assert json.loads(gk("show", "40", "-f", "json").stdout)["status"] == "todo"


def test_undo_asks_in_a_terminal(gk, db_path, monkeypatch):
    import gongkai_cli.cli.console as console

    monkeypatch.setattr(console, "_interactive", lambda: True)
    gk("note", "40", "要撤销的")
    before = snapshot(db_path)
    declined = gk("undo", input="n\n")
    assert declined.exit_code == 0 and "将撤销" in declined.stdout and "未撤销任何更改" in declined.stdout
    assert snapshot(db_path) == before
    accepted = gk("undo", "--by", "王五", input="y\n")
    assert accepted.exit_code == 0 and "已撤销 #2" in accepted.stdout
    assert json.loads(gk("show", "40", "-f", "json").stdout)["notes"] == []
    assert json.loads(gk("log", "-f", "json").stdout)[-1]["by"] == "王五"


def test_undo_with_nothing_to_undo_is_exit_3(gk, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGKAI_DB", str(tmp_path / "empty.db"))
    gk("init", "--empty")
    result = gk("undo", "--yes")
    assert result.exit_code == 3 and "没有可以撤销的更改" in result.stderr


@pytest.mark.parametrize(("action", "column"), [("assign", "after"), ("unassign", "before")])
def test_undo_of_an_assignment_change_whose_stored_rows_are_gone_refuses(
    ledger: Ledger, db_path: Path, action: str, column: str
):
    ledger.assign(40, ["区财政局"])
    if action == "unassign":
        ledger.unassign(40, ["区财政局"])
    tamper_with_history(db_path, f"UPDATE events SET {column} = NULL WHERE action = ?", (action,))
    refused_as_damaged(db_path, "不一致", lambda: ledger.undo(ledger.last_change()))


def tamper_with_history(db_path: Path, sql: str, parameters: tuple[object, ...] = ()) -> None:
    """Edit the append-only history behind gongkai's back, as a damaged or hand-edited file would be."""
    query(db_path, "DROP TRIGGER events_no_update" + (" ON events" if is_server(db_path) else ""))
    query(db_path, sql, parameters)


def refused_as_damaged(db_path: Path, message: str, action: Callable[[], object]) -> None:
    """`action` is refused as a database problem (exit 4) and writes nothing."""
    before = snapshot(db_path)
    with pytest.raises(StoreError, match=message) as info:
        action()
    assert info.value.exit_code == 4
    assert snapshot(db_path) == before


def test_log_json_shows_an_import_that_changed_assignment_lists(gk, tmp_path: Path):
    """A reissued table that gives a task other units: its event keeps the planned lists by task id."""
    assert gk("list").exit_code == 0
    table = "序号,任务名称,任务内容,责任单位,时间节点\n1,推进公开,公开目录,区财政局、马陆镇,11月底前\n"
    assert gk("import", str(write_csv(tmp_path / "tasks_2024.csv", table))).exit_code == 0
    table = table.replace("区财政局、马陆镇", "区财政局、区审计局")
    assert gk("import", str(write_csv(tmp_path / "tasks_2024.csv", table))).exit_code == 0
    result = gk("log", "--plan", "2024", "--format", "json")
    assert result.exit_code == 0, result.stderr
    reissue = [event for event in json.loads(result.stdout) if event["plan"] == "2024"][-1]
    assert [a["unit"] for a in reissue["before"]["assignments"]["1"]] == ["区财政局", "马陆镇"]
    assert [a["unit"] for a in reissue["after"]["assignments"]["1"]] == ["区财政局", "区审计局"]
