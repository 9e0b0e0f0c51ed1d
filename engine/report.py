"""What a simulation (or a live store) shows: per step, per day, per goal, stage and arm.

Everything is read back from the store, so a report of a simulation and a report of `serve`'s
store mean the same thing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from cadenza.engine import schema as t
from cadenza.engine.store import Store
from cadenza.playbooks import model as m


def utc_minute(ts: int) -> str:
    """An instant as reports print it: `2026-03-01 00:00 UTC`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class StepRow:
    playbook: str
    step: str
    kind: str
    stage: str | None
    location: str
    entered: int = 0
    sent: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)  # "reason/action" -> count
    exited: int = 0
    converted: int = 0


@dataclass
class ArmRow:
    playbook: str
    split: str
    arm: str
    customers: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.customers if self.customers else 0.0


@dataclass
class StageRow:
    playbook: str
    framework: str
    stage: str
    reached: int
    sent: int
    converted: int


@dataclass
class Report:
    start: int
    end: int
    customers: int
    events: int
    enrollments: int
    steps: list[StepRow]
    sends_per_day: dict[str, dict[str, int]]
    goals: list[tuple[str, str, int, int]]  # playbook, goal, enrolled, converted
    funnel: list[StageRow]
    arms: list[ArmRow]
    suppressions: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["arms"] = [{**asdict(a), "rate": round(a.rate, 4)} for a in self.arms]
        data["goals"] = [{"playbook": p, "goal": g, "enrolled": n, "converted": c}
                         for p, g, n, c in self.goals]
        return data


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


@dataclass
class _Trails:
    visited: dict[int, set[str]]  # enrollment -> steps it reached
    playbook: dict[int, str]
    last: dict[int, str]
    exited: set[int]
    arms: dict[int, tuple[str, dict[str, str]]]  # enrollment -> (customer, split -> arm)


def _trails(conn: Connection) -> _Trails:
    e = t.enrollments
    out = _Trails(visited={}, playbook={}, last={}, exited=set(), arms={})
    for row in conn.execute(select(e.c.id, e.c.playbook, e.c.trail, e.c.state, e.c.context,
                                   e.c.customer_id)):
        nodes = [x.split("@", 1)[0] for x in (row.trail or "").split(";") if x]
        out.visited[row.id] = set(nodes)
        out.playbook[row.id] = row.playbook
        if nodes:
            out.last[row.id] = nodes[-1]
        if row.state == "exited":
            out.exited.add(row.id)
        arms = (row.context or {}).get("arms") or {}
        if arms:
            out.arms[row.id] = (row.customer_id, dict(arms))
    return out


def _step_rows(project: m.Project, conn: Connection, tr: _Trails,
               converted: set[int]) -> list[StepRow]:
    rows: dict[tuple[str, str], StepRow] = {}
    for pb in project.playbooks.values():
        for s in pb.steps:
            loc = pb.locations.get(s.id)
            rows[(pb.name, s.id)] = StepRow(playbook=pb.name, step=s.id, kind=s.kind,
                                            stage=getattr(s, "stage", None),
                                            location=str(loc) if loc else pb.file)
    for eid, nodes in tr.visited.items():
        for node in nodes:
            row = rows.get((tr.playbook[eid], node))
            if row is not None:
                row.entered += 1
                row.converted += eid in converted
        if eid in tr.exited and (tr.playbook[eid], tr.last.get(eid, "")) in rows:
            rows[(tr.playbook[eid], tr.last[eid])].exited += 1
    msg, sup = t.messages, t.suppressions
    for pb, node, n in conn.execute(select(msg.c.playbook, msg.c.node, func.count())
                                    .group_by(msg.c.playbook, msg.c.node)):
        if (pb, node) in rows:
            rows[(pb, node)].sent = n
    for pb, node, reason, action, n in conn.execute(
            select(sup.c.playbook, sup.c.node, sup.c.reason, sup.c.action, func.count())
            .group_by(sup.c.playbook, sup.c.node, sup.c.reason, sup.c.action)):
        if (pb, node) in rows:
            rows[(pb, node)].suppressed[f"{reason}/{action}"] = n
    return list(rows.values())


def _funnel(project: m.Project, tr: _Trails, converted: set[int],
            sends: Counter[tuple[str, str]]) -> list[StageRow]:
    out: list[StageRow] = []
    for pb in project.playbooks.values():
        fw = project.frameworks.get(pb.framework or "")
        if fw is None:
            continue
        staged = defaultdict(set)
        for s in pb.steps:
            stage = getattr(s, "stage", None)
            if stage:
                staged[stage].add(s.id)
        for stage in fw.stages:
            reached = {eid for eid, nodes in tr.visited.items()
                       if tr.playbook[eid] == pb.name and nodes & staged.get(stage, set())}
            out.append(StageRow(playbook=pb.name, framework=fw.name, stage=stage,
                                reached=len(reached), sent=sends[(pb.name, stage)],
                                converted=len(reached & converted)))
    return out


def _arms(tr: _Trails, converted: set[int]) -> list[ArmRow]:
    """Customers per arm, each once however many journeys they made (a weekly playbook puts
    the same customer in the same arm every week: counting journeys inflated the arms), and
    those of them with a journey in that arm that converted."""
    members: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)
    wins: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)
    for eid, (customer, arms) in tr.arms.items():
        for split, arm in arms.items():
            key = (tr.playbook[eid], split, arm)
            members[key].add(customer)
            if eid in converted:
                wins[key].add(customer)
    return [ArmRow(playbook=p, split=s, arm=a, customers=len(who),
                   converted=len(wins[(p, s, a)]))
            for (p, s, a), who in sorted(members.items())]


def build_report(project: m.Project, store: Store, start: int, end: int) -> Report:
    msg, conv, sup = t.messages, t.conversions, t.suppressions
    with store.engine.connect() as conn:
        tr = _trails(conn)
        converted = set(conn.execute(select(conv.c.enrollment_id)).scalars())
        per_day: dict[str, dict[str, int]] = defaultdict(dict)
        sends: Counter[tuple[str, str]] = Counter()
        for created, channel, playbook, stage in conn.execute(
                select(msg.c.created_at, msg.c.channel, msg.c.playbook, msg.c.stage)):
            day = per_day[_day(created)]
            day[channel] = day.get(channel, 0) + 1
            if stage:
                sends[(playbook, stage)] += 1
        goals = _goals(project, conn, tr)
        suppressed = {f"{r}/{a}": n for r, a, n in conn.execute(
            select(sup.c.reason, sup.c.action, func.count()).group_by(sup.c.reason,
                                                                      sup.c.action))}
        customers = conn.execute(select(func.count()).select_from(t.customers)).scalar_one()
        real = ~t.events.c.name.startswith("__", autoescape=True)  # not synthetic ones
        events = conn.execute(select(func.count()).select_from(t.events).where(real)
                              ).scalar_one()
        steps = _step_rows(project, conn, tr, converted)
    return Report(start=start, end=end, customers=customers, events=events,
                  enrollments=len(tr.visited), steps=steps,
                  sends_per_day=dict(sorted(per_day.items())), goals=goals,
                  funnel=_funnel(project, tr, converted, sends), arms=_arms(tr, converted),
                  suppressions=dict(sorted(suppressed.items())))


def _goals(project: m.Project, conn: Connection, tr: _Trails) -> list[tuple[str, str, int, int]]:
    conv = t.conversions
    enrolled = Counter(tr.playbook.values())
    done = {(p, g): n for p, g, n in conn.execute(
        select(conv.c.playbook, conv.c.goal, func.count()).group_by(conv.c.playbook,
                                                                    conv.c.goal))}
    return [(pb.name, g.name, enrolled[pb.name], done.get((pb.name, g.name), 0))
            for pb in project.playbooks.values() for g in pb.goals]
