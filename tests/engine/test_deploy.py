"""Deploys: plan output per change policy, what happens to customers in flight, no-op re-apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cadenza.engine import schema as t
from cadenza.engine.cli.main import cli
from cadenza.engine.deploy import apply, plan
from cadenza.engine.runtime import Runtime
from cadenza.playbooks.project import load_project
from tests.engine.harness import OPEN, Harness, ts

V1 = """\
playbook p {
  when event clicked
  POLICY
  a: send email "hello"
  wait 1d
  b: send email "again"
  wait 1d
  c: send sms text "last"
}
"""
V2 = """\
playbook p {
  when event clicked
  POLICY
  a: send email "hello"
  wait 1d
  b2: send email "hello"
  wait 2d
  d: send sms text "new"
}
"""


def _project(tmp: Path, text: str) -> object:
    (tmp / "main.play").write_text(text, encoding="utf-8")
    loaded = load_project(tmp)
    assert loaded.project is not None, loaded.diagnostics
    return loaded.project


def _in_flight(tmp: Path, url: str) -> Harness:
    """Three customers waiting at step b of version 1 (whose own policy does not matter)."""
    h = Harness(tmp, url, V1.replace("POLICY", "on change pin"))
    h.customers({"id": "a"}, {"id": "b"}, {"id": "c"})
    apply(h.store, h.project, "v1", ts("2026-03-02T00:00Z"))
    h.runtime = Runtime(project=h.project, store=h.store)
    h.runtime.refresh()
    h.run("2026-03-02T12:00Z", *((c, "clicked", "2026-03-02T10:00Z", {}) for c in "abc"))
    return h


@pytest.mark.parametrize(("policy", "expected", "states"), [
    pytest.param("on change pin", """\
~ playbook p (version 1 -> new, on change pin: 3 in flight, 3 kept, 0 migrated, 0 drained)
    - step b: send email "again"  [3 in flight: kept on version 1]
    - step b.2: wait 1d
    - step c: send sms text
    ~ step a.2: wait 1d (next "b" -> "b2")
    + step b2: send email "hello"
    + step b2.2: wait 2d
    + step d: send sms text
Plan: 0 to add, 1 to change, 0 to remove. In flight: 3 kept, 0 migrated, 0 drained.""",
                 {("active", "b", 1)}, id="pin"),
    pytest.param("on change migrate {\n    b -> b2\n  }", """\
~ playbook p (version 1 -> new, on change migrate: 3 in flight, 0 kept, 3 migrated, 0 drained)
    - step b: send email "again"  [3 in flight: migrated to b2]
    - step b.2: wait 1d
    - step c: send sms text
    ~ step a.2: wait 1d (next "b" -> "b2")
    + step b2: send email "hello"
    + step b2.2: wait 2d
    + step d: send sms text
Plan: 0 to add, 1 to change, 0 to remove. In flight: 0 kept, 3 migrated, 0 drained.""",
                 {("active", "b2", 2)}, id="migrate"),
    pytest.param("on change drain", """\
~ playbook p (version 1 -> new, on change drain: 3 in flight, 0 kept, 0 migrated, 3 drained)
    - step b: send email "again"  [3 in flight: drained]
    - step b.2: wait 1d
    - step c: send sms text
    ~ step a.2: wait 1d (next "b" -> "b2")
    + step b2: send email "hello"
    + step b2.2: wait 2d
    + step d: send sms text
Plan: 0 to add, 1 to change, 0 to remove. In flight: 0 kept, 0 migrated, 3 drained.""",
                 {("exited", None, 1)}, id="drain"),
])
def test_change_policy_plan_and_apply(tmp_path: Path, store_url: str, policy: str,
                                      expected: str, states: set[tuple[str, str, int]]) -> None:
    """Each policy's plan names the fate of every customer in flight; apply does exactly that."""
    h = _in_flight(tmp_path, store_url)
    new = _project(tmp_path / "project", V2.replace("POLICY", policy))
    assert plan(h.store, new, "v2").render() == expected  # type: ignore[arg-type]
    apply(h.store, new, "v2", ts("2026-03-02T13:00Z"))  # type: ignore[arg-type]
    versions = {r.id: r.version for r in h.rows(t.playbook_versions)}
    got = {(r.state, r.node, versions[r.version_id]) for r in h.rows(t.enrollments)}
    assert got == states


def test_migrated_customers_keep_their_wait_and_run_the_new_steps(tmp_path: Path,
                                                                   store_url: str) -> None:
    """After a migrate, the runtime picks the new version up and sends its new step on time."""
    h = _in_flight(tmp_path, store_url)
    new = _project(tmp_path / "project", V2.replace("POLICY", "on change migrate {\n"
                                                                "    b -> b2\n  }"))
    apply(h.store, new, "v2", ts("2026-03-02T13:00Z"))  # type: ignore[arg-type]
    assert h.runtime.refresh() is True
    h.run("2026-03-07T00:00Z")
    later = [s for s in h.sends() if s[3] > "2026-03-02T11"]
    assert sorted({(s[1], s[2], s[3]) for s in later}) == [
        ("email", "hello", "2026-03-03T10:00Z"), ("sms", None, "2026-03-05T10:00Z")]


def test_same_source_twice_changes_nothing(tmp_path: Path, store_url: str) -> None:
    """A second apply of the same source is a no-op: no deployment, no version, no move."""
    h = _in_flight(tmp_path, store_url)
    before = (len(h.rows(t.deployments)), len(h.rows(t.playbook_versions)))
    result = apply(h.store, h.project, "v1", ts("2026-03-02T13:00Z"))
    assert result.render() == "No changes: this source is already deployed."
    assert (len(h.rows(t.deployments)), len(h.rows(t.playbook_versions))) == before
    assert {r.state for r in h.rows(t.enrollments)} == {"active"}


def test_removed_playbook_keeps_pinned_customers(tmp_path: Path, store_url: str) -> None:
    """Removing a pinned playbook lets its customers finish on the old version."""
    h = _in_flight(tmp_path, store_url)
    other = _project(tmp_path / "project", 'playbook q {\n  when api\n  end\n}\n')
    text = plan(h.store, other, "v3").render()  # type: ignore[arg-type]
    assert text.splitlines()[:2] == [
        "+ playbook q (new)",
        "    + step start: end"]
    assert ("- playbook p (removed; on change pin: 3 in flight, 3 kept, 0 drained)"
            in text.splitlines())
    apply(h.store, other, "v3", ts("2026-03-02T13:00Z"))  # type: ignore[arg-type]
    assert {r.state for r in h.rows(t.enrollments)} == {"active"}
    [latest] = [r for r in h.rows(t.deployments) if r.source_hash == "v3"]
    assert set(latest.versions) == {"q"}


def test_apply_refuses_a_project_with_errors(tmp_path: Path) -> None:
    """A bad project is refused with its diagnostics and the store is left untouched."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "main.play").write_text("playbook p {\n  goto nowhere\n}\n", "utf-8")
    db = f"sqlite:///{tmp_path / 's.db'}"
    result = CliRunner().invoke(cli, ["apply", str(tmp_path / "p"), "--db", db])
    assert result.exit_code == 1
    assert "error[E012]: unknown step 'nowhere'." in result.output
    assert "refused: the project has errors; nothing was changed." in result.output
    assert not (tmp_path / "s.db").exists()


def test_cli_plan_then_apply_then_noop(tmp_path: Path) -> None:
    """The commands print the plan, apply it, and report a second apply as no change."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "main.play").write_text("playbook p {\n  when api\n  end\n}\n", "utf-8")
    db = f"sqlite:///{tmp_path / 's.db'}"
    first = CliRunner().invoke(cli, ["plan", str(tmp_path / "p"), "--db", db])
    # Before the first apply there is no store: the plan says so and creates none.
    assert first.stderr == (f"note: there is no store at {tmp_path / 's.db'}: the file does "
                            "not exist. Check the path (sqlite:///relative or "
                            "sqlite:////absolute); `cadenza serve` or `cadenza apply` creates "
                            "a store. The plan is against an empty store.\n")
    assert not (tmp_path / "s.db").exists()
    out = [first.stdout] + [CliRunner().invoke(cli, [cmd, str(tmp_path / "p"), "--db", db]).output
                            for cmd in ("apply", "apply")]
    assert out[0] == ("+ playbook p (new)\n    + step start: end\n"
                      "Plan: 1 to add, 0 to change, 0 to remove. In flight: 0 kept, "
                      "0 migrated, 0 drained.\n")
    assert out[1] == out[0] + "Applied.\n"
    assert out[2] == "No changes: this source is already deployed.\n"
    while OPEN:
        OPEN.pop().dispose()


def test_a_migrate_map_names_unlabelled_steps_as_diff_does(tmp_path: Path,
                                                           store_url: str) -> None:
    """`cadenza diff` names an unlabelled step `b2.2` and advises `b -> b2.2`; the map could
    not be written (E001 at the '.'), so customers there could never be migrated."""
    h = _in_flight(tmp_path, store_url)
    new = _project(tmp_path / "project", V2.replace("POLICY", "on change migrate {\n"
                                                                "    b -> b2.2\n  }"))
    assert "[3 in flight: migrated to b2.2]" in plan(h.store, new, "v2").render()  # type: ignore[arg-type]
    apply(h.store, new, "v2", ts("2026-03-02T13:00Z"))  # type: ignore[arg-type]
    assert {r.node for r in h.rows(t.enrollments)} == {"b2.2"}


def test_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    """The driver's words, without SQLAlchemy's statement and web link."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "main.play").write_text("playbook p {\n  when api\n  end\n}\n", "utf-8")
    (tmp_path / "notes.db").write_text("not a database", encoding="utf-8")
    result = CliRunner().invoke(cli, ["plan", str(tmp_path / "p"), "--db",
                                      f"sqlite:///{tmp_path / 'notes.db'}"])
    assert result.exit_code == 1
    assert result.output == (f"error: the store at sqlite:///{tmp_path / 'notes.db'} failed: "
                             "file is not a database.\n")


def test_pinned_customers_whose_template_was_deleted(tmp_path: Path, store_url: str) -> None:
    """A removed playbook's pinned customers run on; when the same change deleted the template
    their next step sends, that send is skipped with its reason, and nothing else stops."""
    h = _in_flight(tmp_path, store_url)
    (tmp_path / "project" / "templates" / "again.liquid").unlink()
    other = _project(tmp_path / "project", 'playbook q {\n  when api\n  end\n}\n')
    apply(h.store, other, "v3", ts("2026-03-02T13:00Z"))  # type: ignore[arg-type]
    assert h.runtime.refresh() is True  # as serve picks the deployment up: its templates too
    h.run("2026-03-06T00:00Z")
    assert {(r.customer_id, r.reason) for r in h.rows(t.suppressions)} >= {
        ("a", "render_error"), ("b", "render_error"), ("c", "render_error")}
    assert all(r.state == "done" for r in h.rows(t.enrollments))
