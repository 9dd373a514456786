"""How the installed `gongkai` opens and creates its database: other programs' files are
left untouched, `check` and `backup` change nothing, first runs at the same moment all
succeed, a failed first import leaves no file, the lock wait is configurable, and reads
work where the user cannot write.

Every test runs the real executable in a subprocess against a real file.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import write_csv
from gongkai_cli.store.migrations import SCHEMA_VERSION, SQLITE_MIGRATIONS as MIGRATIONS
from gongkai_cli.store.sqlite import _UNSTAMPED_VERSIONS, APPLICATION_ID
from gongkai_cli.usecases.settings import busy_timeout
from processes import cron_env

pytestmark = pytest.mark.sqlite_only("opening files: application id, foreign and empty files, creation, WAL, locks, permissions")

HEADER = "序号,任务名称,任务内容,责任单位,时间节点\n"
NOTICE_TAIL = "，并载入内置的 2023 年计划（91 项任务）；如本想用已有的台账，请检查 GONGKAI_DB 或 --db 指向的位置。"
FIRST_RUNS = 8
FIRST_RUN_ROUNDS = 2


@pytest.fixture
def run(executable: str, tmp_path: Path):
    db = tmp_path / "gongkai.db"
    env = cron_env(tmp_path, db, today="2023-04-01", user="cron")

    def call(*args: str, db: Path = db, prefix: tuple[str, ...] = (), **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*prefix, executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
            env={**env, "GONGKAI_DB": str(db), **extra}, cwd=tmp_path, timeout=120,
        )

    call.db = db
    call.env = env
    return call


def refused(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def companions(db: Path) -> list[str]:
    """Files SQLite keeps beside a database, and any temporary file gongkai left there."""
    return sorted(p.name for p in db.parent.iterdir() if p.name != db.name and db.name in p.name)


def header(db: Path) -> tuple[int, int, str]:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("PRAGMA user_version").fetchone()[0],
                conn.execute("PRAGMA application_id").fetchone()[0],
                conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def task_count(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("SELECT count(*) FROM plans").fetchone()[0],
                conn.execute("SELECT count(*) FROM tasks").fetchone()[0])
    finally:
        conn.close()


# -- other programs' databases -----------------------------------------------------------


def _photo_library(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    conn.executemany("INSERT INTO photos (path) VALUES (?)", [(f"/home/a/{i}.jpg",) for i in range(200)])
    conn.commit()
    conn.close()


def _todo_app(path: Path) -> None:
    # Looks a little like a ledger: a version gongkai has used and a table called tasks.
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT, done INTEGER);
        INSERT INTO tasks (title, done) VALUES ('买菜', 0), ('交报告', 1);
        PRAGMA user_version = 3;
    """)
    conn.close()


@pytest.mark.parametrize("make", [_photo_library, _todo_app], ids=["photos", "todo-app"])
def test_another_programs_database_is_refused_untouched(run, tmp_path, make):
    other = tmp_path / "other.sqlite"
    make(other)
    before = other.read_bytes()
    plan = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n")
    backup = tmp_path / "copy.db"
    for args in (["list"], ["remind"], ["show", "40"], ["note", "40", "x"], ["status", "40", "--all", "done"],
                 ["import", str(plan)], ["init"], ["init", "--empty"], ["undo", "--yes"], ["check"],
                 ["backup", str(backup)]):
        refused(run(*args, db=other), 4, "不是 gongkai 台账", str(other))
    assert other.read_bytes() == before
    assert header(other)[2] == "delete"
    assert companions(other) == []
    assert not backup.exists()


def _old_ledger(path: Path, version: int) -> None:
    """A ledger as an earlier release left it: no application id, rollback journal."""
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:version]:
        migration.body("sqlite")(conn)
    conn.executescript(f"""
        PRAGMA user_version = {version};
        INSERT INTO plans VALUES ('2023', 2023, 'a.csv', '2023-01-01T09:00:00+08:00', '2023-01-01T09:00:00+08:00');
        INSERT INTO tasks (plan, id, group_name, content, units, deadline, status, updated_at)
            VALUES ('2023', 1, '组', '内容', '区财政局', '全年', 'todo', '2023-01-01T09:00:00+08:00');
        INSERT INTO notes (task, at, by, text) VALUES (1, '2023-01-01T09:00:00+08:00', '甲', '旧记录');
    """)
    conn.close()


@pytest.mark.parametrize("version", [2, 4])
def test_a_ledger_from_before_the_application_id_is_checked_as_it_is_then_stamped_by_its_upgrade(run, tmp_path,
                                                                                               version):
    old = tmp_path / "old.db"
    _old_ledger(old, version)
    before = old.read_bytes()
    checked = run("check", db=old)
    assert checked.returncode == 0, checked.stderr
    assert run("backup", str(tmp_path / "copy.db"), db=old).returncode == 0
    assert old.read_bytes() == before and header(old) == (version, 0, "delete")
    written = run("note", "1", "新记录", db=old)
    assert written.returncode == 0, written.stderr
    assert header(old) == (SCHEMA_VERSION, APPLICATION_ID, "wal")
    shown = json.loads(run("show", "1", "-f", "json", db=old).stdout)
    assert [n["text"] for n in shown["notes"]] == ["旧记录", "新记录"]


def test_a_new_ledger_carries_the_application_id(run):
    assert run("init").returncode == 0
    assert header(run.db) == (SCHEMA_VERSION, APPLICATION_ID, "wal")
    assert int.from_bytes(b"GKAI", "big") == APPLICATION_ID


# -- check and backup create nothing ---------------------------------------------------


def test_check_and_backup_of_a_zero_byte_file_change_nothing(run, tmp_path):
    run.db.touch()
    refused(run("check"), 4, "空文件", "不是 gongkai 台账", str(run.db))
    refused(run("backup", str(tmp_path / "copy.db")), 4, "空文件", str(run.db))
    assert run.db.stat().st_size == 0
    assert companions(run.db) == []
    assert not (tmp_path / "copy.db").exists()


def test_an_empty_file_used_as_a_ledger_gets_the_bundled_plan(run):
    run.db.touch()
    listed = run("list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 91


def test_check_of_a_missing_database_creates_nothing(run):
    refused(run("check"), 4, "不存在")
    assert list(run.db.parent.iterdir()) == []


# -- first use ------------------------------------------------------------------------------

# Waits at the barrier, then becomes the installed gongkai.
_RELEASED = "import os, sys; print('ready', flush=True); sys.stdin.readline(); os.execv(sys.argv[1], sys.argv[1:])"


@pytest.mark.slow
@pytest.mark.parametrize("start", ["missing", "zero-byte"])
def test_first_runs_at_the_same_moment_all_succeed_and_lose_no_note(run, tmp_path, executable, record_property,
                                                                    start):
    """8 cron jobs meet a new database: all exit 0, 8 notes, one plan of 91 tasks."""
    for round_ in range(FIRST_RUN_ROUNDS):
        db = tmp_path / f"round{round_}" / "gongkai.db"
        db.parent.mkdir()
        if start == "zero-byte":
            db.touch()
        env = {**run.env, "GONGKAI_DB": str(db)}
        jobs = [
            subprocess.Popen(
                [sys.executable, "-c", _RELEASED, executable, "note", "40", f"第 {job} 个任务的进展"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                encoding="utf-8", env=env,
            )
            for job in range(FIRST_RUNS)
        ]
        for job in jobs:
            assert job.stdout.readline().strip() == "ready"
        for job in jobs:
            job.stdin.write("go\n")
            job.stdin.flush()
        results = []
        for job in jobs:
            _out, err = job.communicate(timeout=120)
            results.append((job.returncode, err))
        # The one that made the ledger says so; the others found it made.
        assert sorted(results) == [(0, "")] * (FIRST_RUNS - 1) + [(0, f"注意：已新建台账“{db}”{NOTICE_TAIL}\n")]
        assert task_count(db) == (1, 91)
        conn = sqlite3.connect(db)
        notes = sorted(row[0] for row in conn.execute("SELECT text FROM notes"))
        conn.close()
        assert notes == sorted(f"第 {job} 个任务的进展" for job in range(FIRST_RUNS))
        assert companions(db) == [], "a creator left its temporary database behind"
    record_property("first_runs", f"{start}: {FIRST_RUN_ROUNDS} rounds x {FIRST_RUNS} processes, all exit 0")


def _open_together(path: str, barrier, failures) -> None:
    from gongkai_cli.domain.errors import StoreError
    from gongkai_cli.store.sqlite import SQLiteStore as Store

    barrier.wait()
    try:
        Store.open(Path(path), timeout=30).close()
    except StoreError as err:
        failures.put(str(err))


@pytest.mark.slow
@pytest.mark.parametrize("start", ["zero-byte", "rollback-journal"])
def test_opens_that_switch_the_same_file_to_wal_together_wait_for_each_other(tmp_path, start):
    """SQLite refuses a journal-mode change that meets another's lock at once, without waiting.

    Processes released by one barrier collide there far more often than whole gongkai
    processes do, so this fails reliably when the switch does not wait and retry.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        db = tmp_path / f"round{round_}.db"
        if start == "zero-byte":
            db.touch()
        else:
            _old_ledger(db, max(_UNSTAMPED_VERSIONS))  # the newest schema a ledger may lack the id at
        barrier, failures = context.Barrier(8), context.Queue()
        openers = [context.Process(target=_open_together, args=(str(db), barrier, failures)) for _ in range(8)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(timeout=120)
        assert [opener.exitcode for opener in openers] == [0] * 8
        refused = []
        while not failures.empty():
            refused.append(failures.get())
        assert refused == []
        assert header(db) == (SCHEMA_VERSION, APPLICATION_ID, "wal")


# Builds the new ledger, says so, and waits to be killed before linking it into place.
_KILLED_CREATOR = r"""
import sys
import gongkai_cli.ledger as ledger
import gongkai_cli.usecases.session as session
def stop(temp, path):
    print("built", flush=True)
    sys.stdin.readline()
session._link_new = stop
ledger.Ledger.open(sys.argv[1]).close()
"""


@pytest.mark.slow
def test_a_creator_killed_before_the_link_leaves_nothing_under_the_real_name(run):
    creator = subprocess.Popen([sys.executable, "-c", _KILLED_CREATOR, str(run.db)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, **run.env})
    try:
        assert creator.stdout.readline().strip() == "built"
        creator.kill()
    finally:
        creator.communicate(timeout=60)
    assert not run.db.exists()
    leftovers = companions(run.db)
    assert len(leftovers) == 1 and leftovers[0].endswith(".new")
    listed = run("list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 91


def test_a_failed_import_into_a_missing_database_leaves_no_file(run, tmp_path):
    bad = write_csv(tmp_path / "bad.csv", "x,y\n1,2\n")
    refused(run("import", str(bad)), 2, "bad.csv")
    assert not run.db.exists() and companions(run.db) == []
    listed = run("list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 91


def _zip(path: Path, members: dict[str, str]) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as package:
        for name, text in members.items():
            package.writestr(name, text)


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("name", "make", "extra", "needle"),
    [
        ("tasks_2024.ods", lambda p: _zip(p, {"mimetype": "application/vnd.oasis.opendocument.spreadsheet",
                                              "content.xml": "<office:document-content/>"}), (), "OpenDocument"),
        ("tasks_2024.xls", lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)), (), "旧版 Excel"),
        ("tasks_2024.csv", lambda p: p.write_text(HEADER.replace(",", "\t") + '1\t组\t"内容\t区财政局\t全年\n',
                                                  encoding="utf-8"), (), "CSV 格式有误"),
        ("通知.docx", lambda p: shutil.copyfile(FIXTURES / "no_task_table.docx", p), (), "没有任务分解表"),
        ("分解表.pdf", lambda p: shutil.copyfile(FIXTURES / "encrypted.pdf", p), (), "已加密"),
        ("tasks_2024.csv", lambda p: p.write_text(HEADER + "1,组,内容,区财政厅,全年\n", encoding="utf-8"),
         ("--strict",), "区财政厅 → 区财政局？"),
    ],
    ids=["ods", "old-xls", "broken-tab-csv", "docx-without-table", "encrypted-pdf", "strict-unknown-unit"],
)
def test_every_refused_import_into_a_missing_database_leaves_no_file(run, tmp_path, name, make, extra, needle):
    source = tmp_path / name
    make(source)
    refused(run("import", str(source), *extra), 2, needle)
    assert not run.db.exists() and companions(run.db) == []


def test_an_import_into_a_missing_database_holds_only_that_plan(run, tmp_path):
    plan = write_csv(tmp_path / "tasks_2024.csv", HEADER + "1,组,内容,区财政局,全年\n2,组,内容二,区审计局,4月20日前\n")
    imported = run("import", str(plan))
    assert imported.returncode == 0, imported.stderr
    # An import is asked to make the ledger: its confirmation names the file, and stderr has no notice.
    assert imported.stdout.startswith(f"已新建台账“{run.db}”，其中只有本次导入的计划。\n已导入计划“2024”")
    assert imported.stderr == ""
    plans = json.loads(run("plans", "-f", "json").stdout)
    assert [(p["name"], p["tasks"]) for p in plans] == [("2024", 2)]
    assert header(run.db) == (SCHEMA_VERSION, APPLICATION_ID, "wal")


def test_init_says_it_made_the_ledger_once_and_on_stdout_only(run):
    made = run("init")
    assert (made.returncode, made.stderr) == (0, "")
    assert made.stdout == f"已新建台账：{run.db}；计划：2023（91 项）。\n"
    again = run("init")
    assert (again.returncode, again.stdout, again.stderr) == (0, f"台账就绪：{run.db}；计划：2023（91 项）。\n", "")


def test_a_first_write_made_the_ledger_and_says_so_once(run):
    first = run("note", "40", "第一条", "--quiet")
    assert (first.returncode, first.stdout, first.stderr) == (0, "", f"注意：已新建台账“{run.db}”{NOTICE_TAIL}\n")
    second = run("note", "40", "第二条", "--quiet")
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")


def test_tab_completion_does_not_create_a_database(run):
    completed = run("list", _GONGKAI_COMPLETE="complete_bash", COMP_WORDS="gongkai list --unit 区财", COMP_CWORD="3")
    assert completed.returncode == 0
    assert not run.db.exists()


# -- the lock wait -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "3601", "30s"])
def test_a_bad_busy_timeout_is_a_usage_error(run, value):
    refused(run("list", GONGKAI_BUSY_TIMEOUT=value), 2, "GONGKAI_BUSY_TIMEOUT", f"“{value}”")
    assert not run.db.exists()


def test_the_lock_wait_defaults_to_30_seconds(monkeypatch):
    assert busy_timeout() == 30
    for text, seconds in (("", 30), (" 2.5 ", 2.5), ("0", 0), ("3600", 3600)):
        monkeypatch.setenv("GONGKAI_BUSY_TIMEOUT", text)
        assert busy_timeout() == seconds


def test_the_lock_wait_is_configurable_and_the_message_states_it(run):
    assert run("init").returncode == 0
    holder = sqlite3.connect(run.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        refused(run("note", "40", "等不到锁", GONGKAI_BUSY_TIMEOUT="0.5"), 4, "等待 0.5 秒", "GONGKAI_BUSY_TIMEOUT")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert json.loads(run("show", "40", "-f", "json").stdout)["notes"] == []



def test_restore_waits_as_long_as_gongkai_busy_timeout_says(run, tmp_path):
    """Restore waits for every other connection to close; it waited the built-in 30 seconds
    whatever GONGKAI_BUSY_TIMEOUT said, and its message then named a wait the user had not set."""
    assert run("note", "40", "备份之前").returncode == 0
    copy = tmp_path / "copy.db"
    assert run("backup", str(copy)).returncode == 0
    holder = sqlite3.connect(run.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        refused(run("restore", str(copy), "--yes", GONGKAI_BUSY_TIMEOUT="0.5"), 4, "等待 0.5 秒", "GONGKAI_BUSY_TIMEOUT")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sorted(p.name for p in tmp_path.iterdir() if "before-restore" in p.name) == []
    restored = run("restore", str(copy), "--yes", GONGKAI_BUSY_TIMEOUT="0.5")
    assert restored.returncode == 0, restored.stderr

# -- where the user cannot write ----------------------------------------------------------


@pytest.fixture(scope="session")
def unprivileged(executable: str) -> tuple[str, ...]:
    """A command prefix that runs gongkai as a user whom file permissions apply to.

    Root ignores permissions, so as root the child becomes `nobody` (uid 65534, no
    account needed) through setpriv or runuser; any other user is such a user already.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("the unprivileged run is written for Linux")
    if os.geteuid() != 0:
        return ()
    if setpriv := shutil.which("setpriv"):
        prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
    elif runuser := shutil.which("runuser"):
        prefix = (runuser, "-u", "nobody", "--")
    else:
        pytest.skip("running as root without setpriv or runuser: root ignores file permissions, "
                    "so a read-only test would prove nothing")
    probe = subprocess.run([*prefix, executable, "--version"], check=False, capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"uid 65534 cannot run {executable} ({probe.stderr.strip()}); the test would prove nothing")
    return prefix


@pytest.fixture
def shared_dir():
    """A directory other users can enter (pytest's own tmp directories are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="gongkai-ro-"))
    path.chmod(0o755)
    yield path
    for sub in (path, *path.rglob("*")):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path)


def _ledger_in(directory: Path, run, name: str = "gongkai.db") -> Path:
    directory.mkdir(mode=0o755)
    db = directory / name
    assert run("note", "40", "只读之前", db=db).returncode == 0
    return db


def test_a_wal_ledger_in_a_read_only_directory_says_why_it_cannot_be_read(run, shared_dir, unprivileged):
    db = _ledger_in(shared_dir / "ro", run)
    db.parent.chmod(0o555)
    for args in (["remind"], ["list", "-f", "json"], ["note", "40", "x"]):
        result = run(*args, db=db, prefix=unprivileged)
        refused(result, 4, str(db.parent), "gongkai.db-wal", "gongkai.db-shm", "写权限")
        assert "无法写入" not in result.stderr and "只读的" not in result.stderr


def test_reads_work_in_a_read_only_directory_while_another_process_has_the_ledger_open(run, shared_dir,
                                                                                     unprivileged):
    db = _ledger_in(shared_dir / "ro", run)
    holder = sqlite3.connect(db)  # keeps the -wal and -shm in place, as a running writer does
    try:
        holder.execute("SELECT count(*) FROM notes").fetchone()
        assert run("note", "40", "仍在日志中", db=db).returncode == 0
        db.parent.chmod(0o555)
        shown = run("show", "40", "-f", "json", db=db, prefix=unprivileged)
        assert shown.returncode == 0, shown.stderr
        assert [n["text"] for n in json.loads(shown.stdout)["notes"]] == ["只读之前", "仍在日志中"]
        assert run("remind", db=db, prefix=unprivileged).returncode == 0
    finally:
        holder.close()


def test_a_copy_in_a_read_only_directory_is_read_without_writing(run, shared_dir, unprivileged):
    """A backup copy (rollback journal) needs no -wal: every read command works on it."""
    db = _ledger_in(shared_dir / "live", run)
    copy = shared_dir / "archive" / "2023.db"
    copy.parent.mkdir(mode=0o755)
    assert run("backup", str(copy), db=db).returncode == 0
    copy.parent.chmod(0o555)
    before = copy.read_bytes()
    for args in (["remind"], ["list", "--unit", "区财政局"], ["show", "40"], ["log"], ["check"]):
        result = run(*args, db=copy, prefix=unprivileged)
        assert result.returncode == 0, (args, result.stderr)
    assert json.loads(run("show", "40", "-f", "json", db=copy, prefix=unprivileged).stdout)["notes"][0]["text"] \
        == "只读之前"
    refused(run("note", "40", "x", db=copy, prefix=unprivileged), 4, str(copy))
    assert copy.read_bytes() == before and companions(copy) == []


def test_a_read_only_file_in_rollback_mode_is_read_without_switching_it_to_wal(run, shared_dir, unprivileged):
    db = _ledger_in(shared_dir / "rw", run)
    db.parent.chmod(0o777)  # the directory is writable for everyone: only the file is read-only
    copy = db.with_name("copy.db")
    assert run("backup", str(copy), db=db).returncode == 0
    copy.chmod(0o444)
    before = copy.read_bytes()
    result = run("remind", db=copy, prefix=unprivileged)
    assert result.returncode == 0, result.stderr
    refused(run("note", "40", "x", db=copy, prefix=unprivileged), 4, "只读", str(copy))
    assert copy.read_bytes() == before


def test_a_ledger_that_needs_an_upgrade_says_who_can_do_it_when_the_user_cannot_write(run, shared_dir,
                                                                                     unprivileged):
    directory = shared_dir / "old"
    directory.mkdir(mode=0o755)
    old = directory / "old.db"
    _old_ledger(old, 2)
    directory.chmod(0o555)
    before = old.read_bytes()
    refused(run("list", db=old, prefix=unprivileged), 4, "需要升级", "gongkai init", str(old))
    assert run("check", db=old, prefix=unprivileged).returncode == 0
    assert old.read_bytes() == before
