"""On PostgreSQL, an event ingested by one worker wakes the other workers' tickers at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cadenza.engine.scheduler import Ticker
from cadenza.engine.service import Service
from cadenza.engine.simulate import recorders
from cadenza.engine.state import Event
from tests.engine.harness import Harness


@pytest.mark.postgres
def test_notify_wakes_another_workers_ticker(tmp_path: Path, store_url: str) -> None:
    """Worker A ingests; worker B, ticking only every minute, wakes within seconds."""
    if not store_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite one process wakes itself")
    h = Harness(tmp_path, store_url, 'playbook p {\n  when event clicked\n  end\n}\n')
    a = Service(project=h.project, store=h.store, connectors=recorders())
    b = Service(project=h.project, store=h.store, connectors=recorders())
    ticker = Ticker(b, interval=60.0)
    ticker.start()
    try:
        time.sleep(1.5)  # let the listener connect and the first tick pass
        b.wake.clear()
        a.ingest([Event(customer_id="x", name="clicked", ts=int(time.time()), properties={})])
        deadline = time.time() + 5
        while time.time() < deadline and ticker.ticks < 2:
            time.sleep(0.05)
    finally:
        ticker.stop()
    assert ticker.ticks >= 2
