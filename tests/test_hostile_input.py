"""Nothing garbled: hostile or broken input ends in one clear line, the documented exit code,
and a database exactly as it was. Text that is accepted is stored verbatim and shown inertly."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import write_csv
from gongkai_cli.inputs.plan_rows import clean_text
from postgres import snapshot
from processes import drop_dac_override

# Storable but hostile: an 8-bit CSI (C1) clearing the screen, markup, a bidi override, SQL.
# C0 controls such as ESC are refused at input (see test_text_safety.py), so they are not here.
HOSTILE = "\x9b2J[bold red]x[/]\u202e倒序'; DROP TABLE tasks; --"
SQL = "'; DROP TABLE tasks; --"
HEADER = "id,group,content,units,deadline\n"


@pytest.fixture
def ledger_db(gk, db_path: Path | str) -> Path | str:
    """An initialised ledger with one note, so 'unchanged' has something to compare."""
    assert gk("note", "40", "已有的进展").exit_code == 0
    return db_path


def refused(result, code: int, needle: str | None = None) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    if needle is not None:
        assert needle in result.stderr


# -- ids, statuses, dates ----------------------------------------------------------------


@pytest.mark.parametrize(("value", "code"), [("0", 2), ("-1", 2), ("abc", 2), ("99999", 3), ("1e3", 2)])
@pytest.mark.parametrize("command", [["show"], ["note", "{id}", "x"], ["status", "{id}", "done"], ["log"]])
def test_bad_task_ids(gk, ledger_db, command, value, code):
    before = snapshot(ledger_db)
    args = [part.replace("{id}", value) for part in command]
    if "{id}" not in command:
        args.append(value)
    result = gk(*args[:1], "--", *args[1:])
    refused(result, code, value)
    assert snapshot(ledger_db) == before


@pytest.mark.parametrize("value", ["finished", ""])
@pytest.mark.parametrize("command", [["status", "40"], ["note", "40", "x", "--status"], ["list", "--status"]])
def test_bad_statuses(gk, ledger_db, command, value):
    before = snapshot(ledger_db)
    refused(gk(*command, value), 2, f"“{value}”")
    assert snapshot(ledger_db) == before


@pytest.mark.parametrize("value", ["2023-02-30", "32/13", ""])
@pytest.mark.parametrize("option", [["due", "--before"], ["due", "--after"], ["log", "--since"]])
def test_bad_dates(gk, ledger_db, option, value):
    before = snapshot(ledger_db)
    refused(gk(*option, value), 2, f"“{value}”")
    assert snapshot(ledger_db) == before


# -- note text ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\u3000\n\t"])
def test_empty_notes_are_refused(gk, ledger_db, text):
    before = snapshot(ledger_db)
    refused(gk("note", "40", text), 2, "不能为空")
    assert snapshot(ledger_db) == before


def test_a_note_of_exactly_64_kib_is_accepted_and_one_byte_more_is_not(gk, ledger_db):
    exactly = "字" * 21845 + "a"  # 3 × 21845 + 1 = 65536 bytes of UTF-8
    assert len(exactly.encode()) == 64 * 1024
    result = gk("note", "40", exactly, "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["text"] == exactly
    before = snapshot(ledger_db)
    refused(gk("note", "40", exactly + "b"), 2, "65537")
    refused(gk("note", "40", "-", input=exactly + "b\n"), 2, "65537")
    refused(gk("status", "40", "--all", "done", "--note", exactly + "b"), 2, "65537")
    refused(gk("note", "40", "-", input="a" * (4 * 65536 + 1)), 2, "64 KiB")
    assert snapshot(ledger_db) == before


@pytest.mark.parametrize(
    "text",
    ["含\x7f删除符", "清屏\x9b2J之后", "[bold red]x[/]", "\u202e倒序\u202c文字", SQL, HOSTILE],
    ids=["del", "c1-csi", "markup", "rtl", "sql", "all"],
)
def test_strange_note_text_is_stored_verbatim_and_shown_inertly(gk, ledger_db, text, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per cell, so the checks can read it
    assert gk("note", "40", "-", "--by", text, input=text).exit_code == 0
    notes = json.loads(gk("show", "40", "-f", "json").stdout)["notes"]
    assert (notes[-1]["text"], notes[-1]["by"]) == (text, text)
    for command in (["show", "40"], ["log", "40"], ["log", "40", "-f", "markdown"], ["log", "40", "-f", "csv"]):
        shown = gk(*command).stdout
        assert "\x9b" not in shown and "\x7f" not in shown and "\u202e" not in shown, command
    table = gk("show", "40").stdout
    if "[bold red]" in text:
        assert "[bold red]x[/]" in table  # markup shown, not applied
    assert snapshot(ledger_db)["tasks"]  # and the tasks table is still there


def test_strange_task_text_from_an_import_is_shown_inertly_in_lists(gk, ledger_db, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    plan = write_csv(tmp_path / "tasks_2024.csv", HEADER + f'1,"{HOSTILE}","{HOSTILE}","{HOSTILE}",全年\n')
    assert gk("import", str(plan)).exit_code == 0
    task = json.loads(gk("show", "1", "--plan", "2024", "-f", "json").stdout)
    assert task["content"] == clean_text(HOSTILE)  # the importer drops stray spaces, nothing else
    for fmt in ("table", "markdown", "csv", "tsv"):
        shown = gk("list", "--plan", "2024", "-f", fmt).stdout
        assert "\x9b" not in shown and "\u202e" not in shown, fmt
    assert "[bold red]x[/]" in gk("list", "--plan", "2024").stdout


def test_command_line_bytes_that_are_not_utf8_are_refused(gk, ledger_db):
    before = snapshot(ledger_db)
    # Python hands undecodable argv bytes over as lone surrogates, as here.
    for args in (["note", "40", "坏\udcff"], ["note", "40", "x", "--by", "\udcfe"], ["list", "--search", "\udcff"]):
        refused(gk(*args), 2, "UTF-8")
    assert snapshot(ledger_db) == before


# -- import files --------------------------------------------------------------------------


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _xlsx_of_something_else(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "这不是工作簿")
    return path


IMPORT_FILES = {
    "empty": lambda p: _bytes(p, b""),
    "header-only": lambda p: write_csv(p, HEADER),
    "wrong-columns": lambda p: write_csv(p, "name,age\n张三,30\n"),
    "truncated-row": lambda p: write_csv(p, HEADER + "1,组,内容,区财政局,全年\n2,组\n"),
    "truncated-quote": lambda p: write_csv(p, HEADER + '1,组,"内容被截断'),
    "not-utf8-nor-gbk": lambda p: _bytes(p, HEADER.encode() + b"1,\xff\xfe\xfd,x,y,z\n"),
    "utf16": lambda p: _bytes(p, (HEADER + "1,组,内容,区财政局,全年\n").encode("utf-16")),
    "xlsx-that-is-a-zip-of-something-else": lambda p: _xlsx_of_something_else(p.with_suffix(".xlsx")),
    "directory": lambda p: p.parent,
    "missing": lambda p: p.with_name("no-such-file.csv"),
}


@pytest.mark.parametrize("kind", list(IMPORT_FILES))
def test_broken_import_files(gk, ledger_db, tmp_path, kind):
    source = tmp_path / "in" / "tasks_2024.csv"
    source.parent.mkdir()
    path = IMPORT_FILES[kind](source)
    before = snapshot(ledger_db)
    result = gk("import", str(path))
    refused(result, 2)
    assert path.name in result.stderr or str(path) in result.stderr
    assert snapshot(ledger_db) == before


def test_a_50_mb_file_is_refused_before_it_is_read(gk, ledger_db, tmp_path):
    huge = tmp_path / "tasks_2024.csv"
    with huge.open("wb") as sparse:
        sparse.truncate(50 * 1024 * 1024)  # 50 MB that take no disk and would take no time to refuse
    before = snapshot(ledger_db)
    refused(gk("import", str(huge)), 2, "50.0 MB")
    assert snapshot(ledger_db) == before


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_the_size_limit_also_holds_for_input_that_reports_no_size(gk, ledger_db, monkeypatch):
    import gongkai_cli.inputs.plan_files as tables

    monkeypatch.setattr(tables, "MAX_FILE_BYTES", 1024)
    before = snapshot(ledger_db)
    refused(gk("import", "/dev/zero"), 2, "/dev/zero")
    assert snapshot(ledger_db) == before


def test_a_file_just_under_the_limit_is_read(gk, ledger_db, tmp_path, monkeypatch):
    import gongkai_cli.inputs.plan_files as tables

    plan = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n")
    monkeypatch.setattr(tables, "MAX_FILE_BYTES", plan.stat().st_size)
    assert gk("import", str(plan)).exit_code == 0
    monkeypatch.setattr(tables, "MAX_FILE_BYTES", plan.stat().st_size - 1)
    refused(gk("import", str(plan)), 2, "tasks_2024.csv")


# -- database paths --------------------------------------------------------------------------


@pytest.mark.sqlite_only("a directory where the file should be")
def test_database_path_is_a_directory(gk, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGKAI_DB", str(tmp_path))
    for args in (["list"], ["note", "40", "x"], ["init"], ["check"]):
        refused(gk(*args), 4, "目录")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.sqlite_only("a file that is not SQLite")
def test_a_file_that_is_not_sqlite_is_left_untouched(gk, tmp_path, monkeypatch):
    path = tmp_path / "notes.txt"
    path.write_text("这不是数据库\n" * 200, encoding="utf-8")
    before = path.read_bytes()
    monkeypatch.setenv("GONGKAI_DB", str(path))
    for args in (["list"], ["note", "40", "x"], ["import", str(path)], ["undo", "--yes"], ["check"]):
        refused(gk(*args), 4, "不是有效的 gongkai 数据库")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.sqlite_only("writes a newer schema version into the file header with sqlite3")
def test_a_database_from_a_newer_gongkai_is_left_untouched(gk, ledger_db):
    conn = sqlite3.connect(ledger_db)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = snapshot(ledger_db)
    for args in (["list"], ["note", "40", "x"], ["undo", "--yes"], ["backup", str(ledger_db) + ".bak"], ["check"]):
        refused(gk(*args), 4, "请升级 gongkai")
    assert snapshot(ledger_db) == before
    assert not Path(str(ledger_db) + ".bak").exists()


@pytest.mark.sqlite_only("a file path in a missing directory")
def test_a_missing_directory_is_explained_except_for_init_which_creates_it(gk, tmp_path, monkeypatch):
    path = tmp_path / "a" / "b" / "gongkai.db"
    monkeypatch.setenv("GONGKAI_DB", str(path))
    refused(gk("list"), 4, "gongkai init")
    refused(gk("note", "40", "x"), 4, str(path.parent))
    assert not (tmp_path / "a").exists()
    created = gk("init")
    assert created.exit_code == 0 and path.exists()
    assert gk("list", "-f", "json").exit_code == 0



@pytest.mark.sqlite_only("file permissions")
def test_a_read_only_database_refuses_writes_and_still_reads(gk, tmp_path):
    executable = shutil.which("gongkai", path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.fail("the gongkai executable is not installed next to this Python; run `pip install '.[test]'` first")
    path = tmp_path / "ro" / "gongkai.db"
    path.parent.mkdir()
    env = {**os.environ, "GONGKAI_DB": str(path)}
    subprocess.run([executable, "note", "40", "只读之前"], env=env, check=True, capture_output=True)
    os.chmod(path, 0o444)
    before = snapshot(path)
    # Root ignores chmod; without CAP_DAC_OVERRIDE the child is held to the file's mode bits.
    drop = drop_dac_override if os.geteuid() == 0 else None
    if drop is not None and not sys.platform.startswith("linux"):
        pytest.skip("running as root on a system without Linux capabilities: chmod 444 cannot stop root")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([executable, *args], check=False, env=env, capture_output=True, text=True,
                              encoding="utf-8", preexec_fn=drop)

    try:
        listed = run("show", "40", "-f", "json")
    except subprocess.SubprocessError as err:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE here ({err}), so root would write anyway")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["notes"][0]["text"] == "只读之前"
    for args in (["note", "40", "x"], ["status", "40", "--all", "done"], ["undo", "--yes"],
                 ["import", str(write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n"))]):
        result = run(*args)
        assert result.returncode == 4, (args, result.stderr)
        assert result.stderr.startswith("错误：") and "只读" in result.stderr and result.stderr.count("\n") == 1
    assert snapshot(path) == before


# -- SQL-looking text ---------------------------------------------------------------------------


def test_sql_looking_text_is_only_ever_text(gk, ledger_db, tmp_path):
    plan = write_csv(tmp_path / "plan.csv", HEADER + f'1,"{SQL}","{SQL}","{SQL}",全年\n')
    assert gk("import", str(plan), "--plan", SQL, "--year", "2024").exit_code == 0
    assert gk("--plan", SQL, "note", "1", SQL, "--by", SQL).exit_code == 0
    assert gk("--plan", SQL, "status", "1", "--all", "done", "--note", SQL).exit_code == 0
    task = json.loads(gk("--plan", SQL, "show", "1", "-f", "json").stdout)
    assert task["plan"] == SQL and task["content"] == clean_text(SQL)
    assert [n["text"] for n in task["notes"]] == [SQL, SQL]
    assert json.loads(gk("--plan", SQL, "list", "--search", clean_text(SQL), "-f", "json").stdout)[0]["id"] == 1
    assert json.loads(gk("--plan", "2023", "list", "--search", SQL, "-f", "json").stdout) == []
    assert json.loads(gk("--plan", "2023", "list", "--group", SQL, "-f", "json").stdout) == []
    refused(gk("--plan", "2023", "list", "--unit", SQL), 2, "DROPTABLEtasks")
    refused(gk("--plan", SQL + "x", "list"), 3, SQL)
    assert [e["plan"] for e in json.loads(gk("--plan", SQL, "log", "-f", "json").stdout)] == [SQL] * 3
    tables = snapshot(ledger_db)
    assert len(tables["tasks"]) == 92 and len(tables["plans"]) == 2
    assert gk("check").exit_code == 0


def test_a_note_batch_with_a_huge_cell_is_one_chinese_line(gk, ledger_db, tmp_path):
    batch = write_csv(tmp_path / "notes.csv", "id,text\n40," + "长" * 200_000 + "\n")
    result = gk("note", "--from", str(batch))
    refused(result, 2, "第 2 行")
    assert "field" not in result.stderr and "limit" not in result.stderr


def test_an_unreadable_deadline_is_quoted_briefly_in_the_warning(gk, tmp_path):
    plan = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局," + "某" * 5000 + "\n")
    result = gk("import", str(plan))
    assert result.exit_code == 0
    warning = next(line for line in result.stderr.splitlines() if "时间节点" in line)
    assert len(warning) < 200 and "共 5000 个字符" in warning
