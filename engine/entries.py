"""What an event does at once: exits, resolved waits, goal conversions, new enrollments.

All four happen when the event is handled — not at the enrollment's next step — so a customer
who buys is out of the cart playbook before its next reminder is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cadenza.engine.machine import Judge, Version
from cadenza.engine.state import Batch, Conversion, Customer, Enrollment, Event
from cadenza.playbooks import model as m

SCHEDULE_EVENT = "__schedule__"  # synthetic: a schedule entry fired for this customer
SEGMENT_EVENT = "__segment__"  # synthetic: the customer entered (or left) a segment
API_EVENT = "__api__"  # synthetic: POST /v1/playbooks/{name}/enrollments


@dataclass
class Entries:
    active: Mapping[str, Version]  # playbook name -> the version new customers enter
    versions: Mapping[int, Version]
    judge: Judge

    def handle(self, ev: Event, batch: Batch, last_entry: dict[tuple[str, str], int]) -> None:
        c = batch.customers[ev.customer_id]
        if ev.name.startswith("__"):
            self._synthetic(ev, c, batch, last_entry)
            return
        for e in list(batch.of(c.id)):
            if e.open:
                self._exit_or_resume(e, ev, c)
        self._goals(ev, c, batch)
        for v in self.active.values():
            for entry in v.playbook.entries:
                if isinstance(entry, m.EventEntry) and entry.event == ev.name and (
                        entry.where is None
                        or self.judge(entry.where, c, ev.ts, ev.properties, {})):
                    self.enter(v, c, ev.ts, {"event": ev.properties, "event_name": ev.name},
                               batch, last_entry)
                    break

    def _synthetic(self, ev: Event, c: Customer, batch: Batch,
                   last_entry: dict[tuple[str, str], int]) -> None:
        kind = ev.properties.get("kind")
        if kind == "schedule":
            v = self.active.get(str(ev.properties["playbook"]))
            if v is not None:
                self.enter(v, c, ev.ts, {}, batch, last_entry)
            return
        if kind == "api":
            v = self.active.get(str(ev.properties.get("playbook")))
            if v is not None and any(isinstance(x, m.ApiEntry) for x in v.playbook.entries):
                props = {k: val for k, val in ev.properties.items()
                         if k not in ("kind", "playbook")}
                self.enter(v, c, ev.ts, {"event": props, "event_name": API_EVENT}, batch,
                           last_entry)
            return
        segment = str(ev.properties.get("segment"))
        if kind == "member":  # `when in segment`: a member when the playbook started
            v = self.active.get(str(ev.properties.get("playbook")))
            if v is not None and any(isinstance(x, m.SegmentEntry) and x.current
                                     and x.segment == segment for x in v.playbook.entries):
                self.enter(v, c, ev.ts, {}, batch, last_entry)
        elif kind == "enter":
            for v in self.active.values():
                if any(isinstance(x, m.SegmentEntry) and x.segment == segment
                       for x in v.playbook.entries):
                    self.enter(v, c, ev.ts, {}, batch, last_entry)
        elif kind == "leave":
            for e in batch.of(c.id):
                pb = self.versions[e.version_id].playbook
                if e.open and any(isinstance(x, m.SegmentExit) and x.segment == segment
                                  for x in pb.exits):
                    e.end("exited", ev.ts, f"left segment {segment}")

    def _exit_or_resume(self, e: Enrollment, ev: Event, c: Customer) -> None:
        v = self.versions[e.version_id]
        for x in v.playbook.exits:
            if isinstance(x, m.EventExit) and x.event == ev.name and (
                    x.where is None or self.judge(x.where, c, ev.ts, ev.properties, {})):
                e.end("exited", ev.ts, f"exit on {ev.name}")
                return
        if e.state != "waiting":
            return
        wait = v.steps[e.node or ""]
        assert isinstance(wait, m.WaitEventStep)
        if wait.event != ev.name or (wait.where is not None and not self.judge(
                wait.where, c, ev.ts, ev.properties, e.context.get("bound", {}))):
            return
        if wait.bind is not None:
            e.context.setdefault("bound", {})[wait.bind] = ev.properties
        e.state = "active"
        e.dirty = True
        if wait.next is None:
            e.end("done", ev.ts, "completed")
        else:
            e.node, e.due_at = wait.next, ev.ts

    def _goals(self, ev: Event, c: Customer, batch: Batch) -> None:
        for e in batch.of(c.id):
            pb = self.versions[e.version_id].playbook
            for g in pb.goals:
                if g.event != ev.name or (e.id, g.name) in batch.converted:
                    continue
                if not e.entered_at <= ev.ts <= e.entered_at + g.within_s:
                    continue
                if g.where is not None and not self.judge(g.where, c, ev.ts, ev.properties,
                                                          {}):
                    continue
                batch.converted.add((e.id, g.name))
                batch.conversions.append(Conversion(enrollment=e, goal=g.name,
                                                    arm=_arm(e.context), at=ev.ts))

    def enter(self, v: Version, c: Customer, t: int, context: dict[str, Any], batch: Batch,
              last_entry: dict[tuple[str, str], int]) -> Enrollment | None:
        """Enroll `c` in `v` at `t` if re-entry rules and the audience allow it."""
        pb = v.playbook
        if any(e.open and e.playbook == pb.name for e in batch.of(c.id)):
            return None  # one journey at a time per playbook
        last = last_entry.get((c.id, pb.name))
        if last is not None and (pb.reenter_after_s is None or t < last + pb.reenter_after_s):
            return None
        if pb.audience is not None and not self.judge(pb.audience, c, t, None, {}):
            return None
        if pb.start is None:
            return None
        e = Enrollment(id=0, playbook=pb.name, version_id=v.id, customer_id=c.id,
                       node=pb.start, state="active", due_at=t,
                       context={"bound": {}, "arms": {}, **context}, entered_at=t, dirty=True)
        batch.add_enrollment(e)
        last_entry[(c.id, pb.name)] = t
        return e


def _arm(context: dict[str, Any]) -> str | None:
    arms = context.get("arms") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(arms.items())) or None
