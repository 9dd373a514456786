"""A ledger of several plans with many notes: big enough that the query-plan tests of both
backends can tell a query that uses its indexes from one that reads whole tables."""

from __future__ import annotations

from pathlib import Path

from gongkai_cli.ledger import Ledger
from gongkai_cli.store import NoteInput

PLANS = 4
TASKS = 60


def build(folder: Path) -> Path:
    """A SQLite ledger in `folder` holding plans P0–P3 (2020–2023), each with 500 notes."""
    db = folder / "g.db"
    header = "id,group,content,units,deadline\n"
    with Ledger.open(db, bootstrap=False) as opened:
        for number in range(PLANS):
            rows = [f"{i},组{i % 7},第{number}年任务{i}：不少于2次,区财政局、区审计局、各街镇,{i % 12 + 1}月底前"
                    for i in range(1, TASKS + 1)]
            plan_file = folder / f"p{number}.csv"
            plan_file.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
            opened.import_file(plan_file, plan=f"P{number}", year=2020 + number)
            opened.store.notes.add_notes(
                f"P{number}", [NoteInput(i % TASKS + 1, f"进展{i}", "甲", None, 1 if i % 5 == 0 else None)
                               for i in range(500)],
                at=f"{2020 + number}-05-01T09:00:00+08:00",
            )
    return db
