"""What comes back from providers: delivery events and inbound SMS, as frozen values.

The receivers (:mod:`.sendgrid_events`, :mod:`.twilio_inbound`) turn a verified HTTP request
into these; the engine stores them, deduplicating on ``event_id``, and acts on
``revokes_consent`` / ``restores_consent``. Addresses and bodies are kept out of ``repr``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, TypeAlias

from .base import Channel

EventKind: TypeAlias = Literal[
    "processed", "deferred", "delivered", "open", "click", "bounce", "dropped",
    "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe",
    "queued", "sent", "undelivered", "failed",
]
InboundKind: TypeAlias = Literal["opt_out", "opt_in", "help", "sms_reply"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryEvent:
    """One provider event about a message we sent.

    ``event_id`` is the dedup key (SendGrid's ``sg_event_id``; Twilio's sid plus status).
    ``provider_message_id`` equals :attr:`Delivered.provider_id` of the send;
    ``message_id`` is our outbox id when the provider echoed it back.
    """

    provider: Literal["sendgrid", "twilio"]
    event_id: str
    kind: EventKind
    channel: Channel
    occurred_at: datetime | None
    provider_message_id: str | None
    message_id: str | None
    recipient: str | None = field(default=None, repr=False)
    bounce: Literal["hard", "soft"] | None = None
    error_code: str | None = None
    reason: str | None = field(default=None, repr=False)
    url: str | None = field(default=None, repr=False)
    revokes_consent: bool = False
    restores_consent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundSms:
    """An SMS a customer sent us, classified.

    ``opt_out`` revokes SMS consent for ``from_number``; ``opt_in`` restores it; ``help``
    carries the configured ``reply``; ``sms_reply`` is anything else, for playbooks (NPS).
    """

    kind: InboundKind
    event_id: str
    from_number: str = field(repr=False)
    to_number: str = field(repr=False)
    body: str = field(repr=False)
    reply: str | None = field(default=None, repr=False)

    @property
    def revokes_consent(self) -> bool:
        """True for STOP and its synonyms."""
        return self.kind == "opt_out"

    @property
    def restores_consent(self) -> bool:
        """True for START and UNSTOP."""
        return self.kind == "opt_in"


class SeenKeys(Protocol):
    """Remembers request keys to refuse replays; the engine may back it with its store."""

    def first_time(self, key: str) -> bool:
        """Record ``key``; True if it had not been seen before."""
        ...


class MemorySeenKeys:
    """A bounded, thread-safe in-memory :class:`SeenKeys` (per process: a first line only)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._max = max_keys
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """Record ``key``; True if it had not been seen before."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return False
            self._keys[key] = None
            if len(self._keys) > self._max:
                self._keys.popitem(last=False)
            return True


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers keyed in lower case, whatever the web framework handed over."""
    return {key.lower(): value for key, value in headers.items()}
