"""The installed `gongkai` executable, run the way cron runs it: a subprocess with a
bare environment, UTC clock, no TTY, and a real database file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def run(executable: str, tmp_path: Path):
    db = tmp_path / "cron" / "gongkai.db"
    db.parent.mkdir()
    # What cron gives a job: almost nothing.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TZ": "UTC", "GONGKAI_DB": str(db),
           "GONGKAI_TODAY": "2023-04-01", "GONGKAI_USER": "cron"}

    def call(*args: str, input: str | None = None, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [executable, *args], input=input, capture_output=True, text=True,
            encoding="utf-8", env={**env, **(extra_env or {})}, cwd=tmp_path, timeout=60,
        )

    call.db = db
    call.with_env = lambda **extra: call(extra_env=extra)
    return call


def test_first_run_creates_the_database_and_lists_my_tasks(run):
    result = run("list", "--unit", "区财政局", "--direct", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [t["id"] for t in json.loads(result.stdout)] == [26, 28, 29, 30]
    assert run.db.exists()


def test_unit_completion_through_the_shell_protocol(run):
    run("init")
    result = run.with_env(_GONGKAI_COMPLETE="complete_bash", COMP_WORDS="gongkai list --unit 区财", COMP_CWORD="3")
    assert result.returncode == 0
    assert result.stdout.split() == ["区财政局"]
    result = run.with_env(_GONGKAI_COMPLETE="complete_bash", COMP_WORDS="gongkai due --unit 区大", COMP_CWORD="3")
    assert result.stdout.split() == ["区大数据中心"]


def test_due_table_in_a_pipe_is_plain_text(run):
    result = run("due", "--before", "2023-04-20")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert result.stdout.index("62") < result.stdout.index("40")
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_a_script_records_progress_and_reads_it_back(run):
    written = run("note", "40", "-", "--status", "doing", "--format", "json", input="由脚本写入\n")
    assert written.returncode == 0, written.stderr
    note = json.loads(written.stdout)
    assert note["text"] == "由脚本写入" and note["by"] == "cron" and note["at"].endswith("+08:00")
    assert run("status", "40", "done", "--quiet").stdout == ""
    shown = json.loads(run("show", "40", "--format", "json").stdout)
    assert shown["status"] == "done"
    assert [n["status"] for n in shown["notes"]] == ["doing", "done"]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("due", "--before", "soon"), 2, "soon"),
        (("show", "999"), 3, "999"),
        (("status", "40", "finished"), 2, "finished"),
    ],
)
def test_errors_are_one_chinese_line_on_stderr_with_the_documented_code(run, args, code, needle):
    result = run(*args)
    assert result.returncode == code
    assert result.stdout == ""
    assert result.stderr.startswith("错误：") and needle in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_file_that_is_not_a_database_is_exit_4(run):
    run.db.write_text("not sqlite " * 500, encoding="utf-8")
    result = run("list")
    assert result.returncode == 4 and "Traceback" not in result.stderr


def test_python_dash_m_works(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gongkai_cli", "--version"], capture_output=True, text=True,
                            env={**os.environ, "GONGKAI_DB": str(tmp_path / "x.db")})
    assert result.returncode == 0 and result.stdout.startswith("gongkai ")


def test_a_reader_that_stops_early_is_not_an_error(executable, run):
    run("init")
    process = subprocess.Popen([executable, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={"PATH": "/usr/bin:/bin", "GONGKAI_DB": str(run.db)})
    process.stdout.read(200)
    process.stdout.close()  # like `gongkai list | head -3`
    stderr = process.stderr.read().decode("utf-8")
    assert process.wait(timeout=60) == 0
    assert stderr == ""


def test_nightly_exports_from_cron(run, executable, tmp_path):
    target = tmp_path / "export" / "tasks.xlsx"
    target.parent.mkdir()
    written = run("export", "-o", str(target), "--quiet")
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and target.read_bytes().startswith(b"PK")
    piped = subprocess.run(
        [executable, "export", "-f", "xlsx"],
        capture_output=True, env={"PATH": "/usr/bin:/bin", "GONGKAI_DB": str(run.db), "TZ": "UTC"}, timeout=60,
    )
    assert piped.returncode == 0 and piped.stdout.startswith(b"PK")
    first, second = run("export", "-f", "ics"), run("export", "-f", "ics")
    assert first.returncode == 0 and first.stdout == second.stdout
    assert "DTSTAMP:" in first.stdout and "UID:gongkai-2023-40@gongkai" in first.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["list", "--unit", "x"], "list"),
        (["--db", "a.db", "--plan", "2023", "due"], "due"),
        (["--debug", "note", "40", "x"], "note"),
        (["--help"], None),
        ([], None),
        (["--db", "list"], None),  # "list" is the value of --db here
    ],
)
def test_the_invoked_command_is_found_past_root_options(args, expected):
    from gongkai_cli.cli import _invoked_command

    assert _invoked_command(args) == expected


def test_help_and_unknown_commands_still_see_every_command(run):
    listing = run("--help")
    assert listing.returncode == 0
    for name in ("list", "due", "remind", "note", "status", "import", "export", "undo", "check"):
        assert f" {name} " in listing.stdout
    typo = run("lst")
    assert typo.returncode == 2 and "list" in typo.stderr
    assert run("--plan", "2023", "show", "40", "--format", "json").returncode == 0
