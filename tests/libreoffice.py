"""Converting files with a real LibreOffice (Debian's package), when one is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def convert(source: Path, to: str, workdir: Path, *options: str) -> Path:
    """Convert `source` headless to the format `to` (pdf, xlsx, ods…); skip the test without LibreOffice."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    # A private profile: several test runs (or a user's open LibreOffice) must not share one lock.
    profile = workdir / "lo-profile"
    subprocess.run(
        [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", *options, "--convert-to", to,
         "--outdir", str(workdir), str(source)],
        check=True, capture_output=True, timeout=180,
    )
    target = workdir / f"{source.stem}.{to.split(':')[0]}"
    assert target.exists(), f"LibreOffice wrote no {target.name}"
    return target
