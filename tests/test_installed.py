"""The installed `gongkai` executable, run the way cron runs it: a subprocess with a
bare environment, UTC clock, no TTY, and a real database file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postgres import is_server
from processes import cron_env, drain_terminal, without_notice


@pytest.fixture
def run(executable: str, tmp_path: Path, ledger_db: str, backend: str):
    # The file in a directory of its own, as a cron job's ledger; or the server's database.
    db: Path | str = tmp_path / "cron" / "gongkai.db" if backend == "sqlite" else ledger_db
    if isinstance(db, Path):
        db.parent.mkdir()
    # What cron gives a job: almost nothing.
    env = cron_env(tmp_path, Path(db), today="2023-04-01", user="cron") | {"GONGKAI_DB": str(db)}

    def call(*args: str, input: str | None = None, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [executable, *args], check=False, input=input, capture_output=True, text=True,
            encoding="utf-8", env={**env, **(extra_env or {})}, cwd=tmp_path, timeout=60,
        )

    call.db = db

    def with_env(**extra: str) -> subprocess.CompletedProcess:
        return call(extra_env=extra)

    call.with_env = with_env
    return call


@pytest.mark.sqlite_only("the database file created on first run")
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
    written = run("note", "40", "-", "--status", "doing", "--unit", "区经委", "--format", "json", input="由脚本写入\n")
    assert written.returncode == 0, written.stderr
    note = json.loads(written.stdout)
    assert note["text"] == "由脚本写入" and note["by"] == "cron" and note["at"].endswith("+08:00")
    assert run("status", "40", "--all", "done", "--quiet").stdout == ""
    shown = json.loads(run("show", "40", "--format", "json").stdout)
    assert shown["status"] == "done"
    assert [n["status"] for n in shown["notes"]] == ["done"]  # --all: a note on the task as a whole
    mine = {a["unit"]: a for a in shown["assignments"]}["区经委"]
    assert [n["status"] for n in mine["notes"]] == ["doing"]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("due", "--before", "soon"), 2, "soon"),
        (("show", "999"), 3, "999"),
        (("status", "40", "--all", "finished"), 2, "finished"),
    ],
)
def test_errors_are_one_chinese_line_on_stderr_with_the_documented_code(run, args, code, needle):
    result = run(*args)
    assert result.returncode == code
    assert result.stdout == ""
    # On the first run, after the line that says the ledger was made (docs/cron.md).
    error = without_notice(result.stderr)
    assert error.startswith("错误：") and needle in error
    assert error.count("\n") == 1


@pytest.mark.sqlite_only("a file that is not a database")
def test_a_file_that_is_not_a_database_is_exit_4(run):
    run.db.write_text("not sqlite " * 500, encoding="utf-8")
    result = run("list")
    assert result.returncode == 4 and "Traceback" not in result.stderr


@pytest.mark.no_ledger
def test_python_dash_m_works(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gongkai_cli", "--version"], check=False, capture_output=True,
                            text=True, env={**os.environ, "GONGKAI_DB": str(tmp_path / "x.db")})
    assert result.returncode == 0 and result.stdout.startswith("gongkai ")


def python_probe(code: str) -> str:
    """What `code` prints, run by this Python in a process of its own (so nothing is imported yet)."""
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.no_ledger
def test_the_script_freezes_its_start_up_and_collects_the_commands_garbage():
    """The installed script starts in __main__, which leaves the imported modules out of every
    collection (most of a short run's objects) but keeps collection on for the command itself."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="gongkai")
    assert script.value == "gongkai_cli.__main__:main"
    # Both ways a run goes: through the app, and the quick path's own bodies (cli/quick.py).
    for argv, patched in ((["gongkai", "units"], "gongkai_cli.cli.app:run"),
                          (["gongkai", "list", "-f", "json"], "gongkai_cli.cli.frequent:list_tasks")):
        module, name = patched.split(":")
        probe = (
            "import gc, importlib, sys\n"
            f"target = importlib.import_module({module!r})\n"
            "seen = {}\n"
            f"setattr(target, {name!r}, lambda *args, **kwargs: seen.update(enabled=gc.isenabled(),"
            " frozen=gc.get_freeze_count()) or 0)\n"
            "import gongkai_cli.__main__ as entry\n"
            f"sys.argv = {argv!r}\n"
            "try:\n"
            "    entry.main()\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(seen['enabled'], seen['frozen'] > 5000)\n"
        )
        assert python_probe(probe).split() == ["True", "True"], argv


def test_a_reader_that_stops_early_is_not_an_error(executable, run):
    run("init")
    process = subprocess.Popen([executable, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={"PATH": "/usr/bin:/bin", "GONGKAI_DB": str(run.db)})
    process.stdout.read(200)
    process.stdout.close()  # like `gongkai list | head -3`
    stderr = process.stderr.read().decode("utf-8")
    assert process.wait(timeout=60) == 0
    assert stderr == ""


@pytest.mark.slow  # every export format of the whole plan, each a process: over a second
def test_nightly_exports_from_cron(run, executable, tmp_path):
    target = tmp_path / "export" / "tasks.xlsx"
    target.parent.mkdir()
    written = run("export", "-o", str(target), "--quiet")
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and target.read_bytes().startswith(b"PK")
    piped = subprocess.run(
        [executable, "export", "-f", "xlsx"],
        check=False, capture_output=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "GONGKAI_DB": str(run.db), "TZ": "UTC"},
    )
    assert piped.returncode == 0 and piped.stdout.startswith(b"PK")
    first, second = run("export", "-f", "ics"), run("export", "-f", "ics")
    assert first.returncode == 0 and first.stdout == second.stdout
    assert "DTSTAMP:" in first.stdout and "UID:gongkai-2023-40@gongkai" in first.stdout


@pytest.mark.no_ledger
def test_commands_are_built_only_when_asked_for():
    """Typer builds every command it holds on each run; a run adds only the module of the one named."""
    probe = (
        "import sys\n"
        "from gongkai_cli.cli.app import add_commands\n"
        "def loaded():\n"
        "    return sorted(name.rsplit('.', 1)[1] for name in sys.modules if name.startswith('gongkai_cli.cli.commands.'))\n"
        "add_commands(['--plan', 'status', 'list', '--unit', '区财政局'])\n"
        "print(loaded())\n"
        "add_commands(['-h'])\n"
        "print(len(loaded()))\n"
    )
    from gongkai_cli.cli.app import COMMANDS

    # `shared` comes with every module of commands; `status` above is a value of --plan.
    assert python_probe(probe).split("\n")[:2] == ["['queries', 'shared']", str(len(set(COMMANDS.values())) + 1)]


def test_help_and_unknown_commands_still_see_every_command(run):
    listing = run("--help")
    assert listing.returncode == 0
    for name in ("list", "due", "remind", "note", "status", "import", "export", "undo", "check"):
        assert f" {name} " in listing.stdout
    typo = run("lst")
    assert typo.returncode == 2 and "list" in typo.stderr
    assert run("--plan", "2023", "show", "40", "--format", "json").returncode == 0


# -- help and framework errors in Chinese (issue 14) ------------------------------------------


def _display_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@pytest.mark.no_ledger
@pytest.mark.parametrize("args", [["list", "--help"], ["--help"], ["note", "-h"], ["status", "-h"], ["due", "-h"]])
def test_help_at_80_columns_is_chinese_whole_and_without_type_metavars(run, args):
    result = run.with_env(COLUMNS="80") if not args else run(*args, extra_env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for english in ("<bool>", "<str>", "<list", "<path>", "Usage", "Options", "Commands", "Arguments",
                    "Show this message", "env var", "default:", "…", "{ID}", "TEXT"):
        assert english not in text, english
    assert "用法：" in text and "选项：" in text
    assert all(_display_width(line) <= 80 for line in text.splitlines()), text
    assert "显示本帮助并退出" in text


@pytest.mark.no_ledger
def test_list_help_shows_placeholders_and_every_status_word(run):
    text = run("list", "--help", extra_env={"COLUMNS": "80"}).stdout
    assert "--unit 单位" in text and "--status 状态" in text and "--plan 计划" in text and "--db 文件或地址" in text
    flat = "".join(text.split())
    for word in ("未开始", "进行中", "已完成", "受阻", "已取消", "cancelled"):
        assert word in flat


@pytest.mark.no_ledger
def test_root_help_lists_every_command_and_exit_code(run):
    text = run("--help", extra_env={"COLUMNS": "80"}).stdout
    assert "命令：" in text
    for code in range(8):
        assert f"  {code} " in text
    assert "5 remind --fail-on-overdue" in text


@pytest.mark.no_ledger
def test_gongkai_alone_prints_the_root_help(run):
    helped = run("-h")
    alone = run()
    assert (alone.returncode, alone.stderr) == (0, "")
    assert alone.stdout == helped.stdout and "命令：" in alone.stdout


@pytest.mark.no_ledger
@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals exist only on POSIX systems")
def test_gongkai_alone_at_a_terminal_prints_the_root_help(executable, tmp_path):
    import pty

    controller, terminal = pty.openpty()
    process = subprocess.Popen([executable], stdin=terminal, stdout=terminal, stderr=subprocess.PIPE,
                               env={"PATH": "/usr/bin:/bin", "GONGKAI_DB": str(tmp_path / "g.db")})
    os.close(terminal)
    shown = drain_terminal(controller)
    stderr = process.stderr.read()
    process.stderr.close()
    assert (process.wait(timeout=60), stderr) == (0, b"")
    assert "命令：".encode() in shown


@pytest.mark.no_ledger
def test_unknown_option_is_answered_in_chinese(run):
    result = run("list", "--bogus")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "错误：没有“--bogus”这个选项（用法见 gongkai list -h）。\n"


@pytest.mark.no_ledger
def test_a_mistyped_command_suggests_the_right_one_in_chinese(run):
    result = run("lst")
    assert result.returncode == 2
    assert result.stderr.startswith("错误：没有“lst”这个命令，是不是想用 list")
    assert result.stderr.count("\n") == 1


@pytest.mark.no_ledger
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["show"], "错误：缺少参数“序号”（用法见 gongkai show -h）。"),
        (["list", "--format"], "错误：选项 --format 后面缺少值（用法见 gongkai list -h）。"),
        (["import", "x.csv", "--year", "abc"], "错误：无效的年度“abc”，应为四位年份，例如 2024。"),
        (["show", "40", "41"], "错误：多余的参数：41（用法见 gongkai show -h）。"),
        (["note", "40", "x", "--quiet=yes"], "错误：选项 --quiet 不带值（用法见 gongkai note -h）。"),
        (["--bogus", "list"], "错误：没有“--bogus”这个选项（用法见 gongkai -h）。"),
    ],
)
def test_framework_errors_have_the_one_line_chinese_shape(run, args, expected):
    result = run(*args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", expected + "\n")


def test_plan_and_db_work_after_the_command_name(run, other_ledger):
    assert run("list", "--plan", "2023", "--unit", "区财政局", "--format", "json").returncode == 0
    assert json.loads(run("show", "40", "--plan", "2023", "--format", "json").stdout)["plan"] == "2023"
    made = run("init", "--db", other_ledger)
    assert made.returncode == 0 and "2023（91 项）" in made.stdout
    assert run("note", "40", "x", "--db", other_ledger, "--quiet").returncode == 0
    assert len(json.loads(run("show", "40", "--db", other_ledger, "-f", "json").stdout)["notes"]) == 1
    assert json.loads(run("show", "40", "-f", "json").stdout)["notes"] == []
    missing = run("export", "--plan", "2099")
    assert missing.returncode == 3 and "2099" in missing.stderr


def test_command_line_beats_environment_and_two_different_values_are_refused(run):
    assert run("list", "--plan", "2023", "-f", "json", extra_env={"GONGKAI_PLAN": "2099"}).returncode == 0
    assert run("--plan", "2023", "list", "--plan", "2023", "-f", "json").returncode == 0
    both = run("--plan", "2024", "list", "--plan", "2023")
    assert both.returncode == 2
    assert both.stderr.startswith("错误：--plan 在命令名前后给了两个不同的值")


def test_gongkai_plan_selects_a_plan_to_work_on_but_does_not_name_an_import(run, tmp_path):
    run("init")
    table = tmp_path / "tasks_2028.csv"
    table.write_text("id,group,content,units,deadline\n1,组,二〇二八年的任务,区财政局,全年\n", encoding="utf-8")
    result = run("import", str(table), extra_env={"GONGKAI_PLAN": "2023"})
    assert result.returncode == 0, result.stderr
    assert "已导入计划“2028”（2028 年" in result.stdout
    listed = {p["name"]: (p["year"], p["tasks"]) for p in json.loads(run("plans", "-f", "json").stdout)}
    assert listed == {"2023": (2023, 91), "2028": (2028, 1)}
    assert json.loads(run("show", "1", "--plan", "2023", "-f", "json").stdout)["content"] != "二〇二八年的任务"
    # On the command line, before or after `import`, --plan still names the plan.
    for args in (["--plan", "甲", "import", str(table)], ["import", str(table), "--plan", "乙"]):
        named = run(*args, extra_env={"GONGKAI_PLAN": "2023"})
        assert named.returncode == 0, named.stderr
    assert {p["name"] for p in json.loads(run("plans", "-f", "json").stdout)} == {"2023", "2028", "甲", "乙"}


def test_tab_completion_sees_db_after_the_command_name(run, tmp_path, other_ledger):
    run("init", "--db", other_ledger)
    result = run(extra_env={"_GONGKAI_COMPLETE": "complete_bash", "COMP_WORDS": f"gongkai list --db {other_ledger} --unit 区财",
                            "COMP_CWORD": "5", "GONGKAI_DB": str(tmp_path / "nowhere" / "x.db")})
    assert result.returncode == 0
    assert "区财政局" in result.stdout.split()


@pytest.mark.no_ledger
def test_completion_install_message_is_chinese(run, tmp_path):
    result = run("--install-completion", extra_env={"SHELL": "/bin/bash", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": ""})
    assert result.returncode in (0, 2), result.stderr
    said = result.stdout + result.stderr
    assert "installed in" not in said and "will take effect" not in said
    assert said.startswith(("已为 ", "错误：无法为")) and "补全" in said


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("序号,进展,状态\r\n28,自查完成,完成\r\n84,专题听取汇报,\r\n", "gbk"),
        ("id,text,status\n28,自查完成,done\n84,专题听取汇报,\n", "utf-8-sig"),
        ("序号\t内容\t状态\r\n28\t自查完成\t完成\r\n84\t专题听取汇报\t\r\n", "gb18030"),
    ],
    ids=["excel-gbk", "excel-utf8-bom", "wps-tabs-gb18030"],
)
def test_a_batch_saved_by_excel_or_wps_is_recorded(run, tmp_path, data, encoding):
    batch = tmp_path / "进展.csv"
    batch.write_bytes(data.encode(encoding))
    result = run("note", "--from", str(batch), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [(n["text"], n["status"]) for n in json.loads(result.stdout)] == [("自查完成", "done"), ("专题听取汇报", None)]


def test_a_batch_in_neither_utf8_nor_gb18030_is_refused_with_nothing_written(run, tmp_path):
    batch = tmp_path / "进展.csv"
    batch.write_bytes("id,text\n40,自查完成\n".encode("utf-16"))
    result = run("note", "--from", str(batch))
    assert result.returncode == 2
    assert without_notice(result.stderr) == f"错误：“{batch}”既不是 UTF-8 也不是 GBK/GB18030 编码，请另存为 UTF-8 后再导入。\n"
    assert json.loads(run("show", "40", "--format", "json").stdout)["notes"] == []


@pytest.mark.sqlite_only("the unit file beside the database file")
def test_a_unit_file_saved_by_excel_on_chinese_windows_is_used(run):
    run("init")
    (run.db.parent / "units.csv").write_bytes(
        "单位,类型,别名,成员\r\n区财政局,部门,财政,\r\n".encode("gbk")
    )
    result = run("list", "--unit", "财政", "--direct", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [t["id"] for t in json.loads(result.stdout)] == [26, 28, 29, 30]


# Every command that works on a plan, with --db and --plan after its name; what it printed must
# come from the other ledger's plan 2024 (one task, 序号 1), never from the default ledger's 2023.
_AFTER_THE_NAME = [
    (["list", "-f", "json"], lambda out: [(t["plan"], t["id"]) for t in json.loads(out)] == [("2024", 1)]),
    (["due", "--before", "2024-12-31", "-f", "json"], lambda out: [t["plan"] for t in json.loads(out)] == ["2024"]),
    (["remind", "-f", "json"], lambda out: json.loads(out)["plan"] == "2024"),
    (["summary", "-f", "json"], lambda out: (json.loads(out)["plan"], json.loads(out)["total"]) == ("2024", 1)),
    (["report"], lambda out: "- 计划：2024" in out),
    (["show", "1", "-f", "json"], lambda out: json.loads(out)["plan"] == "2024"),
    (["units", "-f", "json"], lambda out: sum(u["tasks"] for u in json.loads(out)) == 1),
    (["note", "1", "进展"], lambda out: out.startswith("计划 2024 第 1 项")),
    (["status", "1", "doing"], lambda out: out.startswith("计划 2024 第 1 项")),
    (["assign", "1", "--unit", "区民政局"], lambda out: out.startswith("计划 2024 第 1 项")),
    (["unassign", "1", "--unit", "区民政局"], lambda out: out.startswith("计划 2024 第 1 项")),
    (["export", "-f", "json"], lambda out: [t["plan"] for t in json.loads(out)] == ["2024"]),
    (["log", "-f", "json"], lambda out: {e["plan"] for e in json.loads(out)} == {"2024"}),
    (["undo", "--yes"], lambda out: "计划 2024 第 1 项：已撤销" in out),
]


@pytest.mark.slow  # a process for every command: over a second
def test_plan_and_db_after_the_name_of_every_command_that_uses_them(run, tmp_path, other_ledger):
    run("init")
    other = other_ledger
    table = tmp_path / "tasks_2024.csv"
    table.write_text("id,group,content,units,deadline\n1,组,二〇二四年的任务,区财政局,全年\n", encoding="utf-8")
    assert run("import", str(table), "--db", str(other), "--plan", "2024").returncode == 0
    for args, printed_from_2024 in _AFTER_THE_NAME:
        result = run(*args, "--db", str(other), "--plan", "2024", extra_env={"GONGKAI_PLAN": "2023"})
        assert result.returncode == 0, (args, result.stderr)
        assert printed_from_2024(result.stdout), (args, result.stdout)
    assert [p["name"] for p in json.loads(run("plans", "--db", str(other), "-f", "json").stdout)] == ["2024"]
    copy = tmp_path / "copy.db"
    # A server's ledger is backed up by `copy` (and pg_dump); backup and restore are a file's.
    kept = (["copy", "--to", str(copy)],) if is_server(other) else (["backup", str(copy)], ["restore", str(copy), "--yes"])
    for args in (kept[0], ["check"], *kept[1:]):
        result = run(*args, "--db", str(other))
        assert result.returncode == 0, (args, result.stderr)
    assert run("log", "-f", "json").stdout.count('"action": "note"') == 0  # the default ledger saw nothing


def test_a_batch_line_and_a_single_note_refuse_a_collective_alike(run, tmp_path):
    """The installed executable, the 7th column (unit) naming 各街镇 on a task it is expanded on."""
    run("init")
    (tmp_path / "f.csv").write_text("id,text,status,count,by,key,unit\n62,x,,,,,各街镇\n", encoding="utf-8")
    single, batch = run("note", "62", "x", "--unit", "各街镇"), run("note", "--from", "f.csv")
    assert (single.returncode, batch.returncode) == (2, 2)
    message = single.stderr.removeprefix("错误：").removesuffix("未做任何更改。\n")
    assert "是 12 个单位的集合" in message
    assert batch.stderr == f"错误：“f.csv”第 2 行：{message}整批未写入。\n"
