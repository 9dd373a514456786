"""Issue 26's third hostile round, the part about where writes land and what the exit code says:
every write goes to the file the user named, the exit code holds when stderr cannot be written,
and every input fault is exit 2 with one line."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.sqlite_only("SQLite's special names, files beside a ledger, processes on a file")


def run_installed(executable: str, *args: str, env: dict[str, str] | None = None, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run([executable, *args], env=full, stdout=stdout, stderr=stderr, text=True, check=False,
                          timeout=120)


def one_error_line(result, code: int, needle: str | None = None) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1, result.stderr
    if needle is not None:
        assert needle in result.stderr


# -- special SQLite names --------------------------------------------------------------------


@pytest.mark.parametrize("name", [":memory:", "file:x.db", "file::memory:?cache=shared", "FILE:/tmp/x.db"])
def test_special_sqlite_names_are_refused(gk, monkeypatch, tmp_path, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GONGKAI_DB", name)
    one_error_line(gk("note", "40", "hi"), 2, "特殊名称")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.delenv("GONGKAI_DB")
    one_error_line(gk("--db", name, "plans"), 2, "特殊名称")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("conninfo", "url"),
    [
        ("host=db.example.gov.cn user=gkb dbname=gongkai", "postgresql://gkb@db.example.gov.cn/gongkai"),
        ("dbname=gongkai host=/run/postgresql port=5433", "postgresql://:5433/gongkai?host=/run/postgresql"),
        ("service=gongkai", "postgresql:///?service=gongkai"),
        ("host='db.example.gov.cn' sslmode=verify-full dbname=g", "postgresql://db.example.gov.cn/g?sslmode=verify-full"),
    ],
)
def test_a_libpq_keyword_string_is_refused_with_the_url_it_means(gk, monkeypatch, tmp_path, conninfo, url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GONGKAI_DB", conninfo)
    result = gk("plans")
    one_error_line(result, 2, "是 PostgreSQL 的连接参数，不是台账文件的路径")
    assert f"请写成地址的形式：{url}（" in result.stderr
    # Before, it became a SQLite file named after the string.
    assert list(tmp_path.iterdir()) == []


def test_a_file_name_with_an_equals_sign_is_still_a_file(gk, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GONGKAI_DB", "台账=2023.db")
    assert gk("plans").exit_code == 0
    assert (tmp_path / "台账=2023.db").exists()


# -- the exit code when stderr is gone --------------------------------------------------------


def test_exit_code_holds_when_stderr_is_full(executable, db_path):
    with open("/dev/full", "w") as full:
        shown = run_installed(executable, "show", "999", stderr=full)
        assert shown.returncode == 3
        # The first command creates the ledger and says so on stderr, which is full.
        noted = run_installed(executable, "note", "40", "记下了", stderr=full)
        assert noted.returncode == 0
        both = run_installed(executable, "note", "40", "再记一条", stdout=full, stderr=full)
        assert both.returncode == 7
    with sqlite3.connect(db_path) as conn:
        texts = [row[0] for row in conn.execute("SELECT text FROM notes ORDER BY id")]
    assert texts == ["记下了", "再记一条"]


def test_import_with_stderr_full_reports_its_success(executable, tmp_path):
    # An unknown unit and an unreadable deadline: warnings, which go to stderr.
    source = tmp_path / "t.csv"
    source.write_text("id,group,content,units,deadline\n1,组,内容,不存在的单位,某个时候\n", encoding="utf-8")
    db = tmp_path / "new.db"
    with open("/dev/full", "w") as full:
        result = run_installed(executable, "--db", str(db), "import", str(source), "--plan", "2024", stderr=full)
    assert result.returncode == 0, result.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM tasks WHERE plan = '2024'").fetchone()[0] == 1


def test_exit_code_holds_when_stderr_is_closed(executable, db_path):
    result = subprocess.run([executable, "show", "999"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, check=False, timeout=120, close_fds=True,
                            preexec_fn=lambda: os.close(2))
    assert result.returncode == 3


# -- undo -------------------------------------------------------------------------------------


def test_undo_of_a_missing_plan_names_the_plan(gk, db_path):
    assert gk("plans").exit_code == 0
    result = gk("undo", "--plan", "nope", "--yes")
    one_error_line(result, 3, "没有名为“nope”的计划")


def test_the_bundled_plan_undone_on_a_fresh_ledger_comes_back_with_init(gk, db_path):
    assert gk("plans").exit_code == 0
    assert gk("undo", "--yes").exit_code == 0
    assert gk("show", "40").exit_code == 3
    again = gk("init")
    assert again.exit_code == 0, again.stderr
    assert "重新载入内置计划" in again.stdout and "2023（91 项）" in again.stdout
    assert gk("show", "40").exit_code == 0
    # With a plan there, init changes nothing.
    assert "台账就绪" in gk("init").stdout


def test_init_after_init_empty_still_loads_nothing_when_asked_for_empty(gk, db_path):
    assert gk("init", "--empty").exit_code == 0
    assert "无计划" in gk("init", "--empty").stdout


# -- companion files seen through another path --------------------------------------------------


def _bind_mount_works() -> bool:
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.parametrize("suffix", ["", "-journal", "-wal", "-shm"])
def test_backup_onto_a_companion_through_a_bind_mount_is_refused(executable, tmp_path, suffix):
    if not shutil.which("unshare") or not _bind_mount_works():
        pytest.skip("needs a private mount namespace (unshare -m) to bind-mount a directory")
    live, seen = tmp_path / "live", tmp_path / "seen"
    live.mkdir()
    seen.mkdir()
    db = live / "l.db"
    assert run_installed(executable, "--db", str(db), "init").returncode == 0
    before = db.read_bytes()
    # The companion does not exist (no -journal in WAL mode; -wal and -shm go with the last connection).
    script = (f'mount --bind "{live}" "{seen}" && "{executable}" --db "{db}" backup --force "{seen}/l.db{suffix}"')
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 2, result.stderr
    assert "正在使用的数据库" in result.stderr
    assert db.read_bytes() == before
    assert sorted(path.name for path in live.iterdir()) == ["l.db"]


# -- input faults are exit 2 with one line ------------------------------------------------------


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
                                   "2099-12-31T20:00:00-12:00", "1899-12-31T00:00:00+08:00"])
def test_gongkai_now_out_of_range_is_an_input_fault(gk, monkeypatch, value):
    monkeypatch.delenv("GONGKAI_TODAY")
    monkeypatch.setenv("GONGKAI_NOW", value)
    one_error_line(gk("remind"), 2, "GONGKAI_NOW")


def _deep_units(path: Path, depth: int) -> None:
    rows = ["name,kind,members"]
    rows += [f"集合{i},group,集合{i + 1}" for i in range(depth - 1)]
    rows += [f"集合{depth - 1},group,区财政局", "区财政局,department,"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.mark.parametrize("command", [
    ["import", "{plan}", "--plan", "2030"], ["assign", "40", "--unit", "集合0"], ["export", "--unit", "集合0", "-o", "x.xlsx"],
    ["note", "40", "x", "--unit", "集合0"], ["list", "--unit", "集合0"],
])
def test_a_group_chain_a_thousand_deep_is_refused_with_one_line(gk, db_path, tmp_path, monkeypatch, command):
    assert gk("init").exit_code == 0
    _deep_units(Path(db_path).parent / "units.csv", 1000)
    plan = tmp_path / "plan.csv"
    plan.write_text("id,group,content,units,deadline\n1,组,内容,集合0,全年\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = gk(*[word.replace("{plan}", str(plan)) for word in command])
    one_error_line(result, 2, "嵌套超过")


def test_a_group_chain_within_the_limit_still_expands(gk, db_path):
    from gongkai_cli.inputs.unit_file import MAX_GROUP_DEPTH

    assert gk("init").exit_code == 0
    _deep_units(Path(db_path).parent / "units.csv", MAX_GROUP_DEPTH)
    result = gk("list", "--unit", "集合0", "--format", "json")
    assert result.exit_code == 0, result.stderr


# -- timestamps are moments ---------------------------------------------------------------------


def test_notes_written_under_different_time_zones_are_ordered_by_time(gk, monkeypatch, tmp_path):
    monkeypatch.delenv("GONGKAI_TODAY")
    # Written first, in Shanghai: 19:00+08:00 is 11:00 UTC.
    monkeypatch.setenv("GONGKAI_NOW", "2023-04-14T11:00:00+00:00")
    assert gk("note", "40", "先写的", "--unit", "区政府办公室").exit_code == 0
    # An hour later, on a machine set to Los Angeles: 05:00-07:00, whose text sorts first.
    monkeypatch.setenv("GONGKAI_TZ", "America/Los_Angeles")
    monkeypatch.setenv("GONGKAI_NOW", "2023-04-14T12:00:00+00:00")
    assert gk("note", "40", "后写的", "--unit", "区政府办公室").exit_code == 0
    monkeypatch.delenv("GONGKAI_TZ")
    import json

    shown = json.loads(gk("show", "40", "--format", "json").stdout)
    own = next(part for part in shown["assignments"] if part["unit"] == "区政府办公室")
    assert [note["text"] for note in own["notes"]] == ["先写的", "后写的"]
    exported = json.loads(gk("export", "-f", "json", "-o", "-").stdout)
    assert next(task for task in exported if task["id"] == 40)["latest_note"]["text"] == "后写的"
    # The unit sheet's 最新进展 and the calendar's description name the later note.
    assert gk("export", "--unit", "区政府办公室", "-o", str(tmp_path / "u.xlsx")).exit_code == 0
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "u.xlsx")["各单位进展"]
    header = [cell.value for cell in sheet[1]]
    row = next(values for values in sheet.iter_rows(min_row=2, values_only=True) if values[0] == 40)
    assert row[header.index("最新进展")] == "后写的"
    calendar = gk("export", "-f", "ics", "-o", "-").stdout
    assert "最新进展" in calendar and "后写的" in calendar.replace("\r\n ", "")
    # log --since counts a day in the office's zone, whatever offset a change was written with.
    since = json.loads(gk("log", "--since", "2023-04-14", "--format", "json").stdout)
    assert [event["after"].get("text") for event in since if event["action"] == "note"] == ["先写的", "后写的"]


# -- a full disk and a read-only mount, named as such --------------------------------------------


def _in_small_mount(executable: str, tmp_path: Path, then: str) -> subprocess.CompletedProcess[str]:
    """Make a ledger on a 3 MB file system of its own, fill the file system, then run `then`."""
    if not shutil.which("unshare") or not _bind_mount_works():
        pytest.skip("needs a private mount namespace (unshare -m) to mount a small file system")
    where = tmp_path / "small"
    where.mkdir()
    script = (
        f'mount -t tmpfs -o size=3m tmpfs "{where}" || exit 99\n'
        f'export GONGKAI_DB="{where}/l.db"\n'
        f'"{executable}" init >/dev/null || exit 98\n'
        f'{then}'
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120,
                            check=False, env={**os.environ, "G": executable, "W": str(where)})
    if result.returncode in (98, 99):
        pytest.skip(f"could not mount a small file system here: {result.stderr}")
    return result


def test_a_full_disk_is_named_as_such(executable, tmp_path):
    result = _in_small_mount(executable, tmp_path, (
        'dd if=/dev/zero of="$W/fill" bs=4k 2>/dev/null\n'
        '"$G" note 40 "$(head -c 20000 /dev/zero | tr "\\0" "a")"\n'
    ))
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1 and "磁盘已满" in result.stderr, result.stderr
    assert "disk I/O error" not in result.stderr


def test_a_read_only_mount_is_named_as_such(executable, tmp_path):
    result = _in_small_mount(executable, tmp_path, 'mount -o remount,ro "$W" && "$G" note 40 x\n')
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1 and "只读方式挂载" in result.stderr, result.stderr
    assert "写权限" not in result.stderr


@pytest.mark.parametrize("text", ["name,kind\n区\r财政局,department\n", 'name,kind\n"区财政局,department\n',
                                  "name\tkind\n区财政局\r\tdepartment\n"])
def test_a_units_file_with_a_stray_carriage_return_or_quote_is_read_or_refused_in_one_line(gk, db_path, text):
    # Found by tests/test_fuzz_inputs.py: a bare CR inside a field was an internal error.
    assert gk("init").exit_code == 0
    (Path(db_path).parent / "units.csv").write_text(text, encoding="utf-8", newline="")
    result = gk("units")
    assert result.exit_code in (0, 2), result.stderr
    assert "内部错误" not in result.stderr
