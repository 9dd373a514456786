"""What a write tells its user: truthful note counts and ids, precise key conflicts, empty
batches, no-op status changes, Chinese system errors and a Chinese confirmation prompt.

Most run the installed executable against a real database file, as a user or script would.
"""

from __future__ import annotations

import errno
import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from postgres import query
from processes import cron_env, drain_terminal, in_process


@pytest.fixture
def run(executable: str, tmp_path: Path, ledger_db: str):
    db = ledger_db
    env = cron_env(tmp_path, db, today="2023-04-01", user="脚本")

    def call(*args: str, input: str | None = None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
        return subprocess.run(
            [executable, *args], check=False, input=input, stdout=stdout, stderr=subprocess.PIPE, text=True,
            encoding="utf-8", env=env, cwd=tmp_path, timeout=120,
        )

    call.db = db
    call.env = env
    call.exe = executable
    call.dir = tmp_path
    # The ledger the tests start from, made in-process: the executable runs the commands they check.
    assert in_process(env)("init").returncode == 0
    return call


def rows(db: Path | str, sql: str) -> list:
    return query(db, sql)


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- 1. a retried batch counts only what it wrote ---------------------------------------------


def test_a_retried_batch_counts_and_lists_only_the_notes_written_now(run):
    first = write(run.dir / "first.csv", "id,text,key\n2,甲,k1\n3,乙,k2\n")
    assert "（更改 #2–#3）" in run("note", "--from", first).stdout
    retry = write(run.dir / "retry.csv", "id,text,key\n2,甲,k1\n4,丙,k3\n")
    result = run("note", "--from", retry)
    assert result.returncode == 0, result.stderr
    assert "已记录 1 条进展，涉及 1 项任务（更改 #4）；另有 1 条此前已记录，未重复写入。" in result.stdout
    assert "#2–#4" not in result.stdout and "#4–#4" not in result.stdout
    assert "1 条进展此前已用同一个键记录（更改 #2）" in result.stderr


def test_a_batch_from_stdin_never_shows_a_range_over_unrelated_notes(run):
    assert run("note", "2", "甲", "--key", "k1").returncode == 0
    for text in ("乙", "丙"):
        assert run("note", "2", text).returncode == 0
    result = run("note", "--from", "-", input="id,text,key\n2,甲,k1\n3,丁,k4\n")
    assert result.returncode == 0, result.stderr
    assert "（更改 #5）" in result.stdout and "#2–#5" not in result.stdout


def test_a_batch_that_was_stored_entirely_says_nothing_new_was_written(run):
    batch = write(run.dir / "b.csv", "id,text,key\n2,甲,k1\n3,乙,k2\n")
    run("note", "--from", batch)
    result = run("note", "--from", batch)
    assert result.returncode == 0
    assert "本次没有新的进展记录；2 条此前已记录，未重复写入。" in result.stdout
    assert "已记录 2 条" not in result.stdout
    assert rows(run.db, "SELECT count(*) FROM notes") == [(2,)]


@pytest.mark.no_ledger
@pytest.mark.parametrize(
    ("ids", "shown"),
    [([13], "#13"), ([11, 12, 13], "#11–#13"), ([14, 11], "#11、#14"),
     ([1, 3, 5, 7, 9, 11], "#1、#3、#5、#7、#9等")],
)
def test_note_ids_show_a_range_only_when_there_is_no_gap(ids, shown):
    from gongkai_cli.outputs.render import note_ids

    assert note_ids(ids) == shown


# -- 2. a reused key says what differs ------------------------------------------------------


def test_a_key_reused_on_another_task_names_the_task(run):
    assert run("note", "50", "键测试", "--key", "kk9").returncode == 0
    result = run("note", "51", "键测试", "--key", "kk9")
    assert result.returncode == 2
    assert "任务不同（原为 50，本次为 51）" in result.stderr
    assert "进展说明不同" not in result.stderr and "内容与本次不同" not in result.stderr
    assert rows(run.db, "SELECT count(*) FROM notes") == [(1,)]


def test_a_key_reused_with_other_text_status_or_count_names_each(run):
    # A key is its unit's (issue 25): every try names the same unit.
    assert run("note", "50", "键测试", "--key", "kk9", "--unit", "区经委").returncode == 0
    text = run("note", "50", "别的说明", "--key", "kk9", "--unit", "区经委")
    assert text.returncode == 2 and "但进展说明不同；" in text.stderr
    status = run("note", "50", "键测试", "--key", "kk9", "--status", "done", "--unit", "区经委")
    assert status.returncode == 2 and "状态不同（原为 不改状态，本次为 “已完成”）" in status.stderr
    count = run("note", "50", "键测试", "--key", "kk9", "--count", "2", "--unit", "区经委")
    assert count.returncode == 2 and "次数不同（原为 不计次，本次为 2）" in count.stderr


# -- 3. an empty batch is a success ---------------------------------------------------------


@pytest.mark.parametrize(("name", "body"), [("header.csv", "id,text\n"), ("empty.jsonl", ""), ("blank.jsonl", "\n\n")])
def test_an_empty_batch_exits_0_and_writes_nothing(run, name, body):
    events = rows(run.db, "SELECT count(*) FROM events")
    batch = write(run.dir / name, body)
    result = run("note", "--from", batch)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "未记录任何内容" in result.stderr
    as_json = run("note", "--from", batch, "--format", "json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []
    assert rows(run.db, "SELECT count(*) FROM notes") == [(0,)]
    assert rows(run.db, "SELECT count(*) FROM events") == events


def test_an_empty_batch_on_stdin_exits_0(run):
    result = run("note", "--from", "-", "-f", "json", input="")
    assert result.returncode == 0 and json.loads(result.stdout) == []
    assert "标准输入" in result.stderr


# -- 4. a status equal to the current one is a plain note -------------------------------------


def test_a_note_with_the_current_status_is_a_plain_note(run):
    assert run("status", "40", "--all", "doing").returncode == 0
    result = run("note", "40", "继续推进", "--status", "doing", "--unit", "区经委")
    assert result.returncode == 0
    assert "已记录进展" in result.stdout and "状态已改为" not in result.stdout
    assert rows(run.db, "SELECT action FROM events ORDER BY id DESC LIMIT 1") == [("note",)]
    assert rows(run.db, "SELECT status FROM notes ORDER BY id DESC LIMIT 1") == [(None,)]
    log = run("log", "40")
    assert "进行中 → 进行中" not in log.stdout
    preview = run("undo", "--yes")
    assert "进行中 → 进行中" not in preview.stdout
    assert rows(run.db, "SELECT status FROM tasks WHERE id = 40") == [("doing",)]


def test_a_batch_line_with_the_current_status_is_a_plain_note(run):
    batch = write(run.dir / "b.csv", "id,text,status,unit\n40,开始,doing,区经委\n40,继续,doing,区经委\n28,未变,todo,\n")
    assert run("note", "--from", batch).returncode == 0
    assert rows(run.db, "SELECT action FROM events WHERE action IN ('note', 'status') ORDER BY id") == [
        ("status",), ("note",), ("note",)]
    assert "→ 未开始" not in run("log", "28").stdout


def test_a_retry_of_a_note_with_the_current_status_is_recognised(run):
    run("status", "40", "--all", "doing")
    assert run("note", "40", "继续", "--status", "doing", "--key", "k", "-u", "区经委").returncode == 0
    again = run("note", "40", "继续", "--status", "doing", "--key", "k", "-u", "区经委")
    assert again.returncode == 0, again.stderr
    assert "此前已用同一个键记录" in again.stderr
    assert rows(run.db, "SELECT count(*) FROM notes") == [(2,)]


# -- 5. system errors in Chinese --------------------------------------------------------------


@pytest.mark.no_ledger
@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.ENOSPC, "磁盘空间已满"), (errno.EPIPE, "管道已断开"), (errno.EACCES, "没有权限"),
     (errno.EROFS, "文件系统是只读的"), (errno.EIO, "读写出错")],
)
def test_common_system_errors_read_in_chinese(code, reason):
    from gongkai_cli.domain.text import os_reason

    assert os_reason(OSError(code, os.strerror(code))) == reason


@pytest.mark.no_ledger
def test_a_rare_system_error_keeps_the_system_text():
    from gongkai_cli.domain.text import os_reason

    assert os_reason(OSError(errno.ENOTCONN, "Transport endpoint is not connected")) == (
        "Transport endpoint is not connected")


def test_a_full_disk_is_named_in_chinese(run):
    with open("/dev/full", "w") as sink:
        result = run("note", "2", "x", stdout=sink)
    assert result.returncode == 7
    assert "磁盘空间已满" in result.stderr and "No space" not in result.stderr


def test_an_unreadable_batch_file_is_named_in_chinese(gk, tmp_path, monkeypatch):
    # Run as root, a test cannot make a file unreadable; the refusal is made where it happens.
    batch = tmp_path / "batch.csv"
    batch.write_text("id,text\n2,x\n", encoding="utf-8")
    real_open = Path.open

    def refused(self, *args, **kwargs):
        if self == batch:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    gk("init")
    monkeypatch.setattr(Path, "open", refused)
    result = gk("note", "--from", str(batch))
    assert result.exit_code == 2
    assert "无法读取文件" in result.stderr and "没有权限" in result.stderr
    assert "Permission denied" not in result.stderr


# -- 6. the confirmation prompt is Chinese ----------------------------------------------------


@pytest.fixture
def asks(gk, monkeypatch):
    from gongkai_cli.cli import console

    monkeypatch.setattr(console, "_interactive", lambda: True)
    gk("init")
    assert gk("note", "2", "撤销我").exit_code == 0
    return gk


@pytest.mark.parametrize("answer", ["", "\n", "否\n", "n\n", "NO\n"])
def test_undo_without_a_yes_changes_nothing(asks, db_path, answer):
    result = asks("undo", input=answer)
    assert result.exit_code == 0
    assert "确认撤销这项更改吗？[是/否]" in result.stdout and "未撤销任何更改" in result.stdout
    assert "y/N" not in result.stdout and "Aborted" not in result.output
    assert rows(db_path, "SELECT count(*) FROM notes WHERE retracted_at IS NULL") == [(1,)]


@pytest.mark.parametrize("answer", ["是\n", "y\n", "Yes\n", "确认\n"])
def test_undo_with_a_yes_undoes(asks, db_path, answer):
    result = asks("undo", input=answer)
    assert result.exit_code == 0 and "已撤销" in result.stdout
    assert rows(db_path, "SELECT count(*) FROM notes WHERE retracted_at IS NULL") == [(0,)]


def test_an_unclear_answer_is_asked_again_in_chinese(asks, db_path):
    result = asks("undo", input="也许\n是\n")
    assert result.exit_code == 0
    assert "请回答“是”或“否”" in result.stdout and "invalid input" not in result.output
    assert result.stdout.count("[是/否]") == 2
    assert rows(db_path, "SELECT count(*) FROM notes WHERE retracted_at IS NULL") == [(0,)]


def _at_the_prompt(run, *args: str):
    """Start gongkai on a pseudo-terminal and wait for its question."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([run.exe, *args], stdin=follower, stdout=follower, stderr=follower, env=run.env,
                               cwd=run.dir)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 60
    while "[是/否]".encode() not in shown:
        # Bounded, so a program that asks some other question fails the test instead of hanging it.
        ready, _, _ = select.select([leader], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            process.kill()
            os.close(leader)
            pytest.fail(f"no Chinese question within 60 s: {shown.decode('utf-8', 'replace')!r}")
        shown += os.read(leader, 65536)
    return process, leader, shown


@pytest.mark.parametrize("how", ["ctrl-d", "ctrl-c"])
def test_end_of_input_or_ctrl_c_at_the_prompt_is_a_no(run, how):
    assert run("note", "2", "撤销我").returncode == 0
    process, leader, shown = _at_the_prompt(run, "undo")
    if how == "ctrl-d":
        os.write(leader, b"\x04")
    else:
        time.sleep(0.5)  # a person reads the question first; the signal should find it waiting
        process.send_signal(signal.SIGINT)
    code = process.wait(timeout=60)
    output = drain_terminal(leader, shown).decode("utf-8")
    assert code == 0, output
    assert "未撤销任何更改" in output and "Aborted" not in output
    assert rows(run.db, "SELECT count(*) FROM notes WHERE retracted_at IS NULL") == [(1,)]


@pytest.mark.sqlite_only("restore is a SQLite file's; a server's ledger refuses it")
def test_restore_asks_in_chinese_and_ctrl_d_changes_nothing(run):
    backup = run.dir / "b.db"
    assert run("backup", str(backup)).returncode == 0
    process, leader, shown = _at_the_prompt(run, "restore", str(backup))
    assert "确认用这份备份替换当前数据库吗？[是/否]" in shown.decode("utf-8", "replace")
    os.write(leader, b"\x04")
    code = process.wait(timeout=60)
    output = drain_terminal(leader, shown).decode("utf-8")
    assert code == 0 and "未做任何更改" in output and "Aborted" not in output
    assert list(run.dir.glob("*before-restore*")) == []
