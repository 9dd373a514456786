"""Count the instructions of the start-up commands, for comparing two builds on a busy machine.

    python benchmarks/instructions.py [--python PATH]

Wall-clock ratios (benchmarks/run.py) are what the targets are stated in, but on a
shared machine with other jobs running they move by 10–20 % between runs. The number
of instructions a command executes does not: valgrind's callgrind counts them, the
same on every run, whatever the load. A change to start-up can be judged here first
(old build against new, each against the interpreter floor) and confirmed by run.py
when the machine is quiet. Instructions are not time: cache misses and I/O do not
show; the ratios track the wall-clock ones but are larger (about 4.6 where run.py
reports 3.9).

Needs valgrind (Debian: `apt-get install valgrind`). `--python` picks the interpreter
of the build to measure (a venv's bin/python); the database is a fresh temporary one
with the bundled plan, as in run.py.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COMMANDS = (
    ("floor: `python -c \"import sqlite3, json\"`", ["-c", "import sqlite3, json"], {}),
    ("`list --unit 区财政局 --format json`", ["-m", "gongkai_cli", "list", "--unit", "区财政局", "--format", "json"], {}),
    ("`note 40 x --quiet`", ["-m", "gongkai_cli", "note", "40", "x", "--quiet"], {}),
    ("`list --unit 区财政局` (48-row rich table)", ["-m", "gongkai_cli", "list", "--unit", "区财政局"], {}),
    ("`list --unit 区财` + Tab (completion)", ["-m", "gongkai_cli"],
     {"_GONGKAI_COMPLETE": "complete_bash", "COMP_WORDS": "gongkai list --unit 区财", "COMP_CWORD": "3"}),
)
_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(python: str, args: list[str], env: dict[str, str]) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, *args],
        env=env, capture_output=True, text=True, check=False,
    )
    found = _COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        sys.exit(f"{args}: exit {result.returncode}\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the build to measure")
    python = parser.parse_args().python
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        # Without PYTHONDONTWRITEBYTECODE, so that no run compiles what an installed copy has compiled.
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("GONGKAI_") and key != "PYTHONDONTWRITEBYTECODE"}
        env |= {"GONGKAI_DB": str(Path(tmp) / "ledger.db"), "GONGKAI_TODAY": "2023-07-01", "COLUMNS": "100",
                "HOME": tmp}
        # The first run creates the ledger and writes any missing .pyc; neither is start-up.
        subprocess.run([python, "-m", "gongkai_cli", "list", "--format", "json"], env=env, check=True,
                       capture_output=True)
        print(f"- python: {python}\n")
        print("| command | instructions (M) | ratio |\n|---|---:|---:|")
        floor = None
        for label, args, extra in COMMANDS:
            count = instructions(python, args, {**env, **extra})
            floor = floor or count
            print(f"| {label} | {count / 1e6:.1f} | {count / floor:.2f}× |")


if __name__ == "__main__":
    main()
