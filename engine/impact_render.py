"""The impact of a diff as text (under the plan) and as markdown (in the pull-request comment)."""

from __future__ import annotations

from cadenza.engine.impact import PlaybookImpact, StepImpact
from cadenza.engine.report import utc_minute

SimTable = dict[str, dict[str, dict[str, list[int]]]]
GROUP_LABEL = {"sends": "sends", "suppressed": "suppressed", "conversions": "goal"}


def _delta(a: int, b: int) -> str:
    return "" if a == b else f" ({b - a:+d})"


def _totals(p: PlaybookImpact) -> str:
    return (f"on change {p.policy}, {p.in_flight} in flight: {p.kept} kept, "
            f"{p.migrated} migrated, {p.drained} drained")


def _step(s: StepImpact) -> str:
    return f"step {s.step} (version {s.version}): {s.count} {s.fate}"


def flight_text(impacts: list[PlaybookImpact], db: str) -> str:
    out = [f"In flight (store {db}):"]
    if not impacts:
        out.append("  no changed or removed playbook has customers in flight.")
    for p in impacts:
        out.append(f"  {p.playbook}: {_totals(p)}")
        for s in p.steps:
            out.append(f"    {'!' if s.flag else ' '} {_step(s)}")
            if s.flag:
                out.append(f"        {s.flag}")
    return "\n".join(out)


def _rows(sim: SimTable) -> list[tuple[str, str, int, int]]:
    return [(name, f"{GROUP_LABEL[group]} {key}", a, b)
            for name, groups in sim.items() for group, values in groups.items()
            for key, (a, b) in values.items()]


def _period(span: tuple[int, int]) -> str:
    # The span `cadenza simulate` takes without --start: its figures compare with these.
    days = (span[1] - span[0]) // 86_400
    return (f"{utc_minute(span[0])} → {utc_minute(span[1])}, the {days} days `cadenza "
            "simulate` runs without --start")


def sim_text(sim: SimTable, base: str, head: str, span: tuple[int, int]) -> str:
    out = [f"Simulation on the same customers and events, {base} -> {head} ({_period(span)}):"]
    current = None
    for name, what, a, b in _rows(sim):
        if name != current:
            out.append(f"  {name}")
            current = name
        out.append(f"      {what}: {a} -> {b}{_delta(a, b)}")
    return "\n".join(out)


def flight_markdown(impacts: list[PlaybookImpact]) -> str:
    out = ["#### Customers in flight", "",
           "| playbook | on change | in flight | kept | migrated | drained |",
           "| --- | --- | ---: | ---: | ---: | ---: |"]
    out += [f"| `{p.playbook}` | {p.policy} | {p.in_flight} | {p.kept} | {p.migrated} | "
            f"{p.drained} |" for p in impacts]
    steps = [(p, s) for p in impacts for s in p.steps]
    if steps:
        out += ["", "| playbook | step (version) | customers | fate |",
                "| --- | --- | ---: | --- |"]
        out += [f"| `{p.playbook}` | `{s.step}` ({s.version}) | {s.count} | {s.fate} |"
                for p, s in steps]
    flags = [f"- :warning: `{p.playbook}`: {s.flag}" for p, s in steps if s.flag]
    out += ["", *flags] if flags else []
    return "\n".join(out)


def sim_markdown(sim: SimTable, base: str, head: str, span: tuple[int, int]) -> str:
    out = [f"#### Simulation: `{base}` → `{head}` on the same customers and events", "",
           f"Over {_period(span)}.", "",
           "| playbook | figure | before | after | change |", "| --- | --- | ---: | ---: | ---: |"]
    out += [f"| `{name}` | {what} | {a} | {b} | {_delta(a, b).strip(' ()') or '='} |"
            for name, what, a, b in _rows(sim)]
    return "\n".join(out)
