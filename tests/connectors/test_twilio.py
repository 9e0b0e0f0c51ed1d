"""Twilio specifics: request parameters, opt-outs, error shapes, redaction of numbers."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from cadenza.connectors import Delivered, Permanent, Transient, build_connector
from tests.connectors.conftest import OPTED_OUT_PHONE, TWILIO_TOKEN, sms_message, twilio_config
from tests.providers import FakeTwilio, Fault


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", TWILIO_TOKEN)


def test_create_sends_from_body_and_signed_callback(twilio_server: FakeTwilio) -> None:
    """The form has To, From, Body and a StatusCallback carrying our message id."""
    result = build_connector("sms", twilio_config(twilio_server.url)).send(sms_message())
    assert isinstance(result, Delivered)
    assert result.provider_id.startswith("SM")
    assert len(result.provider_id) == 34
    form = twilio_server.forms[-1]
    assert form["From"] == "+15550001111"
    assert form["StatusCallback"] == (
        "https://hooks.shop.example/webhooks/twilio/status?cadenza_message_id=enr-42%3Asms_nudge%3A1")


def test_messaging_service_replaces_from(twilio_server: FakeTwilio) -> None:
    """With messaging_service_sid configured, MessagingServiceSid is sent and From is not."""
    config = twilio_config(twilio_server.url, from_number=None,
                           messaging_service_sid="MG" + "2" * 32)
    assert isinstance(build_connector("sms", config).send(sms_message()), Delivered)
    form = twilio_server.forms[-1]
    assert form["MessagingServiceSid"] == "MG" + "2" * 32
    assert "From" not in form


def test_opted_out_recipient_is_permanent_and_flagged(twilio_server: FakeTwilio) -> None:
    """Error 21610 is Permanent with opted_out=True: suppress, never retry."""
    result = build_connector("sms", twilio_config(twilio_server.url)).send(
        sms_message(to=OPTED_OUT_PHONE))
    assert result == Permanent(
        "Twilio error 21610 (HTTP 400): Unable to create record: "
        "Attempt to send to unsubscribed recipient", opted_out=True, code="21610")


def test_rfc9457_errors_are_mapped_too(twilio_server: FakeTwilio) -> None:
    """TwilioServiceException (problem+json bodies) maps like TwilioRestException."""
    twilio_server.problem_details = True
    connector = build_connector("sms", twilio_config(twilio_server.url))
    result = connector.send(sms_message(to=OPTED_OUT_PHONE))
    assert isinstance(result, Permanent)
    assert result.opted_out
    twilio_server.faults.add(Fault("status", 429, retry_after="3"))
    assert connector.send(sms_message()) == Transient(
        "Twilio error 20429 (HTTP 429): Too Many Requests", 3.0, "20429")


def test_invalid_number_is_permanent_and_redacted(twilio_server: FakeTwilio) -> None:
    """Twilio quotes the bad number in its error; the reason and logs show it redacted."""
    with capture_logs() as logs:
        result = build_connector("sms", twilio_config(twilio_server.url)).send(
            sms_message(to="555-123-4567"))
    assert result == Permanent(
        "Twilio error 21211 (HTTP 400): Unable to create record: "
        "Invalid 'To' Phone Number: 5*****4567", code="21211")
    assert "555-123-4567" not in repr(logs)


def test_wrong_auth_token_is_permanent(
    twilio_server: FakeTwilio, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 401 (code 20003) is Permanent and the token is not logged."""
    monkeypatch.setenv("TEST_TWILIO_TOKEN", "wrong-token")
    with capture_logs() as logs:
        result = build_connector("sms", twilio_config(twilio_server.url)).send(sms_message())
    assert isinstance(result, Permanent)
    assert result.code == "20003"
    assert "wrong-token" not in repr(logs)


def test_empty_body_is_permanent_without_a_request(twilio_server: FakeTwilio) -> None:
    """An SMS without text fails locally; nothing reaches Twilio."""
    result = build_connector("sms", twilio_config(twilio_server.url)).send(sms_message(text=""))
    assert result == Permanent("SMS 'enr-42:sms_nudge:1' has an empty body; render the text.")
    assert twilio_server.received == []
