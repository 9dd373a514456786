"""Text safety through the installed executable: what may be stored, and how stored text is shown.

Characters XML 1.0 forbids are refused wherever text enters the ledger; whatever a
ledger already holds is shown inertly on every path (terminal, pipes, error messages,
Markdown, xlsx, ics, HTML); `check` finds the values the other commands would trip on.
"""

from __future__ import annotations

import json
import os
import pty
import re
import sqlite3
import subprocess
from pathlib import Path

import openpyxl
import pytest

from postgres import snapshot
from processes import drain_terminal, in_process

# What must never reach a reader: C0 controls but tab and newline, DEL, C1 controls,
# bidi controls and the XML-forbidden non-characters.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
HEADER = "id,group,content,units,deadline\n"
LINK_PLAN = "[link=https://evil.example/]click[/link]"
MARKDOWN_ATTACKS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "![t](http://evil.example/t.png)",
    "[点此](http://evil.example/)",
    "<http://evil.example/>",
    "**加粗** _斜体_ `代码` ~~删除~~ | 竖线",
)


@pytest.fixture
def gk(executable: str, tmp_path: Path, ledger_db: str):
    """The installed gongkai on a ledger of its own, with no terminal, as cron runs it."""
    db = ledger_db
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TZ": "UTC", "GONGKAI_DB": db,
           "GONGKAI_TODAY": "2023-04-01", "GONGKAI_USER": "测试员", "COLUMNS": "300"}

    def call(*args: str, input: str | None = None, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        # errors="strict": output that is not UTF-8 fails the test as well.
        return subprocess.run(
            [executable, *args], check=False, input=input, capture_output=True, text=True, encoding="utf-8",
            env={**env, **(extra_env or {})}, cwd=tmp_path, timeout=60,
        )

    call.db = db
    call.env = env
    call.dir = tmp_path
    # The ledger the tests start from, made in-process: the executable runs the commands they check.
    assert in_process(env)("init").returncode == 0
    return call


def refused(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1, result.stderr
    assert not CONTROL.search(result.stderr), result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def inert(result: subprocess.CompletedProcess) -> None:
    for stream in (result.stdout, result.stderr):
        assert not CONTROL.search(stream), stream
        assert "Traceback" not in stream


def behind_our_back(db: Path, sql: str, *params) -> None:
    """Write what gongkai no longer accepts, as an older version or a hand edit would have."""
    with sqlite3.connect(db) as conn:
        # The append-only trigger is set aside for the edit and put back as it was: `check` finds a
        # ledger without it as damaged as one with bad values.
        (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events_no_update'").fetchone()
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute(sql, params)
        conn.execute(trigger)


def write_plan(path: Path, *rows: str) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


# -- item 5: characters XML 1.0 forbids -----------------------------------------------------


FORBIDDEN = {"U+FFFF": "\uffff", "U+FFFE": "\ufffe", "U+001B": "\x1b", "U+0007": "\x07", "U+0000": "\x00"}


@pytest.mark.parametrize("code", list(FORBIDDEN))
def test_notes_and_authors_with_xml_forbidden_characters_are_refused(gk, code):
    char = FORBIDDEN[code]
    before = snapshot(gk.db)
    if char != "\x00":  # a command-line argument cannot hold NUL at all
        refused(gk("note", "40", f"进展{char}说明"), 2, "进展说明的第 3 个字符", code)
        refused(gk("note", "40", "进展", "--by", f"张{char}"), 2, "记录人的第 2 个字符", code)
        refused(gk("status", "40", "--all", "done", "--note", f"{char}完成"), 2, "第 1 个字符", code)
        refused(gk("note", "40", "进展", extra_env={"GONGKAI_USER": f"张{char}"}), 2, "记录人", code)
    refused(gk("note", "40", "-", input=f"从标准输入{char}"), 2, "第 6 个字符", code)
    assert snapshot(gk.db) == before


@pytest.mark.parametrize("code", ["U+FFFF", "U+001B", "U+D800"])
def test_batch_lines_with_xml_forbidden_characters_are_refused_naming_the_line(gk, code):
    char = {"U+FFFF": "\uffff", "U+001B": "\x1b", "U+D800": "\ud800"}[code]
    before = snapshot(gk.db)
    # json.dumps writes these as \\uXXXX escapes, which the reader turns back into the character.
    lines = [json.dumps({"id": 40, "text": "正常"}), json.dumps({"id": 41, "text": f"坏{char}字"})]
    refused(gk("note", "--from", "-", input="\n".join(lines) + "\n"), 2, "第 2 行", code)
    by = [json.dumps({"id": 40, "text": "正常", "by": f"坏{char}"})]
    refused(gk("note", "--from", "-", input="\n".join(by) + "\n"), 2, "第 1 行", "记录人", code)
    if char != "\ud800":
        csv_text = f"id,text\n40,正常\n41,坏{char}字\n"
        refused(gk("note", "--from", "-", input=csv_text), 2, "第 3 行", code)
    assert snapshot(gk.db) == before


def test_plan_names_file_names_and_imported_cells_are_checked(gk):
    before = snapshot(gk.db)
    plan = write_plan(gk.dir / "tasks_2024.csv", "1,组,内容,区财政局,全年", '2,组,"内容\x01",区财政局,全年')
    refused(gk("import", str(plan)), 2, "第 3 行“任务内容”的第 3 个字符", "U+0001")
    plan = write_plan(gk.dir / "tasks_2024.csv", "1,组,内容,区财政局,\x1b]0;pwned\x07")
    refused(gk("import", str(plan)), 2, "“时间节点”的第 1 个字符", "U+001B")
    good = write_plan(gk.dir / "tasks_2024.csv", "1,组,内容,区财政局,全年")
    refused(gk("import", str(good), "--plan", "计划\x07"), 2, "计划名称的第 3 个字符", "U+0007")
    oddly_named = good.rename(gk.dir / "tasks_2024\x1b[2J.csv")
    refused(gk("import", str(oddly_named)), 2, "文件名", "U+001B")
    assert snapshot(gk.db) == before


@pytest.mark.slow  # two whole-plan workbooks written and read back: over a second
@pytest.mark.sqlite_only("stores NUL and U+FFFF behind gongkai's back, which a server's text refuses")
def test_stored_xml_forbidden_text_still_exports_a_well_formed_workbook(gk):
    assert gk("note", "40", "原文").returncode == 0
    hostile = "甲\uffff乙\ufffe丙\x1b[2J丁\x00戊"
    behind_our_back(gk.db, "UPDATE notes SET text = ?, by = ?", hostile, hostile)
    behind_our_back(gk.db, "UPDATE tasks SET content = ?, group_name = ? WHERE id = 40", hostile, hostile)
    target = gk.dir / "台账.xlsx"
    result = gk("export", "-o", str(target))
    assert result.returncode == 0, result.stderr
    inert(result)
    book = openpyxl.load_workbook(target)
    shown = "甲\\uffff乙\\ufffe丙\\x1b[2J丁\\x00戊"
    assert book["进展记录"]["F2"].value == shown and book["进展记录"]["D2"].value == shown  # 内容, 记录人
    assert shown in [cell.value for cell in book["任务"][41]]
    # gongkai reads its own export back.
    assert gk("import", str(target), "--plan", "回读").returncode == 0
    calendar = gk.dir / "台账.ics"
    assert gk("export", "-o", str(calendar)).returncode == 0
    page = gk.dir / "报告.html"
    # The plan whose task 40 has the note: a report lists only tasks with progress in full.
    assert gk("report", "--html", "--plan", "2023", "-o", str(page)).returncode == 0
    for path in (calendar, page):
        text = path.read_text(encoding="utf-8")
        assert "\uffff" not in text and "\ufffe" not in text and "\x1b" not in text and "\x00" not in text
        assert "\\uffff" in text


# -- item 9: nothing typed reaches a terminal as a control sequence ------------------------------


def test_the_confirmation_of_a_note_shows_its_author_inertly(gk):
    refused(gk("note", "40", "进展", "--by", "\x1b[2J清屏"), 2, "U+001B")
    # C1 controls and bidi overrides are storable, and shown as escapes.
    result = gk("note", "40", "进展", "--by", "\x9b2J\u202e张三\n李四")
    assert result.returncode == 0 and result.stdout.count("\n") == 1
    inert(result)
    assert "\\x9b2J\\u202e张三\\x0a李四" in result.stdout


def test_markup_in_a_plan_name_is_shown_as_typed(gk):
    plan = write_plan(gk.dir / "plan.csv", "1,组,内容,区财政局,全年")
    for name in (LINK_PLAN, "[/oops]", ":warning: [bold]x"):
        assert gk("import", str(plan), "--plan", name, "--year", "2024").returncode == 0
        for args in (["summary"], ["summary", "--by", "unit"], ["plans"]):
            result = gk("--plan", name, *args)
            assert result.returncode == 0, (name, args, result.stderr)
            inert(result)
            assert name in result.stdout, (name, args, result.stdout)


def _in_a_terminal(executable: str, env: dict, *args: str, code: int = 0) -> str:
    """Run gongkai with a pseudo-terminal as stdout and stderr, as a person at a terminal does."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [executable, *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
            env={**env, "TERM": "xterm-256color", "COLORTERM": "truecolor"},
        )
    finally:
        os.close(follower)
    shown = drain_terminal(leader)
    assert process.wait(timeout=60) == code
    return shown.decode("utf-8")


def test_a_plan_name_never_becomes_a_hyperlink_in_a_terminal(gk, executable):
    plan = write_plan(gk.dir / "plan.csv", "1,组,内容,区财政局,全年")
    assert gk("import", str(plan), "--plan", LINK_PLAN, "--year", "2024").returncode == 0
    for args in (["summary"], ["summary", "--by", "unit"], ["plans"]):
        shown = _in_a_terminal(executable, gk.env, "--plan", LINK_PLAN, *args)
        assert "\x1b]8;" not in shown, args  # OSC 8, a terminal hyperlink
        assert LINK_PLAN in shown, args


def test_an_unreadable_deadline_is_warned_about_inertly(gk):
    plan = write_plan(gk.dir / "tasks_2024.csv", "1,组,内容,区财政局,\x9d0;pwned\x9c")
    result = gk("import", str(plan))
    assert result.returncode == 0, result.stderr
    inert(result)
    assert "\\x9d0;pwned\\x9c" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--unit", "\x1b]0;pwned\x07"],
        ["list", "--unit", "区财政局\n错误：伪造的第二行"],
        ["--plan", "\x1b[31m红", "list"],
        ["show", "\x1b[2J"],
        ["note", "\x9b2J", "x"],
        ["list", "--status", "[red]\u202e"],
        ["due", "--before", "\x1b[1m"],
        ["summary", "--by", "\x07"],
        ["list", "--format", "\x1b[2J"],
    ],
    ids=["unit-osc", "unit-newline", "plan", "show-id", "note-id", "status", "date", "by", "format"],
)
def test_error_messages_quote_typed_values_inertly(gk, args):
    result = gk(*args)
    refused(result, result.returncode)
    assert result.returncode in (2, 3)


def test_error_messages_quote_typed_values_inertly_in_a_terminal_too(gk, executable):
    # In a pipe click happens to strip colour codes from messages; a terminal got them raw.
    for args, code in ((["show", "\x1b[2J"], 2), (["--plan", "\x1b[31m红", "list"], 3)):
        shown = _in_a_terminal(executable, gk.env, *args, code=code)
        assert "\x1b" not in shown and "\\x1b" in shown, shown


def test_error_messages_quote_file_lines_inertly(gk):
    result = gk("note", "--from", "-", input='{"id": "\\u001b[2J", "text": "x"}\n')
    refused(result, 2, "\\x1b[2J")


def test_json_keeps_the_exact_text_with_every_unsafe_character_escaped(gk):
    text = "\x9b2J\u202e倒序\x7f\x85[bold]"
    assert gk("note", "40", text, "--by", text).returncode == 0
    for args in (["show", "40", "-f", "json"], ["log", "40", "-f", "json"], ["export", "-f", "json"]):
        result = gk(*args)
        inert(result)
        assert text in json.dumps(json.loads(result.stdout), ensure_ascii=False), args
    note = json.loads(gk("show", "40", "-f", "json").stdout)["notes"][-1]
    assert (note["text"], note["by"]) == (text, text)


# -- item 10: Markdown shows text, it does not render it ------------------------------------------


def _rendered(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def test_markdown_outputs_escape_html_and_link_syntax(gk):
    content = " ".join(MARKDOWN_ATTACKS)
    plan = write_plan(gk.dir / "plan.csv", f'1,"{content}","{content}",区财政局,4月5日前')
    assert gk("import", str(plan), "--plan", "![p](http://evil.example/p.png)", "--year", "2023").returncode == 0
    with_plan = ["--plan", "![p](http://evil.example/p.png)"]
    for attack in MARKDOWN_ATTACKS:
        assert gk(*with_plan, "note", "1", attack, "--by", attack).returncode == 0
    report = gk.dir / "r.md"
    assert gk(*with_plan, "report", "-o", str(report)).returncode == 0
    outputs = {
        "report": report.read_text(encoding="utf-8"),
        "list": gk(*with_plan, "list", "-f", "markdown").stdout,
        "show": gk(*with_plan, "show", "1", "-f", "markdown").stdout,
        "log": gk(*with_plan, "log", "-f", "markdown").stdout,
        "export": gk(*with_plan, "export", "-f", "markdown").stdout,
        "remind": gk(*with_plan, "remind", "--within", "7d", "-f", "markdown").stdout,
        "summary": gk(*with_plan, "summary", "-f", "markdown").stdout,
        "summary-by-group": gk(*with_plan, "summary", "--by", "group", "-f", "markdown").stdout,
    }
    for name, markdown in outputs.items():
        assert "evil.example" in markdown, name  # the text is there…
        html = _rendered(markdown)
        # …and renders as text: no element, link or image came from it.
        for tag in ("<script", "<img", "<a ", "<strong>加粗", "<em>斜体", "<code>", "<s>删除", "<del>删除"):
            assert tag not in html, (name, tag, markdown)
        assert "&lt;script&gt;" in html or name.startswith("summary"), name


# -- item 15: check finds what the other commands would trip on ------------------------------------


@pytest.mark.sqlite_only("bytes that are not UTF-8, which a server refuses to store")
def test_check_finds_text_that_is_not_utf8_and_the_readers_fail_without_echoing_it(gk):
    assert gk("note", "40", "原文").returncode == 0
    assert gk("check").returncode == 0
    # Invalid UTF-8 around an escape sequence, as a flipped byte on disk would leave it.
    behind_our_back(gk.db, "UPDATE notes SET text = CAST(X'61FF1B5B324A62' AS TEXT)")
    refused(gk("check"), 4, "表 notes", "text 列", "UTF-8")
    for args in (["export", "-f", "csv"], ["export", "-o", "台账.xlsx"], ["show", "40"], ["report"]):
        result = gk(*args)
        refused(result, 4, "gongkai check")
        assert "\ufffd" not in result.stderr


@pytest.mark.sqlite_only("bytes that are not UTF-8, which a server refuses to store")
def test_check_finds_a_history_entry_the_log_cannot_read(gk):
    assert gk("note", "40", "原文").returncode == 0
    behind_our_back(gk.db, "UPDATE events SET by = CAST(X'E5BCA0FF9B324A' AS TEXT) WHERE task = 40")
    refused(gk("check"), 4, "表 events", "by 列", "UTF-8")
    log = gk("log")
    refused(log, 4, "gongkai check")
    assert "\ufffd" not in log.stderr
    behind_our_back(gk.db, "UPDATE events SET by = '张三', after = '{\"note\": 1, \"text\": ' WHERE task = 40")
    refused(gk("check"), 4, "表 events", "after 列", "JSON")
    refused(gk("log"), 4, "gongkai check")


@pytest.mark.sqlite_only("values the server's column types and CHECKs refuse")
def test_check_finds_statuses_and_dates_the_program_cannot_parse(gk):
    behind_our_back(gk.db, "UPDATE tasks SET status = 'finished' WHERE id = 3")
    behind_our_back(gk.db, "UPDATE tasks SET due = '2023-02-30' WHERE id = 5")
    refused(gk("check"), 4, "共 2 个问题", "表 tasks", "status 列不是有效的状态")


def test_every_unsafe_character_fails_isprintable_so_the_fast_path_misses_none():
    # inert and json_inert skip their regular expressions for text that str.isprintable
    # accepts (tab and line break aside): sound only while no unsafe character is printable.
    from gongkai_cli.domain import text

    unsafe = re.compile(text._UNSAFE_CHAR)
    printable = [hex(code) for code in range(0x110000) if unsafe.fullmatch(chr(code)) and chr(code).isprintable()]
    assert printable == []
    for code in (0x1B, 0x7F, 0x85, 0x61C, 0x200E, 0x202E, 0x2069, 0xD800, 0xFFFE, 0xFFFF):
        shown = text.inert(f"任务{chr(code)}\t说明\n")
        assert chr(code) not in shown and "\t" in shown and "\n" in shown
        assert chr(code) not in text.json_inert(json.dumps({"text": f"甲{chr(code)}乙"}, ensure_ascii=False))
        assert chr(code) not in text.inert_line(f"甲{chr(code)}乙")
    assert text.inert_line("甲\n乙") == "甲\\x0a乙"
