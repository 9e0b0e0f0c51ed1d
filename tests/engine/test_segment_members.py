"""`when in segment S`: whoever is in S when the playbook starts enters, and whoever joins
later; `when enters segment S` takes only those who join later."""

from __future__ import annotations

from pathlib import Path

from cadenza.engine.runtime import Runtime
from cadenza.playbooks.project import load_project
from tests.engine.harness import Harness, ts

PLAY = """\
segment gold_tier = tier == "gold"

playbook welcome_all {
  when in segment gold_tier
  send email "hello"
}

playbook welcome_new {
  when enters segment gold_tier
  send email "again"
}
"""


def _sent(h: Harness) -> list[tuple[str, str | None]]:
    return sorted((cid, template) for cid, _, template, _ in h.sends())


def test_members_at_the_start_enter_once_and_newcomers_enter_both(tmp_path: Path,
                                                                  store_url: str) -> None:
    h = Harness(tmp_path, store_url, PLAY)
    h.customers({"id": "ana", "tier": "gold", "email_opt_in": True},
                {"id": "bob", "tier": "basic", "email_opt_in": True})
    h.run("2026-03-02T10:00Z")
    assert _sent(h) == [("ana", "hello")]  # in the segment already: only `when in` takes her
    h.customers({"id": "bob", "tier": "gold", "email_opt_in": True},
                {"id": "ana", "tier": "gold", "email_opt_in": True})
    h.run("2026-03-02T10:20Z")  # the next full look (every 15 minutes) sees bob join
    assert _sent(h) == [("ana", "hello"), ("bob", "again"), ("bob", "hello")]
    h.run("2026-03-05T10:00Z", ("ana", "clicked", "2026-03-05T09:00Z", {}))
    assert len(h.sends()) == 3  # the first look's members enter once, not at every look


def test_a_new_version_does_not_enroll_the_members_again(tmp_path: Path,
                                                         store_url: str) -> None:
    """Members at the start are taken once per playbook: a changed version deployed later
    (which re-entry rules would let her enter again) enrolls newcomers only."""
    h = Harness(tmp_path, store_url, PLAY.replace("  when in", "  reenter after 1d\n  when in"))
    h.customers({"id": "ana", "tier": "gold", "email_opt_in": True})
    h.run("2026-03-02T10:00Z")
    main = tmp_path / "project" / "main.play"
    main.write_text(main.read_text("utf-8").replace('"hello"', '"again"', 1), "utf-8")
    loaded = load_project(tmp_path / "project")
    assert loaded.project is not None, loaded.diagnostics
    first = h.runtime.active["welcome_all"].id
    h.runtime = Runtime(project=loaded.project, store=h.store)
    h.runtime.deploy(ts("2026-03-04T10:00Z"))
    assert h.runtime.active["welcome_all"].id != first  # a new version runs
    h.run("2026-03-04T10:30Z")
    assert [(c, tpl, at) for c, _, tpl, at in h.sends()] == [
        ("ana", "hello", "2026-03-02T10:00Z")]
