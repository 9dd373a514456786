"""The bundled 2023 plan must say exactly what the original table says."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from gongkai_cli.inputs.plan_files import read_plan_table

pytestmark = pytest.mark.no_ledger

SEED = Path(__file__).parent / "fixtures" / "seed_2023.txt"
BUNDLED = Path(__file__).resolve().parent.parent / "data" / "tasks_2023.csv"
FIELDS = ["id", "group", "content", "units", "deadline"]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def seed_rows() -> list[dict[str, str]]:
    """Parse the seed independently of tools/seed_to_csv.py: each TAB line is a cell, five a record."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    cells = [line[1:] for line in lines if line.startswith("\t")]
    assert len(cells) % 5 == 0
    records = [cells[i : i + 5] for i in range(0, len(cells), 5)]
    assert [squeeze(c) for c in records[0]] == ["序号", "任务名称", "任务内容", "责任单位", "时间节点"]
    return [dict(zip(FIELDS, record, strict=True)) for record in records[1:]]


def bundled_rows() -> list[dict[str, str]]:
    with BUNDLED.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == FIELDS
        return list(reader)


@pytest.fixture(scope="module")
def pairs() -> list[tuple[dict[str, str], dict[str, str]]]:
    seed, bundled = seed_rows(), bundled_rows()
    assert len(seed) == len(bundled) == 91
    return list(zip(seed, bundled, strict=True))


def test_same_ids_in_order(pairs):
    assert [squeeze(s["id"]) for s, _ in pairs] == [b["id"] for _, b in pairs]
    assert [int(b["id"]) for _, b in pairs] == list(range(1, 92))


def test_content_matches_seed(pairs):
    for seed, bundled in pairs:
        assert squeeze(bundled["content"]) == squeeze(seed["content"]), seed["id"]


@pytest.mark.parametrize("field", ["group", "units", "deadline"])
def test_merged_cells_are_filled_down(pairs, field):
    previous = None
    for seed, bundled in pairs:
        expected = squeeze(seed[field]) or previous
        assert expected, f"task {seed['id']}: {field} empty with nothing above"
        assert squeeze(bundled[field]) == expected, seed["id"]
        previous = squeeze(bundled[field])


def test_no_stray_whitespace(pairs):
    # Whitespace may only separate two ASCII words; anything else is a line-break artefact.
    allowed = re.compile(r"[A-Za-z0-9]\s+[A-Za-z0-9]")
    for _, bundled in pairs:
        for field, value in bundled.items():
            assert value == value.strip(), (bundled["id"], field)
            for run in re.finditer(r"\s+", value):
                around = value[run.start() - 1 : run.end() + 1]
                assert allowed.fullmatch(around), (bundled["id"], field, around)


def test_known_repairs():
    rows = {int(b["id"]): b for b in bundled_rows()}
    assert rows[5]["group"] == rows[6]["group"] == "扩大有效投资和产业发展信息公开"
    assert rows[5]["units"] == rows[6]["units"] == rows[4]["units"]
    assert "政策文件体量大" in rows[40]["content"]
    assert "不少于4次" in rows[60]["content"]
    assert "10个工作日" in rows[63]["content"]
    assert "推送“接力”" in rows[43]["content"]
    assert "精准度,实现" in rows[44]["content"]
    deadlines = [rows[i]["deadline"] for i in (40, 60, 62, 68, 69)]
    assert deadlines == ["4月20日前", "11月底前", "3月31日前", "8月份", "8月份"]


def test_read_plan_table_reads_bundled_file():
    table = read_plan_table(BUNDLED)
    assert len(table.rows) == 91
    assert table.encoding == "utf-8"
    assert [row.id for row in table.rows] == list(range(1, 92))
    assert table.rows[39].line == 41
    assert table.rows[39].deadline == "4月20日前"
