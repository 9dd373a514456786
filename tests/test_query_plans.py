"""Hot queries use their indexes: checked with EXPLAIN QUERY PLAN on the statements the
read commands really run (captured with a trace callback), not on hand-copied SQL."""

from __future__ import annotations

import re

import pytest

import plan_ledgers
from gongkai_cli.ledger import Ledger

pytestmark = pytest.mark.sqlite_only("SQLite query plans")

# A full scan of one of these tables grows with every plan and note ever kept.
BIG_TABLES = re.compile(r"\bSCAN (t|tu|n|a|d|tasks|notes|task_units|events|assignments)\b(?! USING)")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Ledger:
    db = plan_ledgers.build(tmp_path_factory.mktemp("plans"))
    opened = Ledger.open(db, plan="P1")
    yield opened
    opened.close()


HOT = {
    "list --unit": lambda ledger: ledger.list_tasks(units=("区财政局",)),
    "list --unit --lead": lambda ledger: ledger.list_tasks(units=("区财政局",), lead=True),
    "list --search": lambda ledger: ledger.list_tasks(search="任务1"),
    "due --before": lambda ledger: ledger.due(before="2021-06-30"),
    "show": lambda ledger: ledger.show(6),
    "summary": lambda ledger: ledger.summary(),
    "summary --by unit": lambda ledger: ledger.summary(by="unit"),
    "units": lambda ledger: ledger.units(),
    "remind": lambda ledger: ledger.remind(within="1m"),
    "report": lambda ledger: ledger.report(unit="马陆镇"),
    "due --unit": lambda ledger: ledger.due(units=("区财政局",)),
    "remind --unit": lambda ledger: ledger.remind(within="1m", units=("马陆镇",)),
    "remind --by-unit": lambda ledger: ledger.remind(within="24m", by_unit=True),
    "report (whole plan)": lambda ledger: ledger.report(),
}


def query_plans(ledger: Ledger, command) -> dict[str, list[str]]:
    return {sql: [step for _, step in plan] for sql, plan in query_trees(ledger, command).items()}


def query_trees(ledger: Ledger, command) -> dict[str, list[tuple[list[str], str]]]:
    """Each query's plan steps, each with the steps above it (outermost first)."""
    statements: list[str] = []
    ledger.store.conn.set_trace_callback(statements.append)
    try:
        command(ledger)
    finally:
        ledger.store.conn.set_trace_callback(None)
    plans = {}
    for sql in statements:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            rows = ledger.store.conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            parent_of = {node: (parent, step) for node, parent, _, step in rows}
            plans[sql] = [(steps_above(parent_of, node), step) for node, _, _, step in rows]
    assert plans, "the trace saw no query"
    return plans


def steps_above(parent_of: dict[int, tuple[int, str]], node: int) -> list[str]:
    chain, parent = [], parent_of[node][0]
    while parent in parent_of:
        parent, step = parent_of[parent]
        chain.insert(0, step)
    return chain


@pytest.mark.parametrize("name", HOT)
def test_no_hot_query_scans_tasks_notes_or_task_units(ledger, name):
    for sql, plan in query_plans(ledger, HOT[name]).items():
        scans = [step for step in plan if BIG_TABLES.search(step)]
        assert not scans, f"{name}: {' '.join(sql.split())[:120]} -> {scans}"


def test_a_plans_tasks_are_found_through_the_plan_index(ledger):
    steps = [step for plan in query_plans(ledger, HOT["list --search"]).values() for step in plan]
    assert any(re.search(r"SEARCH t USING (COVERING )?INDEX idx_tasks_plan_(id|due) \(plan=\?", s) for s in steps)


def test_progress_reads_only_counted_notes_through_their_partial_index(ledger):
    steps = [step for plan in query_plans(ledger, HOT["show"]).values() for step in plan]
    assert any("notes_counted" in step for step in steps)
    assert ledger.show(6).progress > 0  # the index is really consulted for a real answer


def test_a_unit_filter_is_correlated_on_the_task_not_collected_across_plans(ledger):
    plans = query_plans(ledger, HOT["list --unit"])
    (plan,) = [plan for sql, plan in plans.items() if " ".join(sql.split()).startswith("SELECT t.pk")]
    assert plan[0].startswith("SEARCH t USING INDEX idx_tasks_plan_id (plan=?)")
    # One unit's listing joins its own assignment through the (task, unit) key, task by task.
    assert any(re.search(r"SEARCH a USING .*\(task=\? AND unit=\?\)", step) for step in plan)


def test_reminders_by_unit_work_out_task_figures_once_per_task(ledger):
    # Joined flat with the assignments, a task given to 120 units counted its assignments
    # once per unit: the figures belong inside the materialized tasks, under no join.
    trees = query_trees(ledger, HOT["remind --by-unit"])
    (tree,) = [tree for sql, tree in trees.items() if "due_tasks" in sql]
    counting = [(chain, step) for chain, step in tree if step.startswith("SEARCH d ")]
    assert counting
    assert all(chain and chain[0] == "MATERIALIZE due_tasks" for chain, _ in counting), counting
    assert ledger.remind(within="24m", by_unit=True).sections  # the query really answers
