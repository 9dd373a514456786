"""How reads and writes grow with the size of one plan: peak memory beside time, per command.

    python benchmarks/growth.py [--sizes 1000,10000,20000] [--notes-per-task 2] [--gongkai PATH]
                                [--city CITY.db]

(`--sizes ""` with `--city` measures the city alone.)

For each size a fresh ledger gets one plan of that many tasks (each given to 区财政局、
区政府办公室、各街镇, so 14 assignments each) through `gongkai import`, and notes through the
package's own API; then every command below runs once as its own process, and the table gives
its wall time, CPU time and peak resident memory (the kernel's count for that process, from
/usr/bin/time). With `--city`, the same commands run on a city ledger (benchmarks/make_city.py: 100,000
tasks across 160 plans) against its newest plan. A command whose memory grows with the size is
the regression this is here to show.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COMMANDS = (
    ("list --format json", ["list", "--format", "json"]),
    ("list --unit 区财政局 --format json", ["list", "--unit", "区财政局", "--format", "json"]),
    ("show 1 --format json", ["show", "1", "--format", "json"]),
    ("note 1 x --quiet", ["note", "1", "增长测试", "--quiet"]),
    ("log --all --format json", ["log", "--all", "--format", "json"]),
    ("log --all (table)", ["log", "--all"]),
    ("export --format csv", ["export", "--format", "csv"]),
    ("export --format json", ["export", "--format", "json"]),
    ("export --format xlsx", ["export", "--format", "xlsx"]),
    ("report", ["report"]),
)


def measured(gongkai: str, args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one run, its output thrown away.

    Through /usr/bin/time: a child forked from this process would count the pages it shared with
    it (this process holds the notes it wrote) in its own peak; one forked from `time` does not.
    """
    with open(os.devnull, "wb") as sink:
        result = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", gongkai, *args], stdout=sink,
                                stderr=subprocess.PIPE, env=env, check=False)
    lines = result.stderr.decode().strip().splitlines()
    if result.returncode != 0 or not lines:
        sys.exit(f"{args}: exit {result.returncode}\n{result.stderr.decode()[-2000:]}")
    wall, user, system, peak = lines[-1].split()
    return float(wall), float(user) + float(system), int(peak) / 1024


def build(directory: Path, gongkai: str, tasks: int, notes: int, env: dict[str, str]) -> Path:
    db = directory / f"plan{tasks}.db"
    table = directory / "tasks_2023.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "group", "content", "units", "deadline"])
        for number in range(1, tasks + 1):
            writer.writerow([number, f"任务组{number // 50}", "围绕重点领域及时公开政策文件、解读材料和工作进展。",
                             "区财政局、区政府办公室、各街镇", "全年" if number % 3 else "4月20日前"])
    subprocess.run([gongkai, "--db", str(db), "import", str(table)], env=env, check=True, capture_output=True)
    from gongkai_cli.domain import dates
    from gongkai_cli.ledger import Ledger
    from gongkai_cli.store import NoteInput

    with Ledger.open(db) as ledger:
        entries = [NoteInput(task_id=number, text=f"第{k}次进展：已集中公开。", by="张三", unit="区财政局")
                   for number in range(1, tasks + 1) for k in range(notes)]
        for start in range(0, len(entries), 20_000):
            ledger.store.notes.add_notes("2023", entries[start:start + 20_000], at=dates.timestamp())
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,20000")
    parser.add_argument("--notes-per-task", type=int, default=2)
    parser.add_argument("--gongkai", default=shutil.which("gongkai") or "gongkai")
    parser.add_argument("--city", type=Path, help="also run on this city ledger (make_city.py)")
    parser.add_argument("--city-unit", default="黄浦区财政局",
                        help="the unit the city's one-unit listing asks for (its units carry their district's name)")
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if not key.startswith("GONGKAI_")}
    env |= {"GONGKAI_TODAY": "2023-07-01", "GONGKAI_USER": "张三", "COLUMNS": "100"}
    print("| ledger | command | wall (s) | CPU (s) | peak RSS (MiB) |\n|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        ledgers = [(f"{int(size):,} tasks in one plan", build(Path(tmp), args.gongkai, int(size), args.notes_per_task, env))
                   for size in args.sizes.split(",") if size]
        if args.city is not None:
            ledgers.append(("the city: 100,000 tasks across plans", args.city))
        for label, db in ledgers:
            for name, command in COMMANDS:
                if db == args.city and name.startswith("log --all (table)"):
                    continue  # a million changes as a table: a quarter of an hour, measured once in docs/benchmarks.md
                output = ["-o", str(Path(tmp) / "out.xlsx")] if name.endswith("xlsx") else []
                words = [args.city_unit if db == args.city and word == "区财政局" else word for word in command]
                wall, cpu, peak = measured(args.gongkai, ["--db", str(db), *words, *output], env)
                print(f"| {label} | `{name}` | {wall:.2f} | {cpu:.2f} | {peak:.1f} |", flush=True)


if __name__ == "__main__":
    main()
