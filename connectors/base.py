"""The connector contract: what the engine hands over and what it gets back.

The engine's outbox dispatcher builds a :class:`Message`, calls ``connector.send(message)`` and
stores the :data:`SendResult`. ``send`` never raises for anything the provider or the network
does: every outcome is one of four frozen values, so the dispatcher is a ``match`` statement.

- :class:`Delivered` -- the provider accepted the message (not: the inbox received it; that
  arrives later as a :class:`~cadenza.connectors.events.DeliveryEvent`).
- :class:`Transient` -- not accepted, safe to try again (429, 5xx, connection refused).
- :class:`Permanent` -- not accepted, trying again cannot help (4xx, recipient opted out).
- :class:`Unknown` -- the request left and no answer came back (timeout, dropped connection).
  Neither SendGrid nor Twilio takes an idempotency key, so a retry may send twice: never
  retried blindly.

Exceptions are for programming and configuration mistakes and for rejected webhooks::

    ConnectorError                      everything raised by cadenza.connectors
    +-- ConnectorConfigError            bad connector configuration or missing secret
    +-- InvalidMessageError (ValueError) a Message that breaks the contract
    +-- WebhookError                    a feedback request we refuse to trust
        +-- SignatureError              missing or wrong signature
        +-- StaleWebhookError           timestamp outside the freshness window
        +-- ReplayedWebhookError        the same signed request seen before
        +-- MalformedWebhookError       signed, but not the shape we expect
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias, get_args

Channel: TypeAlias = Literal["email", "sms", "webhook"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

_METADATA_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MAX_METADATA_VALUE = 128
_MAX_METADATA_ITEMS = 16


class ConnectorError(Exception):
    """Base of every exception raised by ``cadenza.connectors``."""


class ConnectorConfigError(ConnectorError):
    """A connector cannot be built from its configuration; the message says how to fix it."""

    def __init__(self, problems: str | list[str]) -> None:
        listed = [problems] if isinstance(problems, str) else problems
        self.problems: tuple[str, ...] = tuple(listed)
        super().__init__("\n".join(self.problems))


class InvalidMessageError(ConnectorError, ValueError):
    """A :class:`Message` that breaks the contract (empty id, unknown channel, PII in metadata)."""


class WebhookError(ConnectorError):
    """A feedback request (SendGrid events, Twilio callbacks) that we refuse to trust."""


class SignatureError(WebhookError):
    """The request carries no signature, or one that does not match."""


class StaleWebhookError(WebhookError):
    """The signed timestamp is too old or in the future."""


class ReplayedWebhookError(WebhookError):
    """The same signed request was accepted before."""


class MalformedWebhookError(WebhookError):
    """The signature is valid but the body is not what the provider documents."""


def _frozen_metadata(metadata: Mapping[str, str]) -> Mapping[str, str]:
    if len(metadata) > _MAX_METADATA_ITEMS:
        raise InvalidMessageError(
            f"message metadata has {len(metadata)} entries; keep it to at most "
            f"{_MAX_METADATA_ITEMS} ids such as playbook, step and enrollment."
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            raise InvalidMessageError(
                f"metadata key {key!r} is not a short lower-case identifier; "
                "use names like 'playbook', 'step' or 'enrollment'."
            )
        if not isinstance(value, str) or len(value) > _MAX_METADATA_VALUE or "@" in value:
            raise InvalidMessageError(
                f"metadata value for {key!r} must be an id string of at most "
                f"{_MAX_METADATA_VALUE} characters without '@'; metadata travels to providers "
                "and must carry ids only, never addresses or content."
            )
    return MappingProxyType(dict(metadata))


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message to send; ``message_id`` is the idempotency key (enrollment, node, attempt).

    Addresses and content are excluded from ``repr`` so a stray log of a message leaks nothing.
    """

    message_id: str
    channel: Channel
    to: str = field(repr=False)
    sender: str | None = field(default=None, repr=False)
    reply_to: str | None = field(default=None, repr=False)
    subject: str | None = field(default=None, repr=False)
    html: str | None = field(default=None, repr=False)
    text: str | None = field(default=None, repr=False)
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.message_id or not self.message_id.strip():
            raise InvalidMessageError(
                "message_id is empty; pass the outbox idempotency key "
                "(enrollment, node, attempt) so feedback can find its way back."
            )
        if self.channel not in CHANNELS:
            raise InvalidMessageError(
                f"unknown channel {self.channel!r}; use one of {', '.join(CHANNELS)}."
            )
        if not self.to:
            raise InvalidMessageError(
                f"message {self.message_id!r} has no recipient; set 'to'."
            )
        object.__setattr__(self, "metadata", _frozen_metadata(self.metadata))


@dataclass(frozen=True, slots=True)
class Delivered:
    """The provider accepted the message; ``provider_id`` links later delivery events."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class Transient:
    """Not accepted but safe to retry, no sooner than ``retry_after_s`` when the provider said."""

    reason: str
    retry_after_s: float | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Permanent:
    """Not accepted and retrying cannot help; ``opted_out`` means suppress this recipient."""

    reason: str
    opted_out: bool = False
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """The request was sent and no answer came: it may or may not have gone out."""

    reason: str
    code: str | None = None


SendResult: TypeAlias = Delivered | Transient | Permanent | Unknown
# Requests a network connector keeps out at once, unless its `concurrency` key says otherwise.
DEFAULT_CONCURRENCY = 8


class Connector(Protocol):
    """A side effect with one method. Implementations are thread-safe unless stated.

    One may also have ``max_in_flight``, how many ``send`` calls the dispatcher may run at
    once (from its ``concurrency`` key); without it, one at a time.
    """

    @property
    def name(self) -> str:
        """The configured name (``"email"``, ``"sms_us"``), used in logs and the registry."""
        ...

    @property
    def channel(self) -> Channel:
        """The one channel this connector serves."""
        ...

    def send(self, message: Message) -> SendResult:
        """Hand ``message`` to the provider; never raises for provider or network failures."""
        ...


def wrong_channel(connector: Connector, message: Message) -> Permanent | None:
    """A :class:`Permanent` result when ``message`` is for another channel, else ``None``."""
    if message.channel == connector.channel:
        return None
    return Permanent(
        f"connector {connector.name!r} sends {connector.channel} but message "
        f"{message.message_id!r} is {message.channel}; route it to a {message.channel} connector."
    )
