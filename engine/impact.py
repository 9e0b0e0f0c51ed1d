"""What a diff does to people: customers in flight in a store, and a dry-run before -> after.

In flight: each open enrollment of a changed or removed playbook meets HEAD's change policy
exactly as `cadenza apply` would apply it (engine/deploy.py): `pin` keeps it on its version,
`migrate` moves it to the mapped step (a step that `diff` matches to itself maps to itself; a
name another step took over does not; anything else is drained), `drain` ends it; a removed
playbook keeps pinned customers and drains the others.
A step the diff matched as renamed but the migrate map leaves out is flagged: apply drains
those customers although the step lives on under its new name.

Simulation: BASE and HEAD each run on the same audience and events, exactly as two
`cadenza simulate` runs would, and are compared per playbook.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from cadenza.engine import schema as t
from cadenza.engine.dataload import load_data
from cadenza.engine.deploy import migrate_target, version_pairs
from cadenza.engine.report import Report, build_report
from cadenza.engine.simulate import Simulation, default_span
from cadenza.engine.store import OPEN, Store
from cadenza.playbooks import model as m
from cadenza.playbooks.diff_model import PlaybookDiff, ProjectDiff


@dataclass(frozen=True)
class StepImpact:
    step: str  # the step id in the version the customers are on
    version: int
    count: int
    fate: str  # "kept on version 1", "migrated to b2", "drained"
    flag: str = ""  # a warning a reviewer should read, or ""


@dataclass(frozen=True)
class PlaybookImpact:
    playbook: str
    policy: str
    in_flight: int
    kept: int
    migrated: int
    drained: int
    steps: tuple[StepImpact, ...]  # at the changed and removed steps only


def _open(conn: Connection, playbook: str) -> list[tuple[int, str, int]]:
    e = t.enrollments
    rows = conn.execute(select(e.c.version_id, e.c.node, func.count())
                        .where(e.c.playbook == playbook, e.c.state.in_(OPEN))
                        .group_by(e.c.version_id, e.c.node))
    return sorted((int(v), n or "", int(c)) for v, n, c in rows)


def _fate(p: PlaybookDiff, new: m.Playbook | None, pairs: Mapping[str, str] | None, node: str,
          version: int) -> str:
    mode = "pin" if p.policy == "pin" else new.change.mode if new is not None else "drain"
    if mode == "pin":
        return f"kept on version {version}"
    if mode == "migrate" and new is not None:
        target = migrate_target(new, node, pairs)  # as `apply` decides it
        if target is not None:
            return f"migrated to {target}"
    return "drained"


def _flag(p: PlaybookDiff, node: str, fate: str) -> str:
    if fate != "drained" or p.mark != "~" or not p.policy.startswith("migrate"):
        return ""
    renamed = {x.renamed_from: x.name for x in p.steps() if x.renamed_from}
    if node in renamed:
        return (f"step '{node}' is now '{renamed[node]}' but 'on change migrate' does not "
                f"map it, so these customers are drained; add '{node} -> {renamed[node]}' "
                "to the map to keep them.")
    return (f"step '{node}' is gone and not in the migrate map, so these customers are "
            "drained; map it to a step of HEAD to keep them.")


def playbook_impact(conn: Connection, p: PlaybookDiff, new: m.Playbook | None,
                    numbers: dict[int, int]) -> PlaybookImpact:
    touched = {x.base_name for x in p.steps() if x.mark != "+"}
    fates: Counter[str] = Counter()
    rows = []
    flight = _open(conn, p.name)
    migrating = new if new is not None and new.change.mode == "migrate" else None
    pairs = version_pairs(conn, {vid for vid, _, _ in flight}, migrating)
    for vid, node, count in flight:
        version = numbers.get(vid, vid)
        fate = _fate(p, new, pairs.get(vid), node, version)
        fates[fate.split(" ", 1)[0]] += count
        if node in touched or p.mark == "-":
            rows.append(StepImpact(node, version, count, fate, _flag(p, node, fate)))
    return PlaybookImpact(p.name, p.policy, sum(fates.values()), fates["kept"],
                          fates["migrated"], fates["drained"], tuple(rows))


def store_impact(store: Store, diff: ProjectDiff, head: m.Project) -> list[PlaybookImpact]:
    """Customers in flight at every changed or removed playbook, and what happens to them."""
    v = t.playbook_versions
    with store.engine.connect() as conn:
        numbers = {int(r.id): int(r.version) for r in conn.execute(select(v.c.id, v.c.version))}
        return [playbook_impact(conn, p, head.playbooks.get(p.name), numbers)
                for p in diff.playbooks if p.mark != "+"]


# ------------------------------------------------------------------ simulation
@dataclass(frozen=True)
class Figures:
    sends: dict[str, int]  # channel -> messages
    suppressed: dict[str, int]  # "reason/action" -> times
    conversions: dict[str, int]  # goal -> customers converted


def _channel(pb: m.Playbook, step: str) -> str:
    s = pb.step(step)
    return s.channel if isinstance(s, m.SendStep) else "task"


def figures(report: Report, project: m.Project) -> dict[str, Figures]:
    """Per playbook: sends per channel, suppressions by reason, goal conversions."""
    sends: dict[str, Counter[str]] = {n: Counter() for n in project.playbooks}
    held: dict[str, Counter[str]] = {n: Counter() for n in project.playbooks}
    for row in report.steps:
        if row.sent:
            sends[row.playbook][_channel(project.playbooks[row.playbook], row.step)] += row.sent
        held[row.playbook].update(row.suppressed)
    goals: dict[str, dict[str, int]] = {n: {} for n in project.playbooks}
    for playbook, goal, _enrolled, converted in report.goals:
        goals[playbook][goal] = converted
    return {n: Figures(dict(sorted(sends[n].items())), dict(sorted(held[n].items())), goals[n])
            for n in project.playbooks}


def simulate(project: m.Project, customers: Path, events: Path | None,
             ) -> tuple[dict[str, Figures], list[str], tuple[int, int]]:
    """One `cadenza simulate PROJECT --customers F --events F`, reduced to its figures, the
    sample's rows that could not be used (as `simulate` prints them), and the span run."""
    data = load_data(project, customers, events)
    start, end = default_span(data, None, None)
    sim = Simulation(project=project, data=data, start=start, end=end)
    try:
        sim.run()
        report = build_report(project, sim.store, start, end)
    finally:
        sim.close()
    return figures(report, project), [str(p) for p in data.problems], (start, end)


def compare_figures(before: dict[str, Figures], after: dict[str, Figures],
                    ) -> dict[str, dict[str, dict[str, list[int]]]]:
    """playbook -> figure group -> key -> [before, after]; a missing side counts 0."""
    out: dict[str, dict[str, dict[str, list[int]]]] = {}
    for name in [*after, *(n for n in before if n not in after)]:
        a, b = before.get(name), after.get(name)
        groups: dict[str, dict[str, list[int]]] = {}
        for group in ("sends", "suppressed", "conversions"):
            x: dict[str, int] = getattr(a, group) if a else {}
            y: dict[str, int] = getattr(b, group) if b else {}
            groups[group] = {k: [x.get(k, 0), y.get(k, 0)] for k in sorted({*x, *y})}
        out[name] = groups
    return out


def impact_json(flight: list[PlaybookImpact] | None,
                sim: dict[str, dict[str, dict[str, list[int]]]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if flight is not None:
        out["in_flight"] = [asdict(p) for p in flight]
    if sim is not None:
        out["simulation"] = sim
    return out
