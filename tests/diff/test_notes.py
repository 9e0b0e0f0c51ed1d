"""Warnings the change brings: new cross-playbook conflicts and changed shared segments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cadenza.grammar.diagnostics import Diagnostic, Span
from cadenza.playbooks import model as m
from cadenza.playbooks.conflicts import find_conflicts
from cadenza.playbooks.diff import diff_projects
from cadenza.playbooks.diff_markdown import render_markdown
from cadenza.playbooks.project import load_project
from tests.diff.cases import CASES, PLAY, Case, write_case
from tests.diff.test_golden import run_diff


def _warning(project: m.Project, code: str, message: str) -> Diagnostic:
    file = str(Path(project.root) / PLAY)
    return Diagnostic(code=code, message=message, file=file, span=Span.point(16, 3),
                      severity="warning", related=((file, Span.point(19, 3)),))


def test_only_conflicts_new_in_head_are_reported(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A conflict BASE already had is not news; one only HEAD has is, with file:line."""
    def fake(project: m.Project) -> list[Diagnostic]:
        old = [_warning(project, "W070", "an old conflict, moved by the edit.")]
        if Path(project.root).name == "head":
            return [*old, _warning(project, "W071", "a conflict this change creates.")]
        return old

    monkeypatch.setattr("cadenza.playbooks.diff_notes.find_conflicts", fake)
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    code, text = run_diff(tmp_path, "base", "head")
    assert code == 0
    assert ("! new conflict W071: a conflict this change creates.  # cart_recovery.play:16; "
            "see also cart_recovery.play:19") in text.splitlines()
    assert "W070" not in text


def test_real_conflicts_created_by_a_new_playbook(tmp_path: Path) -> None:
    """Whatever the conflict checks find in HEAD and not in BASE is in the JSON, by code and
    message (each with a position)."""
    write_case(CASES["add_playbook"], tmp_path / "base", tmp_path / "head")
    base, head = (load_project(tmp_path / s).project for s in ("base", "head"))
    assert base is not None
    assert head is not None
    old = {(d.code, d.message) for d in find_conflicts(base)}
    created = [(d.code, d.message.replace(str(tmp_path / "head") + "/", ""))
               for d in find_conflicts(head) if (d.code, d.message) not in old]
    code, text = run_diff(tmp_path, "base", "head", "--format", "json")
    notes = [n for n in json.loads(text)["notes"] if n["kind"] == "conflict"]
    assert code == 0
    assert [(n["code"], n["message"]) for n in notes] == created
    assert all(n["where"].split(":")[0].endswith(".play") for n in notes)


SEGMENT_CHANGE = Case(head=(("segments.play", "sms_opt_in and phone is set",
                             "sms_opt_in and phone is set and loyalty_tier != \"none\""),))


def test_changed_segment_names_each_use(tmp_path: Path) -> None:
    """A segment whose definition changed is reported at each place a playbook uses it."""
    write_case(SEGMENT_CHANGE, tmp_path / "base", tmp_path / "head")
    code, text = run_diff(tmp_path, "base", "head")
    assert code == 0
    assert ("~ segment sms_reachable: sms_opt_in and phone is set -> sms_opt_in and phone is "
            "set and loyalty_tier != \"none\"  # segments.play:12") in text
    assert ("! changed segment: playbook 'cart_recovery' uses segment 'sms_reachable', whose "
            "definition changed in this diff: it now reaches other customers although its own "
            "text did not change.  # cart_recovery.play:25") in text


def test_markdown_fits_one_comment(tmp_path: Path) -> None:
    """A huge change still gives one comment under 65,536 characters, saying what it left out."""
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    extra = "".join(
        f'playbook extra_{i} {{\n  when event cart_abandoned\n  ' + "\n  ".join(
            f'send sms text "message {i}.{j} for {{{{ first_name }}}}"' for j in range(40))
        + "\n}\n" for i in range(60))
    (tmp_path / "head" / "extra.play").write_text(extra, "utf-8")
    base, head = (load_project(tmp_path / s).project for s in ("base", "head"))
    assert base is not None
    assert head is not None
    text = render_markdown(diff_projects(base, head), head)
    assert len(text) <= 65_536
    assert "<details><summary>" in text  # long step lists are folded
    assert "Graph left out to fit one comment: run `cadenza graph" in text
    assert "more section(s) left out to fit one comment" in text
