"""The one atomic writer (files.py): every file gongkai writes is synced, and so is its folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def synced(monkeypatch):
    """The (device, inode) of every file and folder fsynced through files.py."""
    import gongkai_cli.outputs.files as files

    seen: set[tuple[int, int]] = set()
    real = os.fsync

    def recording(handle: int) -> None:
        info = os.fstat(handle)
        seen.add((info.st_dev, info.st_ino))
        real(handle)

    monkeypatch.setattr(files.os, "fsync", recording)
    return seen


def identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


@pytest.mark.parametrize(
    "args",
    [
        ("export", "-o", "{out}/tasks.csv"),
        ("export", "-o", "{out}/tasks.xlsx"),
        ("export", "-f", "ics", "-o", "{out}/tasks.ics"),
        ("report", "-o", "{out}/report.md"),
        ("report", "-o", "{out}/report.html"),
        ("report", "-o", "{out}/report.docx"),
        pytest.param(("backup", "{out}/ledger-backup.db"), marks=pytest.mark.sqlite_only("backup of a SQLite file")),
    ],
    ids=["csv", "xlsx", "ics", "markdown", "html", "docx", "backup"],
)
def test_every_output_file_and_its_folder_are_synced(gk, tmp_path, synced, args):
    out = tmp_path / "out"
    out.mkdir()
    gk("init")
    synced.clear()
    result = gk(*(arg.format(out=out) for arg in args))
    assert result.exit_code == 0, result.output
    (written,) = out.iterdir()
    assert {identity(written), identity(out)} <= synced


def test_a_new_calendar_folder_and_a_removed_entry_are_synced(gk, tmp_path, synced):
    folder = tmp_path / "cal"
    assert gk("export", "-f", "vdir", "-o", str(folder)).exit_code == 0
    assert identity(tmp_path) in synced  # the folder's own name
    stale = folder / "gongkai-2023-999.ics"
    stale.write_text((folder / "gongkai-2023-7.ics").read_text(encoding="utf-8").replace(
        "gongkai-2023-7@", "gongkai-2023-999@"), encoding="utf-8")
    synced.clear()
    result = gk("export", "-f", "vdir", "-o", str(folder))
    assert "删除 1 个" in result.stdout and not stale.exists()
    assert identity(folder) in synced


def test_an_output_through_a_symlink_replaces_the_linked_file_and_keeps_the_link(gk, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "tasks.csv").write_text("上周的导出\n", encoding="utf-8")
    link = tmp_path / "tasks.csv"
    link.symlink_to(shared / "tasks.csv")
    result = gk("export", "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert "序号" in (shared / "tasks.csv").read_text(encoding="utf-8-sig")
    assert sorted(p.name for p in shared.iterdir()) == ["tasks.csv"]


def test_an_output_that_is_a_pipe_is_written_through_and_stays_a_pipe(executable, db_path, tmp_path):
    """`-o /dev/stdout` names a device, not a file: replacing it would put a file where the device was."""
    import stat
    import subprocess
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    result = subprocess.run(
        [executable, "report", "-o", str(pipe)], capture_output=True, timeout=60, check=False,
        env={**os.environ, "GONGKAI_DB": str(db_path)},
    )
    still_a_pipe = stat.S_ISFIFO(os.lstat(pipe).st_mode)
    if reader.is_alive() and still_a_pipe:
        # Nothing opened the pipe for writing: release the reader so the test can end.
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(timeout=10)
    assert result.returncode == 0, result.stderr
    assert still_a_pipe
    assert received and "政务公开" in received[0].decode("utf-8")
