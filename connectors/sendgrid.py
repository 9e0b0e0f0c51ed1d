"""E-mail through SendGrid's v3 Mail Send API, with the official ``sendgrid`` client.

SendGrid takes no idempotency key: a request that timed out after it was written may have
been accepted, so it comes back :class:`Unknown`, never :class:`Transient`. Only ids travel
in ``custom_args`` and ``categories``; they come back on every event webhook.

The client's timeout defaults to None (a silent server hangs the dispatcher forever), so a
timeout is always set. ``python_http_client`` logs request payloads and the Authorization
header at DEBUG on the ``python_http_client.client`` logger: keep it at INFO or above.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from ._http import classify_status, classify_urllib_failure, header, short
from .base import (
    DEFAULT_CONCURRENCY,
    Channel,
    Delivered,
    Message,
    Permanent,
    SendResult,
    Unknown,
    wrong_channel,
)
from .redact import get_logger, redact_address

MESSAGE_ID_ARG = "cadenza_message_id"


class SendGridConfig(BaseModel):
    """Configuration keys of a ``type: sendgrid`` connector (secrets by env var name only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["sendgrid"] = "sendgrid"
    api_key_env: str = "SENDGRID_API_KEY"
    from_email: str
    from_name: str | None = None
    reply_to: str | None = None
    host: str = "https://api.sendgrid.com"
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Requests out at once (a provider's answer takes ~100-300 ms; one at a time is ~5/s).
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=64)
    sandbox: bool = False
    categories: tuple[str, ...] = ()


def _error_detail(exc: HTTPError) -> str:
    """SendGrid's ``{"errors": [{"message", "field", "help"}]}`` as one line."""
    try:
        errors = json.loads(exc.body or b"{}").get("errors") or []
        parts = [
            f"{item.get('message')}" + (f" (field {item['field']})" if item.get("field") else "")
            for item in errors
            if isinstance(item, dict)
        ]
    except (ValueError, AttributeError):
        parts = []
    return "; ".join(parts) or str(getattr(exc, "reason", "")) or "no error detail"


@dataclass(eq=False)
class SendGridConnector:
    """Sends ``email`` messages through ``POST /v3/mail/send``."""

    name: str
    config: SendGridConfig
    api_key: SecretStr = field(repr=False)
    channel: Channel = field(default="email", init=False)

    @property
    def max_in_flight(self) -> int:
        """Requests the dispatcher may have out at once through this connector."""
        return self.config.concurrency

    def __post_init__(self) -> None:
        self._client = SendGridAPIClient(
            api_key=self.api_key.get_secret_value(), host=self.config.host.rstrip("/")
        )
        self._client.client.timeout = self.config.timeout_s

    def send(self, message: Message) -> SendResult:
        """Post one mail; map the response or failure to a :data:`SendResult`."""
        if (mismatch := wrong_channel(self, message)) is not None:
            return mismatch
        log = get_logger(self.name, self.channel, message_id=message.message_id)
        if (missing := self._missing_content(message)) is not None:
            log.warning("connector.rejected", outcome="permanent", reason=missing.reason)
            return missing
        result = self._post(self.build_body(message), message.message_id)
        log.info(
            "connector.sent" if isinstance(result, Delivered) else "connector.failed",
            outcome=type(result).__name__.lower(),
            to=redact_address(message.to),
            **_result_fields(result),
        )
        return result

    def _post(self, body: dict[str, Any], message_id: str) -> SendResult:
        try:
            response = self._client.client.mail.send.post(
                request_body=body, timeout=self.config.timeout_s
            )
        except HTTPError as exc:
            return classify_status(
                exc.status_code, _error_detail(exc), header(exc.headers, "Retry-After")
            )
        except Exception as exc:  # send() returns a result for every failure, never raises
            mapped = classify_urllib_failure(exc, "SendGrid")
            return mapped or Unknown(short(f"unexpected {type(exc).__name__} from SendGrid: {exc}"))
        provider_id = header(response.headers, "X-Message-Id")
        return Delivered(provider_id or f"sandbox:{message_id}")

    @staticmethod
    def _missing_content(message: Message) -> Permanent | None:
        if not message.subject:
            return Permanent(f"e-mail {message.message_id!r} has no subject; render one.")
        if not (message.text or message.html):
            return Permanent(f"e-mail {message.message_id!r} has neither text nor html body.")
        return None

    def build_body(self, message: Message) -> dict[str, Any]:
        """The v3 Mail Send JSON for ``message`` (public so tests can read it)."""
        custom_args = {MESSAGE_ID_ARG: message.message_id, **message.metadata}
        body: dict[str, Any] = {
            "personalizations": [{"to": [{"email": message.to}], "custom_args": custom_args}],
            "from": _address(message.sender or self.config.from_email, self.config.from_name),
            "subject": message.subject,
            # SendGrid requires text/plain before text/html.
            "content": [
                {"type": kind, "value": value}
                for kind, value in (("text/plain", message.text), ("text/html", message.html))
                if value
            ],
        }
        reply_to = message.reply_to or self.config.reply_to
        if reply_to:
            body["reply_to"] = {"email": reply_to}
        categories = [*self.config.categories, *_id_categories(message)]
        if categories:
            body["categories"] = categories[:10]
        if self.config.sandbox:
            body["mail_settings"] = {"sandbox_mode": {"enable": True}}
        return body


def _address(email: str, name: str | None) -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}


def _id_categories(message: Message) -> list[str]:
    # Categories drive SendGrid's stats pages: the playbook id is the useful grouping.
    playbook = message.metadata.get("playbook")
    return [f"playbook:{playbook}"] if playbook else []


def _result_fields(result: SendResult) -> dict[str, object]:
    if isinstance(result, Delivered):
        return {"provider_id": result.provider_id}
    return {"reason": result.reason, "code": result.code}
