"""Converting files with a real LibreOffice (Debian's package), when one is installed.

Every test that opens a file in LibreOffice goes through `convert`, which makes the conversion
survive a loaded machine: soffice's start-up sometimes fails there (exit 1, or exit 0 with no
file written), most often when another soffice is starting at the same moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Per attempt. A first start on a fresh profile under load has been seen to take over 20 s.
TIMEOUT = 180
ATTEMPTS = 2


def convert(source: Path, to: str, workdir: Path, *options: str) -> Path:
    """Convert `source` headless to the format `to` (pdf, xlsx, ods…) into `workdir`; skip the
    test without LibreOffice."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    target = workdir / f"{source.stem}.{to.split(':')[0]}"
    assert target.resolve() != source.resolve(), f"converting {source.name} would overwrite it"
    failures = []
    with one_soffice_at_a_time():
        for _ in range(ATTEMPTS):
            # A file left from before would hide a conversion that wrote nothing.
            target.unlink(missing_ok=True)
            failure = _run(soffice, source, to, workdir, options)
            if failure is None and target.exists():
                return target
            failures.append(failure or f"exit 0, but no {target.name} was written")
    pytest.fail(f"LibreOffice could not convert {source.name} to {to} in {ATTEMPTS} attempts:\n" + "\n".join(failures))


def _run(soffice: str, source: Path, to: str, workdir: Path, options: tuple[str, ...]) -> str | None:
    """One soffice run; None if it exited 0, else what went wrong."""
    # A profile of its own for every run: soffice locks its profile, and a run killed or failed
    # half-way may leave one that makes the next start fail the same way.
    with tempfile.TemporaryDirectory(prefix="lo-profile-", dir=workdir, ignore_cleanup_errors=True) as profile:
        command = [soffice, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--norestore",
                   *options, "--convert-to", to, "--outdir", str(workdir), str(source)]
        # A session of its own, so that a timeout ends soffice.bin too, not just the wrapper script.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return f"no answer in {TIMEOUT} s: {output.decode(errors='replace').strip()}"
    if process.returncode != 0:
        return f"exit {process.returncode}: {output.decode(errors='replace').strip()}"
    return None


@contextlib.contextmanager
def one_soffice_at_a_time() -> Iterator[None]:
    """Hold a lock that every conversion of this user's test runs takes, xdist's workers and
    other checkouts' runs alike: two soffice starting together is the failure seen most."""
    # Not tempfile.gettempdir(): conftest.py moves that to /dev/shm in a run without workers
    # only, and every run must find the same lock.
    lock = Path(os.environ.get("TMPDIR") or "/tmp") / f"gongkai-tests-soffice-{os.getuid()}.lock"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
