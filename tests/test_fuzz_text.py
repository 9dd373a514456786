"""Fuzzing every text input through the installed executable (hypothesis).

For notes and authors, plan names, unit names, CSV and xlsx cells of an imported
table and JSON lines of `note --from`, every generated input must give:

- an exit code in the documented set {0, 2, 3, 4};
- no traceback on stderr, and stdout/stderr that are valid UTF-8;
- no control character (ESC, BEL, C1, bidi controls, U+FFFE/U+FFFF) in stdout or stderr,
  in table, Markdown, CSV or JSON output (JSON writes them as \\uXXXX escapes) and in any message;
- at a terminal (a pseudo-terminal: notes, plan names and unit names are shown there too), no
  control character either, apart from the colour codes gongkai itself writes;
- a ledger that `gongkai check` finds clean afterwards.

The CI profile keeps each target to a few dozen subprocess runs; for a longer local run:
HYPOTHESIS_PROFILE=gongkai-long pytest tests/test_fuzz_text.py --junitxml=out.xml
(each target records its number of examples and the exit codes it saw as junit properties).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only("a new ledger file for each generated example")]

settings.register_profile(
    "gongkai-ci", max_examples=10, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "gongkai-long", max_examples=100, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "gongkai-ci"))

EXIT_CODES = {0, 2, 3, 4}
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
HEADER = ["id", "group", "content", "units", "deadline"]
# What gongkai itself writes to a terminal: colours and text styles (SGR), and CR before each LF.
OWN_CODES = re.compile("\x1b\\[[0-9;]*m|\r(?=\n)")

# Pieces that have broken terminals, rich, Markdown viewers, spreadsheets or SQL before.
PIECES = [
    "\x1b[2J", "\x1b]0;pwned\x07", "\x1b]8;;https://evil.example/\x1b\\链接\x1b]8;;\x1b\\", "\x9b2J", "\x9d0;x\x9c",
    "[link=https://evil.example/]click[/link]", "[/oops]", "[bold red]", ":warning:", "\u202e倒序", "\u2066",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "![t](http://evil.example/t.png)", "**粗**",
    "=1+1", "'; DROP TABLE tasks; --", "\ufffe", "\uffff", "区财政局", "全年", "4月20日前", "、", "，", "\n", "\r\n",
    "\t", "\u3000", '"', ",", "|", "\\", "`", "\x85", "\x7f",
]
# What the text policy refuses: C0 controls but tab, newline and carriage return, U+FFFE, U+FFFF.
REFUSED = "".join(chr(code) for code in range(0x20) if chr(code) not in "\t\n\r") + "\ufffe\uffff"


def texts(chars: st.SearchStrategy[str], pieces: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(pieces), st.text(chars, max_size=6)), max_size=5).map("".join)


# Hostile but storable (C1 controls, bidi, markup, HTML, SQL): must be accepted and shown inertly.
STORABLE = texts(st.characters(blacklist_categories=("Cs",), blacklist_characters=REFUSED),
                 [piece for piece in PIECES if not set(piece) & set(REFUSED)])
# Anything a command line can carry (no NUL, no lone surrogates); files also carry those.
ARG_TEXT = st.one_of(STORABLE, texts(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), PIECES))
FILE_TEXT = st.one_of(STORABLE, texts(st.characters(), [*PIECES, "\x00", "\ud800", "\udcff"]))
SHOWN_AS = st.sampled_from(["table", "markdown", "csv", "json"])


class Ledger:
    """One ledger for a whole fuzz target; each call runs the installed executable."""

    def __init__(self, executable: str, directory: Path):
        self.executable = executable
        self.dir = directory
        self.env = {"PATH": os.environ["PATH"], "HOME": str(directory), "TZ": "UTC",
                    "GONGKAI_DB": str(directory / "gongkai.db"), "GONGKAI_TODAY": "2023-04-01",
                    "GONGKAI_USER": "模糊测试", "COLUMNS": "120"}
        self.examples = 0
        self.exit_codes: dict[int, int] = {}

    def __call__(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([self.executable, *args], check=False, input=input or b"", capture_output=True,
                                env=self.env, cwd=self.dir, timeout=60)
        # Strict decoding: output that is not UTF-8 fails here.
        result.stdout, result.stderr = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
        self.exit_codes[result.returncode] = self.exit_codes.get(result.returncode, 0) + 1
        assert result.returncode in EXIT_CODES, (args, result.returncode, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert not CONTROL.search(result.stderr), (args, result.stderr)
        assert not CONTROL.search(result.stdout), (args, result.stdout)
        return result

    def at_terminal(self, *args: str) -> str:
        """Run gongkai with a pseudo-terminal as stdin, stdout and stderr, as a person at a shell does."""
        leader, follower = pty.openpty()
        try:
            process = subprocess.Popen([self.executable, *args], stdin=follower, stdout=follower, stderr=follower,
                                       env={**self.env, "TERM": "xterm-256color"}, cwd=self.dir, close_fds=True,
                                       start_new_session=True)
        finally:
            os.close(follower)
        shown, deadline = b"", time.monotonic() + 60
        try:
            while select.select([leader], [], [], max(0.0, deadline - time.monotonic()))[0]:
                shown += os.read(leader, 65536)
        except OSError:  # EIO: the program has exited and closed its side of the terminal
            pass
        finally:
            os.close(leader)
        if process.poll() is None and time.monotonic() >= deadline:
            os.killpg(process.pid, signal.SIGKILL)
        code = process.wait(timeout=60)
        self.exit_codes[code] = self.exit_codes.get(code, 0) + 1
        text = shown.decode("utf-8")
        assert code in EXIT_CODES, (args, code, text)
        assert "Traceback" not in text, (args, text)
        assert not CONTROL.search(OWN_CODES.sub("", text)), (args, text)
        return text

    def check(self) -> None:
        result = self("check")
        assert result.returncode == 0, result.stderr


@pytest.fixture
def ledger(executable: str, tmp_path: Path, record_property):
    ledger = Ledger(executable, tmp_path)
    assert ledger("init").returncode == 0
    yield ledger
    ledger.check()
    # For docs/reliability.md: pytest --junitxml=out.xml, then read these properties.
    record_property("examples", ledger.examples)
    record_property("exit_codes", json.dumps(ledger.exit_codes, sort_keys=True))


def fuzz(ledger: Ledger, body, **strategies) -> None:
    """Run `body` on generated values, as many times as the active profile says."""

    @FUZZ
    @given(st.fixed_dictionaries(strategies))
    def example(values):
        ledger.examples += 1
        body(**values)

    example()


def test_fuzz_notes_and_authors(ledger):
    def example(text, by, fmt):
        # "--by=" and "--" so that generated text starting with "-" is never taken for an option.
        if ledger("note", f"--by={by}", "--", "40", text).returncode == 0:
            ledger("show", "40", "-f", fmt)
            ledger.at_terminal("show", "40")

    # Both must be storable for a note to be shown: weighted so that most examples get that far.
    mostly_storable = st.one_of(STORABLE, ARG_TEXT)
    fuzz(ledger, example, text=mostly_storable, by=mostly_storable, fmt=SHOWN_AS)


def test_fuzz_notes_from_stdin(ledger):
    def example(text, fmt):
        if ledger("note", "41", "-", input=text).returncode == 0:
            ledger("log", "41", "-f", fmt)

    fuzz(ledger, example, text=FILE_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), fmt=SHOWN_AS)


def test_fuzz_plan_names(ledger):
    plan = ledger.dir / "plan.csv"
    plan.write_text("id,group,content,units,deadline\n1,组,内容,区财政局,全年\n", encoding="utf-8")

    def example(name, fmt):
        if ledger("import", str(plan), f"--plan={name}", "--year", "2024").returncode == 0:
            ledger(f"--plan={name}", "summary", "-f", fmt)
            ledger(f"--plan={name}", "plans", "-f", fmt)
            ledger.at_terminal(f"--plan={name}", "summary")

    fuzz(ledger, example, name=ARG_TEXT, fmt=SHOWN_AS)


def test_fuzz_unit_names(ledger):
    def example(unit, fmt):
        ledger("list", f"--unit={unit}", "-f", fmt)
        ledger("report", f"--unit={unit}")
        ledger.at_terminal("list", f"--unit={unit}")

    known = st.sampled_from(["区财政局", "马陆镇", "区大数据中心", "各街镇", " 区 财政局 "])
    fuzz(ledger, example, unit=st.one_of(known, ARG_TEXT), fmt=SHOWN_AS)


# Mostly rows that import, so that storing and showing are exercised, not only refusing.
CELLS = st.fixed_dictionaries({
    "id": st.one_of(st.integers(min_value=1, max_value=999).map(str), FILE_TEXT),
    "group": st.one_of(STORABLE.map("组".__add__), FILE_TEXT),
    "content": st.one_of(STORABLE.map("内容".__add__), FILE_TEXT),
    "units": st.one_of(st.sampled_from(["区财政局", "区财政局、各街镇", "区政府各部门"]), STORABLE, FILE_TEXT),
    "deadline": st.one_of(st.sampled_from(["全年", "4月20日前", "11月底前"]), STORABLE, FILE_TEXT),
})


def test_fuzz_csv_cells(ledger):
    source = ledger.dir / "tasks_2024.csv"

    def example(rows, encoding, fmt):
        text = io.StringIO()
        writer = csv.DictWriter(text, HEADER)
        writer.writeheader()
        writer.writerows(rows)
        source.write_bytes(text.getvalue().encode(encoding, "surrogatepass" if encoding != "gb18030" else "replace"))
        if ledger("import", str(source), "--plan", "模糊").returncode == 0:
            ledger("--plan", "模糊", "list", "-f", fmt)

    fuzz(ledger, example, rows=st.lists(CELLS, min_size=1, max_size=3),
         encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]), fmt=SHOWN_AS)


NONCHARACTERS = {0xFFFE: None, 0xFFFF: None}


def test_fuzz_xlsx_cells(ledger):
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    source = ledger.dir / "tasks_2024.xlsx"

    def example(rows, fmt):
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["序号", "任务名称", "任务内容", "责任单位", "时间节点"])
        for row in rows:
            # A workbook cannot hold what XML forbids: openpyxl refuses control characters,
            # and through lxml (which python-docx brings) U+FFFE and U+FFFF too. What an
            # office program can write is what an import meets.
            cells = [ILLEGAL_CHARACTERS_RE.sub("", row[key]).translate(NONCHARACTERS) for key in HEADER]
            sheet.append([cell.encode("utf-8", "replace").decode("utf-8") for cell in cells])
        book.save(source)
        if ledger("import", str(source), "--plan", "模糊表").returncode == 0:
            ledger("--plan", "模糊表", "list", "-f", fmt)

    fuzz(ledger, example, rows=st.lists(CELLS, min_size=1, max_size=3), fmt=SHOWN_AS)


JSON_VALUES = st.one_of(
    FILE_TEXT, st.integers(min_value=-2, max_value=10**20), st.sampled_from([40, 41, 99999, None, True, 1.5]),
    st.lists(st.integers(), max_size=2),
)
# Half of the records are well formed with hostile but storable text; the rest is anything.
JSON_RECORDS = st.one_of(
    st.fixed_dictionaries(
        {"id": st.sampled_from([40, "41"]), "text": STORABLE.map("进展".__add__)},
        optional={"by": STORABLE, "status": st.sampled_from(["doing", "已完成", "受阻"])},
    ),
    st.dictionaries(st.sampled_from(["id", "text", "status", "count", "by", "其他"]), JSON_VALUES, max_size=5),
)


def test_fuzz_json_lines_of_note_from(ledger):
    def example(records, ascii_only, fmt):
        lines = [
            json.dumps(record, ensure_ascii=ascii_only) if isinstance(record, dict) else record.replace("\n", " ")
            for record in records
        ]
        data = "\n".join(lines).encode("utf-8", "surrogatepass")
        if ledger("note", "--from", "-", input=data).returncode == 0:
            ledger("log", "40", "-f", fmt)

    fuzz(ledger, example, records=st.lists(st.one_of(JSON_RECORDS, FILE_TEXT), min_size=1, max_size=4),
         ascii_only=st.booleans(), fmt=SHOWN_AS)
