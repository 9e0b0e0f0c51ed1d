"""A local SMTP relay on aiosmtpd that records envelopes and obeys scripted faults.

Faults are consumed at their ``stage``: ``rcpt`` (a reply code to RCPT TO) or ``data``
(a reply code, a slow reply or a hang-up after the message was transmitted).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from .faults import FaultPlan
from .http import free_port

_TEXT = {421: "421 4.7.0 Try again later", 451: "451 4.3.0 Temporary failure, try later",
         452: "452 4.5.3 Too many recipients", 550: "550 5.1.1 User unknown",
         552: "552 5.3.4 Message too big", 554: "554 5.7.1 Rejected"}


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes

    @property
    def message(self) -> Message:
        return message_from_bytes(self.content)


class _Handler:
    def __init__(self, fake: FakeSmtp) -> None:
        self.fake = fake

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        fault = self.fake.faults.next("rcpt")
        if fault is not None and fault.kind == "status":
            return _TEXT.get(fault.status, f"{fault.status} error")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any) -> str:
        self.fake.record(Envelope(envelope.mail_from, tuple(envelope.rcpt_tos),
                                  bytes(envelope.content)))
        fault = self.fake.faults.next("data")
        if fault is None:
            return "250 2.0.0 Ok: queued"
        if fault.kind == "drop":
            server.transport.close()
            return "250 2.0.0 Ok: queued"
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
            return "250 2.0.0 Ok: queued"
        return _TEXT.get(fault.status, f"{fault.status} error")


class FakeSmtp:
    """Start with ``start()``; ``host``/``port`` to connect; ``envelopes`` as received."""

    def __init__(self) -> None:
        self.faults = FaultPlan()
        self.host = "127.0.0.1"
        self.port = free_port()
        self._envelopes: list[Envelope] = []
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)

    def record(self, envelope: Envelope) -> None:
        with self._lock:
            self._envelopes.append(envelope)

    @property
    def envelopes(self) -> list[Envelope]:
        with self._lock:
            return list(self._envelopes)

    def start(self) -> FakeSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> FakeSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
