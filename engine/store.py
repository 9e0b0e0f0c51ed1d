"""Reading and writing the store in batches: set-based statements, one transaction per batch.

The runtime asks for a batch of customers (their rows, open enrollments, recent sends), works on
it in memory, and hands it back; `write` commits every effect of the batch together — the
enrollment's new state and its outbox rows in one transaction, so a crash loses the whole batch
or nothing, never half of it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from cadenza.engine import faults, litebulk, pgbulk
from cadenza.engine import schema as t
from cadenza.engine.db import sqlite_write
from cadenza.engine.evaluate import EventRecord
from cadenza.engine.machine import Version
from cadenza.engine.state import Batch, Customer, Enrollment, Event
from cadenza.playbooks import model as m

CHUNK = 900  # ids per IN (...) list: under SQLite's default variable limit
OPEN = ("active", "waiting")


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def bulk_for(conn: Connection) -> Any:
    """The bulk-write module for the connection's database: pgbulk or litebulk."""
    return pgbulk if pgbulk.is_postgres(conn) else litebulk


def dialect_insert(conn: Connection) -> Any:
    """INSERT with ON CONFLICT support on both databases."""
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def graph_digest(pb: m.Playbook) -> str:
    """Identifies a playbook's meaning: equal for graphs that differ only in layout."""
    return hashlib.sha256(json.dumps(pb.semantic(), sort_keys=True,
                                     default=str).encode()).hexdigest()


def version_id(conn: Connection, pb: m.Playbook, now: int, git_commit: str | None) -> int:
    """The playbook's latest version if it means the same, else a new version."""
    v = t.playbook_versions
    digest = graph_digest(pb)
    row = conn.execute(select(v.c.id, v.c.source_hash, v.c.version)
                       .where(v.c.playbook == pb.name)
                       .order_by(v.c.version.desc()).limit(1)).first()
    if row is not None and row.source_hash == digest:
        return int(row.id)
    return int(conn.execute(insert(v).values(
        playbook=pb.name, version=1 if row is None else row.version + 1,
        graph=pb.model_dump(mode="json"), source_hash=digest, git_commit=git_commit,
        created_at=now, active=True).returning(v.c.id)).scalar_one())


PROJECT_ZONE = "project_timezone"
PROJECT_SEGMENTS = "project_segments"


def record_project(conn: Connection, project: m.Project) -> None:
    """Kept with each deployment for `cadenza explain`: the zone it reads local times in for
    customers without one, and the segments it judges entries with, as the engine did."""
    segments = json.dumps({n: s.model_dump(mode="json") for n, s in project.segments.items()})
    for key, value in ((PROJECT_ZONE, project.timezone), (PROJECT_SEGMENTS, segments)):
        ins = dialect_insert(conn)(t.meta).values(key=key, value=value)
        conn.execute(ins.on_conflict_do_update(index_elements=[t.meta.c.key],
                                               set_={"value": ins.excluded.value}))


def project_segments(conn: Connection) -> dict[str, m.Segment] | None:
    """The segments the last deployment recorded (None: a store from before they were)."""
    value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == PROJECT_SEGMENTS)
                         ).scalar()
    if value is None:
        return None
    return {n: m.Segment.model_validate(s) for n, s in json.loads(value).items()}


def project_zone(conn: Connection) -> str | None:
    """The zone of customers without one, as the last deployment recorded it (a store
    deployed before it was recorded: the zone in its last deployment's project)."""
    value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == PROJECT_ZONE)).scalar()
    if value is None:
        d = t.deployments
        project = conn.execute(select(d.c.project).order_by(d.c.id.desc()).limit(1)).scalar()
        value = project.get("timezone") if isinstance(project, dict) else None
    return None if value is None else str(value)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ customers and events
    def upsert_customers(self, rows: Sequence[dict[str, Any]], now: int) -> None:
        """Insert customers, or replace a stored one's columns and attributes (its consent
        revocations stay)."""
        changed = ("email", "phone", "timezone", "attributes", "updated_at")
        with self.engine.begin() as conn:
            for part in chunks(rows, 2000):
                values = [{"id": r["id"], "email": r.get("email"), "phone": r.get("phone"),
                           "timezone": r.get("timezone"), "attributes": r.get("attributes"),
                           "updated_at": now, "email_revoked": False, "sms_revoked": False}
                          for r in part]
                if pgbulk.is_postgres(conn):
                    ins = dialect_insert(conn)(t.customers)
                    conn.execute(ins.on_conflict_do_update(
                        index_elements=[t.customers.c.id],
                        set_={c: ins.excluded[c] for c in changed}), values)
                else:  # the driver directly: SQLAlchemy's parameter processing doubled it
                    litebulk.insert_rows(conn, t.customers, values, upsert=("id", changed))

    def insert_events(self, events: Sequence[Event], received_at: int, *,
                      processed: bool = False) -> list[Event]:
        """Store events (pending, unless `processed`); a message_id seen before is dropped."""
        if not events:
            return []
        with self.engine.begin() as conn:
            return self.insert_events_in(conn, events, received_at, processed=processed)

    def insert_events_in(self, conn: Connection, events: Sequence[Event], received_at: int,
                         *, processed: bool = False) -> list[Event]:
        """Insert; a message id already stored (a client retry) is skipped by the database
        itself (ON CONFLICT DO NOTHING), so concurrent duplicates cannot both get in."""
        unique: dict[str, Event] = {}
        anonymous: list[Event] = []
        for e in events:
            if e.message_id is None:
                anonymous.append(e)
            else:
                unique.setdefault(e.message_id, e)
        rows = [{"message_id": e.message_id, "customer_id": e.customer_id, "name": e.name,
                 "ts": e.ts, "properties": e.properties, "received_at": received_at,
                 "processed": processed} for e in (*unique.values(), *anonymous)]
        if not rows:
            return []
        if pgbulk.is_postgres(conn):
            stored = set(pgbulk.insert_rows(conn, t.events, rows, skip_existing="message_id",
                                            returning="message_id"))
        else:  # this transaction is SQLite's one writer: what is not stored now gets in
            taken = litebulk.existing(conn, t.events, "message_id", list(unique))
            rows = [r for r in rows if r["message_id"] is None or r["message_id"] not in taken]
            litebulk.insert_rows(conn, t.events, rows)
            stored = set(unique) - taken
        return [e for e in unique.values() if e.message_id in stored] + anonymous

    # ------------------------------------------------------------------ playbook versions
    def deploy(self, project: m.Project, now: int, git_commit: str | None = None,
               ) -> dict[str, Version]:
        """Record each playbook's graph as a version (new only when it changed)."""
        out: dict[str, Version] = {}
        with self.engine.begin() as conn:
            for name, pb in project.playbooks.items():  # declaration order: entry order
                out[name] = Version.of(version_id(conn, pb, now, git_commit), pb)
            record_project(conn, project)
        return out

    def latest_deployment(self) -> Any:
        d = t.deployments
        with self.engine.connect() as conn:
            return conn.execute(select(d.c.id, d.c.project, d.c.versions)
                                .order_by(d.c.id.desc()).limit(1)).first()

    def versions(self, ids: Iterable[int]) -> dict[int, Version]:
        wanted = sorted(set(ids))
        out: dict[int, Version] = {}
        with self.engine.connect() as conn:
            for part in chunks(wanted):
                for row in conn.execute(select(t.playbook_versions.c.id,
                                               t.playbook_versions.c.graph)
                                        .where(t.playbook_versions.c.id.in_(part))):
                    out[row.id] = Version.of(row.id, m.Playbook.model_validate(row.graph))
        return out

    # ------------------------------------------------------------------ work to do
    def work(self, until: int, limit: int) -> list[str]:
        """Customers with pending events or due steps, at most `limit`, most overdue first.

        Each source is read oldest first along its index and stops after `limit` rows, so a
        batch costs the same with 100 or 1,000,000 events waiting. Grouping by customer over
        everything due (as before) read the whole backlog for every batch: under a sustained
        10,000 events/s the engine fell further behind the longer it ran."""
        e, ev = t.enrollments, t.events
        with self.engine.connect() as conn:
            rows = [*conn.execute(select(ev.c.customer_id, ev.c.ts)
                                  .where(ev.c.processed.is_(False), ev.c.ts <= until)
                                  .order_by(ev.c.ts).limit(limit))]
            for state in OPEN:  # one ordered index range each: `IN` would sort them all
                rows += conn.execute(select(e.c.customer_id, e.c.due_at)
                                     .where(e.c.state == state, e.c.due_at <= until)
                                     .order_by(e.c.due_at).limit(limit)).all()
        first: dict[str, int] = {}
        for cid, at in rows:
            first[cid] = min(at, first.get(cid, at))
        return sorted(first, key=lambda c: (first[c], c))[:limit]

    @staticmethod
    def set_consent(conn: Connection, customer_id: str, channel: str, *, revoked: bool) -> None:
        """Revoke (or restore) a customer's consent on a channel, for every playbook."""
        column = {"email": "email_revoked", "sms": "sms_revoked"}.get(channel)
        if column is not None:
            conn.execute(update(t.customers).where(t.customers.c.id == customer_id)
                         .values({column: revoked}))

    @staticmethod
    def existing(conn: Connection, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(sorted(set(ids))):
            found.update(conn.execute(select(t.customers.c.id)
                                      .where(t.customers.c.id.in_(part))).scalars())
        return found

    def lock(self, conn: Connection, ids: Sequence[str], limit: int) -> list[str]:
        """Up to `limit` of `ids` (most urgent first) that this transaction now owns.

        PostgreSQL skips customers another worker holds, so workers given the same candidates
        take successive shares instead of colliding. On SQLite the transaction began with
        BEGIN IMMEDIATE: one writer at a time owns all.
        """
        if conn.dialect.name != "postgresql":
            return list(ids[:limit])
        c = t.customers
        owned: list[str] = []
        for part in chunks(list(ids)):
            want = limit - len(owned)
            if want <= 0:
                break
            owned += conn.execute(select(c.c.id).where(c.c.id.in_(part)).order_by(c.c.id)
                                  .limit(want).with_for_update(skip_locked=True)).scalars().all()
        return owned

    def pending_events(self, conn: Connection, ids: Sequence[str],
                       until: int) -> dict[str, list[tuple[int, Event]]]:
        ev = t.events
        out: dict[str, list[tuple[int, Event]]] = {}
        for part in chunks(ids):
            rows = conn.execute(select(ev).where(ev.c.customer_id.in_(part),
                                                 ev.c.processed.is_(False), ev.c.ts <= until)
                                .order_by(ev.c.ts, ev.c.id))
            for r in rows:
                out.setdefault(r.customer_id, []).append((r.id, Event(
                    customer_id=r.customer_id, name=r.name, ts=r.ts,
                    properties=dict(r.properties or {}), message_id=r.message_id)))
        return out

    @staticmethod
    def earliest_due(conn: Connection, ids: Sequence[str]) -> int | None:
        e = t.enrollments
        found: list[int] = []
        for part in chunks(ids):
            at = conn.execute(select(func.min(e.c.due_at)).where(
                e.c.customer_id.in_(part), e.c.state.in_(OPEN))).scalar()
            if at is not None:
                found.append(at)
        return min(found, default=None)

    def mark_processed(self, conn: Connection, event_ids: Sequence[int]) -> None:
        if not pgbulk.is_postgres(conn):
            litebulk.update_by_id(conn, t.events, {"processed": True}, event_ids)
            return
        for part in chunks(list(event_ids)):
            conn.execute(update(t.events).where(t.events.c.id.in_(part)).values(processed=True))

    def next_due(self) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(t.enrollments.c.due_at))
                                .where(t.enrollments.c.state.in_(OPEN))).scalar()

    # ------------------------------------------------------------------ batches
    def load(self, conn: Connection, ids: Sequence[str], since: int, lookback: int,
             ) -> tuple[Batch, dict[tuple[str, str], int]]:
        """Customers, their open and recent enrollments, recent sends, and last entries."""
        batch = Batch(customers={}, enrollments={}, sent={}, converted=set())
        last_entry: dict[tuple[str, str], int] = {}
        for part in chunks(ids):
            self._load_part(conn, part, since - lookback, batch, last_entry)
        return batch, last_entry

    @staticmethod
    def _load_part(conn: Connection, part: Sequence[str], horizon: int, batch: Batch,
                   last_entry: dict[tuple[str, str], int]) -> None:
        c, e, msg, conv = t.customers, t.enrollments, t.messages, t.conversions
        for r in conn.execute(select(c).where(c.c.id.in_(part))):
            batch.customers[r.id] = Customer(
                id=r.id, email=r.email, phone=r.phone, timezone=r.timezone,
                attributes=dict(r.attributes or {}), email_revoked=r.email_revoked,
                sms_revoked=r.sms_revoked)
        rows = conn.execute(select(e).where(e.c.customer_id.in_(part), or_(
            e.c.state.in_(OPEN), e.c.entered_at >= horizon)))
        for r in rows:
            batch.of(r.customer_id).append(Enrollment(
                id=r.id, playbook=r.playbook, version_id=r.version_id,
                customer_id=r.customer_id, node=r.node, state=r.state, due_at=r.due_at,
                context=dict(r.context or {}), entered_at=r.entered_at, ended_at=r.ended_at,
                end_reason=r.end_reason, trail=[x for x in (r.trail or "").split(";") if x]))
        for r in conn.execute(select(e.c.customer_id, e.c.playbook, func.max(e.c.entered_at))
                              .where(e.c.customer_id.in_(part))
                              .group_by(e.c.customer_id, e.c.playbook)):
            last_entry[(r[0], r[1])] = r[2]
        for r in conn.execute(select(msg.c.customer_id, msg.c.channel, msg.c.created_at)
                              .where(msg.c.customer_id.in_(part), msg.c.created_at >= horizon)):
            batch.sent.setdefault((r[0], r[1]), []).append(r[2])
        loaded = [x.id for x in batch.all_enrollments()]
        for ids in chunks(loaded):
            for r in conn.execute(select(conv.c.enrollment_id, conv.c.goal)
                                  .where(conv.c.enrollment_id.in_(ids))):
                batch.converted.add((r[0], r[1]))

    @staticmethod
    def history(conn: Connection, ids: Sequence[str], names: Iterable[str], since: int | None,
                until: int) -> dict[str, list[EventRecord]]:
        """The batch customers' events that aggregates read, oldest first."""
        ev = t.events
        out: dict[str, list[EventRecord]] = {}
        wanted = sorted(names)
        for part in chunks(ids):
            q = select(ev.c.customer_id, ev.c.name, ev.c.ts, ev.c.properties, ev.c.id).where(
                ev.c.customer_id.in_(part), ev.c.name.in_(wanted), ev.c.ts <= until)
            if since is not None:
                q = q.where(ev.c.ts >= since)
            for r in conn.execute(q.order_by(ev.c.ts, ev.c.id)):
                out.setdefault(r[0], []).append(
                    EventRecord(name=r[1], ts=r[2], properties=r[3] or {}, id=r[4]))
        return out

    def write(self, conn: Connection, batch: Batch) -> None:
        """Every effect of a batch, in the caller's transaction."""
        fresh = {id(x) for x in batch.new_enrollments}
        self._insert_enrollments(conn, batch.new_enrollments)
        self._update_enrollments(conn, [x for x in batch.all_enrollments()
                                        if x.dirty and id(x) not in fresh])
        self._update_customers(conn, [c for c in batch.customers.values() if c.dirty])
        self._insert_effects(conn, batch)

    @staticmethod
    def _enrollment_row(x: Enrollment) -> dict[str, Any]:
        return {"node": x.node, "state": x.state, "due_at": x.due_at, "context": x.context,
                "ended_at": x.ended_at, "end_reason": x.end_reason, "trail": ";".join(x.trail)}

    def _insert_enrollments(self, conn: Connection, new: list[Enrollment]) -> None:
        if not new:
            return
        rows = [{"playbook": x.playbook, "version_id": x.version_id,
                 "customer_id": x.customer_id, "entered_at": x.entered_at,
                 **self._enrollment_row(x)} for x in new]
        ids = bulk_for(conn).insert_rows_with_ids(conn, t.enrollments, rows)
        for x, new_id in zip(new, ids, strict=True):
            x.id = new_id

    def _update_enrollments(self, conn: Connection, changed: list[Enrollment]) -> None:
        if not changed:
            return
        rows = [{"id": x.id, **self._enrollment_row(x), "lease_owner": None,
                 "lease_until": None} for x in changed]
        bulk_for(conn).update_rows(conn, t.enrollments, "id", rows)

    @staticmethod
    def _update_customers(conn: Connection, changed: list[Customer]) -> None:
        if not changed:
            return
        rows = [{"id": x.id, "attributes": x.attributes, "email": x.email,
                 "phone": x.phone, "timezone": x.timezone} for x in changed]
        bulk_for(conn).update_rows(conn, t.customers, "id", rows)

    @staticmethod
    def _insert_effects(conn: Connection, batch: Batch) -> None:
        _insert_all(conn, t.messages, [{
            "idempotency_key": f"{o.enrollment.id}:{o.node}:{o.attempt}",
            "enrollment_id": o.enrollment.id, "playbook": o.enrollment.playbook,
            "node": o.node, "stage": o.stage, "customer_id": o.enrollment.customer_id,
            "channel": o.channel, "connector": o.connector, "template": o.template,
            "to_address": o.to_address, "subject": o.subject, "body": o.body,
            "sms_segments": o.sms_segments, "status": "pending", "attempts": 0,
            "next_attempt_at": o.at, "created_at": o.at} for o in batch.outgoing])
        _insert_all(conn, t.suppressions, [{
            "enrollment_id": s.enrollment.id, "playbook": s.enrollment.playbook,
            "node": s.node, "customer_id": s.enrollment.customer_id,
            "channel": s.channel, "reason": s.reason, "action": s.action,
            "detail": s.detail, "at": s.at} for s in batch.suppressions])
        _insert_all(conn, t.conversions, [{
            "enrollment_id": c.enrollment.id, "playbook": c.enrollment.playbook,
            "goal": c.goal, "customer_id": c.enrollment.customer_id, "arm": c.arm,
            "at": c.at} for c in batch.conversions])

    # ------------------------------------------------------------------ outbox
    def claim_messages(self, now: int, limit: int, owner: str, lease_s: int) -> list[Any]:
        """Take due messages for sending; several workers never take the same one.

        A lease that ran out means its worker died mid-claim. Claimed messages it never tried
        go back to pending. The provider may have the one it was sending: an email goes back to
        pending too (it may arrive twice: the documented in-doubt window); an SMS, marked
        `sending` just before its request, is at most once, so it becomes `unknown` and is
        never re-sent by itself.
        """
        with self.engine.begin() as conn:
            # Deliberately broken test builds (engine/faults.py) prove the crash trials fail.
            lapsed = -1 if faults.broken("skip_lease_recovery") else now
            at_most_once = "none" if faults.broken("resend_sms") else "sms"
            hold, release, claim = _claim_statements(conn.dialect.name == "postgresql")
            conn.execute(hold, {"p_lapsed": lapsed, "p_channel": at_most_once})
            conn.execute(release, {"p_lapsed": lapsed})
            rows = conn.execute(claim, {"p_now": now, "p_limit": limit, "p_owner": owner,
                                        "p_until": now + lease_s}).all()
        return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))

    def versions_of(self, enrollment_ids: set[int]) -> dict[int, int]:
        """Each enrollment's playbook version number, for the logs of its sends."""
        if not enrollment_ids:
            return {}
        e, v = t.enrollments, t.playbook_versions
        with self.engine.connect() as conn:
            rows = conn.execute(select(e.c.id, v.c.version)
                                .join(v, v.c.id == e.c.version_id)
                                .where(e.c.id.in_(sorted(enrollment_ids))))
            return {int(i): int(n) for i, n in rows}

    @contextlib.contextmanager
    def sending(self) -> Iterator[Connection]:
        """One connection for a dispatch round's per-send writes (each still its own
        transaction): a checkout per message cost a pool ping and a round trip each.
        On PostgreSQL each write is a single statement in autocommit: one round trip.

        On PostgreSQL these commits do not wait for the WAL flush, which bound one process's
        drain to one flush per message (about 1.5 ms here). A Cadenza crash loses nothing this
        way: the commit is in the server. Only a crash of the database server itself within
        its WAL writer delay (about 0.6 s) can lose an outcome; the message is then in doubt,
        like the one in flight at a crash: an email may go twice, an SMS is held as unknown.
        SQLite in WAL mode with synchronous=NORMAL does not flush at each commit either.
        Events and the engine's effects keep fully synchronous commits."""
        with self.engine.connect() as conn:
            if not pgbulk.is_postgres(conn):
                yield conn
                return
            # Autocommit: each outcome is one statement, so one round trip, not three.
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("SET synchronous_commit = off")
            conn.commit()  # ends SQLAlchemy's autobegun transaction; the server has none
            try:
                yield conn
            finally:
                if not conn.invalidated:
                    with contextlib.suppress(SQLAlchemyError):  # a broken one is discarded
                        conn.rollback()
                        conn.exec_driver_sql("RESET synchronous_commit")
                        conn.commit()

    @staticmethod
    def mark_sending(conn: Connection, message_id: int, owner: str) -> bool:
        """Mark one claimed message as being sent, committed before its request; False when
        the claim is no longer this worker's (its lease ran out and another took it)."""
        params = {"mid": message_id, "owner": owner}
        if not pgbulk.is_postgres(conn):
            return sqlite_write(conn, _MARK_SENDING_SQLITE, [params]) == 1
        with conn.begin():
            done = conn.execute(_MARK_SENDING, params)
        return bool(done.rowcount == 1)

    @staticmethod
    def record_results(conn: Connection, rows: list[dict[str, Any]], owner: str) -> None:
        """Outcomes of sends; a message whose lease another worker took over is left to it."""
        if not rows:
            return
        params = [{**r, "owner": owner} for r in rows]
        if not pgbulk.is_postgres(conn):
            sqlite_write(conn, _RECORD_RESULT_SQLITE, params)
            return
        with conn.begin():
            conn.execute(_RECORD_RESULT, params)


@functools.cache
def _claim_statements(pg: bool) -> tuple[Any, Any, Any]:
    """The three statements of a claim, built once: a test or a simulation claims at every
    step of its clock, and building them cost more than running them on an empty outbox."""
    msg = t.messages

    def free(q: Any) -> Any:  # never wait on rows another worker is writing
        return q.with_for_update(skip_locked=True) if pg else q

    expired = free(select(msg.c.id).where(msg.c.status.in_(("claimed", "sending")),
                                          msg.c.lease_until < bindparam("p_lapsed")))
    hold = update(msg).where(msg.c.id.in_(expired.scalar_subquery()),
                             msg.c.status == "sending",
                             msg.c.channel == bindparam("p_channel")).values(
        status="unknown", last_error="the worker sending it stopped; it may or may "
        "not have been delivered", lease_owner=None, lease_until=None)
    release = update(msg).where(msg.c.id.in_(expired.scalar_subquery())).values(
        status="pending", lease_owner=None, lease_until=None)
    due = select(msg.c.id).where(msg.c.status.in_(("pending", "failed")),
                                 msg.c.next_attempt_at <= bindparam("p_now"))
    due = free(due.order_by(msg.c.next_attempt_at, msg.c.id).limit(bindparam("p_limit")))
    claim = (update(msg).where(msg.c.id.in_(due.scalar_subquery()))
             .values(status="claimed", lease_owner=bindparam("p_owner"),
                     lease_until=bindparam("p_until"))
             .returning(*msg.c))
    return hold, release, claim


def _insert_all(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many rows into `table`, each database's fastest way (engine/pgbulk.py says why)."""
    if not rows:
        return
    bulk_for(conn).insert_rows(conn, table, rows)


# Built once: dispatch writes each send's outcome in its own transaction (so a crash repeats at
# most the message in flight), and building the statement cost more than running it.
_RECORD_RESULT = update(t.messages).where(
    t.messages.c.id == bindparam("mid"), t.messages.c.lease_owner == bindparam("owner")).values(
    status=bindparam("status"), provider_id=bindparam("provider_id"),
    attempts=bindparam("attempts"), next_attempt_at=bindparam("next_attempt_at"),
    last_error=bindparam("last_error"), sent_at=bindparam("sent_at"),
    lease_owner=None, lease_until=None)
_MARK_SENDING = update(t.messages).where(
    t.messages.c.id == bindparam("mid"), t.messages.c.lease_owner == bindparam("owner"),
    t.messages.c.status == "claimed").values(status="sending")
# The same two statements as the sqlite3 driver takes them (engine/db.py `sqlite_write`).
_RECORD_RESULT_SQLITE = (
    "UPDATE messages SET status = :status, provider_id = :provider_id, attempts = :attempts, "
    "next_attempt_at = :next_attempt_at, last_error = :last_error, sent_at = :sent_at, "
    "lease_owner = NULL, lease_until = NULL WHERE id = :mid AND lease_owner = :owner")
_MARK_SENDING_SQLITE = ("UPDATE messages SET status = 'sending' "
                        "WHERE id = :mid AND lease_owner = :owner AND status = 'claimed'")
