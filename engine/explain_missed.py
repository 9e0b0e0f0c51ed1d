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
from cadenza.engine.evaluate import EventRecord, customer_fields, evaluate, reference_env
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
class _Latest:
    graph: m.Playbook
    created_at: int


def missed(conn: Connection, cid: str, entered: set[str], only: str | None,
           segments: Mapping[str, m.Segment] | None) -> list[Missed]:
    """The events that could have started each playbook `cid` never entered, and why not."""
    latest = _latest_versions(conn)
    wanted = {name: v for name, v in latest.items()
              if name not in entered and (only is None or name == only)}
    names = {x.event for v in wanted.values() for x in v.graph.entries
             if isinstance(x, m.EventEntry)}
    if not names:
        return []
    row = conn.execute(select(t.customers).where(t.customers.c.id == cid)).mappings().one()
    ev = t.events
    history = [EventRecord(name=r.name, ts=r.ts, properties=r.properties or {}, id=r.id)
               for r in conn.execute(select(ev.c.id, ev.c.name, ev.c.ts, ev.c.properties,
                                            ev.c.processed)
                                     .where(ev.c.customer_id == cid)
                                     .order_by(ev.c.ts, ev.c.id))]
    pending = {r.id for r in conn.execute(select(ev.c.id).where(
        ev.c.customer_id == cid, ev.c.processed.is_(False)))}
    judge = _Judge(customer_fields(dict(row)), history, segments)
    out: list[Missed] = []
    for name, v in sorted(wanted.items()):
        entries = [x for x in v.graph.entries if isinstance(x, m.EventEntry)]
        events = [e for e in history if any(x.event == e.name for x in entries)]
        for e in events[-PER_PLAYBOOK:]:
            why = ("not handled yet: the engine had not reached it" if e.id in pending
                   else judge.why(v, entries, e))
            out.append(Missed(playbook=name, event=e.name, at=e.ts, why=why))
    return sorted(out, key=lambda x: (x.at, x.playbook))


def _latest_versions(conn: Connection) -> dict[str, _Latest]:
    v = t.playbook_versions
    out: dict[str, _Latest] = {}
    for r in conn.execute(select(v.c.playbook, v.c.graph, v.c.created_at)
                          .order_by(v.c.version)):
        out[r.playbook] = _Latest(m.Playbook.model_validate(r.graph), r.created_at)
    return out


class _UnknowableError(Exception):
    """A condition names a segment this store did not record."""


@dataclass(frozen=True)
class _Judge:
    customer: Mapping[str, Any]
    history: list[EventRecord]
    segments: Mapping[str, m.Segment] | None

    def why(self, v: _Latest, entries: list[m.EventEntry], e: EventRecord) -> str:
        if e.ts < v.created_at:
            return ("it came before the playbook was running: history that aggregates "
                    "count, not a trigger")
        try:
            matching = [x for x in entries if x.event == e.name]
            if not any(x.where is None or self._true(x.where, e) for x in matching):
                where = " / ".join(describe.cond(x.where) for x in matching if x.where)
                return f"the entry's condition was false (where {where})"
            audience = v.graph.audience
            if audience is not None and not self._true(audience, e, with_event=False):
                return f"the audience was false (audience {describe.cond(audience)})"
        except _UnknowableError:
            return ("it names a segment this store did not record, so it cannot be judged "
                    "here; run the simulation again with this version of Cadenza")
        return ("it matched the entry and the audience; a journey of this playbook was "
                "already open, or a re-entry rule held it")

    def _true(self, cond: m.Cond, e: EventRecord, with_event: bool = True) -> bool:
        seen = [x for x in self.history if x.ts < e.ts or (x.ts == e.ts and x.id <= e.id)]
        if self.segments is None and next(m.nodes_of(cond, m.InSegment), None) is not None:
            raise _UnknowableError
        env = reference_env(self.customer, seen, e.ts, self.segments or {})
        return evaluate(cond, replace(env, event=e.properties) if with_event else env)
