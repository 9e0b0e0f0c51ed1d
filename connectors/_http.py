"""Shared HTTP outcome rules: status codes, Retry-After and transport failures.

The rule that matters most: a failure *before* the request was fully written (refused,
DNS, connect timeout) is :class:`Transient`; a failure *after* (read timeout, connection
dropped while waiting) is :class:`Unknown`, because the provider may have acted on it.
urllib wraps pre-send failures in ``URLError`` and lets post-send ones through raw, which
is what :func:`classify_urllib_failure` relies on.
"""

from __future__ import annotations

import email.utils
import http.client
import time
import urllib.error
from collections.abc import Callable, Mapping

from .base import Permanent, SendResult, Transient, Unknown
from .redact import redact_text

_TOO_MANY = 429
_MAX_REASON = 300


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), else None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now())


def header(headers: Mapping[str, str] | object, name: str) -> str | None:
    """Case-insensitive header lookup over dicts, ``email.message.Message`` and the like."""
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None and isinstance(headers, Mapping):
        lowered = {str(key).lower(): val for key, val in headers.items()}
        value = lowered.get(name.lower())
    return None if value is None else str(value)


def short(reason: str) -> str:
    """Redact addresses in a provider's text and keep it to one short line."""
    cleaned = " ".join(redact_text(reason).split())
    return cleaned if len(cleaned) <= _MAX_REASON else cleaned[: _MAX_REASON - 1] + "…"


def classify_status(
    status: int, reason: str, retry_after: str | None = None, code: str | None = None
) -> SendResult:
    """Map a non-2xx status: 408/429/5xx transient, other 4xx permanent."""
    detail = short(f"HTTP {status}: {reason}")
    if status == _TOO_MANY or status >= 500 or status == 408:
        return Transient(detail, parse_retry_after(retry_after), code or str(status))
    return Permanent(detail, code=code or str(status))


def classify_urllib_failure(exc: BaseException, target: str) -> SendResult | None:
    """Transient for pre-send failures, Unknown for post-send ones, None if not transport."""
    if isinstance(exc, urllib.error.HTTPError):
        return None
    if isinstance(exc, urllib.error.URLError):
        return Transient(
            short(f"could not reach {target} before sending: {exc.reason}; "
                  "nothing was sent, safe to retry")
        )
    if isinstance(exc, TimeoutError | ConnectionError | http.client.HTTPException):
        return Unknown(
            short(f"{target} did not answer after the request was sent "
                  f"({type(exc).__name__}); it may have been accepted")
        )
    return None
