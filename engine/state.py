"""In-memory state of one batch of customers while the runtime works on them.

The runtime loads a batch (customers, their open enrollments, their recent sends), changes it
in memory, and the store writes every change back in one transaction. Nothing here touches
the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(slots=True)
class Customer:
    id: str
    email: str | None
    phone: str | None
    timezone: str | None
    attributes: Json
    email_revoked: bool = False
    sms_revoked: bool = False
    dirty: bool = False  # attributes changed by an `update` step
    # `row()`, built once: conditions judged at every step read it (`set` clears it).
    _row: Json | None = field(default=None, repr=False, compare=False)

    def row(self) -> Json:
        """Columns and attributes as conditions and templates see them (read only)."""
        if self._row is None:
            self._row = {**self.attributes, "id": self.id, "email": self.email,
                         "phone": self.phone, "timezone": self.timezone}
        return self._row

    def set(self, name: str, value: Any) -> None:
        """An `update` step's assignment: a column (email, phone, timezone) or an attribute."""
        if name in ("email", "phone", "timezone"):
            setattr(self, name, None if value is None else str(value))
        else:
            self.attributes[name] = value
        self._row, self.dirty = None, True


@dataclass(slots=True)
class Enrollment:
    id: int  # negative until the store assigns one
    playbook: str
    version_id: int
    customer_id: str
    node: str | None
    state: str  # active | waiting | done | exited | holdout
    due_at: int | None
    context: Json
    entered_at: int
    ended_at: int | None = None
    end_reason: str | None = None
    trail: list[str] = field(default_factory=list)
    dirty: bool = False

    @property
    def open(self) -> bool:
        return self.state in ("active", "waiting")

    def visit(self, node: str, at: int) -> int:
        """Record a step visit; returns how many times this step ran before (the attempt)."""
        prior = sum(1 for t in self.trail if t.split("@", 1)[0] == node)
        self.trail.append(f"{node}@{at}")
        self.dirty = True
        return prior

    def end(self, state: str, at: int, reason: str) -> None:
        self.state, self.ended_at, self.end_reason = state, at, reason
        self.node, self.due_at = None, None
        self.dirty = True


@dataclass(frozen=True, slots=True)
class Event:
    customer_id: str
    name: str
    ts: int
    properties: Json
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for the outbox; the store turns it into a `messages` row."""

    enrollment: Enrollment
    node: str
    attempt: int
    channel: str
    stage: str | None
    connector: str | None
    template: str | None
    to_address: str | None
    subject: str | None
    body: str
    sms_segments: int | None
    at: int


@dataclass(frozen=True, slots=True)
class Suppression:
    enrollment: Enrollment
    node: str
    channel: str | None
    reason: str  # quiet_hours | send_window | cap | consent | audience | no_address | holdout
    action: str  # deferred | skipped | exited
    detail: str
    at: int


@dataclass(frozen=True, slots=True)
class Conversion:
    enrollment: Enrollment
    goal: str
    arm: str | None
    at: int


@dataclass(slots=True)
class Batch:
    customers: dict[str, Customer]
    enrollments: dict[str, list[Enrollment]]  # by customer: open ones and recent history
    sent: dict[tuple[str, str], list[int]]  # (customer, channel) -> send times, for caps
    converted: set[tuple[int, str]]  # (enrollment id, goal) already recorded
    outgoing: list[Outgoing] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)
    new_enrollments: list[Enrollment] = field(default_factory=list)
    next_temp_id: int = -1

    def of(self, customer_id: str) -> list[Enrollment]:
        return self.enrollments.setdefault(customer_id, [])

    def add_enrollment(self, e: Enrollment) -> None:
        e.id = self.next_temp_id
        self.next_temp_id -= 1
        self.of(e.customer_id).append(e)
        self.new_enrollments.append(e)

    def all_enrollments(self) -> list[Enrollment]:
        return [e for group in self.enrollments.values() for e in group]
