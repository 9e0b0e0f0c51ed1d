"""Compiled conditions, values and steps back to short text, for graphs, diffs and reports."""

from __future__ import annotations

import json

from cadenza.playbooks import model as m

_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def duration(seconds: int) -> str:
    if seconds == 0:
        return "0s"
    parts = []
    days, seconds = divmod(seconds, 86400)
    if days:  # in days, as caps and waits are written ("per 7d"), and as W060-W063 say them
        parts.append(f"{days}d")
    for unit, size in _UNITS[2:]:
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def days(numbers: tuple[int, ...]) -> str:
    if numbers == tuple(range(7)):
        return "every day"
    if numbers == (0, 1, 2, 3, 4):
        return "mon-fri"
    return ",".join(_DAY_NAMES[d] for d in numbers)


def const(c: m.Const) -> str:
    v = c.value
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return f"{v:g}"


def value(v: m.Value) -> str:
    match v:
        case m.Const():
            return const(v)
        case m.Ref():
            prefix = {"customer": "", "event": "event.", "playbook": "playbook.",
                      "bound": f"{v.var}."}[v.scope]
            return prefix + v.name
        case m.Rel():
            if v.offset_s == 0:
                return "now"
            return f"{duration(abs(v.offset_s))} {'ago' if v.offset_s < 0 else 'from now'}"
        case m.Agg():
            target = v.event if v.prop is None else f"{v.event}.{v.prop}"
            where = "" if v.where is None else f" where {cond(v.where)}"
            window = "" if v.window_s is None else f" in last {duration(v.window_s)}"
            return f"{v.fn}({target}{where}{window})"


def cond(c: m.Cond, parent: int = 0) -> str:
    """Canonical text; parentheses only where precedence (or < and < not) needs them."""
    match c:
        case m.AnyOf():
            text = " or ".join(cond(i, 1) for i in c.items)
            return f"({text})" if parent > 1 else text
        case m.AllOf():
            text = " and ".join(cond(i, 2) for i in c.items)
            return f"({text})" if parent > 2 else text
        case m.Negation():
            return f"not {cond(c.item, 3)}"
        case m.InSegment():
            return f"segment {c.name}"
        case m.Cmp():
            return f"{value(c.left)} {c.op} {value(c.right)}"
        case m.OneOf():
            return f"{value(c.value)} in [{', '.join(const(i) for i in c.items)}]"
        case m.Present():
            return f"{value(c.value)} is {'not ' if c.negated else ''}set"
        case m.Truth():
            return value(c.value)


def step(s: m.Step) -> str:
    """One line saying what a step does."""
    match s:
        case m.SendStep():
            what = f'"{s.template}"' if s.template else "text"
            return f"send {s.channel} {what}"
        case m.TaskStep():
            return f"task {json.dumps(s.title, ensure_ascii=False)}"
        case m.WaitStep():
            return f"wait {duration(s.seconds)}"
        case m.WaitUntilTimeStep():
            return f"wait until {days(s.days)} {clock(s.minutes)}"
        case m.WaitUntilAttrStep():
            off = "" if s.offset_s == 0 else (
                f" {'-' if s.offset_s < 0 else '+'} {duration(abs(s.offset_s))}")
            return f"wait until {s.attribute}{off}"
        case m.WaitEventStep():
            return f"wait for {s.event} (timeout {duration(s.timeout_s)})"
        case m.BranchStep():
            return "branch"
        case m.SplitStep():
            return f"split {s.name}"
        case m.UpdateStep():
            return "update " + ", ".join(f"{a.attribute} = {value(a.value)}"
                                         for a in s.assignments)
        case m.GotoStep():
            return f"goto {s.target}"
        case m.EndStep():
            return "end"


def entry(e: m.EntryRule) -> str:
    """An entry rule as written: `when event x where ...`, `when every monday 09:00 (zone)`."""
    match e:
        case m.EventEntry():
            where = "" if e.where is None else f" where {cond(e.where)}"
            return f"when event {e.event}{where}"
        case m.SegmentEntry():
            return f"when {'in' if e.current else 'enters'} segment {e.segment}"
        case m.ScheduleEntry():
            return f"when {e.text} ({e.zone})"
        case m.ApiEntry():
            return "when api"


def exit_rule(x: m.ExitRule) -> str:
    match x:
        case m.EventExit():
            where = "" if x.where is None else f" where {cond(x.where)}"
            return f"exit when event {x.event}{where}"
        case m.SegmentExit():
            return f"exit when leaves segment {x.segment}"


def goal(g: m.Goal) -> str:
    where = "" if g.where is None else f" where {cond(g.where)}"
    return f"goal {g.name}: event {g.event}{where} within {duration(g.within_s)}"
