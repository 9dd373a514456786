"""Convert the seed text of the 2023 plan into the bundled CSV.

    python tools/seed_to_csv.py tests/fixtures/seed_2023.txt data/tasks_2023.csv

The seed is text extracted from the original document: title lines, then
records separated by blank lines, each record five TAB-prefixed cells
(序号, 任务名称, 任务内容, 责任单位, 时间节点), the first record being the header.
Merged cells appear as empty cells and are filled down here.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from gongkai_cli.inputs.plan_rows import clean_text

HEADER = ["id", "group", "content", "units", "deadline"]
SEED_HEADER = ["序号", "任务名称", "任务内容", "责任单位", "时间节点"]
FILLED_DOWN = ("group", "units", "deadline")


def read_seed_records(text: str) -> list[list[str]]:
    records: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("\t"):
            current.append(clean_text(line))
        elif current:
            records.append(current)
            current = []
    if current:
        records.append(current)
    for record in records:
        if len(record) != len(HEADER):
            raise SystemExit(f"record with {len(record)} cells, expected {len(HEADER)}: {record}")
    if records[0] != SEED_HEADER:
        raise SystemExit(f"unexpected header: {records[0]}")
    return records[1:]


def fill_down(records: list[list[str]]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for record in records:
        row = dict(zip(HEADER, record, strict=True))
        for name in FILLED_DOWN:
            if not row[name]:
                row[name] = rows[-1][name]
        rows.append(row)
    return rows


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    seed, target = Path(argv[1]), Path(argv[2])
    rows = fill_down(read_seed_records(seed.read_text(encoding="utf-8")))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(
            out, fieldnames=HEADER, lineterminator="\n", quoting=csv.QUOTE_MINIMAL
        )
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} rows -> {target}")


if __name__ == "__main__":
    main(sys.argv)
