"""What a user sees from the installed executable: plan order, report files, tables and
help at 80 columns, and the formats each command accepts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from processes import without_notice
from test_installed import run  # noqa: F401  (the fixture: the executable as cron runs it)


def _three_plans(run, tmp_path: Path) -> None:
    header = "id,group,content,units,deadline\n"
    (tmp_path / "p2024.csv").write_text(header + "1,组,二〇二四年的任务,区财政局,全年\n", encoding="utf-8")
    (tmp_path / "s.csv").write_text(header + "1,组,二〇二五年的任务,区财政局,全年\n", encoding="utf-8")
    for args in (("init",), ("import", "p2024.csv"), ("import", "s.csv", "--plan", "s2025", "--year", "2025")):
        result = run(*args)
        assert result.returncode == 0, result.stderr


def test_plans_lists_the_default_plan_first_then_the_newest(run, tmp_path):
    _three_plans(run, tmp_path)
    listed = json.loads(run("plans", "-f", "json").stdout)
    assert [(p["name"], p["default"]) for p in listed] == [("2023", "current_year"), ("s2025", None), ("2024", None)]
    table = run("plans", extra_env={"COLUMNS": "120"}).stdout
    names = [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]
    assert names == ["2023", "s2025", "2024"]


# -- report -o: the file name picks the format, and the write is confirmed ------------------


@pytest.mark.parametrize("args, name, kind, starts", [
    ((), "r.html", "HTML", b"<!DOCTYPE html>"),
    ((), "r.HTM", "HTML", b"<!DOCTYPE html>"),
    ((), "r.md", "Markdown", b"# "),
    ((), "r.docx", "Word", b"PK"),
    (("--html",), "r.docx", "HTML", b"<!DOCTYPE html>"),  # the explicit flag beats the suffix
    (("--docx",), "r.html", "Word", b"PK"),
])
def test_report_output_format_follows_the_suffix_unless_a_flag_says_otherwise(run, tmp_path, args, name, kind, starts):
    result = run("report", *args, "-o", name)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"已写入报告“{name}”（{kind}）。\n"
    assert (tmp_path / name).read_bytes().startswith(starts)


def test_report_quiet_confirms_nothing_and_stdout_reports_carry_no_confirmation(run, tmp_path):
    quiet = run("report", "-o", "r.html", "--quiet")
    # --quiet drops the confirmation, not the notice of the ledger this first run made.
    assert quiet.returncode == 0 and quiet.stdout == "" and without_notice(quiet.stderr) == ""
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    printed = run("report")
    assert printed.returncode == 0 and "已写入报告" not in printed.stdout


# -- tables at 80 columns: folded, never cut off with “…” -------------------------------------


def _column(table: str, index: int) -> str:
    """One column's text, its cells' lines run together: a folded value reads whole again."""
    return "".join(line.split("│")[index].strip() for line in table.splitlines() if line.startswith("│"))


def test_tables_at_80_columns_fold_user_data_instead_of_cutting_it(run, tmp_path):
    deadline = "2023年6月底前完成初稿并在全年持续推进落实"
    (tmp_path / "p2024.csv").write_text(
        f"id,group,content,units,deadline\n1,组,任务内容,区人力资源社会保障局,{deadline}\n", encoding="utf-8")
    assert run("import", "p2024.csv").returncode == 0
    run("note", "1", "进展", "--plan", "2024", "--by", "区人力资源社会保障局政务公开工作专班联络员")
    narrow = {"COLUMNS": "80"}
    outputs = {args: run(*args, extra_env=narrow) for args in
               [("units",), ("plans",), ("list", "--plan", "2024"), ("log",)]}
    for args, result in outputs.items():
        assert result.returncode == 0, result.stderr
        assert "…" not in result.stdout, args
        assert all(len(line) <= 80 for line in result.stdout.splitlines() if line.startswith("│")), args
    assert "区人力资源社会保障局" in _column(outputs[("units",)].stdout, 1)
    assert "区行政服务中心（区大数据中心）" in _column(outputs[("units",)].stdout, 1)
    imported = json.loads(run("plans", "-f", "json").stdout)[0]["imported_at"]
    assert imported in _column(outputs[("plans",)].stdout, 4)
    assert deadline in _column(outputs[("list", "--plan", "2024")].stdout, 4)
    assert "区人力资源社会保障局政务公开工作专班联络员" in _column(outputs[("log",)].stdout, 3)


# -- --format: each command takes exactly the formats it writes ------------------------------


@pytest.mark.no_ledger
@pytest.mark.parametrize("command", [("note", "40", "试点完成"), ("status", "40", "--all", "done")])
@pytest.mark.parametrize("fmt", ["csv", "tsv", "markdown", "xml"])
def test_note_and_status_refuse_formats_they_cannot_write_and_name_only_theirs(run, command, fmt):
    result = run(*command, "--format", fmt)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"错误：不支持的输出格式“{fmt}”，可选：table、json。\n"
    task = json.loads(run("show", "40", "-f", "json").stdout)
    assert task["notes"] == [] and task["status"] == "todo"


def test_note_and_status_still_take_table_and_json_and_listings_all_five(run):
    assert json.loads(run("note", "40", "试点完成", "-f", "json").stdout)["text"] == "试点完成"
    assert run("status", "40", "--all", "done", "-f", "table").stdout.startswith("计划 2023 第 40 项")
    listing = run("list", "-f", "xml")
    assert listing.stderr == "错误：不支持的输出格式“xml”，可选：table、json、csv、tsv、markdown。\n"


def test_tsv_writes_a_note_with_quotes_and_backslashes_as_typed(run):
    """TSV has no quoting: a double quote in a note made show and log end in an internal error."""
    typed = 'a "q" \\ b\tc\nd'
    assert run("note", "40", typed).returncode == 0
    flat = 'a "q" \\ b c d'
    for args in (("show", "40"), ("log",), ("list", "--unit", "区政府办公室")):
        result = run(*args, "-f", "tsv")
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
        rows = [line.split("\t") for line in result.stdout.splitlines()]
        assert len({len(row) for row in rows}) == 1, args  # no cell broke its row
    assert flat in run("log", "-f", "tsv").stdout


# -- help: example commands are never broken inside a word ----------------------------------

EXAMPLES = {
    ("--help",): ['gongkai note 40 "试点完成"', "gongkai note --from 进展.csv", "gongkai export -o 任务台账.xlsx"],
    ("note", "-h"): ['gongkai note 40 "试点完成"', "gongkai note --from 进展.csv"],
    ("export", "-h"): ["gongkai export -o 任务台账.xlsx"],
    ("report", "-h"): ["gongkai report --unit 区财政局 --since 2023-04-01 -o 区财政局进展.md"],
}


@pytest.mark.no_ledger
@pytest.mark.parametrize("columns", [80, 60, 70, 100])
@pytest.mark.parametrize("args", list(EXAMPLES))
def test_help_breaks_example_commands_only_at_their_spaces(run, args, columns):
    import re
    import unicodedata

    result = run(*args, extra_env={"COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert all(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line) <= columns
               for line in text.splitlines()), text
    # A line break inside a command may only stand where the command has a space.
    joined = re.sub(r"\n *", " ", text)
    for example in EXAMPLES[args]:
        assert example in joined, (example, text)


def _width(line: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def _commands(run) -> list[str]:
    text = run("--help").stdout
    listed = text.split("命令：\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line[2] != " "]


@pytest.mark.no_ledger
@pytest.mark.parametrize("columns", [80, 100])
def test_every_commands_help_fits_and_fills_its_paragraphs_to_the_width(run, columns):
    """A line break in the source of a help text is not a line break on screen: a paragraph
    kept on two source lines came out as a line, a lone “最新进展”, and the rest."""
    from gongkai_cli.cli.app import COMMANDS
    from inprocess import invoke

    commands = _commands(run)
    assert sorted(commands) == sorted(COMMANDS)
    # In-process: the executable's own help is the list above; a process per command would only
    # repeat start-up 25 times for each width.
    for command in ["", *commands]:
        result = invoke([*([command] if command else []), "-h"], env={"COLUMNS": str(columns)})
        assert result.exit_code == 0, (command, result.stderr)
        lines = result.stdout.splitlines()
        assert all(_width(line) <= columns for line in lines), result.stdout
        for english in ("<bool>", "<str>", "<list", "Usage", "Options", "Arguments", "Show this message", "env var",
                        "default:", "…"):
            assert english not in result.stdout, (command, english)
        description = result.stdout.split("\n\n", 1)[1].split("\n参数：", 1)[0].split("\n选项：", 1)[0]
        rows = description.splitlines()
        for line, after in itertools.pairwise(rows):
            if line and after and not line.startswith(" ") and not after.startswith(" "):
                # The longest word a line may have to leave for the next one is a file name.
                assert _width(line) >= columns - 16, (command, columns, line, after)


def test_the_db_option_says_it_also_takes_a_server_url(run):
    """`--db` names a file or, in team mode, a postgresql:// URL (docs/team.md)."""
    import re

    result = run("list", "-h", extra_env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    joined = re.sub(r"\n *", "", result.stdout)
    assert "数据库文件（默认为用户数据目录下的 gongkai.db），或团队模式的 postgresql:// 地址。" in joined
