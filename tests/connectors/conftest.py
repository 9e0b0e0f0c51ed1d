"""Fixtures: local provider servers (one per session, reset per test) and connector harnesses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cadenza.connectors import Connector, Message, build_connector
from tests.providers import (
    FakeSendGrid,
    FakeSmtp,
    FakeTwilio,
    FakeWebhookReceiver,
    Fault,
    FaultPlan,
    free_port,
)

SENDGRID_KEY = "SG.secret-key-0123456789"
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "tw-secret-token-abcdef"
WEBHOOK_SECRET = "whsec-secret-9876"
TO_EMAIL = "jane.doe@example.com"
TO_PHONE = "+15551231234"
OPTED_OUT_PHONE = "+15559990000"
SUBJECT = "Your cart misses you"
BODY = "Hello Jane, your cart is waiting"
TIMEOUT_S = 0.4


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both SDKs honour http_proxy; loopback must never go through one."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def _sendgrid_server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(api_key=SENDGRID_KEY, max_bytes=64 * 1024) as server:
        yield server


@pytest.fixture(scope="session")
def _twilio_server() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(TWILIO_SID, TWILIO_TOKEN, opted_out=frozenset({OPTED_OUT_PHONE}))
    with fake as server:
        yield server


@pytest.fixture(scope="session")
def _webhook_server() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver() as server:
        yield server


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def sendgrid_server(_sendgrid_server: FakeSendGrid) -> FakeSendGrid:
    _sendgrid_server.reset()
    return _sendgrid_server


@pytest.fixture
def twilio_server(_twilio_server: FakeTwilio) -> FakeTwilio:
    _twilio_server.reset()
    _twilio_server.problem_details = False
    return _twilio_server


@pytest.fixture
def webhook_server(_webhook_server: FakeWebhookReceiver) -> FakeWebhookReceiver:
    _webhook_server.reset()
    return _webhook_server


@pytest.fixture
def smtp_server(_smtp_server: FakeSmtp) -> FakeSmtp:
    _smtp_server.faults.clear()
    return _smtp_server


def email_message(**changes: Any) -> Message:
    fields: dict[str, Any] = {
        "message_id": "enr-42:reminder:1", "channel": "email", "to": TO_EMAIL,
        "subject": SUBJECT, "text": BODY, "html": f"<p>{BODY}</p>",
        "metadata": {"playbook": "cart_recovery", "step": "reminder", "enrollment": "enr-42"},
    }
    return Message(**{**fields, **changes})


def sms_message(**changes: Any) -> Message:
    fields: dict[str, Any] = {
        "message_id": "enr-42:sms_nudge:1", "channel": "sms", "to": TO_PHONE, "text": BODY,
        "metadata": {"playbook": "cart_recovery", "step": "sms_nudge"},
    }
    return Message(**{**fields, **changes})


@dataclass
class Harness:
    """A connector wired to its fake, with the faults that mean each contract scenario."""

    kind: str
    connector: Connector
    message: Message
    faults: FaultPlan | None
    secrets: tuple[str, ...]
    scenario_faults: dict[str, Fault] = field(default_factory=dict)
    retry_after_s: float | None = 7.0
    rebuild: Callable[..., Connector] | None = None


HTTP_FAULTS = {
    "rate_limited": Fault("status", 429, retry_after="7"),
    "server_error": Fault("status", 500),
    "rejected": Fault("status", 400),
    "timeout": Fault("slow", delay_s=TIMEOUT_S * 4),
    "dropped": Fault("drop"),
}
SMTP_FAULTS = {
    "rate_limited": Fault("status", 452, stage="rcpt"),
    "server_error": Fault("status", 421, stage="data"),
    "rejected": Fault("status", 550, stage="rcpt"),
    "timeout": Fault("slow", delay_s=TIMEOUT_S * 4, stage="data"),
    "dropped": Fault("drop", stage="data"),
}


def sendgrid_config(host: str, **changes: Any) -> dict[str, Any]:
    return {"type": "sendgrid", "api_key_env": "TEST_SENDGRID_KEY", "host": host,
            "from_email": "shop@shop.example", "timeout_s": TIMEOUT_S, **changes}


def twilio_config(base_url: str, **changes: Any) -> dict[str, Any]:
    return {"type": "twilio", "account_sid": TWILIO_SID, "auth_token_env": "TEST_TWILIO_TOKEN",
            "from_number": "+15550001111", "base_url": base_url, "timeout_s": TIMEOUT_S,
            "status_callback": "https://hooks.shop.example/webhooks/twilio/status", **changes}


def _build(kind: str, request: pytest.FixtureRequest) -> Harness:
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("TEST_SENDGRID_KEY", SENDGRID_KEY)
    monkeypatch.setenv("TEST_TWILIO_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    if kind == "sendgrid":
        sg: FakeSendGrid = request.getfixturevalue("sendgrid_server")
        sg_config = sendgrid_config(sg.url)
        return Harness(kind, build_connector("email", sg_config), email_message(),
                       sg.faults, (SENDGRID_KEY,), HTTP_FAULTS,
                       rebuild=lambda **c: build_connector("email", {**sg_config, **c}))
    if kind == "twilio":
        tw: FakeTwilio = request.getfixturevalue("twilio_server")
        return Harness(kind, build_connector("sms", twilio_config(tw.url)), sms_message(),
                       tw.faults, (TWILIO_TOKEN,), HTTP_FAULTS,
                       rebuild=lambda **c: build_connector("sms", {**twilio_config(tw.url), **c}))
    if kind == "smtp":
        smtp: FakeSmtp = request.getfixturevalue("smtp_server")
        config = {"type": "smtp", "host": smtp.host, "port": smtp.port, "starttls": False,
                  "from_email": "shop@shop.example", "timeout_s": TIMEOUT_S}
        return Harness(kind, build_connector("relay", config), email_message(), smtp.faults,
                       (), SMTP_FAULTS, retry_after_s=None,
                       rebuild=lambda **c: build_connector("relay", {**config, **c}))
    if kind == "webhook":
        hook: FakeWebhookReceiver = request.getfixturevalue("webhook_server")
        config = {"type": "webhook", "url": f"{hook.url}/tasks", "secret_env":
                  "TEST_WEBHOOK_SECRET", "timeout_s": TIMEOUT_S}
        return Harness(kind, build_connector("crm", config), email_message(channel="webhook"),
                       hook.faults, (WEBHOOK_SECRET,), HTTP_FAULTS,
                       rebuild=lambda **c: build_connector("crm", {**config, **c}))
    if kind == "recorder":
        recorder = build_connector("sim", {"type": "recorder", "channel": "email"})
        return Harness(kind, recorder, email_message(), None, ())
    console = build_connector("dev", {"type": "console", "channel": "sms"})
    return Harness(kind, console, sms_message(), None, ())


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Harness:
    return _build(request.param, request)


def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
