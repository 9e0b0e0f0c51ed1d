"""A task's queue is Liquid too: `to "{{ account_manager }}"` routes each customer's task to
their own owner; tests expect it by queue, explain shows it, and an empty one is not lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cadenza.engine.cli.main import cli
from cadenza.playbooks.project import load_project

pytestmark = pytest.mark.usefixtures("quiet_cli_logs")

PLAY = '''\
schema {
  customer { first_name: string  account_manager: string }
  event trial_started { seats: number }
}
playbook onboarding {
  touch high
  when event trial_started
  task "Call {{ first_name }} ({{ event.seats }} seats)" to "{{ account_manager }}"
}
test "the task goes to the customer's own manager" {
  playbook onboarding
  customer { id = "a", first_name = "Ivy", account_manager = "kai", timezone = "UTC" }
  event trial_started at 2026-03-02T10:00Z { seats = 12 }
  expect task "kai" at 2026-03-02T10:00Z
}
'''
NO_OWNER = '''\
test "no manager: no task, and the reason is shown" {
  playbook onboarding
  customer { id = "b", first_name = "Bo", timezone = "UTC" }
  event trial_started at 2026-03-02T10:00Z { seats = 3 }
  expect task "kai"
}
'''


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), color=False)


def test_the_queue_is_rendered_per_customer(tmp_path: Path) -> None:
    (tmp_path / "main.play").write_text(PLAY, encoding="utf-8")
    result = _invoke("test", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"


def test_another_queue_fails_the_test_and_names_the_actual_one(tmp_path: Path) -> None:
    (tmp_path / "main.play").write_text(PLAY.replace('task "kai"', 'task "sales"'), "utf-8")
    result = _invoke("test", str(tmp_path))
    assert result.exit_code == 1
    assert 'task "sales" at 2026-03-02T10:00Z' in result.output
    assert 'task "kai" at 2026-03-02T10:00Z' in result.output


def test_an_empty_queue_is_skipped_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "main.play").write_text(PLAY + NO_OWNER, encoding="utf-8")
    result = _invoke("test", str(tmp_path), "-k", "no manager")
    assert result.exit_code == 1
    assert "render_error" in result.output, result.output


def test_explain_shows_the_queue(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "main.play").write_text(PLAY, encoding="utf-8")
    (tmp_path / "customers.csv").write_text(
        "id,timezone,first_name,account_manager\na,UTC,Ivy,kai\n", encoding="utf-8")
    (tmp_path / "events.jsonl").write_text(
        '{"customer_id": "a", "event": "trial_started", "timestamp": "2026-03-02T10:00:00Z", '
        '"properties": {"seats": 12}}\n', encoding="utf-8")
    db = tmp_path / "sim.db"
    result = _invoke("simulate", str(project), "--customers", str(tmp_path / "customers.csv"),
                     "--events", str(tmp_path / "events.jsonl"), "--db", str(db))
    assert result.exit_code == 0, result.output
    result = _invoke("explain", "--db", str(db), "--customer", "a")
    assert result.exit_code == 0, result.output
    assert 'created task for queue "kai"' in result.output


def test_a_misspelt_attribute_in_the_queue_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "main.play").write_text(
        PLAY.replace('to "{{ account_manager }}"', 'to "{{ acount_manager }}"'), "utf-8")
    loaded = load_project(tmp_path)
    assert [d.message for d in loaded.diagnostics if d.code == "E038"] == [
        "the task queue uses the unknown variable 'acount_manager' — did you mean "
        "'account_manager'?"]


def test_a_filter_that_matches_no_test_fails(tmp_path: Path) -> None:
    (tmp_path / "main.play").write_text(PLAY, encoding="utf-8")
    result = _invoke("test", str(tmp_path), "-k", "zzz")
    assert result.exit_code == 1
    assert ('No test name contains "zzz"; the tests are: "the task goes to the customer\'s own '
            'manager". (-k matches part of a name, case-sensitively.)') in result.output
