"""E032 and `wait until ATTRIBUTE`: a loop whose only wait is a date that has passed spins."""

from __future__ import annotations

from tests.playbooks.conftest import Make

LOOP = """playbook renewals {
  when event order_completed
  exit when event cart_abandoned
  loop: wait until renewal_date - 1d
  send email "welcome"
  goto loop
}
"""


def test_loop_waiting_only_for_a_date_is_e032(make_project: Make) -> None:
    """Regression: this loop validated, and once `renewal_date - 1d` had passed it sent the
    email thousands of times in one instant (a test run counted 3,333)."""
    loaded = make_project(LOOP)
    codes = [(d.code, d.span.line) for d in loaded.diagnostics]
    assert codes == [("E032", 4)], loaded.diagnostics
    message = loaded.diagnostics[0].message
    assert message == ("the loop loop -> loop.2 -> loop.3 -> loop waits only at 'loop', a "
                       "'wait until' a date attribute, which does not pause once the date "
                       "has passed, so the loop would repeat without pause.")


def test_a_date_wait_beside_a_real_wait_is_fine(make_project: Make) -> None:
    """With a fixed wait in the loop as well, it pauses every time round: no error."""
    loaded = make_project(LOOP.replace("  goto loop\n", "  wait 7d\n  goto loop\n"))
    assert [d.code for d in loaded.diagnostics] == []
