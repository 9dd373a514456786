"""`check` and `restore` tell the truth (issue 26): the whole schema is checked against the one
gongkai's migrations build, a backup that fails that is refused, a damaged ledger is repaired
from a good backup, another page size is no obstacle, killed restores leave nothing behind;
another program's database is refused before SQLite can change it."""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.sqlite_only("the schema, pages and companions of a SQLite file")


@pytest.fixture
def gongkai(executable: str, db_path: Path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
                              env=dict(os.environ), cwd=db_path.parent, stdin=subprocess.DEVNULL, timeout=120)

    return run


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def one_line(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("注意：")]
    assert len(lines) == 1 and lines[0].startswith("错误："), result.stderr
    for needle in needles:
        assert needle in lines[0], result.stderr


def edit(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def stamped_without_tables(path: Path) -> None:
    from gongkai_cli.store.migrations import SCHEMA_VERSION
    from gongkai_cli.store.sqlite import APPLICATION_ID

    edit(path, f"PRAGMA application_id = {APPLICATION_ID}", f"PRAGMA user_version = {SCHEMA_VERSION}")


DAMAGE = {
    "events-dropped": ("DROP TABLE events",),
    "assignments-dropped": ("PRAGMA foreign_keys = OFF", "DROP TABLE assignments"),
    "trigger-dropped": ("DROP TRIGGER events_no_delete",),
    "index-dropped": ("DROP INDEX idx_tasks_plan_id",),
    "foreign-trigger": ("CREATE TRIGGER no_notes BEFORE INSERT ON notes BEGIN SELECT RAISE(ABORT, 'no'); END",),
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_check_finds_a_schema_that_is_not_gongkais(gongkai, db_path, damage):
    ok(gongkai("init"))
    ok(gongkai("check"))
    edit(db_path, *DAMAGE[damage])
    one_line(gongkai("check"), 4, "检查未通过")


def test_check_refuses_a_stamped_file_without_tables(gongkai, db_path):
    stamped_without_tables(db_path)
    one_line(gongkai("check"), 4, "缺少数据表 plans")


@pytest.mark.parametrize("damage", ["events-dropped", "assignments-dropped", "trigger-dropped"])
def test_restore_refuses_a_backup_whose_schema_is_not_gongkais(gongkai, db_path, damage):
    ok(gongkai("note", "40", "现有的进展"))
    ok(gongkai("backup", "good.db"))
    bad = db_path.parent / "bad.db"
    shutil.copy(db_path.parent / "good.db", bad)
    edit(bad, *DAMAGE[damage])
    before = db_path.read_bytes()
    one_line(gongkai("restore", str(bad), "--yes"), 4, "检查未通过")
    assert db_path.read_bytes() == before
    assert not list(db_path.parent.glob("*.before-restore-*"))
    ok(gongkai("check"))


def test_restore_refuses_a_stamped_backup_without_tables(gongkai, db_path):
    ok(gongkai("init"))
    bad = db_path.parent / "bad.db"
    stamped_without_tables(bad)
    result = gongkai("restore", str(bad), "--yes")
    assert result.returncode in (2, 4), result.stderr
    ok(gongkai("show", "40"))


def test_restore_of_a_backup_with_another_page_size(gongkai, db_path):
    ok(gongkai("note", "40", "备份时的进展"))
    ok(gongkai("backup", "good.db"))
    edit(db_path.parent / "good.db", "PRAGMA page_size = 8192", "VACUUM")
    ok(gongkai("note", "40", "备份后的进展"))
    ok(gongkai("restore", "good.db", "--yes"))
    ok(gongkai("check"))
    shown = ok(gongkai("show", "40"))
    assert "备份时的进展" in shown and "备份后的进展" not in shown
    ok(gongkai("note", "40", "恢复后的进展"))
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 8192
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_restore_repairs_a_ledger_whose_header_is_zeroed(gongkai, db_path):
    ok(gongkai("note", "40", "备份时的进展"))
    ok(gongkai("backup", "good.db"))
    damaged = bytearray(db_path.read_bytes())
    damaged[:100] = bytes(100)
    db_path.write_bytes(bytes(damaged))
    one_line(gongkai("check"), 4, "文件头")
    ok(gongkai("restore", "good.db", "--yes"))
    ok(gongkai("check"))
    assert "备份时的进展" in ok(gongkai("show", "40"))
    (aside,) = db_path.parent.glob("gongkai.db.before-restore-*.db")
    assert aside.read_bytes() == bytes(damaged)


def test_restore_clears_what_killed_restores_left(gongkai, db_path):
    ok(gongkai("init"))
    ok(gongkai("backup", "good.db"))
    # What a restore killed while copying the live ledger aside leaves: its temporary copy,
    # named for the second it started, whose writer's lock died with it.
    left = [db_path.parent / f".gongkai.db.before-restore-2026120{n}T101010.db.abcd123{n}.tmp" for n in range(3)]
    for path in left:
        path.write_bytes(b"x" * 4096)
    # One still being written by a live restore is not touched.
    held = db_path.parent / ".gongkai.db.before-restore-20261209T101010.db.live1234.tmp"
    held.write_bytes(b"y")
    with held.open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        ok(gongkai("restore", "good.db", "--yes"))
        assert not any(path.exists() for path in left)
        assert held.exists()


def test_a_one_byte_file_is_not_made_a_ledger(gongkai, db_path):
    db_path.write_bytes(b"x")
    one_line(gongkai("note", "40", "x"), 4, "不是有效的 gongkai 数据库")
    assert db_path.read_bytes() == b"x"


def _foreign_wal(path: Path) -> None:
    """Another program's WAL database, its last commit still in the -wal (the program holds it open)."""
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (x)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.commit()
    shutil.copy(path, f"{path}.copy")
    shutil.copy(f"{path}-wal", f"{path}.copy-wal")
    writer.close()
    for suffix in ("", "-wal"):
        os.replace(f"{path}.copy{suffix}", f"{path}{suffix}")
    Path(f"{path}-shm").unlink(missing_ok=True)


def _foreign_hot_journal(path: Path) -> None:
    """Another program's database killed mid-transaction: a hot rollback journal beside it."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (randomblob(3000))")
    conn.commit()
    # A cache too small for the transaction spills changed pages into the file before the commit.
    conn.execute("PRAGMA cache_size = 2")
    conn.execute("BEGIN")
    conn.execute("UPDATE t SET x = randomblob(3000)")
    conn.execute("INSERT INTO t SELECT randomblob(4000) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)")
    shutil.copy(path, f"{path}.copy")
    shutil.copy(f"{path}-journal", f"{path}.copy-journal")
    conn.rollback()
    conn.close()
    for suffix in ("", "-journal"):
        os.replace(f"{path}.copy{suffix}", f"{path}{suffix}")


@pytest.mark.parametrize("make", [_foreign_wal, _foreign_hot_journal], ids=["uncheckpointed-wal", "hot-journal"])
@pytest.mark.parametrize("command", [["plans"], ["note", "40", "x"], ["check"]])
def test_another_programs_database_is_refused_unchanged(gongkai, tmp_path, make, command):
    foreign = tmp_path / "other.db"
    make(foreign)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("other.db")}
    one_line(gongkai("--db", str(foreign), *command), 4, "gongkai 没有改动")
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("other.db")}
    assert after == before


@pytest.mark.parametrize("fixture", ["ledger_schema4.db", "ledger_schema5.db"])
def test_a_backup_from_an_older_release_still_restores(gongkai, db_path, fixture):
    # Its schema is compared with what its own migrations build, not with the newest.
    ok(gongkai("init"))
    shutil.copy(Path(__file__).parent / "fixtures" / fixture, db_path.parent / "old.db")
    ok(gongkai("restore", "old.db", "--yes"))
    ok(gongkai("check"))
