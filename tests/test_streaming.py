"""Outputs written as they are read: the history in batches, streamed JSON arrays, tables drawn a
batch of rows at a time, `log`'s limits."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
from pathlib import Path

import pytest
from rich.cells import cell_len

from gongkai_cli.domain.statuses import Status
from gongkai_cli.ledger import Ledger
from gongkai_cli.outputs.columns import EVENT_TABLE, Column
from gongkai_cli.outputs.writers import write_json, write_json_array, write_table, write_table_batches
from processes import drain_terminal


@pytest.fixture
def ledger(db_path: Path):
    with Ledger.open(db_path) as opened:
        yield opened


def _noted(ledger: Ledger, count: int) -> None:
    for number in range(count):
        ledger.add_note(40 + number % 3, f"进展 {number}", by="张三")


# -- the store -------------------------------------------------------------------------


def test_event_batches_are_the_history_in_order_a_batch_at_a_time(ledger: Ledger):
    _noted(ledger, 11)
    everything = ledger.store.history.events()
    batches = list(ledger.store.history.event_batches(size=4))
    assert [len(batch) for batch in batches] == [4, 4, 4]
    assert [event for batch in batches for event in batch] == everything


def test_event_batches_keep_the_filters_of_events(ledger: Ledger):
    _noted(ledger, 9)
    ledger.set_status(41, Status.DONE, all_units=True, by="李四")
    wanted = ledger.store.history.events(plan="2023", task=41)
    batches = list(ledger.store.history.event_batches(plan="2023", task=41, size=2))
    assert [event for batch in batches for event in batch] == wanted
    assert all(len(batch) <= 2 for batch in batches)


def test_event_batches_latest_are_the_newest_oldest_first(ledger: Ledger):
    _noted(ledger, 7)
    everything = ledger.store.history.events()
    latest = [event for batch in ledger.store.history.event_batches(latest=5, size=2) for event in batch]
    assert latest == everything[-5:]
    assert [e for b in ledger.store.history.event_batches(latest=100) for e in b] == everything
    assert list(ledger.store.history.event_batches(plan="none", latest=3)) == []


# -- the writers -----------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("out_type", [io.StringIO, _Terminal])
@pytest.mark.parametrize("data", [[], [{"a": 1}], [{"a": 1, "b": ["甲", "\u202e"]}, {"c": None}, {}]])
def test_a_streamed_json_array_is_the_text_of_the_whole_list(out_type, data):
    whole, streamed = out_type(), out_type()
    write_json(data, whole)
    write_json_array(iter(data), streamed)
    assert streamed.getvalue() == whole.getvalue()


def _events(ledger: Ledger, count: int):
    _noted(ledger, count)
    return ledger.store.history.events()


def test_a_table_of_one_batch_is_the_whole_table(ledger: Ledger):
    events = _events(ledger, 5)
    whole, batched = io.StringIO(), io.StringIO()
    write_table(EVENT_TABLE, events, whole, show_lines=True)
    write_table_batches(EVENT_TABLE, [events], batched, show_lines=True)
    assert batched.getvalue() == whole.getvalue()


def test_a_table_drawn_in_batches_reads_as_one_table(ledger: Ledger):
    events = _events(ledger, 10)
    out = io.StringIO()
    count = write_table_batches(EVENT_TABLE, [events[:4], events[4:8], events[8:]], out, show_lines=True,
                                footer=lambda n: f"共 {n} 条")
    lines = out.getvalue().splitlines()
    assert count == len(events) and lines[-1] == f"共 {len(events)} 条"
    table = lines[:-1]
    assert table[0].startswith("┏") and table[-1].startswith("└")
    # One header, one top and one bottom edge; every row joined to the next by a row line.
    assert sum(line.startswith("┃") for line in table) == 1
    assert sum(line.startswith(("┏", "┌")) for line in table) == 1
    assert sum(line.startswith("└") for line in table) == 1
    assert sum(line.startswith("├") for line in table) == len(events) - 1
    assert len({cell_len(line) for line in table}) == 1
    for event in events:
        assert any(line.startswith("│") and line.split("│")[1].strip() == str(event.id) for line in table)


def test_numbers_wider_than_the_first_batch_still_show_whole():
    columns = (Column("id", "编号", lambda number: number, justify="right", no_wrap=True),
               Column("text", "内容", lambda number: f"第 {number} 条", ratio=1, overflow="fold"))
    out = io.StringIO()
    write_table_batches(columns, [[1, 2, 3], [4, 5], [1234567]], out)
    assert "│ 1234567 │" in out.getvalue()


# -- log -------------------------------------------------------------------------------


def test_log_limit_shows_the_newest_oldest_first(gk, ledger: Ledger):
    _noted(ledger, 6)
    rows = list(csv.DictReader(io.StringIO(gk("log", "--limit", "3", "--format", "csv").stdout)))
    assert [row["summary"] for row in rows] == ["进展：进展 3", "进展：进展 4", "进展：进展 5"]
    data = json.loads(gk("log", "-n", "2", "--format", "json").stdout)
    assert [event["id"] for event in data] == [6, 7]


def test_log_piped_lists_everything_and_says_how_many(gk, ledger: Ledger):
    _noted(ledger, 60)
    result = gk("log")
    assert result.exit_code == 0 and "共 61 条历史记录" in result.stdout
    assert len(json.loads(gk("log", "--all", "--format", "json").stdout)) == 61


@pytest.mark.parametrize(("args", "message"), [(("--limit", "0"), "条数"), (("--limit", "x"), "条数"),
                                               (("--limit", "-3"), "条数"), (("--limit", "2", "--all"), "--all")])
def test_log_bad_limit(gk, args, message):
    result = gk("log", *args)
    assert result.exit_code == 2 and result.stdout == "" and message in result.stderr


@pytest.mark.sqlite_only("the executable opens the file the test filled")
def test_log_at_a_terminal_shows_the_latest_fifty(executable: str, ledger: Ledger, db_path: Path):
    _noted(ledger, 60)
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120"}
    with subprocess.Popen([executable, "--db", str(db_path), "log"], stdout=follower, stderr=subprocess.PIPE,
                          env=env) as process:
        os.close(follower)
        shown = drain_terminal(leader).decode()
        process.wait(timeout=60)
    assert process.returncode == 0
    assert "显示最近 50 条历史记录" in shown and "--all" in shown
    assert "进展 59" in shown and "进展 9 " not in shown


def test_task_batches_are_the_whole_plan_a_batch_at_a_time(ledger: Ledger):
    _noted(ledger, 5)
    whole = ledger.store.tasks.tasks_with_notes("2023", today=ledger.today)
    batches = list(ledger.store.tasks.task_batches("2023", today=ledger.today, size=20))
    assert [len(batch) for batch in batches] == [20, 20, 20, 20, 11]
    assert [task for batch in batches for task in batch] == whole
