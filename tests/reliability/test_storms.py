"""Provider fault storms: SendGrid and Twilio answer 429 with Retry-After, 5xx, too slowly, or
hang up (before or after acting on the request) in bursts, while the engine's real ticker and
dispatcher send a few hundred messages through the vendors' own clients.

The checker (tests/reliability/storm.py) reads the providers' logs and the outbox and asserts:
the rate limit held in every sliding window, every message ended sent, dead or unknown,
nothing was accepted twice outside the in-doubt window (never for SMS), Retry-After was
honoured, and dead letters came after exactly the configured attempts. A deliberately broken
dispatcher shows the checker catches each of these.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from cadenza.connectors import build_registry
from cadenza.connectors.base import SendResult, Transient, Unknown
from cadenza.connectors.retry import Decision, RetryIn, RetryPolicy
from cadenza.engine.db import open_engine
from cadenza.engine.scheduler import Ticker
from cadenza.engine.service import Service
from cadenza.engine.state import Event
from cadenza.engine.store import Store
from cadenza.playbooks.project import load_project
from tests.engine.harness import OPEN
from tests.reliability.dbfaults import serve, wait_ready
from tests.reliability.storm import (
    SG_KEY,
    TERMINAL,
    TW_TOKEN,
    Report,
    Rules,
    StormSendGrid,
    StormTwilio,
    check,
    connector_configs,
    email_of,
    outbox,
    phone_of,
    storm,
    until,
    write_project,
)

pytestmark = pytest.mark.timeout(300)  # a wedged engine fails the test, not the run

RATE = 20  # per connector per second
TIMEOUT_S = 0.3  # the connectors' client timeout; slow faults answer after 0.6 s
MAX_ATTEMPTS = 4


@pytest.fixture
def providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StormSendGrid, StormTwilio]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("STORM_SG_KEY", SG_KEY)
    monkeypatch.setenv("STORM_TW_TOKEN", TW_TOKEN)
    with StormSendGrid(api_key=SG_KEY) as sendgrid, StormTwilio(auth_token=TW_TOKEN) as twilio:
        yield sendgrid, twilio


@dataclass(frozen=True)
class IgnoresTheRules(RetryPolicy):
    """Broken on purpose: retries at once whatever Retry-After says, retries in-doubt sends,
    and gives up one attempt later than configured."""

    def decide(self, result: SendResult, attempt: int) -> Decision:
        if isinstance(result, Unknown | Transient) and attempt < self.max_attempts + 1:
            return RetryIn(0.0, attempt + 1)
        return super().decide(result, attempt)


def customers(n: int) -> list[dict[str, Any]]:
    return [{"id": f"c{i}", "email": email_of(i), "phone": phone_of(i), "timezone": "UTC",
             "attributes": {"sms_opt_in": True}} for i in range(n)]


def run_in_process(tmp: Path, sendgrid: StormSendGrid, twilio: StormTwilio, n: int,
                   *, broken: bool = False) -> Report:
    """n customers clicked: n emails and n SMS through the storm; the checker's report."""
    loaded = load_project(write_project(tmp / "project", RATE))
    assert loaded.project is not None, loaded.diagnostics
    store = Store(open_engine(f"sqlite:///{tmp / 'store.db'}"))
    OPEN.append(store.engine)
    registry = build_registry(connector_configs(sendgrid.url, twilio.url, TIMEOUT_S))
    service = Service(project=loaded.project, store=store,
                      connectors={name: registry.get(name) for name in registry})
    kind = IgnoresTheRules if broken else RetryPolicy
    service.dispatcher.policy = kind(max_attempts=MAX_ATTEMPTS, base_s=0.5, max_delay_s=2.0,
                                     rng=random.Random(7))
    if broken:
        service.dispatcher.limits = {}
    store.upsert_customers(customers(n), now=service.now())
    service.ingest([Event(customer_id=f"c{i}", name="clicked", ts=service.now(), properties={},
                          message_id=f"click-{i}") for i in range(n)])
    ticker = Ticker(service, 0.5)
    ticker.start()
    try:
        until(lambda: _settled(store, 2 * n), 150, f"{2 * n} messages to settle")
    finally:
        ticker.stop()
    time.sleep(0.8)  # slow answers still sleeping in the fake servers finish their logging
    return check({"email": sendgrid.logged(), "sms": twilio.logged()}, outbox(store.engine),
                 Rules(count=RATE, per_s=1.0, max_attempts=MAX_ATTEMPTS))


def _settled(store: Store, expected: int) -> bool:
    rows = outbox(store.engine)
    return len(rows) == expected and all(r.status in TERMINAL for r in rows)


def test_storm_in_process_keeps_every_guarantee(
        tmp_path: Path, providers: tuple[StormSendGrid, StormTwilio]) -> None:
    """150 emails and 150 SMS through bursts of 429/5xx/slow/drops, 3 recipients always 500."""
    sendgrid, twilio = providers
    doomed = range(3)
    sendgrid.setup_storm(storm(), doomed=[email_of(i) for i in doomed])
    twilio.setup_storm(storm(), doomed=[phone_of(i) for i in doomed])
    report = run_in_process(tmp_path, sendgrid, twilio, 150)
    print("storm figures:", report.figures)  # docs/reliability.md quotes these
    assert report.violations == []
    figures = report.figures
    assert figures["messages"] == 300
    assert figures["statuses"].get("dead", 0) >= 6  # the doomed recipients, at least
    assert figures["accepted_in_doubt"] > 0
    assert set(figures["faults"]) >= {"429", "500", "503", "slow", "drop", "accept_drop"}


def test_checker_catches_a_broken_dispatcher(
        tmp_path: Path, providers: tuple[StormSendGrid, StormTwilio]) -> None:
    """No rate limit, Retry-After ignored, in-doubt sends retried, one attempt too many:
    the same checker reports every one of them."""
    sendgrid, twilio = providers
    sendgrid.setup_storm(storm(), doomed=[email_of(0)])
    twilio.setup_storm(storm(), doomed=[phone_of(0)])
    report = run_in_process(tmp_path, sendgrid, twilio, 60, broken=True)
    found = "\n".join(report.violations)
    assert "requests reached the provider within 1 s" in found
    assert "asked for Retry-After" in found
    assert "sent again after an in-doubt attempt" in found
    assert "was dead-lettered after 5 requests" in found
    assert "SMS" in found
    assert "accepted twice" in found


def _toml(sendgrid: str, twilio: str) -> str:
    lines = []
    for name, config in connector_configs(sendgrid, twilio, TIMEOUT_S).items():
        lines.append(f"[connectors.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    return "\n".join(lines) + "\n"


def test_storm_through_cadenza_serve(
        tmp_path: Path, providers: tuple[StormSendGrid, StormTwilio]) -> None:
    """The same storm (its first 60 requests per provider) through `cadenza serve` with the
    default retry policy: events in over HTTP, the checker over the providers' logs."""
    sendgrid, twilio = providers
    sendgrid.setup_storm(storm(limit=60))
    twilio.setup_storm(storm(limit=60))
    n = 40
    root = write_project(tmp_path / "project", RATE, _toml(sendgrid.url, twilio.url))
    served = serve(root, None, {"STORM_SG_KEY": SG_KEY, "STORM_TW_TOKEN": TW_TOKEN})
    try:
        wait_ready(served)
        calls: list[dict[str, Any]] = []
        for i in range(n):
            calls.append({"type": "identify", "userId": f"c{i}", "traits": {
                "email": email_of(i), "phone": phone_of(i), "sms_opt_in": True}})
            calls.append({"type": "track", "userId": f"c{i}", "event": "clicked",
                          "messageId": f"click-{i}"})
        answer = httpx.post(f"{served.url}/v1/batch", json={"batch": calls}, timeout=30)
        assert answer.status_code == 200, answer.text
        engine = create_engine(f"sqlite:///{root / '.cadenza' / 'state.db'}")
        OPEN.append(engine)
        until(lambda: _settled_rows(outbox(engine), 2 * n), 150,
              f"{2 * n} messages to settle under serve")
    finally:
        assert served.stop() == 0, served.stderr[-3000:]
    time.sleep(0.8)  # slow answers still sleeping in the fake servers finish their logging
    report = check({"email": sendgrid.logged(), "sms": twilio.logged()}, outbox(engine),
                   Rules(count=RATE, per_s=1.0, max_attempts=RetryPolicy().max_attempts))
    print("serve storm figures:", report.figures)  # docs/reliability.md quotes these
    assert report.violations == []
    assert report.figures["messages"] == 2 * n


def _settled_rows(rows: list[Any], expected: int) -> bool:
    return len(rows) == expected and all(r.status in TERMINAL for r in rows)
