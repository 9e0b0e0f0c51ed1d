"""End to end: the engine sends through the real SendGrid and Twilio clients to local servers,
and what the providers report back (signed webhooks, STOP replies) flows into the store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from cadenza.connectors import build_registry
from cadenza.connectors.base import WebhookError
from cadenza.connectors.ratelimit import TokenBucket
from cadenza.connectors.sendgrid_events import SendGridEventReceiver
from cadenza.connectors.twilio_inbound import TwilioReceiver
from cadenza.engine import schema as t
from cadenza.engine.feedback import apply_delivery, apply_inbound
from cadenza.engine.state import Event
from tests.engine.harness import Harness, ts
from tests.providers.faults import Fault
from tests.providers.sendgrid import FakeSendGrid
from tests.providers.signing import SendGridSigner, twilio_signature
from tests.providers.twilio import FakeTwilio

SID = "AC" + "0" * 32
INBOUND_URL = "https://hooks.shop.example/webhooks/twilio/inbound"
PLAY = """\
playbook welcome {
  when event clicked
  consent sms: sms_opt_in
  send email "hello"
  send sms text "Hi {{ first_name }}"
}
playbook later {
  when event order_completed
  consent sms: sms_opt_in
  send sms text "Thanks for your order"
}
"""


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeSendGrid, FakeTwilio]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("E2E_SENDGRID_KEY", "SG.test-key")
    monkeypatch.setenv("E2E_TWILIO_TOKEN", "tw-token")
    with FakeSendGrid() as sendgrid, FakeTwilio() as twilio:
        yield sendgrid, twilio


def _harness(tmp: Path, url: str, sendgrid: FakeSendGrid, twilio: FakeTwilio) -> Harness:
    registry = build_registry({
        "email": {"type": "sendgrid", "api_key_env": "E2E_SENDGRID_KEY", "host": sendgrid.url,
                  "from_email": "shop@shop.example", "timeout_s": 2},
        "sms": {"type": "twilio", "account_sid": SID, "auth_token_env": "E2E_TWILIO_TOKEN",
                "from_number": "+15550001111", "base_url": twilio.url, "timeout_s": 2}})
    h = Harness(tmp, url, PLAY, connectors={n: registry.get(n) for n in registry})
    h.customers({"id": "ana", "first_name": "Ana", "email": "ana@example.com",
                 "phone": "+15555550123", "sms_opt_in": True})
    return h


def _status(h: Harness) -> dict[str, tuple[str, str | None]]:
    return {r.channel: (r.status, r.provider_id) for r in h.rows(t.messages)}


def _sendgrid_payload(provider_id: str, key: str, *kinds: str) -> bytes:
    return json.dumps([{"email": "ana@example.com", "timestamp": int(time.time()),
                        "event": kind, "sg_event_id": f"ev-{kind}",
                        "sg_message_id": f"{provider_id}.filter0001",
                        "cadenza_message_id": key} for kind in kinds]).encode()


def test_send_then_signed_webhook_marks_delivered_and_opened(
        tmp_path: Path, store_url: str, servers: tuple[FakeSendGrid, FakeTwilio]) -> None:
    """Email and SMS leave through the SDKs; signed events move the email to opened, once."""
    sendgrid, twilio = servers
    h = _harness(tmp_path, store_url, sendgrid, twilio)
    h.run("2026-03-02T10:00Z", ("ana", "clicked", "2026-03-02T10:00Z", {}))
    assert len(sendgrid.mails) == 1
    assert [f["Body"] for f in twilio.forms] == ["Hi Ana"]
    status = _status(h)
    assert status["email"][0] == "sent"
    assert status["sms"][0] == "sent"
    signer = SendGridSigner()
    receiver = SendGridEventReceiver(signer.public_key)
    key = next(r.idempotency_key for r in h.rows(t.messages) if r.channel == "email")
    body = _sendgrid_payload(str(status["email"][1]), key, "delivered", "open")
    events = receiver.receive(body, signer.headers(body))
    applied = apply_delivery(h.runtime, events, ts("2026-03-02T10:05Z"))
    assert (applied.applied, applied.duplicates) == (2, 0)
    assert _status(h)["email"][0] == "opened"
    again = apply_delivery(h.runtime, receiver.receive(body, signer.headers(body)), 0)
    assert (again.applied, again.duplicates) == (0, 2)


def test_unsigned_or_stale_webhooks_change_nothing(
        tmp_path: Path, store_url: str, servers: tuple[FakeSendGrid, FakeTwilio]) -> None:
    """A webhook without a valid, fresh signature is refused before it touches the store."""
    sendgrid, twilio = servers
    h = _harness(tmp_path, store_url, sendgrid, twilio)
    h.run("2026-03-02T10:00Z", ("ana", "clicked", "2026-03-02T10:00Z", {}))
    signer = SendGridSigner()
    receiver = SendGridEventReceiver(signer.public_key)
    key = next(r.idempotency_key for r in h.rows(t.messages) if r.channel == "email")
    body = _sendgrid_payload(str(_status(h)["email"][1]), key, "unsubscribe")
    with pytest.raises(WebhookError):
        receiver.receive(body, {})
    stale = signer.headers(body, timestamp=str(int(time.time()) - 3600))
    with pytest.raises(WebhookError):
        receiver.receive(body, stale)
    forged = {**signer.headers(body), **SendGridSigner().headers(body)}
    with pytest.raises(WebhookError):
        receiver.receive(body, forged)
    assert _status(h)["email"][0] == "sent"
    [customer] = h.rows(t.customers)
    assert customer.email_revoked is False


def test_stop_reply_stops_another_playbooks_sms(
        tmp_path: Path, store_url: str, servers: tuple[FakeSendGrid, FakeTwilio]) -> None:
    """After STOP, a second playbook's SMS is suppressed for consent; nothing reaches Twilio."""
    sendgrid, twilio = servers
    h = _harness(tmp_path, store_url, sendgrid, twilio)
    h.run("2026-03-02T10:00Z", ("ana", "clicked", "2026-03-02T10:00Z", {}))
    params = {"From": "+15555550123", "To": "+15550001111", "Body": "stop",
              "MessageSid": "SM" + "1" * 32, "AccountSid": SID}
    headers = {"X-Twilio-Signature": twilio_signature("tw-token", INBOUND_URL, params)}
    inbound = TwilioReceiver(auth_token=SecretStr("tw-token"), status_url="unused",
                             inbound_url=INBOUND_URL).inbound(urlencode(params).encode(),
                                                              headers, INBOUND_URL)
    assert apply_inbound(h.runtime, inbound, ts("2026-03-02T11:00Z")) == ["ana"]
    before = len(twilio.forms)
    h.run("2026-03-02T12:00Z", ("ana", "order_completed", "2026-03-02T12:00Z",
                                {"order_value": 5}))
    assert len(twilio.forms) == before
    assert h.suppressions()[-1] == ("ana", "start", "consent", "skipped")


def test_429_storm_is_retried_within_the_rate_limit(
        tmp_path: Path, store_url: str, servers: tuple[FakeSendGrid, FakeTwilio]) -> None:
    """Twenty emails through a 429 burst: all sent once, never faster than the limit."""
    sendgrid, twilio = servers
    h = _harness(tmp_path, store_url, sendgrid, twilio)
    h.customers(*({"id": f"c{i}", "email": f"c{i}@example.com", "sms_opt_in": False}
                  for i in range(20)))
    sendgrid.faults.add(Fault("status", 429, retry_after="1"), times=8)
    clock = [0.0]
    bucket = TokenBucket(rate=5, capacity=5, clock=lambda: clock[0])
    h.dispatcher.limits = {"email": bucket}
    h.runtime.process([Event(customer_id=f"c{i}", name="clicked", ts=ts("2026-03-02T10:00Z"),
                             properties={}) for i in range(20)], ts("2026-03-02T10:00Z"))
    sent_per_round = []
    for second in range(0, 600):
        clock[0] = float(second)
        sent_per_round.append(h.dispatcher.dispatch(ts("2026-03-02T10:00Z") + second))
    assert max(sent_per_round) <= 5
    rows = [r for r in h.rows(t.messages) if r.channel == "email"]
    assert sorted(r.status for r in rows) == ["sent"] * 20
    requests = sendgrid.mails  # the 8 refused with 429 and the accepted ones
    keys = [m["personalizations"][0]["custom_args"]["cadenza_message_id"] for m in requests]
    assert len(keys) == 28  # each refused send retried once, nothing else sent twice
    assert len(set(keys)) == 20
