"""Migration 3 (notes become events) on an old schema-2 database: the shipped correlated
subquery against the window-function rewrite, on the same generated ledger.

    python benchmarks/migration3.py [--notes 20000 300000] [--tasks 91] [--runs 3] [--old-runs 1]

Each run copies the generated database and times the whole upgrade transaction (the
time the write lock is held). Medians are reported; the old SQL is quadratic per task,
so `--old-runs` lets the slow side run fewer times.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from gongkai_cli.store.sqlite import SQLiteStore as Store  # noqa: E402
from test_migrations import apply_old_migration3, build_schema2, events_of  # noqa: E402


def _new(path: Path) -> None:
    Store.open(path).close()


def _timed(upgrade, source: Path, work: Path) -> float:
    shutil.copyfile(source, work)
    started = time.perf_counter()
    upgrade(work)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, nargs="+", default=[20_000, 300_000])
    parser.add_argument("--tasks", type=int, default=91)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old-runs", type=int, default=1)
    args = parser.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}, {args.tasks} tasks", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for notes in args.notes:
            source, old_copy, new_copy = (Path(tmp) / f"{name}.db" for name in ("v2", "old", "new"))
            build_schema2(source, notes=notes, tasks=args.tasks, plans=1)
            new_times = [_timed(_new, source, new_copy) for _ in range(args.runs)]
            print(f"{notes:>8} notes  new: median {statistics.median(new_times):8.2f} s  runs {new_times}", flush=True)
            old_times = [_timed(apply_old_migration3, source, old_copy) for _ in range(args.old_runs)]
            print(f"{notes:>8} notes  old: median {statistics.median(old_times):8.2f} s  runs {old_times}", flush=True)
            same = events_of(old_copy) == events_of(new_copy)
            print(f"{notes:>8} notes  events identical: {same}", flush=True)
            if not same:
                raise SystemExit(1)


if __name__ == "__main__":
    main()
