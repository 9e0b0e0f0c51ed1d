"""Twilio webhooks: signature checks, status callbacks and inbound SMS classification."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from cadenza.connectors import (
    MalformedWebhookError,
    MemorySeenKeys,
    ReplayedWebhookError,
    SignatureError,
    TwilioReceiver,
    classify,
    twiml_reply,
)
from tests.providers import twilio_signature

TOKEN = "tw-secret-token-abcdef"
STATUS_URL = "https://hooks.shop.example/webhooks/twilio/status"
INBOUND_URL = "https://hooks.shop.example/webhooks/twilio/inbound"
QUERY = "cadenza_message_id=enr-42%3Asms_nudge%3A1"


@pytest.fixture
def receiver() -> TwilioReceiver:
    return TwilioReceiver(SecretStr(TOKEN), STATUS_URL, INBOUND_URL,
                          help_text="Shop: reply STOP to opt out.", seen=MemorySeenKeys())


def signed(params: dict[str, str], url: str) -> tuple[bytes, dict[str, str]]:
    return urlencode(params).encode(), {"X-Twilio-Signature": twilio_signature(TOKEN, url, params)}


def status_params(status: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": "SM" + "a" * 32, "MessageStatus": status, "To": "+15551231234",
            "From": "+15550001111", "AccountSid": "AC" + "1" * 32, **extra}


def inbound_params(body: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": "SM" + "b" * 32, "Body": body, "From": "+15551231234",
            "To": "+15550001111", **extra}


def test_status_callback_becomes_a_delivery_event(receiver: TwilioReceiver) -> None:
    """A signed status callback yields a DeliveryEvent with our id from the signed URL."""
    body, headers = signed(status_params("delivered"), f"{STATUS_URL}?{QUERY}")
    # The service sees http://internal:8000/...; the signature is checked on the public URL.
    event = receiver.status(body, headers, f"http://10.0.0.5:8000/webhooks/twilio/status?{QUERY}")
    assert event.kind == "delivered"
    assert event.event_id == "SM" + "a" * 32 + ":delivered"
    assert event.message_id == "enr-42:sms_nudge:1"
    assert not event.revokes_consent


@pytest.mark.parametrize(("status", "kind"), [("queued", "queued"), ("sent", "sent"),
                                              ("undelivered", "undelivered"),
                                              ("failed", "failed")])
def test_status_kinds(receiver: TwilioReceiver, status: str, kind: str) -> None:
    """Twilio's statuses map to event kinds, error codes kept."""
    body, headers = signed(status_params(status, ErrorCode="30003"), STATUS_URL)
    event = receiver.status(body, headers, "/webhooks/twilio/status")
    assert event.kind == kind
    assert event.error_code == "30003"


def test_failed_with_21610_revokes_consent(receiver: TwilioReceiver) -> None:
    """A delivery failure with error 21610 (opted out) revokes SMS consent."""
    body, headers = signed(status_params("failed", ErrorCode="21610"), STATUS_URL)
    assert receiver.status(body, headers, "/s").revokes_consent


def test_unknown_status_is_malformed(receiver: TwilioReceiver) -> None:
    """A status we do not know is refused with the list of known ones."""
    body, headers = signed(status_params("teleported"), STATUS_URL)
    with pytest.raises(MalformedWebhookError, match="unknown Twilio MessageStatus 'teleported'"):
        receiver.status(body, headers, "/s")


@pytest.mark.parametrize("text", ["STOP", " stop ", "StopAll", "UNSUBSCRIBE", "cancel", "END",
                                  "quit", "REVOKE", "optout"])
def test_opt_out_words_revoke_consent(receiver: TwilioReceiver, text: str) -> None:
    """Each opt-out word, as the whole trimmed body in any case, revokes SMS consent."""
    body, headers = signed(inbound_params(text), INBOUND_URL)
    sms = receiver.inbound(body, headers, "/webhooks/twilio/inbound")
    assert sms.kind == "opt_out"
    assert sms.revokes_consent
    assert sms.reply is None


@pytest.mark.parametrize("text", ["START", "unstop"])
def test_opt_in_words_restore_consent(receiver: TwilioReceiver, text: str) -> None:
    """START and UNSTOP restore SMS consent."""
    body, headers = signed(inbound_params(text), INBOUND_URL)
    assert receiver.inbound(body, headers, "/i").restores_consent


@pytest.mark.parametrize("text", ["HELP", "info"])
def test_help_words_get_the_configured_reply(receiver: TwilioReceiver, text: str) -> None:
    """HELP and INFO carry the configured help text, ready as TwiML."""
    body, headers = signed(inbound_params(text), INBOUND_URL)
    sms = receiver.inbound(body, headers, "/i")
    assert sms.kind == "help"
    assert twiml_reply(sms.reply) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Shop: reply STOP to opt '
        "out.</Message></Response>")


@pytest.mark.parametrize("text", ["9", "Please stop sending me these", "STOP!", "help me"])
def test_anything_else_is_an_sms_reply(receiver: TwilioReceiver, text: str) -> None:
    """Any other body (an NPS score, a sentence containing STOP) is an sms_reply for playbooks."""
    body, headers = signed(inbound_params(text), INBOUND_URL)
    sms = receiver.inbound(body, headers, "/i")
    assert sms.kind == "sms_reply"
    assert (sms.from_number, sms.body) == ("+15551231234", text)
    assert "+15551231234" not in repr(sms)


def test_opt_out_type_from_twilio_wins(receiver: TwilioReceiver) -> None:
    """Twilio's Advanced Opt-Out OptOutType overrides our own word matching."""
    body, headers = signed(inbound_params("ARRET", OptOutType="STOP"), INBOUND_URL)
    assert receiver.inbound(body, headers, "/i").kind == "opt_out"


def test_unsigned_request_is_rejected(receiver: TwilioReceiver) -> None:
    """No X-Twilio-Signature header: refused, naming the header."""
    with pytest.raises(SignatureError) as caught:
        receiver.inbound(urlencode(inbound_params("hi")).encode(), {}, "/i")
    assert str(caught.value) == (
        f"the Twilio request to {INBOUND_URL} has no X-Twilio-Signature header; only Twilio "
        "may call this endpoint.")


def test_forged_or_misaddressed_request_is_rejected(receiver: TwilioReceiver) -> None:
    """A changed body, a wrong token or an http-vs-https URL mismatch all fail."""
    body, headers = signed(inbound_params("hi"), INBOUND_URL)
    tampered = urlencode(inbound_params("STOP")).encode()
    wrong_scheme = signed(inbound_params("hi"), INBOUND_URL.replace("https", "http"))
    wrong_token = {"X-Twilio-Signature": twilio_signature("other", INBOUND_URL,
                                                          inbound_params("hi"))}
    for raw, sig in ((tampered, headers), wrong_scheme, (body, wrong_token)):
        with pytest.raises(SignatureError) as caught:
            receiver.inbound(raw, sig, "/i")
    assert str(caught.value) == (
        f"the X-Twilio-Signature does not match a request to {INBOUND_URL}; check the auth "
        "token and that the configured public URL is exactly the one set in Twilio (scheme, "
        "host and path).")


def test_replay_is_rejected_with_the_dedup_key(receiver: TwilioReceiver) -> None:
    """The same inbound message twice is refused; its MessageSid is the dedup key."""
    body, headers = signed(inbound_params("9"), INBOUND_URL)
    first = receiver.inbound(body, headers, "/i")
    with pytest.raises(ReplayedWebhookError) as caught:
        receiver.inbound(body, headers, "/i")
    assert str(caught.value) == (
        f"the Twilio request {first.event_id} was already accepted; a replay is refused.")


def test_classify_is_whole_body_only() -> None:
    """Classification matches the whole trimmed body, never a word inside it."""
    assert classify("\tStop\n") == "opt_out"
    assert classify("stop it") == "sms_reply"
    assert twiml_reply(None) == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
