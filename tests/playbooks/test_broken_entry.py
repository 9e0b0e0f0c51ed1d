"""A syntax error in a playbook's only `when` line is reported once, without a "no entry"."""

from __future__ import annotations

from tests.playbooks.conftest import Make

BROKEN = """playbook weekly {
  when every monday 10:00
  send email "welcome"
}

playbook empty {
  send email "welcome"
}
"""


def test_broken_when_line_is_not_also_no_entry(make_project: Make) -> None:
    """Regression: `when every monday 10:00` (no `at`) gave the syntax error and also E042
    "playbook 'weekly' has no entry", whose fix ("add one: when ...") sends the author to add
    a line they already wrote. A playbook that really has no entry still gets E042."""
    loaded = make_project(BROKEN)
    found = [(d.code, d.span.line) for d in loaded.diagnostics]
    assert found == [("E001", 2), ("E042", 6)], loaded.diagnostics
