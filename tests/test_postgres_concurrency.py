"""Sixty writers at once on a server (issue 13): each runs the installed executable fifty times,
notes and status changes on assignments no other writer touches, while the office imports a
plan; every write is stored, no writer sees an error, and `check` finds nothing.

Slow (3,000 processes): out of the quick subset. Run with -s to see the throughput measured.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from processes import cron_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test,postgres]'")

WRITERS = 60
WRITES = 50  # per writer: a note and a status change on each of 25 assignments of its own
BUNDLED = Path(__file__).resolve().parent.parent / "data" / "tasks_2023.csv"


def test_sixty_writers_and_an_import_lose_nothing(executable: str, tmp_path: Path, pg_url: str):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = cron_env(tmp_path, Path(pg_url), today="2023-04-14", user="公开办")
        env.update(GONGKAI_DB=pg_url, GONGKAI_BUSY_TIMEOUT="600")
        return subprocess.run([executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
                              env=env, cwd=tmp_path, timeout=900)

    assert run("init", "--empty").returncode == 0
    assert run("import", str(BUNDLED), "--plan", "2023").returncode == 0
    (tmp_path / "tasks_2024.csv").write_bytes(BUNDLED.read_bytes())

    def counts() -> tuple[int, int]:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT (SELECT count(*) FROM gongkai.notes), (SELECT count(*) FROM gongkai.events)").fetchone()
        return row[0], row[1]

    with psycopg.connect(pg_url) as conn:
        assignments = conn.execute(
            """SELECT t.id, a.unit FROM gongkai.assignments a JOIN gongkai.tasks t ON t.pk = a.task
               WHERE t.plan = '2023' AND NOT a.vague ORDER BY t.id, a.unit"""
        ).fetchall()
    per_writer = WRITES // 2
    assert len(assignments) >= WRITERS * per_writer
    notes_before, events_before = counts()

    failures: list[tuple[list[str], int, str]] = []
    started = threading.Event()
    progress = threading.Semaphore(0)

    def writer(index: int) -> None:
        started.wait()
        for task_id, unit in assignments[index * per_writer:(index + 1) * per_writer]:
            for args in (["note", str(task_id), f"第 {index} 号写入者的进展", "--unit", unit, "-q"],
                         ["status", str(task_id), "doing", "--unit", unit, "-q"]):
                result = run(*args)
                if result.returncode != 0 or result.stderr or result.stdout:
                    failures.append((args, result.returncode, result.stderr))
                progress.release()

    def importer() -> None:
        # The office's import lands in the middle of the writers' work.
        for _ in range(WRITERS * WRITES // 3):
            progress.acquire()
        result = run("import", "tasks_2024.csv", "--plan", "2024")
        if result.returncode != 0 or result.stderr:
            failures.append((["import"], result.returncode, result.stderr))

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(WRITERS)]
    threads.append(threading.Thread(target=importer))
    for thread in threads:
        thread.start()
    began = time.monotonic()
    started.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began

    assert failures == []
    notes, events = counts()
    assert notes - notes_before == WRITERS * WRITES  # a status change is a note too
    assert events - events_before == WRITERS * WRITES + 1
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM gongkai.assignments a JOIN gongkai.tasks t ON t.pk = a.task "
            "WHERE t.plan = '2023' AND a.status = 'doing'"
        ).fetchone() == (WRITERS * per_writer,)
        assert conn.execute("SELECT count(*) FROM gongkai.tasks WHERE plan = '2024'").fetchone()[0] > 0
    checked = run("check")
    assert (checked.returncode, checked.stderr) == (0, "")
    print(f"\n{WRITERS} writers x {WRITES} writes + 1 import: {elapsed:.1f} s, "
          f"{WRITERS * WRITES / elapsed:.1f} writes/s")
