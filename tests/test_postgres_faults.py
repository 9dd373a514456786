"""Faults on a real server: a connection cut off inside a write, the server restarted during
a command and between commands, and a server whose TimeZone is not Beijing's."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gongkai_cli.store import ServerURL
from postgres import SCRIPT, exports
from processes import cron_env

pytestmark = pytest.mark.postgres

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

PLAN = (
    "序号,任务名称,任务内容,责任单位,时间节点\n"
    "1,推进公开,公开目录，上线 APP,区财政局、各街镇,4月30日前\n"
    "2,年度报告,按时发布,区政府办公室,3月31日前\n"
)
TABLES = ("plans", "tasks", "assignments", "notes", "events")


def environment(home: Path, db: str, **env: str) -> dict[str, str]:
    variables = cron_env(home, Path(db), today="2023-04-14", user="公开办")
    variables.update(GONGKAI_DB=db, **env)
    return variables


def gongkai(executable: str, home: Path, db: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
                          env=environment(home, db, **env), cwd=home, timeout=120)


def ok(executable: str, home: Path, db: str, *args: str, **env: str) -> str:
    result = gongkai(executable, home, db, *args, **env)
    assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
    return result.stdout


def contents(url: str) -> dict[str, object]:
    """Row counts, and every status, of the server's ledger."""
    with psycopg.connect(url, autocommit=True) as conn:
        found: dict[str, object] = {
            table: conn.execute(f"SELECT count(*) FROM gongkai.{table}").fetchone()[0] for table in TABLES
        }
        found["statuses"] = conn.execute(
            "SELECT t.id, a.unit, a.status, t.status FROM gongkai.assignments a JOIN gongkai.tasks t ON t.pk = a.task "
            "ORDER BY 1, 2"
        ).fetchall()
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "tasks_2023.csv").write_text(PLAN, encoding="utf-8")
    return tmp_path


def blocked_write(executable: str, home: Path, url: str) -> tuple[subprocess.Popen[str], int, object]:
    """A status change started and held half-way: its note is written and its transaction open,
    waiting for a lock on the history that another session holds. The process, its
    server process id, and the blocking connection (its transaction still open)."""
    blocker = psycopg.connect(url)
    blocker.execute("LOCK TABLE gongkai.events IN SHARE ROW EXCLUSIVE MODE")
    process = subprocess.Popen(
        [executable, "note", "1", "上线", "--unit", "马陆镇", "--status", "done"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding="utf-8", cwd=home,
        env=environment(home, url, GONGKAI_BUSY_TIMEOUT="120"),
    )
    with psycopg.connect(url, autocommit=True) as watcher:
        for _ in range(600):
            row = watcher.execute(
                """SELECT a.pid FROM pg_stat_activity a
                   WHERE a.datname = current_database() AND a.application_name = 'gongkai' AND a.wait_event_type = 'Lock'
                     AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
                                 AND l.relation = 'gongkai.notes'::regclass AND l.mode = 'RowExclusiveLock')"""
            ).fetchone()
            if row is not None:
                return process, row[0], blocker
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the write never reached the lock")


def assert_cut_off_and_nothing_written(
    process: subprocess.Popen[str], blocker: object, cut: Callable[[], None], url: str, before: dict[str, object]
) -> None:
    """`cut` ends the blocked write's connection: the write says so in one line, exit 4, and wrote nothing."""
    try:
        cut()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        blocker.close()  # type: ignore[attr-defined]
    assert (process.returncode, stdout) == (4, "")
    assert stderr.startswith(f"错误：与 PostgreSQL 数据库“{ServerURL(url)}”的连接中断，本次操作没有写入任何内容：")
    assert stderr.count("\n") == 1
    assert contents(url) == before


def test_a_connection_terminated_inside_a_write_writes_nothing(executable, home: Path, pg_url: str):
    ok(executable, home, pg_url, "import", "tasks_2023.csv")
    before = contents(pg_url)
    process, pid, blocker = blocked_write(executable, home, pg_url)

    def terminate() -> None:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)

    assert_cut_off_and_nothing_written(process, blocker, terminate, pg_url, before)
    ok(executable, home, pg_url, "note", "1", "上线", "--unit", "马陆镇", "--status", "done")
    assert contents(pg_url)["notes"] == before["notes"] + 1  # type: ignore[operator]
    assert ok(executable, home, pg_url, "check").startswith("数据库")


@pytest.fixture
def own_server(tmp_path: Path):
    """A cluster of this test's own, to restart without disturbing the others."""
    result = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        pytest.skip("PostgreSQL could not be started by .ci/postgres: " + result.stderr.strip()[-300:])
    variables = exports(result.stdout)
    try:
        yield variables["GONGKAI_TEST_PG_URL"], variables["GONGKAI_TEST_PG_DIR"]
    finally:
        subprocess.run([str(SCRIPT), "stop", variables["GONGKAI_TEST_PG_DIR"]], check=False, timeout=120)


def restart(directory: str) -> None:
    result = subprocess.run([str(SCRIPT), "restart", directory], capture_output=True, text=True, check=False,
                            timeout=300)
    assert result.returncode == 0, result.stderr


def test_a_server_restarted_during_a_write_writes_nothing_and_the_next_command_works(executable, home: Path, own_server):
    url, directory = own_server
    ok(executable, home, url, "import", "tasks_2023.csv")
    before = contents(url)
    process, _, blocker = blocked_write(executable, home, url)
    # A restart cuts off the blocker and the write alike.
    assert_cut_off_and_nothing_written(process, blocker, lambda: restart(directory), url, before)

    shown = ok(executable, home, url, "show", "1", "-f", "json")
    restart(directory)
    assert ok(executable, home, url, "show", "1", "-f", "json") == shown
    ok(executable, home, url, "note", "1", "上线", "--unit", "马陆镇", "--status", "done")
    restart(directory)
    assert contents(url)["notes"] == before["notes"] + 1  # type: ignore[operator]
    assert '"status": "done"' in ok(executable, home, url, "list", "--unit", "马陆镇", "-f", "json")
    assert ok(executable, home, url, "check").startswith("数据库")


# Beijing's morning is the previous day in UTC and New York, and the afternoon in Kiritimati (UTC+14).
@pytest.mark.parametrize("zone", ["America/New_York", "UTC", "Pacific/Kiritimati"])
def test_dates_and_times_are_beijings_whatever_the_servers_time_zone(executable, home: Path, pg_url: str, zone: str):
    database = urlsplit(pg_url).path.lstrip("/")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} SET TimeZone = '{zone}'")
    server = pg_url
    sqlite = str(home / "gongkai.db")
    def both(*args: str, now: str) -> str:
        # No GONGKAI_TODAY: today is the date of that moment in Beijing.
        shown = [ok(executable, home, db, *args, GONGKAI_TODAY="", GONGKAI_NOW=now).replace(db, "<台账>")
                 for db in (sqlite, server)]
        assert shown[0] == shown[1].replace(str(ServerURL(server)), "<台账>"), args
        return shown[0]

    both("import", "tasks_2023.csv", now="2023-04-30T07:30:00+08:00")
    with psycopg.connect(server, autocommit=True) as conn:
        assert conn.execute("SHOW TimeZone").fetchone() == (zone,)
        columns = conn.execute(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'gongkai' AND table_name <> 'migrations'
                 AND column_name IN ('at', 'created_at', 'imported_at', 'updated_at', 'retracted_at')"""
        ).fetchall()
    assert len(columns) == 7 and {data_type for _, _, data_type in columns} == {"timestamp with time zone"}
    both("note", "1", "上线", "--unit", "马陆镇", "--status", "done", now="2023-04-30T07:31:00+08:00")
    both("note", "2", "发布", "--unit", "区政府办公室", now="2023-05-01T00:10:00+08:00")
    for now in ("2023-04-30T07:40:00+08:00", "2023-05-01T00:20:00+08:00"):
        for args in (["list", "-f", "json"], ["due", "--before", "today", "-f", "json"], ["show", "1", "-f", "json"],
                     ["log", "-f", "json"], ["log", "--since", "today", "-f", "json"], ["remind", "-f", "json"],
                     ["list", "--unit", "江桥镇", "--overdue", "-f", "json"]):
            both(*args, now=now)
    listed = both("list", "--unit", "江桥镇", "-f", "json", now="2023-05-01T00:20:00+08:00")
    assert '"overdue": true' in listed  # due 4月30日, and 1 May has begun in Beijing
    logged = both("log", "-f", "json", now="2023-05-01T00:20:00+08:00")
    assert '"at": "2023-05-01T00:10:00+08:00"' in logged
