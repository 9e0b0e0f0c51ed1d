"""Facts: a compiled thing as named short texts, so two versions are compared fact by fact.

A fact's key names what it is ("audience", "cap email", "arm 2"), its value says it in the
language's own words. Two versions differ exactly where a key's value differs; keys of
unordered things (entries, exits, goals, caps ...) do not depend on declaration order, so
reordering them is no change.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from cadenza.playbooks import describe as d
from cadenza.playbooks import model as m

Facts = dict[str, str]
Rename = Callable[[str | None], str]

EDGE_FIELDS = {"next": "then", "target": "goes to", "on_timeout": "on timeout",
               "otherwise": "else"}
FREE_TEXT = frozenset({"text", "subject", "title"})  # quoted: they may hold spaces and arrows
DURATIONS = {"seconds": "duration", "timeout_s": "timeout", "offset_s": "offset"}


def end_or(step_id: str | None) -> str:
    return "end" if step_id is None else step_id


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _step_field(s: m.Step, key: str, rename: Rename) -> Iterable[tuple[str, str]]:
    value = getattr(s, key)
    if key in EDGE_FIELDS:
        yield EDGE_FIELDS[key], rename(value) if value is not None or key == "next" else "-"
    elif key in DURATIONS:
        yield DURATIONS[key], d.duration(value)
    elif key == "where":
        yield "where", "-" if value is None else d.cond(value)
    elif key == "arms" and isinstance(s, m.BranchStep):
        for i, arm in enumerate(s.arms, 1):
            yield f"arm {i} when", d.cond(arm.cond)
            yield f"arm {i} goes to", rename(arm.target)
    elif key == "arms" and isinstance(s, m.SplitStep):
        for i, part in enumerate(s.arms, 1):
            yield f"arm {i} share", f"{part.percent:g}%"
            yield f"arm {i} goes to", rename(part.target)
    elif key == "assignments" and isinstance(s, m.UpdateStep):
        yield "set", ", ".join(f"{a.attribute} = {d.value(a.value)}" for a in s.assignments)
    elif key == "days":
        yield "days", d.days(value)
    elif key == "minutes":
        yield "time", d.clock(value)
    elif value is None:
        yield key, "-"
    else:
        yield key, value if isinstance(value, str) and key not in FREE_TEXT else _text(value)


def step_facts(s: m.Step, rename: Rename) -> Facts:
    """What a step does and where it leads; `rename` turns its targets into the other
    version's step ids, so an edge to a renamed step is no change."""
    out: Facts = {"kind": s.kind}
    for key in type(s).model_fields:
        if key not in ("id", "kind") and (key != "next" or uses_next(s)):
            out.update(_step_field(s, key, rename))
    return out


def uses_next(s: m.Step) -> bool:
    """Whether control can fall through to the next step in the file: if not, moving the
    step elsewhere in the file changes nothing."""
    if isinstance(s, m.BranchStep):
        return s.otherwise is None
    return not isinstance(s, m.GotoStep | m.EndStep | m.SplitStep)


def body_key(s: m.Step) -> str:
    """The step without its name and its edges: equal for steps that do the same thing."""
    facts = step_facts(s, lambda _target: "")
    return _text({k: v for k, v in facts.items()
                  if k not in EDGE_FIELDS.values() and not k.endswith(" goes to")})


# ------------------------------------------------------------------ playbook settings
def goal_text(g: m.Goal) -> str:
    where = "" if g.where is None else f" where {d.cond(g.where)}"
    return f"event {g.event}{where} within {d.duration(g.within_s)}"


def change_text(c: m.ChangePolicy) -> str:
    if c.mode != "migrate":
        return c.mode
    pairs = ", ".join(f"{a} -> {b}" for a, b in sorted(c.mapping.items()))
    return f"migrate {{{pairs}}}"


def _span(start: int, end: int) -> str:
    return f"{d.clock(start)}-{d.clock(end)}"


def policy_facts(p: m.Policies) -> Facts:
    found: dict[str, list[str]] = defaultdict(list)
    for q in p.quiet_hours:
        found[f"quiet hours {q.channel or 'all channels'}"].append(_span(q.start_min, q.end_min))
    for w in p.windows:
        found[f"send window {w.channel or 'all channels'}"].append(
            f"{d.days(w.days)} {_span(w.start_min, w.end_min)}")
    for c in p.caps:
        found[f"cap {c.channel}"].append(
            f"{c.count} per {d.duration(c.per_s)} else {c.action}")
    for r in p.consent:
        found[f"consent {r.channel}"].append(d.cond(r.cond))
    for lim in p.rate_limits:
        found[f"rate limit {lim.target}"].append(f"{lim.count} per {d.duration(lim.per_s)}")
    if p.timezone is not None:
        found["timezone"].append(p.timezone)
    return {k: "; ".join(sorted(v)) for k, v in sorted(found.items())}


def playbook_facts(pb: m.Playbook) -> Facts:
    """Everything about a playbook but its steps."""
    out: Facts = {"title": pb.title, "framework": pb.framework or "-",
                  "touch": pb.touch or "-", "owner": pb.owner,
                  "audience": "everyone" if pb.audience is None else d.cond(pb.audience),
                  "reenter": "once" if pb.reenter_after_s is None
                  else f"after {d.duration(pb.reenter_after_s)}",
                  "on change": change_text(pb.change)}
    out.update({f"entry {t}": t for t in sorted(d.entry(e) for e in pb.entries)})
    out.update({f"exit {t}": t for t in sorted(d.exit_rule(x) for x in pb.exits)})
    out.update({f"goal {g.name}": goal_text(g) for g in sorted(pb.goals, key=lambda g: g.name)})
    out.update(policy_facts(pb.policies))
    return out


def compare(before: Facts, after: Facts) -> list[tuple[str, str, str]]:
    """(key, before, after) for every fact that differs; "" stands for absent."""
    keys = list(before) + [k for k in after if k not in before]
    return [(k, before.get(k, ""), after.get(k, "")) for k in keys
            if before.get(k) != after.get(k)]
