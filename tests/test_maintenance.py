"""`backup` (SQLite online backup, written aside then renamed) and `check` (integrity and foreign keys)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from gongkai_cli.domain.errors import StoreError
from gongkai_cli.store.sqlite import SQLiteStore as Store
from postgres import query


def rows(db: Path | str, sql: str) -> list[tuple]:
    return query(db, sql)


@pytest.mark.sqlite_only("backup of a SQLite file (a server is backed up with pg_dump or copy)")
def test_backup_is_a_complete_standalone_copy(gk, db_path: Path, tmp_path: Path):
    gk("note", "40", "备份前的进展")
    os.chmod(db_path, 0o640)
    target = tmp_path / "copies" / "gongkai-2023-04-01.db"
    target.parent.mkdir()
    result = gk("backup", str(target))
    assert result.exit_code == 0, result.output
    assert "已备份到" in result.stdout and str(target) in result.stdout
    assert rows(target, "PRAGMA integrity_check") == [("ok",)]
    assert rows(target, "PRAGMA journal_mode") == [("delete",)]
    assert rows(target, "SELECT text FROM notes") == [("备份前的进展",)]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temp file left behind
    shown = gk("--db", str(target), "show", "40", "-f", "json")
    assert json.loads(shown.stdout)["notes"][0]["text"] == "备份前的进展"


@pytest.mark.sqlite_only("backup of a SQLite file (a server is backed up with pg_dump or copy)")
def test_backup_never_overwrites_without_force(gk, db_path: Path, tmp_path: Path):
    gk("init")
    target = tmp_path / "b.db"
    target.write_bytes(b"an older backup")
    refused = gk("backup", str(target))
    assert refused.exit_code == 2 and "--force" in refused.stderr and str(target) in refused.stderr
    assert target.read_bytes() == b"an older backup"
    forced = gk("backup", str(target), "--force")
    assert forced.exit_code == 0
    assert rows(target, "SELECT count(*) FROM tasks") == [(91,)]


@pytest.mark.sqlite_only("backup of a SQLite file (a server is backed up with pg_dump or copy)")
def test_backup_without_hard_links_still_refuses_to_overwrite(gk, db_path: Path, tmp_path: Path, monkeypatch):
    def no_links(*args):
        raise PermissionError(1, "Operation not permitted")  # what FAT says

    gk("init")
    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "usb.db"
    assert gk("backup", str(target)).exit_code == 0
    assert rows(target, "SELECT count(*) FROM tasks") == [(91,)]
    assert gk("backup", str(target)).exit_code == 2


@pytest.mark.sqlite_only("backup of a SQLite file (a server is backed up with pg_dump or copy)")
@pytest.mark.parametrize("where", ["directory", "missing-directory", "live-database"])
def test_backup_refuses_bad_targets(gk, db_path: Path, tmp_path: Path, where):
    gk("init")
    target = {
        "directory": tmp_path,
        "missing-directory": tmp_path / "no" / "b.db",
        "live-database": db_path,
    }[where]
    before = db_path.read_bytes()
    result = gk("backup", str(target), "--force")
    assert result.exit_code == 2
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1
    assert db_path.read_bytes() == before
    assert not (tmp_path / "no").exists()


@pytest.mark.sqlite_only("backup of a SQLite file (a server is backed up with pg_dump or copy)")
def test_failed_backup_leaves_nothing_behind(gk, db_path: Path, tmp_path: Path, monkeypatch):
    gk("init")

    def full_disk(self, target, **shown_as):
        Path(target).write_bytes(b"half")
        raise StoreError(f"数据库“{target}”出错：database or disk is full")

    monkeypatch.setattr(Store, "copy_to", full_disk)
    out = tmp_path / "out"
    out.mkdir()
    result = gk("backup", str(out / "b.db"))
    assert result.exit_code == 4 and "disk is full" in result.stderr
    assert list(out.iterdir()) == []


@pytest.mark.sqlite_only("a missing database file")
def test_backup_of_a_missing_database_creates_nothing(gk, tmp_path: Path, monkeypatch):
    missing = tmp_path / "missing.db"
    monkeypatch.setenv("GONGKAI_DB", str(missing))
    result = gk("backup", str(tmp_path / "b.db"))
    assert result.exit_code == 4 and "不存在" in result.stderr
    assert not missing.exists() and not (tmp_path / "b.db").exists()


def test_check_passes_on_a_healthy_database(gk):
    gk("note", "40", "x")
    result = gk("check")
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1 and "检查通过" in result.stdout


@pytest.mark.sqlite_only("breaks the file with sqlite3 in a way a server's constraints do not allow")
def test_check_finds_a_broken_foreign_key(gk, db_path: Path):
    gk("init")
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO notes (task, at, by, text) VALUES (99999, 'x', 'y', 'z')")  # foreign_keys is off here
    conn.commit()
    conn.close()
    result = gk("check")
    assert result.exit_code == 4
    assert "检查未通过" in result.stderr and "notes" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.sqlite_only("breaks the file with sqlite3 in a way a server's constraints do not allow")
def test_check_finds_a_corrupt_index(gk, db_path: Path):
    gk("init")
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA writable_schema = ON")
    # The index now claims to cover a column other than the one its entries hold.
    conn.execute("""UPDATE sqlite_master SET sql = replace(sql, '"due"', '"content"')
                    WHERE name = 'idx_tasks_plan_due'""")
    conn.commit()
    conn.close()
    result = gk("check")
    assert result.exit_code == 4
    assert "检查未通过" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.sqlite_only("a file that is not a database")
def test_check_on_a_file_that_is_not_a_database(gk, db_path: Path):
    db_path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84 + b"\xff" * 4000)
    result = gk("check")
    assert result.exit_code == 4 and result.stderr.startswith("错误：")


@pytest.mark.sqlite_only("a missing database file")
def test_check_of_a_missing_database_creates_nothing(gk, db_path: Path):
    result = gk("check")
    assert result.exit_code == 4 and "不存在" in result.stderr
    assert not db_path.exists()
