"""The domain's definitions: the unit resolver every path asks, and the exit codes the help
and docs/usage.md are built from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gongkai_cli.cli.app import EXIT_CODES_HELP
from gongkai_cli.domain.errors import ExitCode, NotFound, NotPermitted, StoreError, UsageError, markdown_table
from gongkai_cli.domain.units import Collective, Unassigned, Unit, UnitDirectory, UnknownUnit, resolve_unit

DOCS = Path(__file__).resolve().parent.parent / "docs"

DIRECTORY = UnitDirectory([
    Unit("各街镇", "group", members=("马陆镇", "江桥镇")),
    Unit("马陆镇", "town"), Unit("江桥镇", "town"),
    Unit("区财政局", "department", aliases=("财政局",)),
    Unit("各相关部门", "group"),
], "test")


def test_a_name_resolves_to_the_assigned_unit_through_its_aliases_and_spaces():
    assert resolve_unit(DIRECTORY, ["区财政局", "马陆镇"], " 财政 局", ()) == "区财政局"


def test_refusals_come_in_order_collective_unknown_unassigned():
    collective = resolve_unit(DIRECTORY, ["马陆镇", "江桥镇"], "各街镇", ())
    assert isinstance(collective, Collective) and (collective.size, collective.assigned) == (2, ("马陆镇", "江桥镇"))
    unknown = resolve_unit(DIRECTORY, ["马陆镇"], "区财政", ())
    assert isinstance(unknown, UnknownUnit) and unknown.close == ("区财政局", "财政局")
    for typed, assigned, known in (("区税务局", ["马陆镇"], ("区税务局",)), ("各街镇", ["区财政局"], ())):
        unassigned = resolve_unit(DIRECTORY, assigned, typed, known)
        assert isinstance(unassigned, Unassigned) and unassigned.units == tuple(assigned)


def test_collective_and_vague_are_said_once():
    assert DIRECTORY.collective("各街镇") and not DIRECTORY.vague("各街镇")
    assert DIRECTORY.vague("各相关部门") and not DIRECTORY.collective("各相关部门")
    assert not DIRECTORY.collective("马陆镇") and not DIRECTORY.vague("未知")


def test_errors_carry_the_enums_codes():
    assert [error.exit_code for error in (UsageError, NotFound, StoreError, NotPermitted)] == [
        ExitCode.USAGE, ExitCode.NOT_FOUND, ExitCode.STORE, ExitCode.NOT_PERMITTED]
    assert list(ExitCode) == list(range(len(ExitCode)))


def test_the_usage_pages_exit_code_table_is_the_enums():
    """Regenerate with `python -m gongkai_cli.domain.errors` when a code changes."""
    assert markdown_table() in (DOCS / "usage.md").read_text(encoding="utf-8")
    printed = subprocess.run([sys.executable, "-m", "gongkai_cli.domain.errors"], check=True,
                             capture_output=True, text=True, encoding="utf-8").stdout
    assert printed == markdown_table()


def test_the_help_lists_every_code_with_its_meaning():
    for code in ExitCode:
        assert f"  {code.value} {code.summary}\n" in EXIT_CODES_HELP
