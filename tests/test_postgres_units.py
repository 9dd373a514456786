"""An office's own unit file on a server's ledger (`gongkai server units`): stored in the ledger by
the office, read by every command on it in place of the bundled file, refused to a unit login
by gongkai and by the server, checked before anything is stored, and carried by `gongkai copy`
between a SQLite file (its units.csv beside it) and a server, both ways."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gongkai_cli.ledger import Ledger
from gongkai_cli.usecases.session import DATA_DIR, UNIT_FILE
from postgres import Server
from processes import cron_env, in_process, without_notice
from test_postgres_roles import PASSWORD, Team

pytestmark = pytest.mark.postgres

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

import psycopg  # noqa: E402

BUNDLED = (DATA_DIR / UNIT_FILE).read_text(encoding="utf-8")
# The office's file: the bundled one, with an alias and a town only it knows (in 各街镇 too).
OFFICE_UNITS = (
    BUNDLED.replace("区财政局,department,,", "区财政局,department,财政老局,")
    .replace("、嘉定工业区\n", "、嘉定工业区、新区镇\n")
    + "新区镇,town,新区,\n"
)
# A plan that names the town by its alias, on its own and through 各街镇.
PLAN = (
    "序号,任务名称,任务内容,责任单位,时间节点\n"
    "1,推进公开,公开目录,新区,全年\n"
    "2,年度报告,按时发布,区财政局、各街镇,4月20日前\n"
)


def stored(url: str) -> list[tuple[Any, ...]]:
    """The unit file row the ledger holds, as its owner reads it."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT name, text, stored_by FROM gongkai.unit_file").fetchall()


@pytest.fixture
def team(executable: str, pg_server: Server, pg_url: str, tmp_path: Path) -> Team:
    ledger = Team(executable, pg_server, pg_url, tmp_path)
    ledger.ok("plans")
    ledger.ok("server", "init")
    return ledger


def _unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


# -- the office stores its file; every command and every login reads it ------------------------


def test_the_offices_unit_file_stored_on_the_server_is_the_one_every_command_reads(team: Team, tmp_path: Path):
    office_file = tmp_path / "本办单位.csv"
    office_file.write_text(OFFICE_UNITS, encoding="utf-8")
    assert team.refused("list", "--unit", "财政老局", code=2).startswith("错误：未知的责任单位“财政老局”")
    assert team.ok("server", "units").startswith("服务器上的台账正在使用的单位数据：内置（")

    out = team.ok("server", "units", str(office_file))
    assert out == "已把单位数据文件“本办单位.csv”（57 个单位）存入服务器上的台账；此后所有连接这个台账的 gongkai 都用它。\n"
    assert stored(team.url()) == [("本办单位.csv", OFFICE_UNITS, "公开办")]

    listed = json.loads(team.ok("list", "--unit", "财政老局", "--direct", "-f", "json"))
    assert [task["id"] for task in listed] == [26, 28, 29, 30]
    footer = team.ok("units").splitlines()[-1]
    assert re.fullmatch(r"共 57 个单位；单位数据：服务器台账中的“本办单位\.csv”（公开办 于 \d{4}-\d\d-\d\d \d\d:\d\d 存入）",
                        footer), footer
    assert team.ok("server", "units") == f"服务器上的台账正在使用的单位数据：{footer.split('：', 1)[1]}。\n"

    # A town only the office's file knows, named by its alias and through 各街镇, in an import.
    (tmp_path / "tasks_2024.csv").write_text(PLAN, encoding="utf-8")
    team.ok("import", "tasks_2024.csv")
    town = json.loads(team.ok("list", "--plan", "2024", "--unit", "新区", "-f", "json"))
    assert [(task["id"], task.get("via")) for task in town] == [(1, None), (2, "各街镇")]

    # A unit's login reads the same file.
    majiang = team.login(_unique("mj"), "马陆镇")
    assert json.loads(team.ok("list", "--unit", "财政老局", "--direct", "-f", "json", user=majiang)) == listed
    assert team.ok("units", user=majiang).splitlines()[-1] == footer


def test_a_second_file_replaces_the_first_and_says_so(team: Team, tmp_path: Path):
    (tmp_path / "一.csv").write_text(OFFICE_UNITS, encoding="utf-8")
    (tmp_path / "二.csv").write_text(BUNDLED, encoding="utf-8")
    team.ok("server", "units", "一.csv")
    out = team.ok("server", "units", "二.csv")
    assert re.fullmatch(r"已把单位数据文件“二\.csv”（56 个单位）存入服务器上的台账；原来的“一\.csv”（公开办 于 [-0-9: ]+ 存入）"
                        r"已被替换；此后所有连接这个台账的 gongkai 都用它。\n", out), out
    assert stored(team.url()) == [("二.csv", BUNDLED, "公开办")]
    assert team.refused("list", "--unit", "财政老局", code=2).startswith("错误：未知的责任单位")


def test_the_office_login_may_store_the_unit_file(team: Team, tmp_path: Path):
    office = team.login(_unique("gkb"), None)
    (tmp_path / "units.csv").write_text(OFFICE_UNITS, encoding="utf-8")
    team.ok("server", "units", "units.csv", user=office)
    assert [row[0] for row in stored(team.url())] == ["units.csv"]


def test_a_gbk_unit_file_with_chinese_headers_is_accepted(team: Team, tmp_path: Path):
    """As Excel on Chinese Windows saves it: GBK, CRLF, 单位,类型,别名,成员."""
    saved = tmp_path / "单位.csv"
    saved.write_bytes("单位,类型,别名,成员\r\n区财政局,部门,财政老局,\r\n新区镇,街镇,新区,\r\n".encode("gbk"))
    assert "（2 个单位）" in team.ok("server", "units", str(saved))
    ((name, text, _),) = stored(team.url())
    assert (name, text) == ("单位.csv", "单位,类型,别名,成员\r\n区财政局,部门,财政老局,\r\n新区镇,街镇,新区,\r\n")
    listed = json.loads(team.ok("list", "--unit", "财政老局", "--direct", "-f", "json"))
    assert [task["id"] for task in listed] == [26, 28, 29, 30]


# -- who may store it ----------------------------------------------------------------------


def test_a_unit_login_may_not_store_a_unit_file_through_gongkai(team: Team, tmp_path: Path):
    majiang = team.login(_unique("mj"), "马陆镇")
    (tmp_path / "units.csv").write_text(OFFICE_UNITS, encoding="utf-8")
    line = team.refused("server", "units", "units.csv", user=majiang)
    assert line == "错误：马陆镇的账号不能存入单位数据文件，这需要办公室账号；未写入任何内容。"
    assert stored(team.url()) == []
    # A login the ledger does not know at all, with the file already stored by the office.
    team.ok("server", "units", "units.csv")
    team.ok("server", "revoke", majiang)
    assert "不能连接台账数据库" in team.refused("server", "units", "units.csv", user=majiang)
    assert [row[2] for row in stored(team.url())] == ["公开办"]


def test_a_unit_login_writing_the_unit_file_around_gongkai_is_refused_by_the_server(team: Team, tmp_path: Path):
    majiang = team.login(_unique("mj"), "马陆镇")
    (tmp_path / "units.csv").write_text(OFFICE_UNITS, encoding="utf-8")
    team.ok("server", "units", "units.csv")
    before = stored(team.url())
    forged = "name,kind,aliases\n江桥镇,town,马陆镇\n"
    result = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", team.url(majiang), "-c",
         f"UPDATE gongkai.unit_file SET text = '{forged}'"],
        capture_output=True, text=True, check=False, timeout=60, env={**os.environ, "PGPASSWORD": PASSWORD},
    )
    assert result.returncode != 0
    assert "permission denied for table unit_file" in result.stderr
    with team.connect(majiang) as conn:
        assert conn.execute("SELECT name FROM gongkai.unit_file").fetchall() == [("units.csv",)]  # it may read
        for statement in (
            "DELETE FROM gongkai.unit_file",
            "TRUNCATE gongkai.unit_file",
            "INSERT INTO gongkai.unit_file (name, text, stored_at, stored_by) VALUES ('x.csv', 'name\n甲', now(), 'x')"
            " ON CONFLICT (one) DO UPDATE SET text = excluded.text",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
                pytest.fail(f"not refused: {statement}")
    assert stored(team.url()) == before


def test_a_team_ledger_from_before_the_unit_file_gets_it_with_its_grants(team: Team, tmp_path: Path):
    """The owner's first command after an upgrade makes the table, readable by every login and
    writable by the office alone, without waiting for `server init` to be run again."""
    majiang = team.login(_unique("mj"), "马陆镇")
    office = team.login(_unique("gkb"), None)
    with team.connect() as conn:
        conn.execute("DROP TABLE gongkai.unit_file")
        conn.execute("DELETE FROM gongkai.migrations WHERE name = 'm005_unit_file'")
    team.ok("plans")
    (tmp_path / "units.csv").write_text(OFFICE_UNITS, encoding="utf-8")
    team.refused("server", "units", "units.csv", user=majiang)
    team.ok("server", "units", "units.csv", user=office)
    listed = json.loads(team.ok("list", "--unit", "财政老局", "--direct", "-f", "json", user=majiang))
    assert [task["id"] for task in listed] == [26, 28, 29, 30]
    assert team.ok("check").startswith("数据库")


def test_check_reports_a_grant_on_the_unit_file_taken_back(team: Team):
    with team.connect() as conn:
        conn.execute(f"REVOKE SELECT ON gongkai.unit_file FROM {team.database}_unit")
    line = team.refused("check", code=4)
    assert f"角色 {team.database}_unit 没有表 unit_file 的 SELECT 权限" in line
    team.ok("server", "init")
    team.ok("check")


# -- bad files: refused, nothing stored -----------------------------------------------------


@pytest.mark.parametrize(("content", "needle"), [
    (b"kind,aliases\ndepartment,x\n", "缺少列：name（单位）"),
    ("name,kind\n甲,衙门\n".encode(), "第 2 行：未知的类型“衙门”"),
    ("name,aliases\n甲,乙\n乙,\n".encode(), "第 3 行：名称“乙”与第 2 行重复"),
    ("name,kind,members\n甲,group,乙\n乙,group,甲\n".encode(), "集合互相包含：甲 → 乙 → 甲"),
    ("name,kind,members\n甲,department,乙\n".encode(), "只有类型为 group（集合）的单位才能有成员"),
    ("name\n甲\n".encode("utf-16"), "既不是 UTF-8 也不是 GBK/GB18030 编码"),
    ("name\n甲\x00乙\n".encode(), "第 2 行的第 2 个字符 U+0000 是控制字符"),
    (b"", "是空的"),
    (b"name,kind,aliases,members\n", "中没有任何单位"),
    (None, "无法读取单位数据文件"),
])
def test_a_bad_unit_file_is_refused_naming_the_problem_and_nothing_is_stored(
    pg_url: str, tmp_path: Path, content: bytes | None, needle: str,
):
    run = in_process(cron_env(tmp_path, Path("unused"), today="2023-03-01", user="公开办") | {"GONGKAI_DB": pg_url})
    good = tmp_path / "good.csv"
    good.write_text(OFFICE_UNITS, encoding="utf-8")
    assert run("server", "units", str(good)).returncode == 0
    bad = tmp_path / "bad.csv"
    if content is not None:
        bad.write_bytes(content)
    result = run("server", "units", str(bad))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith((f"错误：单位数据文件“{bad}”", f"错误：无法读取单位数据文件“{bad}”")), line
    assert needle in line
    assert [row[0] for row in stored(pg_url)] == ["good.csv"]


# -- cheap: read once, and only by a command that needs the units -----------------------------


def _unit_file_reads(ledger: Ledger, *calls: Any) -> int:
    """How many statements the calls send that read the stored unit file."""
    conn = ledger.store.conn  # type: ignore[attr-defined]
    seen: list[str] = []

    class Recording(psycopg.Cursor):  # type: ignore[misc]
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            seen.append(query if isinstance(query, str) else query.as_string(conn))
            return super().execute(query, params, **kwargs)

    conn.cursor_factory, before = Recording, conn.cursor_factory
    try:
        for call in calls:
            call()
    finally:
        conn.cursor_factory = before
    assert seen, "no statement was recorded"
    return sum("unit_file" in statement for statement in seen)


@pytest.fixture
def opened(pg_url: str, tmp_path: Path) -> Iterator[Ledger]:
    run = in_process(cron_env(tmp_path, Path("unused"), today="2023-03-01", user="公开办") | {"GONGKAI_DB": pg_url})
    (tmp_path / "units.csv").write_text(OFFICE_UNITS, encoding="utf-8")
    assert run("plans").returncode == 0  # the ledger, with the bundled plan
    assert run("server", "units", str(tmp_path / "units.csv")).returncode == 0
    with Ledger.open(pg_url) as ledger:
        yield ledger


def test_a_command_that_needs_no_units_does_not_read_the_stored_file(opened: Ledger):
    assert _unit_file_reads(opened, opened.list_tasks, lambda: opened.show(62), opened.summary) == 0


def test_the_stored_file_is_read_once_per_command(opened: Ledger):
    assert _unit_file_reads(opened, lambda: opened.list_tasks(units=("财政老局",))) == 1
    assert _unit_file_reads(opened, lambda: opened.list_tasks(units=("新区镇",)), opened.units) == 0


# -- gongkai copy carries it, both ways ------------------------------------------------------


class Runner:
    def __init__(self, executable: str, home: Path):
        self.executable, self.home = executable, home

    def __call__(self, db: Path | str, *args: str) -> str:
        env = cron_env(self.home, Path(db), today="2023-04-14", user="公开办") | {"GONGKAI_DB": str(db)}
        result = subprocess.run([self.executable, *args], check=False, capture_output=True, text=True,
                                encoding="utf-8", env=env, cwd=self.home, timeout=300)
        # The first command on an empty database or a missing file says it made the ledger.
        assert result.returncode == 0 and without_notice(result.stderr) == "", (args, result.stderr)
        return result.stdout


def test_copy_carries_the_offices_unit_file_to_the_server_and_back(executable: str, pg_url: str, tmp_path: Path):
    """The same ledger answers alike in its SQLite file (units.csv beside it), on the server it
    was copied to, and in the file copied back (units.csv written beside it)."""
    office, back = tmp_path / "office", tmp_path / "back"
    office.mkdir(), back.mkdir()
    run = Runner(executable, tmp_path)
    (office / "units.csv").write_bytes(OFFICE_UNITS.encode("gbk"))
    (office / "tasks_2024.csv").write_text(PLAN, encoding="utf-8")
    run(office / "gongkai.db", "import", str(office / "tasks_2024.csv"))

    to_server = run(office / "gongkai.db", "copy", "--to", pg_url)
    assert to_server.splitlines()[1] == f"单位数据文件“{office / 'units.csv'}”也已存入服务器上的台账。"
    assert stored(pg_url) == [("units.csv", OFFICE_UNITS, "公开办")]
    to_file = run(pg_url, "copy", "--to", str(back / "gongkai.db"))
    assert re.fullmatch(r"服务器台账中的“units\.csv”（公开办 于 [-0-9: ]+ 存入）已写到“" + re.escape(str(back / "units.csv"))
                        + "”。", to_file.splitlines()[1]), to_file
    assert (back / "units.csv").read_bytes() == OFFICE_UNITS.encode("utf-8-sig")

    ledgers = (office / "gongkai.db", pg_url, back / "gongkai.db")
    for args in (["units", "-f", "json"], ["remind", "--by-unit", "--within", "12m"], ["remind", "--by-unit", "-f", "json"],
                 ["list", "--unit", "新区", "-f", "json"], ["list", "--unit", "财政老局", "-f", "json"],
                 ["units", "--tree"]):
        shown = [run(db, *args) for db in ledgers]
        assert shown[0] == shown[1] == shown[2], args
    assert "新区镇" in shown[0]


def test_copy_to_a_file_keeps_a_units_csv_already_beside_it(executable: str, pg_url: str, tmp_path: Path):
    run = Runner(executable, tmp_path)
    (tmp_path / "office.csv").write_text(OFFICE_UNITS, encoding="utf-8")
    run(pg_url, "server", "units", str(tmp_path / "office.csv"))
    (tmp_path / "units.csv").write_text(BUNDLED, encoding="utf-8")
    out = run(pg_url, "copy", "--to", str(tmp_path / "copy.db"))
    assert re.fullmatch(r"“" + re.escape(str(tmp_path / "units.csv")) + r"”已存在，没有覆盖它；服务器台账中的“office\.csv”"
                        r"（公开办 于 [-0-9: ]+ 存入）没有写出。", out.splitlines()[1]), out
    assert (tmp_path / "units.csv").read_text(encoding="utf-8") == BUNDLED
    assert (tmp_path / "copy.db").is_file()


def test_copy_to_a_server_refuses_a_bad_units_csv_beside_the_source_and_writes_nothing(
    executable: str, pg_url: str, tmp_path: Path,
):
    run = Runner(executable, tmp_path)
    run(tmp_path / "gongkai.db", "plans")
    (tmp_path / "units.csv").write_text("name,kind\n甲,衙门\n", encoding="utf-8")
    env = cron_env(tmp_path, tmp_path / "gongkai.db", today="2023-04-14", user="公开办")
    result = subprocess.run([executable, "copy", "--to", pg_url], check=False, capture_output=True, text=True,
                            encoding="utf-8", env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    assert "第 2 行：未知的类型“衙门”" in result.stderr
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('gongkai.plans')").fetchone() == (None,)
