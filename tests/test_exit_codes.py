"""The exit code tells a script what happened to the data, through the installed executable.

A write whose confirmation cannot be written (full disk, closed stdout, broken
pipe) has committed: exit 7 and one line saying so. Anything that fails before
the commit keeps its code and writes nothing. Keys (`note --key`) and
`undo --event` make a retry after any failure safe.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from postgres import is_server, query, snapshot
from processes import NEW_LEDGER_NOTICE, cron_env, drop_dac_override, in_process


@pytest.fixture
def gk(executable: str, tmp_path: Path, ledger_db: str):
    db = ledger_db
    env = cron_env(tmp_path, db, today="2023-04-01", user="脚本")

    def call(*args: str, stdout=subprocess.PIPE, close_stdout: bool = False, input: str | None = None,
             extra_env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [executable, *args], check=False, stdout=stdout, stderr=subprocess.PIPE, input=input, text=True,
            encoding="utf-8", env={**env, **(extra_env or {})}, cwd=tmp_path, timeout=120,
            preexec_fn=(lambda: os.close(1)) if close_stdout else None,
        )

    call.db = db
    call.exe = executable
    call.env = env
    # The ledger the tests start from; made in-process, as the executable would make it, because
    # what the tests check is how each of their own commands ends.
    assert in_process(env)("init").returncode == 0
    return call


def count(db: str, sql: str) -> int:
    return query(db, sql)[0][0]


def notes(db: str) -> int:
    return count(db, "SELECT count(*) FROM notes WHERE retracted_at IS NULL")


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误："), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def full(gk, *args: str) -> subprocess.CompletedProcess:
    with open("/dev/full", "w") as sink:
        return gk(*args, stdout=sink)


# -- committed, confirmation lost: 7 --------------------------------------------------------


def test_a_note_whose_confirmation_hits_a_full_disk_exits_7_naming_the_saved_note(gk):
    result = full(gk, "note", "2", "x")
    assert result.returncode == 7
    line = one_error_line(result)
    assert "已保存" in line and "进展记录 #1" in line and "不要重试" in line
    assert notes(gk.db) == 1


def test_a_batch_of_10000_notes_with_a_lost_confirmation_exits_7(gk, tmp_path: Path):
    batch = tmp_path / "batch.csv"
    batch.write_text("id,text\n" + "".join(f"{i % 90 + 1},第 {i} 条\n" for i in range(10_000)), encoding="utf-8")
    result = full(gk, "note", "--from", str(batch), "--format", "json")
    assert result.returncode == 7
    assert "进展记录 #1–#10000" in one_error_line(result)
    assert notes(gk.db) == 10_000


@pytest.mark.parametrize("ledger_exists", [True, False], ids=["existing-ledger", "import-creates-it"])
def test_an_import_with_a_lost_confirmation_exits_7(gk, tmp_path: Path, ledger_exists: bool):
    if not ledger_exists:
        if is_server(gk.db):
            query(gk.db, "DROP SCHEMA gongkai CASCADE")
        else:
            Path(gk.db).unlink()
    table = tmp_path / "tasks_2024.csv"
    table.write_text("id,group,content,units,deadline\n1,组,内容,区财政局,全年\n", encoding="utf-8")
    result = full(gk, "import", str(table))
    assert result.returncode == 7
    assert "已保存" in one_error_line(result)
    assert count(gk.db, "SELECT count(*) FROM plans WHERE name = '2024'") == 1


def test_a_closed_stdout_after_a_note_exits_7_and_before_any_write_exits_2(gk):
    result = gk("note", "2", "x", close_stdout=True)
    assert result.returncode == 7 and "已保存" in one_error_line(result)
    assert notes(gk.db) == 1
    listed = gk("list", close_stdout=True)
    assert listed.returncode == 2
    assert "标准输出" in one_error_line(listed) and "未做任何更改" in listed.stderr
    assert gk("note", "2", "y", "--quiet", close_stdout=True).returncode == 0


def test_a_read_that_creates_the_ledger_is_a_read_when_its_output_fails(gk, tmp_path: Path):
    """Filling a new ledger with the bundled plan is no change the read was asked for: a reader
    that stops early is no error, and a failed output is exit 2, not 7 "saved"."""
    fresh = {"GONGKAI_DB": str(tmp_path / "fresh.db")}
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -c 100` that has already had its 100 bytes
    early = subprocess.run([gk.exe, "list", "--format", "csv"], check=False, stdout=write_end, stderr=subprocess.PIPE,
                           env={**gk.env, **fresh}, timeout=120)
    os.close(write_end)
    # The new ledger is announced before any output, on stderr, which the reader did not close.
    assert early.returncode == 0
    (notice,) = early.stderr.decode("utf-8").splitlines()
    assert notice.startswith(f"{NEW_LEDGER_NOTICE}{tmp_path / 'fresh.db'}”")
    with open("/dev/full", "w") as sink:
        failed = [gk("list", stdout=sink, extra_env={"GONGKAI_DB": str(tmp_path / "full.db")}),
                  gk("list", close_stdout=True, extra_env={"GONGKAI_DB": str(tmp_path / "closed.db")})]
    for result, name in zip(failed, ("full.db", "closed.db"), strict=True):
        assert result.returncode == 2
        notice, line = result.stderr.splitlines()
        assert notice.startswith(f"{NEW_LEDGER_NOTICE}{tmp_path / name}”") and line.startswith("错误：")
        assert "标准输出" in line and "已保存" not in line
        assert f"已新建台账“{tmp_path / name}”" in line and "未做任何更改" in line
        assert count(tmp_path / name, "SELECT count(*) FROM tasks") == 91


@pytest.mark.sqlite_only("holds the file's write lock with sqlite3, so that undo waits after its preview")
def test_an_undo_whose_result_meets_a_closed_pipe_exits_7(gk):
    assert gk("note", "2", "撤销我").returncode == 0
    read_end, write_end = os.pipe()
    blocker = sqlite3.connect(gk.db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # undo shows its preview, then waits for the lock
    proc = subprocess.Popen(
        [gk.exe, "undo", "--yes"], stdout=write_end, stderr=subprocess.PIPE, text=True,
        encoding="utf-8", env=gk.env,
    )
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as reader:
        preview = reader.readline()
    # The reader is gone before the undo commits: its result line meets a broken pipe.
    blocker.execute("ROLLBACK")
    blocker.close()
    _, stderr = proc.communicate(timeout=60)
    assert preview.startswith("将撤销：#2")
    assert proc.returncode == 7, stderr
    assert "历史记录 #3" in stderr and "已保存" in stderr
    assert notes(gk.db) == 0


# -- failed before the commit: the usual codes, nothing written ------------------------------


def test_failures_before_the_commit_keep_their_codes_and_write_nothing(gk):
    missing = full(gk, "note", "999", "x")
    assert missing.returncode == 3
    gk("note", "2", "留着")
    # The preview is written before the undo: a full disk stops the undo itself.
    undo = full(gk, "undo", "--yes")
    assert undo.returncode == 2
    assert "未做任何更改" in one_error_line(undo)
    assert notes(gk.db) == 1
    assert full(gk, "list").returncode == 2
    # A reader that stops early (`| head`) is still no error for a read.
    proc = subprocess.Popen([gk.exe, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=gk.env)
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0 and proc.stderr.read() == b""


# -- idempotent writes ----------------------------------------------------------------------


def test_a_retried_note_with_its_key_is_stored_once_and_confirmed_as_the_original(gk):
    first = full(gk, "note", "40", "试点完成", "--status", "doing", "--count", "1", "--key", "job-7f3a", "-u", "区经委")
    assert first.returncode == 7
    retry = gk("note", "40", "试点完成", "--status", "doing", "--count", "1", "--key", "job-7f3a", "-u", "区经委",
               "--format", "json", extra_env={"GONGKAI_NOW": "2030-01-01T00:00:00+08:00"})
    assert retry.returncode == 0, retry.stderr
    original = json.loads(retry.stdout)
    assert original["id"] == 1 and original["key"] == "job-7f3a" and original["task"] == 40
    assert "未重复写入" in retry.stderr
    assert notes(gk.db) == 1
    updated = json.loads(gk("show", "40", "-f", "json").stdout)["updated_at"]
    assert updated == original["at"]  # the retry did not touch the task either
    assert count(gk.db, "SELECT count(*) FROM events WHERE action = 'status'") == 1
    # Nothing is written by a recognised retry, so even a full disk cannot make it fail as saved.
    assert full(gk, "note", "40", "试点完成", "--status", "doing", "--count", "1", "--key", "job-7f3a",
                "-u", "区经委").returncode == 2


def test_the_same_key_with_other_content_is_a_conflict(gk):
    gk("note", "40", "试点完成", "--key", "k1")
    # A key is its unit's (issue 25): the status variant retries a note on 区经委's share.
    gk("note", "40", "试点完成", "-u", "区经委", "--key", "k2")
    for args, key in ((("40", "别的内容"), "k1"), (("41", "试点完成"), "k1"),
                      (("40", "试点完成", "--status", "done", "-u", "区经委"), "k2"), (("40", "试点完成", "--count", "1"), "k1")):
        result = gk("note", *args, "--key", key)
        assert result.returncode == 2
        assert key in one_error_line(result) and "本次未写入" in result.stderr
    assert notes(gk.db) == 2
    assert gk("note", "40", "x", "--key", "含 空格").returncode == 2


def test_keys_in_a_batch_make_a_retried_batch_write_nothing_twice(gk, tmp_path: Path):
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"id": 1, "text": "甲", "key": "b-1"}\n{"id": 2, "text": "乙", "key": "b-2"}\n', encoding="utf-8")
    assert full(gk, "note", "--from", str(batch)).returncode == 7
    # The retry adds a third line: the first two are recognised, the third is written.
    with batch.open("a", encoding="utf-8") as more:
        more.write('{"id": 3, "text": "丙", "key": "b-3"}\n')
    retry = gk("note", "--from", str(batch), "--format", "json")
    assert retry.returncode == 0, retry.stderr
    assert [n["id"] for n in json.loads(retry.stdout)] == [1, 2, 3]
    assert notes(gk.db) == 3
    dup = tmp_path / "dup.csv"
    dup.write_text("id,text,key\n1,a,same\n2,b,same\n", encoding="utf-8")
    result = gk("note", "--from", str(dup))
    assert result.returncode == 2 and "第 3 行" in one_error_line(result)
    assert notes(gk.db) == 3


def test_a_key_whose_note_was_undone_is_used_up(gk):
    gk("note", "40", "试点完成", "--key", "k-undo")
    assert gk("undo", "--yes").returncode == 0
    again = gk("note", "40", "试点完成", "--key", "k-undo")
    assert again.returncode == 2
    assert "已由 #3 撤销" in one_error_line(again)
    assert notes(gk.db) == 0


def test_undo_event_undoes_only_that_change_and_a_retry_undoes_nothing_more(gk):
    gk("note", "40", "第一条")
    gk("note", "40", "第二条")
    stale = gk("undo", "--yes", "--event", "2")
    assert stale.returncode == 2 and "#3" in one_error_line(stale)
    first = full(gk, "undo", "--yes", "--event", "3")
    assert first.returncode == 2  # the preview could not be shown: nothing undone
    done = gk("undo", "--yes", "--event", "#3")
    assert done.returncode == 0 and "已撤销 #3" in done.stdout
    retry = gk("undo", "--yes", "--event", "3")
    assert retry.returncode == 0 and "已由 #4 撤销" in retry.stdout
    assert notes(gk.db) == 1
    assert gk("undo", "--yes", "--event", "4").returncode == 2
    assert gk("undo", "--yes", "--event", "99").returncode == 3
    assert gk("undo", "--yes", "--event", "x").returncode == 2


# -- undo honours --plan ----------------------------------------------------------------------


def test_undo_with_a_plan_reverts_that_plans_newest_change_and_says_which_first(gk, tmp_path: Path):
    table = tmp_path / "tasks_2024.csv"
    table.write_text("id,group,content,units,deadline\n1,组,内容,区财政局,全年\n", encoding="utf-8")
    assert gk("import", str(table)).returncode == 0
    gk("--plan", "2023", "note", "40", "二〇二三的进展")
    gk("--plan", "2024", "note", "1", "二〇二四的进展")
    result = gk("--plan", "2023", "undo", "--yes")
    assert result.returncode == 0, result.stderr
    preview, outcome = result.stdout.splitlines()
    assert preview.startswith("将撤销：#3") and "计划 2023" in preview
    assert outcome.startswith("计划 2023 第 40 项：已撤销 #3")
    shown = json.loads(gk("--plan", "2024", "show", "1", "--format", "json").stdout)
    assert [n["text"] for n in shown["notes"]] == ["二〇二四的进展"]
    by_env = gk("undo", "--yes", extra_env={"GONGKAI_PLAN": "2023"})
    assert by_env.returncode == 0 and "计划 2023" in by_env.stdout  # the bundled plan's own import
    nothing = gk("--plan", "2023", "undo", "--yes")
    assert nothing.returncode == 3 and "计划“2023”中没有可以撤销的更改" in one_error_line(nothing)
    assert gk("--plan", "2023", "undo", "--yes", "--event", "4").returncode == 2


# -- input at fault: exit 2, one line, nothing written -----------------------------------------


def state(db: str) -> dict[str, list[tuple]]:
    return snapshot(db)


def refused(gk, *args: str, code: int = 2, needle: str = "", **how) -> str:
    before = state(gk.db)
    result = gk(*args, **how)
    assert result.returncode == code, (args, result.returncode, result.stderr)
    line = one_error_line(result)
    assert needle in line
    assert result.stdout == ""
    assert state(gk.db) == before
    return line


def test_ids_an_import_accepts_are_ids_show_and_note_can_reach(gk, tmp_path: Path):
    header = "id,group,content,units,deadline\n"
    for task_id in ("99999999999999999999", "1234567890"):
        table = tmp_path / "tasks_2024.csv"
        table.write_text(f"{header}{task_id},组,内容,区财政局,全年\n", encoding="utf-8")
        refused(gk, "import", str(table), needle=task_id)
    table.write_text(f"{header}999999999,组,内容,区财政局,全年\n", encoding="utf-8")
    assert gk("import", str(table)).returncode == 0
    assert gk("--plan", "2024", "note", "999999999", "最大的序号").returncode == 0
    for text in ("-1", "1234567890", "99999999999999999999"):
        refused(gk, "show", text, needle=text)
        refused(gk, "note", text, "x", needle=text)


def test_json_lines_nested_100k_deep_are_refused(gk, tmp_path: Path):
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"id": 1, "text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    refused(gk, "note", "--from", str(deep), needle="嵌套过深")


def test_a_lone_surrogate_in_a_json_line_is_refused_in_one_line(gk, tmp_path: Path):
    batch = tmp_path / "s.jsonl"
    batch.write_text('{"id": 1, "text": "ok"}\n{"id":1,"text":"a \\ud800 b"}\n', encoding="utf-8")
    refused(gk, "note", "--from", str(batch), needle="第 2 行")


@pytest.mark.sqlite_only("the units.csv beside a SQLite file; a server's is stored (tests/test_postgres_units.py)")
def test_a_group_cycle_in_the_unit_file_is_refused_naming_the_groups(gk):
    (Path(gk.db).parent / "units.csv").write_text(
        "name,kind,members\n甲,group,乙\n乙,group,丙、甲\n丙,department,\n", encoding="utf-8")
    # summary --by unit counts the assignments the ledger holds: it no longer reads the unit file.
    for args in (("remind", "--by-unit", "--within", "1m"), ("units",), ("list", "--unit", "丙")):
        refused(gk, *args, needle="甲 → 乙 → 甲")


def test_a_today_beyond_the_supported_years_is_refused(gk):
    refused(gk, "summary", extra_env={"GONGKAI_TODAY": "9999-12-31"}, needle="9999-12-31")
    assert gk("summary", extra_env={"GONGKAI_TODAY": "2099-12-31"}).returncode == 0


def test_an_unreadable_batch_file_is_refused(gk, tmp_path: Path):
    import sys

    if os.geteuid() == 0 and not sys.platform.startswith("linux"):
        pytest.skip("running as root without Linux capabilities: root reads any file")
    batch = tmp_path / "secret.csv"
    batch.write_text("id,text\n1,x\n", encoding="utf-8")
    batch.chmod(0)

    before = state(gk.db)
    try:
        result = subprocess.run([gk.exe, "note", "--from", str(batch)], check=False, capture_output=True, text=True,
                                encoding="utf-8", env=gk.env, preexec_fn=drop_dac_override if os.geteuid() == 0 else None)
    except subprocess.SubprocessError as err:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE here ({err})")
    assert result.returncode == 2, result.stderr
    assert "无法读取文件" in one_error_line(result)
    assert state(gk.db) == before


@pytest.mark.sqlite_only("backup and restore are a SQLite file's; a server's ledger refuses them")
def test_a_backup_and_a_restore_whose_confirmation_is_lost_say_they_were_done(gk, tmp_path: Path):
    copy = tmp_path / "备份.db"
    result = full(gk, "backup", str(copy))
    assert result.returncode == 7
    assert "已备份到" in one_error_line(result) and "不要重试" in result.stderr
    assert copy.exists()
    gk("note", "2", "备份之后")
    result = full(gk, "restore", str(copy), "--yes")
    assert result.returncode == 7
    assert "已用备份恢复数据库" in one_error_line(result)
    assert notes(gk.db) == 0
