"""Every example whose output the docs show is run against the installed `gongkai`.

A page's examples are ```console blocks: lines starting with `$ ` are commands, the
lines after them are what the command prints (stdout and stderr together). A line
that is only `⋯` stands for any number of lines, so a page can show the head and
the tail of a long table. The blocks of one page run in order against one fresh
database, so a page can record a note and then show it. HTML comments set the scene
without showing it: `<!-- env: GONGKAI_TODAY=2023-04-14 -->` sets variables for the
blocks that follow, `<!-- run: gongkai note 40 "x" -->` runs a command unseen ($FIXTURES names tests/fixtures).

When output changes on purpose, refresh the pages and read the diff:

    python tests/test_docs.py --update            # every page
    python tests/test_docs.py --update README.md  # one page
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ELLIPSIS = "⋯"
_COMMENT = re.compile(r"<!--\s*(env|run):\s*(.*?)\s*-->")
# What every example runs with: a bare, cron-like environment and a fixed width, so the
# pages show what a pipe or a mail gets. Pages fix "today" and the clock themselves.
BASE_ENV = {"TZ": "UTC", "GONGKAI_USER": "张三", "COLUMNS": "100", "LANG": "C.UTF-8"}


@dataclass
class Command:
    text: str
    expected: list[str]
    line: int  # 1-based line of the `$ ` in the page


@dataclass
class Step:
    """A hidden command, a change of environment, or a shown block of commands."""

    env: dict[str, str] = field(default_factory=dict)
    hidden: str | None = None
    block: list[Command] = field(default_factory=list)
    span: tuple[int, int] = (0, 0)  # 0-based [first, last) lines of the block's body


def parse(page: Path) -> list[Step]:
    lines = page.read_text(encoding="utf-8").split("\n")
    steps: list[Step] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        for kind, value in _COMMENT.findall(line):
            if kind == "env":
                steps.append(Step(env=dict(item.split("=", 1) for item in shlex.split(value))))
            else:
                steps.append(Step(hidden=value))
        if line.strip() == "```console":
            start = index + 1
            end = start
            while lines[end].strip() != "```":
                end += 1
            steps.append(Step(block=_commands(lines[start:end], start), span=(start, end)))
            index = end
        index += 1
    return steps


def _commands(body: list[str], offset: int) -> list[Command]:
    commands: list[Command] = []
    for number, line in enumerate(body):
        if line.startswith("$ "):
            commands.append(Command(line[2:], [], offset + number + 1))
        elif commands:
            commands[-1].expected.append(line)
    return commands


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; `⋯` swallows any run of lines (none included)."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == ELLIPSIS:
        return any(matches(rest, actual[skip:]) for skip in range(len(actual) + 1))
    return bool(actual) and actual[0] == head and matches(rest, actual[1:])


def _trimmed(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


class Session:
    """One page's world: a temporary directory, its database and the environment so far."""

    def __init__(self, bindir: Path, workdir: Path):
        self.workdir = workdir
        self.env = {
            **BASE_ENV,
            "PATH": f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(workdir),
            # Relative, so messages that name the database read the same on every machine.
            "GONGKAI_DB": "gongkai.db",
            # Real office files for the import examples; a page copies what it needs.
            "FIXTURES": str(ROOT / "tests" / "fixtures"),
        }

    def run(self, command: str) -> list[str]:
        result = subprocess.run(
            ["bash", "-c", command], check=False, cwd=self.workdir, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, encoding="utf-8", timeout=120,
        )
        return _trimmed(result.stdout)


def run_page(page: Path, bindir: Path, workdir: Path):
    """Yield (command, actual output) for every shown command of the page, in order."""
    session = Session(bindir, workdir)
    for step in parse(page):
        session.env.update(step.env)
        if step.hidden is not None:
            session.run(step.hidden)
        for command in step.block:
            yield command, session.run(command.text)


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# Slow: a page runs every example through bash and the installed executable, 10 to 20 processes.
@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if parse(p) and any(s.block for s in parse(p))], ids=_page_id)
def test_examples_print_what_the_page_shows(page: Path, executable: str, tmp_path: Path):
    failures = []
    for command, actual in run_page(page, Path(executable).parent, tmp_path):
        expected = _trimmed("\n".join(command.expected))
        if not matches(expected, actual):
            shown = "\n".join(actual)
            failures.append(f"{_page_id(page)}:{command.line}: $ {command.text}\n--- printed:\n{shown}")
    assert not failures, "\n\n".join(failures) + "\n\n(run `python tests/test_docs.py --update` if the change is intended)"


@pytest.mark.no_ledger
@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_page_fixes_the_day_before_its_first_example(page: Path):
    """An example run on the real date would pass today and fail next month."""
    fixed: dict[str, str] = {}
    for step in parse(page):
        fixed.update(step.env)
        if step.block:
            assert {"GONGKAI_TODAY", "GONGKAI_NOW"} & set(fixed), f"{_page_id(page)}: set GONGKAI_TODAY in an env comment"


@pytest.mark.no_ledger
def test_the_readme_stays_short_and_links_every_docs_page():
    """Issue 14: the README is the front page (about 200 lines, at most about 250); the manual is docs/."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert [page.name for page in sorted((ROOT / "docs").glob("*.md")) if f"(docs/{page.name}" not in readme] == []


@pytest.mark.no_ledger
def test_the_environment_table_names_every_variable_the_program_reads():
    """A variable only the code knows (GONGKAI_BUSY_TIMEOUT was one) is a setting no operator finds."""
    read = set()
    for source in (ROOT / "src").rglob("*.py"):
        # _GONGKAI_COMPLETE is the shell completion protocol, set by the completion script itself.
        read |= set(re.findall(r"(?<![\w])GONGKAI_[A-Z_]+", source.read_text(encoding="utf-8")))
    usage = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    table = usage.split("## 数据库与环境变量", 1)[1].split("\n## ", 1)[0]
    assert sorted(name for name in read if f"`{name}" not in table) == []


def _refreshed(expected: list[str], actual: list[str]) -> list[str]:
    """New expected lines: the actual output, keeping a `⋯` elision where the page had one."""
    if ELLIPSIS not in expected:
        return actual
    cut = expected.index(ELLIPSIS)
    tail = len(expected) - cut - 1
    if cut + tail >= len(actual):
        return actual
    return [*actual[:cut], ELLIPSIS, *(actual[len(actual) - tail:] if tail else [])]


def update(page: Path, bindir: Path) -> bool:
    lines = page.read_text(encoding="utf-8").split("\n")
    with tempfile.TemporaryDirectory() as workdir:
        outputs = {command.line: actual for command, actual in run_page(page, bindir, Path(workdir))}
    steps = [step for step in parse(page) if step.block]
    # Rewrite from the bottom so earlier line numbers stay valid.
    for step in reversed(steps):
        body: list[str] = []
        for command in step.block:
            body.append(f"$ {command.text}")
            body += _refreshed(_trimmed("\n".join(command.expected)), outputs[command.line])
        start, end = step.span
        lines[start:end] = body
    text = "\n".join(lines)
    changed = text != page.read_text(encoding="utf-8")
    page.write_text(text, encoding="utf-8")
    return changed


if __name__ == "__main__":
    if sys.argv[1:2] != ["--update"]:
        sys.exit(__doc__)
    gongkai = shutil.which("gongkai", path=str(Path(sys.executable).parent))
    if gongkai is None:
        sys.exit("gongkai is not installed next to this Python")
    chosen = [ROOT / name for name in sys.argv[2:]] or PAGES
    for page in chosen:
        if update(page, Path(gongkai).parent):
            print(f"updated {page.relative_to(ROOT)}")
