"""cli/quick.py answers the plainest lines of list, due, note and bash's Tab without the app: the
same bytes, exit codes and ledger as the app gives, and only the options the app's commands have."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import executable as _executable  # noqa: F401  (the fixture's function, for its lookup)
from processes import in_process

pytestmark = pytest.mark.no_ledger

# The app itself, as the script ran it before the quick path: guards, then the framework.
APP = [sys.executable, "-c", "import sys; from gongkai_cli.cli.app import main; sys.argv[0] = 'gongkai'; main()"]

# Lines the quick path answers: listings in every format it takes, the options of each command,
# the options before the command, --opt=value, errors the bodies raise, and notes that write.
QUICK_LINES = [
    ["list", "--unit", "区财政局", "--format", "json"],
    ["list", "-u", "区财政局", "-u", "马陆镇", "-f", "csv"],
    ["list", "--unit=区财政局", "--format=tsv", "--direct"],
    ["list", "--status", "todo", "-s", "受阻", "--lead", "-f", "json", "--unit", "区财政局"],
    ["list", "--group", "财政", "--search", "预算", "--overdue", "-f", "json"],
    ["list", "-g", "政策", "-q", "解读", "-f", "csv", "--plan", "2023"],
    ["--plan", "2023", "--unit", "区经委", "list", "--format", "json"],
    ["list", "--unit", "没有这个单位", "--format", "json"],
    ["list", "--status", "乱写", "-f", "json"],
    ["list", "-f", "json", "--plan", "2099"],
    ["due", "--before", "2023-04-20", "--format", "tsv"],
    ["due", "--after", "4月1日", "--before", "6月底", "--all", "-f", "json"],
    ["due", "--within", "2w", "--overdue", "--unit", "马陆镇", "--lead", "--direct", "-f", "csv"],
    ["due", "--before", "明年某天", "-f", "json"],
    ["note", "40", "试点完成", "--unit", "区经委"],
    ["note", "40", "x", "--quiet"],
    ["note", "40", "完成了", "-u", "区教育局", "-s", "done", "-f", "json"],
    ["note", "60", "列席一次", "--unit", "区财政局", "--count", "1", "--by", "张三", "--key", "k-1"],
    ["--unit", "区经委", "note", "40", "hello", "-f", "json"],
    ["note", "999", "x"],
    ["note", "40", "", "-q"],
    ["note", "40", "x", "--unit", "区财政局"],
    ["note", "40", "x", "-f", "yaml"],
    ["note", "abc", "x"],
]
# Lines left to the app: help, a table, forms and options the quick path does not read.
APP_LINES = [
    ["list", "--unit", "区财政局"],
    ["list", "-f", "markdown"],
    ["list", "-h"],
    ["--debug", "list", "-f", "json"],
    ["list", "-qf", "json"],
    ["list", "--", "-f", "json"],
    ["list", "-f", "json", "-f", "csv"],
    ["list", "-f", "json", "extra"],
    ["list", "--db", "a.db", "--format", "json", "--db", "b.db"],
    ["--db", "a.db", "list", "--db", "a.db", "-f", "json"],
    ["list", "--unit", "-x", "-f", "json"],
    ["list", "-f=json"],
    ["list", "--direct=yes", "-f", "json"],
    ["note", "40"],
    ["note", "40", "a", "b"],
    ["note", "--from", "notes.csv"],
    ["note", "40", "x", "-u", "区经委", "-u", "区教育局"],
    ["note", "-1", "x"],
    ["status", "40", "done"],
    ["show", "40", "--format", "json"],
    [],
]


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A ledger with some progress in it, written once and copied for each side."""
    path = tmp_path / "seed.db"
    env = {**os.environ, "GONGKAI_DB": str(path), "GONGKAI_TODAY": "2023-06-09"}
    run = in_process(env)
    assert run("init").returncode == 0
    assert run("note", "40", "开始", "--unit", "区经委", "-s", "doing").returncode == 0
    assert run("status", "28", "done").returncode == 0
    return path


def _run(command: list[str], args: list[str], database: Path, extra: dict[str, str] | None = None):
    env = {**os.environ, "GONGKAI_DB": str(database), "GONGKAI_TODAY": "2023-06-09",
           "GONGKAI_NOW": "2023-06-09T02:00:00Z", "GONGKAI_USER": "测试员", **(extra or {})}
    env.pop("GONGKAI_UNIT", None)
    env.pop("GONGKAI_PLAN", None)
    return subprocess.run([*command, *args], capture_output=True, env=env, cwd=database.parent, timeout=60,
                          check=False)


def _contents(database: Path) -> list[tuple[str, list[tuple]]]:
    with sqlite3.connect(database) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(table, connection.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()) for table in tables]


def _both(executable: str, ledger: Path, tmp_path: Path, args: list[str], extra: dict[str, str] | None = None):
    sides = []
    for name, command in (("quick", [executable]), ("app", APP)):
        database = tmp_path / name / "gongkai.db"
        database.parent.mkdir(exist_ok=True)
        shutil.copyfile(ledger, database)
        result = _run(command, args, database, extra)
        sides.append((result.returncode, result.stdout.decode(), result.stderr.decode().replace(str(database.parent), "DIR"),
                      _contents(database)))
    return sides


@pytest.mark.parametrize("args", QUICK_LINES, ids=" ".join)
def test_the_quick_path_answers_as_the_app_does(executable, ledger, tmp_path, args):
    from gongkai_cli.cli.quick import prepare

    assert prepare(args) is not None
    quick, app = _both(executable, ledger, tmp_path, args)
    assert quick[:3] == app[:3]
    assert quick[3] == app[3], "the two ledgers differ after the command"


@pytest.mark.parametrize("args", APP_LINES, ids=lambda args: " ".join(args) or "(nothing)")
def test_every_other_line_is_left_to_the_app(args):
    from gongkai_cli.cli.quick import prepare

    assert prepare(args) is None


def test_a_new_ledger_is_announced_alike(executable, tmp_path):
    outcomes = []
    for name, command in (("quick", [executable]), ("app", APP)):
        database = tmp_path / name / "gongkai.db"
        database.parent.mkdir()
        result = _run(command, ["list", "--unit", "区财政局", "-f", "json"], database)
        outcomes.append((result.returncode, result.stdout.decode(), result.stderr.decode().replace(str(database), "DB")))
    assert outcomes[0] == outcomes[1]
    assert "注意：已新建台账“DB”" in outcomes[0][2]


@pytest.mark.parametrize("extra", [{"GONGKAI_UNIT": "区经委"}, {"GONGKAI_PLAN": "2023"}, {"GONGKAI_UNIT": "区经委 区教育局"}])
def test_the_environment_is_read_alike(executable, ledger, tmp_path, extra):
    quick, app = _both(executable, ledger, tmp_path, ["note", "40", "环境变量", "-f", "json"], extra)
    assert quick == app


def test_a_closed_or_full_stdout_ends_alike(executable, ledger, tmp_path):
    for args in (["list", "-f", "json"], ["note", "40", "写了", "-f", "json"]):
        outcomes = []
        for name, command in (("quick", [executable]), ("app", APP)):
            database = tmp_path / name / "gongkai.db"
            database.parent.mkdir(exist_ok=True)
            shutil.copyfile(ledger, database)
            with open("/dev/full", "wb") as full:
                result = subprocess.run([*command, *args], stdout=full, stderr=subprocess.PIPE, timeout=60, check=False,
                                        env={**os.environ, "GONGKAI_DB": str(database), "GONGKAI_NOW": "2023-06-09T02:00:00Z"})
            outcomes.append((result.returncode, result.stderr))
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][0] in (2, 7)


@pytest.mark.parametrize("words, current", [
    ("gongkai list --unit 区财", 3),
    ("gongkai due -f json -u 马", 5),
    ("gongkai note 40 --unit ", 4),
    ("gongkai --db gongkai.db list --unit 区", 5),
    ("gongkai list --unit", 3),
])
def test_bash_tab_on_a_unit_answers_as_the_app_does(executable, ledger, tmp_path, words, current):
    extra = {"_GONGKAI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(current)}
    quick, app = _both(executable, ledger, tmp_path, [], extra)
    assert quick == app
    assert quick[0] == 0 and quick[1].strip()


def test_each_option_read_here_is_the_apps_own():
    """Every spelling the quick path reads names an option of the app's command that takes a value
    (or is a flag) as here, and a list where the quick path keeps a list."""
    import typer.main

    from gongkai_cli.cli.app import add_commands, app
    from gongkai_cli.cli.quick import COMMANDS, ROOT

    add_commands([])
    group = typer.main.get_command(app)

    def spellings(command) -> dict[str, object]:
        return {name: param for param in command.params for name in (*param.opts, *param.secondary_opts)}

    def check(grammar, command) -> None:
        params = spellings(command)
        for spelling, key in grammar.values.items():
            param = params[spelling]
            assert not param.is_flag, spelling
            assert param.multiple == (key in grammar.repeatable), spelling
        for spelling in grammar.flags:
            assert params[spelling].is_flag, spelling
        arguments = [param for param in command.params if param.param_type_name == "argument"]
        assert len(arguments) == grammar.positionals

    check(ROOT._replace(repeatable=frozenset({"unit"})), group)
    for name, grammar in COMMANDS.items():
        check(grammar, group.commands[name])
