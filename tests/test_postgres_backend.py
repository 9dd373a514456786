"""Choosing the PostgreSQL backend: a URL stays a URL, the driver is optional, and every
failure to connect is one Chinese line with exit 4 (against a real server, never a mock)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gongkai_cli.store import ServerURL, database_named
from gongkai_cli.usecases.settings import database_path
from postgres import Server, with_query


@pytest.mark.parametrize("url", [
    "postgresql://majiang@db.example:5432/gongkai",
    "postgres://majiang@db.example/gongkai",
    "postgresql://gongkai@/gongkai?host=/tmp/x",
    "PostgreSQL://db.example/gongkai",
])
def test_a_server_url_stays_the_url_it_is(url, monkeypatch):
    assert database_named(url) == ServerURL(url)
    assert database_path(url) == ServerURL(url)
    monkeypatch.setenv("GONGKAI_DB", url)
    assert database_path() == ServerURL(url)


def test_anything_else_is_a_file():
    assert database_named("~/ledger.db") == Path.home() / "ledger.db"
    assert database_named("postgresql.db") == Path("postgresql.db")


@pytest.mark.parametrize("url, shown", [
    ("postgresql://majiang:s3cret@db/gongkai", "postgresql://majiang:***@db/gongkai"),
    ("postgresql://majiang@db/gongkai?password=s3cret&sslmode=require",
     "postgresql://majiang@db/gongkai?password=***&sslmode=require"),
    ("postgresql://majiang@db/gongkai", "postgresql://majiang@db/gongkai"),
])
def test_a_url_is_shown_without_its_password(url, shown):
    assert str(ServerURL(url)) == shown


def run(executable: str, *args: str, db: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GONGKAI_DB": db, **(env or {})}
    return subprocess.run([executable, *args], capture_output=True, text=True, encoding="utf-8", check=False,
                          env=environment, timeout=120)


# psycopg made unimportable, as on a machine where the extra was never installed.
WITHOUT_DRIVER = (
    "import sys\n"
    "sys.modules['psycopg'] = None\n"
    "from gongkai_cli.cli.app import main\n"
    "sys.argv = ['gongkai', *sys.argv[1:]]\n"
    "main()\n"
)


@pytest.mark.parametrize("args", [["list"], ["--db", "postgres://office@db.example/gongkai", "list"]])
def test_without_the_driver_a_server_url_says_what_to_install(args):
    env = {**os.environ, "GONGKAI_DB": "postgresql://office@db.example/gongkai"}
    result = subprocess.run([sys.executable, "-c", WITHOUT_DRIVER, *args], capture_output=True, text=True,
                            encoding="utf-8", check=False, env=env, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "错误：使用 PostgreSQL 数据库需要先安装驱动：pip install 'gongkai[postgres]'。"
    ]


@pytest.mark.postgres
def test_a_stopped_server_is_one_line_and_exit_4(executable, tmp_path):
    # A unix-socket directory where no server listens: what a stopped server leaves.
    result = run(executable, "list", db=f"postgresql://gongkai@/gongkai?host={tmp_path}")
    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"错误：无法连接 PostgreSQL 数据库“postgresql://gongkai@/gongkai?host={tmp_path}”："
        "服务器没有响应（未运行，或地址、端口不对）。"
    ]


@pytest.mark.postgres
def test_nothing_listening_on_a_loopback_port_is_exit_4(executable):
    result = run(executable, "list", db="postgresql://gongkai@127.0.0.1:1/gongkai")
    assert result.returncode == 4
    assert "服务器没有响应" in result.stderr


@pytest.mark.postgres
def test_a_wrong_password_is_exit_4_and_never_shown(executable, pg_server: Server, pg_url):
    with pg_server.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS gongkai_clerk")
        conn.execute("CREATE ROLE gongkai_clerk LOGIN PASSWORD 'right-one'")
    database = pg_url.rsplit("/", 1)[1].split("?")[0]
    wrong = pg_server.database_url(database, user="gongkai_clerk", password="wrong-one")
    result = run(executable, "list", db=wrong)
    assert result.returncode == 4
    assert "wrong-one" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"错误：无法登录 PostgreSQL 数据库“{ServerURL(wrong)}”：用户名或密码不正确。"
    ]
    missing = run(executable, "list", db=pg_server.database_url(database, user="gongkai_clerk"),
                  env={"PGPASSFILE": os.devnull})
    assert missing.returncode == 4
    assert "服务器要求密码，但没有提供" in missing.stderr


@pytest.mark.postgres
def test_a_missing_database_is_exit_4_naming_it(executable, pg_server: Server):
    url = pg_server.database_url("no_such_ledger")
    result = run(executable, "list", db=url)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"错误：无法使用 PostgreSQL 数据库“{url}”：服务器上没有数据库“no_such_ledger”，请先让数据库管理员创建它。"
    ]


@pytest.mark.postgres
def test_a_missing_role_is_exit_4_naming_it(executable, pg_server: Server):
    result = run(executable, "list", db=pg_server.database_url("gongkai", user="nobody_here", password="x"))
    assert result.returncode == 4
    assert "错误：" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.postgres
def test_a_malformed_url_is_a_usage_error(executable):
    result = run(executable, "list", db="postgresql://gongkai@/gongkai?no_such_option=1")
    assert result.returncode == 2
    assert result.stderr.startswith("错误：数据库地址“postgresql://gongkai@/gongkai?no_such_option=1”无效")


@pytest.mark.postgres
def test_the_url_option_wins_over_the_environment_and_stays_a_url(executable, pg_url, tmp_path):
    result = run(executable, "--db", with_query(pg_url, host=str(tmp_path)), "list", db=str(tmp_path / "x.db"))
    assert result.returncode == 4
    assert "服务器没有响应" in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.postgres
def test_list_on_an_empty_database_loads_the_bundled_plan_as_on_a_new_file(executable, pg_url, tmp_path):
    frozen = {"GONGKAI_NOW": "2023-04-01T09:00:00+08:00"}
    on_file = run(executable, "list", "--unit", "区财政局", "--format", "json", db=str(tmp_path / "new.db"), env=frozen)
    on_server = run(executable, "list", "--unit", "区财政局", "--format", "json", db=pg_url, env=frozen)
    assert on_file.returncode == 0, on_file.stderr
    assert (on_server.returncode, on_server.stdout) == (0, on_file.stdout)
    # Both say they made a ledger, each naming its own.
    assert on_file.stderr.startswith(f"注意：已新建台账“{tmp_path / 'new.db'}”，并载入内置的 2023 年计划")
    assert on_server.stderr == on_file.stderr.replace(str(tmp_path / "new.db"), str(ServerURL(pg_url)))
    assert run(executable, "plans", "--format", "json", db=pg_url).stdout == run(
        executable, "plans", "--format", "json", db=str(tmp_path / "new.db")).stdout


@pytest.mark.postgres
def test_a_failed_first_import_leaves_the_database_without_a_ledger(executable, pg_url, tmp_path):
    """As a bad file leaves no SQLite file behind: the schema's transaction is rolled back whole."""
    import psycopg

    bad = tmp_path / "tasks_2024.csv"
    bad.write_text("序号,任务名称\n1,缺列\n", encoding="utf-8")
    on_file = run(executable, "import", str(bad), db=str(tmp_path / "new.db"))
    on_server = run(executable, "import", str(bad), db=pg_url)
    assert on_file.returncode == 2
    assert (on_server.returncode, on_server.stdout, on_server.stderr) == (2, on_file.stdout, on_file.stderr)
    assert not (tmp_path / "new.db").exists()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regnamespace('gongkai')").fetchone() == (None,)
