"""The plainest command lines of the most frequent commands, answered without the framework.

Importing Typer executes more than twice the instructions of the bare interpreter before any
command runs (docs/benchmarks.md): more than a json listing, a note or a Tab needs in all. So a
command line is answered here when it is one of these shapes, every word of it understood:

    gongkai [--db D] [--plan P] [--unit U] list|due [its options] --format json|csv|tsv
    gongkai [--db D] [--plan P] [--unit U] note 序号 说明 [its options]
    Tab (bash) after `list`, `due` or `note`'s --unit

Anything else goes to the app (cli/app.py), which answers it the one way it always has: help,
a table, an option or a form of one not listed below (`-qf`, `--`), a value that looks like an
option, a repeated option the app would settle, `--debug`, any other shell. What is answered
here runs frequent.py's bodies, the app's own, with the app's messages and exit codes;
tests/test_quick.py runs each shape both ways and compares every byte, and checks each option
below against the app's.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..domain.errors import ExitCode, GongkaiError
from ..domain.text import os_reason
from .streams import OutputError, internal_error, output_failed, say

if TYPE_CHECKING:
    from types import ModuleType


class Grammar(NamedTuple):
    values: dict[str, str]  # each option that takes a value, by every spelling: its parameter
    flags: dict[str, str]  # each flag, by every spelling: its parameter
    repeatable: frozenset[str]  # the parameters given as lists
    positionals: int


ROOT = Grammar({"--db": "db", "--plan": "plan", "--unit": "unit"}, {}, frozenset(), 0)
_AFTER = {"--db": "db_after", "--plan": "plan_after", "--format": "fmt", "-f": "fmt"}
COMMANDS = {
    "list": Grammar(
        {**_AFTER, "--unit": "units", "-u": "units", "--status": "status", "-s": "status", "--group": "group",
         "-g": "group", "--search": "search", "-q": "search"},
        {"--direct": "direct", "--lead": "lead", "--overdue": "overdue", "--key": "key_tasks"},
        frozenset({"units", "status"}), 0,
    ),
    "due": Grammar(
        {**_AFTER, "--before": "before", "--after": "after", "--within": "within", "--unit": "units", "-u": "units"},
        {"--overdue": "overdue", "--direct": "direct", "--lead": "lead", "--all": "include_closed"},
        frozenset({"units"}), 0,
    ),
    "note": Grammar(
        {**_AFTER, "--by": "by", "--status": "status", "-s": "status", "--count": "count", "-c": "count",
         "--key": "key", "--unit": "units", "-u": "units"},
        {"--quiet": "quiet", "-q": "quiet"},
        frozenset({"units"}), 2,
    ),
}
# What a listing is answered here in: the formats that need no table layout.
LISTING_FORMATS = ("json", "csv", "tsv")
_DEFAULTS = {"units": None, "status": None, "group": None, "search": None, "direct": False, "lead": False,
             "overdue": False, "before": None, "after": None, "within": None, "include_closed": False,
             "key_tasks": False, "by": None, "count": None, "key": None, "quiet": False, "fmt": "table", "db_after": None,
             "plan_after": None}


class Line(NamedTuple):
    """A command line understood: the options before the command, the command, and its own."""

    root: dict[str, str]
    command: str
    options: dict[str, Any]
    positionals: list[str]


def prepare(argv: Sequence[str]) -> Callable[[], int] | None:
    """The command line `argv` as a run that answers it here, or None when the app must."""
    if os.environ.get("_GONGKAI_COMPLETE"):
        return _completion()
    line = parse(argv)
    if line is None or not _environment_plain():
        return None
    options = line.options
    if line.command == "note" and len(options["units"] or ()) > 1:
        return None  # the app words a repeated --unit
    if line.command != "note" and options["fmt"] not in LISTING_FORMATS:
        return None
    # The bodies, and the use cases under them, are imported only once a line is known to be
    # answered here (and before the script freezes what it has imported): every other line pays
    # for nothing of this module but its parsing.
    bodies = _bodies()
    if line.command == "note":
        return lambda: _answer(line, lambda opener: bodies.add_note(
            opener, task_id=line.positionals[0], text=line.positionals[1], by=options["by"], status=options["status"],
            count=options["count"], key=options["key"], unit=(options["units"] or [None])[0], quiet=options["quiet"],
            fmt=bodies.render_format(options["fmt"], confirmation=True)))
    if line.command == "list":
        keys: tuple[str, ...] = ("units", "direct", "lead", "status", "group", "search", "overdue", "fmt")
        return lambda: _answer(line, lambda opener: bodies.list_tasks(
            opener, key=options["key_tasks"], **{key: options[key] for key in keys}))
    keys = ("before", "after", "within", "overdue", "units", "direct", "lead", "include_closed", "fmt")
    return lambda: _answer(line, lambda opener: bodies.due_tasks(opener, **{key: options[key] for key in keys}))


def _bodies() -> ModuleType:
    from . import frequent

    return frequent


def parse(argv: Sequence[str], *, partial: bool = False) -> Line | None:
    """`argv` as one of this module's shapes, or None. A `partial` line (the words before the one
    Tab completes) may still lack its positionals."""
    words = list(argv)
    root: dict[str, Any] = {}
    index = _options(words, 0, ROOT, root, stop_at_positional=True)
    if index is None or index >= len(words) or words[index] not in COMMANDS:
        return None
    command, grammar = words[index], COMMANDS[words[index]]
    options: dict[str, Any] = {}
    positionals: list[str] = []
    if _options(words, index + 1, grammar, options, positionals=positionals) is None:
        return None
    if len(positionals) > grammar.positionals or (len(positionals) < grammar.positionals and not partial):
        return None
    # Given both before and after the command, --db and --plan are the app's to reconcile.
    if ("db" in root and "db_after" in options) or ("plan" in root and "plan_after" in options):
        return None
    return Line(root, command, {**_DEFAULTS, **options}, positionals)


def _options(words: list[str], index: int, grammar: Grammar, into: dict[str, Any], *,
             positionals: list[str] | None = None, stop_at_positional: bool = False) -> int | None:
    """Read options from `words[index:]` into `into`; the index it stopped at, or None for a
    word this module leaves to the app."""
    while index < len(words):
        word = words[index]
        if word == "-" or not word.startswith("-"):
            if stop_at_positional:
                return index
            if positionals is None:
                return None
            positionals.append(word)
            index += 1
            continue
        name, equals, attached = word.partition("=")
        value: Any
        if name in grammar.flags and not equals:
            key, value = grammar.flags[name], True
            index += 1
        elif name in grammar.values and (equals or index + 1 < len(words)):
            if equals:
                if not name.startswith("--"):
                    return None  # -f=json: the app reads the value as "=json"
                value, index = attached, index + 1
            else:
                value, index = words[index + 1], index + 2
                if value.startswith("-"):
                    return None
            key = grammar.values[name]
        else:
            return None
        if key in grammar.repeatable:
            into.setdefault(key, []).append(value)
        elif key in into:
            return None  # the app takes the last of a repeated option
        else:
            into[key] = value
    return index


def _environment_plain() -> bool:
    # The app reads GONGKAI_UNIT as a list that splits at white space; more than one word is its
    # to refuse.
    return len(os.environ.get("GONGKAI_UNIT", "").split()) <= 1


def _opener(line: Line, state: dict[str, Any]) -> Callable[..., Any]:
    from ..usecases.settings import from_environment

    def opener(**how: bool) -> Any:
        db = line.options["db_after"] if line.options["db_after"] is not None else line.root.get("db")
        plan = line.options["plan_after"] if line.options["plan_after"] is not None else line.root.get("plan")
        unit = line.root.get("unit")
        settings = from_environment(db, plan, unit, unit_option="unit" in line.root)
        return _bodies().open_session(settings, lambda commits: state.__setitem__("commits", commits),
                                     lambda database: state.__setitem__("created", database), **how)

    return opener


def _answer(line: Line, body: Callable[[Callable[..., Any]], None]) -> int:
    """Run `body` with the command's ledger as the app's commands run, and say how it ended the
    way the app does (cli/app.py's `_reported` and `run`)."""
    state: dict[str, Any] = {}
    try:
        try:
            body(_opener(line, state))
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()
    except GongkaiError as err:
        return _failed(err.message, err.exit_code)
    except (OutputError, BrokenPipeError) as err:
        message, code = output_failed(err, state.get("commits") or [], None, state.get("created"))
        return _failed(message, code) if message else code
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        message, code = internal_error(err)
        return _failed(message, code)
    return ExitCode.SUCCESS


def _failed(message: str, code: int) -> int:
    say(f"错误：{message}", err=True)
    return code


def _completion() -> Callable[[], int] | None:
    """bash's Tab on a unit's name after `list`, `due` or `note`'s --unit; None for anything else."""
    if os.environ.get("_GONGKAI_COMPLETE") != "complete_bash" or not _environment_plain():
        return None
    import shlex  # only Tab splits words; every other line is spared its import

    try:
        words = shlex.split(os.environ.get("COMP_WORDS", ""))
        current = int(os.environ.get("COMP_CWORD", ""))
    except ValueError:
        return None
    if not 1 <= current <= len(words):
        return None
    before, incomplete = words[1:current], (words[current] if current < len(words) else "")
    if len(before) < 2 or before[-1] not in ("--unit", "-u") or incomplete.startswith("-"):
        return None
    line = parse(before[:-1], partial=True)
    if line is None:
        return None
    _bodies()
    return lambda: _complete(line, incomplete)


def _complete(line: Line, incomplete: str) -> int:
    names = _bodies().unit_names(_opener(line, {}), incomplete)
    try:
        sys.stdout.write("\n".join(names) + "\n")
        sys.stdout.flush()
    except (OutputError, BrokenPipeError) as err:
        if err.errno == errno.EPIPE:
            return ExitCode.SUCCESS
        return _failed(f"无法写入标准输出（{os_reason(err)}）。", ExitCode.USAGE)
    return ExitCode.SUCCESS
