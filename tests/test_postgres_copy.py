"""`gongkai copy`: a whole ledger, history and all, from a SQLite file to a server and back,
exactly (event payloads: the same JSON, not necessarily the same text); into an empty target
only; whole or not at all; from one snapshot of the source."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from gongkai_cli.store import ServerURL
from gongkai_cli.store.sqlite import SQLiteStore
from gongkai_cli.store.transfer import PAYLOADS, TABLES
from gongkai_cli.usecases.session import DATA_DIR, UNIT_FILE
from processes import cron_env, without_notice

pytestmark = pytest.mark.postgres

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

from gongkai_cli.store.postgres import PostgresStore  # noqa: E402

PLAN = (
    "序号,任务名称,任务内容,责任单位,时间节点\n"
    "1,推进公开,公开目录，上线 APP,区财政局、各街镇,11月底前\n"
    "2,年度报告,按时发布,区政府办公室,3月31日前\n"
    "3,政策解读,解读“新政”\t与 100% 落实,各相关部门,全年\n"
)
REISSUED = PLAN.replace("按时发布", "按时发布并解读") + "4,新增任务,政策解读,区财政局,第三季度\n"


class Runner:
    """The installed executable on one database, at a frozen moment one minute after the last."""

    def __init__(self, executable: str, home: Path):
        self.executable, self.home, self.minute = executable, home, 0

    def __call__(self, db: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.minute += 1
        environment = cron_env(self.home, Path(db), today="2023-04-14", user="公开办")
        environment.update(GONGKAI_DB=db, GONGKAI_NOW=f"2023-04-14T09:{self.minute:02d}:00+08:00", **env)
        return subprocess.run([self.executable, *args], check=False, capture_output=True, text=True,
                              encoding="utf-8", env=environment, cwd=self.home, timeout=300)

    def ok(self, db: str, *args: str, **env: str) -> str:
        result = self(db, *args, **env)
        # The first command on an empty database says it made the ledger.
        assert result.returncode == 0 and without_notice(result.stderr) == "", (args, result.stderr)
        return result.stdout


def build_history(run: Runner, db: str, home: Path) -> None:
    """Every kind of change the history records: imports, keyed notes and their retry,
    statuses, an office remark, counts, assign, unassign, and undos (one retracting a note)."""
    (home / "tasks_2024.csv").write_text(PLAN, encoding="utf-8")
    (home / "reissued_2024.csv").write_text(REISSUED, encoding="utf-8")
    run.ok(db, "import", "tasks_2024.csv")
    run.ok(db, "note", "1", "已上线目录", "--unit", "马陆镇", "--key", "k-1")
    assert run(db, "note", "1", "已上线目录", "--unit", "马陆镇", "--key", "k-1").returncode == 0  # a retry: nothing new
    run.ok(db, "status", "1", "doing", "--unit", "区财政局")
    run.ok(db, "note", "2", "办公室的总体意见")
    run.ok(db, "note", "2", "发布一次", "--unit", "区政府办公室", "--count", "1", "--status", "done")
    run.ok(db, "undo", "--yes")  # the note and its status retracted
    run.ok(db, "assign", "3", "--unit", "区审计局")
    run.ok(db, "unassign", "1", "--unit", "江桥镇")
    run.ok(db, "undo", "--yes")
    run.ok(db, "note", "1", "受阻", "--unit", "江桥镇", "--status", "blocked", "--key", "k-2")
    run.ok(db, "import", "reissued_2024.csv", "--plan", "2024")


def table_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every copied table, every column with its SQLite type, in key order; event
    payloads as the JSON they hold, not their text, which a server's jsonb does not keep (key
    order, spacing: store/transfer.py)."""
    conn = sqlite3.connect(path)
    try:
        found = {}
        for table, columns in TABLES.items():
            selected = ", ".join(f'"{column}", typeof("{column}")' for column in columns)
            rows = conn.execute(f"SELECT {selected} FROM {table} ORDER BY {', '.join(columns)}").fetchall()
            payloads = {2 * columns.index(column) for column in PAYLOADS if column in columns}
            found[table] = [tuple(json.loads(value) if index in payloads and value is not None else value
                                  for index, value in enumerate(row)) for row in rows]
        return found
    finally:
        conn.close()


def pg_counts(url: str) -> dict[str, int] | None:
    """Rows per copied table in the server's ledger; None when the database has no ledger."""
    import psycopg

    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('gongkai.plans')").fetchone() == (None,):
            return None
        return {table: conn.execute(f"SELECT count(*) FROM gongkai.{table}").fetchone()[0] for table in TABLES}


@pytest.fixture
def run(executable: str, tmp_path: Path) -> Runner:
    home = tmp_path / "home"
    home.mkdir()
    return Runner(executable, home)


def test_a_ledger_with_history_goes_to_a_server_and_back_exactly(run: Runner, tmp_path: Path, pg_url: str):
    first, back = tmp_path / "office.db", tmp_path / "back" / "back.db"
    back.parent.mkdir()
    # The office's own unit file beside its ledger goes along, to the server and back beside the copy.
    units = (DATA_DIR / UNIT_FILE).read_text(encoding="utf-8").replace("区财政局,department,,", "区财政局,department,财政,")
    (tmp_path / UNIT_FILE).write_text(units, encoding="utf-8")
    build_history(run, str(first), run.home)
    run.ok(str(first), "contacts", "set", "马陆镇", "malu@example.test")

    stored_at = f"2023-04-14 09:{run.minute + 1:02d}"
    to_server = run.ok(str(first), "copy", "--to", pg_url)
    to_file = run.ok(pg_url, "copy", "--to", str(back))

    rows = table_rows(first)
    assert rows["events"] and rows["notes"] and any(row[14] is not None for row in rows["notes"])  # a retraction
    assert table_rows(back) == rows
    counts = ("计划 1、任务 4、单位 {units}、任务的责任单位 {task_units}、各单位分工 {assignments}、历史记录 {events}、"
              "进展 {notes}、单位联系邮箱 {unit_contacts} 行").format(
        **{table: len(found) for table, found in rows.items()})
    assert to_server == (f"已把台账“{first}”复制到“{ServerURL(pg_url)}”，逐表核对行数一致：{counts}。\n"
                         f"单位数据文件“{tmp_path / UNIT_FILE}”也已存入服务器上的台账。\n")
    assert to_file == (f"已把台账“{ServerURL(pg_url)}”复制到“{back}”，逐表核对行数一致：{counts}。\n"
                       f"服务器台账中的“units.csv”（公开办 于 {stored_at} 存入）已写到“{back.parent / UNIT_FILE}”。\n")
    assert (back.parent / UNIT_FILE).read_text(encoding="utf-8-sig") == units
    assert pg_counts(pg_url) == {table: len(found) for table, found in rows.items()}
    ledgers = (str(first), pg_url, str(back))
    for args in (["log", "-f", "json"], ["list", "-f", "json"], ["list", "--unit", "马陆镇", "-f", "json"],
                 ["list", "--unit", "财政", "-f", "json"], ["units", "-f", "json"],
                 ["show", "1", "-f", "json"], ["show", "2", "-f", "json"], ["show", "3", "-f", "json"],
                 ["contacts", "list", "-f", "json"]):
        shown = [run.ok(db, *args) for db in ledgers]
        assert shown[0] == shown[1] == shown[2], args
    # The copies go on as the original would: the next note, event, task and unit get the same keys.
    (run.home / "next_2025.csv").write_text(PLAN.replace("区财政局、各街镇", "区民政局"), encoding="utf-8")
    for args in (["note", "1", "后续", "--unit", "马陆镇", "-f", "json"], ["import", "next_2025.csv"],
                 ["show", "1", "--plan", "2025", "-f", "json"]):
        minute = run.minute
        shown = []
        for db in ledgers:
            run.minute = minute
            shown.append(run.ok(db, *args))
        assert shown[0] == shown[1] == shown[2], args
    assert run.ok(pg_url, "check").startswith("数据库")


def test_a_server_ledger_copies_to_a_file_while_it_is_written(run: Runner, tmp_path: Path, pg_url: str):
    """The copy is the ledger at one moment: a note committed while the rows are read is not in it."""
    build_history(run, pg_url, run.home)
    source = PostgresStore.open(ServerURL(pg_url))
    target = tmp_path / "backup.db"
    try:
        with source.snapshot() as snapshot:
            run.ok(pg_url, "note", "2", "复制途中写入的进展")
            store = SQLiteStore.open(target)
            try:
                loaded = store.load(snapshot)
            finally:
                store.close()
    finally:
        source.close()
    assert loaded["notes"] == pg_counts(pg_url)["notes"] - 1  # type: ignore[index]
    assert all(row[8] != "复制途中写入的进展" for row in table_rows(target)["notes"])


def test_a_sqlite_ledger_copies_while_it_is_written(run: Runner, tmp_path: Path, pg_url: str):
    first = tmp_path / "office.db"
    build_history(run, str(first), run.home)
    before = {table: len(rows) for table, rows in table_rows(first).items()}
    source = SQLiteStore.open(first)
    target = PostgresStore.open(ServerURL(pg_url))
    try:
        with source.snapshot() as snapshot:
            run.ok(str(first), "note", "2", "复制途中写入的进展")
            assert target.load(snapshot) == before
    finally:
        source.close()
        target.close()
    assert pg_counts(pg_url) == before


def test_a_copy_into_a_server_ledger_that_has_content_is_refused(run: Runner, tmp_path: Path, pg_url: str):
    first = tmp_path / "office.db"
    build_history(run, str(first), run.home)
    run.ok(pg_url, "import", str(run.home / "tasks_2024.csv"))
    before = pg_counts(pg_url)
    result = run(str(first), "copy", "--to", pg_url)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"错误：复制目标“{ServerURL(pg_url)}”中已有台账内容（计划 1、任务 3、")
    assert result.stderr.endswith("gongkai copy 只复制到空的数据库；本次未做任何更改。\n")
    assert result.stderr.count("\n") == 1
    assert pg_counts(pg_url) == before


def test_a_copy_into_an_existing_file_is_refused(run: Runner, tmp_path: Path, pg_url: str):
    build_history(run, pg_url, run.home)
    existing = tmp_path / "old.db"
    existing.write_bytes(b"keep me")
    result = run(pg_url, "copy", "--to", str(existing))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"错误：复制目标“{existing}”已存在；gongkai copy 只写入新文件，请换一个文件名。本次未做任何更改。\n"
    assert existing.read_bytes() == b"keep me"


def test_a_copy_into_an_empty_server_ledger_fills_it(run: Runner, tmp_path: Path, pg_url: str):
    first = tmp_path / "office.db"
    build_history(run, str(first), run.home)
    run.ok(pg_url, "init", "--empty")
    run.ok(str(first), "copy", "--to", pg_url)
    assert pg_counts(pg_url) == {table: len(rows) for table, rows in table_rows(first).items()}
    # Analysed with the load, not left to autovacuum: a table never analysed has reltuples -1.
    import psycopg

    with psycopg.connect(pg_url) as conn:
        unanalysed = conn.execute(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'gongkai' AND c.relkind = 'r' AND c.relname = ANY(%s) AND c.reltuples < 0""",
            (list(TABLES),),
        ).fetchall()
    assert unanalysed == []


def test_a_copy_that_fails_half_way_leaves_no_ledger_on_the_server(run: Runner, tmp_path: Path, pg_url: str):
    """A note whose task is gone (a damaged file) fails the server's foreign key after every
    table before it went in: the schema, created in the same transaction, goes too."""
    first = tmp_path / "office.db"
    build_history(run, str(first), run.home)
    conn = sqlite3.connect(first)
    conn.execute("INSERT INTO notes (task, at, by, text) VALUES (999, '2023-04-14T10:00:00+08:00', 'x', '孤儿')")
    conn.commit()
    conn.close()
    result = run(str(first), "copy", "--to", pg_url)
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr.startswith(f"错误：数据库“{ServerURL(pg_url)}”出错：") and result.stderr.count("\n") == 1
    assert pg_counts(pg_url) is None


def test_a_copy_that_fails_half_way_leaves_no_file(run: Runner, tmp_path: Path, pg_url: str):
    import psycopg

    build_history(run, pg_url, run.home)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE gongkai.notes DROP CONSTRAINT notes_task_fkey")
        conn.execute("""INSERT INTO gongkai.notes (id, task, at, "by", text)
                        SELECT max(id) + 1, 999, now(), 'x', '孤儿' FROM gongkai.notes""")
    target = tmp_path / "backup.db"
    result = run(pg_url, "copy", "--to", str(target))
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr.count("\n") == 1 and "本次未做任何更改" not in result.stderr
    assert not target.exists()
    assert list(tmp_path.glob("*backup.db*")) == []


@pytest.mark.parametrize(("args", "instead"), [
    (("backup", "backup.db"), "请用 gongkai copy --to 文件.db 备份成 SQLite 文件，或用 pg_dump"),
    (("restore", "--yes", "backup.db"), "请用 gongkai copy 把备份文件复制到一个空数据库，或用 pg_restore"),
])
def test_backup_and_restore_on_a_server_point_to_copy_and_the_servers_tools(run: Runner, pg_url: str, args, instead):
    run.ok(pg_url, "plans")
    result = run(pg_url, *args)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("错误：") and instead in line
    assert not (run.home / "backup.db").exists()
