"""A local Twilio ``POST /2010-04-01/Accounts/{sid}/Messages.json``.

Basic auth, form fields validated as Twilio does (To, Body, From or MessagingServiceSid,
E.164), Twilio's JSON error body, 21610 for opted-out numbers, 201 with an ``SM...`` sid.
``problem_details=True`` answers errors in the RFC 9457 shape newer Twilio APIs use.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from .faults import Fault
from .http import FakeHttpServer, Received, Reply

_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_FAULTS = {429: (20429, "Too Many Requests"), 500: (20500, "Internal Server Error"),
           503: (20503, "Service Unavailable")}


class FakeTwilio(FakeHttpServer):
    """Accepts messages for ``account_sid``/``auth_token``; ``opted_out`` numbers get 21610."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "tw-token",
                 opted_out: frozenset[str] = frozenset(), problem_details: bool = False) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.opted_out = set(opted_out)
        self.problem_details = problem_details

    def error(self, status: int, code: int, message: str, **headers: str) -> Reply:
        more_info = f"https://www.twilio.com/docs/errors/{code}"
        if self.problem_details:
            document: dict[str, Any] = {"type": more_info, "title": message, "status": status,
                                        "code": code, "detail": message}
        else:
            document = {"code": code, "message": message, "more_info": more_info,
                        "status": status}
        return Reply.json(status, document, **headers)

    def fault_reply(self, fault: Fault) -> Reply:
        code, message = _FAULTS.get(fault.status, (20500, "Error"))
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        return self.error(fault.status, code, message, **headers)

    def _authorised(self, received: Received, sid: str) -> bool:
        expected = base64.b64encode(f"{sid}:{self.auth_token}".encode()).decode()
        return sid == self.account_sid and received.headers.get("Authorization") == (
            f"Basic {expected}")

    def app(self, received: Received) -> Reply:
        match = _PATH.match(received.path.split("?")[0])
        if received.method != "POST" or match is None:
            return self.error(404, 20404, "The requested resource was not found")
        if not self._authorised(received, match.group(1)):
            return self.error(401, 20003, "Authenticate")
        form = dict(parse_qsl(received.body.decode()))
        problem = self._validate(form)
        if problem is not None:
            return problem
        return Reply.json(201, self._created(form))

    def _validate(self, form: dict[str, str]) -> Reply | None:
        to = form.get("To", "")
        if not to:
            return self.error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return self.error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self.error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body"):
            return self.error(400, 21602, "Message body is required.")
        if to in self.opted_out:
            return self.error(400, 21610, "Attempt to send to unsubscribed recipient")
        return None

    def _created(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        return {
            "sid": sid, "account_sid": self.account_sid, "to": form["To"],
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"], "status": "accepted" if "MessagingServiceSid" in form
            else "queued", "num_segments": "1", "direction": "outbound-api",
            "date_created": now, "date_updated": now, "date_sent": None, "price": None,
            "error_code": None, "error_message": None, "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    @property
    def forms(self) -> list[dict[str, str]]:
        """The form fields of every request received, in order."""
        return [dict(parse_qsl(item.body.decode())) for item in self.received]
