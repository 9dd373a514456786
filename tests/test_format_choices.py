"""Each command's --format accepts exactly the formats its help lists, and names them when refusing another."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
import typer.main

from gongkai_cli.cli.app import add_commands, app

EVERY_FORMAT = ("table", "json", "csv", "tsv", "markdown", "xlsx", "ics", "vdir")

# Arguments that make each command do its work, so that only the format decides the outcome.
COMMANDS = {
    "plans": [],
    "list": [],
    "due": ["--before", "2023-12-31"],
    "remind": ["--within", "1m"],
    "summary": [],
    "show": ["40"],
    "units": [],
    "log": [],
    "note": ["40", "试点完成"],
    "status": ["40", "doing", "--all"],
    "assign": ["40", "--unit", "区财政局"],
    "unassign": ["40", "--unit", "各相关单位"],
    "export": [],
}


def commands() -> dict[str, Any]:
    # The commands as the framework builds them: all of them, as for help.
    add_commands([])
    group = typer.main.get_command(app)
    context = typer.Context(group)
    return {name: group.get_command(context, name) for name in group.list_commands(context)}


def format_help(command: str) -> str:
    (option,) = [p for p in commands()[command].params if "--format" in p.opts]
    return option.help


def listed(command: str) -> list[str]:
    words = re.findall(r"[a-z]+", format_help(command))
    return list(dict.fromkeys(word for word in words if word in EVERY_FORMAT))


@pytest.mark.no_ledger
def test_every_command_with_a_format_is_checked():
    with_format = {name for name, command in commands().items()
                   if any("--format" in param.opts for param in command.params)}
    assert with_format == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_format_choice_is_what_the_help_lists(gk, tmp_path, command):
    formats = listed(command)
    assert formats, format_help(command)
    gk("init")
    for fmt in EVERY_FORMAT:
        target = ["-o", str(tmp_path / f"out-{fmt}")] if command == "export" else []
        result = gk(command, *COMMANDS[command], *target, "--format", fmt)
        if fmt in formats:
            assert result.exit_code == 0, (command, fmt, result.stderr)
            if command in ("assign", "unassign"):
                gk("undo", "--yes")  # the next format makes the same change again
        else:
            assert result.exit_code == 2, (command, fmt, result.stdout)
            assert result.stdout == ""
            assert f"“{fmt}”，可选：{'、'.join(formats)}。" in result.stderr
