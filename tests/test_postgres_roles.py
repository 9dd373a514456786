"""Units as roles, enforced by the server: `gongkai server init|grant|revoke`, a unit login that
writes only its own assignments (through gongkai and around it), exit 6 for what it may not
do, and the office that may do everything. Every command runs the installed executable."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gongkai_cli.domain.statuses import Status, derived_status
from postgres import Server

pytestmark = pytest.mark.postgres

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

import psycopg  # noqa: E402

from gongkai_cli.store.postgres import WRITE_LOCK  # noqa: E402

PASSWORD = "unit-secret"
NOT_PERMITTED = 6


def _create_login(server: Server, name: str) -> None:
    """A login role on the test server. Roles are the whole server's, so another test may have
    made it, or be making it now: two ALTER ROLEs of one role at once fail ("tuple concurrently
    updated"), so the tests take turns under a lock in the server's main database."""
    with server.connect() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('gongkai tests: login roles'))")
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is None:
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
        else:
            conn.execute(f"ALTER ROLE {name} PASSWORD '{PASSWORD}'")


class Team:
    """A ledger of the bundled 2023 plan on the server, set up for team mode by its owner."""

    def __init__(self, executable: str, server: Server, pg_url: str, tmp_path: Path):
        self.executable = executable
        self.server = server
        self.owner_url = pg_url
        self.database = urlsplit(pg_url).path.lstrip("/")
        self.home = tmp_path

    def url(self, user: str | None = None) -> str:
        if user is None:
            return self.owner_url
        return self.server.database_url(self.database, user=user)

    def env(self, user: str | None = None) -> dict[str, str]:
        return {"PATH": os.environ["PATH"], "HOME": str(self.home), "TZ": "UTC", "GONGKAI_DB": self.url(user),
                "GONGKAI_TODAY": "2023-03-01", "GONGKAI_USER": "公开办", "PGPASSWORD": PASSWORD}

    def run(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.executable, *args], check=False, capture_output=True, text=True,
                              encoding="utf-8", env=self.env(user), cwd=self.home, timeout=120)

    def start(self, *args: str, user: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([self.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                encoding="utf-8", env=self.env(user), cwd=self.home)

    def ok(self, *args: str, user: str | None = None) -> str:
        result = self.run(*args, user=user)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def refused(self, *args: str, user: str | None = None, code: int = NOT_PERMITTED) -> str:
        """Refused with `code`, one line on stderr, nothing on stdout; returns the line."""
        result = self.run(*args, user=user)
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("错误："), result.stderr
        return lines[0]

    def login(self, name: str, unit: str | None) -> str:
        """A new login role (unique to this test unless `name` is fixed by the caller) granted to `unit`
        (None: the office)."""
        _create_login(self.server, name)
        if unit is None:
            self.ok("server", "grant", "--office", name)
        else:
            self.ok("server", "grant", unit, name)
        return name

    def connect(self, user: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(user), password=PASSWORD, autocommit=True)

    def snapshot(self) -> tuple[object, ...]:
        """Everything a write could change, read by the owner."""
        with self.connect() as conn:
            return tuple(conn.execute(query).fetchall() for query in (
                "SELECT pk, status, updated_at FROM gongkai.tasks ORDER BY pk",
                "SELECT pk, task, unit, status, updated_at FROM gongkai.assignments ORDER BY pk",
                "SELECT id, task, \"by\", text, status, retracted_at FROM gongkai.notes ORDER BY id",
                "SELECT id, action, \"by\", undoes FROM gongkai.events ORDER BY id",
                "SELECT name, imported_at FROM gongkai.plans ORDER BY name",
            ))

    def unchanged_by(self, write: Callable[[], object]) -> None:
        before = self.snapshot()
        write()
        assert self.snapshot() == before

    def assignment(self, task_id: int, unit: str) -> dict[str, object]:
        shown = json.loads(self.ok("show", str(task_id), "--format", "json"))
        (found,) = [a for a in shown["assignments"] if a["unit"] == unit]
        return found


@pytest.fixture
def team(executable: str, pg_server: Server, pg_url: str, tmp_path: Path) -> Team:
    ledger = Team(executable, pg_server, pg_url, tmp_path)
    ledger.ok("plans")  # the owner's first command makes the ledger with the bundled plan
    ledger.ok("server", "init")
    return ledger


def _unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


# -- the Done-when ------------------------------------------------------------


def test_majiang_sets_its_own_status_and_nothing_else(team: Team):
    """As role `majiang` granted 马陆镇: its own share of task 62 changes; 江桥镇's share of the
    same task and task 28 (区财政局's alone) are refused with exit 6 and change nothing."""
    majiang = team.login("majiang", "马陆镇")
    out = team.ok("status", "62", "done", "--unit", "马陆镇", user=majiang)
    assert "马陆镇" in out and "已完成" in out
    assert team.assignment(62, "马陆镇")["status"] == "done"

    message: list[str] = []
    team.unchanged_by(lambda: message.append(team.refused("status", "62", "done", "--unit", "江桥镇", user=majiang)))
    assert message[-1] == "错误：马陆镇的账号不能修改江桥镇的任务分工（第 62 项）。"
    team.unchanged_by(lambda: message.append(team.refused("status", "28", "done", user=majiang)))
    assert message[-1] == "错误：马陆镇的账号不能修改区财政局的任务分工（第 28 项）。"
    assert team.assignment(62, "江桥镇")["status"] == "todo"
    assert json.loads(team.ok("show", "28", "--format", "json"))["status"] == "todo"


def test_the_same_update_through_psql_with_that_login_is_refused_by_the_server(team: Team):
    majiang = team.login("majiang", "马陆镇")
    before = team.snapshot()
    for statement in (
        """UPDATE gongkai.assignments SET status = 'done'
           WHERE unit = '江桥镇' AND task = (SELECT pk FROM gongkai.tasks WHERE plan = '2023' AND id = 62)""",
        "UPDATE gongkai.tasks SET status = 'done' WHERE plan = '2023' AND id = 28",
    ):
        result = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", team.url(majiang), "-c", statement],
                                capture_output=True, text=True, check=False, timeout=60,
                                env={**os.environ, "PGPASSWORD": PASSWORD})
        # Another unit's rows are not the unit's to update, nor to lock: its UPDATE finds none.
        assert result.returncode == 0 and result.stdout.strip() == "UPDATE 0", (result.stdout, result.stderr)
    assert team.snapshot() == before


def test_the_same_update_through_psycopg_with_that_login_is_refused_by_the_server(team: Team):
    majiang = team.login("majiang", "马陆镇")
    before = team.snapshot()
    with team.connect(majiang) as conn:
        for statement in (
            """UPDATE gongkai.assignments SET status = 'done'
               WHERE unit = '江桥镇' AND task = (SELECT pk FROM gongkai.tasks WHERE id = 62)""",
            "UPDATE gongkai.assignments SET status = 'done' WHERE task = (SELECT pk FROM gongkai.tasks WHERE id = 28)",
            "UPDATE gongkai.tasks SET status = 'done' WHERE id = 28",
        ):
            assert conn.execute(statement).rowcount == 0, statement
        for statement in (
            # The task's own status follows its assignments and nothing else.
            "UPDATE gongkai.tasks SET status = 'done' WHERE id = 62",
            # Which unit an assignment belongs to is not the unit's to change.
            "UPDATE gongkai.assignments SET unit = '马陆镇' WHERE unit = '江桥镇'",
            "DELETE FROM gongkai.notes",
            "DELETE FROM gongkai.assignments WHERE unit = '江桥镇'",
            "INSERT INTO gongkai.plans VALUES ('2024', 2024, 'x.csv', now(), now())",
            "UPDATE gongkai.tasks SET content = '改了' WHERE id = 62",
            "INSERT INTO gongkai.unit_logins VALUES (current_user, '江桥镇')",
            "UPDATE gongkai.unit_logins SET unit = '江桥镇'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
                pytest.fail(f"not refused: {statement}")
        # Even its own share, without the note and the event that say so: a status no history
        # names would make check and everyone's undo fail (issue 25).
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="without its event"):
            conn.execute("""UPDATE gongkai.assignments SET status = 'doing'
                            WHERE unit = '马陆镇' AND task = (SELECT pk FROM gongkai.tasks WHERE id = 62)""")
    assert team.snapshot() == before
    assert team.assignment(62, "马陆镇")["status"] == "todo"


def test_notes_and_events_a_unit_forges_around_gongkai_are_refused(team: Team):
    """Notes only on its own assignments, under its own name; events only about those notes."""
    majiang = team.login(_unique("mj"), "马陆镇")
    team.ok("note", "62", "本单位进展", "--unit", "马陆镇", user=majiang)
    team.ok("note", "62", "江桥镇的进展", "--unit", "江桥镇")
    with team.connect() as conn:
        (note, task_pk, own, other) = conn.execute(
            """SELECT max(n.id), t.pk, (SELECT pk FROM gongkai.assignments WHERE task = t.pk AND unit = '马陆镇'),
                      (SELECT pk FROM gongkai.assignments WHERE task = t.pk AND unit = '江桥镇')
               FROM gongkai.tasks t JOIN gongkai.notes n ON n.task = t.pk WHERE t.id = 62 GROUP BY t.pk"""
        ).fetchone()
    before = team.snapshot()
    recorder = f"马陆镇（{majiang}）"
    with team.connect(majiang) as conn:
        # Another unit's notes are not the unit's to retract, nor to lock: its UPDATE finds none.
        assert conn.execute("UPDATE gongkai.notes SET retracted_at = now(), retracted_by = %s WHERE assignment = %s",
                            (recorder, other)).rowcount == 0
        note_insert = """INSERT INTO gongkai.notes (id, task, at, "by", text, assignment)
                         VALUES (999, %s, now(), %s, 'x', %s)"""
        for statement, params in (
            (note_insert, (task_pk, recorder, other)),  # another unit's assignment
            (note_insert, (task_pk, recorder, None)),  # the task as a whole
            (note_insert, (task_pk, "江桥镇（某人）", own)),  # under another name
            ("""INSERT INTO gongkai.events (id, at, "by", action, plan, task, after)
                VALUES (999, now(), %s, 'import', '2023', NULL, '{}')""", (recorder,)),
            ("""INSERT INTO gongkai.events (id, at, "by", action, plan, task, after)
                VALUES (999, now(), %s, 'note', '2023', 61, %s)""", (recorder, json.dumps({"note": note}))),
            ("""INSERT INTO gongkai.events (id, at, "by", action, plan, task, undoes)
                VALUES (999, now(), %s, 'undo', '2023', NULL, 1)""", (recorder,)),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, params)
                pytest.fail(f"not refused: {statement} {params}")
    assert team.snapshot() == before


def test_whose_change_an_event_is_is_the_servers_to_say(team: Team):
    """undo goes by an event's actor (issue 23): a unit's login that writes its own note by hand
    and says the change is the office's gets its own unit stamped, and joins no one else's batch."""
    majiang = team.login(_unique("mj"), "马陆镇")
    recorder = f"马陆镇（{majiang}）"
    with team.connect(majiang) as conn:
        (task_pk, own) = conn.execute(
            """SELECT t.pk, a.pk FROM gongkai.tasks t JOIN gongkai.assignments a ON a.task = t.pk
               WHERE t.id = 62 AND a.unit = '马陆镇'""").fetchone()
        with conn.transaction():
            (note,) = conn.execute(
                """INSERT INTO gongkai.notes (id, task, at, "by", text, assignment)
                   VALUES (gongkai.next_note_id(), %s, now(), %s, '手写的进展', %s) RETURNING id""",
                (task_pk, recorder, own)).fetchone()
            conn.execute(
                """INSERT INTO gongkai.events (id, at, "by", action, plan, task, after, actor)
                   VALUES ((SELECT coalesce(max(id), 0) + 1 FROM gongkai.events), now(), %s, 'note', '2023', 62, %s,
                           NULL)""",
                (recorder, json.dumps({"note": note, "text": "手写的进展", "unit": "马陆镇"})))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="batch of its own"):
            conn.execute(
                """INSERT INTO gongkai.events (id, at, "by", action, plan, task, after, batch)
                   VALUES ((SELECT coalesce(max(id), 0) + 1 FROM gongkai.events), now(), %s, 'note', '2023', 62, '{}', 1)""",
                (recorder,))
    with team.connect() as conn:
        assert conn.execute("SELECT actor FROM gongkai.events WHERE after -> 'note' = %s::jsonb",
                            (json.dumps(note),)).fetchone() == ("马陆镇",)


def test_the_status_rule_in_sql_is_models_derived_status_for_every_combination(team: Team):
    """The server checks a unit's new task status with gongkai.status_of: it must say what
    domain.statuses.derived_status says, for every set of assignment statuses (and with repeats)."""
    statuses = list(Status)
    cases = [list(combo) for size in range(4) for combo in itertools.product(statuses, repeat=size)]
    with team.connect() as conn:
        answers = conn.execute(
            "SELECT gongkai.status_of(s::text[]) FROM unnest(%s::text[]) s",
            (["{" + ",".join(status.value for status in case) + "}" for case in cases],),
        ).fetchall()
    assert len(answers) == len(cases) == 1 + 5 + 25 + 125
    for case, (answer,) in zip(cases, answers, strict=True):
        assert answer == derived_status(case).value, case


# -- what a unit may and may not do through gongkai --------------------------------------


def test_a_unit_notes_its_own_assignment_as_itself_and_not_another_units(team: Team):
    majiang = team.login(_unique("mj"), "马陆镇")
    out = team.ok("note", "62", "目录已编制", "--unit", "马陆镇", "--by", "随便写的名字", user=majiang)
    assert f"马陆镇（{majiang}）" in out and "随便写的名字" not in out
    (note,) = team.assignment(62, "马陆镇")["notes"]
    assert note["by"] == f"马陆镇（{majiang}）"
    assert note["text"] == "目录已编制"

    line = []
    team.unchanged_by(lambda: line.append(team.refused("note", "62", "代写", "--unit", "江桥镇", user=majiang)))
    assert line[-1] == "错误：马陆镇的账号不能修改江桥镇的任务分工（第 62 项）。"
    team.unchanged_by(lambda: line.append(team.refused("status", "62", "done", "--all", user=majiang)))
    assert "马陆镇的账号不能一次修改所有单位的状态（第 62 项）" in line[-1]


def test_a_unit_may_not_import_or_assign(team: Team, tmp_path: Path):
    majiang = team.login(_unique("mj"), "马陆镇")
    table = tmp_path / "tasks_2024.csv"
    table.write_text("序号,任务名称,任务内容,责任单位,时间节点\n1,推进公开,公开目录,马陆镇,全年\n", encoding="utf-8")
    line = []
    team.unchanged_by(lambda: line.append(team.refused("import", str(table), user=majiang)))
    assert line[-1] == "错误：马陆镇的账号不能导入计划，这需要办公室账号；未写入任何内容。"
    team.unchanged_by(lambda: line.append(team.refused("assign", "28", "--unit", "马陆镇", user=majiang)))
    assert line[-1] == "错误：马陆镇的账号不能给任务分派单位（第 28 项），这需要办公室账号；未写入任何内容。"
    team.unchanged_by(lambda: line.append(team.refused("unassign", "62", "--unit", "江桥镇", user=majiang)))
    assert "马陆镇的账号不能取消任务的单位分派（第 62 项）" in line[-1]


def test_the_office_may_do_everything(team: Team, tmp_path: Path):
    office = team.login(_unique("gkb"), None)
    table = tmp_path / "tasks_2024.csv"
    table.write_text("序号,任务名称,任务内容,责任单位,时间节点\n1,推进公开,公开目录,马陆镇,全年\n", encoding="utf-8")
    team.ok("import", str(table), user=office)
    team.ok("assign", "28", "--unit", "马陆镇", user=office)
    team.ok("note", "62", "公开办督办", user=office)
    team.ok("note", "62", "代江桥镇记录", "--unit", "江桥镇", "--by", "公开办张三", user=office)
    team.ok("status", "62", "done", "--unit", "江桥镇", user=office)
    team.ok("status", "61", "done", "--all", user=office)
    assert json.loads(team.ok("show", "61", "--format", "json"))["status"] == "done"
    assert team.assignment(62, "江桥镇")["notes"][0]["by"] == "公开办张三"
    for _ in range(3):
        team.ok("undo", "--yes", user=office)
    assert team.assignment(62, "江桥镇")["status"] == "todo"


def test_a_unit_undoes_only_its_own_latest_change(team: Team):
    majiang = team.login(_unique("mj"), "马陆镇")
    jiangqiao = team.login(_unique("jq"), "江桥镇")
    team.ok("status", "62", "doing", "--unit", "马陆镇", user=majiang)
    team.ok("note", "62", "马陆镇的话", "--unit", "马陆镇", user=majiang)
    team.ok("status", "62", "done", "--unit", "江桥镇", user=jiangqiao)  # the newest change of all

    out = team.ok("undo", "--yes", user=majiang)
    assert "马陆镇的话" in out
    assert team.assignment(62, "江桥镇")["status"] == "done"
    assert [note["text"] for note in team.assignment(62, "马陆镇")["notes"]] == [""]  # the status change's
    out = team.ok("undo", "--yes", user=majiang)
    assert team.assignment(62, "马陆镇")["status"] == "todo"
    assert team.assignment(62, "江桥镇")["status"] == "done"
    assert team.refused("undo", "--yes", user=majiang, code=3).startswith("错误：")

    # An event that is not its own, named: refused before anything is written.
    line = []
    team.unchanged_by(lambda: line.append(team.refused("undo", "--yes", "--event", "1", user=majiang)))
    assert line[-1] == "错误：马陆镇的账号只能撤销本单位任务分工上的进展和状态，更改 #1 不是；未撤销任何内容。"


def test_revoke_takes_effect_at_once(team: Team):
    majiang = team.login(_unique("mj"), "马陆镇")
    team.ok("status", "62", "doing", "--unit", "马陆镇", user=majiang)
    assert "原为马陆镇的账号" in team.ok("server", "revoke", majiang)
    team.unchanged_by(lambda: team.refused("status", "62", "done", "--unit", "马陆镇", user=majiang))
    line = team.refused("list", user=majiang)
    assert f"账号“{majiang}”不能连接台账数据库" in line and "权限已被收回" in line
    assert "本来就没有" in team.ok("server", "revoke", majiang)


def test_server_init_is_idempotent_and_keeps_the_grants(team: Team):
    majiang = team.login(_unique("mj"), "马陆镇")
    with team.connect() as conn:
        policies = conn.execute("SELECT count(*) FROM pg_policies WHERE schemaname = 'gongkai'").fetchone()
    out = team.ok("server", "init")
    assert f"{team.database}_office" in out and f"{team.database}_unit" in out
    with team.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_policies WHERE schemaname = 'gongkai'").fetchone() == policies
        assert conn.execute("SELECT login, unit FROM gongkai.unit_logins").fetchall() == [(majiang, "马陆镇")]
    team.ok("status", "62", "done", "--unit", "马陆镇", user=majiang)
    team.ok("check")


def _gongkai_locks(conn: psycopg.Connection[tuple[object, ...]]) -> set[tuple[str, str | None, str, bool]]:
    """(lock type, table, mode, granted) of every lock a gongkai process holds or waits for in this database."""
    rows = conn.execute(
        """SELECT l.locktype, c.relname, l.mode, l.granted
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid LEFT JOIN pg_class c ON c.oid = l.relation
           WHERE a.application_name = 'gongkai' AND a.datname = current_database()"""
    ).fetchall()
    return {(str(kind), None if table is None else str(table), str(mode), bool(granted))
            for kind, table, mode, granted in rows}


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1200):
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"never saw: {what}")


def test_server_init_takes_turns_with_gongkai_writers(team: Team):
    """Init locks every secured table outright; it waits for a write in progress instead of meeting it half-way."""
    with team.connect() as watcher, psycopg.connect(team.owner_url) as writer:
        writer.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        init = team.start("server", "init")
        _wait_for(lambda: ("advisory", None, "ExclusiveLock", False) in _gongkai_locks(watcher),
                  "server init waiting for the write lock")
        assert init.poll() is None
        assert not any(table is not None and granted for _, table, _, granted in _gongkai_locks(watcher))
        writer.commit()
        out, err = init.communicate(timeout=120)
    assert init.returncode == 0, err
    assert f"{team.database}_office" in out


def test_server_init_meeting_a_deadlock_runs_again_and_succeeds(team: Team):
    """A client outside gongkai (psql, a script) holds a table init wants and then asks for one
    init holds: the server breaks the deadlock by ending one side. When that is init's side,
    init runs again once the client is through, and the user sees only its success."""
    for _ in range(3):
        with team.connect() as watcher, psycopg.connect(team.owner_url) as client:
            client.execute("LOCK TABLE gongkai.events IN ROW EXCLUSIVE MODE")
            init = team.start("server", "init")
            _wait_for(lambda: {("relation", "tasks", "AccessExclusiveLock", True),
                               ("relation", "events", "AccessExclusiveLock", False)} <= _gongkai_locks(watcher),
                      "server init holding tasks and waiting for events")
            try:
                # Blocks on init's lock on tasks: the cycle is closed.
                client.execute("SELECT count(*) FROM gongkai.tasks")
            except psycopg.errors.DeadlockDetected:
                # The server ended this side instead (the machine was slow to ask): init went on
                # without meeting the deadlock, so try again.
                client.rollback()
                assert init.wait(timeout=120) == 0
                continue
            # This side got its answer while still holding events: init's side was ended.
            client.commit()
            out, err = init.communicate(timeout=120)
            assert init.returncode == 0, err
            assert err == "" and f"{team.database}_office" in out
            break
    else:
        pytest.fail("the server never chose init's side of the deadlock")
    team.ok("check")


def test_check_reports_the_row_level_security_server_init_made_and_is_gone(team: Team):
    """A dropped policy, row-level security switched off, a grant taken back: each a check
    finding (exit 4, one line naming the first and how many), until `server init` restores them."""
    passed = team.ok("check")
    assert "行级安全和授权也都齐全" in passed and "外键" not in passed
    with team.connect() as conn:
        conn.execute("DROP POLICY unit_insert ON gongkai.notes")
    line = team.refused("check", code=4)
    assert "表 notes 的行级安全策略 unit_insert 缺失或已被改动（表的所有者运行 gongkai server init 可以补上）" in line
    with team.connect() as conn:
        conn.execute("ALTER TABLE gongkai.assignments DISABLE ROW LEVEL SECURITY")
        conn.execute(f"REVOKE UPDATE (status) ON gongkai.tasks FROM {team.database}_unit")
    line = team.refused("check", code=4)
    assert "共 3 个问题，第一个是“表 assignments 没有启用行级安全" in line
    team.ok("server", "init")
    team.ok("check")


def test_check_without_server_init_asks_for_no_row_level_security(executable: str, pg_url: str, tmp_path: Path):
    ledger = Team(executable, Server(pg_url), pg_url, tmp_path)
    ledger.ok("plans")
    assert "检查通过" in ledger.ok("check")


def test_server_init_on_an_empty_database_makes_an_empty_ledger_first(executable: str, pg_server: Server, pg_url: str,
                                                                      tmp_path: Path):
    team = Team(executable, pg_server, pg_url, tmp_path)
    team.ok("server", "init")
    assert team.ok("plans") == ""
    majiang = team.login(_unique("mj"), "马陆镇")
    table = tmp_path / "tasks_2023.csv"
    table.write_text("序号,任务名称,任务内容,责任单位,时间节点\n1,推进公开,公开目录,马陆镇,全年\n", encoding="utf-8")
    assert "马陆镇的账号不能导入计划" in team.refused("import", str(table), user=majiang)
    team.ok("import", str(table))
    team.ok("status", "1", "done", user=majiang)


def test_grant_refuses_unknown_units_roles_and_non_owners(team: Team):
    assert team.refused("server", "grant", "江桥", "nobody_here", code=2) == (
        "错误：未知的责任单位“江桥”。您是否要找：江桥镇？未做任何更改。"
    )
    assert "服务器上没有登录角色“nobody_here”" in team.refused("server", "grant", "江桥镇", "nobody_here", code=2)
    assert "是单位的集合" in team.refused("server", "grant", "各街镇", "nobody_here", code=2)
    majiang = team.login(_unique("mj"), "马陆镇")
    assert "是马陆镇的账号" in team.refused("server", "grant", "--office", majiang, code=2)
    moved = team.ok("server", "grant", "江桥镇", majiang)
    assert "原为马陆镇的账号" in moved
    team.ok("status", "62", "done", "--unit", "江桥镇", user=majiang)
    office = team.login(_unique("gkb"), None)
    assert "不是台账的所有者" in team.refused("server", "grant", "马陆镇", majiang, user=office)
    assert "不是台账的所有者" in team.refused("server", "init", user=office)


def test_server_commands_refuse_a_sqlite_ledger(executable: str, tmp_path: Path):
    env = {**os.environ, "GONGKAI_DB": str(tmp_path / "gongkai.db"), "GONGKAI_TODAY": "2023-03-01"}
    result = subprocess.run([executable, "server", "init"], check=False, capture_output=True, text=True,
                            encoding="utf-8", env=env, timeout=120)
    assert result.returncode == 2
    assert "gongkai server 只用于 PostgreSQL 台账" in result.stderr
    assert not (tmp_path / "gongkai.db").exists()


def test_a_unit_login_writes_for_its_own_unit_without_naming_it(team: Team):
    """The login's unit is the default unit of its notes and statuses, where the task has it."""
    majiang = team.login(_unique("mj"), "马陆镇")
    assert "（马陆镇）" in team.ok("status", "62", "doing", user=majiang)
    assert team.assignment(62, "马陆镇")["status"] == "doing"
    team.ok("note", "62", "不写单位也记在本单位", user=majiang)
    assert [note["text"] for note in team.assignment(62, "马陆镇")["notes"]][-1] == "不写单位也记在本单位"
    line = team.refused("note", "28", "不是我们的任务", user=majiang)
    assert line == "错误：马陆镇的账号不能记录对任务整体的说明（第 28 项），只能写本单位的任务分工。"


def test_a_unit_batch_with_another_units_line_writes_nothing(team: Team, tmp_path: Path):
    majiang = team.login(_unique("mj"), "马陆镇")
    batch = tmp_path / "notes.csv"
    batch.write_text("序号,内容,单位\n62,本单位,马陆镇\n62,代江桥镇写,江桥镇\n", encoding="utf-8")
    line = []
    team.unchanged_by(lambda: line.append(team.refused("note", "--from", str(batch), user=majiang)))
    assert line[-1] == (
        f"错误：“{batch}”第 3 行：马陆镇的账号不能修改江桥镇的任务分工（第 62 项）。整批未写入。"
    )
    batch.write_text("序号,内容,单位\n62,本单位一,马陆镇\n62,本单位二,\n", encoding="utf-8")
    team.ok("note", "--from", str(batch), user=majiang)
    texts = [note["text"] for note in team.assignment(62, "马陆镇")["notes"]]
    assert texts == ["本单位一", "本单位二"]


def test_a_unit_imports_its_own_returned_sheet_and_no_other_units_rows(team: Team, tmp_path: Path):
    from test_unit_sheets import edit

    majiang = team.login(_unique("mj"), "马陆镇")
    team.ok("export", "-o", "台账.xlsx", user=majiang)
    edit(tmp_path / "台账.xlsx", tmp_path / "两个单位.xlsx", {
        (62, "马陆镇"): {"状态": "已完成"}, (62, "江桥镇"): {"状态": "已完成"},
    })
    line = []
    team.unchanged_by(lambda: line.append(team.refused("import", "两个单位.xlsx", user=majiang)))
    assert "马陆镇的账号不能修改江桥镇的任务分工（第 62 项）。整个表格未写入。" in line[-1]

    team.ok("export", "--unit", "马陆镇", "-o", "马陆镇.xlsx", user=majiang)
    edit(tmp_path / "马陆镇.xlsx", tmp_path / "填好.xlsx", {(62, "马陆镇"): {"状态": "已完成", "最新进展": "已公开"}})
    team.ok("import", "填好.xlsx", user=majiang)
    own = team.assignment(62, "马陆镇")
    assert own["status"] == "done"
    assert own["notes"][-1]["by"] == f"马陆镇（{majiang}）"


def test_only_the_office_keeps_the_units_contacts(team: Team):
    majiang = team.login(_unique("mj"), "马陆镇")
    office = team.login(_unique("gkb"), None)
    line = team.refused("contacts", "set", "马陆镇", "malu@example.test", user=majiang)
    assert line == "错误：马陆镇的账号不能修改单位的联系邮箱，这需要办公室账号；未写入任何内容。"
    team.ok("contacts", "set", "马陆镇", "malu@example.test", user=office)
    assert "malu@example.test" in team.ok("contacts", "list", "--format", "csv", user=majiang)
    assert team.refused("contacts", "remove", "马陆镇", user=majiang).endswith("这需要办公室账号；未写入任何内容。")
    assert team.refused("remind", "--to-dir", str(team.home), user=majiang) == (
        "错误：马陆镇的账号不能发送提醒邮件，这需要办公室账号；未写入任何内容。")
    # Through psql-like access the server itself refuses the unit's login.
    with team.connect(majiang) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE gongkai.unit_contacts SET email = 'x@example.test'")
    with team.connect(majiang) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("INSERT INTO gongkai.mail_sent VALUES ('2023-03-01', '2023', '马陆镇', 'a@b.cn', now(), 'x')")


def test_grant_refuses_a_bypassrls_login(team: Team):
    name = _unique("bypass")
    try:
        # Only a superuser makes a BYPASSRLS role: the test cluster's own (trust on its socket).
        superuser = psycopg.connect(team.server.database_url("postgres", user="postgres"), autocommit=True)
    except psycopg.OperationalError:
        pytest.skip("no superuser connection to the test server to make a BYPASSRLS role")
    with superuser:
        superuser.execute(f"CREATE ROLE {name} LOGIN BYPASSRLS PASSWORD '{PASSWORD}'")
    line = team.refused("server", "grant", "马陆镇", name, code=2)
    assert "BYPASSRLS" in line and line.endswith("未做任何更改。")
    team.refused("server", "grant", "--office", name, code=2)


def test_a_units_login_is_limited_and_revoke_takes_the_limits_back(team: Team):
    majiang = team.login(_unique("mj"), "马陆镇")
    with team.connect() as conn:
        limit, settings = conn.execute("SELECT rolconnlimit, rolconfig FROM pg_roles WHERE rolname = %s",
                                       (majiang,)).fetchone()
    assert limit == 10
    assert {"statement_timeout=60000ms", "idle_in_transaction_session_timeout=60000ms",
            "idle_session_timeout=60000ms"} <= set(settings)
    team.ok("server", "revoke", majiang)
    with team.connect() as conn:
        assert conn.execute("SELECT rolconnlimit, rolconfig FROM pg_roles WHERE rolname = %s",
                            (majiang,)).fetchone() == (-1, None)


def test_a_unit_idle_in_a_transaction_holding_locks_is_ended_and_the_others_write(team: Team):
    majiang = _unique("mj")
    _create_login(team.server, majiang)
    team.ok("server", "grant", "马陆镇", majiang, "--idle-timeout", "2")
    jiangqiao = team.login(_unique("jq"), "江桥镇")
    clerk = team.connect(majiang)
    clerk.autocommit = False
    # psql's way of holding everyone up: lock the rows others write, then wait.
    clerk.execute("SELECT * FROM gongkai.assignments FOR UPDATE")
    clerk.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
    started = time.monotonic()
    team.ok("status", "62", "done", "--unit", "江桥镇", user=jiangqiao)
    assert time.monotonic() - started < 25  # the lock wait is 30 s: the server ended the session first
    with pytest.raises(psycopg.Error, match=r"idle-in-transaction timeout|terminating connection|closed"):
        clerk.execute("SELECT 1")
    clerk.close()


def test_only_the_ledgers_roles_may_connect(team: Team):
    stranger = _unique("stranger")
    _create_login(team.server, stranger)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        team.connect(stranger)
    assert "CONNECT" not in team.ok("check")


def test_a_unit_locks_only_its_own_rows(team: Team):
    """SELECT … FOR UPDATE takes only the rows the unit may change: another unit's share of the
    same task stays free for its own writes."""
    majiang = team.login(_unique("mj"), "马陆镇")
    jiangqiao = team.login(_unique("jq"), "江桥镇")
    clerk = team.connect(majiang)
    clerk.autocommit = False
    locked = clerk.execute("SELECT unit FROM gongkai.assignments FOR UPDATE").fetchall()
    assert {unit for (unit,) in locked} == {"马陆镇"}
    with team.connect(jiangqiao) as other:
        assert other.execute("""SELECT unit FROM gongkai.assignments WHERE unit = '江桥镇' FOR UPDATE NOWAIT""").fetchall()
    team.ok("status", "62", "done", "--unit", "江桥镇", user=jiangqiao)
    clerk.rollback()
    clerk.close()


def test_a_unit_session_idle_outside_a_transaction_cannot_keep_the_write_lock(team: Team):
    """pg_advisory_lock outside a transaction belongs to the session: the server ends the idle
    session (idle_session_timeout, granted with --idle-timeout) and the others' writes go on."""
    majiang = _unique("mj")
    _create_login(team.server, majiang)
    team.ok("server", "grant", "马陆镇", majiang, "--idle-timeout", "2")
    clerk = team.connect(majiang)
    clerk.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
    team.ok("status", "28", "doing")
    with pytest.raises(psycopg.Error, match=r"idle-session timeout|terminating connection|closed"):
        clerk.execute("SELECT 1")
    clerk.close()


def test_only_the_office_adds_edits_and_drops_tasks(team: Team):
    majiang = team.login(_unique("mj"), "马陆镇")
    office = team.login(_unique("gkb"), None)
    assert team.refused("task", "edit", "62", "--due", "2023-05-31", user=majiang).endswith(
        "这需要办公室账号；未写入任何内容。")
    team.refused("task", "drop", "62", user=majiang)
    team.refused("task", "key", "62", user=majiang)
    team.refused("task", "add", "内容", "--unit", "马陆镇", "--deadline", "6月底前", "--source", "通知", user=majiang)
    team.ok("task", "edit", "62", "--due", "2023-05-31", user=office)
    team.ok("task", "drop", "85", user=office)
    team.ok("undo", "--yes", user=office)
    team.ok("undo", "--yes", user=office)
    shown = json.loads(team.ok("show", "62", "--format", "json", user=majiang))
    assert shown["due"] == "2023-03-31" and "planned" not in shown
    # Through psql-like access the server itself refuses the unit's login.
    with team.connect(majiang) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE gongkai.tasks SET dropped_at = now() WHERE id = 62")
