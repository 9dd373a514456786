"""Import discipline: a command loads only what it uses (measured, not timed).

`python -X importtime` lists every module a process imports; the heavy ones must
stay out of the paths scripts and cron call most."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from processes import in_process

pytestmark = pytest.mark.no_ledger


def imported_modules(args: list[str], env: dict) -> set[str]:
    return {name.split(".")[0] for name in imported_module_names(args, env)}


def imported_module_names(args: list[str], env: dict) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gongkai_cli", *args],
        check=False, capture_output=True, text=True, encoding="utf-8", env=env, timeout=60,
    )
    return _module_names(result)


def _module_names(result: subprocess.CompletedProcess) -> set[str]:
    assert result.returncode == 0, result.stderr[-2000:]
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def _top_level_names(result: subprocess.CompletedProcess) -> set[str]:
    return {name.split(".")[0] for name in _module_names(result)}


@pytest.fixture
def env(tmp_path) -> dict:
    environment = {**os.environ, "GONGKAI_DB": str(tmp_path / "g.db"), "GONGKAI_TODAY": "2023-04-01"}
    # The ledger is made in-process: only the measured command's own process must start fresh.
    assert in_process(environment)("init").returncode == 0
    return environment


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--unit", "区财政局", "--format", "json"],
        ["due", "--before", "2023-04-20", "--format", "csv"],
        ["show", "40", "--format", "json"],
        ["note", "40", "x", "--quiet"],
        ["status", "40", "--all", "doing", "--quiet"],
        ["remind", "--within", "7d"],
    ],
)
def test_script_paths_do_not_import_rich(env, args):
    modules = imported_modules(args, env)
    assert "gongkai_cli" in modules  # the measurement saw our own imports
    assert "rich" not in modules


def test_dateutil_only_where_month_offsets_are_parsed(env):
    assert "dateutil" not in imported_modules(["list", "--format", "json"], env)
    assert "dateutil" in imported_modules(["due", "--within", "1m", "--format", "json"], env)


def test_a_table_does_import_rich(env):
    assert "rich" in imported_modules(["list", "--unit", "区财政局"], env)


HEAVY = ("pydantic", "rich")


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--unit", "区财政局", "--format", "json"],
        ["list", "--unit", "区财政局", "--format", "csv"],
        ["note", "40", "x", "--quiet"],
        ["status", "40", "--all", "doing", "--quiet"],
        ["remind"],
        ["list", "--plan", "2023", "--format", "json"],
    ],
)
def test_hot_paths_import_no_heavy_module(env, args):
    """pydantic (what Typer 0.29 builds validators with) and rich stay off the paths scripts,
    cron and people call most."""
    modules = imported_modules(args, env)
    assert "gongkai_cli" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--unit", "区财政局", "--format", "json"],
        ["note", "40", "x", "--quiet"],
        ["show", "40"],
        ["check"],
    ],
)
def test_the_sqlite_path_imports_nothing_of_postgresql(env, args):
    """The server backend and its driver are for a postgresql:// URL only (issue 13)."""
    names = imported_module_names(args, env)
    assert "gongkai_cli.store.sqlite" in names  # the measurement saw the store
    assert not {name for name in names if name.split(".")[0] in ("psycopg", "psycopg_binary")}
    assert not {name for name in names if name.startswith("gongkai_cli.store.postgres")}


def test_tab_completion_imports_no_heavy_module(env):
    completion = {**env, "_GONGKAI_COMPLETE": "complete_bash", "COMP_WORDS": "gongkai list --unit 区财",
                  "COMP_CWORD": "3"}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "gongkai_cli"], check=False, capture_output=True,
                            text=True, encoding="utf-8", env=completion, timeout=60)
    assert "区财政局" in result.stdout.split()
    modules = _top_level_names(result)
    assert "gongkai_cli" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_beijing_time_needs_no_tz_database(env):
    """China has no daylight saving time: the default zone is a fixed offset, so commands
    load neither zoneinfo nor the tz database; another zone, named in GONGKAI_TZ, does."""
    for args in (["list", "--unit", "区财政局", "--format", "json"], ["note", "40", "x", "--quiet"]):
        assert "zoneinfo" not in imported_modules(args, env)
    assert "zoneinfo" in imported_modules(["note", "40", "x", "--quiet"], {**env, "GONGKAI_TZ": "Europe/Berlin"})


def test_help_imports_no_rich(env):
    assert "rich" not in imported_modules(["list", "--help"], env)



COMMAND_MODULES = "gongkai_cli.cli.commands."
# The group imports a command's module with importlib, which -X importtime does not report:
# the run itself lists, as it exits, the commands modules it holds.
LIST_COMMAND_MODULES = (
    "import atexit, sys\n"
    "from gongkai_cli.cli.app import main\n"
    f"atexit.register(lambda: print('commands:', *sorted(m for m in sys.modules if m.startswith({COMMAND_MODULES!r})),"
    " file=sys.stderr))\n"
    "sys.argv = ['gongkai', *sys.argv[1:]]\n"
    "main()\n"
)


def commands_modules(args: list[str], env: dict) -> tuple[int, set[str]]:
    result = subprocess.run([sys.executable, "-c", LIST_COMMAND_MODULES, *args], check=False, capture_output=True,
                            text=True, encoding="utf-8", env=env, timeout=60)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("commands:")]
    # commands.shared holds what every commands module uses; it comes with any of them.
    return result.returncode, set(line.split()[1:]) - {COMMAND_MODULES + "shared"}


@pytest.mark.parametrize(
    "args, module",
    [
        (["note", "40", "x", "--quiet"], "progress"),
        (["status", "28", "doing", "--quiet"], "progress"),
        (["assign", "40", "--unit", "区财政局"], "assignments"),
        (["list", "--unit", "区财政局", "--format", "json"], "queries"),
        (["remind"], "queries"),
        (["log", "--format", "json"], "history"),
        (["plans", "--format", "json"], "plans"),
        (["export", "--format", "json"], "outputs"),
        (["check"], "maintenance"),
        (["list", "--help"], "queries"),
    ],
)
def test_a_command_imports_only_the_commands_module_that_defines_it(env, args, module):
    assert commands_modules(args, env) == (0, {COMMAND_MODULES + module})


def test_tab_completion_of_an_option_imports_only_its_commands_module(env):
    completion = {**env, "_GONGKAI_COMPLETE": "complete_bash", "COMP_WORDS": "gongkai list --unit 区财",
                  "COMP_CWORD": "3"}
    assert commands_modules([], completion) == (0, {COMMAND_MODULES + "queries"})


def test_an_unknown_command_imports_no_commands_module(env):
    assert commands_modules(["lst"], env) == (2, set())


def test_the_version_imports_no_use_case(env):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "gongkai_cli", "--version"], check=False,
                            capture_output=True, text=True, encoding="utf-8", env=env, timeout=60)
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert not {name for name in imported if name.startswith(("gongkai_cli.usecases", "gongkai_cli.cli.commands"))}


def test_the_command_list_imports_every_commands_module(env):
    """Root help shows each command's first help line, which lives in its module."""
    code, loaded = commands_modules(["--help"], env)
    assert code == 0
    assert loaded == {COMMAND_MODULES + name for name in
                      ("plans", "queries", "outputs", "progress", "assignments", "history", "maintenance", "team",
                       "mailing", "edits")}
