"""Timestamps inside test blocks: zone-less values read in the customer's zone, bad ones
reported as diagnostics (never an internal error)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cadenza.engine.cli.main import cli

SCHEMA = """schema {
  customer { email_opt_in: bool  renews_at: timestamp }
  event booked { starts_at: timestamp }
}
"""
PLAYBOOKS = """playbook reminder {
  when event booked
  update renews_at = event.starts_at
  wait until renews_at - 1h
  send email text "Soon!" subject "Reminder"
}

playbook renewal {
  when api
  when event booked
  wait until renews_at - 1d
  send email text "Renewing tomorrow" subject "Renewal"
}
"""


pytestmark = pytest.mark.usefixtures("quiet_cli_logs")


def _project(tmp_path: Path, tests: str) -> Path:
    (tmp_path / "schema.play").write_text(SCHEMA, encoding="utf-8")
    (tmp_path / "main.play").write_text(PLAYBOOKS, encoding="utf-8")
    (tmp_path / "tests.play").write_text(tests, encoding="utf-8")
    return tmp_path


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), color=False)


def test_zoneless_event_property_is_in_the_customers_zone(tmp_path: Path) -> None:
    """Regression: `starts_at = 2026-03-10T10:00` (no zone) in a test event was an internal
    error ("has no time zone") instead of 10:00 in the customer's zone, as `at` is read."""
    project = _project(tmp_path, """test "zone-less property" {
  playbook reminder
  customer { email = "a@example.com", timezone = "Europe/Paris", email_opt_in = true }
  start 2026-03-01T00:00Z
  event booked at 2026-03-02T10:00 { starts_at = 2026-03-10T10:00 }
  expect email at 2026-03-10T09:00
  run until 2026-03-20T00:00Z
}
""")
    result = _invoke("test", str(project))
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"


def test_zoneless_customer_timestamp_is_in_the_customers_zone(tmp_path: Path) -> None:
    """Regression: a customer attribute `renews_at = 2026-03-10T10:00` was rejected as a
    problem ("has no time zone") although the docs read zone-less test times in the
    customer's zone."""
    project = _project(tmp_path, """test "zone-less attribute" {
  playbook renewal
  customer { email = "a@example.com", timezone = "America/New_York", email_opt_in = true,
             renews_at = 2026-03-10T10:00 }
  start 2026-03-01T00:00Z
  event booked at 2026-03-02T10:00 { starts_at = 2026-03-02T11:00Z }
  expect email at 2026-03-09T10:00
  run until 2026-03-20T00:00Z
}
""")
    result = _invoke("test", str(project))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"


def test_impossible_timestamps_are_diagnostics(tmp_path: Path) -> None:
    """Regression: `start 2026-02-30T00:00Z` crashed validate with "day is out of range";
    now each impossible time is an E021 at its position, with the accepted forms."""
    project = _project(tmp_path, """test "bad times" {
  playbook reminder
  customer { email = "a@example.com", timezone = "Europe/Paris", email_opt_in = true }
  start 2026-02-30T00:00Z
  event booked at 2026-03-02T10:00 { starts_at = 2026-13-10T10:00 }
  run until 2026-03-20T00:00Z
}
""")
    result = _invoke("validate", str(project))
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert "tests.play:4:9: error[E021]: '2026-02-30T00:00Z' is not a valid timestamp." in (
        result.output)
    assert ("tests.play:5:50: error[E021]: '2026-13-10T10:00' is not a valid timestamp for "
            "'starts_at'.") in result.output


@pytest.mark.parametrize(("local", "utc"), [
    ("2026-03-08T02:30", "2026-03-08T07:00Z"),  # skipped by the clocks: the end of the gap
    ("2026-11-01T01:30", "2026-11-01T05:30Z"),  # passed twice: the first (EDT)
])
def test_local_times_the_clocks_skip_or_repeat(tmp_path: Path, local: str, utc: str) -> None:
    """As docs/language.md § Playbook tests says: a skipped local time is read as the engine
    reads one (03:00 EDT, where the gap ends), a repeated one as its first occurrence."""
    (tmp_path / "main.play").write_text(
        SCHEMA + 'playbook now {\n  when event booked\n  send email text "Hi" subject "Hi"\n}\n'
        f'test "dst" {{\n  playbook now\n  customer {{ id = "a", email = "a@example.com", '
        f'timezone = "America/New_York" }}\n  event booked at {local} '
        f"{{ starts_at = 2026-12-01T00:00Z }}\n  expect email at {utc}\n}}\n", encoding="utf-8")
    result = _invoke("test", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"


def test_a_wait_until_a_skipped_time_matches_the_same_time_in_a_test(tmp_path: Path) -> None:
    """`wait until 02:30` on the night the clocks skip it sends at 03:00 EDT; the test that
    expects it "at 2026-03-08T02:30" (local) reads that the same way, so it passes (it read
    03:30 EDT before, and the most natural test of such a playbook failed)."""
    (tmp_path / "main.play").write_text(
        SCHEMA + 'playbook late {\n  when event booked\n  wait until 02:30\n'
        '  send email text "Hi" subject "Hi"\n}\n'
        'test "gap" {\n  playbook late\n  customer { id = "a", email = "a@example.com", '
        'timezone = "America/New_York" }\n  event booked at 2026-03-07T23:00 '
        "{ starts_at = 2026-12-01T00:00Z }\n  expect email at 2026-03-08T02:30\n}\n",
        encoding="utf-8")
    result = _invoke("test", str(tmp_path))
    assert result.exit_code == 0, result.output
