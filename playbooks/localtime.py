"""Local clock times made instants, one rule for the engine and the test reader:
- a time skipped by a spring-forward change (02:30 in New York on 2026-03-08) means the first
  instant after the gap (03:00 EDT);
- a time repeated by a fall-back change (01:30 in New York on 2026-11-01) means its first
  occurrence (01:30 EDT).
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["resolve_local", "wall_clock"]


def wall_clock(t: int, tz: ZoneInfo) -> datetime:
    """The local clock reading at instant `t`, as a naive datetime."""
    return datetime.fromtimestamp(t, tz).replace(tzinfo=None)


def _instants_at(wall: datetime, tz: ZoneInfo) -> list[int]:
    """Every instant whose local clock reads `wall`: none in a gap, two in a repeated hour."""
    found = {math.floor(wall.replace(tzinfo=tz, fold=fold).timestamp()) for fold in (0, 1)}
    return sorted(u for u in found if wall_clock(u, tz) == wall)


def resolve_local(wall: datetime, tz: ZoneInfo) -> int:
    """The first instant at which the local clock reaches `wall` (a naive local datetime).

    An existing time gives its (first) occurrence; a time inside a spring-forward gap gives the
    instant the gap ends.
    """
    found = _instants_at(wall, tz)
    if found:
        return found[0]
    # The two folds give instants on either side of the jump; the clock is monotonic between
    # them, so bisect for the first instant whose reading is past `wall`.
    guesses = [math.floor(wall.replace(tzinfo=tz, fold=f).timestamp()) for f in (0, 1)]
    lo, hi = min(guesses), max(guesses)
    while lo < hi:
        mid = (lo + hi) // 2
        if wall_clock(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid + 1
    return lo
