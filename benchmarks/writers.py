"""Sixty unit logins writing at once on a PostgreSQL ledger while the office imports (issue 13).

    python benchmarks/writers.py OWNER_URL [--writers 60] [--writes 50] [--runs 1]

OWNER_URL names an empty database on a server, as its owner (a role with CREATEROLE: the
scenario makes its own login roles). Each run makes a fresh ledger there: a plan whose 25
tasks each name every unit, `server init`, one login role per unit (`server grant UNIT
LOGIN`) and an office login (`server grant --office`). Then every unit's login runs the
installed executable once per write, a note and then a status change on each of its own
assignments in turn, all units at once, and the office imports the bundled plan as another
year part-way through. Every unit writes the same tasks, so each write also competes for the
task rows whose derived status it changes.

Prints the throughput (writes per second, whole processes, the import included in the
elapsed time) of each run and their median. tests/test_postgres_concurrency.py runs the
same scenario and checks that nothing was lost.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "tasks_2023.csv"
TASKS = 25
PASSWORD = "writer-secret"
TODAY = "2023-04-14"


@dataclass
class Outcome:
    """One run: the units and their logins, what failed, and how long the writing took."""

    units: list[str]
    logins: dict[str, str]  # unit -> login role
    office: str
    writes: int  # per unit
    failures: list[tuple[str, list[str], int, str, str]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.units) * self.writes / self.elapsed


def login_url(owner_url: str, user: str) -> str:
    """The owner's URL with another login (the password comes from PGPASSWORD)."""
    parts = urlsplit(owner_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def executable() -> str:
    found = Path(sys.executable).with_name("gongkai")
    return str(found) if found.exists() else shutil.which("gongkai") or "gongkai"


class Scenario:
    def __init__(self, owner_url: str, home: Path, *, writers: int, writes: int, program: str | None = None):
        self.owner_url = owner_url
        self.home = home
        self.writers = writers
        self.writes = writes
        self.program = program or executable()
        # Roles belong to the whole server: names of their own, so runs and tests never collide.
        self.prefix = f"w{secrets.token_hex(3)}"

    def run(self, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "TZ": "UTC",
               "GONGKAI_DB": url or self.owner_url, "GONGKAI_TODAY": TODAY, "GONGKAI_USER": "公开办",
               "GONGKAI_BUSY_TIMEOUT": "600", "PGPASSWORD": PASSWORD}
        return subprocess.run([self.program, *args], check=False, capture_output=True, text=True,
                              encoding="utf-8", env=env, cwd=self.home, timeout=900)

    def ok(self, *args: str, url: str | None = None) -> str:
        result = self.run(*args, url=url)
        if result.returncode != 0:
            raise RuntimeError(f"{args}: exit {result.returncode}: {result.stderr}")
        return result.stdout

    def _create_login(self, name: str) -> None:
        with psycopg.connect(self.owner_url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")

    def prepare(self) -> Outcome:
        """The ledger, its plan of `TASKS` tasks naming every unit, and the logins."""
        units = [f"写入单位{index:02d}" for index in range(self.writers)]
        plan = self.home / "tasks_2023.csv"
        with plan.open("w", encoding="utf-8", newline="") as handle:
            table = csv.writer(handle)
            table.writerow(("id", "group", "content", "units", "deadline"))
            for task in range(1, TASKS + 1):
                table.writerow((task, "并发写入", f"第 {task} 项任务", "、".join(units), "全年"))
        self.ok("init", "--empty")
        # The units are made up, so the import warns about each: expected, not checked.
        self.ok("import", str(plan), "--plan", "2023")
        self.ok("server", "init")
        logins = {}
        for index, unit in enumerate(units):
            logins[unit] = f"{self.prefix}_{index:02d}"
            self._create_login(logins[unit])
            self.ok("server", "grant", unit, logins[unit])
        office = f"{self.prefix}_office"
        self._create_login(office)
        self.ok("server", "grant", "--office", office)
        (self.home / "tasks_2024.csv").write_bytes(BUNDLED.read_bytes())
        return Outcome(units, logins, office, self.writes)

    def write(self, outcome: Outcome) -> Outcome:
        """Every unit's writes at once, and the office's import a third of the way through."""
        started = threading.Event()
        progress = threading.Semaphore(0)
        lock = threading.Lock()

        def fail(who: str, args: list[str], result: subprocess.CompletedProcess[str]) -> None:
            with lock:
                outcome.failures.append((who, args, result.returncode, result.stdout, result.stderr))

        def writer(unit: str) -> None:
            url = login_url(self.owner_url, outcome.logins[unit])
            started.wait()
            for write in range(self.writes):
                task = str(write // 2 % TASKS + 1)
                args = (["note", task, f"{unit}的第 {write} 次进展", "--unit", unit, "-q"] if write % 2 == 0
                        else ["status", task, "doing" if write % 4 == 1 else "done", "--unit", unit, "-q"])
                result = self.run(*args, url=url)
                if result.returncode != 0 or result.stderr or result.stdout:
                    fail(unit, args, result)
                progress.release()

        def importer() -> None:
            for _ in range(len(outcome.units) * self.writes // 3):
                progress.acquire()
            args = ["import", "tasks_2024.csv", "--plan", "2024"]
            result = self.run(*args, url=login_url(self.owner_url, outcome.office))
            if result.returncode != 0 or result.stderr:
                fail("office", args, result)

        threads = [threading.Thread(target=writer, args=(unit,)) for unit in outcome.units]
        threads.append(threading.Thread(target=importer))
        for thread in threads:
            thread.start()
        began = time.monotonic()
        started.set()
        for thread in threads:
            thread.join()
        outcome.elapsed = time.monotonic() - began
        return outcome

    def drop_logins(self, outcome: Outcome) -> None:
        for login in (*outcome.logins.values(), outcome.office):
            self.run("server", "revoke", login)
            with psycopg.connect(self.owner_url, autocommit=True) as conn:
                conn.execute(f"DROP ROLE IF EXISTS {login}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="an empty database on the server, as its owner (CREATEROLE)")
    parser.add_argument("--writers", type=int, default=60)
    parser.add_argument("--writes", type=int, default=50, help="writes per unit, notes and status changes in turn")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    rates = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as home:
            scenario = Scenario(args.url, Path(home), writers=args.writers, writes=args.writes)
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute("DROP SCHEMA IF EXISTS gongkai CASCADE")
            outcome = scenario.prepare()
            load = os.getloadavg()[0]
            scenario.write(outcome)
            scenario.drop_logins(outcome)
        rates.append(outcome.throughput)
        print(f"run {run + 1}: {args.writers} unit logins x {args.writes} writes + 1 office import: "
              f"{outcome.elapsed:.1f} s, {outcome.throughput:.1f} writes/s, {len(outcome.failures)} failures "
              f"(load before: {load:.2f})")
        for failure in outcome.failures[:5]:
            print("  ", failure)
    print(f"median: {statistics.median(rates):.1f} writes/s on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
