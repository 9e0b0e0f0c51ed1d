"""simulate's default span, as docs/simulate.md ("Which days are simulated") states it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cadenza.engine.dataload import Loaded
from cadenza.engine.simulate import default_span
from cadenza.engine.state import Event


def _at(day: str) -> int:
    return int(datetime.fromisoformat(f"{day}T10:00:00+00:00").timestamp())


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _history(*days: str) -> Loaded:
    return Loaded(events=[Event(customer_id="c", name="e", ts=_at(d), properties={})
                          for d in days])


@pytest.mark.parametrize(("days", "first", "last", "expected"), [
    (None, "2026-01-20", "2026-03-27", ("2026-02-26 00:00", "2026-03-28 00:00")),
    (10, "2026-01-20", "2026-03-27", ("2026-03-18 00:00", "2026-03-28 00:00")),
    # A file shorter than --days: from its first day, --days long, past its last event.
    (None, "2026-03-09", "2026-03-18", ("2026-03-09 00:00", "2026-04-08 00:00")),
])
def test_the_default_span_is_the_documented_one(days: int | None, first: str, last: str,
                                                expected: tuple[str, str]) -> None:
    start, end = default_span(_history(first, last), None, days)
    assert (_day(start), _day(end)) == expected


def test_an_explicit_start_runs_days_from_there() -> None:
    start, end = default_span(_history("2026-03-09"), _at("2026-01-01"), 3)
    assert (_day(start), _day(end)) == ("2026-01-01 10:00", "2026-01-04 10:00")
