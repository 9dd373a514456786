"""Whole-process start-up of the commands people and cron call most, as ratios to
the floor app (benchmarks/floor_app.py) measured in the same run.

    python benchmarks/startup.py [--runs 15] [--db PATH]

Runs are interleaved (floor, command, floor, command, ...) so that load on a
shared machine hits both sides alike; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNIT = "区财政局"

COMMANDS = {
    "list --unit X --format json": ["list", "--unit", UNIT, "--format", "json"],
    'note 40 "x" --quiet': ["note", "40", "x", "--quiet"],
    "list --unit X (rich table)": ["list", "--unit", UNIT],
    # The same table with the 4 tasks that name the unit directly: what the command listed
    # before tasks given to 区政府各部门 were counted as the unit's too (48 rows now).
    "list --unit X --direct (rich table)": ["list", "--unit", UNIT, "--direct"],
}
TARGETS = {
    "list --unit X --format json": 1.15,
    'note 40 "x" --quiet': 1.15,
    "list --unit X (rich table)": 1.4,
    "list --unit X --direct (rich table)": 1.4,
}


def gongkai_executable() -> str:
    found = shutil.which("gongkai", path=str(Path(sys.executable).parent)) or shutil.which("gongkai")
    if not found:
        sys.exit("gongkai is not installed in this environment")
    return found


def wall(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def measure(db: Path, runs: int) -> list[tuple[str, float, float, float, float | None]]:
    env = {**os.environ, "GONGKAI_DB": str(db), "GONGKAI_USER": "bench"}
    floor_argv = [sys.executable, str(HERE / "floor_app.py"), "--unit", UNIT, "--db", str(db)]
    gk = gongkai_executable()
    rows = []
    for label, args in COMMANDS.items():
        wall(floor_argv, env), wall([gk, *args], env)  # warm the page cache for both
        floor, ours = [], []
        for _ in range(runs):
            floor.append(wall(floor_argv, env))
            ours.append(wall([gk, *args], env))
        f, o = statistics.median(floor), statistics.median(ours)
        rows.append((label, f * 1000, o * 1000, o / f, TARGETS.get(label)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--db", type=Path, help="database to use (default: a fresh one with the bundled plan)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        subprocess.run([gongkai_executable(), "--db", str(db), "init"], check=True, stdout=subprocess.DEVNULL)
        rows = measure(db, args.runs)
    print("| command | floor median (ms) | gongkai median (ms) | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    for label, floor, ours, ratio, target in rows:
        print(f"| `{label}` | {floor:.0f} | {ours:.0f} | {ratio:.2f}× | ≤ {target}× |")


if __name__ == "__main__":
    main()
