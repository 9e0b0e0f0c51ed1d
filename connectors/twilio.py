"""SMS through Twilio's Messages API, with the official ``twilio`` client.

Twilio takes no idempotency key and an SMS cannot be recalled, so SMS is at-most-once by
default: a timeout after the request was written is :class:`Unknown`, and only failures
that provably happened before sending (connection refused, connect timeout) or that
Twilio answered (429, 5xx) are :class:`Transient`. Error 21610 (the recipient replied STOP)
is :class:`Permanent` with ``opted_out=True``: suppress, never retry.

The client has no base-URL option, so an ``HttpClient`` subclass rewrites scheme and host
when ``base_url`` is configured; the same subclass remembers ``Retry-After`` per thread,
because Twilio's exceptions drop the response headers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ._http import parse_retry_after, short
from .base import (
    DEFAULT_CONCURRENCY,
    Channel,
    Delivered,
    Message,
    Permanent,
    SendResult,
    Transient,
    Unknown,
    wrong_channel,
)
from .redact import get_logger, redact_address

OPTED_OUT = 21610
TOO_MANY_REQUESTS = 20429
MESSAGE_ID_PARAM = "cadenza_message_id"
_RETRYABLE = frozenset({408, 429})


class TwilioConfig(BaseModel):
    """Configuration keys of a ``type: twilio`` connector (secrets by env var name only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["twilio"] = "twilio"
    account_sid: str
    auth_token_env: str = "TWILIO_AUTH_TOKEN"
    messaging_service_sid: str | None = None
    from_number: str | None = None
    status_callback: str | None = None
    base_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Requests out at once (a provider's answer takes ~100-300 ms; one at a time is ~5/s).
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=64)

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioConfig:
        if bool(self.messaging_service_sid) == bool(self.from_number):
            raise ValueError(
                "set exactly one of 'messaging_service_sid' or 'from_number' "
                f"(got messaging_service_sid={self.messaging_service_sid!r}, "
                f"from_number={self.from_number!r})"
            )
        return self


class _RoutedHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no stubs
    """Sends every request to ``base_url`` (when set) and keeps the last Retry-After."""

    def __init__(self, timeout: float, base_url: str | None, pool: int) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(base_url) if base_url else None
        self._local = threading.local()
        # The client's own pool keeps min(32, cores + 4) connections: with more requests out
        # at once (`concurrency`), the rest would be opened, handshaken and thrown away.
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, HTTPAdapter(pool_maxsize=pool))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self._local.retry_after = None
        if self._base is not None:
            parts = urlsplit(url)
            url = urlunsplit(parts._replace(scheme=self._base.scheme, netloc=self._base.netloc))
        response = super().request(method, url, *args, **kwargs)
        self._local.retry_after = response.headers.get("Retry-After")
        return response

    @property
    def last_retry_after(self) -> str | None:
        """The Retry-After of this thread's last response."""
        value: str | None = getattr(self._local, "retry_after", None)
        return value


@dataclass(eq=False)
class TwilioConnector:
    """Sends ``sms`` messages through ``POST /2010-04-01/Accounts/{sid}/Messages.json``."""

    name: str
    config: TwilioConfig
    auth_token: SecretStr = field(repr=False)
    channel: Channel = field(default="sms", init=False)

    @property
    def max_in_flight(self) -> int:
        """Requests the dispatcher may have out at once through this connector."""
        return self.config.concurrency

    def __post_init__(self) -> None:
        self._http = _RoutedHttpClient(self.config.timeout_s, self.config.base_url,
                                       pool=self.config.concurrency)
        self._client = Client(
            username=self.config.account_sid,
            password=self.auth_token.get_secret_value(),
            account_sid=self.config.account_sid,
            http_client=self._http,
        )

    def send(self, message: Message) -> SendResult:
        """Create one message; map the response or failure to a :data:`SendResult`."""
        if (mismatch := wrong_channel(self, message)) is not None:
            return mismatch
        log = get_logger(self.name, self.channel, message_id=message.message_id)
        if not message.text:
            log.warning("connector.rejected", outcome="permanent", reason="empty body")
            return Permanent(f"SMS {message.message_id!r} has an empty body; render the text.")
        result = self._create(message)
        log.info(
            "connector.sent" if isinstance(result, Delivered) else "connector.failed",
            outcome=type(result).__name__.lower(),
            to=redact_address(message.to),
            **({"provider_id": result.provider_id} if isinstance(result, Delivered)
               else {"reason": result.reason, "code": result.code}),
        )
        return result

    def _create(self, message: Message) -> SendResult:
        try:
            created = self._client.messages.create(**self.create_params(message))
        except TwilioException as exc:
            return self._from_twilio_error(exc)
        except requests.RequestException as exc:
            return _from_transport_error(exc)
        except Exception as exc:  # send() returns a result for every failure, never raises
            return Unknown(short(f"unexpected {type(exc).__name__} from Twilio: {exc}"))
        return Delivered(str(created.sid))

    def create_params(self, message: Message) -> dict[str, str]:
        """Keyword arguments for ``messages.create`` (public so tests can read them)."""
        params = {"to": message.to, "body": message.text or ""}
        if self.config.messaging_service_sid:
            params["messaging_service_sid"] = self.config.messaging_service_sid
        else:
            params["from_"] = message.sender or self.config.from_number or ""
        if self.config.status_callback:
            # Our id rides in the callback URL; Twilio signs the full URL, query included.
            joiner = "&" if "?" in self.config.status_callback else "?"
            query = urlencode({MESSAGE_ID_PARAM: message.message_id})
            params["status_callback"] = f"{self.config.status_callback}{joiner}{query}"
        return params

    def _from_twilio_error(self, exc: TwilioException) -> SendResult:
        if not isinstance(exc, TwilioRestException | TwilioServiceException):
            return Unknown(short(f"Twilio client error {type(exc).__name__}: {exc}"))
        status, code = int(exc.status), str(exc.code or exc.status)
        text = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
        reason = short(f"Twilio error {code} (HTTP {status}): {text}")
        if code == str(OPTED_OUT):
            return Permanent(reason, opted_out=True, code=code)
        if code == str(TOO_MANY_REQUESTS) or status in _RETRYABLE or status >= 500:
            return Transient(reason, parse_retry_after(self._http.last_retry_after), code)
        return Permanent(reason, code=code)

def _from_transport_error(exc: requests.RequestException) -> SendResult:
    # ConnectTimeout and refused connections fail before a byte of the request is written.
    if isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and _before_send(exc)
    ):
        return Transient(short(f"could not reach Twilio before sending ({exc}); safe to retry"))
    return Unknown(
        short(f"Twilio did not answer after the request was sent ({type(exc).__name__}); "
              "the SMS may have been accepted")
    )


_PRE_SEND = frozenset({"NewConnectionError", "ConnectTimeoutError", "NameResolutionError"})


def _before_send(exc: requests.ConnectionError) -> bool:
    # requests wraps urllib3's MaxRetryError, whose .reason tells connect from read failures.
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    return type(reason).__name__ in _PRE_SEND
