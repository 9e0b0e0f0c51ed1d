"""A worker process for the multi-worker tests: a Service ticking until no work is left."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from cadenza.connectors import Delivered, Message, SendResult
from cadenza.engine.db import open_engine
from cadenza.engine.service import Service
from cadenza.engine.store import Store
from cadenza.playbooks.project import load_project


@dataclass
class FileConnector:
    """Appends each message id to a file: the 'provider' side, surviving a killed worker."""

    name: str
    channel: str
    path: Path

    def send(self, message: Message) -> SendResult:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(message.message_id + "\n")
        return Delivered(provider_id=message.message_id)


def work(project: str, url: str, log: str, start: float, virtual: float,
         lease_s: int = 60) -> None:
    """Tick on a clock `virtual` seconds ahead of real time until nothing is left for long."""
    loaded = load_project(Path(project))
    assert loaded.project is not None
    conn = FileConnector(name="email", channel="email", path=Path(log))
    service = Service(project=loaded.project, store=Store(open_engine(url)),
                      connectors={"email": conn},  # type: ignore[dict-item]
                      clock=lambda: virtual + (time.time() - start))
    service.runtime.batch_size = 200
    service.dispatcher.lease_s = lease_s
    idle = 0
    while idle < 20:
        stats, sent = service.tick()
        idle = 0 if (stats.steps or sent) else idle + 1
        if not (stats.steps or sent):
            time.sleep(0.1)
    service.store.engine.dispose()
    os._exit(0)
