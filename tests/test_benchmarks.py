"""The benchmark tools: the city generator builds a consistent ledger, and run.py runs.

No timings are asserted here; the machine the tests run on says nothing about them.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gongkai_cli.domain.statuses import Status
from gongkai_cli.inputs.unit_file import load_directory
from gongkai_cli.ledger import Ledger

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
DISTRICTS, YEARS, TASKS, NOTES = 2, 2, 20, 500


def make_city(out: Path, *, seed: int = 1) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "make_city.py"), str(out), "--districts", str(DISTRICTS),
         "--years", str(YEARS), "--tasks-per-plan", str(TASKS), "--notes", str(NOTES), "--seed", str(seed)],
        check=False, capture_output=True, text=True, timeout=120,
    )


# Building a city and running the harness takes most of the suite's time; CI runs it, `-m "not slow"` skips it.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only("the benchmark city is a SQLite file its generator writes")]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city") / "city.db"
    result = make_city(out)
    assert result.returncode == 0, result.stderr
    return out


def plan_contents(db: Path) -> dict[str, list[tuple]]:
    """Every plan's tasks and notes as plain values, for comparing two databases."""
    with Ledger.open(db, bootstrap=False) as ledger:
        names = [plan.name for plan in ledger.plans()]
    contents = {}
    for name in names:
        with Ledger.open(db, plan=name, bootstrap=False) as ledger:
            contents[name] = [
                (task.id, task.group, task.content, task.units, task.deadline, task.status,
                 [(note.at, note.by, note.text, note.status, note.count) for note in task.notes])
                for task in ledger.export_tasks().tasks
            ]
    return contents


def test_city_has_the_requested_plans_tasks_and_notes(city: Path) -> None:
    contents = plan_contents(city)
    assert sorted(contents) == sorted(
        f"{district}{year}" for district in ("嘉定区", "黄浦区") for year in (2022, 2023)
    )
    assert all(len(tasks) == TASKS for tasks in contents.values())
    assert sum(len(notes) for tasks in contents.values() for *_, notes in tasks) == NOTES


def test_every_task_has_units_led_by_its_district_and_a_due_date(city: Path) -> None:
    directory = load_directory(city.parent / "units.csv")
    with Ledger.open(city, bootstrap=False) as ledger:
        plans = ledger.plans()
    for plan in plans:
        district = plan.name[: -len(str(plan.year))]
        with Ledger.open(city, plan=plan.name, bootstrap=False) as ledger:
            tasks = ledger.export_tasks().tasks
        for task in tasks:
            assert 1 <= len(task.units) <= 6
            assert task.units[0].startswith(district)
            assert directory.get(task.units[0]).kind == "department"
            # Every name is a known unit under its own spelling: import folded the aliases.
            assert all(directory.get(unit) and directory.canonical(unit) == unit for unit in task.units)
            assert task.due is not None, task.deadline


def test_unit_file_has_a_city_of_units_and_groups(city: Path) -> None:
    directory = load_directory(city.parent / "units.csv")
    for district in ("嘉定区", "黄浦区"):
        towns = directory.get(f"{district}各街镇").members
        departments = directory.get(f"{district}政府各部门").members
        assert 10 <= len(towns) <= 14
        assert 100 <= len(departments) <= 120
        assert all(directory.get(town).kind == "town" for town in towns)
        assert directory.canonical(f"{district}大数据中心") in departments
    assert directory.get("各相关部门").members == ()


def test_a_town_sees_the_tasks_given_to_its_districts_towns(city: Path) -> None:
    directory = load_directory(city.parent / "units.csv")
    with Ledger.open(city, bootstrap=False) as ledger:
        plans = [plan.name for plan in ledger.plans()]
    checked = 0
    for name in plans:
        group = f"{name[:-4]}各街镇"
        with Ledger.open(city, plan=name, bootstrap=False) as ledger:
            through_group = {task.id for task in ledger.list_tasks() if group in task.units}
            for town in directory.get(group).members:
                mine = ledger.list_tasks(units=(town,))
                expected = through_group | {task.id for task in ledger.list_tasks(units=(town,), direct=True)}
                assert {task.id for task in mine} == expected
                assert all(task.via == group for task in mine if town not in task.units)
                checked += sum(1 for task in mine if task.via == group)
    assert checked > 0, "no task was given to 各街镇; the generator should make that common"


def test_statuses_follow_the_notes_written_in_the_plan_year(city: Path) -> None:
    for plan, tasks in plan_contents(city).items():
        for *_, status, notes in tasks:
            changes = [note_status for _, _, _, note_status, _ in notes if note_status is not None]
            assert status == (changes[-1] if changes else Status.TODO)
            assert all(at.startswith(plan[-4:]) and at.endswith("+08:00") for at, *_ in notes)


def test_city_passes_integrity_and_gongkai_check(city: Path, executable: str) -> None:
    conn = sqlite3.connect(city)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    result = subprocess.run([executable, "--db", str(city), "check"], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_same_seed_same_city_other_seed_other_city(city: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again" / "city.db", tmp_path / "other" / "city.db"
    for path, seed in ((again, 1), (other, 2)):
        path.parent.mkdir()
        assert make_city(path, seed=seed).returncode == 0
    assert plan_contents(again) == plan_contents(city)
    assert (again.parent / "units.csv").read_bytes() == (city.parent / "units.csv").read_bytes()
    assert plan_contents(other) != plan_contents(city)


def test_generator_refuses_to_overwrite(city: Path) -> None:
    result = make_city(city)
    assert result.returncode != 0
    assert "already exists" in result.stderr


def test_run_prints_a_markdown_table_per_section(city: Path, executable: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--city", str(city), "--runs", "1", "--quick"],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for section in ("(s)", "(a)", "(b)", "(c)", "(d)"):
        assert f"### {section}" in out
    assert f"SQLite {sqlite3.sqlite_version}" in out
    sections: dict[str, list[str]] = {}
    for part in out.split("### ")[1:]:
        sections.setdefault(part[:3], []).extend(line for line in part.splitlines() if line.startswith("| `"))
    # start-up commands; 1 batch; 14 reads × 2 plans, in-process and whole process; 1 import
    assert len(sections["(a)"]) >= 3 and len(sections["(b)"]) == 1 and len(sections["(d)"]) == 1
    assert len(sections["(s)"]) == 4  # json listing, note --quiet, the 48-row table, Tab completion
    assert "floor: `python -c \"import sqlite3, json\"`" in out
    assert len(sections["(c)"]) == 56
    rows = [row for part in sections.values() for row in part]
    assert all(line.rstrip(" |").endswith(("✅", "❌")) for line in rows)


@pytest.mark.postgres
def test_run_compares_the_city_on_a_server_with_the_sqlite_city(city: Path, executable: str, pg_url: str) -> None:
    """--city-pg copies the city into the empty database, then runs section (p) only."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--city", str(city), "--city-pg", pg_url, "--runs", "1"],
        check=False, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "`gongkai copy --to URL` of the city" in out
    assert out.count("### (p)") == 2 and "### (c)" not in out
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    # 19 reads × 2 plans, in-process and whole process
    assert len(rows) == 76
    # `copy` carries the city's units.csv into the server's ledger, so reads agree; a row that
    # differs (or is refused on the server) would say so.
    assert all(row.rstrip(" |").endswith(("yes", "**no**", "✅", "❌")) for row in rows)
    assert any(row.rstrip(" |").endswith("yes") for row in rows)
