"""`cadenza test`: every example's playbook tests pass; a wrong expectation reads clearly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cadenza.engine.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if (p / "cadenza.toml").is_file())
CART = REPO / "examples" / "cart_recovery"


pytestmark = pytest.mark.usefixtures("quiet_cli_logs")


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), color=False)


def _count_tests(project: Path) -> int:
    return sum(len(re.findall(r"^test \"", p.read_text(encoding="utf-8"), re.M))
               for p in project.glob("*.play"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes(example: Path) -> None:
    """`cadenza test examples/X` runs every test of the example and all pass."""
    result = _invoke("test", str(example))
    assert result.exit_code == 0, result.output
    count = _count_tests(example)
    assert count > 0
    lines = result.output.splitlines()
    assert lines[-1] == f"{count} passed, 0 failed"
    assert sum(line.startswith("ok   \"") for line in lines) == count


def _cart_expecting(tmp_path: Path, right: str, wrong: str) -> Path:
    """A copy of the cart example whose tests.play expects `wrong` where it says `right`."""
    project = tmp_path / "cart"
    shutil.copytree(CART, project)
    tests = project / "tests.play"
    text = tests.read_text(encoding="utf-8")
    assert right in text
    tests.write_text(text.replace(right, wrong), encoding="utf-8")
    return project


def test_wrong_expected_time_fails_with_both_timelines(tmp_path: Path) -> None:
    """An expected time one hour off fails (exit 1) and shows expected vs actual, UTC and local."""
    right = 'expect email "cart-reminder" at 2026-03-10T15:00Z'
    project = _cart_expecting(tmp_path, right, right.replace("15:00Z", "16:00Z"))
    tests = project / "tests.play"
    result = _invoke("test", str(project), "-k", "reminder after an hour")
    assert result.exit_code == 1
    assert result.output == (
        f'FAIL "reminder after an hour, SMS the next day" ({tests}:5:1)\n'
        "     expected                                                    actual\n"
        '  ✗  email "cart-reminder" at 2026-03-10T16:00Z (Tue 12:00 EDT)  '
        'email "cart-reminder" at 2026-03-10T15:00Z (Tue 11:00 EDT)\n'
        "     sms at 2026-03-11T15:00Z (Wed 11:00 EDT)                    "
        "sms at 2026-03-11T15:00Z (Wed 11:00 EDT)\n"
        "0 passed, 1 failed\n")


def test_zoneless_time_is_in_the_customers_zone(tmp_path: Path) -> None:
    """An expected time without a zone is read in the customer's zone (New York here)."""
    project = tmp_path / "cart"
    shutil.copytree(CART, project)
    tests = project / "tests.play"
    text = tests.read_text(encoding="utf-8")
    right = 'expect email "cart-reminder" at 2026-03-10T15:00Z'
    tests.write_text(text.replace(right, 'expect email "cart-reminder" at 2026-03-10T11:00'),
                     encoding="utf-8")
    result = _invoke("test", str(project), "-k", "reminder after an hour")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"


RENEWAL = """\
schema {
  customer { plan_renews_at: timestamp }
}
segment renewal_due = plan_renews_at is set and plan_renews_at <= 30d from now
playbook renewal {
  when enters segment renewal_due
  send email text "Renews soon" subject "Renewal"
}
"""


@pytest.mark.parametrize("start", ["", "  start 2026-03-25T00:00Z\n"], ids=["no-start", "start"])
def test_already_in_the_watched_segment_is_noted(tmp_path: Path, start: str) -> None:
    """A `when enters segment` test whose customer was in the segment when the test began
    fails with a note saying why nothing started and what to change; with a `start` before
    the customer joins, the same test passes."""
    (tmp_path / "cadenza.toml").write_text('[project]\nname = "r"\n', encoding="utf-8")
    (tmp_path / "renewal.play").write_text(RENEWAL, encoding="utf-8")
    (tmp_path / "tests.play").write_text(
        'test "thirty days before" {\n  playbook renewal\n'
        '  customer { id = "t-1", email = "a@example.com", '
        "plan_renews_at = 2026-04-30T12:00 }\n"
        f"{start}  expect email at 2026-03-31T12:00Z\n}}\n", encoding="utf-8")
    result = _invoke("test", str(tmp_path))
    if start:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1
    assert ("note: the customer was already in segment 'renewal_due' when the test began "
            "(2026-03-31T12:00Z, its earliest event or expected send, as a test without "
            "`start` does); `when enters segment` enrols only customers who join the segment "
            "later, so nothing started. Put `start` before the customer joins the segment, or "
            "use `when in segment` to enrol those already in it.") in result.output


def _failing(tmp_path: Path, play: str) -> list[str]:
    """The output lines of `cadenza test` on a one-file project whose test fails."""
    (tmp_path / "cadenza.toml").write_text('[project]\nname = "n"\n', encoding="utf-8")
    (tmp_path / "p.play").write_text(play, encoding="utf-8")
    result = _invoke("test", str(tmp_path))
    assert result.exit_code == 1
    return result.output.splitlines()


def test_a_test_whose_event_started_nothing_says_why(tmp_path: Path) -> None:
    """A customer outside the audience: the failure's "(nothing)" comes with the reason, as
    `cadenza explain` gives it."""
    lines = _failing(
        tmp_path, "schema {\n  customer { opted: bool }\n  event delivered { v: number }\n}\n"
        "playbook thanks {\n  when event delivered\n  audience opted\n"
        '  send email text "Thanks" subject "Hi"\n}\n'
        'test "opted out" {\n  playbook thanks\n'
        '  customer { id = "t-1", email = "a@example.com", opted = false }\n'
        "  event delivered at 2026-03-02T12:00Z { v = 1 }\n"
        "  expect email at 2026-03-02T12:00Z\n}\n")
    assert ("  note: event delivered at 2026-03-02T12:00Z did not start 'thanks': the audience "
            "was false (audience opted)") in lines


def test_a_failure_names_the_experiment_arm_taken(tmp_path: Path) -> None:
    """A newcomer's control-arm customer failed `expect email` with no hint why: the control
    arm sends nothing and left no trace. The note names the arm (a holdout already has its
    suppression note)."""
    lines = _failing(
        tmp_path, "schema {\n  event lapsed { days: number }\n}\n"
        "playbook reengagement {\n  when event lapsed\n"
        "  split subject_test {\n    30% -> subject_a\n    30% -> subject_b\n"
        "    30% -> control\n    holdout 10%\n  }\n"
        '  subject_a: send email text "A" subject "A"\n  end\n'
        '  subject_b: send email text "B" subject "B"\n  end\n'
        "  control: end\n}\n"
        'test "c11 gets an email" {\n  playbook reengagement\n'
        '  customer { id = "c11", email = "a@example.com" }\n'
        "  event lapsed at 2026-03-02T12:00Z { days = 40 }\n"
        "  expect email at 2026-03-02T12:00Z\n}\n")
    assert ("  note: the journey entered at 2026-03-02T12:00Z took arm 'control' of split "
            "'subject_test'") in lines


def test_a_deferral_note_says_until_when(tmp_path: Path) -> None:
    """The docs' "reading a failure": the quiet-hours note gives the release time, as explain
    does (it said only "was deferred (quiet_hours)")."""
    right = 'expect email "cart-reminder" at 2026-03-08T12:00Z'
    project = _cart_expecting(tmp_path, right, right.replace("12:00Z", "13:00Z"))
    result = _invoke("test", str(project), "-k", "quiet hours across midnight")
    assert result.exit_code == 1
    assert ("  note: at 2026-03-08T04:30Z (Sat 23:30 EST) step 'reminder' was deferred until "
            "2026-03-08T12:00Z (Sun 08:00 EDT) (quiet_hours)") in result.output.splitlines()
