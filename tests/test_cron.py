"""Unattended use, as cron runs it: the installed executable, a bare environment,
TZ=UTC, a frozen clock, stdout a pipe (and once a real terminal)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

import pytest

from gongkai_cli.store import database_named

ESC = "\x1b"
# Colour SGR codes: 30-39/90-97 foreground, 40-49 background, 38;5/38;2 extended.
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-9]|4[0-9]|9[0-7])(?:;[0-9;]*)?m")


@pytest.fixture
def cron(executable: str, tmp_path: Path, ledger_db: str):
    """Run gongkai with only what a crontab line would set (like `env -i`)."""
    db = ledger_db

    def run(*args: str, now: str, input: str | None = None) -> subprocess.CompletedProcess:
        bare = {"PATH": "/usr/bin:/bin", "TZ": "UTC", "GONGKAI_DB": str(db), "GONGKAI_NOW": now,
                "GONGKAI_USER": "cron"}
        return subprocess.run([executable, *args], check=False, input=input, capture_output=True, text=True,
                              encoding="utf-8", env=bare, cwd=tmp_path, timeout=60)

    return run


def test_remind_prints_nothing_at_all_when_nothing_is_due(cron):
    # The office's ledger exists: a run that has to create one says so on stderr (tests below).
    assert cron("init", now="2023-01-02T01:00:00Z").returncode == 0
    # On 2 January nothing in the 2023 plan is overdue and nothing is due within a week.
    result = cron("remind", "--within", "7d", now="2023-01-02T01:00:00Z")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    by_unit = cron("remind", "--by-unit", "--unit", "区财政局", now="2023-01-02T01:00:00Z")
    assert (by_unit.returncode, by_unit.stdout, by_unit.stderr) == (0, "", "")


def test_remind_lists_overdue_before_due_soon_in_plain_text(cron):
    result = cron("remind", "--within", "7d", now="2023-04-14T02:00:00Z")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert ESC not in text
    assert text.index("已逾期 1 项") < text.index("[62]") < text.index("2023-04-21 前到期 1 项") < text.index("[40]")
    assert "[62] 2023-03-31 已逾期 14 天 · 牵头：区政府各部门" in text
    assert "[40] 2023-04-20 还剩 6 天 · 牵头：区政府办公室" in text


def test_remind_by_unit_gives_each_unit_its_own_section(cron):
    result = cron("remind", "--by-unit", "--unit", "马陆镇", "--unit", "区财政局", now="2023-04-14T02:00:00Z")
    sections = re.findall(r"【(.+?)】", result.stdout)
    assert sections == ["区财政局", "马陆镇"]  # unit-file order: departments, then towns
    assert "经“各街镇”" in result.stdout


def test_fail_on_overdue_exit_code(cron):
    # 5, not 1: a monitor must tell "there is overdue work" from "gongkai crashed".
    assert cron("remind", "--fail-on-overdue", now="2023-04-14T02:00:00Z").returncode == 5
    assert cron("remind", "--fail-on-overdue", now="2023-01-02T01:00:00Z").returncode == 0


@pytest.mark.parametrize(
    ("now", "phrase"),
    [
        ("2023-04-20T15:59:00Z", "[40] 2023-04-20 今天到期"),   # 23:59 on 20 April in Beijing
        ("2023-04-20T16:01:00Z", "[40] 2023-04-20 已逾期 1 天"),  # 00:01 on 21 April in Beijing
    ],
)
def test_the_day_turns_at_midnight_beijing_time_on_a_utc_server(cron, now, phrase):
    result = cron("remind", "--within", "1d", now=now)
    assert phrase in result.stdout


def test_note_timestamp_is_beijing_time_on_a_utc_server(cron):
    result = cron("note", "40", "-", "--format", "json", now="2023-04-20T16:01:00Z", input="零点后记录")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["at"] == "2023-04-21T00:01:00+08:00"


def test_empty_stdin_note_is_refused(cron):
    result = cron("note", "40", "-", now="2023-04-20T16:01:00Z", input="")
    assert result.returncode == 2 and "不能为空" in result.stderr


def test_remind_json_is_a_document_even_when_empty(cron):
    data = json.loads(cron("remind", "--format", "json", now="2023-01-02T01:00:00Z").stdout)
    assert data == {"plan": "2023", "today": "2023-01-02", "until": "2023-01-09", "overdue": [], "due_soon": []}
    data = json.loads(cron("remind", "--format", "json", now="2023-04-14T02:00:00Z").stdout)
    assert [(t["id"], t["days_left"]) for t in data["overdue"]] == [(62, -14)]
    assert [(t["id"], t["days_left"]) for t in data["due_soon"]] == [(40, 6)]


def _in_a_terminal(executable: str, args: list[str], env: dict) -> str:
    """Run in a pseudo-terminal, so the program sees a TTY as a person's shell would give it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([executable, *args], stdin=follower, stdout=follower, stderr=follower,
                               env=env, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_color_is_honoured_in_a_terminal(executable, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "COLUMNS": "120", "GONGKAI_DB": str(tmp_path / "t.db"),
           "GONGKAI_TODAY": "2023-04-14"}
    coloured = _in_a_terminal(executable, ["due", "--before", "2023-04-20"], env)
    assert COLOUR.search(coloured), "a terminal without NO_COLOR should get colour (overdue in red)"
    plain = _in_a_terminal(executable, ["due", "--before", "2023-04-20"], {**env, "NO_COLOR": "1"})
    assert "2023-03-31" in plain
    assert not COLOUR.search(plain)


def _inbox_script(tmp_path: Path) -> Path:
    """The `gongkai-inbox` script exactly as docs/cron.md prints it."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "cron.md").read_text(encoding="utf-8")
    body = page.split("    #!/bin/sh\n", 1)[1].split("\n\n", 1)[0]
    script = tmp_path / "gongkai-inbox"
    script.write_text("#!/bin/sh\n" + "".join(line[4:] + "\n" for line in body.splitlines()), encoding="utf-8")
    script.chmod(0o755)
    return script


def test_the_inbox_recipe_of_the_cron_page_loses_no_push_and_stores_none_twice(executable, tmp_path):
    """The recipe issue 14 asked for: a push that arrives while notes are being written stays for the
    next round (the old `… < 40.txt && rm 40.txt` deleted it), a round that dies after a note was
    stored does not store it twice when re-run, and a file gongkai refuses is set aside."""
    script = _inbox_script(tmp_path)
    inbox = tmp_path / "inbox" / "40"
    inbox.mkdir(parents=True)
    (inbox / "a.txt").write_text("第一份\n", encoding="utf-8")
    (inbox / "b.txt").write_text("第二份\n", encoding="utf-8")
    (inbox / "empty.txt").write_text("", encoding="utf-8")
    # Stands in for gongkai on the PATH. Its first run is when another system delivers a file;
    # the run that stores 第二份 is the one a failure (exit 4) hits just after the commit.
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "gongkai").write_text(
        "#!/bin/sh\n"
        f'[ -e "{tmp_path}/delivered" ] || {{ : > "{tmp_path}/delivered"; printf "迟到的投递\\n" > "{inbox}/late.txt"; }}\n'
        'text=$(cat)\n'
        f'printf "%s\\n" "$text" | "{executable}" "$@" || exit $?\n'
        f'if [ "$text" = 第二份 ] && [ ! -e "{tmp_path}/failed" ]; then : > "{tmp_path}/failed"; exit 4; fi\n',
        encoding="utf-8")
    (shim / "gongkai").chmod(0o755)
    env = {"PATH": f"{shim}:/usr/bin:/bin", "TZ": "UTC", "GONGKAI_DB": str(tmp_path / "gongkai.db"),
           "GONGKAI_TODAY": "2023-04-14", "GONGKAI_USER": "同步脚本", "HOME": str(tmp_path)}

    def round_() -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(script), "40", str(inbox)], check=False, capture_output=True, text=True,
                              encoding="utf-8", env=env, cwd=tmp_path, timeout=120)

    def notes() -> list[str]:
        shown = subprocess.run([executable, "show", "40", "-f", "json"], check=True, capture_output=True, text=True,
                               encoding="utf-8", env=env, timeout=60)
        return sorted(note["text"] for note in json.loads(shown.stdout)["notes"])

    assert round_().returncode == 4
    assert sorted(path.name for path in inbox.iterdir()) == ["b.txt.taken", "empty.txt.taken", "late.txt"]
    assert notes() == ["第一份", "第二份"]
    second = round_()
    assert second.returncode == 0, second.stderr
    assert sorted(path.name for path in inbox.iterdir()) == ["empty.txt.rejected"]
    assert notes() == ["第一份", "第二份", "迟到的投递"]
    assert round_().returncode == 0  # an empty inbox is a quiet success


# -- a ledger made behind the user's back ---------------------------------------------------

NEW_LEDGER_REMINDERS = ("警告：这个台账是本次运行刚新建的，没有任何人记录过进展，据它生成的提醒多半不是您想要的；"
                        "请让 GONGKAI_DB 或 --db 指向平时使用的台账。")


@pytest.mark.sqlite_only("without GONGKAI_DB the ledger is a file in the user data directory under HOME")
def test_a_bare_cron_job_says_which_ledger_it_created_and_only_the_first_time(executable, tmp_path):
    """`env -i PATH=/usr/bin:/bin HOME=… gongkai remind`: a job of another account, or without
    GONGKAI_DB, used to make a ledger, load the bundled plan and mail its reminders with exit 0."""
    home = tmp_path / "home"
    home.mkdir()

    def remind() -> subprocess.CompletedProcess:
        return subprocess.run([executable, "remind"], check=False, capture_output=True, text=True, encoding="utf-8",
                              env={"PATH": "/usr/bin:/bin", "HOME": str(home)}, cwd=tmp_path, timeout=60)

    first = remind()
    (created,) = home.rglob("gongkai.db")
    assert first.returncode == 0
    assert first.stderr.splitlines() == [
        f"注意：已新建台账“{created}”，并载入内置的 2023 年计划（91 项任务）；"
        "如要用已有的台账，请设置环境变量 GONGKAI_DB 或使用 --db 指明它。",
        NEW_LEDGER_REMINDERS,
    ]
    assert "已新建台账" not in first.stdout and "GONGKAI_DB" not in first.stdout
    second = remind()
    assert (second.returncode, second.stderr) == (0, "")


def test_a_json_listing_that_creates_the_ledger_keeps_stdout_one_json_document(cron, ledger_db):
    first = cron("list", "--format", "json", now="2023-04-14T02:00:00Z")
    assert first.returncode == 0, first.stderr
    assert len(json.loads(first.stdout)) == 91
    # A server's URL is named as every message names it: without its password.
    assert first.stderr.splitlines() == [
        f"注意：已新建台账“{database_named(ledger_db)}”，并载入内置的 2023 年计划（91 项任务）；"
        "如本想用已有的台账，请检查 GONGKAI_DB 或 --db 指向的位置。"
    ]
    again = cron("list", "--format", "json", now="2023-04-14T02:00:00Z")
    assert (again.returncode, again.stderr, again.stdout) == (0, "", first.stdout)
    # Only remind warns on top: its output is the one a new ledger makes wrong.
    assert NEW_LEDGER_REMINDERS not in first.stderr


CRON_PAGE = Path(__file__).resolve().parent.parent / "docs" / "cron.md"
CRONTAB_SECTION = "## 三条可直接使用的 crontab"
ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def _crontab() -> tuple[dict[str, str], list[str]]:
    """The variables and the job commands of the crontab docs/cron.md prints: its first indented block."""
    page = CRON_PAGE.read_text(encoding="utf-8")
    section = page.split(f"\n{CRONTAB_SECTION}\n", 1)[1].split("\n## ", 1)[0]
    block: list[str] = []
    for line in section.splitlines():
        if line.startswith("    "):
            block.append(line[4:])
        elif block and line.strip():
            break
    variables: dict[str, str] = {}
    jobs = []
    for line in block:
        if not line.strip() or line.startswith("#"):
            continue
        if assignment := ASSIGNMENT.fullmatch(line):
            variables[assignment[1]] = assignment[2]
        else:
            # minute hour day month weekday command
            jobs.append(line.split(None, 5)[5])
    return variables, jobs


@pytest.mark.sqlite_only("the crontab's GONGKAI_DB is a file")
def test_the_crontab_of_the_cron_page_runs_under_crons_own_path_and_environment(executable, tmp_path):
    """Cron runs a job with /bin/sh, PATH=/usr/bin:/bin, HOME and the crontab's own variables, nothing
    else: the page's bare `gongkai` used to end in `not found` (127) before gongkai ever ran."""
    variables, jobs = _crontab()
    assert len(jobs) == 3 and "GONGKAI_DB" in variables
    # The places the page tells the reader to replace with their own, and the script it prints.
    places = {
        "/opt/gongkai/venv/bin": str(Path(executable).parent),
        "/srv/gongkai": str(tmp_path / "office"),
        "/srv/inbox": str(tmp_path / "drop"),
        "/usr/local/bin/gongkai-inbox": str(_inbox_script(tmp_path)),
    }

    def here(text: str) -> str:
        for place, local in places.items():
            text = text.replace(place, local)
        rest = text.replace(str(tmp_path), "").replace(places["/opt/gongkai/venv/bin"], "")
        assert not re.search(r"/(?:opt|srv|usr/local)/", rest), f"a path the test does not replace: {text}"
        return text

    home = tmp_path / "home"
    (tmp_path / "office" / "export").mkdir(parents=True)
    (tmp_path / "drop" / "40").mkdir(parents=True)
    (tmp_path / "drop" / "40" / "a.txt").write_text("其他系统投递的进展\n", encoding="utf-8")
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LOGNAME": "cron", "SHELL": "/bin/sh"}
    env.update({name: here(value) for name, value in variables.items()})
    # The office's ledger, made by hand before the crontab is installed.
    made = subprocess.run([executable, "init"], check=False, capture_output=True, env=env, timeout=60)
    assert made.returncode == 0, made.stderr
    for job in jobs:
        # Cron turns `\%` into `%`; a bare `%` would end the command there.
        assert not re.search(r"(?<!\\)%", job), job
        command = here(job).replace("\\%", "%")
        result = subprocess.run(["/bin/sh", "-c", command], check=False, capture_output=True, text=True,
                                encoding="utf-8", env=env, cwd=home, timeout=120)
        assert result.returncode != 127 and "not found" not in result.stderr, (job, result.stderr)
        assert (result.returncode, result.stderr) == (0, ""), (job, result.stderr)
    assert sorted(path.suffix for path in (tmp_path / "office" / "export").iterdir()) == [".ics", ".xlsx"]
    assert list((tmp_path / "drop" / "40").iterdir()) == []
    shown = subprocess.run([executable, "show", "40", "-f", "json"], check=True, capture_output=True, text=True,
                           encoding="utf-8", env=env, timeout=60)
    assert [(note["by"], note["text"]) for note in json.loads(shown.stdout)["notes"]] == [("同步脚本", "其他系统投递的进展")]
