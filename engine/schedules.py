"""Entries that no event brings: schedule fires and customers entering or leaving segments.

Both become synthetic events on the customers' timelines, so the runtime handles them like any
other event. A schedule fire is claimed by inserting its (playbook, entry, fire time) row: only
the process whose insert wins enrolls the audience, so with several workers each fire happens
exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from cadenza.engine import schema as t
from cadenza.engine.machine import Version
from cadenza.engine.segments import matching_ids
from cadenza.engine.store import dialect_insert
from cadenza.engine.timing import next_cron_fire
from cadenza.playbooks import model as m

SEGMENT_INTERVAL = 900  # full re-evaluation of trigger segments at most every 15 minutes


def _fires(entry: m.ScheduleEntry, start: int, until: int) -> Iterator[int]:
    fire = next_cron_fire(entry.cron, entry.zone, start)
    while fire is not None and fire <= until:
        yield fire
        fire = next_cron_fire(entry.cron, entry.zone, fire)


def _claim(conn: Connection, playbook: str, index: int, fire: int) -> bool:
    stmt = dialect_insert(conn)(t.schedule_fires).values(playbook=playbook, entry=index,
                                                   fire_at=fire)
    stmt = stmt.on_conflict_do_nothing().returning(t.schedule_fires.c.fire_at)
    return conn.execute(stmt).first() is not None


def _audience(conn: Connection, project: m.Project, pb: m.Playbook, at: int) -> set[str]:
    if pb.audience is None:
        return set(conn.execute(select(t.customers.c.id)).scalars())
    return matching_ids(conn, pb.audience, now=at, segments=project.segments)


def due_fires(conn: Connection, project: m.Project, active: Mapping[str, Version], start: int,
              until: int) -> list[tuple[str, int, str]]:
    """(playbook, fire time, customer) for every schedule fire in (start, until] we won."""
    out: list[tuple[str, int, str]] = []
    for name, v in sorted(active.items()):
        for i, entry in enumerate(v.playbook.entries):
            if not isinstance(entry, m.ScheduleEntry):
                continue
            for fire in _fires(entry, start, until):
                if _claim(conn, name, i, fire):
                    out += [(name, fire, cid) for cid in
                            sorted(_audience(conn, project, v.playbook, fire))]
    return out


def trigger_segments(active: Mapping[str, Version]) -> set[str]:
    names: set[str] = set()
    for v in active.values():
        names |= {e.segment for e in v.playbook.entries if isinstance(e, m.SegmentEntry)}
        names |= {x.segment for x in v.playbook.exits if isinstance(x, m.SegmentExit)}
    return names


def clock_driven(active: Mapping[str, Version]) -> bool:
    """Whether the clock alone enrolls or exits customers (a schedule fires, time moves someone
    into a segment): such entries look at the whole audience at an instant."""
    return bool(trigger_segments(active)) or any(
        isinstance(e, m.ScheduleEntry) for v in active.values() for e in v.playbook.entries)


# Read at every look of the clock (every 15 minutes of a simulation): built once.
_META = select(t.meta.c.value).where(t.meta.c.key == bindparam("p_key"))


def _meta(conn: Connection, key: str) -> str | None:
    value: str | None = conn.execute(_META, {"p_key": key}).scalar()
    return value


def _set_meta(conn: Connection, key: str, value: str) -> None:
    if _meta(conn, key) is None:
        conn.execute(insert(t.meta).values(key=key, value=value))
    else:
        conn.execute(update(t.meta).where(t.meta.c.key == key).values(value=value))


def segment_changes(conn: Connection, project: m.Project, active: Mapping[str, Version],
                    until: int, touched: set[str]) -> list[tuple[str, str, str]]:
    """(segment, "enter" | "leave", customer) since the last look.

    The first look only records who is in: customers already in a segment when a playbook
    starts watching it do not all enter at once.
    """
    out: list[tuple[str, str, str]] = []
    for name in sorted(trigger_segments(active)):
        key = f"segment_eval:{name}"
        last = _meta(conn, key)
        full = last is None or until - int(last) >= SEGMENT_INTERVAL
        among = None if full else touched
        if among is not None and not among:
            continue
        now_in = matching_ids(conn, project.segments[name].cond, now=until,
                              segments=project.segments, among=among)
        before = _members(conn, name, among)
        if last is not None:
            out += [(name, "enter", c) for c in sorted(now_in - before)]
            out += [(name, "leave", c) for c in sorted(before - now_in)]
        _store_members(conn, name, now_in - before, before - now_in, until)
        if full:
            _set_meta(conn, key, str(until))
    return out


def segment_members_at_start(conn: Connection, active: Mapping[str, Version], until: int,
                             entered: set[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(playbook, segment, customer) for each `when in segment` playbook's first look: the
    segment's members then, who enter as well as those who join later. Once per playbook
    (and segment), not per version: a new version does not enroll them all again; re-entry
    rules would refuse most anyway. Run after `segment_changes`, which keeps the members."""
    out: list[tuple[str, str, str]] = []
    for name, v in sorted(active.items()):
        for entry in v.playbook.entries:
            if not (isinstance(entry, m.SegmentEntry) and entry.current):
                continue
            key = f"segment_start:{name}:{entry.segment}"
            if _meta(conn, key) is not None:
                continue
            out += [(name, entry.segment, c) for c in sorted(_members(conn, entry.segment, None))
                    if (entry.segment, c) not in entered]
            _set_meta(conn, key, str(until))
    return out


def _members(conn: Connection, segment: str, among: set[str] | None) -> set[str]:
    q = select(t.segment_members.c.customer_id).where(t.segment_members.c.segment == segment)
    if among is None:
        return set(conn.execute(q).scalars())
    found: set[str] = set()
    ids = sorted(among)
    for i in range(0, len(ids), 900):
        found.update(conn.execute(q.where(t.segment_members.c.customer_id.in_(ids[i:i + 900])))
                     .scalars())
    return found


def _store_members(conn: Connection, segment: str, entered: set[str], left: set[str],
                   at: int) -> None:
    if entered:
        conn.execute(insert(t.segment_members), [
            {"segment": segment, "customer_id": c, "since": at} for c in sorted(entered)])
    ids = sorted(left)
    for i in range(0, len(ids), 900):
        conn.execute(delete(t.segment_members).where(
            t.segment_members.c.segment == segment,
            t.segment_members.c.customer_id.in_(ids[i:i + 900])))
