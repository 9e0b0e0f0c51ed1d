"""SendGrid's Signed Event Webhook: verify the raw body, then parse it into DeliveryEvents.

Framework-free: the service passes the raw body bytes and the headers. The ECDSA signature
covers ``timestamp + body``, so the body must be the exact bytes received -- never JSON
re-serialised by a framework. SendGrid does not check freshness for us: a timestamp
outside ``tolerance_s`` (old or in the future) is refused, which bounds replays; an
optional :class:`~.events.SeenKeys` refuses exact replays inside the window too.
Deduplicate stored events on ``DeliveryEvent.event_id`` (``sg_event_id``) regardless:
SendGrid delivers at least once.
"""

from __future__ import annotations

import binascii
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast, get_args

from sendgrid.helpers.eventwebhook import EventWebhook

from ._http import short
from .base import (
    ConnectorConfigError,
    MalformedWebhookError,
    ReplayedWebhookError,
    SignatureError,
    StaleWebhookError,
)
from .events import DeliveryEvent, EventKind, SeenKeys, lower_headers
from .redact import get_logger

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MESSAGE_ID_ARG = "cadenza_message_id"
_KINDS = frozenset(get_args(EventKind))
_REVOKING = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})


class SendGridEventReceiver:
    """Verifies and parses one SendGrid event webhook request at a time; thread-safe."""

    def __init__(
        self, public_key: str, *, tolerance_s: float = 300.0,
        seen: SeenKeys | None = None, clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            self._verifier = EventWebhook(public_key.strip())
        except (ValueError, TypeError) as exc:
            raise ConnectorConfigError(
                "the SendGrid event webhook public key is not a base64 ECDSA key; copy the "
                "'Verification Key' from Mail Settings > Signed Event Webhook."
            ) from exc
        self._tolerance = tolerance_s
        self._seen = seen
        self._clock = clock

    def receive(self, body: bytes, headers: Mapping[str, str]) -> tuple[DeliveryEvent, ...]:
        """Events from a verified request; raises a :class:`~.base.WebhookError` otherwise."""
        signature, timestamp = self._verify(body, lower_headers(headers))
        if self._seen is not None and not self._seen.first_time(f"{timestamp}:{signature}"):
            raise ReplayedWebhookError(
                f"this SendGrid event batch (timestamp {timestamp}) was already accepted; "
                "a replayed request is refused — its events are stored once."
            )
        events = tuple(_parse(body))
        get_logger("sendgrid_events", "email").info("webhook.accepted", events=len(events))
        return events

    def _verify(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
        signature = headers.get(SIGNATURE_HEADER.lower())
        timestamp = headers.get(TIMESTAMP_HEADER.lower())
        if not signature or not timestamp:
            missing = SIGNATURE_HEADER if not signature else TIMESTAMP_HEADER
            raise SignatureError(
                f"the SendGrid event webhook request has no {missing} header; enable the "
                "Signed Event Webhook in SendGrid and make sure the proxy forwards the header."
            )
        self._check_fresh(timestamp)
        try:
            valid = self._verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            valid = False
        if not valid:
            raise SignatureError(
                "the SendGrid event webhook signature does not match the body; check that the "
                "configured public key is SendGrid's current Verification Key and that the raw "
                "body is passed on unmodified."
            )
        return signature, timestamp

    def _check_fresh(self, timestamp: str) -> None:
        if not timestamp.isdigit():
            raise SignatureError(
                f"the SendGrid event webhook timestamp {timestamp!r} is not unix seconds."
            )
        skew = self._clock() - int(timestamp)
        if abs(skew) > self._tolerance:
            when = f"{int(skew)} s old" if skew > 0 else f"{int(-skew)} s in the future"
            raise StaleWebhookError(
                f"the SendGrid event webhook timestamp {timestamp} is {when}, outside the "
                f"{self._tolerance:g} s window; check this server's clock, or treat it as a replay."
            )


def _parse(body: bytes) -> list[DeliveryEvent]:
    try:
        items = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedWebhookError(
            f"the SendGrid event webhook body is not JSON ({exc.msg} at position {exc.pos})."
        ) from None
    except UnicodeDecodeError:
        raise MalformedWebhookError("the SendGrid event webhook body is not UTF-8.") from None
    except RecursionError:
        raise MalformedWebhookError("the SendGrid event webhook body is nested too deeply to "
                                    "be SendGrid's event array.") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedWebhookError(
            "the SendGrid event webhook body is not a JSON array of event objects."
        )
    return [event for item in items if (event := _event(item)) is not None]


def _event(item: Mapping[str, Any]) -> DeliveryEvent | None:
    kind, event_id = item.get("event"), item.get("sg_event_id")
    if kind not in _KINDS or not event_id:
        # A kind SendGrid adds later must not make the whole batch fail.
        return None
    bounce = _bounce(item) if kind == "bounce" else None
    sg_message_id = item.get("sg_message_id")
    reason = item.get("reason") or item.get("response")
    return DeliveryEvent(
        provider="sendgrid",
        event_id=str(event_id),
        kind=cast(EventKind, kind),
        channel="email",
        occurred_at=_when(item.get("timestamp")),
        # sg_message_id is X-Message-Id plus a ".filter..." suffix.
        provider_message_id=str(sg_message_id).split(".", 1)[0] if sg_message_id else None,
        message_id=_str_or_none(item.get(MESSAGE_ID_ARG)),
        recipient=_str_or_none(item.get("email")),
        bounce=bounce,
        error_code=_str_or_none(item.get("status")),
        reason=short(str(reason)) if reason else None,
        url=_str_or_none(item.get("url")),
        revokes_consent=kind in _REVOKING or bounce == "hard",
        restores_consent=kind == "group_resubscribe",
    )


def _bounce(item: Mapping[str, Any]) -> Any:
    # "blocked" is SendGrid's soft bounce: the address exists, the receiver refused for now.
    return "soft" if item.get("type") == "blocked" else "hard"


def _when(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None  # not a time SendGrid could send: the event counts, undated
    return None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)
