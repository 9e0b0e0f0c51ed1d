"""Step matching by structure: what a reviewer would call the same step is the same step."""

from __future__ import annotations

from pathlib import Path

from cadenza.playbooks.diff import diff_projects
from cadenza.playbooks.diff_model import ProjectDiff
from cadenza.playbooks.project import load_project

SCHEMA = "schema {\n  customer { vip: bool }\n  event clicked { }\n}\n"


def _diff(tmp: Path, before: str, after: str) -> ProjectDiff:
    projects = []
    for name, text in (("base", before), ("head", after)):
        (tmp / name).mkdir()
        (tmp / name / "schema.play").write_text(SCHEMA, "utf-8")
        (tmp / name / "main.play").write_text(
            f"playbook p {{\n  when event clicked\n{text}}}\n", "utf-8")
        loaded = load_project(tmp / name)
        assert loaded.project is not None, loaded.diagnostics
        projects.append(loaded.project)
    return diff_projects(*projects)


def _steps(diff: ProjectDiff) -> list[tuple[str, str, str | None]]:
    return [(x.mark, x.name, x.renamed_from) for p in diff.playbooks for x in p.steps()]


def test_inserted_step_is_one_addition(tmp_path: Path) -> None:
    """A step inserted in an unlabelled run is added; the steps below keep their content
    (their automatic names move, which a migrate map must know, so it is said)."""
    diff = _diff(tmp_path,
                 '  a: send sms text "x"\n  wait 1d\n  send sms text "y"\n',
                 '  a: send sms text "x"\n  wait 1h\n  wait 1d\n  send sms text "y"\n')
    assert _steps(diff) == [("~", "a", None), ("+", "a.2", None), ("~", "a.3", "a.2"),
                            ("~", "a.4", "a.3")]
    [first] = [x for x in diff.playbooks[0].steps() if x.name == "a"]
    assert first.details == ("then: a.3 -> a.2",)


def test_renamed_and_changed_step_is_matched_by_its_place(tmp_path: Path) -> None:
    """A step whose label and content both changed, in the same place, is one change."""
    diff = _diff(tmp_path,
                 '  a: send sms text "x"\n  b: wait 1d\n  c: send sms text "y"\n',
                 '  a: send sms text "x"\n  pause: wait 2d\n  c: send sms text "y"\n')
    assert _steps(diff) == [("~", "pause", "b")]
    assert diff.playbooks[0].steps()[0].details == ("duration: 1d -> 2d",)


def test_swapped_branch_targets_are_an_edge_change(tmp_path: Path) -> None:
    """Same steps, different wiring: the branch changed, not the steps it points to."""
    body = ('  branch {\n    when vip -> x\n    else -> y\n  }\n'
            '  x: send sms text "x"\n  end\n  y: send sms text "y"\n')
    diff = _diff(tmp_path, body, body.replace("when vip -> x\n    else -> y",
                                              "when vip -> y\n    else -> x"))
    [line] = diff.playbooks[0].steps()
    assert (line.name, line.details) == ("start", ("arm 1 goes to: x -> y", "else: y -> x"))


def test_removed_step_is_listed_where_it_was(tmp_path: Path) -> None:
    diff = _diff(tmp_path,
                 '  a: send sms text "x"\n  b: send sms text "y"\n  c: send sms text "z"\n',
                 '  a: send sms text "x"\n  c: send sms text "z"\n')
    assert _steps(diff) == [("~", "a", None), ("-", "b", None)]
    assert diff.summary() == ("Diff: 0 to add, 1 to change, 0 to remove. Steps: 0 added, "
                              "1 changed (0 renamed), 1 removed.")


def test_same_graph_in_another_order_is_no_change(tmp_path: Path) -> None:
    body_a = ('  goto y\n  x: send sms text "x"\n  end\n  y: send sms text "y"\n  goto x\n')
    body_b = ('  goto y\n  y: send sms text "y"\n  goto x\n  x: send sms text "x"\n  end\n')
    diff = _diff(tmp_path, body_a, body_b)
    assert diff.empty, diff


def test_identical_steps_are_told_apart_by_their_place(tmp_path: Path) -> None:
    """Two `wait 1d`s in BASE, one left in HEAD: the one between the same neighbours is it;
    a step of the same kind between the same neighbours is changed, not removed and added."""
    diff = _diff(tmp_path,
                 '  a: send sms text "hi"\n  wait 1d\n  b: send sms text "again"\n  wait 1d\n'
                 '  c: send sms text "last"\n',
                 '  a: send sms text "hi"\n  wait 2d\n  b2: send sms text "again"\n  wait 1d\n'
                 '  d: send sms text "new"\n')
    assert _steps(diff) == [("~", "a.2", None), ("~", "b2", "b"), ("~", "b2.2", "b.2"),
                            ("~", "d", "c")]
    assert diff.playbooks[0].steps()[-1].details == ('text: "last" -> "new"',)


def test_a_different_step_in_another_place_is_remove_and_add(tmp_path: Path) -> None:
    """Same kind is not enough: with one matched neighbour, it is a removal and an addition,
    each at its own file and line."""
    diff = _diff(tmp_path,
                 '  a: send sms text "x"\n  b: send sms text "y"\n  wait 1d\n',
                 '  a: send sms text "x"\n  wait 1d\n  c: send sms text "z"\n')
    lines = [(x.mark, x.name, x.where) for x in diff.playbooks[0].steps()]
    assert ("-", "b", "main.play:4") in lines
    assert ("+", "c", "main.play:5") in lines
