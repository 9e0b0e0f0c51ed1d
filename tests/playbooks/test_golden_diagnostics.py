"""The whole output of `cadenza validate` on a project with seeded mistakes, pinned."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cadenza.engine.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "diagnostics"


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args], color=False)
    return result.exit_code, result.output


def test_every_seeded_mistake_reported_once_in_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """22 mistakes in three files give 22 diagnostics with their lines, carets and hints."""
    monkeypatch.chdir(REPO)
    code, output = _validate("tests/golden/diagnostics/twenty")
    expected_file = GOLDEN / "twenty.expected.txt"
    if os.environ.get("CADENZA_UPDATE_GOLDEN"):
        expected_file.write_text(output, encoding="utf-8")
    assert code == 1
    assert output == expected_file.read_text(encoding="utf-8")
    heads = [line for line in output.splitlines() if "error[" in line or "warning[" in line]
    assert len(heads) == 22
    assert len({h.split(": ", 2)[1] for h in heads}) >= 15  # many different kinds
    assert output.count("= help: ") == len(heads)  # every finding says how to fix it


def test_json_format_carries_the_same_diagnostics(monkeypatch: pytest.MonkeyPatch) -> None:
    """--format json lists the same findings with code, file, line, column and hint."""
    monkeypatch.chdir(REPO)
    code, output = _validate("--format", "json", "tests/golden/diagnostics/twenty")
    data = json.loads(output)
    assert code == 1
    assert len(data) == 22
    first = data[0]
    assert set(first) >= {"code", "severity", "message", "file", "line", "col", "hint"}
    assert (first["code"], first["line"], first["col"]) == ("E001", 4, 8)
