"""Import discipline: a command loads only what it uses (measured, not timed).

`python -X importtime` lists every module a process imports; the heavy ones must
stay out of the paths scripts and cron call most."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def imported_modules(args: list[str], env: dict) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gongkai_cli", *args],
        capture_output=True, text=True, encoding="utf-8", env=env, timeout=60,
    )
    return _top_level_names(result)


def _top_level_names(result: subprocess.CompletedProcess) -> set[str]:
    assert result.returncode == 0, result.stderr[-2000:]
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return {name.split(".")[0] for name in names}


@pytest.fixture
def env(tmp_path) -> dict:
    environment = {**os.environ, "GONGKAI_DB": str(tmp_path / "g.db"), "GONGKAI_TODAY": "2023-04-01"}
    subprocess.run([sys.executable, "-m", "gongkai_cli", "init"], env=environment, check=True,
                   capture_output=True, timeout=60)
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
def test_script_paths_import_neither_rich_nor_sqlite_utils(env, args):
    modules = imported_modules(args, env)
    assert "gongkai_cli" in modules  # the measurement saw our own imports
    assert "rich" not in modules
    assert "sqlite_utils" not in modules


def test_dateutil_only_where_month_offsets_are_parsed(env):
    assert "dateutil" not in imported_modules(["list", "--format", "json"], env)
    assert "dateutil" in imported_modules(["due", "--within", "1m", "--format", "json"], env)


def test_a_table_does_import_rich(env):
    assert "rich" in imported_modules(["list", "--unit", "区财政局"], env)


HEAVY = ("pydantic", "rich", "sqlite_utils")


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
    """pydantic (what Typer 0.29 builds validators with), rich and sqlite_utils stay off the
    paths scripts, cron and people call most."""
    modules = imported_modules(args, env)
    assert "gongkai_cli" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_tab_completion_imports_no_heavy_module(env):
    completion = {**env, "_GONGKAI_COMPLETE": "complete_bash", "COMP_WORDS": "gongkai list --unit 区财",
                  "COMP_CWORD": "3"}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "gongkai_cli"], capture_output=True,
                            text=True, encoding="utf-8", env=completion, timeout=60)
    assert "区财政局" in result.stdout.split()
    modules = _top_level_names(result)
    assert "gongkai_cli" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_help_imports_no_rich(env):
    assert "rich" not in imported_modules(["list", "--help"], env)
