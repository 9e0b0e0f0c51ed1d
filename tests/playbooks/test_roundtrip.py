"""Formatting never changes meaning: every example's graph is the same before and after fmt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cadenza.grammar.formatter import format_document
from cadenza.grammar.parser import parse_bytes
from cadenza.playbooks import model as m
from cadenza.playbooks.project import load_project, play_files

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if (p / "cadenza.toml").is_file())


def _meaning(project: m.Project) -> dict[str, object]:
    return {
        "playbooks": {n: pb.semantic() for n, pb in project.playbooks.items()},
        "segments": {n: s.cond.model_dump() for n, s in project.segments.items()},
        "schema": project.schema_.model_dump(),
        "defaults": project.defaults.model_dump(),
        "tests": [t.model_dump(exclude={"location"}) for t in project.tests],
    }


def _fmt(path: Path) -> str:
    data = path.read_bytes()
    doc, problems = parse_bytes(data, str(path))
    assert doc is not None
    assert problems == []
    return format_document(doc, data.decode("utf-8-sig"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_fmt_keeps_the_graph_and_is_idempotent(example: Path, tmp_path: Path) -> None:
    """fmt(fmt(x)) == fmt(x), and the project compiled from fmt(x) equals the one from x."""
    copy = tmp_path / example.name
    shutil.copytree(example, copy)
    for path in play_files(copy):
        once = _fmt(path)
        path.write_text(once, encoding="utf-8", newline="\n")
        assert _fmt(path) == once, f"{path.name} is not idempotent"
    before, after = load_project(example), load_project(copy)
    assert before.project is not None
    assert after.project is not None
    assert _meaning(after.project) == _meaning(before.project)
