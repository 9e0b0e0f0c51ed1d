"""`explain`: one customer's journeys read back from a store — what happened, where, and why.

Everything comes from the store alone (a simulation's `--db`, or a live SQLite store): the
enrollments in entry order, each step visited (from the trail) with its kind and its source
`file:line` (from the version graph the customer entered), the messages and suppressions
recorded at that visit, goal conversions, and how the journey ended. The store is only read.

    ExplainError   the store cannot be read, or it holds no such customer or playbook
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, create_engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from cadenza.engine import schema as t
from cadenza.engine.db import schema_version, sqlite_url
from cadenza.engine.entries import API_EVENT
from cadenza.engine.explain_missed import Missed, missed
from cadenza.engine.machine import deferred_until
from cadenza.engine.store import project_segments, project_zone
from cadenza.engine.timing import known_zone
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import describe
from cadenza.playbooks import model as m

SAMPLE = 2000  # customer ids read for a did-you-mean
_CAP_REACHED = re.compile(r"(\d+) per (\d+)s reached")


class ExplainError(Exception):
    """Why there is no timeline to show; the message is a full sentence."""


@dataclass(frozen=True)
class Sent:
    channel: str
    template: str | None
    stage: str | None
    status: str
    at: int


@dataclass(frozen=True)
class Held:
    channel: str | None
    reason: str  # quiet_hours | send_window | cap | consent | audience | no_address | ...
    action: str  # deferred | skipped | exited
    text: str  # "deferred by quiet hours until ...", "skipped: cap 2 per 1d reached"
    until: int | None
    at: int


@dataclass
class Visit:
    step: str
    kind: str
    does: str  # one line: "send email \"cart-reminder\"", "wait 1h", ...
    source: str  # file:line
    at: int
    then: str | None = None  # where a branch or split went
    sent: list[Sent] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)


@dataclass(frozen=True)
class Converted:
    goal: str
    arm: str | None
    at: int


@dataclass
class Journey:
    id: int
    playbook: str
    version: int
    entered_at: int
    trigger: str
    visits: list[Visit]
    conversions: list[Converted]
    state: str
    ended_at: int | None
    end_reason: str | None
    node: str | None  # still open: the step it is at
    due_at: int | None


@dataclass
class Timeline:
    customer: str
    zone: str
    zone_note: str | None
    store: str
    playbook: str | None
    journeys: list[Journey]
    # Events that could have started a playbook this customer never entered, and why not.
    missed: list[Missed] = field(default_factory=list)

    def when(self, ts: int) -> str:
        """`2026-03-10T15:00Z (Tue 11:00 EDT)`, as `cadenza test` prints times."""
        utc = datetime.fromtimestamp(ts, UTC)
        return f"{utc:%Y-%m-%dT%H:%MZ} ({utc.astimezone(ZoneInfo(self.zone)):%a %H:%M %Z})"

    def local(self, ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(self.zone)).isoformat()


# ---------------------------------------------------------------------- reading the store
def open_store(path: Path) -> Engine:
    """An engine on an existing store, never created or migrated here."""
    if not path.is_file():
        raise ExplainError(f"there is no store at {path}: the file does not exist. Keep one "
                           f"with `cadenza simulate PROJECT --db {path}`.")
    engine = create_engine(sqlite_url(path))
    try:
        version = schema_version(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise ExplainError(f"{path} is not a Cadenza store: {getattr(exc, 'orig', exc)}.") from exc
    if version is None or version > t.SCHEMA_VERSION:
        engine.dispose()
        raise ExplainError(f"{path} is not a Cadenza store: it has no schema version. Pass "
                           "a file kept by `cadenza simulate PROJECT --db PATH`."
                           if version is None else
                           f"{path} has schema version {version}, newer than this Cadenza "
                           f"({t.SCHEMA_VERSION}); upgrade Cadenza to read it.")
    return engine


def explain(path: Path, customer: str, playbook: str | None = None) -> Timeline:
    engine = open_store(path)
    try:
        with engine.connect() as conn:
            return _timeline(conn, path, customer, playbook)
    except SQLAlchemyError as exc:
        raise ExplainError(f"cannot read the store at {path}: {getattr(exc, 'orig', exc)}."
                           ) from exc
    finally:
        engine.dispose()


def _timeline(conn: Connection, path: Path, cid: str, playbook: str | None) -> Timeline:
    c, e = t.customers, t.enrollments
    zone = conn.execute(select(c.c.timezone).where(c.c.id == cid)).first()
    if zone is None:
        raise ExplainError(f"no customer '{cid}' in the store at {path}"
                           f"{did_you_mean(cid, _sample_ids(conn, cid))}")
    graphs = _graphs(conn)
    if playbook is not None and playbook not in {g.name for g, _ in graphs.values()}:
        raise ExplainError(f"no playbook '{playbook}' in the store at {path}"
                           f"{did_you_mean(playbook, {g.name for g, _ in graphs.values()})}")
    query = select(e).where(e.c.customer_id == cid).order_by(e.c.entered_at, e.c.id)
    if playbook is not None:
        query = query.where(e.c.playbook == playbook)
    rows = list(conn.execute(query))
    name, note = _zone(zone[0], project_zone(conn), [graphs[r.version_id][0] for r in rows])
    timeline = Timeline(customer=cid, zone=name, zone_note=note, store=str(path),
                        playbook=playbook, journeys=[])
    for row in rows:
        graph, version = graphs[row.version_id]
        timeline.journeys.append(_journey(conn, row, graph, version, timeline))
    timeline.missed = missed(conn, cid, {r.playbook for r in rows}, playbook,
                             project_segments(conn))
    return timeline


def _sample_ids(conn: Connection, cid: str) -> list[str]:
    ids = t.customers.c.id
    cased = conn.execute(select(ids).where(func.lower(ids) == cid.lower()).limit(3)).scalars()
    near = conn.execute(select(ids).where(ids.startswith(cid[:2], autoescape=True))
                        .limit(SAMPLE)).scalars()
    return [*cased, *near, *conn.execute(select(ids).limit(SAMPLE)).scalars()]


def _graphs(conn: Connection) -> dict[int, tuple[m.Playbook, int]]:
    v = t.playbook_versions
    return {r.id: (m.Playbook.model_validate(r.graph), r.version)
            for r in conn.execute(select(v.c.id, v.c.graph, v.c.version))}


def _zone(own: str | None, project: str | None,
          graphs: list[m.Playbook]) -> tuple[str, str | None]:
    """The zone the engine used: the customer's, else the project's (older stores did not
    record it: then the playbook's)."""
    if own and known_zone(own):
        return own, None
    if project and known_zone(project):
        return project, "the customer has no zone: the project's is used"
    for name in (g.policies.timezone for g in graphs):
        if name and known_zone(name):
            return name, "the customer has no zone: the playbook's is used"
    return "UTC", "the customer has no zone and the store keeps no project zone: local is UTC"


# ---------------------------------------------------------------------- one journey
def _journey(conn: Connection, row: Any, graph: m.Playbook, version: int,
             tl: Timeline) -> Journey:
    trail = [(node, int(at)) for node, _, at in
             (x.partition("@") for x in (row.trail or "").split(";") if x)]
    arms = (row.context or {}).get("arms") or {}
    visits = [_visit(graph, node, at, trail[i + 1][0] if i + 1 < len(trail) else None, arms)
              for i, (node, at) in enumerate(trail)]
    _attach(conn, row.id, graph, visits, tl)
    conv = t.conversions
    conversions = [Converted(goal=r.goal, arm=r.arm, at=r.at) for r in conn.execute(
        select(conv).where(conv.c.enrollment_id == row.id).order_by(conv.c.at, conv.c.id))]
    return Journey(id=row.id, playbook=row.playbook, version=version,
                   entered_at=row.entered_at, trigger=_trigger(conn, row, graph),
                   visits=visits, conversions=conversions, state=row.state,
                   ended_at=row.ended_at, end_reason=row.end_reason, node=row.node,
                   due_at=row.due_at)


def _visit(graph: m.Playbook, node: str, at: int, following: str | None,
           arms: dict[str, str]) -> Visit:
    loc = graph.locations.get(node)
    source = f"{loc.file}:{loc.line}" if loc else graph.file
    try:
        step = graph.step(node)
    except KeyError:
        return Visit(step=node, kind="?", does="(not in this version)", source=source, at=at)
    then = following if isinstance(step, m.BranchStep) else None
    if isinstance(step, m.SplitStep):
        then = arms.get(step.name, following)
    return Visit(step=node, kind=step.kind, does=describe.step(step), source=source, at=at,
                 then=then)


def _attach(conn: Connection, eid: int, graph: m.Playbook, visits: list[Visit],
            tl: Timeline) -> None:
    """Hang each message and suppression on the visit of its step at its time."""
    msg, sup = t.messages, t.suppressions
    by_key = {(v.step, v.at): v for v in visits}
    for r in conn.execute(select(msg).where(msg.c.enrollment_id == eid)
                          .order_by(msg.c.created_at, msg.c.id)):
        visit = by_key.get((r.node, r.created_at))
        if visit is not None:
            # A task has no template; its queue is what the reader needs instead.
            name = r.to_address if r.channel == "task" else r.template
            visit.sent.append(Sent(channel=r.channel, template=name, stage=r.stage,
                                   status=r.status, at=r.created_at))
    for r in conn.execute(select(sup).where(sup.c.enrollment_id == eid)
                          .order_by(sup.c.at, sup.c.id)):
        visit = by_key.get((r.node, r.at))
        if visit is not None:
            visit.held.append(_held(r, graph, tl))


def _held(r: Any, graph: m.Playbook, tl: Timeline) -> Held:
    detail = r.detail or ""
    until = deferred_until(detail)
    text = f"{r.action}: {detail}"
    if r.action == "deferred" and until is not None:
        text = f"deferred by {_why(r.reason, r.channel, graph)} until {tl.when(until)}"
    elif r.reason == "cap" and (cap := _CAP_REACHED.fullmatch(detail)):
        text = f"skipped: cap {cap.group(1)} per {describe.duration(int(cap.group(2)))} reached"
    elif r.reason == "holdout":
        text = detail
    return Held(channel=r.channel, reason=r.reason, action=r.action, text=text, until=until,
                at=r.at)


def _why(reason: str, channel: str | None, graph: m.Playbook) -> str:
    if reason == "cap":
        caps = [c for c in graph.policies.caps if c.channel == channel]
        return " or ".join(f"cap {channel} {c.count} per {describe.duration(c.per_s)}"
                           for c in caps) or f"the {channel} cap"
    return {"quiet_hours": "quiet hours", "send_window": "the send window"}.get(reason, reason)


def _trigger(conn: Connection, row: Any, graph: m.Playbook) -> str:
    """The event from the context; schedule and segment entries from their own tables."""
    ctx = row.context or {}
    if ctx.get("event_name"):
        props = ", ".join(f"{k}={v}" for k, v in sorted((ctx.get("event") or {}).items()))
        name = str(ctx["event_name"])
        what = "an API call" if name == API_EVENT else f"event {name}"
        return what + (f" {{{props}}}" if props else "")
    fires = t.schedule_fires
    fired = conn.execute(select(fires.c.entry).where(
        fires.c.playbook == row.playbook, fires.c.fire_at == row.entered_at)).scalars().first()
    entries = graph.entries
    if fired is not None and fired < len(entries):
        entry = entries[fired]
        if isinstance(entry, m.ScheduleEntry):
            return f"schedule {entry.text} ({entry.zone})"
    watched = [x for x in entries if isinstance(x, m.SegmentEntry)]
    how = "being in" if all(x.current for x in watched) else "entering"
    if len(watched) == 1:
        return f"{how} segment {watched[0].segment}"
    if watched:
        return f"{how} one of the segments {', '.join(x.segment for x in watched)}"
    return "an entry the store did not record"


# ---------------------------------------------------------------------- rendering
def _ending(j: Journey, tl: Timeline) -> str:
    if j.state in ("active", "waiting"):
        what = "waiting in" if j.state == "waiting" else "next step"
        due = f" (due {tl.when(j.due_at)})" if j.due_at is not None else ""
        return f"still open: {what} {j.node}{due}"
    return f"ended {j.state}: {j.end_reason}"


def _named(s: Sent) -> str:
    if s.channel == "task":
        return f' for queue "{s.template}"' if s.template else ""
    return f' "{s.template}"' if s.template else " (text)"


def _visit_lines(v: Visit, width: int, pad: str) -> list[str]:
    does = v.does.removeprefix(v.kind.split("_")[0]).strip()
    then = f"→ {v.then or 'end'}" if v.kind in ("branch", "split") else ""
    what = " ".join(x for x in (does, then) if x)
    lines = ["  ".join(x for x in (v.step.ljust(width), v.kind.ljust(6), what,
                                   f"({v.source})") if x)]
    lines += [f"{pad}{h.text}" for h in v.held]
    lines += [f"{pad}created {s.channel}" + _named(s)
              + (f", stage {s.stage}" if s.stage else "") + f", status {s.status}"
              for s in v.sent]
    return lines


def _journey_lines(j: Journey, tl: Timeline) -> list[str]:
    width = max([len(v.step) for v in j.visits] + [0])
    blank = " " * len(tl.when(j.entered_at))
    pad = f"  {blank}  {' ' * width}  "
    out = [f"  {tl.when(j.entered_at)}  entered by {j.trigger}"]
    goals = list(j.conversions)
    for v in j.visits:
        while goals and goals[0].at < v.at:
            out.append(_goal_line(goals.pop(0), tl, ""))
        first, *rest = _visit_lines(v, width, pad)
        out += [f"  {tl.when(v.at)}  {first}", *rest]
    end = j.ended_at if j.ended_at is not None else None
    while goals and (end is None or goals[0].at <= end):
        out.append(_goal_line(goals.pop(0), tl, ""))
    out.append(f"  {tl.when(end) if end is not None else blank}  {_ending(j, tl)}")
    out += [_goal_line(c, tl, " (after the journey ended, inside the goal's window)")
            for c in goals]
    return out


def render_text(tl: Timeline) -> str:
    zone = f"zone {tl.zone}" + (f" ({tl.zone_note})" if tl.zone_note else "")
    lines = [f"customer {tl.customer} · {zone} · store {tl.store}"]
    if not tl.journeys:
        where = f"playbook {tl.playbook}" if tl.playbook else "a playbook"
        lines.append(f"no journeys: this customer never entered {where} in this store.")
    for j in tl.journeys:
        lines += ["", f"{j.playbook} v{j.version} · journey {j.id}", *_journey_lines(j, tl)]
    if tl.missed:
        lines += ["", "not entered (events that could have started a playbook, and why not):"]
        lines += [f"  {tl.when(x.at)}  event {x.event} → {x.playbook}: {x.why}"
                  for x in tl.missed]
    return "\n".join(lines)


def _goal_line(c: Converted, tl: Timeline, note: str) -> str:
    arm = f" (arm {c.arm})" if c.arm else ""
    return f"  {tl.when(c.at)}  goal {c.goal} converted{arm}{note}"


def as_json(tl: Timeline) -> dict[str, Any]:
    def time(ts: int | None) -> dict[str, str] | None:
        if ts is None:
            return None
        return {"utc": datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "local": tl.local(ts)}

    return {"customer": tl.customer, "zone": tl.zone, "zone_note": tl.zone_note,
            "store": tl.store, "journeys": [{
                "id": j.id, "playbook": j.playbook, "version": j.version,
                "entered": time(j.entered_at), "trigger": j.trigger,
                "steps": [{"step": v.step, "kind": v.kind, "does": v.does,
                           "source": v.source, "at": time(v.at), "then": v.then,
                           "messages": [{"channel": s.channel, "template": s.template,
                                         "stage": s.stage, "status": s.status}
                                        for s in v.sent],
                           "suppressions": [{"channel": h.channel, "reason": h.reason,
                                             "action": h.action, "detail": h.text,
                                             "until": time(h.until)} for h in v.held]}
                          for v in j.visits],
                "conversions": [{"goal": c.goal, "arm": c.arm, "at": time(c.at)}
                                for c in j.conversions],
                "state": j.state, "end_reason": j.end_reason, "ended": time(j.ended_at),
                "open_at": j.node, "due": time(j.due_at)} for j in tl.journeys],
            "not_entered": [{"playbook": x.playbook, "event": x.event, "at": time(x.at),
                             "why": x.why} for x in tl.missed]}
