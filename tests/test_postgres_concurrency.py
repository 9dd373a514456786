"""Sixty unit roles writing at once on a server (issue 13): sixty login roles, each granted its own
unit, each runs the installed executable fifty times (notes and status changes on its own unit's
assignments, all of them on the same 25 tasks), while the office's login imports a plan; every
write is stored under its unit, no writer sees an error, and `check` finds nothing.

The scenario is benchmarks/writers.py's, which reports its throughput. Slow (3,000 processes):
out of the quick subset. Run with -s to see the throughput measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import writers  # noqa: E402

WRITERS = 60
WRITES = 50  # per unit: a note and a status change on each of 25 of its assignments


def test_sixty_unit_roles_and_an_import_lose_nothing(executable: str, tmp_path: Path, pg_url: str):
    scenario = writers.Scenario(pg_url, tmp_path, writers=WRITERS, writes=WRITES, program=executable)
    outcome = scenario.prepare()
    with psycopg.connect(pg_url) as conn:
        notes_before, events_before = conn.execute(
            "SELECT (SELECT count(*) FROM gongkai.notes), (SELECT count(*) FROM gongkai.events)"
        ).fetchone()

    scenario.write(outcome)

    assert outcome.failures == []
    with psycopg.connect(pg_url) as conn:
        notes, events = conn.execute(
            "SELECT (SELECT count(*) FROM gongkai.notes), (SELECT count(*) FROM gongkai.events)"
        ).fetchone()
        # A status change is a note too; the import is one event.
        assert notes - notes_before == WRITERS * WRITES
        assert events - events_before == WRITERS * WRITES + 1
        per_unit = dict(conn.execute(
            """SELECT a.unit, count(*) FROM gongkai.notes n JOIN gongkai.assignments a ON a.pk = n.assignment
               GROUP BY a.unit"""
        ).fetchall())
        assert per_unit == dict.fromkeys(outcome.units, WRITES)
        # Recorded as the login's unit, whatever GONGKAI_USER said.
        recorders = dict(conn.execute(
            """SELECT a.unit, array_agg(DISTINCT n."by") FROM gongkai.notes n
               JOIN gongkai.assignments a ON a.pk = n.assignment GROUP BY a.unit"""
        ).fetchall())
        assert all(len(names) == 1 and unit in names[0] for unit, names in recorders.items())
        statuses = dict(conn.execute(
            """SELECT a.status, count(*) FROM gongkai.assignments a JOIN gongkai.tasks t ON t.pk = a.task
               WHERE t.plan = '2023' GROUP BY a.status"""
        ).fetchall())
        # Each unit's 25 status changes alternate doing, done, doing… over its 25 assignments.
        assert statuses == {"doing": WRITERS * 13, "done": WRITERS * 12}
        assert conn.execute("SELECT count(*) FROM gongkai.tasks WHERE plan = '2024'").fetchone()[0] > 0
    checked = scenario.run("check")
    assert (checked.returncode, checked.stderr) == (0, "")
    print(f"\n{WRITERS} unit logins x {WRITES} writes + 1 office import: {outcome.elapsed:.1f} s, "
          f"{outcome.throughput:.1f} writes/s")
