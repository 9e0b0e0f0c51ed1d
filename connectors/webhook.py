"""Messages as signed JSON POSTs: for CRMs, ticket queues (human tasks) and custom channels.

The body is the message as JSON. Receivers verify it with :func:`verify_signature`:

    X-Cadenza-Timestamp: <unix seconds>
    X-Cadenza-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret>
    Idempotency-Key:     <message id>   (dedupe on it: a retry after Unknown re-sends it)

The timestamp is inside the signed string so a captured request cannot be replayed later
with a fresh header. Redirects are not followed: a POST silently turned into a GET loses
the task, so a 3xx is reported as :class:`Permanent` with the fix.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ._http import classify_status, classify_urllib_failure, header, short
from .base import (
    DEFAULT_CONCURRENCY,
    Channel,
    Delivered,
    Message,
    SendResult,
    Unknown,
    wrong_channel,
)
from .redact import get_logger, redact_address

SIGNATURE_HEADER = "X-Cadenza-Signature"
TIMESTAMP_HEADER = "X-Cadenza-Timestamp"


class WebhookConfig(BaseModel):
    """Configuration keys of a ``type: webhook`` connector (secrets by env var name only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret_env: str
    channel: Channel = "webhook"
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Requests out at once (a provider's answer takes ~100-300 ms; one at a time is ~5/s).
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=64)
    headers: Mapping[str, str] = Field(default_factory=dict)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Cadenza-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: bytes, body: bytes, timestamp: str, signature: str, *,
    now: float | None = None, tolerance_s: float = 300.0,
) -> bool:
    """True when ``signature`` matches and ``timestamp`` is within ``tolerance_s`` of now."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(eq=False)
class WebhookConnector:
    """POSTs each message as signed JSON to one URL; 2xx delivered, 429/5xx transient."""

    name: str
    config: WebhookConfig
    secret: SecretStr = field(repr=False)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirect)

    @property
    def channel(self) -> Channel:
        """The channel this endpoint serves (``webhook`` unless configured otherwise)."""
        return self.config.channel

    @property
    def max_in_flight(self) -> int:
        """Requests the dispatcher may have out at once through this connector."""
        return self.config.concurrency

    def send(self, message: Message) -> SendResult:
        """POST ``message``; map the response or failure to a :data:`SendResult`."""
        if (mismatch := wrong_channel(self, message)) is not None:
            return mismatch
        result = self._post(message)
        get_logger(self.name, self.channel, message_id=message.message_id).info(
            "connector.sent" if isinstance(result, Delivered) else "connector.failed",
            outcome=type(result).__name__.lower(),
            to=redact_address(message.to),
            **({"provider_id": result.provider_id} if isinstance(result, Delivered)
               else {"reason": result.reason, "code": result.code}),
        )
        return result

    def _post(self, message: Message) -> SendResult:
        request = self._request(message, self.build_body(message))
        try:
            with self._opener.open(request, timeout=self.config.timeout_s) as rsp:
                rsp.read()
                return Delivered(header(rsp.headers, "X-Request-Id") or message.message_id)
        except urllib.request.HTTPError as exc:
            return classify_status(exc.code, str(exc.reason), header(exc.headers, "Retry-After"))
        except Exception as exc:  # send() returns a result for every failure, never raises
            mapped = classify_urllib_failure(exc, "the webhook endpoint")
            return mapped or Unknown(short(f"unexpected {type(exc).__name__}: {exc}"))

    def _request(self, message: Message, body: bytes) -> urllib.request.Request:
        timestamp = str(int(self.clock()))
        headers = {
            **self.config.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": message.message_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret.get_secret_value().encode(), timestamp, body),
        }
        return urllib.request.Request(self.config.url, data=body, headers=headers, method="POST")

    @staticmethod
    def build_body(message: Message) -> bytes:
        """The JSON document POSTed for ``message`` (public so receivers' tests can use it)."""
        document = {
            "message_id": message.message_id,
            "channel": message.channel,
            "to": message.to,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "metadata": dict(message.metadata),
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
