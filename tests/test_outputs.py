"""Files gongkai writes (reports, exports, backups), through the installed executable.

No output path may overwrite the live database or its companions; a full disk
gives one error line; temporary files of killed writers do not pile up;
read-only files are respected, and a read-only database can still be backed up.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gongkai_cli.ledger import Ledger
from postgres import query
from processes import drop_dac_override, in_process

# Links, flock, file-size limits and SIGKILL: POSIX only.
fcntl = pytest.importorskip("fcntl")
resource = pytest.importorskip("resource")


@pytest.fixture
def gongkai(executable: str, db_path: Path, tmp_path: Path):
    """Run the installed executable against this test's database (GONGKAI_DB from conftest)."""

    def run(*args: str, preexec_fn=None, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [executable, *args], check=False, capture_output=True, text=True, encoding="utf-8", input=input,
            env=dict(os.environ), cwd=tmp_path, preexec_fn=preexec_fn, timeout=120,
        )

    with Ledger.open(db_path) as ledger:
        ledger.add_note(40, "写出之前的进展")
    return run


def one_error_line(result: subprocess.CompletedProcess, code: int) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def notes(db: Path | str) -> list[str]:
    return [text for (text,) in query(db, "SELECT text FROM notes ORDER BY id")]


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", ".tmp-journal")))


# -- 1. output never clobbers the ledger --------------------------------------------------------

WRITERS = {
    "report": ["report", "-o"],
    "report-html": ["report", "--html", "-o"],
    "export-csv": ["export", "--format", "csv", "-o"],
    "export-xlsx": ["export", "--format", "xlsx", "-o"],
    "backup": ["backup", "--force"],
}


def _target(kind: str, db: Path) -> Path:
    links = db.parent / "links"
    links.mkdir(exist_ok=True)
    if kind == "database":
        return db
    if kind in ("wal", "shm"):
        return Path(f"{db}-{kind}")
    if kind == "symlink":
        (links / "alias.db").symlink_to(db)
        return links / "alias.db"
    if kind == "dangling-symlink-to-wal":
        # The -wal exists only while a command runs; the link is waiting for it.
        (links / "later.db").symlink_to(f"{db}-wal")
        return links / "later.db"
    if kind == "hard-link":
        os.link(db, links / "hard.db")
        return links / "hard.db"
    if kind == "through-symlinked-directory":
        (links / "dir").symlink_to(db.parent, target_is_directory=True)
        return links / "dir" / db.name
    raise AssertionError(kind)


@pytest.mark.sqlite_only("output names that are the database file, its WAL and links to them")
@pytest.mark.parametrize("kind", [
    "database", "wal", "shm", "symlink", "dangling-symlink-to-wal", "hard-link", "through-symlinked-directory",
])
@pytest.mark.parametrize("command", list(WRITERS))
def test_no_output_overwrites_the_live_database(gongkai, db_path: Path, command: str, kind: str):
    target = _target(kind, db_path)
    before = db_path.read_bytes()
    result = gongkai(*WRITERS[command], str(target))
    one_error_line(result, 2)
    assert "正在使用的数据库" in result.stderr
    assert db_path.read_bytes() == before
    assert notes(db_path) == ["写出之前的进展"]



@pytest.mark.sqlite_only("output names that are the database file, its WAL and links to them")
@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_calendar_folder_never_takes_a_name_the_ledger_needs(gongkai, db_path: Path, suffix: str):
    # A folder under the -wal name would leave the ledger unopenable until someone removed it.
    target = Path(f"{db_path}{suffix}")
    result = gongkai("export", "--format", "vdir", "-o", str(target))
    one_error_line(result, 2)
    assert "正在使用的数据库" in result.stderr
    assert not target.is_dir()
    assert gongkai("check").returncode == 0

# -- 3. full disk and killed writers ------------------------------------------------------------


def _limit_file_size(limit: int):
    def preexec() -> None:
        # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, as on a full disk.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def _random_text(rng: random.Random, chars: int) -> str:
    # CJK characters at random barely compress, so the xlsx stays large.
    return "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(chars))


@pytest.mark.parametrize(("command", "name"), [(["export", "-o"], "台账.xlsx"), (["report", "-o"], "进展.docx")])
def test_a_zipped_output_that_runs_out_of_space_is_one_error_line(gongkai, tmp_path: Path, command, name):
    rng = random.Random(12)
    # The notes that make the output big are written in-process; the executable writes the output.
    note = in_process(os.environ)
    for task in (1, 2, 3, 4, 5, 6):
        assert note("note", str(task), "-", input=_random_text(rng, 20_000)).returncode == 0
    out = tmp_path / "exports"
    out.mkdir()
    # Bigger than the -shm a reader creates (32 KiB), far smaller than this output (over 300 KB).
    result = gongkai(*command, str(out / name), preexec_fn=_limit_file_size(128 * 1024))
    one_error_line(result, 2)
    assert "无法写入文件" in result.stderr and "Exception ignored" not in result.stderr
    assert list(out.iterdir()) == []
    full = gongkai(*command, str(out / name))
    assert full.returncode == 0 and (out / name).stat().st_size > 300_000


@pytest.mark.slow
def test_temp_files_of_killed_exports_are_removed_by_the_next_export(gongkai, executable, db_path, tmp_path):
    rng = random.Random(7)
    batch = "\n".join(f'{{"id": {task}, "text": "{_random_text(rng, 3000)}"}}' for task in range(1, 92) for _ in range(4))
    (tmp_path / "batch.jsonl").write_text(batch, encoding="utf-8")
    assert gongkai("note", "--from", str(tmp_path / "batch.jsonl")).returncode == 0
    out = tmp_path / "exports"
    out.mkdir()
    target = out / "台账.xlsx"
    previous: list[str] = []
    for _ in range(3):
        export = subprocess.Popen([executable, "export", "-o", str(target)], env=dict(os.environ),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while export.poll() is None and set(temp_files(out)) <= set(previous):
            time.sleep(0.002)
        export.send_signal(signal.SIGKILL)
        # Killed while its temporary file was being written, or this round proved nothing.
        assert export.wait(timeout=60) == -signal.SIGKILL
        left = temp_files(out)
        # Each run removed what the run killed before it had left: one file, never a pile.
        assert len(left) == 1 and left != previous, (previous, left)
        previous = left
    assert not target.exists()
    # A writer still at work holds its lock: its file must survive the cleaning.
    busy = out / f".{target.name}.a1b2c3d4.tmp"
    busy_handle = os.open(busy, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(busy_handle, fcntl.LOCK_EX)
    try:
        assert gongkai("export", "-o", str(target)).returncode == 0
        assert temp_files(out) == [busy.name]
    finally:
        os.close(busy_handle)
    assert target.stat().st_size > 0


@pytest.mark.sqlite_only("backup of a SQLite file (a server is backed up with pg_dump or copy)")
@pytest.mark.slow
def test_temp_files_of_a_killed_backup_are_removed_by_the_next_backup(gongkai, tmp_path: Path):
    out = tmp_path / "backups"
    out.mkdir()
    # What a backup killed mid-copy leaves: its temporary copy and SQLite's journal of it.
    # The name of the old mkstemp-based writer matches too, so those are cleaned as well.
    for name in (".b.db.k3j_x9q2.tmp", ".b.db.k3j_x9q2.tmp-journal", ".b.db.0123abcd.tmp"):
        (out / name).write_bytes(b"\0" * 4096)
    unrelated = [".b.db.tmp", ".other.db.0123abcd.tmp", "b.db.0123abcd.tmp", ".b.db.0123abcd.tmp.keep"]
    for name in unrelated:
        (out / name).write_bytes(b"mine")
    assert gongkai("backup", str(out / "b.db")).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["b.db", *unrelated])


# -- 4. read-only database and read-only targets -----------------------------------------------



@pytest.mark.sqlite_only("backup of a SQLite file (a server is backed up with pg_dump or copy)")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drops Linux capabilities when run as root")
def test_a_read_only_database_can_be_backed_up(gongkai, db_path: Path, tmp_path: Path):
    os.chmod(db_path, 0o444)
    # Root ignores mode bits; without CAP_DAC_OVERRIDE the child is held to them like anyone else.
    drop = drop_dac_override if os.geteuid() == 0 else None
    target = tmp_path / "copies" / "b.db"
    target.parent.mkdir()
    result = gongkai("backup", str(target), preexec_fn=drop)
    assert result.returncode == 0, result.stderr
    assert "已备份到" in result.stdout
    assert notes(target) == ["写出之前的进展"]
    # Same readers as the ledger, and read-only like it: the archived state stays as it was.
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert sorted(p.name for p in target.parent.iterdir()) == ["b.db"]
    # The proof that the child really was held to the mode bits: it cannot write the ledger.
    refused = gongkai("note", "40", "x", preexec_fn=drop)
    assert refused.returncode == 4 and "只读" in refused.stderr


@pytest.mark.parametrize("command", [["report", "-o"], ["export", "-o"]])
def test_a_read_only_output_file_is_replaced_only_with_force(gongkai, tmp_path: Path, command):
    target = tmp_path / "out.csv" if command[0] == "export" else tmp_path / "out.md"
    target.write_text("别人的文件\n", encoding="utf-8")
    os.chmod(target, 0o444)
    refused = gongkai(*command, str(target))
    one_error_line(refused, 2)
    assert "只读" in refused.stderr and "--force" in refused.stderr
    assert target.read_text(encoding="utf-8") == "别人的文件\n"
    forced = gongkai(*command, str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "写出之前的进展" in target.read_text(encoding="utf-8-sig")
    assert stat.S_IMODE(target.stat().st_mode) == 0o444


@pytest.mark.sqlite_only("backup of a SQLite file (a server is backed up with pg_dump or copy)")
def test_a_backup_that_runs_out_of_space_names_the_backup_and_leaves_nothing(gongkai, tmp_path: Path):
    out = tmp_path / "backups"
    out.mkdir()
    target = out / "b.db"
    # The ledger (over 100 KB with the bundled plan) does not fit under a 64 KiB file size limit.
    result = gongkai("backup", str(target), preexec_fn=_limit_file_size(64 * 1024))
    one_error_line(result, 4)
    assert str(target) in result.stderr and ".tmp" not in result.stderr
    assert list(out.iterdir()) == []
