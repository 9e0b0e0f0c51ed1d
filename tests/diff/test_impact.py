"""Impact: customers in flight under each change policy (SQLite and PostgreSQL), and the
before -> after figures of a simulation, equal to two separate `cadenza simulate` runs."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from cadenza.engine import schema as t
from cadenza.engine.cli.main import cli
from cadenza.engine.deploy import apply
from cadenza.engine.runtime import Runtime
from cadenza.playbooks import model as m
from cadenza.playbooks.project import load_project
from tests.diff.cases import CASES, EXAMPLE, write_case
from tests.diff.test_golden import run_diff
from tests.engine.harness import Harness, ts

V1 = """\
playbook p {
  when event clicked
  on change pin
  a: send email "hello"
  wait 1d
  b: send email "again"
  wait 1d
  c: send sms text "last"
}
"""
# wait 1d -> 2d; b renamed b2 (and its wait b.2 -> b2.2); c rewritten as d.
V2 = """\
playbook p {
  when event clicked
  POLICY
  a: send email "hello"
  wait 2d
  b2: send email "again"
  wait 1d
  d: send sms text "new"
}
"""


def _in_flight(tmp: Path, url: str, play: str = V1, who: str = "abc") -> Harness:
    """Customers `who` clicked at 10:00 on version 1 of `play` and, at 12:00, are in flight
    (with V1: at step b, sent 'hello', waiting out the first day)."""
    h = Harness(tmp, url, play)
    h.customers(*({"id": c} for c in who))
    apply(h.store, h.project, "v1", ts("2026-03-02T00:00Z"))
    h.runtime = Runtime(project=h.project, store=h.store)
    h.runtime.refresh()
    h.run("2026-03-02T12:00Z", *((c, "clicked", "2026-03-02T10:00Z", {}) for c in who))
    return h


def _head(tmp: Path, policy: str, play: str = V2) -> Path:
    head = tmp / "head"
    shutil.copytree(tmp / "project", head)
    (head / "main.play").write_text(play.replace("POLICY", policy), "utf-8")
    return head


@pytest.mark.parametrize(("policy", "totals", "fate", "flag", "after"), [
    pytest.param("on change pin", [3, 3, 0, 0], "kept on version 1", "",
                 {("active", "b", 1)}, id="pin"),
    pytest.param("on change migrate {\n    b -> b2\n  }", [3, 0, 3, 0], "migrated to b2", "",
                 {("active", "b2", 2)}, id="migrate-map"),
    pytest.param("on change migrate {\n    c -> d\n  }", [3, 0, 0, 3], "drained",
                 "step 'b' is now 'b2' but 'on change migrate' does not map it, so these "
                 "customers are drained; add 'b -> b2' to the map to keep them.",
                 {("exited", None, 1)}, id="migrate-unmapped-rename"),
    pytest.param("on change drain", [3, 0, 0, 3], "drained", "",
                 {("exited", None, 1)}, id="drain"),
])
def test_in_flight_impact_per_change_policy(tmp_path: Path, store_url: str, policy: str,
                                            totals: list[int], fate: str, flag: str,
                                            after: set[tuple[str, str | None, int]]) -> None:
    """The diff counts customers at each changed step and names their fate; `apply` then does
    exactly that to them."""
    h = _in_flight(tmp_path, store_url)
    head = _head(tmp_path, policy)
    code, text = run_diff(tmp_path, "project", "head", "--db", store_url, "--format", "json")
    assert code == 0, text
    [impact] = json.loads(text)["impact"]["in_flight"]
    got = [impact[k] for k in ("in_flight", "kept", "migrated", "drained")]
    assert (impact["playbook"], got) == ("p", totals)
    assert impact["steps"] == [{"step": "b", "version": 1, "count": 3, "fate": fate,
                                "flag": flag}]
    new = load_project(head).project
    assert new is not None
    apply(h.store, new, "v2", ts("2026-03-02T13:00Z"))
    versions = {r.id: r.version for r in h.rows(t.playbook_versions)}
    assert {(r.state, r.node, versions[r.version_id]) for r in h.rows(t.enrollments)} == after


def test_in_flight_text_flags_the_unmapped_rename(tmp_path: Path, store_url: str) -> None:
    """The plan's text says how many are affected, what happens and how to keep them."""
    _in_flight(tmp_path, store_url)
    _head(tmp_path, "on change migrate {\n    c -> d\n  }")
    code, text = run_diff(tmp_path, "project", "head", "--db", store_url)
    assert code == 0
    assert ("  p: on change migrate {c -> d}, 3 in flight: 0 kept, 0 migrated, 3 drained\n"
            "    ! step b (version 1): 3 drained\n"
            "        step 'b' is now 'b2' but 'on change migrate' does not map it") in text
    assert "    ~ step b2 (renamed from b): send email \"again\"" in text
    assert "    ~ step d (renamed from c): send sms text" in text


def test_bad_store_url(tmp_path: Path) -> None:
    """A store that cannot be opened is named, and no half report is printed."""
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    code, text = run_diff(tmp_path, "base", "head", "--db", "nosuchdb://x")
    assert code == 1
    assert text.startswith("error: the store at nosuchdb://x")
    assert "Diff:" not in text


# ------------------------------------------------------------------ simulation
def _simulate(project: Path, data: Path) -> dict[str, Any]:
    with capture_logs():
        result = CliRunner().invoke(cli, [
            "simulate", str(project), "--customers", str(data / "customers.jsonl"),
            "--events", str(data / "events.jsonl"), "--format", "json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _figures(report: dict[str, Any], project: m.Project) -> dict[str, dict[str, Counter[str]]]:
    """Per playbook, straight from `simulate`'s JSON: sends per channel, suppressions, goals."""
    out = {n: {"sends": Counter[str](), "suppressed": Counter[str](),
               "conversions": Counter[str]()} for n in project.playbooks}
    for row in report["steps"]:
        step = project.playbooks[row["playbook"]].step(row["step"])
        channel = step.channel if isinstance(step, m.SendStep) else "task"
        out[row["playbook"]]["sends"][channel] += row["sent"]
        out[row["playbook"]]["suppressed"].update(row["suppressed"])
    for goal in report["goals"]:
        out[goal["playbook"]]["conversions"][goal["goal"]] += goal["converted"]
    return out


def test_before_after_equals_two_simulate_runs(tmp_path: Path) -> None:
    """One `diff --customers --events` gives the same figures as `simulate` on each side."""
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    data = EXAMPLE / "data"
    code, text = run_diff(tmp_path, "base", "head", "--format", "json",
                          "--customers", str(data / "customers.jsonl"),
                          "--events", str(data / "events.jsonl"))
    assert code == 0, text
    table = json.loads(text)["impact"]["simulation"]
    for side, index in (("base", 0), ("head", 1)):
        project = load_project(tmp_path / side).project
        assert project is not None
        expected = _figures(_simulate(tmp_path / side, data), project)
        for name, groups in expected.items():
            for group, counts in groups.items():
                shown = {k: v[index] for k, v in table[name][group].items() if v[index]}
                assert shown == {k: v for k, v in counts.items() if v}, (side, name, group)
    sends = table["cart_recovery"]["sends"]
    assert sum(a for a, _ in sends.values()) > 0  # the sample really sends something


@pytest.mark.parametrize(("policy", "totals", "fate"), [
    pytest.param("on change pin", [3, 3, 0, 0], "kept on version 1", id="pin"),
    pytest.param("on change drain", [3, 0, 0, 3], "drained", id="drain"),
])
def test_removed_playbook_impact(tmp_path: Path, store_url: str, policy: str,
                                 totals: list[int], fate: str) -> None:
    """A removed playbook's customers follow BASE's policy: pinned ones finish, others leave."""
    h = Harness(tmp_path, store_url, V1.replace("on change pin", policy))
    h.customers({"id": "a"}, {"id": "b"}, {"id": "c"})
    h.run("2026-03-02T12:00Z", *((c, "clicked", "2026-03-02T10:00Z", {}) for c in "abc"))
    head = tmp_path / "head"
    shutil.copytree(tmp_path / "project", head)
    (head / "main.play").write_text('playbook q {\n  when api\n  end\n}\n', "utf-8")
    code, text = run_diff(tmp_path, "project", "head", "--db", store_url, "--format", "json")
    assert code == 0, text
    [impact] = json.loads(text)["impact"]["in_flight"]
    assert [impact[k] for k in ("in_flight", "kept", "migrated", "drained")] == totals
    assert impact["steps"] == [{"step": "b", "version": 1, "count": 3, "fate": fate,
                                "flag": ""}]


def _impact_steps(tmp_path: Path, store_url: str) -> list[dict[str, Any]]:
    """`diff project head --db` in JSON: the one playbook's rows of customers in flight."""
    code, text = run_diff(tmp_path, "project", "head", "--db", store_url, "--format", "json")
    assert code == 0, text
    [impact] = json.loads(text)["impact"]["in_flight"]
    return list(impact["steps"])


def test_removed_step_outside_the_migrate_map_is_flagged(tmp_path: Path,
                                                         store_url: str) -> None:
    """Customers at a step HEAD no longer has, and the map does not cover, are drained: said."""
    _in_flight(tmp_path, store_url)
    head = _head(tmp_path, "on change migrate {\n    c -> d\n  }")
    (head / "main.play").write_text(
        V2.replace("POLICY", "on change migrate {\n    c -> d\n  }")
        .replace('  b2: send email "again"\n  wait 1d\n', ""), "utf-8")
    assert _impact_steps(tmp_path, store_url) == [{
        "step": "b", "version": 1, "count": 3, "fate": "drained",
        "flag": "step 'b' is gone and not in the migrate map, so these customers are drained; "
                "map it to a step of HEAD to keep them."}]


def test_a_store_path_that_is_not_there(tmp_path: Path) -> None:
    """A mistyped SQLite path made an empty store and reported no one in flight (exit 0)."""
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    missing = tmp_path / "typo.db"
    code, text = run_diff(tmp_path, "base", "head", "--db", f"sqlite:///{missing}")
    assert code == 1
    assert text.startswith(f"error: there is no store at {missing}: the file does not exist.")
    assert not missing.exists()


UNLABELLED = """\
playbook p {
  when event clicked
  POLICY
  send email "hello"
  wait 1d
  send email "again"
  wait 1d
  send sms text "last"
}
"""


def test_a_removed_wait_does_not_hand_its_generated_name_to_another_step(
        tmp_path: Path, store_url: str) -> None:
    """Removing the first `wait 1d` shifts the generated names: old `start.3` ("again", where
    the customers go next) is `start.2` in HEAD, and HEAD's `start.3` is the second wait. The
    customers were "migrated to start.3" by name — into the wait, skipping "again". Now the
    step is matched as `diff` matches it: renamed, not mapped, so drained and flagged, both in
    the diff and by `apply`."""
    h = _in_flight(tmp_path, store_url, UNLABELLED.replace("POLICY", "on change pin"), "a")
    head = _head(tmp_path, "on change migrate {\n    start.5 -> start.4\n  }",
                 UNLABELLED.replace("  wait 1d\n", "", 1))
    assert _impact_steps(tmp_path, store_url) == [{
        "step": "start.3", "version": 1, "count": 1, "fate": "drained",
        "flag": "step 'start.3' is now 'start.2' but 'on change migrate' does not map it, so "
                "these customers are drained; add 'start.3 -> start.2' to the map to keep "
                "them."}]
    new = load_project(head).project
    assert new is not None
    apply(h.store, new, "v2", ts("2026-03-02T13:00Z"))
    assert [(r.state, r.node) for r in h.rows(t.enrollments)] == [("exited", None)]


def test_the_simulated_comparison_names_its_period(tmp_path: Path) -> None:
    """A newcomer compared diff's before/after with their own `simulate --start` run and could
    not tell why the figures differed: the text and markdown now say which span ran."""
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    data = EXAMPLE / "data"
    args = ("--customers", str(data / "customers.jsonl"), "--events", str(data / "events.jsonl"))
    days = sorted(datetime.fromisoformat(json.loads(line)["timestamp"]).astimezone(UTC).date()
                  for line in (data / "events.jsonl").read_text(encoding="utf-8").splitlines()
                  if line.strip())
    # simulate's default: the 30 days up to the midnight after the last event, starting no
    # earlier than the first event's day
    start = max(days[0], days[-1] + timedelta(days=1) - timedelta(days=30))
    period = (f"{start} 00:00 UTC → {start + timedelta(days=30)} 00:00 UTC, the 30 days "
              "`cadenza simulate` runs without --start")
    code, text = run_diff(tmp_path, "base", "head", *args)
    assert code == 0, text
    assert (f"Simulation on the same customers and events, base -> head ({period}):"
            in text.splitlines())
    code, text = run_diff(tmp_path, "base", "head", *args, "--format", "markdown")
    assert code == 0, text
    assert f"Over {period}." in text.splitlines()
