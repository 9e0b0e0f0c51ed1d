"""Redaction of addresses for logs, and the one place connectors get their logger.

Logs name the connector, channel and message id; they may show a recipient only as
``j***@example.com`` or ``+1******1234``, and never a subject, a body or a secret.
Provider error texts sometimes quote the recipient ("The 'To' number +15551234567 is not
valid"), so they go through :func:`redact_text` before they reach a log or a result.
"""

from __future__ import annotations

import re
from collections.abc import Collection, MutableMapping
from typing import Any

import structlog

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_KEEP_TAIL = 4
_SHORTEST_PHONE = 8  # what _PHONE can match: a digit, six more characters, a digit
LOGGER_NAME = "cadenza.connectors"


def redact_email(address: str) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com``; the domain stays for debugging."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def redact_phone(number: str) -> str:
    """``+15551231234`` -> ``+1******1234``: country digit and last four, length kept."""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= _KEEP_TAIL + 1:
        return "*" * len(digits)
    plus = "+" if number.strip().startswith("+") else ""
    hidden = len(digits) - _KEEP_TAIL - 1
    return f"{plus}{digits[0]}{'*' * hidden}{digits[-_KEEP_TAIL:]}"


def redact_address(address: str) -> str:
    """Redact an e-mail address, a phone number or (for webhooks) a URL down to its host."""
    if "@" in address:
        return redact_email(address)
    if address.startswith(("http://", "https://")):
        return re.sub(r"^(https?://[^/?#]+).*$", r"\1/***", address)
    return redact_phone(address)


def redact_text(text: str) -> str:
    """Redact every e-mail address and phone-number-like run inside free text."""
    if "@" in text:
        text = _EMAIL.sub(lambda match: redact_email(match.group(0)), text)
    if len(text) < _SHORTEST_PHONE:  # most logged values: names, statuses, step ids
        return text
    return _PHONE.sub(lambda match: redact_phone(match.group(0)), text)


class RedactProcessor:
    """A structlog processor that redacts addresses in every string value of an event.

    Connectors only log redacted values already; the service installs this as a second line
    of defence for whatever else logs a recipient by mistake. Keys in ``skip`` are left as
    they are: values the caller knows never hold an address.
    """

    def __init__(self, skip: Collection[str] = ()) -> None:
        self.skip = frozenset(skip)

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            if isinstance(value, str) and key not in self.skip:
                event_dict[key] = redact_text(value)
        return event_dict


def get_logger(connector: str, channel: str, **ids: str) -> Any:
    """A structlog logger bound to connector name, channel and ids.

    Built per call, not cached at import or construction, so configuration changes
    (and ``structlog.testing.capture_logs``) apply to it.
    """
    return structlog.get_logger(LOGGER_NAME).bind(connector=connector, channel=channel, **ids)
