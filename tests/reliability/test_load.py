"""A reduced run of bench/load.py: under a small paced load on /v1/batch while the engine
sends, nothing is lost, the sends happen, and the figures are finite. Sanity, not timing:
the machine may be busy, so no latency target is asserted."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def load() -> Any:
    """bench/load.py as a module; its children are spawned, and find it on the same path."""
    sys.path.insert(0, str(BENCH))
    try:
        import load as module
    finally:
        sys.path.remove(str(BENCH))
    return module


@pytest.mark.timeout(240)
def test_reduced_load_loses_nothing_and_sends(load: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """1x, 2x and 4x of 40 events/s for 2 s each: every accepted event stored once, every
    send made once, latencies and rates finite, sends made during the load."""
    monkeypatch.syspath_prepend(str(BENCH))  # for the spawned children
    args = load.parse_args(["--base-rate", "40", "--step-seconds", "2", "--max-steps", "3",
                            "--batch-size", "20", "--connections", "4",
                            # on a busy machine a slow step is not a failure here
                            "--max-p99-ms", "1e9", "--max-lag-s", "1e9"])
    result = load.run(args, tmp_path)
    assert [s.multiple for s in result.steps] == [1, 2, 4]
    assert result.events_accepted == 40 * 2 * (1 + 2 + 4)
    assert result.events_stored_once == result.events_accepted
    assert (result.events_missing, result.events_doubled) == (0, 0)
    assert result.sends_expected == result.events_accepted // 5
    assert result.sends_made == result.sends_expected
    assert (result.sends_missing, result.sends_doubled) == (0, 0)
    for step in result.steps:
        assert step.errors == 0
        figures = (step.p50_ms, step.p99_ms, step.sends_per_s, step.lag_p50_s, step.lag_p99_s)
        assert all(math.isfinite(f) and f >= 0 for f in figures), figures
    # Sends happen while the load runs (on a very busy machine one step's may land in the
    # next step's window, so the sum, not each step, must be positive).
    assert sum(step.sends_per_s for step in result.steps) > 0
    assert "| 4x | 160 |" in "\n".join(load.table(result, args))
