"""docs/json.md names every key and every closed value set the installed `gongkai` emits.

The page's examples are checked by test_docs.py, but an example shows one object; a key
that only some commands or some ledgers emit (plans' `default`, a unit listing's
`assignment`) can be left out of the page without any example failing. This test runs
every JSON output against one ledger, on the backend under test (a server's rows come back
through other code), and looks each key up in the page."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from processes import cron_env

PAGE = Path(__file__).resolve().parent.parent / "docs" / "json.md"

# Objects whose keys are data, not contract: a log entry's before/after are the stored
# values of the change, and summary's status counts are keyed by the status values.
_DATA_KEYS = {"before", "after"}


def _documented(name: str, page: str) -> bool:
    return re.search(rf'[`"]{re.escape(name)}[`"]', page) is not None


def _keys(value: object, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            found.add(key)
            if key not in _DATA_KEYS:
                _keys(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _keys(inner, found)
    return found


def emitted_json(executable: str, home: Path, db: str) -> dict[str, object]:
    """Every command's JSON, from the installed executable on the ledger `db`."""
    env = cron_env(home, db, today="2023-04-14", user="张三")

    def run(*args: str, today: str | None = None) -> str:
        result = subprocess.run([executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
                                env={**env, **({"GONGKAI_TODAY": today} if today else {})}, cwd=home, timeout=60)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    run("note", "40", "试点完成", "--unit", "区经委", "--count", "1")
    run("status", "62", "doing", "--unit", "马陆镇")
    table = home / "tasks_2024.csv"
    table.write_text("id,group,content,units,deadline\n1,组,二〇二四年的任务,区财政局,4月20日前\n", encoding="utf-8")
    run("import", str(table))
    outputs = {
        "list": run("list", "-f", "json"),
        "list --unit": run("list", "--unit", "马陆镇", "-f", "json"),
        "list --unit twice": run("list", "--unit", "马陆镇", "--unit", "区财政局", "-f", "json"),
        "due": run("due", "--before", "2023-12-31", "--unit", "马陆镇", "-f", "json"),
        "show": run("show", "40", "-f", "json"),
        "remind": run("remind", "--within", "30d", "--unit", "马陆镇", "-f", "json"),
        "remind --by-unit": run("remind", "--within", "30d", "--by-unit", "-f", "json"),
        "summary": run("summary", "-f", "json"),
        **{f"summary --by {by}": run("summary", "--by", by, "-f", "json") for by in ("unit", "group", "month")},
        "units": run("units", "-f", "json"),
        "units --tree": run("units", "--tree", "-f", "json"),
        "plans": run("plans", "-f", "json"),
        "plans, no plan of this year": run("plans", "-f", "json", today="2025-06-01"),
        "log": run("log", "-f", "json"),
        "export": run("export", "-f", "json"),
        "note": run("note", "28", "自查", "-f", "json"),
        "status": run("status", "28", "done", "-f", "json"),
        "status --all": run("status", "40", "done", "--all", "-f", "json"),
        "assign": run("assign", "40", "--unit", "区财政局", "-f", "json"),
    }
    return {name: json.loads(text) for name, text in outputs.items()}


@pytest.mark.slow  # every command's JSON, each a process: over a second
def test_the_json_page_names_every_key_and_every_value_of_the_closed_sets_the_commands_emit(
    executable: str, tmp_path: Path, ledger_db: str
):
    """One test, not two: each would build the same ledger again, on each backend."""
    page = PAGE.read_text(encoding="utf-8")
    emitted = emitted_json(executable, tmp_path, ledger_db)
    missing = {name: sorted(key for key in _keys(value, set()) if not _documented(key, page))
               for name, value in emitted.items()}
    assert {name: keys for name, keys in missing.items() if keys} == {}

    values = {
        "units kind": {unit["kind"] for unit in emitted["units"]},
        "plans default": {plan["default"] for plan in emitted["plans"] + emitted["plans, no plan of this year"]}
        - {None},
        "log action": {entry["action"] for entry in emitted["log"]},
        "status": {task["status"] for task in emitted["export"]},
    }
    assert values["plans default"] == {"current_year", "newest"}
    assert {name: sorted(v for v in found if not _documented(v, page)) for name, found in values.items()} \
        == {name: [] for name in values}
