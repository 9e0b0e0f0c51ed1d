"""Time in the customer's zone: quiet hours, send windows, `wait until`, cron entries.

Every function here is pure: instants are integer epoch seconds (UTC), nothing reads the clock,
so `serve` and the simulator's virtual clock drive the same code.

Local clock times are resolved the same way everywhere:
- a time skipped by a spring-forward change (02:30 in New York on 2026-03-08) means the first
  instant after the gap (03:00 EDT);
- a time repeated by a fall-back change (01:30 in New York on 2026-11-01) means its first
  occurrence (01:30 EDT); the second pass does not make it happen again that day.
Quiet hours and send windows are read off the local clock at each instant, so during a repeated
hour both passes are judged by the clock reading.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from cadenza.playbooks.localtime import resolve_local, wall_clock
from cadenza.playbooks.model import QuietHours, SendWindow

__all__ = [
    "is_allowed",
    "local_iso",
    "next_allowed",
    "next_cron_fire",
    "next_local_time",
    "parse_timestamp",
    "resolve_local",
    "zone_info",
]

DAY_S = 86_400
DAY_MIN = 24 * 60
SEARCH_DAYS = 8  # a weekly window recurs within 7 days: 8 covers any start within a day
_PROBE_S = 6 * 3600  # offset changes are found by sampling this often, then bisecting


# ------------------------------------------------------------------ zones and timestamps
@functools.lru_cache(maxsize=1024)
def known_zone(zone: str) -> bool:
    try:
        zone_info(zone)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=512)
def zone_info(zone: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name, or a ValueError that says what to write instead."""
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: too long a name
        raise ValueError(f"'{zone}' is not a known time zone: use an IANA name such as "
                         "'Europe/London' or 'America/New_York'.") from exc


def local_iso(t: int, zone: str) -> str:
    """`t` as ISO 8601 in `zone`, with its offset: 2026-03-08T08:00:00-04:00."""
    return datetime.fromtimestamp(t, zone_info(zone)).isoformat()


def parse_timestamp(value: str | int | float) -> int:
    """Epoch seconds from epoch seconds or an ISO 8601 text with a zone; fractions are floored."""
    if isinstance(value, bool):  # bool is an int: True would silently mean 1970-01-01T00:00:01Z
        raise ValueError(f"{value!r} is not a timestamp: give epoch seconds or ISO 8601 text.")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a timestamp: epoch seconds must be finite.")
        return math.floor(value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"'{value}' is not an ISO 8601 timestamp: write it like "
                         "'2026-03-07T10:00:00Z' or '2026-03-07T10:00:00+01:00'.") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"The timestamp '{value}' has no time zone: add 'Z' for UTC or an "
                         "offset such as '+01:00'.")
    return math.floor(parsed.timestamp())


# ------------------------------------------------------------------ local clock <-> instants
def _at(day: date, minutes: int) -> datetime:
    return datetime.combine(day, time()) + timedelta(minutes=minutes)


def _offset_changes(start: int, end: int, tz: ZoneInfo) -> Iterator[int]:
    """Instants in (start, end] at which the zone's UTC offset changes."""
    lo = start
    while lo < end:
        hi = min(lo + _PROBE_S, end)
        before = _offset(lo, tz)
        if _offset(hi, tz) != before:
            a, b = lo, hi  # bisect for the first instant with the new offset
            while a + 1 < b:
                mid = (a + b) // 2
                a, b = (mid, b) if _offset(mid, tz) == before else (a, mid)
            yield b
        lo = hi


def _offset(t: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(t, tz).utcoffset()


# ------------------------------------------------------------------ wait until HH:MM
def next_local_time(t: int, zone: str, days: Sequence[int], minutes: int) -> int:
    """The first instant >= `t` when the local clock reaches `minutes` after midnight on one of
    `days` (0 = Monday): `wait until monday 09:00`, `wait until 09:00`."""
    tz = zone_info(zone)
    _check_days(days)
    if not 0 <= minutes < DAY_MIN:
        raise ValueError(f"{minutes} minutes after midnight is not a time of day: use 0-1439.")
    # Start a day early: a fall-back at midnight can put yesterday's clock readings after `t`.
    first = wall_clock(t, tz).date() - timedelta(days=1)
    for n in range(SEARCH_DAYS + 2):
        day = first + timedelta(days=n)
        if day.weekday() in days:
            u = resolve_local(_at(day, minutes), tz)
            if u >= t:
                return u
    raise AssertionError("unreachable: a non-empty set of weekdays recurs within a week")


def _check_days(days: Sequence[int]) -> None:
    if not days:
        raise ValueError("No weekdays were given: name at least one day (0 = Monday).")
    bad = [d for d in days if not 0 <= d <= 6]
    if bad:
        raise ValueError(f"Weekday {bad[0]} is out of range: use 0 (Monday) to 6 (Sunday).")


# ------------------------------------------------------------------ quiet hours, send windows
def _within(minute: int, start: int, end: int) -> bool:
    """`minute` in [start, end) of a local day; end < start crosses midnight; equal is empty."""
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end


@dataclass(frozen=True)
class SendRules:
    """The quiet hours and send windows that apply to one channel of one playbook. Build it
    once per playbook and channel: every send is checked against it."""

    quiet: tuple[QuietHours, ...]
    windows: tuple[SendWindow, ...]

    def allows(self, weekday: int, minute: int) -> bool:
        """The verdict at a local weekday (0 = Monday) and minute of the day; policy times are
        whole minutes, so seconds never change it."""
        for q in self.quiet:
            if _within(minute, q.start_min, q.end_min):
                return False
        return all(_in_window(w, weekday, minute) for w in self.windows)

    def allows_at(self, t: int, tz: ZoneInfo) -> bool:
        local = datetime.fromtimestamp(t, tz)
        return self.allows(local.weekday(), local.hour * 60 + local.minute)

    @functools.cached_property
    def edges(self) -> tuple[int, ...]:
        """Clock minutes at which the verdict may change; midnight because days change."""
        found = {0}
        for q in self.quiet:
            found.update((q.start_min % DAY_MIN, q.end_min % DAY_MIN))
        for w in self.windows:
            found.update((w.start_min % DAY_MIN, w.end_min % DAY_MIN))
        return tuple(sorted(found))


def _in_window(w: SendWindow, weekday: int, minute: int) -> bool:
    if w.start_min <= w.end_min:
        return weekday in w.days and w.start_min <= minute < w.end_min
    # Crossing midnight: the part after midnight belongs to the day the window opened.
    return ((weekday in w.days and minute >= w.start_min)
            or ((weekday - 1) % 7 in w.days and minute < w.end_min))


def is_allowed(t: int, zone: str, quiet: Sequence[QuietHours],
               windows: Sequence[SendWindow]) -> bool:
    """Whether instant `t` is outside every quiet-hours range and inside every send window."""
    return SendRules(tuple(quiet), tuple(windows)).allows_at(t, zone_info(zone))


def next_allowed(t: int, zone: str, quiet: Sequence[QuietHours],
                 windows: Sequence[SendWindow]) -> int:
    """The earliest instant >= `t` outside every quiet-hours range and inside every send window,
    on the customer's local clock; `t` itself when it is already allowed.

    The caller passes only the policies that apply to the channel. Raises ValueError when the
    policies allow no instant within 8 days.
    """
    return next_allowed_under(t, zone, SendRules(tuple(quiet), tuple(windows)))


def next_allowed_under(t: int, zone: str, rules: SendRules) -> int:
    """`next_allowed` with the rules built already."""
    tz = zone_info(zone)
    if rules.allows_at(t, tz):
        return t
    for n in range(SEARCH_DAYS):
        found = _first_allowed(t + n * DAY_S, t + (n + 1) * DAY_S, tz, rules)
        if found is not None:
            return found
    raise ValueError(
        f"The quiet hours and send windows leave no moment to send in the {SEARCH_DAYS} days "
        f"after {local_iso(t, zone)} ({zone}): make sure the send windows are not covered by "
        "quiet hours.")


def _first_allowed(start: int, end: int, tz: ZoneInfo, rules: SendRules) -> int | None:
    """The first allowed instant in (start, end]. The verdict only changes where the clock
    reaches an edge minute or jumps (a DST change), so only those instants are checked."""
    lo = start
    for change in (*_offset_changes(start, end, tz), None):
        hi = end if change is None else change - 1
        found = _first_allowed_fixed(lo, hi, _offset_s(hi, tz), rules)
        if found is not None:
            return found
        if change is not None:
            if rules.allows_at(change, tz):
                return change
            lo = change
    return None


def _first_allowed_fixed(lo: int, hi: int, offset: int, rules: SendRules) -> int | None:
    """The first allowed instant in (lo, hi], a stretch with one UTC offset, in plain integer
    arithmetic: this runs for every held message."""
    for day in range((lo + offset) // DAY_S, (hi + offset) // DAY_S + 1):
        weekday = (day + 3) % 7  # 1970-01-01, day 0, was a Thursday
        for minute in rules.edges:
            u = day * DAY_S + minute * 60 - offset
            if lo < u <= hi and rules.allows(weekday, minute):
                return u
    return None


def _offset_s(t: int, tz: ZoneInfo) -> int:
    offset = _offset(t, tz)
    return 0 if offset is None else int(offset.total_seconds())


# ------------------------------------------------------------------ cron entries
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # index = crontab number
_APS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = Python weekday


def next_cron_fire(cron: str, zone: str, after: int) -> int | None:
    """The first fire of a five-field crontab expression in `zone` strictly after `after`, or
    None when it never fires again.

    Day-of-week numbers mean what they mean in crontab (0 and 7 Sunday, 1 Monday), not what
    APScheduler 3 makes of them (0 Monday). When both day-of-month and day-of-week are
    restricted, either one matching fires, as in crontab. A time skipped by a spring-forward
    change fires when the gap ends; a repeated time fires on its first pass only.
    """
    tz = zone_info(zone)
    fires = [f for trigger in _triggers(cron, zone)
             if (f := _next_fire(trigger, tz, after)) is not None]
    return min(fires, default=None)


def _next_fire(trigger: CronTrigger, tz: ZoneInfo, after: int) -> int | None:
    now = after + 1  # instants are whole seconds, so ">= after + 1" is "strictly after"
    # Each skip moves past one fire in a repeated hour: at most one per minute of that hour.
    for _ in range(DAY_MIN + 1):
        fire: datetime | None = trigger.get_next_fire_time(None, datetime.fromtimestamp(now, UTC))
        if fire is None:
            return None
        # APScheduler reads a skipped time with the old offset (02:30 EST = 03:30 EDT) and fires
        # repeated times twice; resolve its clock reading our way instead.
        instant = resolve_local(fire.replace(tzinfo=None), tz)
        if instant > after:
            return instant
        now = math.floor(fire.timestamp()) + 1
    raise AssertionError(f"unreachable: no fire found for {trigger}")


@functools.lru_cache(maxsize=1024)
def _triggers(cron: str, zone: str) -> tuple[CronTrigger, ...]:
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"The cron expression '{cron}' has {len(fields)} fields; it needs five: "
                         "minute hour day-of-month month day-of-week.")
    minute, hour, dom, month, dow = fields
    days = _aps_days(dow, cron)
    if dom.startswith("*") or dow.startswith("*"):
        variants = [(dom, days)]
    else:  # both restricted: crontab fires when either matches, APScheduler when both do
        variants = [(dom, "*"), ("*", days)]
    tz = zone_info(zone)
    try:
        return tuple(CronTrigger(minute=minute, hour=hour, day=d, month=month, day_of_week=w,
                                 timezone=tz) for d, w in variants)
    except ValueError as exc:
        raise ValueError(f"The cron expression '{cron}' is not valid: {exc}.") from exc


def _aps_days(field: str, cron: str) -> str:
    """A crontab day-of-week field as APScheduler day names: '1-5' -> 'mon,tue,wed,thu,fri'."""
    try:
        numbers = {n for part in field.split(",") for n in _cron_day_part(part.lower())}
    except ValueError as exc:
        raise ValueError(
            f"The day-of-week field '{field}' of the cron expression '{cron}' is not understood: "
            "use numbers 0-7 (0 and 7 are Sunday), names sun-sat, ranges such as 1-5 or "
            "mon-fri, steps such as */2, and lists such as mon,wed,fri.") from exc
    weekdays = {(n - 1) % 7 for n in numbers}  # crontab 1 = Monday = Python weekday 0
    if len(weekdays) == 7:
        return "*"
    return ",".join(_APS_DAYS[d] for d in sorted(weekdays))


def _cron_day_part(part: str) -> range:
    body, slash, step_text = part.partition("/")
    step = int(step_text) if slash else 1
    if step < 1:
        raise ValueError("a step must be at least 1")
    if body == "*":
        return range(0, 7, step)
    first_text, dash, last_text = body.partition("-")
    first = _cron_day(first_text)
    last = _cron_day(last_text) if dash else (7 if slash else first)
    if last == 0 and first > 0:  # 'fri-sun': Sunday closes the week
        last = 7
    if last < first:
        raise ValueError("a range must run forwards")
    return range(first, last + 1, step)


def _cron_day(text: str) -> int:
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    raise ValueError(f"'{text}' is not a day")
