"""The bundled plan and unit file: one copy in the repository's data/, shipped inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_ledger

ROOT = Path(__file__).resolve().parent.parent


def test_the_repository_holds_one_copy_of_the_bundled_files():
    copies = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("tasks_2023.csv")
                    if ".git" not in p.parts and "build" not in p.parts)
    assert copies == ["data/tasks_2023.csv"]
    assert (ROOT / "data" / "units.csv").is_file()
    assert not (ROOT / "src" / "gongkai_cli" / "data").exists()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(out), "--no-deps", "-q"],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (built,) = out.glob("gongkai-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_the_bundled_files_inside_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "gongkai_cli/data/tasks_2023.csv" in names
    assert "gongkai_cli/data/units.csv" in names
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("gongkai_cli/data/tasks_2023.csv")
    assert shipped == (ROOT / "data" / "tasks_2023.csv").read_bytes()


@pytest.mark.slow  # builds the wheel, as the test above does
def test_an_installed_copy_finds_its_data_next_to_the_module(wheel, tmp_path):
    """Unpacked as pip installs it, the package reads the bundled table without the repository."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = "from gongkai_cli.usecases import session; print(session.bundled_plan_path()); print(session.DATA_DIR)"
    result = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    plan, data_dir = result.stdout.split()
    assert Path(plan) == site / "gongkai_cli" / "data" / "tasks_2023.csv"
    assert Path(plan).is_file()
    assert Path(data_dir) == site / "gongkai_cli" / "data"
