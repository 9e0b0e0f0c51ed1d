"""SMTP and webhook specifics: what arrives on the wire."""

from __future__ import annotations

import json

import pytest

from cadenza.connectors import Delivered, build_connector, verify_signature
from tests.connectors.conftest import WEBHOOK_SECRET, email_message
from tests.providers import FakeSmtp, FakeWebhookReceiver


def test_smtp_mail_has_ids_and_both_parts(smtp_server: FakeSmtp) -> None:
    """The relay gets a multipart mail whose Message-ID derives from our message id."""
    count = len(smtp_server.envelopes)
    connector = build_connector("relay", {"type": "smtp", "host": smtp_server.host,
                                          "port": smtp_server.port, "starttls": False,
                                          "from_email": "shop@shop.example"})
    result = connector.send(email_message(reply_to="help@shop.example"))
    assert result == Delivered("<enr-42.reminder.1@shop.example>")
    envelope = smtp_server.envelopes[count]
    assert envelope.rcpt_tos == ("jane.doe@example.com",)
    mail = envelope.message
    assert mail["X-Cadenza-Message-Id"] == "enr-42:reminder:1"
    assert mail["Reply-To"] == "help@shop.example"
    assert [part.get_content_type() for part in mail.walk()][1:] == ["text/plain", "text/html"]


def test_webhook_posts_signed_json(
    webhook_server: FakeWebhookReceiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The POST carries the message as JSON, an idempotency key and a valid signature."""
    monkeypatch.setenv("HOOK", WEBHOOK_SECRET)
    connector = build_connector("crm", {"type": "webhook", "url": f"{webhook_server.url}/t",
                                        "secret_env": "HOOK",
                                        "headers": {"X-Queue": "growth"}})
    assert connector.send(email_message(channel="webhook")) == Delivered("req-1")
    (request,) = webhook_server.received
    assert request.json()["metadata"]["enrollment"] == "enr-42"
    assert request.headers["Idempotency-Key"] == "enr-42:reminder:1"
    assert request.headers["X-Queue"] == "growth"
    assert verify_signature(WEBHOOK_SECRET.encode(), request.body,
                            request.headers["X-Cadenza-Timestamp"],
                            request.headers["X-Cadenza-Signature"])
    assert json.loads(request.body)["subject"] == "Your cart misses you"
