"""Twilio webhooks: status callbacks and inbound SMS, verified with ``X-Twilio-Signature``.

Framework-free: the service passes the raw form body, the headers and the URL it received.
Twilio signs the *public* URL it called, which behind a proxy differs from the one the
service sees (https vs http, host, port), so the signature is checked against the
configured public URL plus the received query string.

Twilio signatures carry no timestamp, so old requests cannot be told from new ones; dedupe
on ``event_id`` (and pass a :class:`~.events.SeenKeys` to refuse replays outright).

Opt-out words are Twilio's defaults, matched against the whole trimmed body, ignoring case.
Twilio's own Advanced Opt-Out also answers these words on long codes; the ``OptOutType``
parameter it adds wins over our matching.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, parse_qsl, urlsplit
from xml.sax.saxutils import escape

from pydantic import SecretStr
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from ._http import short
from .base import MalformedWebhookError, ReplayedWebhookError, SignatureError
from .events import DeliveryEvent, EventKind, InboundKind, InboundSms, SeenKeys, lower_headers
from .redact import get_logger

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                           "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
MESSAGE_ID_PARAM = "cadenza_message_id"
OPTED_OUT = "21610"
_STATUS_KINDS: Mapping[str, EventKind] = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "read": "open",
    "undelivered": "undelivered", "failed": "failed", "canceled": "dropped",
}
_OPT_OUT_TYPES: Mapping[str, InboundKind] = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}


class _Params(dict[str, list[str]]):
    """Form fields with repeats kept; ``getall`` is what RequestValidator looks for."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def one(self, name: str) -> str | None:
        values = self.get(name)
        return values[-1] if values else None


def classify(body: str) -> InboundKind:
    """Opt-out, opt-in or help when the whole trimmed body is one of Twilio's words."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS:
        return "opt_in"
    if word in HELP_WORDS:
        return "help"
    return "sms_reply"


def twiml_reply(text: str | None) -> str:
    """TwiML answering an inbound SMS with ``text``, or with nothing."""
    inner = f"<Message>{escape(text)}</Message>" if text else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'


@dataclass(frozen=True, slots=True)
class TwilioReceiver:
    """Verifies and parses Twilio's status callbacks and inbound messages."""

    auth_token: SecretStr = field(repr=False)
    status_url: str
    inbound_url: str
    help_text: str = "Reply STOP to unsubscribe."
    seen: SeenKeys | None = None

    def status(self, body: bytes, headers: Mapping[str, str], url: str) -> DeliveryEvent:
        """A status callback as a :class:`DeliveryEvent`; raises a WebhookError if untrusted."""
        params = self._verified(body, headers, url, self.status_url)
        sid, status = _required(params, "MessageSid"), _required(params, "MessageStatus")
        if status not in _STATUS_KINDS:
            raise MalformedWebhookError(
                f"unknown Twilio MessageStatus {status!r} for {sid}; expected one of "
                f"{', '.join(sorted(_STATUS_KINDS))}."
            )
        error_code = params.one("ErrorCode") or None
        event = DeliveryEvent(
            provider="twilio", event_id=f"{sid}:{status}", kind=_STATUS_KINDS[status],
            channel="sms", occurred_at=None, provider_message_id=sid,
            message_id=_query_param(url, MESSAGE_ID_PARAM), recipient=params.one("To"),
            error_code=error_code,
            reason=short(params.one("ErrorMessage") or "") or None,
            revokes_consent=error_code == OPTED_OUT,
        )
        self._refuse_replay(event.event_id)
        get_logger("twilio_status", "sms").info("webhook.accepted", kind=event.kind)
        return event

    def inbound(self, body: bytes, headers: Mapping[str, str], url: str) -> InboundSms:
        """An inbound SMS, classified; raises a WebhookError if untrusted."""
        params = self._verified(body, headers, url, self.inbound_url)
        sid, text = _required(params, "MessageSid"), params.one("Body") or ""
        opt_out_type = (params.one("OptOutType") or "").upper()
        kind = _OPT_OUT_TYPES.get(opt_out_type) or classify(text)
        self._refuse_replay(sid)
        get_logger("twilio_inbound", "sms").info("webhook.accepted", kind=kind)
        return InboundSms(
            kind=kind, event_id=sid, from_number=_required(params, "From"),
            to_number=params.one("To") or "", body=text,
            reply=self.help_text if kind == "help" else None,
        )

    def _verified(
        self, body: bytes, headers: Mapping[str, str], url: str, public_url: str
    ) -> _Params:
        lowered = lower_headers(headers)
        signature = lowered.get(SIGNATURE_HEADER.lower())
        if not signature:
            raise SignatureError(
                f"the Twilio request to {public_url} has no {SIGNATURE_HEADER} header; "
                "only Twilio may call this endpoint."
            )
        params = _form(body)
        query = urlsplit(url).query
        signed_url = f"{public_url}?{query}" if query else public_url
        algorithm = get_signature_algorithm(lowered.get(SIGNATURE_SETTINGS_HEADER.lower()))
        validator = RequestValidator(self.auth_token.get_secret_value())
        if not validator.validate(signed_url, params, signature, algorithm):
            raise SignatureError(
                f"the {SIGNATURE_HEADER} does not match a request to {public_url}; check the "
                "auth token and that the configured public URL is exactly the one set in "
                "Twilio (scheme, host and path)."
            )
        return params

    def _refuse_replay(self, key: str) -> None:
        if self.seen is not None and not self.seen.first_time(key):
            raise ReplayedWebhookError(
                f"the Twilio request {key} was already accepted; a replay is refused."
            )


def _form(body: bytes) -> _Params:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise MalformedWebhookError("the Twilio request body is not UTF-8 form data.") from None
    params = _Params()
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


def _required(params: _Params, name: str) -> str:
    value = params.one(name)
    if not value:
        raise MalformedWebhookError(f"the Twilio request has no {name!r} parameter.")
    return value


def _query_param(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None
