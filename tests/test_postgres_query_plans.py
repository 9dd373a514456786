"""On a server, the read commands' queries can use their indexes: checked with EXPLAIN on the
statements the commands really send (recorded by the connection's cursors), as
tests/test_query_plans.py does for SQLite.

A test ledger is small, and on small tables PostgreSQL rightly prefers sequential scans and
hash or merge joins over whole tables, so each plan is asked for with those off: the planner
then reads a whole table only when no index can serve the query at all, and reaches each table
through an index on the rows it needs, as it does on the benchmark city (benchmarks/run.py
--city-pg). A plan that still reads every row of a table that grows with the years (a
sequential scan, or an index walked end to end without a condition) is a missing index or a
query shape no index fits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import plan_ledgers
from gongkai_cli.domain.statuses import Status
from gongkai_cli.ledger import Ledger
from gongkai_cli.store import ServerURL
from postgres import Server

pytestmark = pytest.mark.postgres

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

from gongkai_cli.store.postgres import PostgresStore  # noqa: E402

# The tables that grow with every plan, assignment, note and change ever kept.
BIG_TABLES = frozenset({"tasks", "task_units", "assignments", "notes", "events"})


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, pg_server: Server) -> Iterator[Ledger]:
    db = plan_ledgers.build(tmp_path_factory.mktemp("plans"))
    name = "gongkai_test_plans_" + tmp_path_factory.getbasetemp().name.replace("-", "_")[-20:]
    with pg_server.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE gongkai_test_template")
    url = pg_server.database_url(name)
    try:
        store = PostgresStore.open(ServerURL(url))
        store.copy_from_sqlite(db)
        store.close()
        opened = Ledger.open(url, plan="P1")
        yield opened
        opened.close()
    finally:
        with pg_server.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


HOT: dict[str, Callable[[Ledger], object]] = {
    "list --unit": lambda ledger: ledger.list_tasks(units=("区财政局",)),
    "list --unit (via 各街镇)": lambda ledger: ledger.list_tasks(units=("马陆镇",)),
    "list --unit --lead": lambda ledger: ledger.list_tasks(units=("区财政局",), lead=True),
    "list --status": lambda ledger: ledger.list_tasks(statuses=(Status.DOING,)),
    "list --search": lambda ledger: ledger.list_tasks(search="任务1"),
    "due --before": lambda ledger: ledger.due(before="2021-06-30"),
    "due --unit": lambda ledger: ledger.due(units=("区财政局",)),
    "show": lambda ledger: ledger.show(6),
    "summary": lambda ledger: ledger.summary(),
    "summary --by unit": lambda ledger: ledger.summary(by="unit"),
    "units": lambda ledger: ledger.units(),
    "remind": lambda ledger: ledger.remind(within="1m"),
    "remind --unit": lambda ledger: ledger.remind(within="1m", units=("马陆镇",)),
    "remind --by-unit": lambda ledger: ledger.remind(within="24m", by_unit=True),
    "report --unit": lambda ledger: ledger.report(unit="马陆镇"),
    "report (whole plan)": lambda ledger: ledger.report(),
    "log TASK": lambda ledger: ledger.history(6),
    "log --plan": lambda ledger: ledger.store.history.events(plan="P1"),
    "export": lambda ledger: ledger.export_tasks(),
}


def sent_queries(ledger: Ledger, command: Callable[[Ledger], object]) -> list[tuple[Any, Any]]:
    """The SELECTs `command` sends, with their parameters."""
    conn = ledger.store.conn  # type: ignore[attr-defined]
    seen: list[tuple[Any, Any]] = []

    class Recording(psycopg.Cursor):  # type: ignore[misc]
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            seen.append((query, params))
            return super().execute(query, params, **kwargs)

    conn.cursor_factory, before = Recording, conn.cursor_factory
    try:
        command(ledger)
    finally:
        conn.cursor_factory = before
    text = [(query if isinstance(query, str) else query.as_string(conn), params) for query, params in seen]
    selects = [(query, params) for query, params in text if query.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert selects, "no query was recorded"
    return selects


def plan_nodes(ledger: Ledger, query: str, params: Any) -> list[dict[str, Any]]:
    """Every node of the query's plan, with sequential scans and whole-table joins off."""
    conn = ledger.store.conn  # type: ignore[attr-defined]
    with conn.transaction():
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
            conn.execute(f"SET LOCAL {setting} = off")
        ((explained,),) = conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchall()
    nodes, todo = [], [explained[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", ()))
    return nodes


def whole_table_reads(node: dict[str, Any]) -> bool:
    if node.get("Relation Name") not in BIG_TABLES:
        return False
    if node["Node Type"] == "Seq Scan":
        return True
    return node["Node Type"] in ("Index Scan", "Index Only Scan") and "Index Cond" not in node


def query_plans(ledger: Ledger, name: str) -> dict[str, list[dict[str, Any]]]:
    return {" ".join(query.split()): plan_nodes(ledger, query, params) for query, params in sent_queries(ledger, HOT[name])}


@pytest.mark.parametrize("name", HOT)
def test_no_read_command_reads_a_growing_table_whole(ledger, name):
    for query, nodes in query_plans(ledger, name).items():
        whole = [f"{node['Node Type']} on {node['Relation Name']}" for node in nodes if whole_table_reads(node)]
        assert not whole, f"{name}: {query[:160]} -> {whole}"


def indexes_used(ledger: Ledger, name: str) -> set[str]:
    return {node["Index Name"] for nodes in query_plans(ledger, name).values() for node in nodes
            if "Index Name" in node}


def test_a_units_listing_starts_from_its_own_assignments(ledger):
    assert "assignments_unit_task" in indexes_used(ledger, "list --unit")
    # A town given its tasks through 各街镇: its own rows, and the collective's through via.
    assert "assignments_unit_task" in indexes_used(ledger, "list --unit (via 各街镇)")


def test_a_plans_tasks_are_found_through_the_plan_index(ledger):
    used = indexes_used(ledger, "summary")
    assert used & {"tasks_plan_due", "tasks_plan_id_key"}, used


def test_progress_reads_only_counted_notes_through_their_partial_index(ledger):
    assert "notes_counted" in indexes_used(ledger, "show")
    assert ledger.show(6).progress > 0  # the index is really consulted for a real answer


def test_a_tasks_notes_and_history_come_through_their_indexes(ledger):
    assert "notes_task_at" in indexes_used(ledger, "show")
    assert "events_plan_task" in indexes_used(ledger, "log TASK")
    assert "events_plan_task" in indexes_used(ledger, "log --plan")


def test_a_session_compiles_no_query_with_jit(ledger):
    # A whole plan's correlated counts are costed past jit_above_cost: compiling them took
    # 0.8 s of CPU for a 15 ms query on the benchmark city (docs/benchmarks.md, section (p)).
    assert ledger.store.conn.execute("SHOW jit").fetchone() == ("off",)


def test_summary_reads_the_tasks_that_may_have_met_their_target_in_one_go(ledger):
    # Read one by one, each such task cost four round trips: 51 queries on a city plan. Nine since
    # a listing reads the tasks' current units from their assignments, once for all (issue 23).
    reached = [task for task in ledger.list_tasks() if task.target_reached and not task.status.closed]
    assert len(reached) > 3
    assert len(sent_queries(ledger, HOT["summary"])) <= 9
