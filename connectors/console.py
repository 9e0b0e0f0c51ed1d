"""A connector that prints one redacted line per message: for local runs and demos.

It prints who (redacted), which channel and which ids -- never the subject or body, so a
terminal recording or a CI log of a dry run holds no customer content.
"""

from __future__ import annotations

import itertools
import sys
import threading
from dataclasses import dataclass, field
from typing import TextIO

from .base import Channel, Delivered, Message, SendResult, wrong_channel
from .redact import get_logger, redact_address, redact_text


@dataclass(frozen=True, slots=True, eq=False)
class ConsoleConnector:
    """Prints ``[console:<name>] <channel> <id> -> <redacted to> <metadata>`` and accepts all."""

    name: str
    channel: Channel
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _counter: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def send(self, message: Message) -> SendResult:
        """Print the redacted one-liner and return :class:`Delivered` with a local id."""
        if (mismatch := wrong_channel(self, message)) is not None:
            return mismatch
        ids = " ".join(f"{key}={value}" for key, value in sorted(message.metadata.items()))
        line = (
            f"[console:{self.name}] {message.channel} {message.message_id} -> "
            f"{self._recipient(message)} {ids}".rstrip()
        )
        with self._lock:
            provider_id = f"console-{next(self._counter)}"
            print(line, file=self.stream, flush=True)
        get_logger(self.name, self.channel, message_id=message.message_id).info(
            "connector.sent", provider_id=provider_id
        )
        return Delivered(provider_id)

    def _recipient(self, message: Message) -> str:
        """A task's queue and title are the team's, not a customer's: shown whole, so a local
        run shows who must do what; every address is redacted."""
        if self.name == "task" and message.text is not None:
            return f'queue "{message.to}": {redact_text(message.text)}'
        return redact_address(message.to)
