"""`cadenza simulate` notices customers whom time alone moves into a segment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cadenza.engine.cli.main import cli

PROJECT = {
    "schema.play": """schema {
  customer { email_opt_in: bool  next_birthday: timestamp }
  event order_completed { order_value: number }
}
""",
    "birthday.play": """segment birthday_soon = next_birthday is set and next_birthday > now
  and next_birthday <= 2d from now

playbook birthday {
  when enters segment birthday_soon
  reenter after 300d
  wait until next_birthday
  send email text "Happy birthday!" subject "For you"
}
""",
}
# c1's birthday window opens on 2 March with nothing due and no event of its own; the only
# event is days later. c2 keeps the first look busy (who is already in is only recorded).
CUSTOMERS = [
    {"id": "c1", "email": "c1@example.com", "timezone": "Europe/London",
     "email_opt_in": True, "next_birthday": "2026-03-04T00:00:00Z"},
    {"id": "c2", "email": "c2@example.com", "timezone": "Europe/London",
     "email_opt_in": True, "next_birthday": "2026-04-20T00:00:00Z"},
]
EVENTS = [{"customer_id": "c2", "event": "order_completed",
           "timestamp": "2026-03-04T12:00:00Z", "properties": {"order_value": 10}}]


pytestmark = pytest.mark.usefixtures("quiet_cli_logs")


def test_time_moves_a_customer_into_a_watched_segment(tmp_path: Path) -> None:
    """Regression: the clock jumped from one event or due step to the next, so a customer who
    entered `birthday_soon` in between (no event, nothing due) was never enrolled; `serve`
    looks every 15 minutes, and so must the simulation."""
    for name, text in PROJECT.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (data / "customers.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in CUSTOMERS), encoding="utf-8")
    (data / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in EVENTS), encoding="utf-8")
    result = CliRunner().invoke(cli, ["simulate", str(tmp_path), "--start",
                                      "2026-03-01T00:00:00Z", "--days", "5", "--format",
                                      "json", "--db", str(tmp_path / "sim.db")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["enrollments"] == 1
    assert report["sends_per_day"] == {"2026-03-04": {"email": 1}}
