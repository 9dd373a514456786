"""The test server itself: a real PostgreSQL, and a database of its own for each test."""

from __future__ import annotations

import os
import subprocess

import pytest

from postgres import SCRIPT, exports

pytestmark = pytest.mark.postgres


def test_each_test_gets_an_empty_database_of_its_own(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE mine (x int)")
        assert conn.execute("SELECT current_user").fetchone() == ("gongkai",)


def test_a_second_test_does_not_see_the_first_ones_table(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('mine')").fetchone() == (None,)


@pytest.mark.slow
def test_the_script_starts_and_stops_a_cluster_of_its_own():
    started = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, check=True, timeout=900)
    variables = exports(started.stdout)
    directory = variables["GONGKAI_TEST_PG_DIR"]
    try:
        ready = subprocess.run(["psql", variables["GONGKAI_TEST_PG_URL"], "-Atc", "SELECT 1"], capture_output=True,
                               text=True, check=False, timeout=60)
        assert ready.stdout.strip() == "1", ready.stderr
    finally:
        subprocess.run([str(SCRIPT), "stop", directory], check=True, timeout=120)
    assert not os.path.exists(directory)


def test_stop_leaves_a_directory_it_did_not_make_alone(tmp_path):
    (tmp_path / "keep").write_text("x")
    stopped = subprocess.run([str(SCRIPT), "stop", str(tmp_path)], capture_output=True, text=True, check=False,
                             timeout=60)
    assert stopped.returncode != 0
    assert "left alone" in stopped.stderr
    assert (tmp_path / "keep").exists()


def test_a_failed_start_leaves_nothing_and_runs_nothing(tmp_path):
    """Whatever step fails, the half-made cluster goes, and `run` does not run its command."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("initdb", "pg_ctl"):
        (fake / name).write_text("#!/bin/sh\necho 'simulated failure' >&2\nexit 1\n")
        (fake / name).chmod(0o755)
    clusters = tmp_path / "tmp"
    clusters.mkdir()
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "TMPDIR": str(clusters)}
    started = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, check=False, env=env, timeout=60)
    assert started.returncode != 0
    assert started.stdout == ""
    ran = subprocess.run([str(SCRIPT), "run", "echo", "ran"], capture_output=True, text=True, check=False, env=env,
                         timeout=60)
    assert ran.returncode != 0
    assert "ran" not in ran.stdout
    assert list(clusters.iterdir()) == []
