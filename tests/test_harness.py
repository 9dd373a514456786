"""The suite's own machinery: LibreOffice conversions that survive a loaded machine (a stand-in
soffice that fails the ways the real one does), and the one summary line that says the
team-mode tests did not run here, instead of a skip line for each."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import libreoffice
from libreoffice import convert

pytestmark = pytest.mark.no_ledger

TESTS = Path(__file__).resolve().parent

# Each run appends "<start time> <profile>" to `calls` and does what the next word of
# `outcomes` says: fail (exit 1, as soffice's start-up failure), nothing (exit 0 and no file,
# its other one), hang (a child like soffice.bin, then no answer), ok (writes the file).
FAKE_SOFFICE = """#!{python}
import pathlib, subprocess, sys, time
here = pathlib.Path(__file__).parent
calls = here / "calls"
done = len(calls.read_text().splitlines()) if calls.exists() else 0
with calls.open("a") as log:
    log.write(f"{{time.time()}} {{sys.argv[1]}}\\n")
outcome = (here / "outcomes").read_text().split()[done]
if outcome == "fail":
    print("simulated start-up failure")
    sys.exit(1)
if outcome == "hang":
    child = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (here / "child").write_text(str(child.pid))
    time.sleep(60)
if outcome == "ok":
    args = sys.argv
    outdir = pathlib.Path(args[args.index("--outdir") + 1])
    target = outdir / (pathlib.Path(args[-1]).stem + "." + args[args.index("--convert-to") + 1].split(":")[0])
    target.write_text("converted")
"""


@pytest.fixture
def soffice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stand-in first on PATH; call it with the outcomes of its runs, get back its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "soffice"
    script.write_text(FAKE_SOFFICE.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def outcomes(*words: str) -> Path:
        (bin_dir / "outcomes").write_text(" ".join(words))
        return bin_dir

    return outcomes


def calls(bin_dir: Path) -> list[tuple[float, str]]:
    lines = (bin_dir / "calls").read_text().splitlines()
    return [(float(line.split(" ", 1)[0]), line.split(" ", 1)[1]) for line in lines]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "表.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("first", ["fail", "nothing"])
def test_a_failed_start_is_tried_once_more_on_a_fresh_profile(soffice, source, tmp_path, first):
    bin_dir = soffice(first, "ok")
    assert convert(source, "xlsx", tmp_path).read_text() == "converted"
    made = calls(bin_dir)
    assert len(made) == 2
    profiles = [profile for _, profile in made]
    assert all(profile.startswith(f"-env:UserInstallation={tmp_path.as_uri()}/lo-profile-") for profile in profiles)
    assert profiles[0] != profiles[1]
    assert not list(tmp_path.glob("lo-profile-*"))


def test_two_failures_fail_the_test_with_what_soffice_said(soffice, source, tmp_path):
    bin_dir = soffice("fail", "nothing", "ok")
    with pytest.raises(pytest.fail.Exception) as failed:
        convert(source, "xlsx", tmp_path)
    assert "exit 1: simulated start-up failure" in str(failed.value)
    assert "exit 0, but no 表.xlsx was written" in str(failed.value)
    assert len(calls(bin_dir)) == 2


def test_a_file_left_from_before_is_not_taken_for_the_conversion(soffice, source, tmp_path):
    soffice("nothing", "nothing")
    (tmp_path / "表.xlsx").write_text("stale")
    with pytest.raises(pytest.fail.Exception, match=r"no 表\.xlsx was written"):
        convert(source, "xlsx", tmp_path)


@pytest.mark.slow  # waits out a timeout
def test_a_run_that_hangs_is_ended_with_its_children_and_tried_again(soffice, source, tmp_path, monkeypatch):
    monkeypatch.setattr(libreoffice, "TIMEOUT", 1)
    bin_dir = soffice("hang", "ok")
    assert convert(source, "xlsx", tmp_path).read_text() == "converted"
    child = int((bin_dir / "child").read_text())
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def alive(pid: int) -> bool:
    """Running or sleeping: neither gone nor a zombie waiting for its new parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


HOLD_THE_LOCK = """
import sys, time
sys.path.insert(0, sys.argv[1])
from libreoffice import one_soffice_at_a_time
with one_soffice_at_a_time():
    print("held", flush=True)
    time.sleep(1)
    released = time.time()
print(released, flush=True)
"""


@pytest.mark.slow  # waits for the other process's second
def test_conversions_in_other_processes_take_turns(soffice, source, tmp_path):
    bin_dir = soffice("ok")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(TESTS)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        convert(source, "xlsx", tmp_path)
        released = float(holder.stdout.readline())
    finally:
        holder.wait(timeout=60)
    ((started, _),) = calls(bin_dir)
    assert started >= released


# Stands in for a machine where the extra was never installed, in the workers too.
NO_DRIVER = 'raise ModuleNotFoundError("No module named \'psycopg\'", name="psycopg")\n'


@pytest.mark.slow  # a pytest run of its own, with workers
def test_without_psycopg_the_team_mode_tests_are_one_summary_line(tmp_path):
    hidden = tmp_path / "hidden" / "psycopg"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text(NO_DRIVER)
    env = {**os.environ, "PYTHONPATH": str(hidden.parent)}
    selected = ["tests/test_postgres_server.py", "tests/test_postgres_backend.py::test_anything_else_is_a_file"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *selected, "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "run")],
        cwd=TESTS.parent, env=env, capture_output=True, text=True, check=False, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    said = [line for line in lines if "PostgreSQL (team-mode) tests did not run" in line]
    # The module's five, and the other test's run on the postgres backend.
    assert said == ["6 PostgreSQL (team-mode) tests did not run: psycopg cannot be imported (No module named 'psycopg');"
                    " pip install '.[test]' installs it"]
    assert not [line for line in lines if "SKIPPED" in line or "skipped" in line]
    assert " 1 passed" in lines[-1]
