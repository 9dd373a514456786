"""Fuzzing the structured inputs (hypothesis), issue 26: the office's units.csv, a returned unit
sheet, and the environment variables every command reads. Whatever the input, a command ends in
a documented exit code with one line on stderr when it fails, never in an internal error (1) or a
traceback. In-process and bounded (a few dozen examples a target), so it runs with the suite;
HYPOTHESIS_PROFILE=gongkai-long runs more examples.
"""

from __future__ import annotations

import os
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from inprocess import invoke

pytestmark = pytest.mark.sqlite_only("a ledger file and the units.csv beside it, for each generated example")

settings.register_profile(
    "gongkai-inputs-ci", max_examples=25, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "gongkai-inputs-long", max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("gongkai-inputs-long" if os.environ.get("HYPOTHESIS_PROFILE") == "gongkai-long"
                            else "gongkai-inputs-ci")

# Pieces that have broken a reader before: digits int() refuses, huge numbers, nesting, separators,
# controls, the names the bundled files use, and what a spreadsheet or a shell would make of a cell.
PIECES = ["²", "٣", "9" * 40, "-1", "0", "40", "/", "//", "区财政局", "马陆镇", "各街镇", "group", "department",
          "town", "其他", "、", ",", ";", "\t", "\n", "\r", '"', "\x00", "\x1b[2J", "\u202e", "\ufeff", "=1+1", " ",
          "全年", "完成", "进行中", "done", "2023", "2023-04-14", "T", "+08:00", "Z", "9999", "0001", "-12:00",
          "Asia/Shanghai", "../", ":memory:", "file:", "%", "nan", "inf", "1e308", "…"]
pieces_text = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=6).map("".join)


def one_clean_outcome(result, codes: set[int]) -> None:
    assert result.exit_code in codes, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "内部错误" not in result.stderr, result.stderr
    if result.exit_code not in (0, 5):
        # Notices, warnings and a returned sheet's conflicts are reports of their own (docs/exports.md).
        lines = [line for line in result.stderr.splitlines() if not line.startswith(("注意：", "警告：", "冲突："))]
        assert len(lines) == 1 and lines[0].startswith("错误："), result.stderr


# -- units.csv ------------------------------------------------------------------------------


@st.composite
def unit_files(draw) -> str:
    names = draw(st.lists(pieces_text, min_size=1, max_size=8))
    rows = []
    for index, name in enumerate(names):
        kind = draw(st.sampled_from(["group", "department", "town", "", "其他", "集合", "bogus"]))
        members = draw(st.lists(st.sampled_from(names) | pieces_text, max_size=3))
        if draw(st.booleans()) and index + 1 < len(names):
            members.append(names[index + 1])  # chains, which may close into a cycle
        aliases = draw(st.lists(pieces_text, max_size=2))
        rows.append([name, kind, "、".join(aliases), "、".join(members)])
    header = draw(st.sampled_from([["name", "kind", "aliases", "members"], ["单位", "类型", "别名", "成员"],
                                   ["name"], ["x", "y"]]))
    delimiter = draw(st.sampled_from([",", "\t", ";"]))
    lines = [delimiter.join(header)] + [delimiter.join(row[: len(header)]) for row in rows]
    return draw(st.sampled_from(["", "\ufeff"])) + "\n".join(lines) + "\n"


@pytest.fixture
def ledger(gk, db_path) -> Path:
    assert gk("init").exit_code == 0
    return Path(db_path)


@FUZZ
@given(text=unit_files(), unit=pieces_text)
def test_any_units_file_ends_in_a_documented_code(ledger, text, unit):
    (ledger.parent / "units.csv").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        one_clean_outcome(invoke(["units"]), {0, 2})
        one_clean_outcome(invoke(["list", "--unit", unit or "x", "--format", "json"]), {0, 2})
        one_clean_outcome(invoke(["note", "40", "x", "--unit", unit or "x"]), {0, 2, 3, 6})
    finally:
        (ledger.parent / "units.csv").unlink()


# -- the returned unit sheet --------------------------------------------------------------------


@pytest.fixture
def sheet(ledger, tmp_path) -> Path:
    path = tmp_path / "马陆镇.xlsx"
    assert invoke(["export", "--unit", "马陆镇", "-o", str(path)]).exit_code == 0
    return path


CELLS = ["序号", "责任单位", "状态", "最新进展", "计划", "行标识", "导出时版本", "导出时内容校验"]


@FUZZ
@given(changes=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(CELLS), pieces_text | st.integers(-5, 10**12)),
                        min_size=1, max_size=4))
def test_any_edit_of_a_unit_sheet_ends_in_a_documented_code(sheet, tmp_path, changes):
    book = openpyxl.load_workbook(sheet)
    page = book["各单位进展"]
    header = [cell.value for cell in page[1]]
    for row, column, value in changes:
        # What a spreadsheet can hold: no control characters but tab and line breaks.
        typed = "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 32) if isinstance(value, str) else value
        page.cell(2 + row, header.index(column) + 1).value = typed
    edited = tmp_path / "改.xlsx"
    book.save(edited)
    one_clean_outcome(invoke(["import", str(edited)]), {0, 2, 3})


# -- environment values ----------------------------------------------------------------------


ENVIRONMENT = {
    "GONGKAI_NOW": st.sampled_from(["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
                                    "2023-04-14T09:30:00+08:00", "2023-04-14T09:30:00", "2023-02-30T00:00:00Z"])
    | pieces_text,
    "GONGKAI_TODAY": st.sampled_from(["2023-04-14", "9999-12-31", "0001-01-01", "2023-13-01", "²⁰²³-04-14"])
    | pieces_text,
    "GONGKAI_TZ": st.sampled_from(["Asia/Shanghai", "America/Los_Angeles", "Etc/GMT+12", "UTC", "../etc/passwd",
                                   "Asia", "", "Mars/Base"]) | pieces_text,
    "GONGKAI_DB": st.sampled_from([":memory:", "file:x.db", "file::memory:", "FILE:/tmp/x", "", " "]),
    "GONGKAI_BUSY_TIMEOUT": st.sampled_from(["1", "-1", "nan", "inf", "1e308", "0", "3600"]) | pieces_text,
    "GONGKAI_PLAN": pieces_text,
    "GONGKAI_USER": pieces_text,
    "GONGKAI_UNIT": pieces_text,
}


@FUZZ
@given(values=st.fixed_dictionaries({}, optional=ENVIRONMENT),
       command=st.sampled_from([["remind"], ["list"], ["note", "40", "进展"], ["due", "--within", "7d"]]))
def test_any_environment_ends_in_a_documented_code(ledger, tmp_path, monkeypatch, values, command):
    # Refused values never reach a file: an accepted GONGKAI_DB stays inside this test's folder.
    monkeypatch.chdir(tmp_path)
    env = {name: value.replace("\x00", "") for name, value in values.items()}
    if env.get("GONGKAI_DB", "").strip() and not env["GONGKAI_DB"].lower().startswith(("file:", ":memory:")):
        env["GONGKAI_DB"] = str(ledger)
    one_clean_outcome(invoke(command, env=env), {0, 2, 3, 4, 6})
