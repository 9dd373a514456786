"""Task calendars: VTODOs and VEVENTs with alarms, and a vdir folder, read by a second parser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import icalendar
import pytest
import vobject

from conftest import write_csv


def parse_both(data: bytes):
    """The calendar as icalendar and as vobject see it; both must accept it."""
    return icalendar.Calendar.from_ical(data), vobject.readOne(data.decode("utf-8"))


@pytest.fixture
def ledger(gk, monkeypatch):
    monkeypatch.setenv("GONGKAI_NOW", "2023-03-20T01:30:00Z")
    gk("status", "40", "--all", "done", "--note", "专栏上线")
    monkeypatch.setenv("GONGKAI_NOW", "2023-03-21T01:30:00Z")
    gk("status", "41", "--all", "doing")
    gk("status", "42", "--all", "blocked")
    gk("status", "43", "--all", "cancelled")
    gk("note", "60", "邀请公众代表列席常务会议", "--count", "1")
    return gk


def todos(gk, *args: str) -> dict:
    result = gk("export", "-f", "ics", "--ics-kind", "todo", *args)
    assert result.exit_code == 0, result.output
    first, second = parse_both(result.stdout_bytes)
    by_uid = {str(todo["uid"]): todo for todo in first.walk("VTODO")}
    assert sorted(str(todo.uid.value) for todo in second.vtodo_list) == sorted(by_uid)
    return by_uid


def uid(task_id: int) -> str:
    return f"gongkai-2023-{task_id}@gongkai"


def test_todos_carry_status_dates_completion_and_percent(ledger):
    entries = todos(ledger)
    assert len(entries) == 91  # a to-do needs no due date, unlike an event
    done = entries[uid(40)]
    assert str(done["status"]) == "COMPLETED"
    assert done.decoded("completed") == datetime(2023, 3, 20, 1, 30, tzinfo=timezone.utc)
    assert int(done["percent-complete"]) == 100
    assert done.decoded("due") == date(2023, 4, 20) and "dtstart" not in done
    assert str(entries[uid(41)]["status"]) == "IN-PROCESS" and "percent-complete" not in entries[uid(41)]
    assert str(entries[uid(42)]["status"]) == "IN-PROCESS" and "受阻" in entries[uid(42)]["categories"].to_ical().decode()
    assert str(entries[uid(43)]["status"]) == "CANCELLED"
    whole_year = entries[uid(1)]
    assert str(whole_year["status"]) == "NEEDS-ACTION" and int(whole_year["percent-complete"]) == 0
    assert (whole_year.decoded("dtstart"), whole_year.decoded("due")) == (date(2023, 1, 1), date(2023, 12, 31))
    assert int(entries[uid(60)]["percent-complete"]) == 25  # 1 of the 4 meetings the task asks for
    assert "completed" not in whole_year


def test_the_second_parser_reads_the_same_values(ledger):
    data = ledger("export", "-f", "ics", "--ics-kind", "todo").stdout_bytes
    calendar = vobject.readOne(data.decode("utf-8"))
    todo = next(t for t in calendar.vtodo_list if t.uid.value == uid(40))
    assert todo.due.value == date(2023, 4, 20)
    assert todo.status.value == "COMPLETED" and todo.completed.value == datetime(2023, 3, 20, 1, 30, tzinfo=timezone.utc)
    assert todo.summary.value.startswith("[40] 选取部分市民企业关注度高")
    assert "专栏上线" in todo.description.value
    (alarm,) = next(t for t in calendar.vtodo_list if t.uid.value == uid(1)).valarm_list
    assert alarm.trigger.value == timedelta(days=-3) and alarm.trigger.params["RELATED"] == ["END"]


def test_alarm_is_configurable_and_left_off_finished_tasks(ledger):
    entries = todos(ledger, "--alarm", "1w")
    (alarm,) = entries[uid(1)].walk("VALARM")
    assert alarm.decoded("trigger") == timedelta(weeks=-1) and str(alarm["action"]) == "DISPLAY"
    assert not entries[uid(40)].walk("VALARM") and not entries[uid(43)].walk("VALARM")
    assert not any(todo.walk("VALARM") for todo in todos(ledger, "--alarm", "none").values())


def test_events_stay_the_default_and_get_the_alarm_too(ledger):
    calendar, second = parse_both(ledger("export", "-f", "ics").stdout_bytes)
    assert not calendar.walk("VTODO") and len(calendar.walk("VEVENT")) == 91
    event = next(e for e in calendar.walk("VEVENT") if str(e["uid"]) == uid(1))
    (alarm,) = event.walk("VALARM")
    assert alarm.decoded("trigger") == timedelta(days=-3)
    assert len(second.vevent_list) == 91


@pytest.mark.no_ledger
@pytest.mark.parametrize("args", [
    ("-f", "csv", "--ics-kind", "todo"),
    ("-f", "xlsx", "-o", "x.xlsx", "--alarm", "3d"),
    ("-f", "ics", "--ics-kind", "task"),
    ("-f", "ics", "--alarm", "3"),
    ("-f", "ics", "--alarm", "0d"),
    ("-f", "vdir"),
])
def test_bad_calendar_options_are_exit_2(gk, args):
    result = gk("export", *args)
    assert result.exit_code == 2 and result.stderr.startswith("错误：") and result.stderr.count("\n") == 1


# -- vdir ---------------------------------------------------------------------------------


def vdir(gk, target: Path, *args: str):
    result = gk("export", "-f", "vdir", "-o", str(target), *args)
    assert result.exit_code == 0, result.output
    return result


def test_vdir_has_one_file_per_task_with_stable_names_and_uids(ledger, tmp_path):
    folder = tmp_path / "calendars" / "政务公开"
    folder.parent.mkdir()
    result = vdir(ledger, folder, "--ics-kind", "todo")
    assert "写入 91 个文件" in result.stdout
    files = sorted(folder.iterdir())
    assert len(files) == 91 and all(f.suffix == ".ics" for f in files)
    for file in files:
        (todo,) = vobject.readOne(file.read_text(encoding="utf-8")).vtodo_list
        task_id = int(file.stem.rsplit("-", 1)[1])
        assert file.name == f"gongkai-2023-{task_id}.ics" and todo.uid.value == uid(task_id)
    assert not [p for p in folder.parent.rglob("*") if p.name.startswith(".")]  # no temporary files left


def test_vdir_rewrites_only_changed_tasks(ledger, tmp_path):
    folder = tmp_path / "cal"
    vdir(ledger, folder)
    stamps = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}
    for file in folder.iterdir():
        os.utime(file, ns=(1, 1))
    again = vdir(ledger, folder)
    assert "写入 0 个文件" in again.stdout and "未变 91 个" in again.stdout
    assert {f.stat().st_mtime_ns for f in folder.iterdir()} == {1}
    ledger("note", "5", "新的进展")
    assert "写入 1 个文件" in vdir(ledger, folder).stdout
    assert [f.name for f in folder.iterdir() if f.stat().st_mtime_ns != 1] == ["gongkai-2023-5.ics"]
    assert set(stamps) == {f.name for f in folder.iterdir()}


def test_vdir_removes_only_its_own_stale_files(gk, tmp_path):
    folder = tmp_path / "cal"
    vdir(gk, folder)
    ours = (folder / "gongkai-2023-7.ics").read_text(encoding="utf-8")
    (folder / "gongkai-2023-999.ics").write_text(ours.replace(uid(7), uid(999)), encoding="utf-8")
    foreign = ours.replace("PRODID:-//gongkai//", "PRODID:-//someone//")
    (folder / "meeting.ics").write_text(foreign.replace(uid(7), "meeting-1@example.invalid"), encoding="utf-8")
    (folder / "gongkai-2024-1.ics").write_text(ours.replace(uid(7), "gongkai-2024-1@gongkai"), encoding="utf-8")
    result = vdir(gk, folder)
    assert "删除 1 个" in result.stdout
    assert not (folder / "gongkai-2023-999.ics").exists()
    assert (folder / "meeting.ics").exists() and (folder / "gongkai-2024-1.ics").exists()


def test_vdir_of_events_leaves_out_tasks_without_a_due_date(gk, tmp_path):
    write_csv(tmp_path / "p2024.csv", "id,group,content,units,deadline\n1,组,有期限,区财政局,5月1日前\n2,组,无期限,区财政局,视情况\n")
    gk("import", str(tmp_path / "p2024.csv"))
    vdir(gk, tmp_path / "events")
    vdir(gk, tmp_path / "todos", "--ics-kind", "todo")
    assert [f.name for f in (tmp_path / "events").iterdir()] == ["gongkai-2024-1.ics"]
    assert sorted(f.name for f in (tmp_path / "todos").iterdir()) == ["gongkai-2024-1.ics", "gongkai-2024-2.ics"]


@pytest.mark.no_ledger
def test_vdir_target_that_is_a_file_is_refused(gk, tmp_path):
    target = tmp_path / "cal"
    target.write_text("not a folder")
    result = gk("export", "-f", "vdir", "-o", str(target))
    assert result.exit_code == 2 and "不是文件夹" in result.stderr
    assert target.read_text() == "not a folder"


def test_todoman_lists_the_vdir(ledger, tmp_path):
    todo = shutil.which("todo", path=str(Path(sys.executable).parent))
    if todo is None:
        pytest.skip("todoman is not installed (optional: pip install todoman)")
    (tmp_path / "calendars").mkdir()
    vdir(ledger, tmp_path / "calendars" / "gongkai", "--ics-kind", "todo")
    config = tmp_path / "todoman.py"
    config.write_text(
        f"path = {str(tmp_path / 'calendars' / '*')!r}\n"
        f"cache_path = {str(tmp_path / 'todoman-cache.sqlite')!r}\n"
        'date_format = "%Y-%m-%d"\ntime_format = "%H:%M"\n',
        encoding="utf-8",
    )
    listed = subprocess.run([todo, "--config", str(config), "--porcelain", "list", "--status", "ANY"],
                            capture_output=True, text=True, timeout=120, check=True)
    entries = {entry["summary"].split("]")[0] + "]": entry for entry in json.loads(listed.stdout)}
    assert len(entries) == 91
    assert entries["[40]"]["completed"] is True and entries["[40]"]["percent"] == 100
    assert entries["[1]"]["completed"] is False and entries["[1]"]["list"] == "gongkai"
    assert datetime.fromtimestamp(entries["[1]"]["due"]).date() == date(2023, 12, 31)  # a local date


def test_khal_lists_the_event_vdir(gk, tmp_path):
    khal = shutil.which("khal", path=str(Path(sys.executable).parent))
    if khal is None:
        pytest.skip("khal is not installed (optional: pip install khal)")
    vdir(gk, tmp_path / "gongkai")
    config = tmp_path / "khal.conf"
    config.write_text(
        f"[calendars]\n[[gongkai]]\npath = {tmp_path / 'gongkai'}\n"
        "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
        "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n"
        f"[sqlite]\npath = {tmp_path / 'khal.db'}\n",
        encoding="utf-8",
    )
    listed = subprocess.run([khal, "-c", str(config), "list", "--format", "{title}", "2023-04-20", "1d"],
                            capture_output=True, text=True, timeout=120, check=True)
    assert listed.stdout.splitlines()[1:] == ["[40] 选取部分市民企业关注度高、办事需求大、政…"]


def test_vdir_never_deletes_a_calendar_file_the_user_saved_in_the_folder(executable, tmp_path):
    """`export -o DIR/x.ics` then `export -f vdir -o DIR`: x.ics carries our PRODID and this
    plan's UIDs, but its name is not one gongkai gives a task file, so it stays."""
    env = dict(os.environ)  # GONGKAI_DB: the backend under test

    def run(*args):
        result = subprocess.run([executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
                                env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        return result

    folder = tmp_path / "cal"
    folder.mkdir()
    run("export", "-o", str(folder / "x.ics"))
    saved = (folder / "x.ics").read_bytes()
    (folder / "gongkai-2023-x.ics").write_bytes(saved)
    result = run("export", "-f", "vdir", "-o", str(folder), "--ics-kind", "todo")
    assert "删除 0 个" in result.stdout
    assert (folder / "x.ics").read_bytes() == saved
    assert (folder / "gongkai-2023-x.ics").read_bytes() == saved


def _entries(calendar) -> list:
    return [*calendar.walk("VEVENT"), *calendar.walk("VTODO")]


def _two_plans(gk, tmp_path, *names: str) -> None:
    table = write_csv(tmp_path / "t.csv", "id,group,content,units,deadline\n1,组,内容,区财政局,4月20日前\n"
                                          "2,组,内容二,区财政局,5月20日前\n")
    for name in names:
        assert gk("import", str(table), "--plan", name, "--year", "2024").exit_code == 0


def test_vdir_of_plans_whose_names_read_alike_keeps_both(gk, tmp_path):
    # "2024 a" and "2024_a" both become 2024_a in a file name.
    _two_plans(gk, tmp_path, "2024 a", "2024_a")
    folder = tmp_path / "cal"
    assert gk("--plan", "2024 a", "export", "-f", "vdir", "-o", str(folder)).exit_code == 0
    assert gk("--plan", "2024_a", "export", "-f", "vdir", "-o", str(folder)).exit_code == 0
    files = sorted(folder.glob("*.ics"))
    assert len(files) == 4
    uids = sorted(str(_entries(icalendar.Calendar.from_ical(path.read_bytes()))[0]["UID"]) for path in files)
    assert uids == ["gongkai-2024 a-1@gongkai", "gongkai-2024 a-2@gongkai", "gongkai-2024_a-1@gongkai",
                    "gongkai-2024_a-2@gongkai"]
    # Exporting either again changes nothing of the other.
    again = gk("--plan", "2024 a", "export", "-f", "vdir", "-o", str(folder))
    assert "写入 0 个文件，未变 2 个，删除 0 个" in again.stdout


def test_a_plan_name_with_a_line_break_exports_as_a_calendar(gk, tmp_path):
    _two_plans(gk, tmp_path, "2024\n甲")
    result = gk("--plan", "2024\n甲", "export", "-f", "ics", "-o", "-")
    assert result.exit_code == 0, result.stderr
    calendar = icalendar.Calendar.from_ical(result.stdout_bytes)
    assert {str(entry["UID"]) for entry in _entries(calendar)} == {"gongkai-2024\\x0a甲-1@gongkai",
                                                                      "gongkai-2024\\x0a甲-2@gongkai"}
    folder = tmp_path / "cal"
    assert gk("--plan", "2024\n甲", "export", "-f", "vdir", "-o", str(folder)).exit_code == 0
    # A file of a task gone from the plan is removed: the files are recognised as this plan's.
    (first,) = folder.glob("*-1.ics")
    stale = first.with_name(first.name.replace("-1.ics", "-999.ics"))
    stale.write_bytes(first.read_bytes().replace(b"-1@gongkai", b"-999@gongkai"))
    again = gk("--plan", "2024\n甲", "export", "-f", "vdir", "-o", str(folder))
    assert "删除 1 个" in again.stdout and not stale.exists()
