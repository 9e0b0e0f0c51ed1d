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


def test_wrong_expected_time_fails_with_both_timelines(tmp_path: Path) -> None:
    """An expected time one hour off fails (exit 1) and shows expected vs actual, UTC and local."""
    project = tmp_path / "cart"
    shutil.copytree(CART, project)
    tests = project / "tests.play"
    text = tests.read_text(encoding="utf-8")
    right = 'expect email "cart-reminder" at 2026-03-10T15:00Z'
    assert right in text
    tests.write_text(text.replace(right, right.replace("15:00Z", "16:00Z")), encoding="utf-8")
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
