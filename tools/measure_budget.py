"""Measure what the installed gongkai spends on each hostile file of issue 26 (docs/reliability.md).

    python tools/measure_budget.py WORKDIR [--gongkai PATH] [--only NAME ...]

Writes each file into WORKDIR with tests/hostile_documents.py, runs `gongkai import` (or
`note --from`) on it under /usr/bin/time -v against a fresh ledger, and prints one Markdown
row per file: its size, the exit code, the peak resident memory of the largest process (the
parse child or gongkai itself) and the CPU seconds of both, and the first line of stderr.
Runs one at a time; on a shared machine the CPU seconds, not the wall clock, are the figure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

# Found through the tests folder added above.
import hostile_documents as hostile
import hostile_files

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def _fixture(name: str) -> Callable[[Path], Path]:
    def copy(path: Path) -> Path:
        shutil.copyfile(FIXTURES / name, path)
        return path

    return copy


def _many_strings(path: Path) -> Path:
    """The plan workbook's task content is the first of just under MAX_SHARED_STRINGS shared strings."""
    row = (b'<row r="2"><c r="A2"><v>1</v></c>' + hostile_files._inline("B2", "组").encode()
           + b'<c r="C2" t="s"><v>0</v></c>' + hostile_files._inline("D2", "区财政局").encode()
           + hostile_files._inline("E2", "全年").encode() + b"</row>")
    strings = [f'<sst xmlns="{hostile_files._MAIN}">'.encode(), b"<si><t>\xe5\x86\x85\xe5\xae\xb9</t></si>" * 199_990,
               b"</sst>"]
    return hostile_files.raw_workbook(path, [hostile_files._header_row(), row], strings)


def _blank_gap(path: Path) -> Path:
    header = "序号,任务名称,任务内容,责任单位,时间节点\n1,组,内容一,区财政局,全年\n"
    path.write_text(header + ",,,,\n" * 4_000_000 + "2,组,内容二,区财政局,全年\n", encoding="utf-8")
    return path


# name -> (file name, how to write it, command)
FILES: dict[str, tuple[str, Callable[[Path], Path], tuple[str, ...]]] = {
    "plan_2023.docx": ("plan_2023.docx", _fixture("plan_2023.docx"), ("import",)),
    "plan_2023.pdf": ("plan_2023.pdf", _fixture("plan_2023.pdf"), ("import",)),
    "tasks_20000.xlsx": ("tasks_20000.xlsx", lambda p: hostile_files.many_rows(p, 20_000, tasks=True), ("import",)),
    "styles_5.5m.xlsx": ("styles.xlsx", lambda p: hostile.xlsx_many_styles(p, 5_500_000), ("import",)),
    "styles_100k.xlsx": ("styles100k.xlsx", lambda p: hostile.xlsx_many_styles(p, 99_990), ("import",)),
    "sheets_100k.xlsx": ("sheets100k.xlsx", lambda p: hostile.xlsx_many_sheets(p, 100_000), ("import",)),
    "sheets_9k.xlsx": ("sheets9k.xlsx", lambda p: hostile.xlsx_many_sheets(p, 9_000), ("import",)),
    "strings_200k.xlsx": ("strings.xlsx", _many_strings, ("import",)),
    "far_cell.xlsx": ("far.xlsx", lambda p: hostile_files.plan_workbook(p, far_cell=True), ("import",)),
    "grid_before.docx": ("grid_before.docx", lambda p: hostile.docx_grid_before(p, 999_999_999_999), ("import",)),
    "body_72mb.docx": ("body72.docx", lambda p: hostile.docx_huge_body(p, 72 * 2**20), ("import",)),
    "body_16mb.docx": ("body16.docx", lambda p: hostile.docx_huge_body(p, 15 * 2**20), ("import",)),
    "table_19999x64.docx": ("table20k.docx", lambda p: hostile.docx_huge_table(p, 19_999, 64), ("import",)),
    "table_99850.docx": ("table100k.docx", lambda p: hostile.docx_huge_table(p, 1_560, 64), ("import",)),
    "forms_4x12.pdf": ("forms.pdf", lambda p: hostile.pdf_nested_forms(p, wide=4, deep=12), ("import",)),
    "grid_150.pdf": ("grid150.pdf", lambda p: hostile.pdf_ruled_grid(p, 150), ("import",)),
    "grid_150x20.pdf": ("grid150x20.pdf", lambda p: hostile.pdf_ruled_grid(p, 150, pages=20), ("import",)),
    "grid_48x40.pdf": ("grid48x40.pdf", lambda p: hostile.pdf_ruled_grid(p, 48, pages=40), ("import",)),
    "stream_800mb.pdf": ("stream.pdf", lambda p: hostile.pdf_huge_stream(p, 800 * 2**20), ("import",)),
    "pages_2m.pdf": ("pages.pdf", lambda p: hostile.pdf_repeated_page(p, 2_000_000), ("import",)),
    "broken_font.pdf": ("font.pdf", hostile.pdf_broken_font, ("import",)),
    "blank_gap.csv": ("gap.csv", _blank_gap, ("import",)),
    "notes_2m.csv": ("notes2m.csv", lambda p: hostile.note_batch(p, 2_000_000), ("note", "--from")),
    "notes_100k.csv": ("notes100k.csv", lambda p: hostile.note_batch(p, 100_000), ("note", "-q", "--from")),
    "notes_50mb.csv": ("notes50m.csv", lambda p: hostile.note_batch(p, 13_000_000), ("note", "--from")),
}


def measure(gongkai: str, workdir: Path, name: str) -> str:
    file_name, write, command = FILES[name]
    path = write(workdir / file_name)
    with tempfile.TemporaryDirectory() as home:
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "GONGKAI_DB": str(Path(home) / "ledger.db"),
               "GONGKAI_USER": "测量", "GONGKAI_TODAY": "2023-04-01"}
        subprocess.run([gongkai, "init"], env=env, check=True, capture_output=True)
        result = subprocess.run(["/usr/bin/time", "-v", gongkai, *command, str(path)], env=env,
                                capture_output=True, text=True, check=False)
    report = dict(re.findall(r"^\s*([^:\n]+): (.*)$", result.stderr, re.M))
    cpu = float(report["User time (seconds)"]) + float(report["System time (seconds)"])
    rss = int(report["Maximum resident set size (kbytes)"]) / 1024
    said = next((line for line in result.stderr.splitlines() if line.startswith("错误：")), "")
    said = said.replace(str(path), path.name)
    code = report["Exit status"]
    return f"| {name} | {_size(path.stat().st_size)} | {code} | {rss:.0f} MB | {cpu:.1f} s | {said} |"


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 1024:.0f} KB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--gongkai", default=shutil.which("gongkai", path=os.path.dirname(sys.executable)))
    parser.add_argument("--only", nargs="*", choices=sorted(FILES))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("| 文件 | 大小 | 退出码 | 峰值内存 | CPU | 提示 |")
    print("|---|---|---|---|---|---|")
    for name in args.only or FILES:
        print(measure(args.gongkai, args.workdir, name), flush=True)


if __name__ == "__main__":
    main()
