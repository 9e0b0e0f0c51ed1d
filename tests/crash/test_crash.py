"""Crash trials in CI: 20 per database, each guarantee counted; and proof the trials can fail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cadenza.engine.faults import FaultPlan, plan_from
from tests.providers import FakeSendGrid, FakeTwilio

from .project import SENDGRID_KEY, SID, TWILIO_TOKEN
from .suite import postgres_problem, run_db, summary_table
from .trial import MODES, Outcome, Trial, run_trial

CI_TRIALS = 20


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[FakeSendGrid, FakeTwilio]]:
    with FakeSendGrid(api_key=SENDGRID_KEY) as sendgrid, \
            FakeTwilio(account_sid=SID, auth_token=TWILIO_TOKEN) as twilio:
        yield sendgrid, twilio


def test_fault_points_need_the_test_build() -> None:
    """A stray CADENZA_FAULT_POINT in production arms nothing; typos are refused."""
    armed = {"CADENZA_FAULT_POINT": "after_commit", "CADENZA_FAULT_AFTER": "3"}
    assert plan_from(armed) == FaultPlan()
    assert plan_from({**armed, "CADENZA_TEST_BUILD": "1"}) == FaultPlan("after_commit", 3)
    sms = {"CADENZA_TEST_BUILD": "1", "CADENZA_FAULT_POINT": "after_provider_accept:sms"}
    assert plan_from(sms).point == "after_provider_accept:sms"
    with pytest.raises(ValueError, match="after_comit"):
        plan_from({"CADENZA_TEST_BUILD": "1", "CADENZA_FAULT_POINT": "after_comit"})
    with pytest.raises(ValueError, match="skip_leases"):
        plan_from({"CADENZA_TEST_BUILD": "1", "CADENZA_FAULT_BROKEN": "skip_leases"})


def _check(db: str) -> None:
    result = run_db(db, CI_TRIALS, seed=1)
    if result.skipped:
        pytest.skip(result.skipped)
    table = summary_table([result])
    assert not result.failed, f"{[o.failures() for o in result.failed]}\n{table}"
    fired = {o.killed for o in result.outcomes}
    assert set(MODES) <= fired, f"some kill points were never reached\n{table}"
    assert result.total("accepted") > 0
    assert result.total("dup_in_window") + result.total("sms_unknown") > 0, (
        "no kill caught a message in flight: the trials are not testing the window\n" + table)


def test_crash_trials_sqlite() -> None:
    """20 kills of serve on SQLite: nothing lost, nothing repeated outside the window, no
    row stuck after one lease period."""
    _check("sqlite")


@pytest.mark.postgres
def test_crash_trials_postgres() -> None:
    """The same 20 kills on PostgreSQL."""
    if (problem := postgres_problem()) is not None:
        pytest.skip(problem)
    _check("postgres")


def _broken(tmp_path: Path, providers: tuple[FakeSendGrid, FakeTwilio], mode: str,
            variant: str, tries: int = 4) -> list[Outcome]:
    out: list[Outcome] = []
    for seed in range(tries):
        workdir = tmp_path / str(seed)
        workdir.mkdir()
        out.append(run_trial(Trial("sqlite", mode, 900 + seed, variant), workdir, *providers))
        if out[-1].failures():
            break
    return out


def test_a_build_without_lease_recovery_fails_the_trial(
        tmp_path: Path, providers: tuple[FakeSendGrid, FakeTwilio]) -> None:
    """Killed with messages leased, a build that never takes leases back leaves them stuck."""
    outcomes = _broken(tmp_path, providers, "after_outbox_claim", "skip_lease_recovery")
    assert any(o.counts.stuck > 0 for o in outcomes), [o.counts for o in outcomes]


def test_a_build_that_resends_sms_fails_the_trial(
        tmp_path: Path, providers: tuple[FakeSendGrid, FakeTwilio]) -> None:
    """Killed after the provider took an SMS, a build that re-sends in-doubt SMS duplicates it,
    and the duplicate is counted outside the window."""
    outcomes = _broken(tmp_path, providers, "after_provider_accept:sms", "resend_sms")
    assert any(o.counts.dup_outside > 0 for o in outcomes), [o.counts for o in outcomes]
