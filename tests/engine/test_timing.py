"""Local time for policies, waits and cron entries: DST edges with the UTC instants spelled out."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadenza.engine.dataload import BadValueError, coerce
from cadenza.engine.timing import (
    is_allowed,
    local_iso,
    next_allowed,
    next_cron_fire,
    next_local_time,
    parse_timestamp,
)
from cadenza.playbooks.model import AttrType, QuietHours, SendWindow

NY, LONDON = "America/New_York", "Europe/London"
NIGHT = QuietHours(start_min=21 * 60, end_min=8 * 60)
OFFICE = SendWindow(days=(0, 1, 2, 3, 4), start_min=9 * 60, end_min=17 * 60)
MON, SUN = 0, 6


def utc(text: str) -> int:
    return parse_timestamp(text)


# ------------------------------------------------------------------ quiet hours
def test_allowed_instant_is_returned_unchanged() -> None:
    """An instant outside quiet hours is returned as it is, seconds included."""
    t = utc("2026-03-04T15:00:07Z")  # 10:00:07 EST
    assert next_allowed(t, NY, [NIGHT], []) == t


def test_quiet_hours_crossing_midnight_hold_until_morning() -> None:
    """A send at 22:30 local under quiet hours 21:00-08:00 moves to 08:00 the next day."""
    t = utc("2026-03-04T22:30:00-05:00")
    assert next_allowed(t, NY, [NIGHT], []) == utc("2026-03-05T13:00:00Z")


def test_quiet_hours_end_is_not_quiet_and_start_is() -> None:
    """08:00 is allowed under 21:00-08:00; 21:00 is held; 20:59 is allowed."""
    assert is_allowed(utc("2026-03-04T08:00:00-05:00"), NY, [NIGHT], [])
    assert not is_allowed(utc("2026-03-04T21:00:00-05:00"), NY, [NIGHT], [])
    assert is_allowed(utc("2026-03-04T20:59:59-05:00"), NY, [NIGHT], [])


def test_quiet_hours_within_a_day() -> None:
    """Quiet hours 13:00-14:00 hold a 13:20 send until 14:00 the same day."""
    lunch = QuietHours(start_min=13 * 60, end_min=14 * 60)
    t = utc("2026-07-01T13:20:00+01:00")
    assert next_allowed(t, LONDON, [lunch], []) == utc("2026-07-01T13:00:00Z")


def test_quiet_hours_across_new_york_spring_forward() -> None:
    """Held at 22:30 EST on 7 March 2026, the send goes at 08:00 EDT: 12:00 UTC, not 13:00."""
    t = utc("2026-03-07T22:30:00-05:00")
    assert next_allowed(t, NY, [NIGHT], []) == utc("2026-03-08T12:00:00Z")


def test_quiet_hours_ending_inside_the_new_york_gap() -> None:
    """Quiet until 02:30 on the spring-forward day ends when the gap ends: 03:00 EDT, 07:00 UTC."""
    early = QuietHours(start_min=23 * 60, end_min=2 * 60 + 30)
    t = utc("2026-03-08T01:30:00-05:00")
    assert next_allowed(t, NY, [early], []) == utc("2026-03-08T07:00:00Z")


def test_quiet_hours_across_new_york_fall_back() -> None:
    """Held at 22:00 EDT on 31 October 2026, the send goes at 08:00 EST: 13:00 UTC."""
    t = utc("2026-10-31T22:00:00-04:00")
    assert next_allowed(t, NY, [NIGHT], []) == utc("2026-11-01T13:00:00Z")


def test_quiet_hours_ending_in_the_repeated_new_york_hour() -> None:
    """Quiet hours ending 01:30 on the fall-back day end at the first 01:30 (EDT, 05:30 UTC)."""
    late = QuietHours(start_min=23 * 60, end_min=90)
    t = utc("2026-11-01T00:10:00-04:00")
    assert next_allowed(t, NY, [late], []) == utc("2026-11-01T05:30:00Z")


def test_quiet_hours_ending_inside_the_london_gap() -> None:
    """London skips 01:00-02:00 on 29 March 2026: quiet until 01:30 ends at 02:00 BST (01:00Z)."""
    early = QuietHours(start_min=0, end_min=90)
    t = utc("2026-03-29T00:45:00Z")  # 00:45 GMT
    assert next_allowed(t, LONDON, [early], []) == utc("2026-03-29T01:00:00Z")


def test_quiet_hours_across_london_spring_forward() -> None:
    """Held at 22:00 GMT on 28 March 2026, the send goes at 08:00 BST: 07:00 UTC."""
    t = utc("2026-03-28T22:00:00Z")
    assert next_allowed(t, LONDON, [NIGHT], []) == utc("2026-03-29T07:00:00Z")


def test_quiet_hours_across_london_fall_back() -> None:
    """Held at 23:00 BST on 24 October 2026, the send goes at 08:00 GMT: 08:00 UTC."""
    t = utc("2026-10-24T22:00:00Z")
    assert next_allowed(t, LONDON, [NIGHT], []) == utc("2026-10-25T08:00:00Z")


def test_repeated_hour_is_judged_by_the_clock() -> None:
    """In the repeated hour, 01:00 EST reads inside a 01:00-01:30 window again: 06:00 UTC."""
    window = SendWindow(days=tuple(range(7)), start_min=60, end_min=90)
    t = utc("2026-11-01T01:45:00-04:00")
    assert next_allowed(t, NY, [], [window]) == utc("2026-11-01T06:00:00Z")


# ------------------------------------------------------------------ send windows
def test_window_friday_evening_moves_to_monday_morning() -> None:
    """mon-fri 09:00-17:00: Friday 18:00 moves to Monday 09:00 (EDT by then: 13:00 UTC)."""
    t = utc("2026-03-06T18:00:00-05:00")
    assert next_allowed(t, NY, [], [OFFICE]) == utc("2026-03-09T13:00:00Z")


def test_window_end_is_outside() -> None:
    """17:00 is outside a 09:00-17:00 window; 16:59 is inside."""
    assert not is_allowed(utc("2026-03-04T17:00:00-05:00"), NY, [], [OFFICE])
    assert is_allowed(utc("2026-03-04T16:59:00-05:00"), NY, [], [OFFICE])


def test_window_crossing_midnight_belongs_to_its_opening_day() -> None:
    """A fri 22:00-02:00 window is open at Saturday 01:00 but not at Friday 01:00."""
    night = SendWindow(days=(4,), start_min=22 * 60, end_min=2 * 60)
    assert is_allowed(utc("2026-03-07T01:00:00-05:00"), NY, [], [night])
    assert not is_allowed(utc("2026-03-06T01:00:00-05:00"), NY, [], [night])
    t = utc("2026-03-06T01:00:00-05:00")
    assert next_allowed(t, NY, [], [night]) == utc("2026-03-06T22:00:00-05:00")


def test_quiet_hours_and_window_together() -> None:
    """Window mon-fri 07:00-10:00 with quiet 21:00-08:00: the send goes at the first 08:00
    on a weekday, whether held on a weekday morning or over the weekend."""
    morning = SendWindow(days=(0, 1, 2, 3, 4), start_min=7 * 60, end_min=10 * 60)
    monday_early = utc("2026-03-02T07:30:00-05:00")
    saturday = utc("2026-03-07T12:00:00-05:00")
    assert next_allowed(monday_early, NY, [NIGHT], [morning]) == utc("2026-03-02T13:00:00Z")
    assert next_allowed(saturday, NY, [NIGHT], [morning]) == utc("2026-03-09T12:00:00Z")


def test_no_allowed_instant_is_an_error() -> None:
    """Quiet hours that cover the only window raise a ValueError that says so."""
    window = SendWindow(days=(MON,), start_min=9 * 60, end_min=10 * 60)
    wide = QuietHours(start_min=8 * 60, end_min=11 * 60)
    with pytest.raises(ValueError, match="leave no moment") as info:
        next_allowed(utc("2026-03-02T15:00:00Z"), NY, [wide], [window])
    assert str(info.value) == (
        "The quiet hours and send windows leave no moment to send in the 8 days after "
        "2026-03-02T10:00:00-05:00 (America/New_York): make sure the send windows are not "
        "covered by quiet hours.")


def test_unknown_zone_is_an_error() -> None:
    """An unknown zone name raises a ValueError naming it."""
    with pytest.raises(ValueError, match="'Mars/Base' is not a known time zone"):
        next_allowed(0, "Mars/Base", [], [])


ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu",
         "Pacific/Auckland", "America/Santiago", "UTC", "Asia/Kolkata")
minute_of_day = st.integers(0, 24 * 60 - 1)
quiet_hours = st.builds(QuietHours, start_min=minute_of_day, end_min=minute_of_day).filter(
    lambda q: q.start_min != q.end_min)
windows = st.builds(
    SendWindow, days=st.frozensets(st.integers(0, 6), min_size=1).map(lambda d: tuple(sorted(d))),
    start_min=minute_of_day, end_min=minute_of_day)
# Days around 2026's changes in these zones, where the interesting mistakes hide.
CHANGES = ("2026-03-08", "2026-11-01", "2026-03-29", "2026-10-25", "2026-04-05", "2026-10-04",
           "2026-09-06", "2026-09-27")
near_changes = st.builds(lambda day, shift: utc(f"{day}T00:00:00Z") + shift,
                         st.sampled_from(CHANGES), st.integers(-3 * 86400, 3 * 86400))
instants = st.one_of(st.integers(utc("2020-01-01T00:00:00Z"), utc("2030-12-31T00:00:00Z")),
                     near_changes)


def oracle(t: int, zone: str, quiet: list[QuietHours], wins: list[SendWindow]) -> bool:
    """The rules read straight off the local clock, written independently of the engine."""
    local = datetime.fromtimestamp(t, ZoneInfo(zone))
    m, day = local.hour * 60 + local.minute, local.weekday()

    def inside(s: int, e: int) -> bool:
        return s <= m < e if s <= e else (m >= s or m < e)

    def open_(w: SendWindow) -> bool:
        if w.start_min <= w.end_min:
            return day in w.days and w.start_min <= m < w.end_min
        return (day in w.days and m >= w.start_min) or ((day - 1) % 7 in w.days
                                                        and m < w.end_min)

    return not any(inside(q.start_min, q.end_min) for q in quiet) and all(map(open_, wins))


@given(t=instants, zone=st.sampled_from(ZONES), quiet=st.lists(quiet_hours, max_size=2),
       wins=st.lists(windows, max_size=1))
def test_next_allowed_is_the_earliest_allowed_instant(
        t: int, zone: str, quiet: list[QuietHours], wins: list[SendWindow]) -> None:
    """next_allowed's answer is allowed, not before t, and no minute between t and it is."""
    try:
        found = next_allowed(t, zone, quiet, wins)
    except ValueError:
        assert not any(oracle(u, zone, quiet, wins) for u in range(t, t + 8 * 86400, 60))
        return
    assert found >= t
    assert oracle(found, zone, quiet, wins)
    # Boundaries are whole minutes, so an allowed stretch lasts at least a minute.
    assert not any(oracle(u, zone, quiet, wins) for u in range(t, found, 60))


# ------------------------------------------------------------------ wait until HH:MM
def test_wait_until_time_later_today_and_tomorrow() -> None:
    """`wait until 09:00` at 08:00 gives today's 09:00; at 10:00, tomorrow's; at 09:00, now."""
    every = tuple(range(7))
    assert next_local_time(utc("2026-03-04T08:00:00-05:00"), NY, every, 540) == utc(
        "2026-03-04T14:00:00Z")
    assert next_local_time(utc("2026-03-04T10:00:00-05:00"), NY, every, 540) == utc(
        "2026-03-05T14:00:00Z")
    nine = utc("2026-03-04T09:00:00-05:00")
    assert next_local_time(nine, NY, every, 540) == nine


def test_wait_until_monday_across_spring_forward() -> None:
    """`wait until monday 09:00` from Friday 6 March 2026 is 09:00 EDT on the 9th: 13:00 UTC."""
    t = utc("2026-03-06T12:00:00-05:00")
    assert next_local_time(t, NY, (MON,), 540) == utc("2026-03-09T13:00:00Z")


def test_wait_until_a_time_in_the_gap() -> None:
    """`wait until 02:30` on 8 March 2026 in New York is the end of the gap: 03:00 EDT, 07:00Z."""
    t = utc("2026-03-08T00:00:00-05:00")
    assert next_local_time(t, NY, tuple(range(7)), 150) == utc("2026-03-08T07:00:00Z")


def test_wait_until_a_repeated_time_fires_once() -> None:
    """`wait until 01:30` on 1 November 2026 is the first 01:30 (EDT, 05:30Z); from inside the
    repeated hour it is the next day's 01:30 EST (06:30Z), not the second pass."""
    every = tuple(range(7))
    assert next_local_time(utc("2026-11-01T04:00:00Z"), NY, every, 90) == utc(
        "2026-11-01T05:30:00Z")
    assert next_local_time(utc("2026-11-01T05:45:00Z"), NY, every, 90) == utc(
        "2026-11-02T06:30:00Z")


def test_wait_until_sunday_across_london_fall_back() -> None:
    """`wait until sunday 09:00` from Saturday 24 October 2026 is 09:00 GMT: 09:00 UTC."""
    t = utc("2026-10-24T09:00:00+01:00")
    assert next_local_time(t, LONDON, (SUN,), 540) == utc("2026-10-25T09:00:00Z")


def test_wait_until_without_days_is_an_error() -> None:
    """An empty set of weekdays raises a ValueError."""
    with pytest.raises(ValueError, match="No weekdays were given"):
        next_local_time(0, NY, (), 540)


@given(t=instants, zone=st.sampled_from(ZONES),
       days=st.frozensets(st.integers(0, 6), min_size=1), minutes=minute_of_day)
def test_next_local_time_lands_on_the_clock_time(t: int, zone: str, days: frozenset[int],
                                                 minutes: int) -> None:
    """The answer is not before t, on one of the days, at the clock time or at the end of the
    gap that skipped it, and within a week and a day."""
    found = next_local_time(t, zone, tuple(days), minutes)
    assert t <= found < t + 8 * 86400
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(found, tz)
    before = datetime.fromtimestamp(found - 1, tz)
    if local.hour * 60 + local.minute == minutes and local.second == 0:
        assert local.weekday() in days
    else:  # skipped by a gap: the clock jumped over it at `found`
        assert before.utcoffset() != local.utcoffset()


# ------------------------------------------------------------------ cron
SUNDAY_NOON = utc("2026-03-01T12:00:00-05:00")


def test_cron_one_means_monday_as_in_crontab() -> None:
    """"0 9 * * 1" fires on Monday, like "0 9 * * mon" (APScheduler 3 alone would say Tuesday)."""
    monday_nine = utc("2026-03-02T14:00:00Z")
    assert next_cron_fire("0 9 * * 1", NY, SUNDAY_NOON) == monday_nine
    assert next_cron_fire("0 9 * * mon", NY, SUNDAY_NOON) == monday_nine


@pytest.mark.parametrize("dow", ["0", "7", "sun"])
def test_cron_zero_and_seven_mean_sunday(dow: str) -> None:
    """Day-of-week 0, 7 and sun all fire on Sunday."""
    saturday = utc("2026-03-07T12:00:00-05:00")
    assert next_cron_fire(f"0 9 * * {dow}", NY, saturday) == utc("2026-03-08T13:00:00Z")


@pytest.mark.parametrize(("numbers", "names"), [
    ("1-5", "mon-fri"), ("6,0", "sat,sun"), ("5-7", "fri-sun"), ("*/2", "sun,tue,thu,sat"),
    ("*", "*")])
def test_cron_number_ranges_match_names(numbers: str, names: str) -> None:
    """Numeric day ranges, lists and steps fire exactly where their named forms do, all week."""
    t_num = t_name = SUNDAY_NOON
    for _ in range(8):
        t_num = next_cron_fire(f"0 9 * * {numbers}", NY, t_num) or 0
        t_name = next_cron_fire(f"0 9 * * {names}", NY, t_name) or 0
        assert t_num == t_name


def test_cron_fires_strictly_after() -> None:
    """A fire exactly at `after` is not returned again: the next one is."""
    monday_nine = utc("2026-03-02T14:00:00Z")
    assert next_cron_fire("0 9 * * mon-fri", NY, monday_nine) == utc("2026-03-03T14:00:00Z")


def test_cron_day_of_month_or_day_of_week() -> None:
    """"0 9 13 * 5" fires on the 13th and on every Friday, as crontab does."""
    t = utc("2026-03-01T00:00:00Z")
    fires = []
    for _ in range(4):
        t = next_cron_fire("0 9 13 * 5", "UTC", t) or 0
        fires.append(local_iso(t, "UTC")[:10])
    assert fires == ["2026-03-06", "2026-03-13", "2026-03-20", "2026-03-27"]
    t = utc("2026-04-01T00:00:00Z")
    assert local_iso(next_cron_fire("0 9 13 * 5", "UTC", t) or 0, "UTC") == (
        "2026-04-03T09:00:00+00:00")


def test_cron_in_the_spring_gap_fires_when_it_ends() -> None:
    """"30 2 * * *" on 8 March 2026 in New York fires at 03:00 EDT (07:00Z), once."""
    t = utc("2026-03-07T12:00:00Z")
    fire = next_cron_fire("30 2 * * *", NY, t)
    assert fire == utc("2026-03-08T07:00:00Z")
    assert next_cron_fire("30 2 * * *", NY, fire) == utc("2026-03-09T06:30:00Z")


def test_cron_in_the_repeated_hour_fires_once() -> None:
    """"30 1 * * *" on 1 November 2026 in New York fires at 01:30 EDT only, then on the 2nd."""
    fire = next_cron_fire("30 1 * * *", NY, utc("2026-11-01T04:00:00Z"))
    assert fire == utc("2026-11-01T05:30:00Z")
    assert next_cron_fire("30 1 * * *", NY, fire) == utc("2026-11-02T06:30:00Z")


def test_cron_that_never_fires_gives_none() -> None:
    """"0 0 30 2 *" (30 February) never fires: None."""
    assert next_cron_fire("0 0 30 2 *", "UTC", 0) is None


@pytest.mark.parametrize(("cron", "message"), [
    ("0 9 * *", "The cron expression '0 9 * *' has 4 fields; it needs five: minute hour "
                "day-of-month month day-of-week."),
    ("0 9 * * 8", "The day-of-week field '8' of the cron expression '0 9 * * 8' is not "
                  "understood: use numbers 0-7 (0 and 7 are Sunday), names sun-sat, ranges "
                  "such as 1-5 or mon-fri, steps such as */2, and lists such as mon,wed,fri."),
])
def test_bad_cron_is_an_error(cron: str, message: str) -> None:
    """A malformed cron expression raises a ValueError with the whole story."""
    with pytest.raises(ValueError, match="cron expression") as info:
        next_cron_fire(cron, "UTC", 0)
    assert str(info.value) == message


def test_bad_cron_minute_is_an_error() -> None:
    """An out-of-range minute raises a ValueError that quotes the expression."""
    with pytest.raises(ValueError, match=r"^The cron expression '61 9 \* \* \*' is not valid"):
        next_cron_fire("61 9 * * *", "UTC", 0)


# ------------------------------------------------------------------ timestamps
def test_parse_timestamp_with_zone() -> None:
    """ISO 8601 with Z or an offset gives epoch seconds; numbers pass through, floored."""
    assert parse_timestamp("2026-03-08T12:00:00Z") == 1772971200
    assert parse_timestamp("2026-03-08T08:00:00-04:00") == 1772971200
    assert parse_timestamp(1772971200.9) == 1772971200
    assert parse_timestamp(1772971200) == 1772971200


def test_timestamp_without_zone_is_an_error() -> None:
    """A timestamp without a zone raises a ValueError saying how to add one."""
    with pytest.raises(ValueError, match="has no time zone") as info:
        parse_timestamp("2026-03-07T10:00")
    assert str(info.value) == ("The timestamp '2026-03-07T10:00' has no time zone: add 'Z' "
                               "for UTC or an offset such as '+01:00'.")


def test_a_timestamp_attribute_without_zone_reads_as_one_sentence() -> None:
    """In a data file's warning the reason follows the attribute's name mid-sentence."""
    with pytest.raises(BadValueError) as info:
        coerce("2026-03-07T10:00", AttrType(type="timestamp"), "plan_renews_at")
    assert str(info.value) == ("'plan_renews_at': the timestamp '2026-03-07T10:00' has no time "
                               "zone: add 'Z' for UTC or an offset such as '+01:00'.")


def test_timestamp_that_is_not_iso_is_an_error() -> None:
    """Text that is not ISO 8601 raises a ValueError with an example."""
    with pytest.raises(ValueError, match="is not an ISO 8601 timestamp"):
        parse_timestamp("next tuesday")


def test_local_iso_shows_the_offset() -> None:
    """local_iso gives the local clock with its offset, EDT after the March change."""
    assert local_iso(utc("2026-03-08T12:00:00Z"), NY) == "2026-03-08T08:00:00-04:00"
    assert local_iso(utc("2026-03-07T12:00:00Z"), NY) == "2026-03-07T07:00:00-05:00"
