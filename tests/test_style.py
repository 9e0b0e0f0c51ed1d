"""The code stays ruff- and mypy --strict-clean: checked in every test run, CI included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which is None:
        pytest.skip(f"{name} is not installed here (pip install -e '.[dev]' installs it)")
    return which


def test_ruff_clean() -> None:
    """ruff finds nothing in the repository."""
    run = subprocess.run([_tool("ruff"), "check", "--quiet", "."], cwd=REPO,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_strict_clean() -> None:
    """mypy --strict (configured in pyproject.toml) finds nothing in the package."""
    run = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
