"""`cadenza diff` on pairs of example versions, pinned as golden files (text, markdown, json).

Regenerate after an intended change of output: CADENZA_UPDATE_GOLDEN=1 .venv/bin/pytest
tests/diff/test_golden.py, then read the `git diff` of tests/golden/diff/ before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from cadenza.engine.cli.main import cli
from tests.diff.cases import CASES, REPO, write_case

GOLDEN = REPO / "tests" / "golden" / "diff"
SUFFIX = {"text": "txt", "markdown": "md", "json": "json"}


@pytest.fixture(autouse=True)
def _no_conflict_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Conflict warnings are worded by their own checks (tests/diff/test_notes.py covers how
    diff reports them); pinning their wording here would break on every rewording there."""
    monkeypatch.setattr("cadenza.playbooks.diff_notes.find_conflicts", lambda project: [])


def run_diff(cwd: Path, *args: str) -> tuple[int, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with capture_logs():  # as `cadenza` itself: reports on stdout, not the engine's logs
            result = CliRunner().invoke(cli, ["diff", *args], color=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.output


@pytest.mark.parametrize("output", ["text", "markdown", "json"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(tmp_path: Path, name: str, output: str) -> None:
    """The whole output for each kind of change, in each format, is what a reviewer reads."""
    write_case(CASES[name], tmp_path / "base", tmp_path / "head")
    code, text = run_diff(tmp_path, "base", "head", "--format", output)
    assert code == 0, text
    golden = GOLDEN / f"{name}.{SUFFIX[output]}"
    if os.environ.get("CADENZA_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_format_only_is_no_semantic_change(tmp_path: Path) -> None:
    """Reformatting, moving comments, settings and declarations: "No semantic change."."""
    write_case(CASES["format_only"], tmp_path / "base", tmp_path / "head")
    assert (tmp_path / "base" / "cart_recovery.play").read_bytes() != (
        tmp_path / "head" / "cart_recovery.play").read_bytes()
    code, text = run_diff(tmp_path, "base", "head")
    assert (code, text.splitlines()[-1]) == (0, "No semantic change.")
    code, text = run_diff(tmp_path, "base", "head", "--format", "json", "--exit-code")
    assert (code, json.loads(text)["changed"]) == (0, False)


def test_reorder_is_no_semantic_change(tmp_path: Path) -> None:
    """Moving a labelled block of steps elsewhere in the file changes nothing."""
    write_case(CASES["reorder_steps"], tmp_path / "base", tmp_path / "head")
    code, text = run_diff(tmp_path, "base", "head", "--exit-code")
    assert (code, text.splitlines()[-1]) == (0, "No semantic change.")


def test_rename_is_one_renamed_step_not_remove_and_add(tmp_path: Path) -> None:
    """A relabelled step (and the unlabelled `end` under it) shows as renamed, nothing else."""
    write_case(CASES["rename_step"], tmp_path / "base", tmp_path / "head")
    code, text = run_diff(tmp_path, "base", "head", "--format", "json", "--exit-code")
    data = json.loads(text)
    assert code == 1
    steps = [(x["mark"], x["renamed_from"], x["name"]) for x in data["playbooks"][0]["lines"]]
    assert steps == [("~", "sms_nudge", "text_nudge"), ("~", "sms_nudge.2", "text_nudge.2")]
    assert data["summary"]["steps"] == {"add": 0, "change": 2, "rename": 2, "remove": 0}
