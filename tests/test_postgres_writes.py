"""The write half of the PostgreSQL store behaves exactly as the SQLite store does: every write
command, run through the installed executable against a SQLite file and a PostgreSQL database
side by side, exits with the same code and prints byte for byte the same, refusals included;
and what the ledgers hold afterwards (shown, logged, exported) is the same."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pytest

from gongkai_cli.outputs.columns import ASSIGNMENT_SHEET_TITLE
from gongkai_cli.store import ServerURL
from postgres import Server
from processes import cron_env

pytestmark = pytest.mark.postgres

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

from gongkai_cli.store.postgres import WRITE_LOCK, PostgresStore  # noqa: E402

LEDGER = "<台账>"
PLAN_2024 = "序号,任务名称,任务内容,责任单位,时间节点\n1,推进公开,公开目录，上线 APP,区财政局、各街镇,11月底前\n2,年度报告,按时发布,区政府办公室,3月31日前\n"
# The same plan re-issued: task 1 loses the towns and gains 区审计局, task 2's text and deadline change.
PLAN_2024_REISSUED = "序号,任务名称,任务内容,责任单位,时间节点\n1,推进公开,公开目录，上线 APP,区财政局、区审计局,11月底前\n2,年度报告,按时发布并解读,区政府办公室,4月30日前\n3,新增任务,政策解读,区财政局,全年\n"


class Twin:
    """One ledger in a SQLite file and one in a PostgreSQL database, written to alike.

    Each call runs the command on both, each in its own working directory (so files it
    writes or reads go side by side), at the same frozen moment, one minute after the
    previous call; it asserts both gave the same exit code, stdout and stderr once the
    database's own name is replaced by LEDGER, and returns the SQLite run's result.
    """

    def __init__(self, executable: str, tmp_path: Path, pg_url: str):
        self.executable = executable
        self.sqlite_db = tmp_path / "sqlite" / "gongkai.db"
        self.pg_url = pg_url
        self.dirs = {"sqlite": tmp_path / "sqlite", "postgres": tmp_path / "postgres"}
        for directory in self.dirs.values():
            directory.mkdir()
        self.minute = 0

    def _run(self, backend: str, args: tuple[str, ...], now: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        db = str(self.sqlite_db) if backend == "sqlite" else self.pg_url
        environment = cron_env(self.dirs[backend], Path(db), today="2023-04-14", user="公开办")
        environment.update(GONGKAI_DB=db, GONGKAI_NOW=now, **env)
        result = subprocess.run([self.executable, *args], check=False, capture_output=True, text=True,
                                encoding="utf-8", env=environment, cwd=self.dirs[backend], timeout=120)
        shown = str(self.sqlite_db) if backend == "sqlite" else str(ServerURL(self.pg_url))
        return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.replace(shown, LEDGER),
                                           result.stderr.replace(shown, LEDGER))

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.minute += 1
        now = f"2023-04-14T{9 + self.minute // 60:02d}:{self.minute % 60:02d}:00+08:00"
        on_file = self._run("sqlite", args, now, env)
        on_server = self._run("postgres", args, now, env)
        if args == ("check",):
            # A server's check looks at other things than a file's, and its verdict says which.
            assert on_server.returncode == on_file.returncode == 0, (on_file.stderr, on_server.stderr)
            assert on_server.stdout.startswith(f"数据库“{LEDGER}”检查通过："), on_server.stdout
            return on_file
        assert (on_server.returncode, on_server.stdout, on_server.stderr) == (
            on_file.returncode, on_file.stdout, on_file.stderr), args
        return on_file

    def ok(self, *args: str, **env: str) -> str:
        result = self(*args, **env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def refused(self, code: int, *args: str) -> str:
        result = self(*args)
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert result.stdout == "" and result.stderr.startswith("错误：")
        return result.stderr

    def each(self, action: Callable[[Path], None]) -> None:
        """Do the same to both working directories (a clerk editing the same file)."""
        for directory in self.dirs.values():
            action(directory)


@pytest.fixture
def twin(executable: str, tmp_path: Path, pg_url: str) -> Twin:
    return Twin(executable, tmp_path, pg_url)


def same_contents(twin: Twin, *task_ids: int) -> None:
    """What both ledgers hold, read every way a user reads it."""
    for args in (["log", "--format", "json"], ["export", "--format", "json"], ["list", "--format", "csv"],
                 ["units", "--format", "json"], ["summary", "--by", "unit", "--format", "json"],
                 ["plans", "--format", "json"], ["check"]):
        twin.ok(*args)
    for task_id in task_ids:
        twin.ok("show", str(task_id), "--format", "json")


def test_notes_and_statuses_give_the_same_answers_on_both_backends(twin):
    twin.ok("list", "--unit", "区财政局", "--format", "json")  # both load the bundled plan
    twin.ok("note", "40", "试点完成", "--unit", "区政府办公室")
    twin.ok("note", "40", "办公室的总体意见")
    twin.ok("note", "60", "列席 2 次", "--unit", "区政府办公室", "--count", "2", "--format", "json")
    twin.ok("status", "40", "doing", "--unit", "区经委", "--note", "已起草")
    twin.ok("status", "40", "doing", "--unit", "区经委")  # no change: a note at most
    twin.ok("status", "62", "done", "--unit", "马陆镇", "--format", "json")
    twin.ok("status", "62", "blocked", "--unit", "江桥镇")
    twin.ok("status", "28", "done")  # one unit: no --unit needed
    twin.refused(2, "status", "40", "done")  # several units and no --unit
    twin.refused(2, "status", "40", "done", "--unit", "马陆镇")  # not one of 40's units
    twin.refused(2, "status", "40", "finished", "--unit", "区经委")
    twin.refused(3, "note", "999", "没有这项")
    twin.refused(3, "status", "999", "done", "--unit", "马陆镇")
    twin.ok("status", "62", "cancelled", "--unit", "嘉定工业区")
    twin.ok("status", "62", "done", "--all", "--note", "办公室收尾")  # the cancelled share stays cancelled
    twin.ok("status", "62", "done", "--all")  # nothing left to change
    twin.ok("note", "62", "马陆镇补充", "--unit", "马陆镇", "--by", "马陆镇")
    twin.ok("status", "26", "doing", GONGKAI_UNIT="区财政局")  # the clerk's own unit
    same_contents(twin, 5, 28, 40, 60, 62)


def test_keyed_notes_are_written_once_and_conflicts_refused_alike(twin):
    twin.ok("list")
    twin.ok("note", "40", "同一条", "--key", "k-1", "--unit", "区经委")
    twin.ok("note", "40", "同一条", "--key", "k-1", "--unit", "区经委")  # a retry: nothing written
    twin.refused(2, "note", "40", "另一条", "--key", "k-1", "--unit", "区经委")
    twin.ok("note", "40", "同一条", "--key", "k-1", "--unit", "区政府办公室")  # its own key (issue 25)
    twin.ok("note", "62", "已公开", "--status", "done", "--unit", "马陆镇", "--key", "k-2")
    twin.ok("note", "62", "已公开", "--status", "done", "--unit", "马陆镇", "--key", "k-2")
    twin.ok("undo", "--yes")
    twin.refused(2, "note", "62", "已公开", "--status", "done", "--unit", "马陆镇", "--key", "k-2")  # used up
    same_contents(twin, 40, 62)


def test_assign_unassign_and_undo_of_each_write_alike(twin):
    twin.ok("list")
    twin.ok("assign", "40", "--unit", "区审计局")
    twin.refused(2, "assign", "40", "--unit", "区审计局")
    twin.ok("assign", "3", "--unit", "马陆镇", "--unit", "江桥镇")
    twin.ok("unassign", "3", "--unit", "江桥镇")
    twin.ok("note", "40", "审计意见", "--unit", "区审计局")
    twin.refused(2, "unassign", "40", "--unit", "区审计局")  # it has notes
    twin.refused(2, "unassign", "28", "--unit", "区财政局")  # the last unit
    twin.ok("status", "62", "doing", "--unit", "马陆镇")
    twin.ok("status", "62", "done", "--all")
    twin.ok("log")
    twin.ok("log", "62", "--format", "json")
    for _ in range(6):  # --all, the unit's status, the note, unassign, both assigns
        twin.ok("undo", "--yes")
        same_contents(twin, 3, 40, 62)


def test_imports_of_a_plan_and_its_reissue_and_their_undo_alike(twin):
    twin.ok("list")
    twin.each(lambda d: (d / "tasks_2024.csv").write_text(PLAN_2024, encoding="utf-8"))
    twin.ok("import", "tasks_2024.csv")
    twin.ok("status", "1", "done", "--plan", "2024", "--unit", "马陆镇")
    twin.ok("status", "1", "doing", "--plan", "2024", "--unit", "区财政局")
    twin.ok("import", "tasks_2024.csv")  # unchanged
    twin.each(lambda d: (d / "tasks_2024.csv").write_text(PLAN_2024_REISSUED, encoding="utf-8"))
    twin.ok("import", "tasks_2024.csv")  # 马陆镇 worked on task 1: it stays, the other towns go
    same_contents(twin)
    twin.ok("show", "1", "--plan", "2024", "--format", "json")
    twin.ok("log", "1", "--plan", "2024", "--format", "json")
    # The reissue, the unchanged import, both statuses, and the first import: the plan goes.
    for _ in range(5):
        twin.ok("undo", "--yes", "--plan", "2024")
        twin("show", "1", "--plan", "2024", "--format", "json")
    twin.refused(3, "list", "--plan", "2024")
    same_contents(twin, 1)


def test_undo_of_one_plan_passes_over_another_plans_newer_changes_alike(twin):
    twin.ok("list")
    twin.each(lambda d: (d / "tasks_2024.csv").write_text(PLAN_2024, encoding="utf-8"))
    twin.ok("import", "tasks_2024.csv")
    twin.ok("note", "2", "已发布", "--plan", "2024")
    twin.ok("note", "40", "2023 年的进展")
    twin.ok("undo", "--yes", "--plan", "2024")  # the note on the new task, then the import
    twin.ok("undo", "--yes", "--plan", "2024")
    twin.ok("undo", "--yes")  # 2023's note
    same_contents(twin, 40)


def edit_sheet(path: Path, target: Path, changes: dict[tuple[int, str], dict[str, object]]) -> None:
    book = openpyxl.load_workbook(path)
    sheet = book[ASSIGNMENT_SHEET_TITLE]
    header = [cell.value for cell in sheet[1]]
    for number in range(2, sheet.max_row + 1):
        key = (sheet.cell(number, 1).value, sheet.cell(number, header.index("责任单位") + 1).value)
        for name, value in changes.get(key, {}).items():
            sheet.cell(number, header.index(name) + 1).value = value
    book.save(target)


def test_the_unit_sheet_round_trip_applies_and_reports_conflicts_alike(twin):
    twin.ok("list")
    twin.ok("export", "-o", "台账.xlsx")
    twin.ok("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx")
    twin.ok("status", "1", "doing", "--unit", "马陆镇")  # after the export: the sheet's row 1 is stale
    changes = {
        (62, "马陆镇"): {"状态": "已完成", "最新进展": "目录已在门户网站公开"},
        (1, "马陆镇"): {"状态": "已完成"},
        (2, "马陆镇"): {"最新进展": "已报送区新城推进办"},
    }
    twin.each(lambda d: edit_sheet(d / "马陆镇.xlsx", d / "填好.xlsx", changes))
    twin.ok("import", "填好.xlsx")
    # Again: what it changed is in, and its stale row alone is left, which is refused as a whole.
    assert twin("import", "填好.xlsx").returncode == 2
    twin.each(lambda d: edit_sheet(d / "台账.xlsx", d / "全部.xlsx", {(40, "区经委"): {"状态": "进行中"}}))
    twin.ok("import", "全部.xlsx")
    twin.ok("undo", "--yes")
    same_contents(twin, 1, 2, 40, 62)
    twin.ok("export", "--format", "csv")


def test_a_first_import_into_an_empty_database_makes_a_ledger_of_that_plan_only(twin):
    twin.each(lambda d: (d / "tasks_2024.csv").write_text(PLAN_2024, encoding="utf-8"))
    twin.ok("import", "tasks_2024.csv")
    twin.ok("plans", "--format", "json")
    twin.ok("log", "--format", "json")


# -- the transaction ---------------------------------------------------------------------------


def test_a_deadlock_with_another_client_is_run_again_not_reported(pg_server: Server, pg_url: str, executable, tmp_path):
    """Another client holds task 40's row and then waits for gongkai's write lock while gongkai's
    note waits for that row: the server aborts gongkai's transaction (its deadlock_timeout is
    the shorter), the write runs again once the other client commits, and the note is stored once."""
    import psycopg

    env = {**cron_env(tmp_path, tmp_path, today="2023-04-14", user="公开办"), "GONGKAI_DB": pg_url}
    setup = subprocess.run([executable, "list"], env=env, capture_output=True, text=True, check=False)
    assert setup.returncode == 0, setup.stderr
    store = PostgresStore.open(ServerURL(pg_url))
    database = urlsplit(pg_url).path.lstrip("/")
    other = psycopg.connect(pg_server.database_url(database, user="postgres"))
    outcome: list[object] = []
    try:
        other.execute("SET deadlock_timeout = '20s'")
        other.execute("SELECT 1 FROM gongkai.tasks WHERE plan = '2023' AND id = 40 FOR UPDATE")

        def write() -> None:
            try:
                outcome.append(store.notes.add_note("2023", 40, at="2023-04-14T10:00:00+08:00", by="公开办", text="进展",
                                              status=None, unit="区经委"))
            except Exception as err:  # reported to the test, not lost in the thread
                outcome.append(err)

        writer = threading.Thread(target=write)
        writer.start()
        with psycopg.connect(pg_url, autocommit=True) as watcher:
            for _ in range(600):
                waiting = watcher.execute(
                    """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                       AND application_name = 'gongkai' AND wait_event_type = 'Lock'"""
                ).fetchone()
                if waiting == (1,):
                    break
                threading.Event().wait(0.05)
            else:
                pytest.fail("gongkai's write never waited for the row")
        # Waits for the lock gongkai's write holds: a deadlock, which the server breaks by aborting gongkai's side.
        other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        other.commit()
        writer.join(timeout=60)
    finally:
        other.close()
    try:
        (result,) = outcome
        if isinstance(result, Exception):
            raise result
        assert isinstance(result, tuple)
        note, _ = result
        assert note.text == "进展" and note.unit == "区经委"
        assert [event.action for event in store.history.events()].count("note") == 1
        assert len(store.commits) == 1
        assert store.problems() == [] and store.content_problems() == []
    finally:
        store.close()


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(executable, pg_url, tmp_path):
    """Eight processes, each writing notes and statuses on its own unit's assignments at once."""
    env = {**cron_env(tmp_path, tmp_path, today="2023-04-14", user="公开办"), "GONGKAI_DB": pg_url}
    assert subprocess.run([executable, "list"], env=env, capture_output=True, check=False).returncode == 0
    towns = ["嘉定镇街道", "新成路街道", "真新街道", "菊园新区", "南翔镇", "安亭镇", "马陆镇", "徐行镇"]
    script = "; ".join(
        f"{executable} note 62 '进展 {n}' --unit \"$U\" >/dev/null && {executable} status 62 {status} --unit \"$U\" >/dev/null"
        for n, status in enumerate(["doing", "blocked", "doing", "done"])
    )
    processes = [subprocess.Popen(["bash", "-c", f"set -e; {script}"], env={**env, "U": town}) for town in towns]
    assert [process.wait(timeout=300) for process in processes] == [0] * len(towns)
    shown = json.loads(subprocess.run([executable, "show", "62", "--format", "json"], env=env, capture_output=True,
                                      text=True, check=True).stdout)
    mine = {a["unit"]: a for a in shown["assignments"] if a["unit"] in towns}
    assert all(a["status"] == "done" and len(a["notes"]) == 8 for a in mine.values())
    events = json.loads(subprocess.run([executable, "log", "--format", "json"], env=env, capture_output=True,
                                       text=True, check=True).stdout)
    assert len(events) == 1 + 8 * len(towns)
    assert subprocess.run([executable, "check"], env=env, capture_output=True, check=False).returncode == 0


def test_check_on_a_server_finds_what_the_server_does_not_enforce(executable, pg_url, tmp_path):
    """A history no longer append-only, and a task status its units do not give: exit 4, first named."""
    import psycopg

    env = {**cron_env(tmp_path, tmp_path, today="2023-04-14", user="公开办"), "GONGKAI_DB": pg_url}

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([executable, "check"], env=env, capture_output=True, text=True, check=False)

    assert subprocess.run([executable, "status", "62", "done", "--unit", "马陆镇"], env=env, check=False,
                          capture_output=True).returncode == 0
    assert check().returncode == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE gongkai.tasks SET status = 'done' WHERE plan = '2023' AND id = 62")
        result = check()
        assert result.returncode == 4 and result.stdout == ""
        assert "status 列与其各单位（assignments）的状态不一致，应为 doing" in result.stderr
        conn.execute("UPDATE gongkai.tasks SET status = 'doing' WHERE plan = '2023' AND id = 62")
        assert check().returncode == 0
        conn.execute("ALTER TABLE gongkai.events DISABLE TRIGGER events_no_update")
        result = check()
    assert result.returncode == 4
    assert "表 events 的触发器 events_no_update 缺失或已停用" in result.stderr


def test_a_write_waiting_past_the_busy_timeout_fails_in_one_line_and_writes_nothing(executable, pg_url, tmp_path):
    import psycopg

    env = {**cron_env(tmp_path, tmp_path, today="2023-04-14", user="公开办"), "GONGKAI_DB": pg_url}
    assert subprocess.run([executable, "list"], env=env, capture_output=True, check=False).returncode == 0
    with psycopg.connect(pg_url) as other:  # another writer, in the middle of its transaction
        other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        result = subprocess.run([executable, "note", "40", "等不到"], env={**env, "GONGKAI_BUSY_TIMEOUT": "1"},
                                capture_output=True, text=True, check=False, timeout=60)
        # Reading does not wait for writers.
        listed = subprocess.run([executable, "show", "40", "--format", "json"], env=env, capture_output=True,
                                text=True, check=False, timeout=60)
    assert result.returncode == 4 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"错误：数据库“{ServerURL(pg_url)}”正被其他进程占用，等待 1 秒后仍未释放，请稍后重试"
        "（等待时间可用环境变量 GONGKAI_BUSY_TIMEOUT 调整）。"
    ]
    assert listed.returncode == 0 and json.loads(listed.stdout)["notes"] == []


def test_expand_assignments_gives_a_task_without_any_its_units_with_the_task_status(executable, pg_url, tmp_path):
    """What an upgrade does for tasks from before assignments (m007 on SQLite), on the server's store."""
    from datetime import date

    import psycopg

    from gongkai_cli.store import AssignmentInput

    env = {**cron_env(tmp_path, tmp_path, today="2023-04-14", user="公开办"), "GONGKAI_DB": pg_url}
    assert subprocess.run([executable, "list"], env=env, capture_output=True, check=False).returncode == 0
    store = PostgresStore.open(ServerURL(pg_url))
    try:
        planned = store.tasks.task("2023", 62, today=date(2023, 4, 14)).assignments
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("""DELETE FROM gongkai.assignments a USING gongkai.tasks t
                            WHERE a.task = t.pk AND t.plan = '2023' AND t.id = 62""")
            conn.execute("UPDATE gongkai.tasks SET status = 'doing' WHERE plan = '2023' AND id = 62")
        ((plan, task_id, units),) = store.assignments.unassigned_tasks()
        assert (plan, task_id, units) == ("2023", 62, store.tasks.task("2023", 62, today=date(2023, 4, 14)).units)
        store.assignments.expand_assignments(
            [("2023", 62, tuple(AssignmentInput(a.unit, a.via, a.lead, a.vague) for a in planned))],
            at="2023-04-14T10:00:00+08:00",
        )
        expanded = store.tasks.task("2023", 62, today=date(2023, 4, 14)).assignments
        assert [(a.unit, a.via, a.lead) for a in expanded] == [(a.unit, a.via, a.lead) for a in planned]
        assert {a.status.value for a in expanded} == {"doing"}
        assert store.assignments.unassigned_tasks() == [] and store.commits == [] and store.content_problems() == []
    finally:
        store.close()
