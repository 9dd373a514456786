"""The store against real SQLite files: schema, transactions, queries, re-import."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from gongkai_cli.domain.errors import StoreError
from gongkai_cli.domain.statuses import Status
from gongkai_cli.store import AssignmentInput, TaskFields, TaskInput, TaskQuery
from gongkai_cli.store.migrations import SCHEMA_VERSION
from gongkai_cli.store.sqlite import APPLICATION_ID, SQLiteStore as Store

pytestmark = pytest.mark.sqlite_only("the SQLite store class on a file of its own, and the file read with sqlite3")

TODAY = date(2023, 4, 1)
AT = "2023-04-01T09:00:00+08:00"


def task(id: int, content: str = "内容", units=("区财政局",), due: date | None = date(2023, 12, 31),
         group: str = "分组") -> TaskInput:
    # Each unit named is its own assignment here; expanding groups is the use cases' business.
    fields = TaskFields(group=group, content=content, units=list(units), deadline="全年", start=None,
                        due=due.isoformat() if due else None)
    return TaskInput(id=id, fields=fields,
                     assignments=tuple(AssignmentInput(unit, lead=i == 0) for i, unit in enumerate(units)))


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "s.db")
    yield s
    s.close()


def load(store: Store, tasks, name: str = "2023"):
    return store.plans.import_plan(name, year=2023, source="t.csv", at=AT, by="甲", tasks=tasks)


def test_new_database_has_schema_version_wal_and_tables(store: Store):
    conn = store.conn
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"plans", "tasks", "units", "task_units", "notes"} <= tables


def test_reopening_does_not_migrate_again(tmp_path: Path):
    Store.open(tmp_path / "s.db").close()
    again = Store.open(tmp_path / "s.db")
    assert again.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again.close()


def test_database_from_a_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    # A newer gongkai stamps its ledgers with the application id, as this one does.
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="请升级 gongkai") as info:
        Store.open(path)
    assert info.value.exit_code == 4


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("这不是数据库" * 100, encoding="utf-8")
    with pytest.raises(StoreError, match="不是有效的 gongkai 数据库"):
        Store.open(path)


def test_a_directory_is_refused(tmp_path: Path):
    with pytest.raises(StoreError, match="是一个目录"):
        Store.open(tmp_path)


def test_import_counts_added_updated_unchanged_and_kept(store: Store):
    first = load(store, [task(1), task(2), task(3)])
    assert (first.added, first.updated, first.unchanged, first.kept) == (3, 0, 0, ())
    second = load(store, [task(1), task(2, content="新内容")])
    assert (second.added, second.updated, second.unchanged, second.kept) == (0, 1, 1, (3,))


def test_reimport_keeps_notes_and_statuses_and_replaces_units(store: Store):
    load(store, [task(1, units=("区财政局", "区审计局"))])
    store.notes.add_note("2023", 1, at=AT, by="甲", text="已启动", status=Status.DOING, all_units=True)
    load(store, [task(1, content="改写后的内容", units=("区审计局",))])
    (t,) = store.tasks.tasks("2023", TaskQuery(), today=TODAY)
    assert t.content == "改写后的内容"
    # 区财政局 worked on it, so it stays assigned (until unassigned) and is still printed; the cell is not.
    assert t.planned_units == ("区审计局",)
    assert t.units == ("区审计局", "区财政局")
    assert t.status is Status.DOING
    shown = store.tasks.task("2023", 1, today=TODAY)
    assert [n.text for n in shown.notes] == ["已启动"]


def test_failed_import_changes_nothing(store: Store):
    load(store, [task(1)])
    broken = [task(2), task(2)]  # duplicate id violates UNIQUE(plan, id) half-way through
    with pytest.raises(StoreError):
        load(store, broken, name="2024")
    assert [p.name for p in store.plans.plans()] == ["2023"]
    assert store.conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1


def test_units_keep_their_order_and_lead(store: Store):
    load(store, [task(1, units=("区政府办公室", "区财政局", "各街镇"))])
    (t,) = store.tasks.tasks("2023", TaskQuery(), today=TODAY)
    assert t.units == ("区政府办公室", "区财政局", "各街镇")
    assert t.lead_unit == "区政府办公室"


def test_filters_combine_with_and(store: Store):
    load(store, [
        task(1, content="财政预算公开", units=("区财政局",)),
        task(2, content="财政审计整改", units=("区审计局",)),
        task(3, content="教育招生", units=("区财政局", "区教育局")),
    ])
    ids = lambda q: [t.id for t in store.tasks.tasks("2023", q, today=TODAY)]  # noqa: E731
    assert ids(TaskQuery(units=("区财政局",))) == [1, 3]
    assert ids(TaskQuery(units=("区财政局", "区审计局"))) == [1, 2, 3]
    assert ids(TaskQuery(units=("区财政局",), search="财政")) == [1]
    assert ids(TaskQuery(search="招生")) == [3]


def test_search_treats_like_wildcards_literally(store: Store):
    load(store, [task(1, content="完成率100%"), task(2, content="完成率100")])
    assert [t.id for t in store.tasks.tasks("2023", TaskQuery(search="100%"), today=TODAY)] == [1]
    assert store.tasks.tasks("2023", TaskQuery(search="_"), today=TODAY) == []


def test_overdue_is_past_due_and_not_closed(store: Store):
    load(store, [
        task(1, due=date(2023, 3, 31)),
        task(2, due=date(2023, 3, 31)),
        task(3, due=date(2023, 4, 1)),
        task(4, due=None),
    ])
    store.notes.add_note("2023", 2, at=AT, by="甲", text="", status=Status.DONE)
    flags = {t.id: t.overdue for t in store.tasks.tasks("2023", TaskQuery(), today=TODAY)}
    assert flags == {1: True, 2: False, 3: False, 4: False}
    assert [t.id for t in store.tasks.tasks("2023", TaskQuery(overdue_only=True), today=TODAY)] == [1]


def test_due_ordering_and_inclusive_bounds(store: Store):
    load(store, [
        task(1, due=date(2023, 12, 31)),
        task(2, due=date(2023, 4, 20)),
        task(3, due=date(2023, 3, 31)),
        task(4, due=None),
    ])
    query = TaskQuery(due_before=date(2023, 4, 20), with_due_only=True, order_by_due=True)
    assert [t.id for t in store.tasks.tasks("2023", query, today=TODAY)] == [3, 2]
    query = TaskQuery(due_after=date(2023, 4, 20), with_due_only=True, order_by_due=True)
    assert [t.id for t in store.tasks.tasks("2023", query, today=TODAY)] == [2, 1]


def test_add_note_with_status_is_one_change(store: Store):
    load(store, [task(1)])
    note, before = store.notes.add_note("2023", 1, at=AT, by="甲", text="开始", status=Status.DOING)
    assert before is Status.TODO
    assert note.status is Status.DOING and note.task_id == 1
    shown = store.tasks.task("2023", 1, today=TODAY)
    assert shown.status is Status.DOING
    assert shown.updated_at == AT


def test_add_note_to_missing_task_returns_none(store: Store):
    load(store, [task(1)])
    assert store.notes.add_note("2023", 99, at=AT, by="甲", text="x", status=None) is None
    assert store.conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


def test_plans_newest_year_first(store: Store):
    load(store, [task(1)], name="2023")
    store.plans.import_plan("2024", year=2024, source="b.csv", at=AT, by="甲", tasks=[task(1)])
    store.plans.import_plan("2022", year=2022, source="c.csv", at=AT, by="甲", tasks=[task(1), task(2)])
    assert [(p.name, p.tasks) for p in store.plans.plans()] == [("2024", 1), ("2023", 1), ("2022", 2)]


def test_text_that_looks_like_sql_is_stored_as_text(store: Store):
    load(store, [task(1)])
    hostile = "'; DROP TABLE tasks; --"
    store.notes.add_note("2023", 1, at=AT, by=hostile, text=hostile, status=None)
    shown = store.tasks.task("2023", 1, today=TODAY)
    assert shown.notes[0].text == hostile and shown.notes[0].by == hostile


def test_a_held_write_lock_becomes_a_store_error(tmp_path: Path):
    path = tmp_path / "locked.db"
    Store.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        waiting = Store.open(path, timeout=0.1)
        with pytest.raises(StoreError, match=r"正被其他进程占用，等待 0\.1 秒") as info:
            load(waiting, [task(1)])
        assert info.value.exit_code == 4
        waiting.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_tasks_with_notes_covers_the_whole_plan_in_id_order(store: Store):
    load(store, [task(2), task(1, units=("区财政局", "区审计局")), task(3)])
    load(store, [task(1)], name="other")
    store.notes.add_note("2023", 2, at="2023-04-02T09:00:00+08:00", by="乙", text="后", status=Status.DOING)
    store.notes.add_note("2023", 2, at=AT, by="甲", text="先", status=None)
    tasks = store.tasks.tasks_with_notes("2023", today=TODAY)
    assert [t.id for t in tasks] == [1, 2, 3]
    assert tasks[0].units == ("区财政局", "区审计局")
    assert [(n.by, n.text) for n in tasks[1].notes] == [("甲", "先"), ("乙", "后")]
    assert tasks[1].status is Status.DOING and tasks[0].notes == () == tasks[2].notes
    assert not store.conn.in_transaction


def test_the_sqlite_store_has_every_method_of_the_storage_protocol():
    from gongkai_cli.store.protocol import Storage

    wanted = {name for name in vars(Storage) if not name.startswith("_")} | set(Storage.__annotations__)
    assert wanted - set(dir(Store)) - {"commits"} == set()


def test_the_use_cases_never_name_sqlite():
    """The boundary a second backend relies on: only store/ speaks SQLite."""
    import re

    import gongkai_cli

    package = Path(gongkai_cli.__file__).parent
    sources = [package / "ledger.py", *sorted((package / "usecases").glob("*.py"))]
    for source in sources:
        text = source.read_text(encoding="utf-8")
        code = "\n".join(line.split("#")[0] for line in text.splitlines())
        assert not re.search(r"\bsqlite3\b|SQLiteStore|\.conn\b|PRAGMA|\bSELECT\b|\bINSERT INTO\b", code), source


def test_the_store_reports_facts_and_never_a_usage_refusal():
    """Wording a refusal for the user, and its exit code 2 or 3, is the use cases' business."""
    import gongkai_cli.store

    package = Path(gongkai_cli.store.__file__).parent
    for source in sorted(package.glob("*.py")):
        text = source.read_text(encoding="utf-8")
        assert "UsageError" not in text and "NotFound" not in text, source


def test_a_refusal_keeps_its_declared_facts_and_refuses_others():
    from gongkai_cli.store import DriverMissing, KeyUndone, NotAssigned

    refusal = NotAssigned(40, "江桥镇", units=["马陆镇"])
    assert (refusal.task_id, refusal.unit, refusal.units) == (40, "江桥镇", ["马陆镇"])
    assert refusal.args == (40, "江桥镇", ["马陆镇"])
    assert DriverMissing().args == ()
    for wrong in (lambda: KeyUndone("k", 1), lambda: KeyUndone("k", 1, 2, 3), lambda: KeyUndone("k", 1, undone=2),
                  lambda: DriverMissing("psycopg")):
        with pytest.raises(TypeError, match="takes the facts"):
            wrong()
