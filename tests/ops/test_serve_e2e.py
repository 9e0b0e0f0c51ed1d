"""The whole service, end to end, on SQLite and PostgreSQL: the real Segment client sends events,
the engine waits on real time, SendGrid and Twilio (real clients, local servers) get the email
and the SMS, a signed webhook marks the email delivered, and the status page and /metrics show
it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from segment.analytics import Client
from starlette.applications import Starlette

from cadenza.engine import schema as t
from cadenza.engine.api.app import create_app
from cadenza.engine.boot import build_service
from cadenza.engine.settings import ServeSettings
from tests.providers.sendgrid import FakeSendGrid
from tests.providers.signing import SendGridSigner
from tests.providers.twilio import FakeTwilio

SID = "AC" + "0" * 32
PLAY = """\
schema {
  customer {
    first_name: string
    sms_opt_in: bool
  }
  event signed_up { plan: string }
}

playbook welcome "Welcome" {
  when event signed_up
  consent sms: sms_opt_in
  wait 2s
  send email "hello"
  send sms text "Hi {{ first_name }}, welcome aboard"
}
"""


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """uvicorn in a thread on a free loopback port, with the lifespan (so the ticker runs)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _until(lambda: server.started, 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def _until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_serve_end_to_end(tmp_path: Path, store_url: str,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Segment client, serve, a 2 s wait, SendGrid and Twilio, a signed webhook, page, metrics."""
    monkeypatch.setenv("E2E_SG_KEY", "SG.test-key")
    monkeypatch.setenv("E2E_TW_TOKEN", "tw-token")
    root = tmp_path / "project"
    (root / "templates").mkdir(parents=True)
    (root / "main.play").write_text(PLAY, encoding="utf-8")
    (root / "templates" / "hello.liquid").write_text(
        "---\nsubject: Welcome, {{ first_name }}\n---\n<p>Hello</p>\n", encoding="utf-8")
    signer = SendGridSigner()
    with FakeSendGrid() as sendgrid, FakeTwilio() as twilio:
        settings = ServeSettings(
            db=store_url, write_key="wk", admin_key="ak", tick_seconds=0.5,
            sendgrid_webhook_key=signer.public_key, public_url="http://127.0.0.1",
            connectors={
                "email": {"type": "sendgrid", "api_key_env": "E2E_SG_KEY",
                          "host": sendgrid.url, "from_email": "shop@shop.example",
                          "timeout_s": 2},
                "sms": {"type": "twilio", "account_sid": SID, "auth_token_env": "E2E_TW_TOKEN",
                        "from_number": "+15550001111", "base_url": twilio.url,
                        "timeout_s": 2}})
        service = build_service(root, settings)
        with serve(create_app(service, settings)) as url:
            client = Client("wk", host=url, sync_mode=True, timeout=5)
            client.identify("ana", {"first_name": "Ana", "email": "ana@example.com",
                                    "phone": "+15555550123", "sms_opt_in": True})
            client.track("ana", "signed_up", {"plan": "pro"})
            began = time.monotonic()
            _until(lambda: len(sendgrid.mails) == 1 and len(twilio.forms) == 1, 20)
            # The 2 s wait ran on real time (times are whole seconds: the event's is truncated,
            # so the send comes 1 to 2 s after the track call returned).
            assert time.monotonic() - began >= 1.0
            assert twilio.forms[0]["Body"] == "Hi Ana, welcome aboard"
            with service.store.engine.connect() as conn:
                email = next(r for r in conn.execute(t.messages.select())
                             if r.channel == "email")
            body = json.dumps([{"email": "ana@example.com", "timestamp": int(time.time()),
                                "event": "delivered", "sg_event_id": "ev-1",
                                "sg_message_id": f"{email.provider_id}.filter0001",
                                "cadenza_message_id": email.idempotency_key}]).encode()
            hook = httpx.post(f"{url}/webhooks/sendgrid/events", content=body,
                              headers=signer.headers(body))
            assert hook.status_code == 200, hook.text
            metrics = httpx.get(f"{url}/metrics").text
            page = httpx.get(f"{url}/", params={"key": "ak"})
    assert ('cadenza_messages_total{channel="email",playbook="welcome",status="delivered",'
            'step="start.2"} 1.0') in metrics
    assert ('cadenza_messages_total{channel="sms",playbook="welcome",status="sent",'
            'step="start.3"} 1.0') in metrics
    assert page.status_code == 200
    assert "welcome" in page.text
    assert "ana@example.com" not in page.text
