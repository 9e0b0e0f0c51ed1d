"""A loop back to `wait until [DAY] HH:MM` at the very moment that wait ended waits for the
next occurrence; it does not spin through the loop again at the same instant."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cadenza.engine.cli.main import cli

PROJECT = """schema {
  customer { email_opt_in: bool }
  event joined { plan: string }
  event workout_logged { minutes: number }
  event cancelled { reason: string }
}

playbook weekly_coach {
  when event joined
  exit when event cancelled

  week: wait until monday 07:30
  branch {
    when count(workout_logged in last 7d) >= 1 -> streak
    else -> nudge
  }
  streak: send email text "Keep it up" subject "Streak"
  goto week
  nudge: send email text "Time to move" subject "Nudge"
  goto week
}

test "one email per Monday" {
  playbook weekly_coach
  customer { email = "mia@example.com", timezone = "Australia/Sydney", email_opt_in = true }
  start 2026-03-20T00:00Z
  event joined at 2026-03-25T18:00 { plan = "monthly" }
  event workout_logged at 2026-03-26T07:00 { minutes = 30 }
  expect email at 2026-03-30T07:30
  expect email at 2026-04-06T07:30
  event cancelled at 2026-04-08T10:00 { reason = "moving" }
  run until 2026-05-01T00:00Z
}
"""


pytestmark = pytest.mark.usefixtures("quiet_cli_logs")


def test_weekly_loop_sends_once_per_week(tmp_path: Path) -> None:
    """Regression: `goto week` at Monday 07:30 found "the next Monday 07:30" to be now, so the
    loop ran again at once, sending about a thousand emails in one instant (until the runaway
    guard), though E032 had accepted the loop as having a wait. 6 April 2026 is also the first
    Monday after Sydney's clocks go back: still 07:30 local."""
    (tmp_path / "main.play").write_text(PROJECT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["test", str(tmp_path)], color=False)
    assert result.exit_code == 0, result.output[:2000]
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"
