"""A local SendGrid v3 ``POST /v3/mail/send``: auth, validation, 413, 202 + X-Message-Id."""

from __future__ import annotations

import json
import secrets
from typing import Any

from .faults import Fault
from .http import FakeHttpServer, Received, Reply

_MESSAGES = {
    401: "The provided authorization grant is invalid, expired, or revoked",
    413: "The JSON payload you have included in your request is too large.",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}


def _errors(*items: tuple[str, str | None]) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field_, "help": None}
                       for message, field_ in items]}


class FakeSendGrid(FakeHttpServer):
    """Accepts mail for ``api_key``; ``max_bytes`` bounds the payload (SendGrid: 30 MB)."""

    def __init__(self, api_key: str = "SG.test-key", max_bytes: int = 30 * 1024 * 1024) -> None:
        super().__init__()
        self.api_key = api_key
        self.max_bytes = max_bytes

    def fault_reply(self, fault: Fault) -> Reply:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        message = _MESSAGES.get(fault.status, "error")
        return Reply.json(fault.status, _errors((message, None)), **headers)

    def app(self, received: Received) -> Reply:
        if received.method != "POST" or received.path != "/v3/mail/send":
            return Reply.json(404, _errors(("not found", None)))
        if received.headers.get("Authorization") != f"Bearer {self.api_key}":
            return Reply.json(401, _errors((_MESSAGES[401], None)))
        if len(received.body) > self.max_bytes:
            return Reply.json(413, _errors((_MESSAGES[413], None)))
        try:
            mail = json.loads(received.body)
        except ValueError:
            return Reply.json(400, _errors(("Bad Request", None)))
        problems = validate(mail)
        if problems:
            return Reply.json(400, _errors(*problems))
        if mail.get("mail_settings", {}).get("sandbox_mode", {}).get("enable"):
            return Reply(200)
        return Reply(202, b"", {"X-Message-Id": secrets.token_urlsafe(16)[:22]})

    @property
    def mails(self) -> list[dict[str, Any]]:
        """Parsed bodies of the mails that were accepted or rejected, in order."""
        return [item.json() for item in self.received if item.body]


def validate(mail: Any) -> list[tuple[str, str | None]]:
    """SendGrid's required-field checks, as (message, field) pairs."""
    if not isinstance(mail, dict):
        return [("Bad Request", None)]
    problems: list[tuple[str, str | None]] = []
    personalizations = mail.get("personalizations")
    if not personalizations or not all(p.get("to") for p in personalizations):
        problems.append(("The personalizations field is required and must have at least one "
                         "personalization.", "personalizations"))
    if not (mail.get("from") or {}).get("email"):
        problems.append(("The from object must be provided for every email send. It is an "
                         "object that requires the email parameter, but may also contain a "
                         "name parameter.", "from"))
    has_subject = mail.get("subject") or all(
        p.get("subject") for p in personalizations or [{}])
    if not has_subject and not mail.get("template_id"):
        problems.append(("The subject is required. You can get around this requirement if "
                         "you use a template with a subject defined or if every "
                         "personalization has a subject defined.", "subject"))
    content = mail.get("content")
    if not mail.get("template_id") and (
            not content or not all(item.get("value") for item in content)):
        problems.append(("Unless a valid template_id is provided, the content parameter is "
                         "required. There must be at least one defined content block.",
                         "content"))
    return problems
