"""Every ```play block of docs/language.md is a project that validates, and its tests pass.

A block is written to a fresh directory as `main.play` and loaded like `cadenza validate`
loads a project: no errors and no warnings (but the cross-playbook W06x). When the block holds
`test "..."` blocks, they run on the engine as `cadenza test` runs them, and must all pass —
so the expected sends in the docs are true. A fragment that cannot stand alone (steps without
their playbook) is marked with `<!-- partial -->` on the line before its fence and is skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cadenza.engine.testing import describe_failure, run_test
from cadenza.playbooks.project import load_project

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "language.md"
FENCE = re.compile(r"^```play[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _blocks() -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    found: list[tuple[int, str]] = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() == "<!-- partial -->":
            continue
        found.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return found


BLOCKS = _blocks()


def test_the_reference_has_play_blocks() -> None:
    """The extraction finds the worked recipes (a renamed fence would silently test nothing)."""
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize(("line", "source"), BLOCKS, ids=[f"line{n}" for n, _ in BLOCKS])
def test_play_block_validates_and_its_tests_pass(line: int, source: str, tmp_path: Path) -> None:
    (tmp_path / "main.play").write_text(source, encoding="utf-8")
    loaded = load_project(tmp_path)
    # Conflict warnings (W06x) are about how two playbooks meet, which a recipe may show.
    problems = [f"{d.code} {d.span.line}:{d.span.col} {d.message}" for d in loaded.diagnostics
                if not d.code.startswith("W06")]
    assert not problems, f"docs/language.md:{line}: the block does not validate: {problems}"
    assert loaded.project is not None
    project = loaded.project
    for test in project.tests:
        outcome = run_test(project, test)
        zone = str(test.customer.get("timezone") or project.timezone)
        assert outcome.passed, f"docs/language.md:{line}:\n{describe_failure(outcome, zone)}"
