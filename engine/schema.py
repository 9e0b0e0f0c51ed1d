"""The store's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Times are integer epoch seconds, UTC: fast to compare and index on both databases, and free of
SQLite's naive-datetime trap. Customer attributes are JSON; timestamp attributes inside it are
epoch seconds too (converted on load, shown as ISO 8601 to templates and reports).

The schema is versioned (`meta.schema_version`); `migrate()` in db.py brings a store up to
`SCHEMA_VERSION`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# 2: feedback_events; 3: events.processed; 4: deployments; 5: outbox leases;
# 6: ix_events_unprocessed (partial) replaces ix_events_pending
SCHEMA_VERSION = 6

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

customers = Table(
    "customers", metadata,
    Column("id", String(128), primary_key=True),
    Column("email", String(320)),
    Column("phone", String(32)),
    Column("timezone", String(64)),
    Column("attributes", JSON, nullable=False),
    # Consent revoked by the customer (unsubscribe, spam report, hard bounce, SMS STOP),
    # whatever a playbook's consent condition says.
    Column("email_revoked", Boolean, nullable=False, default=False),
    Column("sms_revoked", Boolean, nullable=False, default=False),
    Column("updated_at", BigInteger, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("message_id", String(128), unique=True),  # client-side id, for deduplication
    Column("customer_id", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("properties", JSON, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    # False until the runtime has handled the event (its triggers, exits, waits, goals) in the
    # same transaction as the effects: an accepted event is never lost to a crash.
    Column("processed", Boolean, nullable=False, default=False),
    Index("ix_events_customer_name_ts", "customer_id", "name", "ts"),
    # Only the events still to handle: a handled event (all the history, soon nearly every
    # event) leaves this index, which then stays the size of the backlog, not of the table.
    Index("ix_events_unprocessed", "ts", sqlite_where=text("processed IS 0"),
          postgresql_where=text("processed IS false")),
)

playbook_versions = Table(
    "playbook_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("playbook", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("graph", JSON, nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("git_commit", String(64)),
    Column("created_at", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    UniqueConstraint("playbook", "version", name="uq_playbook_version"),
)

# One row per `cadenza apply`: the compiled project as it was deployed (templates and segments
# included) and which playbook version each of its playbooks runs. `serve` runs the latest.
deployments = Table(
    "deployments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_hash", String(64), nullable=False),
    Column("git_commit", String(64)),
    Column("project", JSON, nullable=False),
    Column("versions", JSON, nullable=False),  # playbook name -> playbook_versions.id
    Column("created_at", BigInteger, nullable=False),
)

enrollments = Table(
    "enrollments", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("playbook", String(128), nullable=False),
    Column("version_id", Integer, ForeignKey("playbook_versions.id"), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("node", String(128)),  # the step to run next (or being waited in); None when over
    # active: due_at says when to run `node`; waiting: a wait for event, due_at is its timeout;
    # done / exited / holdout: over (holdout: counted for lift, never sent anything).
    Column("state", String(16), nullable=False),
    Column("due_at", BigInteger),
    Column("lease_owner", String(64)),
    Column("lease_until", BigInteger),
    Column("context", JSON, nullable=False),  # trigger event, bound events, split arms
    Column("entered_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger),
    Column("end_reason", String(64)),
    Column("trail", Text, nullable=False, default=""),  # "node@ts;node@ts" for explain
    Index("ix_enrollments_due", "state", "due_at"),
    Index("ix_enrollments_customer", "customer_id", "playbook"),
)

messages = Table(
    "messages", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("enrollment_id", BigInteger, nullable=False),
    Column("playbook", String(128), nullable=False),
    Column("node", String(128), nullable=False),
    Column("stage", String(64)),
    Column("customer_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("connector", String(64)),
    Column("template", String(128)),
    Column("to_address", String(320)),
    Column("subject", Text),
    Column("body", Text, nullable=False),
    Column("sms_segments", Integer),
    # pending -> sending -> sent | failed(retry at next_attempt_at) | dead | unknown;
    # sent -> delivered | bounced | opened ... from provider feedback.
    Column("status", String(16), nullable=False),
    Column("provider_id", String(128)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", BigInteger),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    # A worker that claimed the message holds it ("claimed") until lease_until; an SMS is
    # marked "sending" alone, just before its request, so a crash leaves in doubt only that one.
    Column("lease_owner", String(64)),
    Column("lease_until", BigInteger),
    Index("ix_messages_status_next", "status", "next_attempt_at"),
    Index("ix_messages_customer_channel", "customer_id", "channel", "created_at"),
)

suppressions = Table(
    "suppressions", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("enrollment_id", BigInteger, nullable=False),
    Column("playbook", String(128), nullable=False),
    Column("node", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("channel", String(16)),
    # quiet_hours | send_window | cap | consent | audience | holdout
    Column("reason", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # deferred | skipped
    Column("detail", Text),
    Column("at", BigInteger, nullable=False),
)

conversions = Table(
    "conversions", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("enrollment_id", BigInteger, nullable=False),
    Column("playbook", String(128), nullable=False),
    Column("goal", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("arm", String(128)),  # the split arm (or "holdout") the customer was in
    Column("at", BigInteger, nullable=False),
    UniqueConstraint("enrollment_id", "goal", name="uq_conversion_once"),
)

segment_members = Table(
    "segment_members", metadata,
    Column("segment", String(128), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("since", BigInteger, nullable=False),
)

# Provider feedback already applied (SendGrid sg_event_id, Twilio sid:status, inbound sid):
# a webhook retried by the provider changes nothing twice.
feedback_events = Table(
    "feedback_events", metadata,
    Column("event_id", String(160), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message_id", String(160)),
    Column("received_at", BigInteger, nullable=False),
)

schedule_fires = Table(
    "schedule_fires", metadata,
    Column("playbook", String(128), primary_key=True),
    Column("entry", Integer, primary_key=True),
    Column("fire_at", BigInteger, primary_key=True),
)
