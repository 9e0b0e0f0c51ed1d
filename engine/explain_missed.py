"""Why a customer did not enter a playbook: the events that could have started it, judged
again from the store.

For each playbook (its latest version) the customer has no journey in, the customer's last
few events named by one of its `when event` entries are judged as the engine judged them at
that event: the entry's `where` with that event's properties, then the `audience`, each
counting the customer's events up to that one. Attributes are the customer's as stored now
(an attribute changed since the event is read as it is now: said in the docs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, select

from cadenza.engine import schema as t
from cadenza.engine.evaluate import EventRecord, evaluate, reference_env
from cadenza.playbooks import describe
from cadenza.playbooks import model as m

PER_PLAYBOOK = 3  # the latest events shown per playbook


@dataclass(frozen=True)
class Missed:
    playbook: str
    event: str
    at: int
    why: str  # a phrase: "the audience was false (audience email_opt_in)"


@dataclass(frozen=True)
class _Version:
    graph: m.Playbook
    created_at: int


def missed(conn: Connection, cid: str, entered: set[str], only: str | None,
           segments: Mapping[str, m.Segment] | None) -> list[Missed]:
    """The events that could have started each playbook `cid` never entered, and why not."""
    wanted = {name: vs for name, vs in _versions(conn).items()
              if name not in entered and (only is None or name == only)}
    names = {x.event for vs in wanted.values() for x in vs[-1].graph.entries
             if isinstance(x, m.EventEntry)}
    if not names:
        return []
    row = conn.execute(select(t.customers).where(t.customers.c.id == cid)).mappings().one()
    ev = t.events
    rows = conn.execute(select(ev.c.id, ev.c.name, ev.c.ts, ev.c.properties, ev.c.processed)
                        .where(ev.c.customer_id == cid).order_by(ev.c.ts, ev.c.id)).all()
    history = [EventRecord(name=r.name, ts=r.ts, properties=r.properties or {}, id=r.id)
               for r in rows]
    pending = {r.id for r in rows if not r.processed}
    judge = _Judge(dict(row), history, segments)  # reference_env reads the row's attributes
    out: list[Missed] = []
    for name, versions in sorted(wanted.items()):
        latest = [x for x in versions[-1].graph.entries if isinstance(x, m.EventEntry)]
        events = [e for e in history if any(x.event == e.name for x in latest)]
        for e in events[-PER_PLAYBOOK:]:
            why = ("not handled yet: the engine had not reached it" if e.id in pending
                   else judge.why(_running_at(versions, e.ts), e))
            out.append(Missed(playbook=name, event=e.name, at=e.ts, why=why))
    return sorted(out, key=lambda x: (x.at, x.playbook))


def _versions(conn: Connection) -> dict[str, list[_Version]]:
    """Each deployed playbook's versions, oldest first. Where the store has deployments, only
    the playbooks of the latest one (a removed playbook started nothing since); a
    simulation's store has none, and every playbook in it ran."""
    v, d = t.playbook_versions, t.deployments
    deployed = conn.execute(select(d.c.versions).order_by(d.c.id.desc()).limit(1)).scalar()
    out: dict[str, list[_Version]] = {}
    for r in conn.execute(select(v.c.playbook, v.c.graph, v.c.created_at)
                          .order_by(v.c.created_at, v.c.version)):
        if isinstance(deployed, dict) and r.playbook not in deployed:
            continue
        out.setdefault(r.playbook, []).append(
            _Version(m.Playbook.model_validate(r.graph), r.created_at))
    return out


def _running_at(versions: list[_Version], ts: int) -> _Version | None:
    """The version new customers entered at `ts` (None: the playbook was not running yet)."""
    running = [x for x in versions if x.created_at <= ts]
    return running[-1] if running else None


class _UnknowableError(Exception):
    """A condition names a segment this store did not record."""


@dataclass(frozen=True)
class _Judge:
    customer: Mapping[str, Any]
    history: list[EventRecord]
    segments: Mapping[str, m.Segment] | None

    def why(self, v: _Version | None, e: EventRecord) -> str:
        if v is None:
            return ("it came before the playbook was running: history that aggregates "
                    "count, not a trigger")
        matching = [x for x in v.graph.entries if isinstance(x, m.EventEntry)
                    and x.event == e.name]
        if not matching:
            return "the version running then had no entry for this event"
        try:
            if not any(x.where is None or self._true(x.where, e) for x in matching):
                where = " / ".join(describe.cond(x.where) for x in matching if x.where)
                return f"the entry's condition was false (where {where})"
            audience = v.graph.audience
            if audience is not None and not self._true(audience, e, with_event=False):
                return f"the audience was false (audience {describe.cond(audience)})"
        except (_UnknowableError, ValueError):  # ValueError: a segment inside one unrecorded
            return ("it names a segment this store did not record, so it cannot be judged "
                    "here")
        return ("it matched the entry and the audience; a journey of this playbook was "
                "already open, or a re-entry rule held it")

    def _true(self, cond: m.Cond, e: EventRecord, with_event: bool = True) -> bool:
        seen = [x for x in self.history if x.ts < e.ts or (x.ts == e.ts and x.id <= e.id)]
        named = {x.name for x in m.nodes_of(cond, m.InSegment)}
        if named and (self.segments is None or not named <= set(self.segments)):
            raise _UnknowableError
        env = reference_env(self.customer, seen, e.ts, self.segments or {})
        return evaluate(cond, replace(env, event=e.properties) if with_event else env)
