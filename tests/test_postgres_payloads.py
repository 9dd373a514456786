"""Event payloads on a server are jsonb (migration m004_jsonb_payloads), and what gongkai shows
of them does not depend on the key order a database keeps: the same ledger's `log`, in every
format, is the same text on SQLite and on PostgreSQL, for every kind of event, old and new."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gongkai_cli.store import ServerURL
from postgres import Server
from test_migrations import build_schema2

pytestmark = pytest.mark.postgres

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

from gongkai_cli.store import migrations, postgres_roles  # noqa: E402
from gongkai_cli.store.postgres import PostgresStore  # noqa: E402

# Task ids out of numeric order, and units whose cell order is not their code point order
# (区农业农村委 before 区交通委): the orders a server's jsonb does not keep.
PLAN = (
    "序号,任务名称,任务内容,责任单位,时间节点\n"
    "4,改名四,新内容四,区农业农村委、区交通委、马陆镇、江桥镇,全年\n"
    "12,新增,新增任务,区财政局、江桥镇,6月底前\n"
    "2,改名二,新内容二,区政府办公室,3月31日前\n"
)
STAMP = "2023-01-01T09:00:00+08:00"
REISSUED = PLAN.replace("新增任务", "新增任务改").replace("新内容二", "新内容二改")


def every_kind_of_event(gk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite ledger whose history has every kind of event: notes and statuses that migration
    m003 made from an old database's notes (json_object's text, without spaces), then imports,
    notes with counts and units, statuses of one unit and of all (a tie of two statuses),
    assign, unassign and undos of each kind."""
    db = tmp_path / "old.db"
    build_schema2(db, notes=12, tasks=4, plans=1)
    with sqlite3.connect(db) as conn:  # its placeholder times, as a server would take them
        conn.execute("UPDATE plans SET created_at = ?, imported_at = ?", (STAMP, STAMP))
        conn.execute("UPDATE tasks SET updated_at = ?", (STAMP,))
    conn.close()
    monkeypatch.setenv("GONGKAI_DB", str(db))
    (tmp_path / "plan.csv").write_text(PLAN, encoding="utf-8")
    (tmp_path / "reissued.csv").write_text(REISSUED, encoding="utf-8")
    for args in (
        ["import", str(tmp_path / "plan.csv"), "--plan", "2023"],
        ["note", "4", "计数", "--unit", "江桥镇", "--count", "2"],
        ["status", "4", "doing", "--unit", "区交通委"],
        ["status", "4", "blocked", "--unit", "马陆镇"],
        ["status", "4", "done", "--all", "--note", "全部完成"],
        ["undo", "--yes"],
        ["status", "4", "cancelled", "--all"],
        ["note", "12", "带单位", "--unit", "区财政局", "--count", "1", "--status", "doing"],
        ["note", "2", "办公室的意见"],
        ["assign", "2", "--unit", "区审计局", "--unit", "区财政局"],
        ["unassign", "2", "--unit", "区审计局"],
        ["undo", "--yes"],
        ["import", str(tmp_path / "reissued.csv"), "--plan", "2023"],
        ["undo", "--yes"],
        ["undo", "--yes"],
    ):
        result = gk(*args)
        assert result.exit_code == 0, (args, result.stderr)
    return db


def policies(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            """SELECT policyname, permissive, cmd, roles, qual, with_check FROM pg_policies
               WHERE schemaname = 'gongkai' AND tablename = 'events' ORDER BY policyname"""
        ).fetchall()


def payload_types(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'gongkai' AND table_name = 'events' AND column_name IN ('before', 'after')"""
        ).fetchall())


def payloads(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, before, after FROM gongkai.events ORDER BY id").fetchall()


def test_a_ledger_from_before_jsonb_is_converted_in_place_and_shows_what_sqlite_shows(
    gk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_server: Server, pg_url: str
):
    """A server ledger made before m004, holding the whole history in json columns under the row
    security of `server init`, gets jsonb payloads when its owner next opens it (a unit's login
    may not), keeps every payload and policy, and from then on shows every event as the SQLite
    ledger it came from does."""
    source = every_kind_of_event(gk, tmp_path, monkeypatch)
    # Every migration but m004: the later m005_unit_file too, since the copy below fills its table.
    # Not m011 either: its functions read the jsonb payloads m004 makes, so no ledger had it first.
    old = [migration for migration in migrations.POSTGRES_MIGRATIONS
           if migration.name not in ("m004_jsonb_payloads", "m011_server_stamped")]
    with psycopg.connect(pg_url) as conn, conn.transaction():
        migrations.apply(migrations.PostgresBook(conn), old)
    store = PostgresStore.open(ServerURL(pg_url), upgrade=False)
    try:
        store.copy_from_sqlite(source)
    finally:
        store.close()
    login = f"majiang_{secrets.token_hex(4)}"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE ROLE {login} LOGIN PASSWORD 'unit-secret'")
    with psycopg.connect(pg_url) as conn, conn.transaction():
        postgres_roles.init(conn)
        postgres_roles.grant_unit(conn, "马陆镇", login, idle_timeout=60)
    assert payload_types(pg_url) == {"before": "json", "after": "json"}
    stored, policed = payloads(pg_url), policies(pg_url)
    assert any(row[0] == "unit_append" for row in policed)

    # A unit's login may not change the tables: it is told who must open the ledger first.
    monkeypatch.setenv("GONGKAI_DB", pg_server.database_url(urlsplit(pg_url).path.lstrip("/"), user=login))
    monkeypatch.setenv("PGPASSWORD", "unit-secret")
    refused = gk("list")
    assert refused.exit_code == 4 and refused.stdout == ""
    assert "需要升级（m004_jsonb_payloads、m011_server_stamped），只有表的所有者能升级" in refused.stderr
    assert payload_types(pg_url) == {"before": "json", "after": "json"}

    monkeypatch.setenv("GONGKAI_DB", pg_url)
    assert gk("plans").exit_code == 0  # the first command after the release upgrades the ledger
    checked = gk("check")
    assert checked.exit_code == 0, checked.stderr

    assert payload_types(pg_url) == {"before": "jsonb", "after": "jsonb"}
    assert payloads(pg_url) == stored
    assert policies(pg_url) == policed
    kinds = set()
    for args in (["log", "-f", "json"], ["log"], ["log", "-f", "csv"], ["log", "-f", "markdown"],
                 ["log", "4", "-f", "json"], ["log", "12", "-f", "json"]):
        shown = []
        for db in (str(source), pg_url):
            monkeypatch.setenv("GONGKAI_DB", db)
            result = gk(*args)
            assert result.exit_code == 0, (args, result.stderr)
            shown.append(result.stdout)
        assert shown[0] == shown[1], args
        if args == ["log", "-f", "json"]:
            kinds = {event["action"] for event in json.loads(shown[0])}
    assert kinds == {"note", "status", "import", "assign", "unassign", "undo"}
    # The unit's policies, made again on the new column type, still let it write its own notes.
    monkeypatch.setenv("GONGKAI_DB", pg_server.database_url(urlsplit(pg_url).path.lstrip("/"), user=login))
    written = gk("note", "4", "单位的进展", "--unit", "马陆镇")
    assert written.exit_code == 0, written.stderr
    assert gk("note", "4", "别的单位的进展", "--unit", "江桥镇").exit_code == 6


def test_a_new_server_ledger_writes_jsonb_and_shows_its_history_as_sqlite_does(
    gk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
):
    """The same commands at the same moment on a new server ledger and a new SQLite file: the
    same log, key for key, though the server keeps the keys in its own order."""
    (tmp_path / "plan.csv").write_text(PLAN, encoding="utf-8")
    monkeypatch.setenv("GONGKAI_NOW", "2023-04-01T10:00:00+08:00")
    shown = []
    for db in (str(tmp_path / "new.db"), pg_url):
        monkeypatch.setenv("GONGKAI_DB", db)
        for args in (
            ["import", str(tmp_path / "plan.csv"), "--plan", "2023"],
            ["status", "4", "doing", "--unit", "区交通委"],
            ["status", "4", "done", "--all", "--note", "全部完成"],
            ["assign", "2", "--unit", "区审计局"],
            ["undo", "--yes"],
            ["undo", "--yes"],
        ):
            result = gk(*args)
            assert result.exit_code == 0, (args, result.stderr)
        shown.append(gk("log", "--plan", "2023", "-f", "json").stdout)
    assert payload_types(pg_url) == {"before": "jsonb", "after": "jsonb"}
    with psycopg.connect(pg_url) as conn:
        (units,) = conn.execute("SELECT before -> 'units' FROM gongkai.events WHERE action = 'status' AND "
                                "after ? 'all'").fetchone()
    assert list(units) == ["江桥镇", "马陆镇", "区交通委", "区农业农村委"]  # jsonb's order: by length
    assert shown[0] == shown[1]
