"""What several test modules need to run the installed gongkai as a user would meet it:
in a cron-like environment, held to file permissions although the tests run as root, or behind a
pseudo-terminal; and to check what it did without starting one more process for each read."""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path


def drop_dac_override() -> None:
    """In the child (preexec_fn): give up root's power to ignore file permissions (Linux capabilities)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for capability in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def drain_terminal(leader: int, shown: bytes = b"") -> bytes:
    """Everything the program writes to its terminal until it closes it; closes our side too."""
    try:
        while chunk := os.read(leader, 65536):
            shown += chunk
    except OSError:  # EIO: the program has exited and closed its side of the terminal
        pass
    finally:
        os.close(leader)
    return shown


def cron_env(home: Path, db: Path | str, *, today: str, user: str) -> dict[str, str]:
    """What cron gives a job: almost nothing, plus the database, the day and the user a test fixes."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "TZ": "UTC", "GONGKAI_DB": str(db),
            "GONGKAI_TODAY": today, "GONGKAI_USER": user}


def in_process(env: Mapping[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The command line run in this process with the GONGKAI_* variables of `env` (a subprocess's
    environment), returning what `subprocess.run` would: for the reads with which a test checks
    what the installed executable did, where a process each would only repeat start-up."""
    from inprocess import invoke

    fixed = {name: value for name, value in env.items() if name.startswith("GONGKAI_")}

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        result = invoke(args, input=input, env=fixed)
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)

    return run


# How stderr starts when a command had to create its ledger first (docs/cron.md).
NEW_LEDGER_NOTICE = "注意：已新建台账“"


def without_notice(stderr: str) -> str:
    """stderr without the notice of a ledger this run created, for tests about what follows it (an
    error's one line, a quiet success's nothing) that meet a new ledger on their first command."""
    first, newline, rest = stderr.partition("\n")
    return rest if newline and first.startswith(NEW_LEDGER_NOTICE) else stderr
