"""Writes the server stamps itself (issue 25): each attack a unit's clerk made with psql and the
unit's own credentials, replayed through a direct psycopg connection with them, is refused by
the server or harmless; the office's `undo` refuses an event that does not say what its note
holds; and `check` reports what a unit smuggled into a ledger before m011_server_stamped."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from postgres import Server
from test_postgres_roles import Team

pytestmark = pytest.mark.postgres

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

import psycopg  # noqa: E402

from gongkai_cli.store import ServerURL, open_store, postgres_schema  # noqa: E402
from gongkai_cli.store.postgres import _remove_event, _retract  # noqa: E402

BIGINT_MAX = 2**63 - 1
Connection = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def team(executable: str, pg_server: Server, pg_url: str, tmp_path: Path) -> Team:
    ledger = Team(executable, pg_server, pg_url, tmp_path)
    ledger.ok("plans")
    ledger.ok("server", "init")
    return ledger


def _majiang(team: Team) -> str:
    return team.login(f"mj_{secrets.token_hex(4)}", "马陆镇")


def _own_note(team: Team, user: str, text: str = "本单位进展") -> tuple[int, int, int]:
    """A note 马陆镇 writes on task 62 through gongkai: (note id, task pk, its assignment pk)."""
    team.ok("note", "62", text, "--unit", "马陆镇", user=user)
    with team.connect() as conn:
        row = conn.execute(
            """SELECT n.id, n.task, n.assignment FROM gongkai.notes n JOIN gongkai.assignments a ON a.pk = n.assignment
               WHERE a.unit = '马陆镇' ORDER BY n.id DESC LIMIT 1"""
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _next_ids(conn: Connection) -> tuple[int, int]:
    """The next event id and note id, as gongkai would give them."""
    row = conn.execute(
        """SELECT coalesce(max(id), 0) + 1,
                  greatest((SELECT coalesce(max(id), 0) FROM gongkai.notes),
                           coalesce(max(CASE WHEN action IN ('note', 'status') THEN (after ->> 'note')::bigint END), 0)) + 1
           FROM gongkai.events"""
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _refused(conn: Connection, statement: str, params: tuple[object, ...] = (), *,
             error: type[psycopg.Error] = psycopg.errors.InsufficientPrivilege) -> str:
    with pytest.raises(error) as caught:
        conn.execute(statement, params)
        pytest.fail(f"not refused: {statement} {params}")
    return str(caught.value)


_EVENT = """INSERT INTO gongkai.events (id, at, "by", action, plan, task, before, after)
            VALUES (%s, now(), %s, %s, '2023', 62, %s, %s)"""
_NOTE = """INSERT INTO gongkai.notes (id, task, at, "by", text, count, assignment)
           VALUES (%s, %s, %s, %s, %s, %s, %s)"""


def test_a_unit_cannot_take_the_largest_id_and_stop_every_write(team: Team):
    majiang = _majiang(team)
    note, task_pk, own = _own_note(team, majiang)
    recorder = f"马陆镇（{majiang}）"
    before = team.snapshot()
    with team.connect(majiang) as conn:
        assert "next event id" in _refused(conn, _EVENT, (BIGINT_MAX, recorder, "note", None, json.dumps(
            {"note": note, "text": "本单位进展", "unit": "马陆镇"})))
        assert "next note id" in _refused(conn, _NOTE, (BIGINT_MAX, task_pk, "2023-03-01", recorder, "x", None, own))
    assert team.snapshot() == before
    # Everyone still writes.
    team.ok("note", "62", "之后的进展", "--unit", "马陆镇", user=majiang)
    team.ok("status", "28", "doing")


def test_a_unit_cannot_forge_a_status_event_naming_another_unit_or_all_of_them(team: Team):
    majiang = _majiang(team)
    note, _, _ = _own_note(team, majiang)
    recorder = f"马陆镇（{majiang}）"
    before = team.snapshot()
    with team.connect(majiang) as conn:
        event_id, _ = _next_ids(conn)
        after = {"note": note, "text": "本单位进展", "unit": "江桥镇", "status": "done"}
        assert "must be the one event" in _refused(conn, _EVENT, (
            event_id, recorder, "status", json.dumps({"status": "todo", "unit": "江桥镇"}), json.dumps(after)))
        everyone = {"note": note, "text": "本单位进展", "status": "done", "all": True}
        assert "must be the one event" in _refused(conn, _EVENT, (
            event_id, recorder, "status", json.dumps({"status": "todo", "units": {"江桥镇": "todo", "马陆镇": "todo"}}),
            json.dumps(everyone)))
    assert team.snapshot() == before
    # The office's undo of the newest change (named: its own newest is the import, issue 23) takes
    # back the unit's own note, and nothing else.
    team.ok("undo", _newest_change(team), "--yes")
    assert team.assignment(62, "江桥镇")["status"] == "todo"
    assert team.assignment(62, "马陆镇")["notes"] == []


def test_a_unit_note_without_its_event_is_refused_and_the_server_stamps_the_time(team: Team):
    majiang = _majiang(team)
    _, task_pk, own = _own_note(team, majiang)
    recorder = f"马陆镇（{majiang}）"
    before = team.snapshot()
    with team.connect(majiang) as conn:
        _, note_id = _next_ids(conn)
        assert "without its event" in _refused(
            conn, _NOTE, (note_id, task_pk, "2023-01-01T00:00:00+00:00", recorder, "凭空的进展", 999, own))
    assert team.snapshot() == before

    # With its event, in one transaction, the note is a note like any other: in the history,
    # undoable, and dated when the server wrote it, not when the clerk said.
    with team.connect(majiang) as conn, conn.transaction():
        event_id, note_id = _next_ids(conn)
        conn.execute(_NOTE, (note_id, task_pk, "2023-01-01T00:00:00+00:00", recorder, "补记", 999, own))
        conn.execute(_EVENT, (event_id, recorder, "note", None, json.dumps(
            {"note": note_id, "text": "补记", "count": 999, "unit": "马陆镇"})))
    with team.connect() as conn:
        (at,) = conn.execute("SELECT at::date::text FROM gongkai.notes WHERE id = %s", (note_id,)).fetchone() or ("",)
    assert at != "2023-01-01"
    assert any(event["id"] == event_id for event in json.loads(team.ok("log", "--format", "json")))
    assert team.ok("check").strip()
    team.ok("undo", "--yes", user=majiang)
    assert [n["text"] for n in team.assignment(62, "马陆镇")["notes"]] == ["本单位进展"]


def test_a_unit_cannot_set_its_own_assignment_status_without_the_note_and_event(team: Team):
    majiang = _majiang(team)
    before = team.snapshot()
    with team.connect(majiang) as conn:
        assert "without its event" in _refused(conn, """UPDATE gongkai.assignments SET status = 'done'
            WHERE unit = '马陆镇' AND task = (SELECT pk FROM gongkai.tasks WHERE id = 62)""")
    assert team.snapshot() == before
    team.ok("check")
    team.ok("status", "62", "done", "--unit", "马陆镇", user=majiang)
    team.ok("undo", _newest_change(team), "--yes")
    assert team.assignment(62, "马陆镇")["status"] == "todo"


def test_a_60_mb_note_is_refused_by_the_server(team: Team):
    majiang = _majiang(team)
    _, task_pk, own = _own_note(team, majiang)
    recorder = f"马陆镇（{majiang}）"
    before = team.snapshot()
    with team.connect(majiang) as conn:
        _, note_id = _next_ids(conn)
        message = _refused(conn, _NOTE, (note_id, task_pk, "2023-03-01", recorder, "长" * (20 * 1024 * 1024), None, own),
                           error=psycopg.errors.CheckViolation)
    assert "notes_text_size" in message
    assert team.snapshot() == before
    # One byte over gongkai's own limit is refused too; the limit itself is not.
    with team.connect() as conn:
        for size, refused in ((postgres_schema.MAX_NOTE_BYTES + 1, True), (postgres_schema.MAX_NOTE_BYTES, False)):
            statement = "UPDATE gongkai.notes SET text = %s WHERE id = (SELECT max(id) FROM gongkai.notes)"
            if refused:
                _refused(conn, statement, ("x" * size,), error=psycopg.errors.CheckViolation)
            else:
                conn.execute(statement, ("x" * size,))


# -- a ledger a unit smuggled rows into before m011_server_stamped ---------------------------


def _as_before_m011(conn: Connection) -> None:
    """Take the ledger back to the schema of the release before m011_server_stamped: its triggers,
    its functions and its constraints gone, and the migration not recorded."""
    for table, name in (("notes", "notes_unit_stamped"), ("events", "events_unit_stamped"),
                        ("notes", "notes_unit_has_event"), ("assignments", "assignments_unit_has_event")):
        conn.execute(f"DROP TRIGGER {name} ON gongkai.{table}")
    for table, name, _ in postgres_schema.SIZE_CHECKS:
        conn.execute(f"ALTER TABLE gongkai.{table} DROP CONSTRAINT {name}")
    for function in ("stamp_unit_note", "stamp_unit_event", "unit_write_has_event", "next_note_id", "writer_unit"):
        conn.execute(f"DROP FUNCTION gongkai.{function}()")
    conn.execute("DROP INDEX gongkai.events_key")
    conn.execute("ALTER TABLE gongkai.events ADD CONSTRAINT events_key_key UNIQUE (key)")
    conn.execute("DELETE FROM gongkai.migrations WHERE name = 'm011_server_stamped'")


def test_check_reports_what_a_unit_smuggled_in_before_the_upgrade_and_undo_refuses_it(team: Team):
    majiang = _majiang(team)
    note, task_pk, own = _own_note(team, majiang)
    with team.connect() as conn:
        _as_before_m011(conn)
    recorder = f"马陆镇（{majiang}）"
    with team.connect(majiang) as conn:
        event_id, note_id = _next_ids(conn)
        # A note with no event, backdated, counting 999; and one of 100 KB.
        conn.execute(_NOTE, (note_id, task_pk, "2023-01-01T00:00:00+00:00", recorder, "凭空的进展", 999, own))
        conn.execute(_NOTE, (note_id + 1, task_pk, "2023-03-01T00:00:00+00:00", recorder, "长" * 40000, None, own))
        # A status change of 江桥镇 and of every unit on its own note, the last with the largest id.
        conn.execute(_EVENT, (event_id, recorder, "status",
                              json.dumps({"status": "todo", "units": {"江桥镇": "todo", "马陆镇": "todo"}}),
                              json.dumps({"note": note, "text": "本单位进展", "status": "done", "all": True})))
        conn.execute(_EVENT, (BIGINT_MAX, recorder, "status", json.dumps({"status": "todo", "unit": "江桥镇"}),
                              json.dumps({"note": note, "text": "本单位进展", "unit": "江桥镇", "status": "done"})))

    # An office login's event about a note no one wrote.
    office = team.login(f"gkb_{secrets.token_hex(4)}", None)
    with team.connect(office) as conn:
        conn.execute(_EVENT, (event_id + 1, "公开办", "note", None, json.dumps({"note": 4242, "text": "无中生有"})))

    team.ok("plans")  # the owner's next command upgrades the ledger
    line = team.refused("check", code=4)
    assert f"第一个是“进展 #{note_id} 没有对应的历史记录" in line and "UPDATE gongkai.notes" in line
    store = open_store(ServerURL(team.owner_url), upgrade=False)
    try:
        report = "\n".join(store.problems())
    finally:
        store.close()
    for expected in (
        f"进展 #{note_id} 没有对应的历史记录",
        f"进展 #{note_id + 1} 的内容超过",
        f"历史记录 #{BIGINT_MAX} 的编号不连续",
        f"历史记录 #{BIGINT_MAX} 与它所说的进展 #{note} 不符",
        f"历史记录 #{event_id} 与它所说的进展 #{note} 不符",
        f"历史记录 #{event_id + 1} 说写了进展 #4242，台账中却没有这条进展",
        "ALTER TABLE gongkai.notes VALIDATE CONSTRAINT notes_text_size",
    ):
        assert expected in report, (expected, report)
    assert "UPDATE gongkai.notes" in report and "DELETE FROM gongkai.events" in report

    # The office's undo shows what the event claims, then refuses it in one line, changing nothing.
    results: list[subprocess.CompletedProcess[str]] = []
    team.unchanged_by(lambda: results.append(team.run("undo", "--yes")))
    assert results[-1].returncode == 4
    assert results[-1].stderr.splitlines() == [
        f"错误：历史记录 #{BIGINT_MAX} 与它所说的进展 #{note} 不符（单位、状态），可能是绕过 gongkai 写入的，"
        "未撤销任何内容；请先运行 gongkai check。"]
    assert team.assignment(62, "江桥镇")["status"] == "todo"

    # What check says to run, run by the owner as docs/team.md's table has it: then check passes
    # and the office's undo takes back the unit's own note, the newest real change.
    # An oversize note is cut first: any update of the row meets the limit.
    sql = [f"UPDATE gongkai.notes SET text = left(text, 1000) WHERE id = {note_id + 1};",
           "ALTER TABLE gongkai.notes VALIDATE CONSTRAINT notes_text_size;",
           _retract(note_id), _retract(note_id + 1),
           *(_remove_event(event) for event in (BIGINT_MAX, event_id + 1, event_id))]
    for statement in sql:
        assert statement in report or statement.startswith("UPDATE gongkai.notes SET retracted_at"), statement
    with team.connect() as conn:
        for statement in sql:
            conn.execute(statement)
    assert "通过" in team.ok("check")
    team.ok("undo", _newest_change(team), "--yes")
    assert team.assignment(62, "马陆镇")["notes"] == []
    team.ok("note", "62", "恢复之后", "--unit", "马陆镇", user=majiang)


def test_a_key_is_its_units_own_and_cannot_be_squatted(team: Team):
    """马陆镇's --key 2023-W15 does not stop 江桥镇's; each retry finds its own unit's note."""
    majiang = _majiang(team)
    jiangqiao = team.login(f"jq_{secrets.token_hex(4)}", "江桥镇")
    team.ok("note", "62", "第15周", "--key", "2023-W15", user=majiang)
    team.ok("note", "62", "第15周", "--key", "2023-W15", user=jiangqiao)
    team.ok("note", "62", "第15周", "--key", "2023-W15", user=jiangqiao)  # a retry: nothing written
    assert len(team.assignment(62, "马陆镇")["notes"]) == len(team.assignment(62, "江桥镇")["notes"]) == 1
    # A unit writing around gongkai cannot give its key another unit's scope: the payload names its own unit.
    with team.connect() as conn:
        scopes = conn.execute("SELECT coalesce(after ->> 'unit', ''), key FROM gongkai.events WHERE key IS NOT NULL"
                              " ORDER BY id").fetchall()
    assert scopes == [("马陆镇", "2023-W15"), ("江桥镇", "2023-W15")]


def _newest_change(team: Team) -> str:
    """The number of the ledger's newest change, for the office to name it to `undo` (a plain
    `undo` takes back the caller's own newest change since issue 23)."""
    return str(max(event["id"] for event in json.loads(team.ok("log", "--all", "--format", "json"))))
