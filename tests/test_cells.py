"""CSV/TSV cells that a spreadsheet would evaluate are written inert and read back exactly."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest

from conftest import write_csv
from gongkai_cli.domain.cells import guard, unguard
from libreoffice import convert

LINK = '=HYPERLINK("http://example.invalid","x")'
LINK_CSV = '"=HYPERLINK(""http://example.invalid"",""x"")"'  # the same, quoted as a CSV field
PLAN = (
    "序号,任务名称,任务内容,责任单位,时间节点\n"
    '1,@组,"=1+1",区财政局,5月1日前\n'
    "2,+加号开头,-减号开头,区财政局,5月1日前\n"
    "3,普通,''=已有撇号,区财政局,5月1日前\n"  # an apostrophe meant as text, guarded
)


@pytest.mark.no_ledger
@pytest.mark.parametrize("text", [
    "=1+1", "+86 021", "-5 项", "@SUM(A1)", "\t缩进", "\r回车", "'=x", "''+y", "'普通撇号", "普通", "", "2023-04-20", "'",
])
def test_guard_then_unguard_gives_the_text_back(text):
    assert unguard(guard(text)) == text


@pytest.mark.no_ledger
@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "'=x"])
def test_guarded_text_does_not_start_with_a_formula_character(text):
    assert guard(text)[0] == "'"


@pytest.mark.no_ledger
def test_plain_text_and_a_lone_apostrophe_are_left_alone():
    assert guard("普通") == "普通" and guard("'普通") == "'普通" and unguard("'普通") == "'普通"


def export_rows(gk, *args: str) -> list[dict]:
    result = gk("export", *args)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_a_formula_note_is_inert_in_the_csv_export(gk):
    gk("note", "40", LINK)
    row = export_rows(gk)[39]
    assert row["最新进展"] == "'" + LINK
    assert row["序号"] == "40"  # numbers are not guarded


def test_listing_csv_and_tsv_guard_text_but_not_numbers(gk, tmp_path):
    gk("import", str(write_csv(tmp_path / "p2024.csv", PLAN)))
    rows = list(csv.DictReader(io.StringIO(gk("list", "-f", "csv").stdout)))
    assert [(r["id"], r["group"], r["content"]) for r in rows] == [
        ("1", "'@组", "'=1+1"), ("2", "'+加号开头", "'-减号开头"), ("3", "普通", "''=已有撇号"),
    ]
    tsv = gk("list", "-f", "tsv").stdout.splitlines()
    assert tsv[1].split("\t")[:4] == ["1", "2024", "'@组", "'=1+1"]


def test_exported_csv_imports_back_to_the_same_text(gk, tmp_path, monkeypatch, other_ledger):
    gk("import", str(write_csv(tmp_path / "p2024.csv", PLAN)))
    before = json.loads(gk("list", "-f", "json").stdout)
    assert [t["content"] for t in before] == ["=1+1", "-减号开头", "'=已有撇号"]
    target = tmp_path / "tasks_2024.csv"
    assert gk("export", "-o", str(target)).exit_code == 0

    monkeypatch.setenv("GONGKAI_DB", other_ledger)
    assert gk("import", str(target)).exit_code == 0
    after = json.loads(gk("list", "-f", "json").stdout)
    assert [(t["group"], t["content"]) for t in after] == [(t["group"], t["content"]) for t in before]


def test_note_batch_csv_restores_guarded_text(gk, tmp_path):
    batch = write_csv(tmp_path / "notes.csv", f"id,text\n40,\"'{LINK_CSV[1:]}\n41,'-3 项待办\n")
    result = gk("note", "--from", str(batch))
    assert result.exit_code == 0, result.output
    assert json.loads(gk("show", "40", "-f", "json").stdout)["notes"][-1]["text"] == LINK
    assert json.loads(gk("show", "41", "-f", "json").stdout)["notes"][-1]["text"] == "-3 项待办"


def test_csv_file_has_a_bom_and_a_pipe_has_none(executable, tmp_path):
    import os
    import subprocess

    env = dict(os.environ)  # GONGKAI_DB: the backend under test
    piped = subprocess.run([executable, "export", "-f", "csv"], capture_output=True, env=env, timeout=120, check=True)
    assert piped.stdout.startswith("序号".encode())
    target = tmp_path / "任务.csv"
    subprocess.run([executable, "export", "-o", str(target), "--quiet"], env=env, timeout=120, check=True)
    assert target.read_bytes().startswith(b"\xef\xbb\xbf" + "序号".encode())


def formula_cells(path) -> list[str]:
    book = openpyxl.load_workbook(path)
    return [cell.coordinate for sheet in book for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]


@pytest.mark.slow
def test_libreoffice_opens_the_export_without_a_formula(gk, tmp_path):
    gk("note", "40", LINK)
    gk("note", "41", "+1+1")
    exported = tmp_path / "export.csv"
    assert gk("export", "-o", str(exported)).exit_code == 0
    # Control: the same text unguarded does become a formula, so the check below can see one.
    raw = tmp_path / "raw.csv"
    raw.write_text(f"a,b\n1,{LINK_CSV}\n", encoding="utf-8")
    utf8_comma = "--infilter=CSV:44,34,76,1"
    assert formula_cells(convert(raw, "xlsx", tmp_path, utf8_comma)) == ["B2"]

    sheet = openpyxl.load_workbook(convert(exported, "xlsx", tmp_path, utf8_comma)).active
    assert formula_cells(tmp_path / "export.xlsx") == []
    # The text is all there, shown behind its apostrophe.
    assert [row[10].value for row in sheet.iter_rows(min_row=41, max_row=42)] == ["'" + LINK, "'+1+1"]
