"""Durations in graphs, diffs and reports read the way people write them."""

from __future__ import annotations

import pytest

from cadenza.playbooks.describe import duration


@pytest.mark.parametrize(("seconds", "text"), [
    (30 * 86400, "30d"),  # a month is not "4w2d"
    (90 * 86400, "90d"),
    (14 * 86400, "14d"),  # as people write caps and waits, and as the conflict warnings do
    (7 * 86400 + 12 * 3600, "7d12h"),
    (86400 + 90, "1d1m30s"),
    (3600, "1h"),
    (0, "0s"),
])
def test_durations_read_in_days(seconds: int, text: str) -> None:
    assert duration(seconds) == text
