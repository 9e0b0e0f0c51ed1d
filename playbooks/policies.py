"""Quiet hours, send windows, caps, consent, rate limits, time zone: for defaults and playbooks."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks.conditions import Scope, compile_cond
from cadenza.playbooks.durations import check_bounded
from cadenza.playbooks.report import Reporter

CHANNELS = ("email", "sms", "webhook")
DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
        "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
        "saturday": 5, "sunday": 6}
CAP_ACTIONS = ("defer", "skip")


def check_channel(name: ast.Ident, file: str, rep: Reporter) -> None:
    if name.name not in CHANNELS:
        rep.error("E016", file, name.span,
                  f"unknown channel '{name.name}'{did_you_mean(name.name, CHANNELS)}",
                  hint=f"channels are {', '.join(CHANNELS)}.")


def check_zone(zone: ast.Text, file: str, rep: Reporter) -> None:
    if not valid_zone(zone.value):
        rep.error("E021", file, zone.span, f"unknown time zone {zone.raw}.",
                  hint='use an IANA zone name such as "America/New_York" or "Europe/London".')


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        return False
    return True


def check_clock(c: ast.Clock, file: str, rep: Reporter) -> None:
    if c.minutes >= 24 * 60 or int(c.text.split(":")[1]) >= 60:
        rep.error("E021", file, c.span, f"'{c.text}' is not a time of day.",
                  hint="write hours 00-23 and minutes 00-59, e.g. 21:30.")


def check_positive(d: ast.Duration, file: str, rep: Reporter) -> None:
    check_bounded(d, file, rep)
    if d.seconds <= 0:
        rep.error("E021", file, d.span, f"the duration '{d.text}' must be longer than zero.",
                  hint="write a number and a unit: 30m, 2h, 1d, 1w.")


def day_numbers(days: Sequence[ast.DayRange], file: str, rep: Reporter) -> tuple[int, ...]:
    if not days:  # `send window email 09:00-17:00`: every day
        return tuple(range(7))
    out: set[int] = set()
    for r in days:
        if r.last is None and (group := DAY_GROUPS.get(r.first.name.lower())) is not None:
            out.update(group)
            continue
        first = _day(r.first, file, rep)
        last = first if r.last is None else _day(r.last, file, rep)
        if first is None or last is None:
            continue
        n = first
        out.add(n)
        while n != last:
            n = (n + 1) % 7
            out.add(n)
    return tuple(sorted(out))


# The words `wait until weekday 09:00` and `when every weekend` know, in a send window too:
# `on weekdays 09:00-17:00` says what the marketer means (Monday is 0).
DAY_GROUPS = {"weekday": range(5), "weekdays": range(5), "weekend": range(5, 7),
              "weekends": range(5, 7), "day": range(7), "daily": range(7)}


def _day(name: ast.Ident, file: str, rep: Reporter) -> int | None:
    day = DAYS.get(name.name.lower())
    if day is None and name.name.lower() in DAY_GROUPS:
        rep.error("E021", file, name.span,
                  f"'{name.name}' is a group of days and cannot end or start a range.",
                  hint="write the days themselves (mon-fri) or the group alone (on weekdays).")
    elif day is None:
        rep.error("E021", file, name.span,
                  f"unknown day '{name.name}'{did_you_mean(name.name.lower(), DAYS)}",
                  hint="days are mon, tue, wed, thu, fri, sat, sun (or written out), "
                       "weekdays, weekends or daily.")
    return day


def _count(lit: ast.Literal, file: str, rep: Reporter) -> int:
    value = lit.value
    if not isinstance(value, float) or value != int(value) or value < 1:
        rep.error("E021", file, lit.span, f"'{lit.raw}' must be a whole number of at least 1.",
                  hint="write a count such as 1, 2 or 10.")
        return 1
    return int(value)


def compile_policy(p: ast.Policy, scope: Scope, rep: Reporter) -> object:
    file = scope.file
    match p:
        case ast.QuietHours():
            return _quiet(p, file, rep)
        case ast.SendWindow():
            if p.channel is not None:
                check_channel(p.channel, file, rep)
            check_clock(p.start, file, rep)
            check_clock(p.end, file, rep)
            return m.SendWindow(channel=_name(p.channel), days=day_numbers(p.days, file, rep),
                                start_min=p.start.minutes, end_min=p.end.minutes)
        case ast.Cap():
            return _cap(p, file, rep)
        case ast.Consent():
            check_channel(p.channel, file, rep)
            return m.ConsentRule(channel=p.channel.name, cond=compile_cond(p.cond, scope, rep))
        case ast.RateLimit():
            check_positive(p.per, file, rep)
            return m.RateLimit(target=p.target.name, count=_count(p.count, file, rep),
                               per_s=max(p.per.seconds, 1))
        case ast.Timezone():
            check_zone(p.zone, file, rep)
            return p.zone.value


def _quiet(p: ast.QuietHours, file: str, rep: Reporter) -> m.QuietHours:
    if p.channel is not None:
        check_channel(p.channel, file, rep)
    check_clock(p.start, file, rep)
    check_clock(p.end, file, rep)
    if p.start.minutes == p.end.minutes:
        rep.error("E021", file, p.span,
                  f"quiet hours {p.start.text}-{p.end.text} are empty: start and end are equal.",
                  hint="write the quiet span, e.g. 21:00-08:00 (it may cross midnight), or "
                       "remove the line.")
    return m.QuietHours(channel=_name(p.channel), start_min=p.start.minutes,
                        end_min=p.end.minutes)


def _cap(p: ast.Cap, file: str, rep: Reporter) -> m.Cap:
    check_channel(p.channel, file, rep)
    check_positive(p.per, file, rep)
    action = "defer" if p.action is None else p.action.name
    if action not in CAP_ACTIONS:
        assert p.action is not None
        rep.error("E021", file, p.action.span,
                  f"'{action}' is not what a cap can do{did_you_mean(action, CAP_ACTIONS)}",
                  hint="write 'else defer' (send later, the default) or 'else skip'.")
        action = "defer"
    return m.Cap(channel=p.channel.name, count=_count(p.count, file, rep),
                 per_s=max(p.per.seconds, 1), action=action)


def _name(ident: ast.Ident | None) -> str | None:
    return None if ident is None else ident.name


def policy_key(p: ast.Policy) -> tuple[str, str | None]:
    """Two policies with the same key conflict; a playbook's replaces the default's."""
    match p:
        case ast.QuietHours() | ast.SendWindow():
            return type(p).__name__, _name(p.channel)
        case ast.Cap() | ast.Consent():
            return type(p).__name__, p.channel.name
        case ast.RateLimit():
            return "RateLimit", p.target.name
        case ast.Timezone():
            return "Timezone", None


def build_policies(items: Sequence[tuple[ast.Policy, object]]) -> m.Policies:
    compiled = [c for _, c in items]
    zones = [c for c in compiled if isinstance(c, str)]
    return m.Policies(
        quiet_hours=tuple(c for c in compiled if isinstance(c, m.QuietHours)),
        windows=tuple(c for c in compiled if isinstance(c, m.SendWindow)),
        caps=tuple(c for c in compiled if isinstance(c, m.Cap)),
        consent=tuple(c for c in compiled if isinstance(c, m.ConsentRule)),
        rate_limits=tuple(c for c in compiled if isinstance(c, m.RateLimit)),
        timezone=zones[-1] if zones else None,
    )


def merge(defaults: dict[tuple[str, str | None], tuple[ast.Policy, object]],
          own: dict[tuple[str, str | None], tuple[ast.Policy, object]]) -> m.Policies:
    merged = {**defaults, **own}
    return build_policies(list(merged.values()))


def collect(policies: Sequence[ast.Policy], scope: Scope, rep: Reporter,
            ) -> dict[tuple[str, str | None], tuple[ast.Policy, object]]:
    seen: dict[tuple[str, str | None], tuple[ast.Policy, object]] = {}
    for p in policies:
        key = policy_key(p)
        if key in seen:
            first = seen[key][0]
            rep.error("E010", scope.file, p.span, "this policy is declared twice for the same "
                      "channel.", hint="keep one of the two declarations.",
                      related=((scope.file, first.span),))
            continue
        seen[key] = (p, compile_policy(p, scope, rep))
    return seen


