"""The read half of the PostgreSQL store answers exactly as the SQLite store does, on the
same ledger: one built through the CLI (bundled plan, notes, statuses per unit, an
assignment, an undo, a second plan), copied key for key into a real server."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gongkai_cli.domain.errors import StoreError
from gongkai_cli.domain.statuses import Status
from gongkai_cli.store import ServerURL, TaskQuery
from gongkai_cli.store.sqlite import SQLiteStore
from postgres import Server

pytestmark = pytest.mark.postgres

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

from gongkai_cli.store.postgres import PostgresStore  # noqa: E402

TODAY = date(2023, 4, 1)
LATER = date(2023, 9, 1)


def build_ledger(gk, tmp_path: Path) -> None:
    def ok(*args: str) -> None:
        result = gk(*args)
        assert result.exit_code == 0, result.stderr

    ok("list")  # the bundled 2023 plan
    ok("note", "40", "试点完成", "--unit", "区政府办公室")
    ok("status", "40", "doing", "--unit", "区经委")
    ok("note", "40", "办公室的总体意见")
    ok("status", "62", "done", "--unit", "马陆镇")
    ok("status", "62", "blocked", "--unit", "江桥镇")
    ok("status", "28", "done", "--all")
    ok("note", "60", "列席 2 次", "--unit", "区政府办公室", "--count", "2")
    ok("assign", "40", "--unit", "区审计局")
    ok("note", "5", "写错了")
    ok("undo", "--yes")
    (tmp_path / "tasks_2024.csv").write_text(
        "序号,任务名称,任务内容,责任单位,时间节点\n1,推进公开,100% 公开_完成，上线 APP,区财政局、各街镇,11月底前\n",
        encoding="utf-8",
    )
    ok("import", str(tmp_path / "tasks_2024.csv"))


@pytest.fixture
def both(gk, db_path: Path, tmp_path: Path, pg_url):
    build_ledger(gk, tmp_path)
    sqlite = SQLiteStore.open(db_path)
    postgres = PostgresStore.open(ServerURL(pg_url))
    postgres.copy_from_sqlite(db_path)
    yield sqlite, postgres
    sqlite.close()
    postgres.close()


@pytest.fixture
def pinyin_url(pg_server: Server):
    """A database whose text sorts by pinyin (ICU zh), as a Chinese office's server may be set up."""
    with pg_server.connect() as conn:
        conn.execute("CREATE DATABASE gongkai_test_pinyin TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'zh' "
                     "LOCALE 'C.UTF-8'")
    try:
        yield pg_server.database_url("gongkai_test_pinyin")
    finally:
        with pg_server.connect() as conn:
            conn.execute("DROP DATABASE gongkai_test_pinyin WITH (FORCE)")


QUERIES = [
    TaskQuery(),
    TaskQuery(units=("区财政局",)),
    TaskQuery(units=("各街镇",)),
    TaskQuery(units=("马陆镇",), direct_only=True),
    TaskQuery(units=("区政府办公室",), lead_only=True),
    TaskQuery(own_unit="马陆镇"),
    TaskQuery(own_unit="区经委", statuses=(Status.DOING,)),
    TaskQuery(own_unit="江桥镇", open_only=True, order_by_due=True),
    TaskQuery(own_unit="区政府办公室", lead_only=True, direct_only=True),
    TaskQuery(statuses=(Status.DONE, Status.BLOCKED)),
    TaskQuery(group="公开"),
    TaskQuery(search="政策"),
    TaskQuery(search="%"),
    TaskQuery(search="app"),  # SQLite's LIKE ignores the case of ASCII letters
    TaskQuery(due_before=date(2023, 4, 20), due_after=date(2023, 3, 1), with_due_only=True),
    TaskQuery(overdue_only=True, order_by_due=True),
    TaskQuery(open_only=True, with_due_only=True, order_by_due=True),
]


@pytest.mark.parametrize("today", [TODAY, LATER])
def test_every_listing_query_answers_alike(both, today):
    sqlite, postgres = both
    for query in QUERIES:
        for plan in ("2023", "2024"):
            assert postgres.tasks.tasks(plan, query, today=today) == sqlite.tasks.tasks(plan, query, today=today), query


def test_plans_and_units_answer_alike(both):
    sqlite, postgres = both
    assert postgres.plans.plans() == sqlite.plans.plans()
    assert len(sqlite.plans.plans()) == 2
    for name, year in ((None, None), ("2023", None), ("2024", None), ("nope", None), (None, 2023), (None, 1999)):
        assert postgres.plans.plan(name, year=year) == sqlite.plans.plan(name, year=year)
    assert postgres.plans.plan_names() == sqlite.plans.plan_names()
    assert postgres.tasks.unit_names() == sqlite.tasks.unit_names()
    for today in (TODAY, LATER):
        assert postgres.tasks.unit_counts("2023", today=today) == sqlite.tasks.unit_counts("2023", today=today)


def test_names_sort_as_on_sqlite_whatever_the_databases_collation(gk, db_path, tmp_path, pinyin_url):
    build_ledger(gk, tmp_path)
    sqlite = SQLiteStore.open(db_path)
    postgres = PostgresStore.open(ServerURL(pinyin_url))
    try:
        postgres.copy_from_sqlite(db_path)
        names = sqlite.tasks.unit_names()
        assert names != sorted(names, key=lambda name: name.encode("gb18030"))  # pinyin would differ
        assert postgres.tasks.unit_names() == names
        assert postgres.plans.plans() == sqlite.plans.plans()
    finally:
        sqlite.close()
        postgres.close()


def test_one_task_and_the_export_read_answer_alike(both):
    sqlite, postgres = both
    for task_id in (40, 62, 28, 60, 5, 999):
        assert postgres.tasks.task("2023", task_id, today=TODAY) == sqlite.tasks.task("2023", task_id, today=TODAY)
    shown = postgres.tasks.task("2023", 40, today=TODAY)
    assert shown is not None and len(shown.notes) == 3 and len(shown.assignments) > 1
    assert postgres.tasks.tasks_with_notes("2023", today=LATER) == sqlite.tasks.tasks_with_notes("2023", today=LATER)
    assert postgres.tasks.existing_task_ids("2023", [1, 40, 500]) == sqlite.tasks.existing_task_ids("2023", [1, 40, 500])
    assert postgres.assignments.unassigned_tasks() == sqlite.assignments.unassigned_tasks()
    for units in ((), ("马陆镇", "区财政局")):
        assert (postgres.tasks.open_assignments("2023", units=units, due_before=LATER, today=TODAY)
                == sqlite.tasks.open_assignments("2023", units=units, due_before=LATER, today=TODAY))


def test_the_history_answers_alike(both):
    sqlite, postgres = both
    everything = sqlite.history.events()
    assert [event.action for event in everything][-3:] == ["note", "undo", "import"]
    assert postgres.history.events() == everything
    assert postgres.history.events(plan="2024") == sqlite.history.events(plan="2024")
    assert postgres.history.events(plan="2023", task=40) == sqlite.history.events(plan="2023", task=40)
    assert postgres.history.events(since=date(2023, 1, 1)) == sqlite.history.events(since=date(2023, 1, 1))
    assert postgres.history.events(since=date(2999, 1, 1)) == []
    for plan, latest in ((None, None), ("2023", None), (None, 3), ("2024", 2)):
        assert (list(postgres.history.event_batches(plan=plan, latest=latest, size=2))
                == list(sqlite.history.event_batches(plan=plan, latest=latest, size=2)))
    for plan in (None, "2023", "2024"):
        assert postgres.history.last_undoable(plan) == sqlite.history.last_undoable(plan)
    for event in everything:
        assert postgres.history.event(event.id) == event
    assert postgres.history.event(10_000) is None


def test_the_copy_continues_every_key_past_the_copied_ones(both, pg_url):
    import psycopg

    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO gongkai.units (name) VALUES ('新单位')")
        new_id, biggest = conn.execute(
            "SELECT max(id) FILTER (WHERE name = '新单位'), max(id) FILTER (WHERE name <> '新单位') FROM gongkai.units"
        ).fetchone()
    assert new_id == biggest + 1


def test_a_copy_into_a_ledger_with_content_is_refused(both, db_path):
    _, postgres = both
    with pytest.raises(StoreError, match="已有台账内容"):
        postgres.copy_from_sqlite(db_path)


READ_COMMANDS = [
    ["list", "--format", "json"],
    ["list", "--unit", "马陆镇", "--format", "json"],
    ["list", "--unit", "各街镇", "--status", "blocked", "--format", "csv"],
    ["due", "--before", "2023-06-30", "--format", "json"],
    ["show", "40", "--format", "json"],
    ["show", "62"],
    ["plans", "--format", "json"],
    ["units", "--format", "json"],
    ["summary", "--by", "unit", "--format", "json"],
    ["remind", "--within", "30d"],
    ["log", "--format", "json"],
    ["log", "40"],
    ["export", "--format", "json"],
    ["list", "--plan", "2024", "--format", "json"],
    ["report", "--unit", "马陆镇"],
    ["report"],
]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_read_commands_print_the_same_on_both_backends(both, gk, db_path, pg_url, args):
    on_sqlite = gk("--db", str(db_path), *args)
    on_server = gk("--db", pg_url, *args)
    assert on_sqlite.exit_code == 0, on_sqlite.stderr
    assert (on_server.exit_code, on_server.stdout, on_server.stderr) == (0, on_sqlite.stdout, on_sqlite.stderr)


def test_a_refused_write_changes_nothing(both, executable, pg_url):
    import os
    import subprocess

    _, postgres = both
    before = postgres.history.events()
    result = subprocess.run([executable, "status", "40", "done"], capture_output=True, text=True, encoding="utf-8",
                            check=False, env={**os.environ, "GONGKAI_DB": pg_url}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1
    assert postgres.history.events() == before
