"""`gongkai restore BACKUP`, through the installed executable.

Copying a backup over the database file is not a restore: a `-wal` left by a
killed writer is replayed onto the copied file and corrupts it. `restore`
checks the backup, keeps the replaced database aside, and writes the backup
through SQLite under an exclusive lock.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gongkai_cli.ledger import Ledger
from processes import in_process

pytestmark = pytest.mark.sqlite_only("backup and restore of a SQLite file (a server is backed up with pg_dump or copy)")

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL exists only on POSIX systems")

# Adds notes until it is killed, leaving committed transactions in the -wal.
_NOTE_WRITER = r"""
import sys
from gongkai_cli.ledger import Ledger

with Ledger.open(sys.argv[1]) as ledger:
    print("begin", flush=True)
    n = 0
    while True:
        n += 1
        ledger.add_note(n % 91 + 1, f"killed writer {n}", by="writer")
"""


@pytest.fixture
def gongkai(executable: str, db_path: Path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
            env=dict(os.environ), cwd=db_path.parent, stdin=subprocess.DEVNULL, timeout=120,
        )

    return run


def rows(db: Path, sql: str) -> list[tuple]:
    # Read-only, so a test's look never checkpoints or removes a -wal.
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


NOTES = "SELECT task, text, retracted_at FROM notes ORDER BY id"


def asides(db: Path) -> list[Path]:
    return sorted(db.parent.glob(f"{db.name}.before-restore-*.db"))


def _until_checkpointed(db: Path, backup: Path) -> None:
    """Wait until the writer's WAL has been checkpointed into the database file at least once.

    Until then the backup plus the -wal happen to add up to the live state; after
    it, the -wal holds pages that only fit the live file, the harmful case.
    """
    for _ in range(6000):
        if db.stat().st_size > backup.stat().st_size:
            return
        time.sleep(0.01)
    raise AssertionError("the writer never checkpointed its WAL")


@pytest.fixture
def backed_up(gongkai, db_path: Path, tmp_path: Path) -> Path:
    """A ledger with one note in its backup and one more note after it."""
    with Ledger.open(db_path) as ledger:
        ledger.add_note(40, "备份之前的进展")
    backup = tmp_path / "backups" / "gongkai-2023-04-01.db"
    backup.parent.mkdir()
    # Made in-process: the tests are about what the executable's restore does with it.
    assert in_process(os.environ)("backup", str(backup)).returncode == 0
    with Ledger.open(db_path) as ledger:
        ledger.add_note(41, "备份之后的进展")
    return backup


@pytest.mark.slow
@posix_only
def test_restore_over_a_wal_left_by_a_killed_writer(gongkai, db_path: Path, backed_up: Path, record_property):
    writer = subprocess.Popen([sys.executable, "-c", _NOTE_WRITER, str(db_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "begin", writer.stderr.read()
    _until_checkpointed(db_path, backed_up)
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=60) == -signal.SIGKILL
    writer.stdout.close()
    writer.stderr.close()
    wal = Path(f"{db_path}-wal")
    # The situation in which copying the backup back corrupts the ledger.
    assert wal.exists() and wal.stat().st_size > 0
    killed_notes = rows(db_path, "SELECT count(*) FROM notes WHERE by = 'writer'")[0][0]
    assert killed_notes > 0
    record_property("notes_by_killed_writer", killed_notes)
    record_property("wal_bytes_left", wal.stat().st_size)

    result = gongkai("restore", str(backed_up), "--yes")
    assert result.returncode == 0, result.stderr
    [aside] = asides(db_path)
    assert "已用备份" in result.stdout and str(aside) in result.stdout
    assert gongkai("check").returncode == 0
    assert rows(db_path, NOTES) == rows(backed_up, NOTES) == [(40, "备份之前的进展", None)]
    for table in ("tasks", "events", "plans"):
        assert rows(db_path, f"SELECT * FROM {table}") == rows(backed_up, f"SELECT * FROM {table}")
    # What was replaced is kept whole: the later note and everything the killed writer committed.
    assert rows(aside, "PRAGMA integrity_check") == [("ok",)]
    assert rows(aside, "PRAGMA journal_mode") == [("delete",)]
    texts = [text for _, text, _ in rows(aside, NOTES)]
    assert texts[:2] == ["备份之前的进展", "备份之后的进展"]
    assert len(texts) == 2 + killed_notes
    assert rows(backed_up, "SELECT count(*) FROM notes") == [(1,)]  # the backup itself is untouched
    assert sorted(p.name for p in db_path.parent.iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow
def test_restore_waits_for_a_writer_and_keeps_its_change_aside(gongkai, executable, db_path: Path, backed_up: Path):
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE plans SET source = '恢复时正在写入'")
    restore = subprocess.Popen([executable, "restore", str(backed_up), "--yes"], env=dict(os.environ),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    time.sleep(0.5)
    writer.execute("COMMIT")
    writer.close()
    _out, err = restore.communicate(timeout=60)
    assert restore.returncode == 0, err
    [aside] = asides(db_path)
    # The restore took the database only after the writer committed, so nothing was lost in between.
    assert rows(aside, "SELECT source FROM plans") == [("恢复时正在写入",)]
    assert rows(db_path, "SELECT source FROM plans") == rows(backed_up, "SELECT source FROM plans")


def _not_a_ledger(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.execute("INSERT INTO songs VALUES ('茉莉花')")
    conn.commit()
    conn.close()


def _corrupt_index(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("""UPDATE sqlite_master SET sql = replace(sql, '"due"', '"content"')
                    WHERE name = 'idx_tasks_plan_due'""")
    conn.commit()
    conn.close()


def _newer(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()


@pytest.mark.parametrize("case, code, needle", [
    ("missing", 2, "找不到备份文件"),
    ("text-file", 2, "不是 SQLite 数据库"),
    ("another-application", 2, "不是 gongkai 的台账备份"),
    ("corrupt-index", 4, "检查未通过"),
    ("newer-gongkai", 4, "请升级 gongkai"),
    ("the-live-database", 2, "正在使用的数据库"),
    ("its-wal", 2, "正在使用的数据库"),
])
def test_restore_refuses_what_is_not_a_whole_ledger(gongkai, db_path: Path, backed_up: Path, case, code, needle):
    source = {"the-live-database": db_path, "its-wal": Path(f"{db_path}-wal")}.get(case, backed_up)
    if case == "missing":
        source = backed_up.with_name("no-such.db")
    elif case == "text-file":
        source.write_text("这不是数据库\n" * 100, encoding="utf-8")
    elif case == "another-application":
        source.unlink()
        _not_a_ledger(source)
    elif case == "corrupt-index":
        _corrupt_index(source)
    elif case == "newer-gongkai":
        _newer(source)
    before = rows(db_path, NOTES)
    result = gongkai("restore", str(source), "--yes")
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1 and needle in result.stderr
    assert rows(db_path, NOTES) == before
    assert asides(db_path) == []


def test_restore_without_a_terminal_needs_yes_and_changes_nothing(gongkai, db_path: Path, backed_up: Path):
    before = rows(db_path, NOTES)
    result = gongkai("restore", str(backed_up))
    assert result.returncode == 2
    assert "--yes" in result.stderr and "1 条进展" in result.stderr and str(backed_up) in result.stderr
    assert rows(db_path, NOTES) == before and len(before) == 2
    assert asides(db_path) == []


def test_restore_of_a_missing_database_creates_nothing(gongkai, db_path: Path, backed_up: Path, monkeypatch):
    missing = db_path.parent / "elsewhere.db"
    monkeypatch.setenv("GONGKAI_DB", str(missing))
    result = gongkai("restore", str(backed_up), "--yes")
    assert result.returncode == 4 and "不存在" in result.stderr
    assert not missing.exists()


@posix_only
def test_restore_repairs_a_ledger_after_the_backup_was_copied_back(gongkai, db_path: Path, backed_up: Path,
                                                                   record_property):
    """Whether the copy next to a stale -wal reads as corrupt depends on what the WAL holds
    (recorded as a property, not asserted); restore repairs it either way."""
    writer = subprocess.Popen([sys.executable, "-c", _NOTE_WRITER, str(db_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert writer.stdout.readline().strip() == "begin"
    _until_checkpointed(db_path, backed_up)
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=60) == -signal.SIGKILL
    writer.stdout.close()
    # The old README's procedure: copy the backup over the database, next to the killed writer's -wal.
    db_path.write_bytes(backed_up.read_bytes())
    naive = gongkai("check")
    record_property("check_after_copying_back", naive.returncode)
    result = gongkai("restore", str(backed_up), "--yes")
    assert result.returncode == 0, result.stderr
    assert gongkai("check").returncode == 0
    assert rows(db_path, NOTES) == rows(backed_up, NOTES)


@pytest.mark.parametrize("answer, restored", [("y\n", True), ("n\n", False)])
def test_restore_asks_in_a_terminal(gk, db_path: Path, backed_up: Path, monkeypatch, answer, restored):
    from gongkai_cli.cli import console

    monkeypatch.setattr(console, "_interactive", lambda: True)
    result = gk("restore", str(backed_up), input=answer)
    assert result.exit_code == 0
    assert "将用备份" in result.stdout and "当前数据库会先另存一份" in result.stdout
    assert ("已用备份" in result.stdout) is restored and ("未做任何更改" in result.stdout) is not restored
    assert len(rows(db_path, NOTES)) == (1 if restored else 2)
    assert len(asides(db_path)) == (1 if restored else 0)


def test_restore_replaces_the_database_named_by_db_after_the_command(gongkai, db_path: Path, backed_up: Path,
                                                                      tmp_path: Path):
    target = tmp_path / "x" / "target.db"
    target.parent.mkdir()
    with Ledger.open(target) as ledger:
        ledger.add_note(50, "目标台账的进展")
    default_before = rows(db_path, NOTES)
    result = gongkai("restore", str(backed_up), "--yes", "--db", str(target))
    assert result.returncode == 0, result.stderr
    assert rows(target, NOTES) == rows(backed_up, NOTES)
    assert len(asides(target)) == 1 and str(target) in result.stdout
    # The database GONGKAI_DB names is not the one the command line asked for: it stays as it was.
    assert rows(db_path, NOTES) == default_before and len(default_before) == 2
    assert asides(db_path) == []


@pytest.mark.parametrize("answer", [["--yes"], []], ids=["yes", "no-terminal"])
@pytest.mark.parametrize("case", ["another-program", "empty-file"])
def test_restore_leaves_a_database_that_is_not_a_ledger_untouched(gongkai, backed_up: Path, tmp_path: Path,
                                                                  monkeypatch, case, answer):
    needle = {"another-program": "不是 gongkai 台账（它是其他程序的 SQLite 数据库）",
              "empty-file": "是一个空文件，不是 gongkai 台账"}[case]
    other = tmp_path / "someone-elses.db"
    if case == "another-program":
        _not_a_ledger(other)
    else:
        other.write_bytes(b"")
    before = other.read_bytes()
    monkeypatch.setenv("GONGKAI_DB", str(other))
    result = gongkai("restore", str(backed_up), *answer)
    assert result.returncode == 4, result.stderr
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1 and needle in result.stderr
    assert other.read_bytes() == before
    assert asides(other) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("someone-elses")) == [other.name]


def test_restore_onto_a_directory_says_it_is_a_directory(gongkai, backed_up: Path, tmp_path: Path, monkeypatch):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    monkeypatch.setenv("GONGKAI_DB", str(folder))
    result = gongkai("restore", str(backed_up), "--yes")
    assert result.returncode == 4
    assert "是一个目录" in result.stderr and "不存在" not in result.stderr
    assert list(folder.iterdir()) == []
